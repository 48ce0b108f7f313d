"""The board's summary rows (DeadlineTally): open deadlines counted per board date, unit, key and item group.

They change in the same transaction as the deadline rows they count: a `before_flush` hook compares each
new, changed or deleted Deadline with what it was, so no writer of the ledger through the ORM can forget them.
A Core write of deadline rows bypasses it: the ledger's own (ledger.sync) counts its changes itself (`count`);
any other must only touch closed deadlines, which are not counted, or call `rebuild`.
The differences add up in the session and are written with Core upserts once, just before COMMIT: every
completion and fired timer of a unit and day updates the same few rows, and a row lock taken at the first
flush was held for the whole transaction (a sweep batch of 50 instances), so a second worker or sweeper
waited on the first one's transaction; taken at commit, it is held for the commit only. A savepoint keeps its
own differences: rolled back, they go with it; released, they join its parent's. So the summary rows are
committed truth; a read of them inside a writing transaction does not see that transaction's changes yet.

Counting by date keeps the counts right as days pass without rewriting anything: the board sums the dates
before today (late) and from today to the due-soon horizon (due soon). A flagged deadline is late whatever
its date (an extension may move it past today and keep the flag): it counts under FLAGGED, before any day.
"""
from __future__ import annotations

from collections import Counter
from datetime import date

from sqlalchemy import bindparam, case, delete, event, func, inspect, literal, literal_column, or_, select, update
from sqlalchemy.dialects.postgresql import ARRAY, insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from engine import writes
from engine.models import Deadline, DeadlineTally, DeadlineUnitTally

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
    count(session, delta)


def count(session: Session, delta: Counter) -> None:
    """Keep `delta` (bucket -> change; None: not counted) for the summary rows, written before COMMIT: what
    the hook found in a flush, or what a writer of deadline rows through Core (the ledger) counted itself."""
    delta.pop(None, None)
    if any(delta.values()):
        if not session.in_transaction():
            session.begin()
        _pending(session).setdefault(_innermost(session), Counter()).update(delta)


# The differences not written yet, by the session's transaction (its root or a savepoint) that made them.
PENDING = "deadline_tally_pending"


def _pending(session: Session) -> dict:
    return session.info.setdefault(PENDING, {})


def _innermost(session: Session):
    """The transaction a change belongs to: the innermost savepoint, else the session's transaction (a flush's
    own inner transaction is neither: it ends with the flush)."""
    return session.get_nested_transaction() or session.get_transaction()


@event.listens_for(Session, "before_commit")
def _write_pending(session: Session) -> None:
    """Write the transaction's differences, once, as its last statements (a released savepoint's join its
    parent's at its end: see `_transaction_end`)."""
    if session.get_nested_transaction() is not None:
        return
    session.flush()  # the changes still in the session count too
    delta = _pending(session).pop(session.get_transaction(), None)
    if delta:
        add(session, delta)


@event.listens_for(Session, "after_rollback")
def _drop_rolled_back(session: Session) -> None:
    """A rollback (of the transaction or of a savepoint, the innermost still open) undoes its differences.
    It fires before the transaction ends, while it is still the innermost."""
    _pending(session).pop(_innermost(session), None)


@event.listens_for(Session, "after_transaction_end")
def _transaction_end(session: Session, transaction) -> None:
    pending = session.info.get(PENDING)
    if not pending:
        return
    delta = pending.pop(transaction, None)
    if delta and transaction.nested:  # released (a rolled-back one lost its differences in after_rollback)
        parent = transaction.parent
        while not (parent.nested or parent.parent is None):
            parent = parent.parent
        pending.setdefault(parent, Counter()).update(delta)


ANY = "*"  # a per-unit row's key or item type: every one
NO_DATE = date(9999, 12, 31)  # a per-unit row's earliest due date when all its deadlines are flagged
# Summary rows of every unit together (the per-step table and the board's total), under negative unit ids:
# split in SHARDS by unit so that writers of different units seldom wait on the same row.
SHARDS = 16
ALL_UNITS = tuple(-1 - k for k in range(SHARDS))
# Rows at zero stay until the nightly maintenance prunes them (deadlines.pruning; deleting them here would
# cost every completion a statement); no read sees them: the reads go through ix_deadline_tally_unit, which
# holds only rows with a count, and the per-unit index order puts a unit with nothing open out of the
# board's two segments.
COUNTED = DeadlineTally.n > literal_column("0")  # as the partial index says it (a literal, not a parameter)


