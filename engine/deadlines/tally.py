"""The board's summary rows (DeadlineTally): open deadlines counted per board date, unit, key and item group.

They change in the same flush as the deadline rows they count: a `before_flush` hook compares each new,
changed or deleted Deadline with what it was and adds the difference with Core upserts, so no writer of the
ledger can forget them (a Core UPDATE of deadline rows bypasses it: it must only touch closed deadlines,
which are not counted, or call `rebuild`).

Counting by date keeps the counts right as days pass without rewriting anything: the board sums the dates
before today (late) and from today to the due-soon horizon (due soon). A flagged deadline is late whatever
its date (an extension may move it past today and keep the flag): it counts under FLAGGED, before any day.
"""
from __future__ import annotations

from collections import Counter
from datetime import date

from sqlalchemy import bindparam, case, delete, event, func, inspect, literal, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from engine.models import Deadline, DeadlineTally

OPEN = ("open", "overdue")
FLAGGED = date(1, 1, 1)
DIMENSIONS = ("status", "due_date", "unit_id", "key", "item_type", "is_key", "leader_id")

Bucket = tuple  # (board_date, unit_id, key, item_type, is_key, leader_id): DeadlineTally's primary key


def board_date(status: str, due: date | None) -> date | None:
    if status not in OPEN:
        return None
    return FLAGGED if status == "overdue" else due


def bucket(status, due_date, unit_id, key, item_type, is_key, leader_id) -> Bucket | None:
    day = board_date(status, due_date)
    if day is None:
        return None
    return day, unit_id or 0, key, item_type or "", bool(is_key), leader_id or 0


def _before(row: Deadline) -> Bucket | None:
    """The bucket the row was counted in when last written (its values before this flush's changes)."""
    state = inspect(row)
    values = []
    for name in DIMENSIONS:
        history = state.attrs[name].history
        values.append(history.deleted[0] if history.deleted else getattr(row, name))
    return bucket(*values)


def _now(row: Deadline) -> Bucket | None:
    return bucket(*(getattr(row, name) for name in DIMENSIONS))


@event.listens_for(Session, "before_flush")
def _count_changes(session: Session, _context, _instances) -> None:
    delta: Counter = Counter()
    for row in session.new:
        if isinstance(row, Deadline):
            row.status = row.status or "open"
            row.board_date = board_date(row.status, row.due_date)
            delta[_now(row)] += 1
    for row in session.dirty:
        if isinstance(row, Deadline) and session.is_modified(row):
            before, after = _before(row), _now(row)
            row.board_date = board_date(row.status, row.due_date)
            if before != after:
                delta[before] -= 1
                delta[after] += 1
    for row in session.deleted:
        if isinstance(row, Deadline):
            delta[_before(row)] -= 1
    delta.pop(None, None)
    if any(delta.values()):
        add(session, delta)


_KEYS = [c.name for c in DeadlineTally.__table__.primary_key.columns]
_STATEMENTS: dict = {}  # by dialect: built once (a statement built per flush cost more CPU than its run)


def _statements(dialect: str):
    if dialect not in _STATEMENTS:
        table = DeadlineTally.__table__
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        stmt = insert(table).values({k: bindparam(f"b_{k}", type_=table.c[k].type) for k in (*_KEYS, "n")})
        upsert = stmt.on_conflict_do_update(index_elements=_KEYS, set_={"n": table.c.n + stmt.excluded.n})
        empty = delete(table).where(*(table.c[k] == bindparam(f"b_{k}", type_=table.c[k].type) for k in _KEYS),
                                    table.c.n <= 0)
        _STATEMENTS[dialect] = upsert, empty
    return _STATEMENTS[dialect]


def add(session: Session, delta: Counter) -> None:
    """Add `delta` (bucket -> change) to the summary rows: one upsert for all, in key order (two writers never
    wait on each other in opposite orders); then, if some count fell, one delete of the rows now at zero.
    Both are prebuilt statements sent once with a row of parameters per bucket (executemany)."""
    changes = sorted(((b, n) for b, n in delta.items() if n), key=lambda e: e[0])
    if not changes:
        return
    conn = session.connection()
    upsert, empty = _statements(conn.dialect.name)
    conn.execute(upsert, [{**{f"b_{k}": v for k, v in zip(_KEYS, b)}, "b_n": n} for b, n in changes])
    fell = [{f"b_{k}": v for k, v in zip(_KEYS, b)} for b, n in changes if n < 0]
    if fell:
        conn.execute(empty, fell)


def recount(session: Session) -> dict[Bucket, int]:
    """The summary rows as the deadline rows give them now (what `stored` must always equal)."""
    d = Deadline
    rows = session.execute(select(d.status, d.due_date, d.unit_id, d.key, d.item_type, d.is_key, d.leader_id,
                                  func.count()).where(d.status.in_(OPEN))
                           .group_by(d.status, d.due_date, d.unit_id, d.key, d.item_type, d.is_key, d.leader_id))
    out: Counter = Counter()
    for *values, n in rows:
        out[bucket(*values)] += n
    return dict(out)


def stored(session: Session) -> dict[Bucket, int]:
    t = DeadlineTally
    return {(r.board_date, r.unit_id, r.key, r.item_type, r.is_key, r.leader_id): r.n
            for r in session.scalars(select(t))}


def rebuild(session: Session) -> None:
    """Board dates and summary rows from the deadline rows, for rows written around the hook (bulk loads)."""
    session.execute(update(Deadline).values(board_date=case(
        (Deadline.status == "overdue", literal(FLAGGED)), (Deadline.status == "open", Deadline.due_date),
        else_=None)).execution_options(synchronize_session=False))
    session.execute(delete(DeadlineTally))
    counts = recount(session)
    if counts:
        add(session, Counter(counts))
