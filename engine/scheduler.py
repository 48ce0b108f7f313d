"""The scheduler: APScheduler ticks the timer sweep in exactly one process.

Several `banli scheduler` processes may run (for availability); only the holder of the leader lock sweeps.
On PostgreSQL the lock is a session advisory lock on a connection held for the process's life, so it is
released the moment a holder dies (even on SIGKILL); on SQLite it is an flock on a file beside the database.
Missed ticks after downtime coalesce into one sweep, and the sweep itself fires each due timer once.
"""
from __future__ import annotations

import fcntl
import logging
import os
import socket
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from engine import clock, heap
from engine.config import Settings
from engine.models import SchedulerHeartbeat
from engine.people.notifications import send_pending_email
from engine.events.webhooks import deliver_due as deliver_webhooks
from engine.workflow.deployment import warm_at_start
from engine.workflow.sweep import SweepReport, sweep
from engine.deadlines.pruning import prune_tallies
from engine.items import merging, promises

log = logging.getLogger("banli.scheduler")
ADVISORY_KEY = 0x62616E6C  # "banl"
NIGHTLY_HOUR = 3  # local time (Asia/Shanghai) from which the day's maintenance runs


class LeaderLock:
    """Held by at most one scheduler process at a time."""

    def __init__(self, db):
        self.db = db
        self._conn = None
        self._file = None

    def acquire(self) -> bool:
        """True while this process holds the lock; checked again at every tick (a dropped connection
        loses a PostgreSQL lock, and another scheduler may have taken over since)."""
        if self.db.is_postgres:
            try:
                if self._conn is None:
                    self._conn = self.db.engine.connect()
                held = self._conn.execute(text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = :k "
                    "AND pid = pg_backend_pid() AND granted"), {"k": ADVISORY_KEY}).scalar()
                got = bool(held) or bool(self._conn.execute(text("SELECT pg_try_advisory_lock(:k)"),
                                                             {"k": ADVISORY_KEY}).scalar())
                self._conn.commit()
                return got
            except Exception:  # the connection broke: whatever it held is gone with it
                self.release()
                return False
        path = Path(self.db.url.split("sqlite:///", 1)[-1] + ".scheduler.lock")
        if self._file is None:
            self._file = open(path, "a+")
        try:
            fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError:
            return False

    def release(self) -> None:
        if self._conn is not None:
            try:  # the pool would keep the server session, and the lock with it, alive
                self._conn.execute(text("SELECT pg_advisory_unlock_all()"))
                self._conn.commit()
            except Exception:
                self._conn.invalidate()
            self._conn.close()
            self._conn = None
        if self._file is not None:
            self._file.close()
            self._file = None


def tick(db, settings: Settings | None = None) -> SweepReport:
    """One sweep now, then the reminders no timer sends (promises, merged items' ratings), the e-mail outbox and
    the partners' webhooks, then the heartbeat."""
    report = sweep(db)
    try:
        with db.transaction() as s:
            promises.remind(s)
            merging.remind_raters(s)
    except IntegrityError:  # a concurrent tick stored the same reminder first: each is stored once
        log.info("reminders: a concurrent tick was first")
    if settings is not None:
        try:
            send_pending_email(db, settings)
        except OSError as exc:  # the mail server being down must not stop deadlines
            log.warning("e-mail not sent: %s", exc)
    try:
        deliver_webhooks(db)
    except Exception:  # noqa: BLE001 - a partner's failure must not stop deadlines either
        log.exception("webhook delivery failed")
    for _attempt in range(3):  # two first-ever ticks may both try to create the row
        try:
            with db.transaction() as s:
                beat = s.get(SchedulerHeartbeat, "sweep") or SchedulerHeartbeat(name="sweep")
                beat.holder = f"{socket.gethostname()}:{os.getpid()}"
                beat.beat_at, beat.last_sweep_fired = clock.now(), report.fired
                s.add(beat)
            break
        except IntegrityError:
            continue
    if report.fired or report.failed:
        log.info("sweep fired=%s instances=%s failed=%s", report.fired, len(report.loaded), report.failed)
    return report


def nightly_due(done_on: date | None, now: datetime) -> date | None:
    """The local day whose maintenance is due at `now` (from NIGHTLY_HOUR, once a day), or None."""
    local = clock.local(now)
    return local.date() if local.hour >= NIGHTLY_HOUR and local.date() != done_on else None


def nightly(db) -> None:
    """Maintenance off the hot path, once a day: the board's summary rows that count nothing are deleted."""
    pruned = prune_tallies(db)
    log.info("nightly: %s summary rows at zero pruned", pruned)


def ready(db) -> None:
    """Before the first sweep: the processes running items are pinned to parsed (a sweep's first timer on each
    version parsed it on a deadline's time), then what the process loaded frozen (engine.heap). A database that
    cannot be read yet (not initialised, restarting) does not stop the scheduler: its ticks retry, and the
    processes are parsed at their first use."""
    warm_at_start(db, "scheduler")
    heap.settle()


def run(db, settings: Settings, interval: int = 30) -> None:
    """Block forever: every `interval` seconds, sweep if this process is the leader."""
    from apscheduler.schedulers.blocking import BlockingScheduler

    ready(db)
    lock = LeaderLock(db)
    done_on = {"day": None}  # the local day the nightly maintenance last ran in this process

    def job():
        if lock.acquire():
            tick(db, settings)
            # in the same job (the lock's connection serves one thread): at the first tick of the night
            day = nightly_due(done_on["day"], clock.now())
            if day is not None:
                done_on["day"] = day
                nightly(db)

    scheduler = BlockingScheduler(timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1,
                                                                 "misfire_grace_time": None})
    scheduler.add_job(job, "interval", seconds=interval, next_run_time=clock.now())
    log.info("scheduler started, sweeping every %ss when leader", interval)
    try:
        scheduler.start()
    finally:
        lock.release()
