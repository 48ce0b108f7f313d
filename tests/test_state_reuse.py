"""A command writes the workflow state again with the kept JSON of the steps the engine no longer changes
(engine.workflow.serializer): what it writes must be what serialising every step writes, whatever happened to
the workflow in between (timers fired, deadlines recomputed by hand, co-units' parts, a consultation loop)."""
from __future__ import annotations

import itertools
import json
import random
from contextlib import contextmanager
from datetime import timedelta
from types import SimpleNamespace
from unittest.mock import patch
from uuid import UUID

from sqlalchemy import func, select
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState
from SpiffWorkflow.workflow import Workflow

from bench import scenario
from engine import clock
from engine.deadlines.rules import rules_for
from engine.models import Consultation, Item, ProcessInstance, TaskRow
from engine.workflow.recompute import recompute_instance
from engine.workflow.runtime import WORKFLOWS, active_tasks
from engine.workflow.serializer import STATE
from engine.workflow.stepping import EngineSubWorkflow, EngineWorkflow
from engine.workflow.sweep import sweep


def stock_restore(state, spec, subprocess_specs):
    """A state restored by SpiffWorkflow's own converters (mapping_from_dict, TaskConverter, subprocesses_from_dict):
    what StateSerializer.loads restores field for field with each id parsed once."""
    dct = json.loads(STATE.text(state))
    dct.pop("state_version")
    conv = STATE.converter  # SpiffWorkflow's BpmnWorkflowConverter methods, inherited unchanged
    workflow = conv.target_class(spec, subprocess_specs, deserializing=True)
    workflow.tasks = conv.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
    workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
    conv.set_default_attributes(workflow, dct)
    conv.subprocesses_from_dict(dct["subprocesses"], workflow)
    workflow.bpmn_events = conv.registry.restore(dct.pop("bpmn_events", []))
    return workflow


def described(workflow) -> list:
    """Everything a restore sets, of the workflow and each subprocess, comparable with ==."""
    out = [sorted(workflow.subprocesses), sorted(workflow.event_manager.tasks),
           [type(e).__name__ for e in workflow.bpmn_events]]
    for w in (workflow, *(sub for _id, sub in sorted(workflow.subprocesses.items()))):  # by id: a copy holds them in another order
        subscribers = w.completed_event.hard_subscribers or []
        out.append((w.task_tree.id, w.data, w.correlations, w.last_task.id if w.last_task else None, w.success,
                    w.completed, [(args[0].id if args else None) for _cb, args, _kw in subscribers],
                    [(key, t.id, t.workflow is w, t._parent, t._children, t._state, t.task_spec.name, t.triggered,
                      t.last_state_change, t.data, t.internal_data) for key, t in w.tasks.items()]))
    return out


_KEPT = ("_banli_json", "_banli_tasks", "_banli_reused")  # what a serialisation keeps on the objects it writes


def copy_of(workflow):
    """An independent copy of the workflow (its state written and read back), leaving nothing on the original."""
    objects = [workflow, *workflow.subprocesses.values()]
    objects += [t for w in list(objects) for t in w.tasks.values()]
    kept = [(o, {k: o.__dict__[k] for k in _KEPT if k in o.__dict__}) for o in objects]
    twin = STATE.loads(type(STATE).dumps(STATE, workflow), workflow.spec, workflow.subprocess_specs)
    for o, attrs in kept:
        for k in _KEPT:
            o.__dict__.pop(k, None)
        o.__dict__.update(attrs)
    twin.script_engine = workflow.script_engine
    return twin


@contextmanager
def same_ids_and_times(seed: int):
    """New steps' ids and state-change times drawn from `seed`: two runs of the same steps create equal trees."""
    draw = random.Random(seed)
    ticks = itertools.count(1)
    with patch("SpiffWorkflow.task.uuid4", lambda: UUID(int=draw.getrandbits(128))), \
            patch("SpiffWorkflow.task.time", SimpleNamespace(time=lambda: 1e9 + next(ticks))):
        yield


