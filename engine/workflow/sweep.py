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


def due_batch(session: Session, now: datetime, size: int, after_id: int = 0) -> list[int]:
    """Running instances with a due timer, by id after `after_id`; locked for this transaction on PostgreSQL,
    skipping those another sweeper holds."""
    query = (select(ProcessInstance.id)
             .where(ProcessInstance.status == "running", ProcessInstance.id > after_id,
                    ProcessInstance.id.in_(select(Timer.instance_id).where(Timer.due_at <= now)))
             .order_by(ProcessInstance.id).limit(size))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(session.scalars(query))


def sweep(db, now: datetime | None = None, limit: int | None = None, batch: int = BATCH_SIZE) -> SweepReport:
    """Fire every due timer (at most `limit` instances when given), batch after batch."""
    now = now or clock.now()
    report = SweepReport()
    after_id, done = 0, 0
    while limit is None or done < limit:
        with db.transaction() as s:
            ids = due_batch(s, now, batch if limit is None else min(batch, limit - done), after_id)
            if not ids:
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
        after_id, done = ids[-1], done + len(ids)
    return report
