"""One scheduler sweeps; several sweepers or a killed one still fire every timer exactly once."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime

import time_machine
from sqlalchemy import func, select

from engine import clock
from engine.models import AuditEvent, Notification, SchedulerHeartbeat, Timer
from engine.items.registration import register_item
from engine.workflow.runtime import complete_task
from engine.scheduler import LeaderLock, tick
from tests.conftest import task_for, user

BANLI = [sys.executable, "-m", "web.cli"]


def overdue_items(db, n: int) -> list[int]:
    """n items assigned in January 2026, whose sign-for deadlines are long past."""
    ids = []
    with time_machine.travel(datetime(2026, 1, 5, 10, tzinfo=clock.LOCAL_TZ), tick=False):
        for i in range(n):
            with db.transaction() as s:
                item = register_item(s, {"item_type": "suggestion", "title": f"关于第{i}号路口的建议", "content": "拥堵。",
                                         "proposer": "deputy_chen", "year": "2026"}, user(s, "office"))
                row = task_for(s, item.id, "assign_item")
                complete_task(s, row.id, user(s, "office"), {"assign_decision": "assign", "lead_unit": "jtj"})
                ids.append(item.id)
    return ids


def fired_per_item(db, ids) -> dict[int, int]:
    """Per item, how often its most repeated overdue flag was recorded (each deadline must be flagged once:
    the sign-for window and, passed too before any pledge, the reply deadline that runs from assignment)."""
    with db.reading() as s:
        rows = s.execute(select(AuditEvent.item_id, func.count()).where(
            AuditEvent.item_id.in_(ids), AuditEvent.action == "timer_overdue")
            .group_by(AuditEvent.item_id, AuditEvent.step)).all()
    out: dict[int, int] = {}
    for i, n in rows:
        out[i] = max(out.get(i, 0), n)
    return out


def env(db):
    return {**os.environ, "DATABASE_URL": db.url}


def test_only_one_process_holds_the_leader_lock(demo_db):
    first, second = LeaderLock(demo_db), LeaderLock(demo_db)
    try:
        assert first.acquire() and first.acquire()  # re-entrant for its holder
        assert not second.acquire()
        first.release()
        assert second.acquire()
    finally:
        first.release()
        second.release()


def test_concurrent_sweepers_fire_each_timer_once(demo_db):
    ids = overdue_items(demo_db, 12)
    procs = [subprocess.Popen(BANLI + ["tick"], env=env(demo_db), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
             for _ in range(3)]
    for p in procs:
        out, _ = p.communicate(timeout=300)
        assert p.returncode == 0, out.decode()[-2000:]
    tick(demo_db)  # whatever a sweeper skipped because another held it
    assert fired_per_item(demo_db, ids) == {i: 1 for i in ids}
    with demo_db.reading() as s:
        assert s.scalar(select(func.count()).select_from(Timer).where(
            Timer.item_id.in_(ids), Timer.spec_name == "sign_overdue")) == 0
        dupes = s.execute(select(Notification.user_id, Notification.dedupe_key, func.count())
                          .group_by(Notification.user_id, Notification.dedupe_key).having(func.count() > 1)).all()
    assert dupes == []


def test_a_scheduler_killed_mid_sweep_still_fires_each_timer_once(demo_db):
    ids = overdue_items(demo_db, 30)
    proc = subprocess.Popen(BANLI + ["scheduler", "--interval", "1"], env=env(demo_db),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not fired_per_item(demo_db, ids):
            time.sleep(0.05)  # waiting for the other process to start work, not measuring time
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert fired_per_item(demo_db, ids), "the scheduler never started sweeping"
    # A new scheduler takes over (the dead holder's lock went with it) and finishes the sweep.
    assert LeaderLock(demo_db).acquire()
    tick(demo_db)
    assert fired_per_item(demo_db, ids) == {i: 1 for i in ids}
    with demo_db.reading() as s:
        assert s.get(SchedulerHeartbeat, "sweep") is not None
