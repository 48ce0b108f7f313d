"""督查: the supervisors' board of overdue and due-soon deadlines: a page read along the board's index, and
its per-unit and per-step tables summed from the summary rows the ledger keeps (deadlines.tally)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from engine import clock, keyset
from engine.deadlines import tally
from engine.deadlines.ledger import DUE_SOON_DAYS, LABELS
from engine.models import AuditEvent, Deadline, DeadlineTally, DeadlineUnitTally, Item, Unit, User
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
    columns; the rows without the unit have no unit to choose): the board's page and its tables always filter
    alike."""
    return [getattr(rows, column) == value for column, value in (("unit_id", f.unit_id), ("key", f.key),
                                                                  ("item_type", f.item_type)) if value]


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


@dataclass
class UnitRow:
    unit_id: int  # 0: no unit (the proposer's rating)
    name: str
    late: int
    soon: int


UNIT_ROWS = 10  # the per-unit table on the board; all units, page by page, on the units' page
UNIT_PAGE = 50


def _scope(f: BoardFilter) -> list:
    """The per-unit rows of the reader's filters (deadlines.tally.scopes): one row per unit."""
    t = DeadlineUnitTally
    leader = f.viewer.id if f.viewer is not None and f.viewer.role == "leader" else 0
    clauses = [t.key == (f.key or tally.ANY), t.item_type == (f.item_type or tally.ANY),
               t.key_only.is_(f.key_only), t.leader_id == leader]
    return clauses + ([t.unit_id == f.unit_id] if f.unit_id else [])


def _unit_segments(today: date) -> list[keyset.Segment]:
    """The units with flagged deadlines, the most first (then the earliest due); then those with none flagged
    and a deadline due by the due-soon horizon, the earliest first: both along ix_deadline_unit_tally_rank."""
    t = DeadlineUnitTally
    soon = today + timedelta(days=DUE_SOON_DAYS)
    flagged = (t.minus_flagged, t.first_due, t.unit_id)
    due = (t.first_due, t.unit_id)
    return [keyset.Segment((t.minus_flagged < 0,), flagged, flagged,
                           row_key=lambda r: (r.minus_flagged, r.first_due, r.unit_id)),
            keyset.Segment((t.minus_flagged == 0, t.first_due <= soon), due, due,
                           row_key=lambda r: (r.first_due, r.unit_id))]


def parse_unit_cursor(text: str | None) -> keyset.Cursor | None:
    return keyset.parse(text, _unit_segments(clock.today()))


def _may_see_summary(viewer: User | None) -> bool:
    # the board's summary is for those who see every item, or a leader's own (as /supervision/ allows)
    return viewer is None or viewer.role in visibility.ALL_ITEMS_ROLES or viewer.role == "leader"


def _tally_clauses(f: BoardFilter, t, soon: date) -> list:
    """The summary rows of the window (along ix_deadline_tally_unit: those that count) by the reader's filters."""
    clauses = [t.board_date <= soon, tally.COUNTED] + _chosen(f, t)
    if f.viewer is not None and f.viewer.role == "leader":
        clauses.append(t.leader_id == f.viewer.id)
    if f.key_only:
        clauses.append(t.is_key.is_(True))
    return clauses


def unit_page(session: Session, f: BoardFilter, after: keyset.Cursor | None = None,
              before: keyset.Cursor | None = None, limit: int | None = None) -> keyset.Page:
    """One page of the per-unit table (rows: UnitRow): the units with the most deadlines flagged overdue
    first, then those whose next deadline is the earliest, read along the per-unit rows' index; the page's
    counts (overdue: flagged or due before today; due soon: by the horizon) summed from those units'
    summary rows only. It costs the units shown, whatever the number of units."""
    if not _may_see_summary(f.viewer):
        return keyset.Page([], None, None)
    today = clock.today()
    soon = today + timedelta(days=DUE_SOON_DAYS)
    page = keyset.page(session, select(DeadlineUnitTally).where(*_scope(f)), _unit_segments(today), limit or UNIT_ROWS,
                       after, before, scalars=True)
    units = [r.unit_id for r in page.rows]
    t = DeadlineTally
    counts = {u: (late, n) for u, late, n in session.execute(
        select(t.unit_id, func.sum(case((t.board_date < today, t.n), else_=0)), func.sum(t.n))
        .where(t.unit_id.in_(units), *_tally_clauses(f, t, soon)).group_by(t.unit_id))} if units else {}
    names = dict(session.execute(select(Unit.id, Unit.name).where(Unit.id.in_(units))).all()) if units else {}
    rows = []
    for u in units:
        late, n = counts.get(u, (0, 0))
        rows.append(UnitRow(u, names.get(u) or "—", int(late or 0), int(n or 0) - int(late or 0)))
    page.rows = rows
    return page


def summary(session: Session, f: BoardFilter, by: str) -> list[tuple[str, int, int]]:
    """(unit or step, overdue, due soon) for the board's tables (whatever `f.show`). By step: summed from the
    window's summary rows of every unit together (or of the chosen unit). By unit: the first UNIT_ROWS units
    of the per-unit table, in its order (unit_page)."""
    if by == "unit":
        return [(r.name, r.late, r.soon) for r in unit_page(session, f).rows]
    if not _may_see_summary(f.viewer):
        return []
    today = clock.today()
    soon = today + timedelta(days=DUE_SOON_DAYS)
    t = DeadlineTally
    late = func.sum(case((t.board_date < today, t.n), else_=0))
    # the chosen unit's rows, or every unit's (their shards): the window's dates only, whatever the units
    units = [] if f.unit_id else [t.unit_id.in_(tally.ALL_UNITS)]
    counts = session.execute(select(t.key, late, func.sum(t.n)).where(*_tally_clauses(f, t, soon), *units)
                             .group_by(t.key))
    out = [(LABELS.get(k, k), int(o or 0), int(n) - int(o or 0)) for k, o, n in counts]
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
