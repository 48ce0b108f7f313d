"""(b) One timer sweep with few against many open items, the same number of timers due.

The open items of the bulk fill each get a waiting timer row due in the future (their deadlines); then a
fixed number of real items are registered and assigned through the engine at a past date, so exactly
their sign-for timers are due. A sweep is timed: it should cost what is due, not what is open. A sweep
fires what it times, so each round makes new due items on both databases and sweeps them in turn
(`paired`): a round that runs while the VM is slow slows both sides, and the figure is the rounds' median.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import insert, select, text

from engine import clock
from engine.models import ProcessInstance, TaskRow, Timer, Unit, User
from engine.items.registration import register_item
from engine.workflow.runtime import complete_task
from engine.workflow.sweep import sweep

CHUNK = 5000


@dataclass
class SweepFigure:
    open_items: int
    due: int
    fired: int
    loaded: int
    seconds: float


def add_waiting_timers(db) -> int:
    """One future timer row per running instance of the bulk fill (what an office's table looks like)."""
    future = clock.now() + timedelta(days=30)
    with db.reading() as s:
        rows = s.execute(select(ProcessInstance.id, ProcessInstance.item_id)
                         .where(ProcessInstance.status == "running")).all()
    with db.transaction() as s:
        for k in range(0, len(rows), CHUNK):
            s.execute(insert(Timer), [dict(id=f"bench-{iid:012d}", instance_id=iid, item_id=item_id,
                                           due_at=future + timedelta(minutes=iid % 1440), spec_name="reply_overdue",
                                           deadline_key="reply", kind="overdue", attached_to="handling")
                                      for iid, item_id in rows[k:k + CHUNK]])
    # Statistics as autovacuum would soon have them: PostgreSQL last saw an empty timer table (the fill's
    # ANALYZE) and, until its autovacuum came by, read every waiting timer for the sweep's due ones
    # (2.8 ms at 27k timers, 0.17 ms along ix_timer_due_at): the figure moved with autovacuum's timing.
    # PostgreSQL only: with it SQLite measured 1.37 and 1.86 at 1M (0.99, 1.26 before), not looked into.
    if db.is_postgres:
        with db.engine.begin() as conn:
            conn.execute(text("ANALYZE timer"))
    return len(rows)


def add_due_items(db, k: int, prefix: str = "BENCH") -> None:
    """k items assigned a month ago through the engine: their sign-for timers are due now."""
    with db.reading() as s:
        office = s.scalar(select(User.username).where(User.role == "office"))
        # a deputy (建议 come from deputies), the same one each run: an unordered LIMIT 1 took whichever row
        # PostgreSQL met first, a CPPCC member once the large database's users had moved, and registration refused
        proposer = s.scalar(select(User.username).where(User.role == "proposer", User.proposer_kind == "deputy")
                            .order_by(User.id).limit(1))
        unit = s.scalar(select(Unit.code).order_by(Unit.id).limit(1))
    with clock.travel(datetime.now(timezone.utc) - timedelta(days=31)):
        for i in range(k):
            with db.transaction() as s:
                who = s.scalars(select(User).where(User.username == office)).one()
                item = register_item(s, {"item_type": "suggestion", "title": f"关于第{i}号路口信号灯配时的建议",
                                         "content": "早晚高峰拥堵。", "proposer": proposer, "year": "2026",
                                         "number": f"{prefix}-{i:04d}"}, who)
                assignment = s.scalars(select(TaskRow).where(TaskRow.item_id == item.id,
                                                             TaskRow.form_key == "assignment")).one()
                complete_task(s, assignment.id, who,
                              {"assign_decision": "assign", "lead_unit": unit})


def _timed_sweep(db, open_items: int, due: int) -> SweepFigure:
    started = time.perf_counter()
    report = sweep(db, limit=due * 4)
    seconds = time.perf_counter() - started
    return SweepFigure(open_items, due, report.fired, len(report.loaded), seconds)


def paired(small_db, small_open: int, large_db, large_open: int, due: int,
           rounds: int = 3) -> tuple[SweepFigure, SweepFigure]:
    """The median sweep of each database over `rounds` rounds, after a first round that warms what a running
    sweeper has warm (compiled statements, parsed specs, the cached calendar) and is not counted: before, the
    one sweep of the small database, run first, paid for that and flattered the ratio."""
    for db in (small_db, large_db):
        add_waiting_timers(db)
    runs: tuple[list, list] = ([], [])
    sides = ((small_db, small_open, runs[0]), (large_db, large_open, runs[1]))
    for r in range(rounds + 1):
        for side, (db, open_items, out) in enumerate(sides):
            add_due_items(db, due, prefix=f"BENCH{r}{'SL'[side]}")
            if r:
                out.append(_timed_sweep(db, open_items, due))
            else:
                sweep(db, limit=due * 4)
    return tuple(sorted(figs, key=lambda f: f.seconds)[len(figs) // 2] for figs in runs)
