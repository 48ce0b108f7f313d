"""Timers as rows: each waiting BPMN timer of each instance, with its due instant.

After every engine run the instance's waiting timers are written to the `timer` table with their due
instants (same transaction as the state). The sweep selects due rows only, so its cost grows with what is
due, not with how many items are open (the sweep itself is `engine.workflow.sweep`).
"""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.orm import Session
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (CycleTimerEventDefinition,
                                                              DurationTimerEventDefinition,
                                                              TimeDateEventDefinition, TimerEventDefinition)
from SpiffWorkflow.util.task import TaskState

from engine import clock, writes
from engine.sqlin import one_of
from engine.models import ProcessInstance, Timer

TIMER_TYPES = (TimeDateEventDefinition, DurationTimerEventDefinition, CycleTimerEventDefinition)


def meta(task_spec) -> dict:
    """What a timer means, from its BPMN properties: deadline key, kind, attached activity."""
    ext = getattr(task_spec, "extensions", {}) or {}
    props = ext.get("camunda_properties") or {}
    return {"deadline": props.get("deadline"), "kind": props.get("kind"), "attached_to": ext.get("attached_to")}


def _due(definition, task) -> datetime | None:
    value = task.internal_data.get("event_value")
    if value is None:
        return None
    if isinstance(definition, CycleTimerEventDefinition):
        return datetime.fromisoformat(value["next"]) if isinstance(value, dict) and value.get("cycles", 0) else None
    if isinstance(definition, DurationTimerEventDefinition):
        return TimerEventDefinition.get_datetime(value)
    return TimerEventDefinition.parse_time_or_duration(value)


def _dues(task):
    """The due instants (UTC) a timer task was set to, one per timer definition it carries."""
    definition = task.task_spec.event_definition
    defs = definition.event_definitions if isinstance(definition, MultipleEventDefinition) else [definition]
    for d in defs:
        if isinstance(d, TIMER_TYPES):
            due = _due(d, task)
            if due is not None:
                yield due.astimezone(timezone.utc)


def due_of(task) -> datetime | None:
    """The due instant (UTC) a timer task was set to, waiting or already fired."""
    return next(_dues(task), None)


def waiting_timers(workflow) -> list[tuple[object, datetime]]:
    """(task, due instant in UTC) for every waiting timer, subprocesses and event gateways included."""
    return [(task, due) for task in list(workflow.event_manager.tasks.values())
            if task.has_state(TaskState.WAITING) for due in _dues(task)]


# Built once: a statement built per call costs more CPU than SQLite takes to run it (see engine.workflow.runtime).
_TIMER_ROWS = select(Timer.id, Timer.due_at).where(Timer.instance_id == bindparam("instance_id"))
_DELETE_TIMERS = writes.later(delete(Timer).where(one_of(Timer.id, "ids")))
_INSERT_TIMER = writes.later(insert(Timer))
_MOVE_TIMER = writes.later(update(Timer)).where(Timer.id == bindparam("tid")).values(due_at=bindparam("due", type_=Timer.due_at.type))


FORECAST = "forecast"  # the kind of a timer row that stands for a deadline whose own timer waits later


def sync_timers(session: Session, instance: ProcessInstance, workflow, waiting=None,
                forecasts=(), rows: dict | None = None) -> datetime | None:
    """Make the instance's timer rows equal its waiting timers (and the forecasts still ahead, see
    engine.deadlines.forecast, so that the sweep comes back when their date passes); return the earliest due
    instant among them, the instance's `next_timer_due` (written by the caller with the instance's row).
    `rows`: the instance's timer rows (id: due instant) when the caller has read them already.

    Timer rows are derived: plain Core statements on the session's connection, nothing for the ORM to track."""
    waiting = waiting_timers(workflow) if waiting is None else waiting
    conn = session.connection()
    if rows is None:
        rows = dict(conn.execute(_TIMER_ROWS, {"instance_id": instance.id}).all())
    keep, added, moved = set(), [], []
    now = clock.now()
    ahead = [(f, due) for f, due in forecasts if due > now]
    forecast_ids = {id(f) for f, _ in ahead}
    for task, due in [*waiting, *ahead]:
        tid = str(task.id)
        keep.add(tid)
        if tid not in rows:
            m = meta(task.task_spec)
            added.append(dict(id=tid, instance_id=instance.id, item_id=instance.item_id, due_at=due,
                              spec_name=task.task_spec.bpmn_id or task.task_spec.name, deadline_key=m["deadline"],
                              kind=FORECAST if id(task) in forecast_ids else m["kind"], attached_to=m["attached_to"]))
        elif rows[tid] != due:
            moved.append({"tid": tid, "due": due})
    gone = [tid for tid in rows if tid not in keep]
    if gone:
        conn.execute(_DELETE_TIMERS, {"ids": gone})
    if added:
        conn.execute(_INSERT_TIMER, added)
    if moved:
        conn.execute(_MOVE_TIMER, moved)
    return min((due for _, due in [*waiting, *ahead]), default=None)
