"""The sweep: fire every due timer row through the runtime.

It selects due timer rows only (`engine.deadlines.timers` keeps them in step with the workflows), loads
each due instance once, fires its timers through SpiffWorkflow and writes everything derived, one
transaction per instance. A process failure becomes an incident; other instances go on.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import clock
from engine.models import Timer
from engine.workflow.incidents import is_process_failure, record
from engine.workflow.runtime import fire_timers


@dataclass
class SweepReport:
    loaded: list[int] = field(default_factory=list)  # instance ids the sweep deserialised
    fired: int = 0
    failed: list[tuple[int, str]] = field(default_factory=list)


def due_instances(session: Session, now: datetime, limit: int) -> list[int]:
    """Instances with a due timer, oldest due first; on PostgreSQL rows another sweeper holds are skipped."""
    q = (select(Timer.instance_id, Timer.due_at).where(Timer.due_at <= now).order_by(Timer.due_at).limit(limit * 4))
    ids = list(dict.fromkeys(i for i, _ in session.execute(q)))[:limit]
    return ids


def sweep(db, now: datetime | None = None, limit: int = 200) -> SweepReport:
    """Fire every due timer: one transaction per instance, only instances with something due."""
    now = now or clock.now()
    report = SweepReport()
    with db.reading() as s:
        candidates = due_instances(s, now, limit)
    for instance_id in candidates:
        try:
            with db.transaction() as s:
                fired = fire_timers(s, instance_id, now)
                if fired is not None:
                    report.loaded.append(instance_id)
                    report.fired += fired
        except Exception as exc:  # one bad instance must not stop the others; a process failure is an incident
            report.failed.append((instance_id, f"{type(exc).__name__}: {exc}"))
            if is_process_failure(exc):
                record(db, instance_id, "timers", exc)
    return report
