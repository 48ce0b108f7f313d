"""The sweep: fire every due timer row through the runtime.

It selects due timer rows only (`engine.deadlines.timers` keeps them in step with the workflows) and works
through them in batches until none is left: one tick drains the whole backlog (a 交办会 batch of
thousands of reminders due at once). Each batch is one transaction that locks its instances; each instance
in it runs in a savepoint, so a failing one rolls back alone and becomes an incident, in the same
transaction. The query itself skips instances set aside by an incident and, on PostgreSQL, instances
another sweeper holds (`FOR UPDATE SKIP LOCKED`): failures cannot fill the batches, and several sweepers
share a backlog without waiting on each other. Batches walk instance ids upwards (keyset), so a tick
ends even if an instance stays due after firing.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import clock
from engine.models import ProcessInstance, Timer
from engine.workflow.incidents import ProcessFailure
from engine.workflow.runtime import fire_timers

BATCH_SIZE = 50  # instances per transaction: short enough not to hold SQLite's write lock for long


@dataclass
class SweepReport:
    loaded: list[int] = field(default_factory=list)  # instance ids the sweep deserialised
    fired: int = 0
    failed: list[tuple[int, str]] = field(default_factory=list)
    batches: int = 0


def due_query(now: datetime, size: int, after_id: int, postgres: bool):
    """Running instances with a due timer, by id after `after_id`; on PostgreSQL locked for this transaction,
    skipping those another sweeper holds."""
    query = (select(ProcessInstance.id)
             .where(ProcessInstance.status == "running", ProcessInstance.id > after_id,
                    ProcessInstance.id.in_(select(Timer.instance_id).where(Timer.due_at <= now)))
             .order_by(ProcessInstance.id).limit(size))
    return query.with_for_update(skip_locked=True) if postgres else query


def still_due(session: Session, ids: list[int], now: datetime) -> list[int]:
    """Those of `ids` (locked by this transaction) that have a due timer, as committed now.

    The locking query alone is not enough on PostgreSQL: an instance another sweeper held when the query
    began, and committed (its timers fired) before the query reached it, is no longer locked, so it is
    locked here and re-checked against its new row version only (status, id); the timer rows of its
    IN (...) keep the query's snapshot, where it was due. Loaded again, it fired nothing and cost a load.
    This statement takes a new snapshot after the lock (READ COMMITTED): it sees every commit before the
    lock, and no other sweeper can fire the instance while this transaction holds it."""
    if not ids:
        return ids
    due = set(session.scalars(select(Timer.instance_id).distinct()
                              .where(Timer.instance_id.in_(ids), Timer.due_at <= now)))
    return [i for i in ids if i in due]


def due_batch(session: Session, now: datetime, size: int, after_id: int = 0) -> tuple[list[int], int | None]:
    """The batch's instances that are due (locked on PostgreSQL), and the last id the query reached (where
    the next batch starts; None when nothing was left)."""
    postgres = session.get_bind().dialect.name == "postgresql"
    ids = list(session.scalars(due_query(now, size, after_id, postgres)))
    if not ids:
        return [], None
    return (still_due(session, ids, now) if postgres else ids), ids[-1]  # SQLite: one writer, no race


def sweep(db, now: datetime | None = None, limit: int | None = None, batch: int = BATCH_SIZE) -> SweepReport:
    """Fire every due timer (at most `limit` instances when given), batch after batch."""
    now = now or clock.now()
    report = SweepReport()
    after_id, done = 0, 0
    while limit is None or done < limit:
        with db.transaction() as s:
            ids, last = due_batch(s, now, batch if limit is None else min(batch, limit - done), after_id)
            if last is None:
                break
            failures = []
            for instance_id in ids:
                try:
                    with s.begin_nested():
                        fired = fire_timers(s, instance_id, now, selected_due=True)
                except Exception as exc:  # noqa: BLE001 - one bad instance must not stop the others
                    failures.append((instance_id, exc))
                    continue
                if fired is not None:
                    report.loaded.append(instance_id)
                    report.fired += fired
            for instance_id, exc in failures:
                cause = getattr(exc, "cause", exc)
                report.failed.append((instance_id, f"{type(cause).__name__}: {cause}"))
                if isinstance(exc, ProcessFailure):  # set aside: the next batches' query no longer sees it
                    exc.open(s)
        report.batches += 1
        after_id, done = last, done + len(ids)
    return report
