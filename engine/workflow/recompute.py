"""期限重算: a calendar or rule change recomputes the open deadlines it affects, with an audit entry.

The BPMN scripts that computed the due dates (those calling `due_at`) are run again, on a copy of their own
data, with `today()` pinned to the day they ran and the new calendar (and the year's new rules) in scope:
the BPMN stays the one place that says how a deadline is computed. Every due variable that comes out
different replaces the old value in the steps still running, the waiting timers are evaluated again, and
the ledger moves the open deadlines (audit "deadline_recomputed", the extension flag kept as it was).
Met deadlines keep their history; an approved extension keeps its approved date (the running steps hold
that date, not the computed one, so nothing replaces it).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import date, datetime, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session
from SpiffWorkflow.bpmn.specs.mixins.script_task import ScriptTask
from SpiffWorkflow.util.task import TaskState

from engine.i18n import N_
from engine import clock
from engine.deadlines import calendar as workcal
from engine.deadlines import ledger
from engine.deadlines import rules as year_rules
from engine.deadlines.expressions import calendar_scope
from engine.deadlines.timers import waiting_timers
from engine.models import AuditEvent, Deadline, Item, ProcessInstance, User
from engine.workflow.incidents import ProcessFailure, guard
from engine.workflow.runtime import Directory, load_workflow, sync_derived


@dataclass
class RecomputeReport:
    items: int = 0  # items whose deadlines were looked at
    moved: int = 0  # open deadlines whose date changed
    changed_items: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)  # items whose recompute failed: each has an incident


def _ran_on(task) -> str:
    return clock.local(datetime.fromtimestamp(task.last_state_change, timezone.utc)).date().isoformat()


def _rerun(engine, task, rules: dict | None) -> dict:
    """The data `task`'s script gives now, run on a copy of the data it gave then."""
    before = task.data
    pin = _ran_on(task)
    for _attempt in range(2):
        data = copy.deepcopy(before)
        if rules is not None:
            data["rules"] = rules
        try:
            engine.environment.execute(task.task_spec.script, data, {"today": lambda pin=pin: pin})
        except Exception as err:  # as the engine reports a script that fails while it runs
            raise engine.create_task_exec_exception(task, task.task_spec.script, err) from err
        # A variable the script set from today() tells the day it ran better than the task's timestamp.
        drift = [k for k, v in data.items() if k != "rules" and not k.endswith("_due") and v != before.get(k)
                 and isinstance(before.get(k), str) and len(before[k]) == 10]
        if not drift:
            return data
        pin = before[drift[0]]
    return before


def recompute_instance(session: Session, instance: ProcessInstance, reason: str,
                       rules: dict | None = None) -> int:
    """Recompute one running item's deadlines; returns how many open deadlines moved."""
    item = session.get(Item, instance.item_id)
    wf, _ = load_workflow(session, instance)
    latest: dict[str, object] = {}
    for task in wf.get_tasks(state=TaskState.COMPLETED):
        spec = task.task_spec
        if isinstance(spec, ScriptTask) and "due_at(" in (spec.script or ""):
            known = latest.get(spec.bpmn_id)
            if known is None or task.last_state_change >= known.last_state_change:
                latest[spec.bpmn_id] = task
    changes: dict[str, tuple[object, object]] = {}
    with guard(instance.id, "recompute", submitted={"reason": reason, "rules": rules is not None}), \
            calendar_scope(workcal.current_calendar(session)):
        for task in latest.values():
            again = _rerun(wf.script_engine, task, rules)
            for key, value in again.items():
                if key.endswith("_due") and value != task.data.get(key):
                    changes[key] = (task.data.get(key), value)
        touched = set()
        # Every task that still carries the old date, finished ones included: a boundary timer that fires
        # later takes its data from the (finished) task that split off its path, not from the running step.
        for task in wf.get_tasks():
            for key, (old, new) in changes.items():
                if task.data.get(key) == old:
                    task.data[key] = new
                    touched.add(task.id)
            if rules is not None and "rules" in task.data:
                task.data["rules"] = rules
        for task, _due in waiting_timers(wf):
            if task.id in touched:
                task.internal_data["event_value"] = wf.script_engine.evaluate(
                    task, task.task_spec.event_definition.expression)
    before = _open_dates(session, item.id)
    sync_derived(session, instance, item, wf, Directory.load(session), moved_by=reason)
    session.flush()
    after = _open_dates(session, item.id)
    return sum(1 for k, d in after.items() if k in before and before[k] != d)


def _open_dates(session: Session, item_id: int) -> dict[int, date]:
    return dict(session.execute(select(Deadline.id, Deadline.due_date).where(
        Deadline.item_id == item_id, Deadline.status.in_(("open", "overdue")))).all())


def recompute_open(session: Session, reason: str, year: int | None = None,
                   rules: dict | None = None) -> RecomputeReport:
    """Recompute every running, assigned item (of `year` when given), in the caller's transaction."""
    q = (select(ProcessInstance).join(Item, Item.id == ProcessInstance.item_id)
         .where(ProcessInstance.status == "running", Item.assigned_at.is_not(None)).order_by(ProcessInstance.id))
    if year is not None:
        q = q.where(Item.year == year)
    report = RecomputeReport()
    for instance in session.scalars(q).all():
        report.items += 1
        try:  # one item whose script now fails becomes an incident; the change and the others go through
            with session.begin_nested():
                moved = recompute_instance(session, instance, reason, rules)
        except ProcessFailure as failure:
            failure.open(session)
            report.failed.append(instance.item_id)
            continue
        if moved:
            report.moved += moved
            report.changed_items.append(instance.item_id)
    return report


def _audit(session: Session, actor: User | None, title: str, report: RecomputeReport, data: dict) -> None:
    for item_id in report.changed_items:  # the item's timeline says why its deadline moved
        session.add(AuditEvent(item_id=item_id, actor_id=actor.id if actor else None, action="calendar_changed",
                               title=title, data=data))


def load_holidays(session: Session, year: int, text: str, actor: User | None = None) -> tuple[int, RecomputeReport]:
    """Load (or correct) a year's holidays, then recompute the open deadlines they affect."""
    stored = workcal.import_year_csv(session, year, text)
    report = recompute_open(session, "calendar")
    ledger.settle_loaded_warnings(session, workcal.current_calendar(session), year)
    _audit(session, actor, N_("载入%(year)s年节假日安排，期限已重算", year=year), report, {"year": year})
    return stored, report


def change_day(session: Session, day: date, kind: str, name: str | None = None,
               actor: User | None = None) -> RecomputeReport:
    """Mark one day a holiday or a working day (or back to the weekend rule), then recompute."""
    if kind == "rule":
        workcal.delete_day(session, day)
    else:
        workcal.set_day(session, day, kind == "workday", name)
    report = recompute_open(session, "calendar")
    _audit(session, actor, N_("工作日历调整（%(day)s），期限已重算", day=day.isoformat()), report, {"day": day.isoformat(), "kind": kind})
    return report


def change_rules(session: Session, year: int, values: dict[str, str], actor: User | None = None) -> RecomputeReport:
    """Save a year's deadline rules (each validated), then recompute that year's running items."""
    before = year_rules.rules_for(session, year)
    for key, value in values.items():
        year_rules.set_rule(session, year, key, value)
    session.flush()
    after = year_rules.rules_for(session, year)
    if after == before:
        return RecomputeReport()
    report = recompute_open(session, "rules", year, after)
    changed = {k: after[k] for k in after if after[k] != before.get(k)}
    _audit(session, actor, N_("%(year)s年期限规则调整，期限已重算", year=year), report, {"year": year, "rules": changed})
    return report
