"""跟踪落实: promised measures (承诺事项) of B and C replies, tracked until the office closes them.

Promises are created when the office approves a B or C reply (`workflow.readmodel.promises_of`). The
owner unit reports progress; the office closes a promise with evidence; the scheduler reminds the owner
before the promised date (the year's `reminder_leads`) and tells the unit and the office once it has
passed. The board lists open promises for the office and supervisors.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.i18n import N_
from engine import clock
from engine.deadlines.calendar import current_calendar
from engine.deadlines.expressions import remind_day
from engine.deadlines.rules import rules_for
from engine.models import AuditEvent, Item, Promise, PromiseProgress, User
from engine.people.authz import NotAllowed
from engine.people.notifications import notify, role_users
from engine.people.visibility import internal_items_clause
from engine.workflow.forms import FieldError, FormInvalid


def may_report(user: User, promise: Promise) -> bool:
    return user.active and user.role in ("unit_handler", "unit_head") and user.unit_id == promise.unit_id


def report_progress(session: Session, user: User, promise_id: int, text: str) -> PromiseProgress:
    """落实进展: the owner unit reports how far a promise has come."""
    promise = session.get(Promise, promise_id)
    if promise is None or not may_report(user, promise):
        raise NotAllowed(N_("只有承诺单位可以报告进展"))
    if promise.status != "open":
        raise FormInvalid([FieldError("text", N_("落实进展"), "promise_closed")])
    if not (text or "").strip():
        raise FormInvalid([FieldError("text", N_("落实进展"), "required")])
    row = PromiseProgress(promise_id=promise.id, text=text.strip(), by_id=user.id)
    session.add(row)
    session.add(AuditEvent(item_id=promise.item_id, actor_id=user.id, action="promise_progress", unit_id=user.unit_id,
                           title=N_("承诺事项进展：%(promise)s", promise=promise.text[:40]), data={"text": row.text}))
    return row


def close_promise(session: Session, user: User, promise_id: int, evidence: str) -> Promise:
    """The office closes a promise with the evidence that it was done."""
    if user.role != "office":
        raise NotAllowed(N_("只有区府办可以销号"))
    promise = session.get(Promise, promise_id)
    if promise is None:
        raise FormInvalid([FieldError("evidence", N_("办结依据"), "reference")])
    if promise.status != "open":
        raise FormInvalid([FieldError("evidence", N_("办结依据"), "promise_closed")])
    if not (evidence or "").strip():
        raise FormInvalid([FieldError("evidence", N_("办结依据"), "required")])
    promise.status, promise.closed_at, promise.closed_by = "done", clock.now(), user.id
    promise.evidence = evidence.strip()
    session.add(AuditEvent(item_id=promise.item_id, actor_id=user.id, action="promise_closed",
                           title=N_("承诺事项已落实：%(promise)s", promise=promise.text[:40]), data={"evidence": promise.evidence}))
    return promise


@dataclass
class BoardRow:
    promise: Promise
    item: Item
    overdue: bool
    progress: list[PromiseProgress]


def board(session: Session, viewer: User, unit_id: int | None = None, show: str = "open",
          year: int | None = None) -> list[BoardRow]:
    """Promises for the office and supervisors: open ones (or only overdue, or all), soonest due first.

    Only of the items the viewer may open internally: a district leader sees the key items they lead."""
    today = clock.today()
    q = select(Promise, Item).join(Item, Item.id == Promise.item_id).where(internal_items_clause(viewer))
    if show in ("open", "overdue"):
        q = q.where(Promise.status == "open")
    if show == "overdue":
        q = q.where(Promise.due_date < today)
    if unit_id:
        q = q.where(Promise.unit_id == unit_id)
    if year:
        q = q.where(Item.year == year)
    rows = session.execute(q.order_by(Promise.status.desc(), Promise.due_date, Promise.id).limit(500)).all()
    progress: dict[int, list] = {}
    if rows:
        for p in session.scalars(select(PromiseProgress).where(PromiseProgress.promise_id.in_([r[0].id for r in rows]))
                                 .order_by(PromiseProgress.at)):
            progress.setdefault(p.promise_id, []).append(p)
    return [BoardRow(p, it, p.status == "open" and p.due_date < today, progress.get(p.id, [])) for p, it in rows]


def of_item(session: Session, item_id: int) -> list[BoardRow]:
    rows = session.execute(select(Promise, Item).join(Item, Item.id == Promise.item_id)
                           .where(Promise.item_id == item_id).order_by(Promise.id)).all()
    progress: dict[int, list] = {}
    for p in session.scalars(select(PromiseProgress).where(PromiseProgress.promise_id.in_([r[0].id for r in rows]))
                             .order_by(PromiseProgress.at)) if rows else []:
        progress.setdefault(p.promise_id, []).append(p)
    today = clock.today()
    return [BoardRow(p, it, p.status == "open" and p.due_date < today, progress.get(p.id, [])) for p, it in rows]


def counts(session: Session, year: int, as_of: date) -> dict[str, int]:
    """The year's promises (those of its items): open (not yet closed), done, and overdue (open, past due)."""
    ids = select(Item.id).where(Item.year == year).scalar_subquery()
    rows = session.execute(select(Promise.status, Promise.due_date, func.count())
                           .where(Promise.item_id.in_(ids)).group_by(Promise.status, Promise.due_date)).all()
    out = {"open": 0, "done": 0, "overdue": 0}
    for status, due, n in rows:
        out["done" if status == "done" else "open"] += n
        if status == "open" and due < as_of:
            out["overdue"] += n
    return out


REMIND_HORIZON_DAYS = 62


def remind(session: Session) -> int:
    """Remind owners before the promised date and tell them and the office once it has passed (each once)."""
    today = clock.today()
    sent = 0
    calendar = current_calendar(session)
    open_rows = session.execute(select(Promise, Item).join(Item, Item.id == Promise.item_id)
                                .where(Promise.status == "open",  # leads are weeks, not months
                                       Promise.due_date <= today + timedelta(days=REMIND_HORIZON_DAYS))).all()
    for promise, item in open_rows:
        owners = [u for role in ("unit_handler", "unit_head") for u in role_users(session, role, promise.unit_id)]
        link = f"/items/{item.id}"
        if promise.due_date < today:
            sent += notify(session, owners + role_users(session, "office"), item, "overdue",
                           N_("承诺事项逾期未落实（%(date)s）：%(promise)s", date=promise.due_date.isoformat(),
                              promise=promise.text[:40]),
                           f"promise:{promise.id}:overdue:{promise.due_date}", link=link)
            continue
        if any(today >= remind_day(calendar, promise.due_date, lead)
               for lead in rules_for(session, item.year)["reminder_leads"]):
            sent += notify(session, owners, item, "reminder",
                           N_("承诺事项将于 %(date)s 到期：%(promise)s", date=promise.due_date.isoformat(),
                              promise=promise.text[:40]),
                           f"promise:{promise.id}:remind:{promise.due_date}", link=link)
    return sent
