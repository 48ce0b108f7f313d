"""A command writes the workflow state again with the kept JSON of the steps the engine no longer changes
(engine.workflow.serializer): what it writes must be what serialising every step writes, whatever happened to
the workflow in between (timers fired, deadlines recomputed by hand, co-units' parts, a consultation loop)."""
from __future__ import annotations

import json
from contextlib import contextmanager
from datetime import timedelta
from unittest.mock import patch
from uuid import UUID

from sqlalchemy import func, select
from SpiffWorkflow.util.task import TaskState

from bench import scenario
from engine import clock
from engine.deadlines.rules import rules_for
from engine.models import Consultation, Item, ProcessInstance, TaskRow
from engine.workflow.recompute import recompute_instance
from engine.workflow.runtime import WORKFLOWS, active_tasks
from engine.workflow.serializer import STATE
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
    for w in (workflow, *workflow.subprocesses.values()):
        subscribers = w.completed_event.hard_subscribers or []
        out.append((w.task_tree.id, w.data, w.correlations, w.last_task.id if w.last_task else None, w.success,
                    w.completed, [(args[0].id if args else None) for _cb, args, _kw in subscribers],
                    [(key, t.id, t.workflow is w, t._parent, t._children, t._state, t.task_spec.name, t.triggered,
                      t.last_state_change, t.data, t.internal_data) for key, t in w.tasks.items()]))
    return out


@contextmanager
def reuse_checked():
    """Every state written with kept JSON is compared with a full serialisation of the same workflow, the scan's
    own walk of the workflow's active steps (runtime.active_tasks) with SpiffWorkflow's, and the state restored
    (StateSerializer.loads) with SpiffWorkflow's own restore of it; yields what was seen (the random paths of
    test_deadline_oracle use it too)."""
    seen = {"reused": 0, "kept": 0, "differ": [], "walks": 0, "walks_differ": [], "restored": 0,
            "restores_differ": []}
    dumps = STATE.dumps

    def checked(workflow, reuse=False):
        seen["walks"] += 1
        if active_tasks(workflow) != workflow.get_tasks(state=TaskState.READY | TaskState.WAITING | TaskState.STARTED):
            seen["walks_differ"].append(workflow.get_tasks(state=16, manual=True))
        out = dumps(workflow, reuse)
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

    with patch.object(STATE, "dumps", checked):
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
    assert seen["restored"] >= 4 * 9 and seen["restores_differ"] == []
    assert WORKFLOWS.entries  # the workflows stayed in this process: the kept JSON was there to reuse
