"""Workflow state to JSON and back, with the spec stored by reference.

The default SpiffWorkflow serializer embeds the whole process spec in every instance (about 21 KB of a
30-40 KB blob). Here the spec lives once in `process_definition`; the state names nothing but tasks and
data, and is restored against the cached spec of the instance's pinned version.
"""
from __future__ import annotations

import json
import re
import threading
import zlib
from uuid import UUID

import zstandard

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter
from SpiffWorkflow.bpmn.specs.mixins.events.event_types import CatchingEvent
from SpiffWorkflow.bpmn.specs.mixins.subworkflow_task import SubWorkflowTask
from SpiffWorkflow.bpmn.util.subworkflow import BpmnSubWorkflow
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.deep_merge import DeepMerge
from SpiffWorkflow.util.task import TaskState

from engine.workflow.stepping import EngineSubWorkflow, EngineWorkflow

STATE_VERSION = "banli-1"
CLOSED_VERSION = "banli-closed-1"  # a finished workflow: only what its diagram shows
# What the engine no longer changes in place: a finished step (completed or cancelled), and a predicted one
# (not reached yet) while it has no data of its own; a step's data is stored as a difference from its parent's,
# so the parent's must not change either: finished too, or without data (a multi-instance's children end before
# it collects their data); a step without data differs from its parent by the parent's keys only. So is an event
# waiting to be caught (a timer, a message) while its data and its internal data (a timer's due instant, a
# cycle's count), compared whole, are as they were. Their JSON is kept on the step and
# reused while their states, links and sizes are as they were (StateSerializer.dumps).
FINISHED = TaskState.COMPLETED | TaskState.CANCELLED
PREDICTED = TaskState.MAYBE | TaskState.LIKELY | TaskState.FUTURE
_WAITING = TaskState.WAITING
# An open workflow's state is rewritten at every step: compressed with Zstandard at its fastest level, about five
# times faster than zlib's fastest (0.09 ms against 0.47 for a 70 KB state) and smaller (8 KB against 10.6).
# States written before (zlib, or plain JSON) are read as they are.
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_ZSTD = threading.local()  # a compression context serves one thread at a time


def pack(text: str) -> bytes:
    """The stored form of an open workflow's JSON."""
    if not hasattr(_ZSTD, "compressor"):
        _ZSTD.compressor = zstandard.ZstdCompressor(level=1)
    return _ZSTD.compressor.compress(text.encode("utf-8"))


def unpack(state: bytes) -> bytes:
    """The JSON bytes of a stored state, whichever way it was written."""
    if state[:1] == b"{":
        return state
    if state[:4] == ZSTD_MAGIC:
        if not hasattr(_ZSTD, "decompressor"):
            _ZSTD.decompressor = zstandard.ZstdDecompressor()
        return _ZSTD.decompressor.decompress(state)
    return zlib.decompress(state)


_TASK_TYPENAME, _SUBWORKFLOW_TYPENAME = "Task", "BpmnSubWorkflow"  # as SpiffWorkflow's registry names them
_MARK = "\x00banli-tasks\x00"  # a workflow's tasks' place in the state's JSON, filled in with their joined JSON
_PLACE = re.compile(r'"\\u0000banli-tasks\\u0000(\d+)"')


class _Ids(dict):
    """The task ids of one state, each parsed once: an id recurs as its task's key, its parent's child and its
    children's parent, and parsing ids was the dearest part of restoring a state."""

    def __call__(self, text: str) -> UUID:
        found = self.get(text)
        if found is None:
            found = self[text] = UUID(text)
        return found


