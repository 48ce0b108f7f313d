"""Nightly maintenance of the board's summary rows: the rows counting nothing are deleted.

The write path (deadlines.tally) never deletes a summary row that falls to zero: that would cost every
completion a statement. No read sees such a row, but it stays on disk, and a closed item leaves a few dozen
of them (its dates, units and keys). The scheduler's nightly job deletes them here, off the hot path.

A row being counted again by a writer at the same moment is left alone: each batch locks only rows no
writer holds (SKIP LOCKED on PostgreSQL), in key order, and deletes them only if they still count nothing.
A writer that comes after inserts the row anew (its upsert), so a count is never lost.
"""
from __future__ import annotations

from sqlalchemy import and_, delete, literal_column, select, tuple_

from engine.models import DeadlineTally, DeadlineUnitTally

BATCH = 1000  # rows per transaction: short locks, and each batch a bounded statement
ZERO = literal_column("0")


def _zero_rows(model):
    if model is DeadlineTally:
        return DeadlineTally.n == ZERO
    return and_(DeadlineUnitTally.minus_flagged == ZERO, DeadlineUnitTally.dated == ZERO)


def _prune_batch(session, model, batch: int) -> int:
    keys = list(model.__table__.primary_key.columns)
    idle = (select(*keys).where(_zero_rows(model)).order_by(*keys).limit(batch)
            .with_for_update(skip_locked=True))
    return session.execute(delete(model).where(tuple_(*keys).in_(idle), _zero_rows(model))
                           .execution_options(synchronize_session=False)).rowcount


def prune_tallies(db, batch: int = BATCH) -> int:
    """Delete the summary rows at zero, a batch per transaction. Returns how many were deleted."""
    deleted = 0
    for model in (DeadlineTally, DeadlineUnitTally):
        while True:
            with db.transaction() as s:
                n = _prune_batch(s, model, batch)
            deleted += n
            if n < batch:
                break
    return deleted
