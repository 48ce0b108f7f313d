"""督查: the supervisors' board of overdue and due-soon deadlines, read from indexed deadline rows."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from engine import clock
from engine.deadlines.ledger import DUE_SOON_DAYS
from engine.models import AuditEvent, Deadline, Item, Unit, User
from engine.people import visibility


@dataclass
class BoardFilter:
    unit_id: int | None = None
    key: str | None = None  # which deadline (reply, first_contact, ...)
    item_type: str | None = None
    key_only: bool = False
    show: str = "all"  # all, overdue, due_soon
    viewer: User | None = None  # whose board: only the items they may see (a leader: the items they lead)


@dataclass
class BoardRow:
    deadline: Deadline
    item: Item
    unit_name: str | None
    days_late: int  # > 0 overdue by so many days; <= 0 due in -days_late days


def _where(f: BoardFilter, today: date) -> list:
    soon = today + timedelta(days=DUE_SOON_DAYS)
    late = (Deadline.status == "overdue") | (Deadline.due_date < today)
    clauses = [Deadline.status.in_(("open", "overdue"))]
    if f.viewer is not None:
        clauses.append(visibility.internal_items_clause(f.viewer))
    if f.show == "overdue":
        clauses.append(late)
    elif f.show == "due_soon":
        clauses += [Deadline.status == "open", Deadline.due_date >= today, Deadline.due_date <= soon]
    else:
        clauses.append(late | (Deadline.due_date <= soon))
    if f.unit_id:
        clauses.append(Deadline.unit_id == f.unit_id)
    if f.key:
        clauses.append(Deadline.key == f.key)
    if f.item_type:
        clauses.append(Item.item_type == f.item_type)
    if f.key_only:
        clauses.append(Item.is_key.is_(True))
    return clauses


def board(session: Session, f: BoardFilter, limit: int = 500) -> list[BoardRow]:
    """Key items first, then the most overdue."""
    today = clock.today()
    q = (select(Deadline, Item, Unit.name).join(Item, Item.id == Deadline.item_id)
         .outerjoin(Unit, Unit.id == Deadline.unit_id).where(*_where(f, today))
         .order_by(Item.is_key.desc(), Deadline.due_date, Item.number).limit(limit))
    return [BoardRow(d, item, unit, (today - d.due_date).days) for d, item, unit in session.execute(q)]


def summary(session: Session, f: BoardFilter, by: str) -> list[tuple[str, int, int]]:
    """(unit or step, overdue, due soon) counts for the board's two tables."""
    today = clock.today()
    label = Unit.name if by == "unit" else Deadline.step
    late = func.sum(case(((Deadline.status == "overdue") | (Deadline.due_date < today), 1), else_=0))
    q = (select(label, late, func.count()).select_from(Deadline).join(Item, Item.id == Deadline.item_id)
         .outerjoin(Unit, Unit.id == Deadline.unit_id)
         .where(*_where(BoardFilter(**{**f.__dict__, "show": "all"}), today))
         .group_by(label).order_by(late.desc(), label))
    return [(name or "—", int(o or 0), int(total) - int(o or 0)) for name, o, total in session.execute(q)]


def reminder_history(session: Session, item_ids: list[int]) -> dict[int, list[AuditEvent]]:
    """The reminders and overdue flags each item has had, newest first."""
    if not item_ids:
        return {}
    out: dict[int, list[AuditEvent]] = {}
    rows = session.scalars(select(AuditEvent).where(
        AuditEvent.item_id.in_(item_ids), AuditEvent.action.in_(("timer_reminder", "timer_overdue", "timer_expired")))
        .order_by(AuditEvent.at.desc()))
    for ev in rows:
        out.setdefault(ev.item_id, []).append(ev)
    return out