@contextmanager
def stock_stepping():
    """The engine's workflows walked by SpiffWorkflow's own methods (engine.workflow.stepping replaces them)."""
    with patch.object(EngineWorkflow, "update_waiting_tasks", Workflow.update_waiting_tasks), \
            patch.object(EngineSubWorkflow, "update_waiting_tasks", Workflow.update_waiting_tasks), \
            patch.object(EngineWorkflow, "_do_engine_steps", BpmnWorkflow._do_engine_steps):
        yield


@contextmanager
def stepping_checked(seen: dict):
    """Every engine pass (`_do_engine_steps`) and every update of the waiting steps outside one runs twice: on a
    copy of the workflow by SpiffWorkflow's own methods, then on the workflow by engine.workflow.stepping's, the
    same ids and times drawn for the steps each creates; the two workflows, what each pass reports and the steps
    it ran must be equal."""
    seen.update(steps=0, steps_differ=[])
    seeds = itertools.count(1)
    inside = [False]
    our_pass, our_waiting = EngineWorkflow._do_engine_steps, EngineWorkflow.update_waiting_tasks  # both classes'

    def compared(kind, workflow, run_stock, run_ours):
        if inside[0]:  # a waiting-step update within a pass: the pass is compared whole
            return run_ours(workflow)
        top = workflow.top_workflow
        twin_top = copy_of(top)
        twin = twin_top if workflow is top else twin_top.subprocesses[workflow.parent_task_id]
        seed = next(seeds)
        inside[0] = True
        try:
            with same_ids_and_times(seed), stock_stepping():
                try:
                    expected, failed = run_stock(twin), None
                except Exception as exc:  # noqa: BLE001 - the same failure is expected of ours
                    expected, failed = None, type(exc)
            with same_ids_and_times(seed):
                try:
                    got = run_ours(workflow)
                except Exception as exc:
                    if type(exc) is not failed:
                        seen["steps_differ"].append((kind, "raised", type(exc).__name__, failed))
                    raise
        finally:
            inside[0] = False
        seen["steps"] += 1
        if failed is not None or got != expected or described(top) != described(twin_top):
            seen["steps_differ"].append((kind, failed, workflow.get_tasks(state=16, manual=True)))
        return got

    def engine_pass(self, will_complete_task=None, did_complete_task=None):
        ran = {"stock": [], "ours": []}  # the steps each pass completed

        def recorded(into, also=None):
            def did(task):
                ran[into].append(task.id)
                if also is not None:
                    also(task)
            return did

        count = compared("pass", self,
                         lambda wf: BpmnWorkflow._do_engine_steps(wf, will_complete_task, recorded("stock")),
                         lambda wf: our_pass(wf, will_complete_task, recorded("ours", did_complete_task)))
        if ran["stock"] != ran["ours"]:
            seen["steps_differ"].append(("pass ran", ran))
        return count

    def waiting(self):
        return compared("waiting", self, Workflow.update_waiting_tasks, our_waiting)

    with patch.object(EngineWorkflow, "_do_engine_steps", engine_pass), \
            patch.object(EngineWorkflow, "update_waiting_tasks", waiting), \
            patch.object(EngineSubWorkflow, "update_waiting_tasks", waiting):
        yield seen


def stock_tasks(workflow) -> dict:
    """Each workflow's steps as SpiffWorkflow's TaskConverter writes them, through the state's JSON encoder."""
    registry, to_dict = STATE.registry, STATE.registry.convert_to_dict["Task"]
    registry._encoder_mode = True
    try:
        return {str(sid): json.loads(STATE._json({str(k): to_dict(t) for k, t in w.tasks.items()}))
                for sid, w in ((None, workflow), *workflow.subprocesses.items())}
    finally:
        registry._encoder_mode = False


def written_tasks(state) -> dict:
    """Each workflow's steps as a written state holds them."""
    dct = json.loads(STATE.text(state))
    return {"None": dct["tasks"], **{sid: sub["tasks"] for sid, sub in dct["subprocesses"].items()}}


