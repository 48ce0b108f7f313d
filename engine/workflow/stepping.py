"""The workflow classes the engine runs: SpiffWorkflow's, with the two walks of the task tree that every engine
step repeats done by a plain stack.

SpiffWorkflow 3.2 looks for the steps to run next by walking the whole task tree with its TaskIterator: each
pass of `do_engine_steps` for the ready steps, and every completed step, user or engine, for the waiting ones
(`update_waiting_tasks`: a join whose branches have all arrived, a timer). The iterator spends several calls
on every step of the tree (a list rebuilt at each descent, depth bookkeeping, a filter object), and these walks
were about a third of a completion's engine run. The walks here visit the same steps in the same order (depth
first, a subprocess's steps before the children of the step that runs it, below definite steps only) and
decide nothing else differently: the algorithms around them are SpiffWorkflow's, copied as they are
(SpiffWorkflow is pinned). tests/test_state_reuse.py runs SpiffWorkflow's own methods beside these on a copy of
the workflow at every call along the deadline oracle's random paths and compares the two whole. The scan of a
command's result (runtime.active_tasks) lists the active steps by the same walk.

The iterator's depth limit (1,000 levels) is not kept: a handling process's tree is a few dozen levels deep,
each re-handling round adding about twenty. The raw SpiffWorkflow of bench (a) keeps the stock classes.
"""
from __future__ import annotations

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.util.subworkflow import BpmnSubWorkflow
from SpiffWorkflow.util.task import TaskState

_FUTURE, _READY, _WAITING = TaskState.FUTURE, TaskState.READY, TaskState.WAITING


def waiting_tasks(workflow):
    """`TaskIterator(workflow.task_tree, state=WAITING)`: lazy as it is, since updating one waiting step may
    change the tree ahead of the walk; a step's children are taken when the step is reached, as it takes them.
    It stays within the workflow (a subprocess has its own)."""
    stack, get = [workflow.task_tree], workflow.tasks.get
    while stack:
        task = stack.pop()
        if task._children and task._state >= _FUTURE:
            stack.extend(map(get, reversed(task._children)))  # `task.children`, without a call per step
        if task._state & _WAITING:
            yield task


def tasks_in_state(workflow, states: int) -> list:
    """`workflow.get_tasks(state=states)` (BpmnTaskIterator): the steps in one of `states` of the workflow and of
    every subprocess below it, in its order (depth first, a subprocess's steps before the children of the step
    that runs it), below definite steps only (a predicted step's children are predicted too)."""
    # subprocesses by the ids' integers: a UUID's hash is a Python call, and the walk asks at every step
    out, stack = [], [workflow.task_tree]
    subprocesses = {sid.int: sub for sid, sub in workflow.top_workflow.subprocesses.items()}
    while stack:
        task = stack.pop()
        sub = subprocesses.get(task.id.int)
        if sub is not None or (task._children and task._state >= _FUTURE):
            stack.extend(map(task.workflow.tasks.get, reversed(task._children)))
            if sub is not None:
                stack.append(sub.task_tree)
        if task._state & states:
            out.append(task)
    return out


class _UpdatesWaiting:
    def update_waiting_tasks(self) -> None:
        """Workflow.update_waiting_tasks, called whenever one of the workflow's steps completes."""
        for task in waiting_tasks(self):
            task.task_spec._update(task)


class EngineSubWorkflow(_UpdatesWaiting, BpmnSubWorkflow):
    pass


class EngineWorkflow(_UpdatesWaiting, BpmnWorkflow):
    def create_subprocess(self, my_task, spec_name):
        """BpmnWorkflow.create_subprocess, of the engine's class."""
        subprocess = EngineSubWorkflow(self.subprocess_specs[spec_name], parent_task_id=my_task.id, top_workflow=self)
        self.subprocesses[my_task.id] = subprocess
        return subprocess

    def _do_engine_steps(self, will_complete_task=None, did_complete_task=None):
        """BpmnWorkflow._do_engine_steps (SpiffWorkflow 3.2), the ready steps listed by `tasks_in_state`."""
        def update_workflow(wf):
            count = 0
            for task in tasks_in_state(wf, _READY):  # listed before any of them runs
                if not task.task_spec.manual:
                    if will_complete_task is not None:
                        will_complete_task(task)
                    task.run()
                    count += 1
                    if did_complete_task is not None:
                        did_complete_task(task)
            return count

        active_subprocesses = self.get_active_subprocesses()
        for subprocess in sorted(active_subprocesses, key=lambda v: v.depth, reverse=True):
            count = None
            while count is None or count > 0:
                count = update_workflow(subprocess)
            if subprocess.parent_task_id is not None:
                task = self.get_task_from_id(subprocess.parent_task_id)
                task.task_spec._update(task)

        count = update_workflow(self)
        return count > 0 or len(self.get_active_subprocesses()) > len(active_subprocesses)
