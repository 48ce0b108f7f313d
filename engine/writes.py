"""Rows written by prebuilt Core statements on the commands' hot path, instead of by the ORM's flush.

The ORM's flush of a handful of objects cost a completion about a millisecond whatever they were (its unit of
work sorted and dispatched anew each time), several times their statements. So a command inserts its records
with `add`, and `flush` writes the column changes of the objects it loaded and changed with one UPDATE each,
then leaves the ORM only what it must do itself (new objects some command still adds, versioned rows,
relationship changes, deadline rows whose changes the board's summary rows count at the flush).
"""
from __future__ import annotations

from sqlalchemy import Insert, bindparam, event, inspect, insert, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import instance_state
from sqlalchemy.orm.exc import StaleDataError

from engine.direct import direct

_INSERTS: dict = {}  # table: its INSERT (SQLAlchemy caches its compiled form per set of columns given)
_UPDATES: dict = {}  # (table, columns): the UPDATE of those columns by primary key
_UNCHECKED = "banli_unchecked"  # session.info: [(Sent, object)] of the writes `store_sent` left to `check_sent`


def update_of(table, columns, *where):
    """UPDATE of `columns` (parameters v_<column>) where `where` (by default the primary key = w_id)."""
    where = where or (table.primary_key.columns[0] == bindparam("w_id"),)
    return direct(update(table).where(*where).values({c: bindparam(f"v_{c}", type_=table.c[c].type) for c in columns}))


def add(session: Session, model, **values) -> None:
    """Insert one row of `model`'s table (its column defaults apply)."""
    table = model.__table__
    if table not in _INSERTS:
        _INSERTS[table] = later(insert(table))
    session.connection().execute(_INSERTS[table], values)


def store(session: Session, obj, stmt, values: dict, where: dict | None = None) -> None:
    """Run `stmt` (an `update_of`) for `obj` with `values`, then give the object those values as committed:
    assigned as attributes instead, they would be flushed again. StaleDataError when no row matched."""
    _matched(obj, session.connection().execute(stmt, _parameters(obj, values, where)).rowcount)
    committed(obj, values)


def store_sent(session: Session, obj, stmt, values: dict, where: dict | None = None) -> None:
    """`store` for a `stmt` that returns the row it updated, sent without waiting for its answer: on PostgreSQL it
    goes out in the command's pipeline (engine.db) and the server runs it, and the writes queued before it, while
    the command goes on; its row is counted at `check_sent`, which the command's `flush` ends with (and a
    commit, for a write no flush followed). Awaited at once, as the version check of the instance's write was, the
    command waited for all its queued writes there, and again for what it queued after them at the COMMIT."""
    sent = session.connection().send(stmt, _parameters(obj, values, where))
    session.info.setdefault(_UNCHECKED, []).append((sent, obj))
    committed(obj, values)


def check_sent(session: Session) -> None:
    """Count the rows of the writes `store_sent` left unchecked: StaleDataError when one matched none."""
    for sent, obj in session.info.pop(_UNCHECKED, ()):
        _matched(obj, len(sent.rows().all()))


@event.listens_for(Session, "before_commit")
def _check_before_commit(session: Session) -> None:
    check_sent(session)


@event.listens_for(Session, "after_rollback")
def _forget_rolled_back(session: Session) -> None:
    """A rolled-back write needs no check (a savepoint's included: a command checks its writes before it ends,
    so none of its checks outlives the savepoint it ran in)."""
    session.info.pop(_UNCHECKED, None)


def _parameters(obj, values: dict, where: dict | None) -> dict:
    return {"w_id": obj.id, **(where or {}), **{f"v_{k}": v for k, v in values.items()}}


def _matched(obj, rows: int) -> None:
    if rows != 1:
        raise StaleDataError(f"{type(obj).__name__} {obj.id} was changed or removed by another transaction")


def committed(obj, values: dict) -> None:
    """Give `obj` these column values as its committed ones (what set_committed_value does for one attribute, for
    all of them at once: a command's row gets several at every completion)."""
    state = instance_state(obj)
    state.dict.update(values)
    state._commit(state.dict, list(values))


def _changes(state) -> dict | None:
    """The changed columns of a persistent object ({column: value}), or None when the ORM must write it."""
    mapper = state.mapper
    table = mapper.local_table
    if mapper.version_id_col is not None or len(mapper.tables) != 1 or len(table.primary_key.columns) != 1 \
            or any(c.onupdate is not None for c in table.c):
        return None
    values = {}
    for key in state.committed_state:
        prop = mapper.attrs.get(key)
        columns = getattr(prop, "columns", None)
        if columns is None or len(columns) != 1 or columns[0].table is not table:
            return None  # a relationship or an expression: the ORM's
        values[columns[0].name] = state.dict.get(key)
    return values


def flush(session: Session, orm_only: tuple = ()) -> None:
    """Write every changed persistent object (except those of the `orm_only` classes) with one UPDATE of its
    changed columns, in table and key order as the ORM would, mark it clean, then flush what is left; last, check
    the writes sent unchecked (`store_sent`)."""
    dirty = sorted((inspect(o) for o in session.dirty if not isinstance(o, orm_only)),
                   key=lambda s: (s.mapper.local_table.name, s.identity))
    for state in dirty:
        values = _changes(state)
        if values is None:
            continue
        obj, table = state.obj(), state.mapper.local_table
        if values:
            key = (table, tuple(sorted(values)))
            if key not in _UPDATES:
                _UPDATES[key] = update_of(table, key[1])
            store(session, obj, _UPDATES[key], values)
        # committed as written: no longer dirty (set_committed_value leaves the object's modified flag set)
        state._commit_all(state.dict, session.identity_map)
    session.flush()
    check_sent(session)


def later(stmt):
    """`stmt` marked as a write whose result the command does not read (no rows, no row count): on PostgreSQL
    it is queued and goes out with the next statement whose answer is awaited (engine.db._pipelined). An INSERT
    does not ask for the new row's key either (`inline`: no RETURNING), which would need the answer at once."""
    if isinstance(stmt, Insert):
        stmt = stmt.inline()
    return direct(stmt.execution_options(banli_later=True))