class SpecRefWorkflowConverter(BpmnWorkflowConverter):
    """BpmnWorkflowConverter restoring a state without `spec` and `subprocess_specs` (given by the caller).

    Its tasks and subprocesses are restored here field for field as SpiffWorkflow's TaskConverter and
    BpmnSubWorkflowConverter restore them (SpiffWorkflow is pinned: tests/test_state_reuse.py compares the two
    restores along random paths), with every id parsed once (`_Ids`): a web worker that did not commit an item
    last restores its state at the next command, most commands once several workers serve."""

    def restore_with_spec(self, dct, spec, subprocess_specs):
        ids = _Ids()
        workflow = self.target_class(spec, subprocess_specs, deserializing=True)
        workflow.tasks = self._tasks(dct["tasks"], workflow, ids)
        workflow.task_tree = workflow.tasks.get(ids(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self._subprocesses(dct["subprocesses"], workflow, workflow, ids)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow

    def _tasks(self, tasks: dict, workflow, ids: _Ids) -> dict:
        out = {}
        for key, dct in tasks.items():
            out[ids(key)] = (self._task(dct, workflow, ids) if dct.get("typename") == _TASK_TYPENAME
                             else self.registry.restore(dct, workflow=workflow))  # another kind: SpiffWorkflow's way
        return out

    def _task(self, dct: dict, workflow, ids: _Ids) -> Task:
        """TaskConverter.from_dict's (SpiffWorkflow 3.2), the ids from `ids`."""
        restore = self.registry.restore
        task_spec = workflow.spec.task_specs.get(dct["task_spec"])
        task = Task(workflow, task_spec, state=dct["state"], id=ids(dct["id"]))
        parent = dct["parent"]
        task._parent = ids(parent) if parent is not None else None
        task._children = [ids(child) for child in dct["children"]]
        task.last_state_change = dct["last_state_change"]
        task.triggered = dct["triggered"]
        task.internal_data = restore(dct["internal_data"])
        if isinstance(task_spec, CatchingEvent) and task.has_state(TaskState.WAITING):
            task.workflow.top_workflow.event_manager.add_task(task)
        delta = dct.get("delta")
        if delta and task.parent is not None:
            data = DeepMerge.merge({}, task.parent.data)
            data.update(restore(delta.get("updates", {})))
            for key in delta.get("deletions", {}):
                if key in data:
                    del data[key]
        else:
            data = restore(dct["data"])
        task.data = data
        return task

    def _subprocesses(self, dct: dict, workflow, top, ids: _Ids) -> None:
        """BpmnWorkflowConverter.subprocesses_from_dict's with BpmnSubWorkflowConverter.from_dict's restore of each
        (SpiffWorkflow 3.2): parents before their children, each connected to the step that runs it."""
        for task in list(workflow.tasks.values()):
            key = str(task.id)
            if not (isinstance(task.task_spec, SubWorkflowTask) and key in dct):
                continue
            sub_dct = dct.pop(key)
            if sub_dct.get("typename") != _SUBWORKFLOW_TYPENAME:
                sub = self.registry.restore(sub_dct, task=task, top_workflow=top)
            else:
                sub = EngineSubWorkflow(top.subprocess_specs.get(task.task_spec.spec), task.id, top, deserializing=True)
                sub.tasks = self._tasks(sub_dct["tasks"], sub, ids)
                sub.task_tree = sub.tasks.get(ids(sub_dct["root"]))
                self.set_default_attributes(sub, sub_dct)
            top.subprocesses[task.id] = sub
            sub.completed_event.connect(task.task_spec._on_subworkflow_completed, task)
            self._subprocesses(dct, sub, top, ids)


class StateSerializer:
    def __init__(self):
        self.registry = BpmnWorkflowSerializer.configure(SPIFF_CONFIG)
        self.converter = SpecRefWorkflowConverter(EngineWorkflow, self.registry)
        self.serializer = BpmnWorkflowSerializer(self.registry)
        # One encoder for every call (its `encode` keeps no state between calls): json.dumps(cls=...) built one
        # per call, and a completion encodes some 25 steps.
        self._encode = self.serializer._encoder_cls(separators=(",", ":")).encode
        self._sub_typename = self.registry.typenames[BpmnSubWorkflow]

    def dumps(self, workflow: BpmnWorkflow, reuse: bool = False) -> bytes:
        """Compressed JSON (`pack`): task data repeats itself from task to task, so it shrinks about eightfold.

        A workflow's finished steps make most of its tree and never change once finished: their JSON is kept
        on the step and, with `reuse`, written again as it was (about 80% of a step's state); a subprocess that
        ended keeps its steps' joined JSON whole. A command that edits the data of steps by hand (a deadline
        recompute, an extension, a migration) must not reuse: it serialises every step, and what it writes is
        kept for the next command.

        The JSON is SpiffWorkflow's (BpmnWorkflowConverter's, without the spec), but each workflow's tasks are
        joined as text here rather than converted one by one through the registry and encoded again: a
        completion walks some 130 steps of which about ten changed.
        """
        tasks: list[str] = []  # each workflow's tasks object, in the order of their places
        reused = [0]
        self.registry._encoder_mode = True
        try:
            dct = self._workflow(workflow, reuse, tasks, reused)
            dct["subprocesses"] = {str(sid): dict(self._workflow(sub, reuse, tasks, reused),
                                                  parent_task_id=str(sub.parent_task_id), spec=sub.spec.name,
                                                  typename=self._sub_typename)
                                   for sid, sub in workflow.subprocesses.items()}
            dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
            dct["state_version"] = STATE_VERSION
            text = self._json(dct)
        finally:
            self.registry._encoder_mode = False
        workflow._banli_reused = reused[0]  # how many steps' JSON was written as kept (tests read it)
        return pack(_PLACE.sub(lambda m: tasks[int(m.group(1))], text))

    def _workflow(self, wf, reuse: bool, tasks: list, reused: list) -> dict:
        """WorkflowConverter.to_dict's fields, the tasks a place filled in with their joined JSON."""
        dct = {"data": self.registry.convert(self.registry.clean(wf.data)), "correlations": wf.correlations,
               "last_task": str(wf.last_task.id) if wf.last_task is not None else None,
               "success": wf.success, "completed": wf.completed, "tasks": f"{_MARK}{len(tasks)}",
               "root": str(wf.task_tree.id)}
        kept = getattr(wf, "_banli_tasks", None) if reuse and wf.completed else None
        if kept is not None and kept[0] == len(wf.tasks):  # a subprocess that ended: none of its steps changes
            reused[0] += kept[0]
            tasks.append(kept[1])
            return dct
        tasks.append("{" + ",".join(self._task(task, reuse, reused) for task in wf.tasks.values()) + "}")
        if wf.completed:
            wf._banli_tasks = (len(wf.tasks), tasks[-1])
        return dct

    def _json(self, dct) -> str:
        return self._encode(dct)

    def _task(self, task: Task, reuse: bool, reused: list) -> str:
        """The task's member of its workflow's tasks object: kept (on the task) as it was written last if the
        engine no longer changes it and its state, links and sizes are as they were, else converted anew."""
        # Task's fields read directly (`_state`, the parent from the workflow's tasks, as Task.state, has_state
        # and parent do): this runs for every step of the tree at every command.
        state, data = task._state, task.data
        waiting = state & _WAITING and isinstance(task.task_spec, CatchingEvent)
        if not (waiting or state & FINISHED or (state & PREDICTED and not data)):
            return self._member(task)
        parent_id = task._parent
        parent = None if parent_id is None else task.workflow.tasks.get(parent_id)
        if parent is None:
            of_parent = None
        elif not data:  # the difference from the parent's data is the list of its keys
            of_parent = tuple(parent.data)
        elif parent._state & FINISHED or not parent.data:
            of_parent = (parent._state, parent.last_state_change, not parent.data)
        else:
            return self._member(task)
        # A waiting event's data is compared whole, like its internal data: SpiffWorkflow merges its parent's
        # data into it again at every engine run (TaskSpec._update_hook), which undoes a value set on it by hand
        # (an extension's new reply date) without changing its state or its size.
        key = (state, task.last_state_change, task.triggered, parent_id, tuple(task._children),
               repr(data) if waiting else len(data),
               repr(task.internal_data) if waiting else len(task.internal_data), of_parent)
        kept = getattr(task, "_banli_json", None) if reuse else None
        if kept is not None and kept[0] == key:
            reused[0] += 1
            return kept[1]
        member = self._member(task)
        task._banli_json = (key, member)
        return member

    def _member(self, task: Task) -> str:
        return f'"{task.id}":{self._json(self._task_dict(task))}'

    def _task_dict(self, task: Task) -> dict:
        """TaskConverter.to_dict's (SpiffWorkflow 3.2) with its typename, the parent looked up once (the stock
        method asks for it five times, each a lookup by id). tests/test_state_reuse.py compares the two."""
        parent = task.workflow.tasks.get(task._parent)
        if parent is None:
            data, delta = task.data, {}
        else:
            data, mine, theirs = {}, task.data, parent.data
            delta = {"updates": {k: v for k, v in mine.items() if k not in theirs or v != theirs[k]},
                     "deletions": [k for k in theirs if k not in mine]}
        return {"id": str(task.id), "parent": str(task._parent) if parent is not None else None,
                "children": [str(child) for child in task._children], "last_state_change": task.last_state_change,
                "state": task._state, "task_spec": task.task_spec.name, "triggered": task.triggered,
                "internal_data": self.registry.convert(task.internal_data), "data": data, "delta": delta,
                "typename": _TASK_TYPENAME}

    @staticmethod
    def text(state: bytes | str) -> str:
        """The JSON of a stored state (uncompressed states of earlier databases are read as they are)."""
        if isinstance(state, str):
            return state
        return unpack(state).decode("utf-8")

    def closed(self, workflow: BpmnWorkflow) -> bytes:
        """The state a finished item keeps: the BPMN ids of the steps it passed, for its diagram.

        Its timeline is the audit trail and its records are the read model, so the task tree (5-6 KB
        compressed, about half of a closed item's bytes) is not kept once nothing can run any more.
        """
        completed = []
        for wf in (workflow, *workflow.subprocesses.values()):  # every step, read from the workflows' own task maps
            for task in wf.tasks.values():  # (SpiffWorkflow's iterator cost about 1 ms per closed item)
                bpmn_id = getattr(task.task_spec, "bpmn_id", None)
                if bpmn_id and task._state == TaskState.COMPLETED:
                    completed.append(bpmn_id)
        dct = {"state_version": CLOSED_VERSION, "completed": list(dict.fromkeys(completed))}
        return zlib.compress(json.dumps(dct, separators=(",", ":")).encode("utf-8"), 9)

    def completed_steps(self, state: bytes | str) -> list[str] | None:
        """The passed steps of a closed state, or None for the state of a workflow that can still run."""
        text = self.text(state)
        if '"state_version":"banli-closed' not in text[:60]:
            return None
        return json.loads(text)["completed"]

    def loads(self, state: bytes | str, spec, subprocess_specs) -> BpmnWorkflow:
        dct = json.loads(self.text(state))
        version = dct.pop("state_version", None)
        if version == CLOSED_VERSION:
            raise ValueError("the item's process has ended: its state keeps only the steps it passed")
        if version != STATE_VERSION:
            raise ValueError("unknown workflow state version")
        return self.converter.restore_with_spec(dct, spec, subprocess_specs)


STATE = StateSerializer()
