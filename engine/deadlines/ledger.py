"""The deadline ledger: every deadline of an item with its state, kept in step with the BPMN timers.

A deadline opens when its `overdue` (or `expired`) timer starts waiting, is flagged when that timer fires,
and is met when the activity it watches finishes: on time, or late when it had been flagged. Overdue never
cancels work; the step stays open and its deadline stays flagged until it is done.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import clock
from engine.events import outbox
from engine.deadlines.calendar import WorkCalendar, current_calendar
from engine.deadlines.rules import rules_for
from engine.models import Deadline, Item
from engine.people.notifications import notify, role_users
from engine.deadlines.expressions import due_day
from engine.deadlines.timers import meta

DEADLINE_KINDS = ("overdue", "expired")  # timers that mark the deadline itself (reminders only remind)
LABELS = {"return_window": "签收/申请退回", "first_contact": "首次联系代表委员", "co_opinion": "协办意见",
          "reply": "答复", "rating": "评价", "disclosure": "答复公开"}
DUE_SOON_DAYS = 7

def _warning(cal: WorkCalendar, start: date, due: date) -> str | None:
    missing = [y for y in range(start.year, due.year + 1) if not cal.covers(y)]
    if not missing:
        return None
    years = "、".join(str(y) for y in missing)
    return f"{years}年节假日数据未载入，按周末计算 (no holiday data for {years}: weekends only)"


def sync(session: Session, item: Item, waiting, fired, active: set[str], cal: WorkCalendar,
         units) -> None:
    """Open, move, flag and close the item's deadlines after an engine run.

    `waiting` are the (task, due) pairs of waiting timers; `fired` the timer tasks that fired in this run;
    `active` the activities (BPMN ids) still running.
    """
    now = clock.now()
    rows = session.scalars(select(Deadline).where(Deadline.item_id == item.id,
                                                  Deadline.status.in_(("open", "overdue")))).all()
    open_rows = {(r.key, r.round): r for r in rows}
    for task, due in waiting:
        m = meta(task.task_spec)
        if m["kind"] not in DEADLINE_KINDS or not m["deadline"]:
            continue
        rnd = int(task.data.get("round", 1))
        day = due_day(due.isoformat())
        row = open_rows.get((m["deadline"], rnd))
        if row is None:
            # The board holds the lead unit to account for the item's deadlines, co-opinions included.
            row = Deadline(item_id=item.id, key=m["deadline"], round=rnd,
                           step=LABELS.get(m["deadline"], m["deadline"]),
                           unit_id=units.get(task.data.get("lead_unit") or ""), due_date=day, original_due_date=day,
                           warning=_warning(cal, clock.today(), day), opened_at=now, attached_to=m["attached_to"])
            session.add(row)
            open_rows[(row.key, rnd)] = row
        elif row.due_date != day:  # moved by an approved extension; the original stays recorded
            row.due_date, row.extended = day, True
            row.warning = _warning(cal, clock.today(), day)
    for task in fired:
        m = meta(task.task_spec)
        if m["kind"] not in DEADLINE_KINDS:
            continue
        row = open_rows.get((m["deadline"], int(task.data.get("round", 1))))
        if row is not None:
            row.status, row.overdue_at = ("expired" if m["kind"] == "expired" else "overdue"), now
            if row.status == "overdue":
                outbox.record(session, "deadline.overdue", item, {
                    "deadline": row.key, "step": row.step, "round": row.round,
                    "due_date": row.due_date.isoformat()})
    waiting_keys = {(meta(t.task_spec)["deadline"], int(t.data.get("round", 1))) for t, _ in waiting}
    for (key, rnd), row in open_rows.items():
        if (key, rnd) in waiting_keys or row.status == "expired":
            continue
        if row.attached_to in active:
            continue  # flagged but the step is still open: it stays on the board
        row.met_at = now
        row.status = "met_late" if row.status == "overdue" else "met"


def state(row: Deadline, today: date | None = None) -> str:
    """on_time, due_soon, overdue, met, met_late or expired: what the item page shows."""
    today = today or clock.today()
    if row.status in ("met", "met_late", "expired"):
        return row.status
    if row.status == "overdue" or row.due_date < today:
        return "overdue"
    return "due_soon" if row.due_date <= today + timedelta(days=DUE_SOON_DAYS) else "on_time"


def coalesced(fired) -> list:
    """After downtime several timers of one deadline fire together: keep the most urgent per deadline."""
    rank = {"expired": 3, "overdue": 2, "reminder": 1}
    best = {}
    for task in fired:
        m = meta(task.task_spec)
        key = (m["deadline"], int(task.data.get("round", 1)))
        if key not in best or rank.get(m["kind"], 0) > rank.get(meta(best[key].task_spec)["kind"], 0):
            best[key] = task
    return list(best.values())


def announce(session: Session, item: Item, fired, recipients) -> None:
    """Tell people about the timers that fired: reminders to those who must act, overdue to the office too.

    `recipients(activity_id)` gives the users who may act on the open tasks of that activity.
    """
    due_dates = {(r.key, r.round): r.due_date for r in session.scalars(select(Deadline).where(
        Deadline.item_id == item.id))}
    for task in coalesced(fired):
        m = meta(task.task_spec)
        label = LABELS.get(m["deadline"], m["deadline"] or "")
        rnd = int(task.data.get("round", 1))
        due = due_dates.get((m["deadline"], rnd))
        event = f"{item.id}:{m['deadline']}:{rnd}:{due}"
        link = f"/items/{item.id}"
        if m["kind"] == "reminder":
            notify(session, recipients(m["attached_to"]), item, "reminder",
                   f"催办提醒：{label}将于 {due} 到期", f"remind:{event}", link=link)
        elif m["kind"] == "overdue":
            notify(session, recipients(m["attached_to"]) + role_users(session, "office"), item, "overdue",
                   f"已超期：{label}期限为 {due}", f"overdue:{event}", link=link)
        elif m["kind"] == "expired":
            notify(session, role_users(session, "office"), item, "overdue",
                   "评价期满未表态", f"expired:{event}", link=link)


# --- the reply deadline --------------------------------------------------------------------------------

@dataclass(frozen=True)
class ReplyDeadline:
    due: date  # effective: after approved extensions
    original: date
    extended: bool
    warnings: tuple[str, ...] = ()


def reply_deadlines(session: Session, items: list[Item]) -> dict[int, ReplyDeadline]:
    """答复期限 of each assigned item (first round): the ONE place the statistics and the portal read it from.

    The engine's deadline ledger has it once handling has begun, with the original and the extended date;
    before that (sign-for, pledge) it is what the year's rules will give from the assignment date.
    """
    ids = [i.id for i in items if i.assigned_at is not None]
    out: dict[int, ReplyDeadline] = {}
    for chunk in (ids[k:k + 500] for k in range(0, len(ids), 500)):
        for row in session.scalars(select(Deadline).where(Deadline.item_id.in_(chunk), Deadline.key == "reply",
                                                          Deadline.round == 1).order_by(Deadline.id)):
            out[row.item_id] = ReplyDeadline(row.due_date, row.original_due_date, row.extended,
                                             (row.warning,) if row.warning else ())
    cal = current_calendar(session)
    for item in items:
        if item.assigned_at is None or item.id in out:
            continue
        rules = rules_for(session, item.year)
        rule = rules["reply_fixed_date"] or (rules["reply_complex"] if item.is_complex else rules["reply"])
        d = cal.deadline(clock.local(item.assigned_at).date(), rule)
        out[item.id] = ReplyDeadline(d.due, d.due, False, d.warnings)
    return out