def all_units(unit_id: int) -> int:
    return ALL_UNITS[unit_id % SHARDS]


def scopes(key: str, item_type: str, is_key: bool, leader_id: int) -> list[tuple]:
    """The board filters (key, item type, key items only, leader) whose per-unit rows count a deadline of this
    grouping: each filter either names its value or takes all."""
    return [(k, t, only, leader) for k in (key, ANY) for t in (item_type, ANY)
            for only in ((False, True) if is_key else (False,)) for leader in ((0, leader_id) if leader_id else (0,))]


def add(session: Session, delta: Counter) -> None:
    """Add `delta` (bucket -> change) to the summary rows (each unit's and every unit's) in one upsert, and to
    the per-unit rows in another, both in key order (two writers never wait on each other in opposite
    orders). A per-unit row a date left reads its earliest date again in the same statement."""
    changes: Counter = Counter()
    flagged: Counter = Counter()
    dated: Counter = Counter()
    first: dict[tuple, date] = {}
    left: set[tuple] = set()
    for (day, unit, key, item_type, is_key, leader), n in delta.items():
        if not n:
            continue
        changes[(day, unit, key, item_type, is_key, leader)] += n
        changes[(day, all_units(unit), key, item_type, is_key, leader)] += n
        for scope in scopes(key, item_type, is_key, leader):
            row = (*scope, unit)
            flagged[row] += n if day == FLAGGED else 0
            dated[row] += 0 if day == FLAGGED else n
            if day != FLAGGED and n > 0:
                first[row] = min(first.get(row, NO_DATE), day)
            if day != FLAGGED and n < 0:
                left.add(row)
    if not changes:
        return
    conn = session.connection()
    _add_counts(conn, sorted((b, n) for b, n in changes.items() if n))
    _add_units(conn, sorted(set(flagged) | set(dated)), flagged, dated, first, left)


def _upsert(conn, table, names: tuple[str, ...], updates):
    """The upsert of rows of `table` (values of `names`, the primary key first) that sets `updates(excluded)` on
    a conflict. PostgreSQL takes all the rows as one array parameter a column, in one statement (unnest): sent
    row by row (executemany), each row cost a statement's work on both sides. SQLite takes a row of parameters
    each. The rows are upserted in the order given."""
    if conn.dialect.name == "postgresql":
        arrays = func.unnest(*(bindparam(f"a_{k}", type_=ARRAY(table.c[k].type)) for k in names)) \
            .table_valued(*names).render_derived()
        stmt = pg_insert(table).from_select(names, select(*(arrays.c[k] for k in names)))
    else:
        stmt = sqlite_insert(table).values({k: bindparam(f"b_{k}", type_=table.c[k].type) for k in names})
    keys = [c.name for c in table.primary_key.columns]
    return writes.later(stmt.on_conflict_do_update(index_elements=keys, set_=updates(stmt.excluded)))


def _send(conn, stmt, names: tuple[str, ...], rows: list[tuple]) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(stmt, {f"a_{k}": list(column) for k, column in zip(names, zip(*rows))})
    else:
        conn.execute(stmt, [{f"b_{k}": v for k, v in zip(names, row)} for row in rows])


_COUNT_COLUMNS = (*(c.name for c in DeadlineTally.__table__.primary_key.columns), "n")
_COUNTS: dict = {}  # the counts' upsert by dialect, built once (building it at every flush cost more CPU than its run)


def _add_counts(conn, changes: list) -> None:
    """One prebuilt upsert for all the buckets' changes."""
    if conn.dialect.name not in _COUNTS:
        table = DeadlineTally.__table__
        _COUNTS[conn.dialect.name] = _upsert(conn, table, _COUNT_COLUMNS, lambda new: {"n": table.c.n + new.n})
    _send(conn, _COUNTS[conn.dialect.name], _COUNT_COLUMNS, [(*b, n) for b, n in changes])


_UNIT_COLUMNS = (*(c.name for c in DeadlineUnitTally.__table__.primary_key.columns), "minus_flagged", "dated",
                 "first_due")
_UNITS: dict = {}  # the per-unit rows' upsert by dialect, built once like the counts' (its subquery made
# compiling it anew at every commit the largest part of the summary rows' cost)


