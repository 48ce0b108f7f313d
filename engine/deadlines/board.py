"""督查: the supervisors' board of overdue and due-soon deadlines: a page read along the board's index, and
its per-unit and per-step tables summed from the summary rows the ledger keeps (deadlines.tally)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from engine import clock, keyset
from engine.deadlines.ledger import DUE_SOON_DAYS, LABELS
from engine.models import AuditEvent, Deadline, DeadlineTally, Item, Unit, User
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


BOARD_PAGE = 50
# The board's order, as the ix_deadline_board index holds it: key items first (two segments, is_key true then
# false), then flagged deadlines (the most overdue first), then the earliest due.
ORDER = (Deadline.board_date, Deadline.due_date, Deadline.item_id, Deadline.id)


def _segments(f: BoardFilter) -> list[keyset.Segment]:
    def key(row):
        d = row[0]
        return d.board_date, d.due_date, d.item_id, d.id

    groups = [True] if f.key_only else [True, False]
    return [keyset.Segment((Deadline.is_key.is_(g),), ORDER, ORDER, row_key=key) for g in groups]


def parse_cursor(text: str | None, f: BoardFilter) -> keyset.Cursor | None:
    return keyset.parse(text, _segments(f))


def _window(f: BoardFilter, today: date) -> list:
    soon = today + timedelta(days=DUE_SOON_DAYS)
    if f.show == "overdue":
        return [Deadline.board_date < today]
    if f.show == "due_soon":
        return [Deadline.board_date >= today, Deadline.board_date <= soon]
    return [Deadline.board_date <= soon]


def _where(f: BoardFilter, today: date) -> list:
    clauses = _window(f, today)
    if f.viewer is not None:
        clauses.append(visibility.internal_items_clause(f.viewer))
    return clauses + _chosen(f, Deadline)


def _chosen(f: BoardFilter, rows) -> list:
    """The unit, step and item type the reader chose, on deadline rows or on their summary rows (the same
    columns): the board's page and its tables always filter alike."""
    return [column == value for column, value in ((rows.unit_id, f.unit_id), (rows.key, f.key),
                                                  (rows.item_type, f.item_type)) if value]


def board_page(session: Session, f: BoardFilter, after: keyset.Cursor | None = None,
               before: keyset.Cursor | None = None, limit: int = BOARD_PAGE) -> keyset.Page:
    """One page of the board (rows: BoardRow) after `after` or before `before`: it costs the rows on it,
    whatever the page."""
    today = clock.today()
    q = (select(Deadline, Item, Unit.name).join(Item, Item.id == Deadline.item_id)
         .outerjoin(Unit, Unit.id == Deadline.unit_id).where(*_where(f, today)))
    page = keyset.page(session, q, _segments(f), limit, after, before)
    page.rows = [BoardRow(d, item, unit, (today - d.due_date).days) for d, item, unit in page.rows]
    return page


def board(session: Session, f: BoardFilter, limit: int = 500) -> list[BoardRow]:
    """The board's first `limit` rows (the API's list): key items first, then the flagged ones, the most
    overdue first."""
    return board_page(session, f, limit=limit).rows


def summary(session: Session, f: BoardFilter, by: str) -> list[tuple[str, int, int]]:
    """(unit or step, overdue, due soon) counts for the board's two tables (whatever `f.show`), summed from
    the summary rows of the window's dates, not counted from the deadlines."""
    today = clock.today()
    soon = today + timedelta(days=DUE_SOON_DAYS)
    t = DeadlineTally
    viewer = f.viewer
    if viewer is not None and viewer.role not in visibility.ALL_ITEMS_ROLES and viewer.role != "leader":
        return []  # the board's summary is for those who see every item, or a leader's own (as /supervision/ allows)
    late = func.sum(case((t.board_date < today, t.n), else_=0))
    label = t.unit_id if by == "unit" else t.key
    clauses = [t.board_date <= soon]  # both columns whatever the rows shown
    if viewer is not None and viewer.role == "leader":
        clauses.append(t.leader_id == viewer.id)
    clauses += _chosen(f, t)
    if f.key_only:
        clauses.append(t.is_key.is_(True))
    counts = session.execute(select(label, late, func.sum(t.n)).where(*clauses).group_by(label)).all()
    if by == "unit":
        names = dict(session.execute(select(Unit.id, Unit.name).where(Unit.id.in_([u for u, *_ in counts if u]))).all())
        named = [(names.get(u), o, n) for u, o, n in counts]
    else:
        named = [(LABELS.get(k, k), o, n) for k, o, n in counts]
    out = [(name or "—", int(o or 0), int(n) - int(o or 0)) for name, o, n in named]
    return sorted(out, key=lambda r: (-r[1], r[0]))


def shown(by_step: list[tuple[str, int, int]], show: str) -> int:
    """How many rows the board has in all, from its summary: the count its title shows."""
    return sum((late if show != "due_soon" else 0) + (soon if show != "overdue" else 0) for _, late, soon in by_step)


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