@contextmanager
def reuse_checked():
    """Every state written with kept JSON is compared with a full serialisation of the same workflow, the scan's
    own walk of the workflow's active steps (runtime.active_tasks) with SpiffWorkflow's, and the state restored
    (StateSerializer.loads) with SpiffWorkflow's own restore of it; yields what was seen (the random paths of
    test_deadline_oracle use it too)."""
    seen = {"reused": 0, "kept": 0, "differ": [], "walks": 0, "walks_differ": [], "restored": 0,
            "restores_differ": [], "tasks_differ": []}
    dumps = STATE.dumps

    def checked(workflow, reuse=False):
        seen["walks"] += 1
        if active_tasks(workflow) != workflow.get_tasks(state=TaskState.READY | TaskState.WAITING | TaskState.STARTED):
            seen["walks_differ"].append(workflow.get_tasks(state=16, manual=True))
        out = dumps(workflow, reuse)
        if stock_tasks(workflow) != written_tasks(out):
            seen["tasks_differ"].append(workflow.get_tasks(state=16, manual=True))
        spec, subprocess_specs = workflow.spec, workflow.subprocess_specs
        seen["restored"] += 1
        if described(STATE.loads(out, spec, subprocess_specs)) != described(stock_restore(out, spec, subprocess_specs)):
            seen["restores_differ"].append(workflow.get_tasks(state=16, manual=True))
        if reuse:
            seen["reused"] += 1
            seen["kept"] += workflow._banli_reused
            full = dumps(workflow)
            if json.loads(STATE.text(out)) != json.loads(STATE.text(full)):
                seen["differ"].append(workflow.get_tasks(state=16, manual=True))
        return out

    with patch.object(STATE, "dumps", checked), stepping_checked(seen):
        yield seen


def _next_form(db, item_id: int) -> str | None:
    with db.reading() as s:
        return s.scalars(select(TaskRow.form_key).where(TaskRow.item_id == item_id)
                         .order_by(TaskRow.created_at, TaskRow.id).limit(1)).first()


def test_every_command_writes_the_state_a_full_serialisation_writes(db):
    with reuse_checked() as seen:
        _every_kind_of_command(db, seen)


def _every_kind_of_command(db, seen) -> None:
    with clock.travel(scenario.DAY):
        with db.transaction() as s:
            org = scenario.create_org(s)
            actors = scenario.Actors(s)
            rules = dict(rules_for(s, scenario.YEAR), reply="4M")
        plans = scenario.plans(org, 4)
        plans[0].co_units, plans[0].leader = org.units[1:3], org.leaders[0]  # two co-units' parts, a key item
        data = [scenario.forms(p) for p in plans]
        items = [scenario.register(db, p) for p in plans]
        for item_id, d in zip(items, data):
            for _ in range(3):  # assigned, signed for, ... (a co-unit's part may come first)
                scenario.complete_next(db, item_id, d, actors)
    with clock.travel(scenario.DAY + timedelta(days=25)):  # the return window has passed: its timers fire
        assert sweep(db).fired
        with db.transaction() as s:  # a recompute edits the data of finished steps by hand
            instance = s.scalars(select(ProcessInstance).where(ProcessInstance.item_id == items[0])).one()
            assert recompute_instance(s, instance, "recompute", rules=rules)
        for d in data:
            d["consultation"]["consult_date"] = clock.today().isoformat()
        again = dict(data[1], consultation=dict(data[1]["consultation"], more_consultation="true"))
        while _next_form(db, items[1]) != "rating":  # a second consultation, then the reply
            consulted = _next_form(db, items[1]) == "consultation"
            scenario.complete_next(db, items[1], again, actors)
            if consulted:
                again = data[1]
        for item_id, d in zip(items, data):
            scenario.run_to_end(db, item_id, d, actors)
    with db.reading() as s:
        assert s.scalar(select(func.count()).select_from(Consultation).where(Consultation.item_id == items[1])) == 2
        assert set(s.scalars(select(Item.status).where(Item.id.in_(items)))) == {"closed"}
    assert seen["reused"] >= 4 * 9 and seen["kept"] > seen["reused"] * 20  # most steps' JSON was kept
    assert seen["differ"] == [] and seen["walks"] and seen["walks_differ"] == []
    assert seen["restored"] >= 4 * 9 and seen["restores_differ"] == [] and seen["tasks_differ"] == []
    assert seen["steps"] >= 4 * 9 * 2 and seen["steps_differ"] == []
    assert WORKFLOWS.entries  # the workflows stayed in this process: the kept JSON was there to reuse