def _add_units(conn, rows: list, flagged: Counter, dated: Counter, first: dict, left: set) -> None:
    """A row a date left is given FLAGGED as its new earliest date: the update reads the earliest date
    left from the unit's summary rows instead (ix_deadline_tally_unit; they are written already). Such a row
    exists: a date can only leave where it was counted. One prebuilt upsert for all the rows."""
    if conn.dialect.name not in _UNITS:
        table = DeadlineUnitTally.__table__
        earlier = func.least if conn.dialect.name == "postgresql" else func.min  # SQLite's min() of two values
        _UNITS[conn.dialect.name] = _upsert(conn, table, _UNIT_COLUMNS, lambda new: {
            "minus_flagged": table.c.minus_flagged + new.minus_flagged,
            "dated": table.c.dated + new.dated,
            "first_due": case((new.first_due == FLAGGED, func.coalesce(_earliest(table), NO_DATE)),
                              else_=earlier(table.c.first_due, new.first_due))})
    _send(conn, _UNITS[conn.dialect.name], _UNIT_COLUMNS,
          [(*r, -flagged[r], dated[r], FLAGGED if r in left else first.get(r, NO_DATE)) for r in rows])


def _earliest(row):
    """The earliest unflagged date among the summary rows a per-unit row counts (the row being updated: named
    as the statement's target, which an upsert's SET does not correlate by itself)."""
    t = DeadlineTally.__table__

    def outer(name):
        return literal_column(f'{row.name}."{name}"', row.c[name].type)

    return (select(func.min(t.c.board_date))
            .where(t.c.unit_id == outer("unit_id"), t.c.board_date > FLAGGED, t.c.n > literal_column("0"),
                   or_(outer("key") == ANY, t.c.key == outer("key")),
                   or_(outer("item_type") == ANY, t.c.item_type == outer("item_type")),
                   or_(outer("key_only").is_(False), t.c.is_key.is_(True)),
                   or_(outer("leader_id") == 0, t.c.leader_id == outer("leader_id")))
            .scalar_subquery())


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
    """Each unit's summary rows that count something (rows at zero stay, unread)."""
    t = DeadlineTally
    return {(r.board_date, r.unit_id, r.key, r.item_type, r.is_key, r.leader_id): r.n
            for r in session.scalars(select(t).where(t.unit_id >= 0, t.n != 0))}


def stored_all_units(session: Session) -> dict[tuple, int]:
    """Every unit's rows, the shards summed: (board_date, key, item_type, is_key, leader_id) -> count."""
    t = DeadlineTally
    out: Counter = Counter()
    for r in session.scalars(select(t).where(t.unit_id < 0)):
        out[(r.board_date, r.key, r.item_type, r.is_key, r.leader_id)] += r.n
    return {b: n for b, n in out.items() if n}


def stored_units(session: Session) -> dict[tuple, tuple[int, int, date]]:
    t = DeadlineUnitTally
    return {(r.key, r.item_type, r.key_only, r.leader_id, r.unit_id): (-r.minus_flagged, r.dated, r.first_due)
            for r in session.scalars(select(t).where(or_(t.minus_flagged != 0, t.dated != 0)))}


def recount_all_units(buckets: dict[Bucket, int]) -> dict[tuple, int]:
    """Every unit's rows as `buckets` (the summary rows) give them."""
    out: Counter = Counter()
    for (day, _unit, key, item_type, is_key, leader), n in buckets.items():
        out[(day, key, item_type, is_key, leader)] += n
    return {b: n for b, n in out.items() if n}


def recount_units(buckets: dict[Bucket, int]) -> dict[tuple, tuple[int, int, date]]:
    """The per-unit rows as `buckets` (the summary rows) give them: (flagged, dated, earliest dated due)."""
    out: dict[tuple, tuple[int, int, date]] = {}
    for (day, unit, key, item_type, is_key, leader), n in buckets.items():
        for scope in scopes(key, item_type, is_key, leader):
            f, d, first = out.get((*scope, unit), (0, 0, NO_DATE))
            out[(*scope, unit)] = ((f + n, d, first) if day == FLAGGED else (f, d + n, min(first, day)))
    return {r: v for r, v in out.items() if v[0] or v[1]}


def rebuild(session: Session) -> None:
    """Board dates and summary rows from the deadline rows, for rows written around the hook (bulk loads). Run
    at the top of a transaction (not in a savepoint): the recount includes the differences not written yet."""
    session.flush()
    _pending(session).clear()
    session.execute(update(Deadline).values(board_date=case(
        (Deadline.status == "overdue", literal(FLAGGED)), (Deadline.status == "open", Deadline.due_date),
        else_=None)).execution_options(synchronize_session=False))
    for table in (DeadlineTally, DeadlineUnitTally):
        session.execute(delete(table))
    counts = recount(session)
    if counts:
        add(session, Counter(counts))
