"""(f) A batch of timers on time: 10,000 timers due at the same instant (a 交办会 batch), drained by 1 and 2 sweepers.

One item is registered and assigned through the engine a month ago, so its sign-for reminder and overdue
timers are due; its rows (item, instance with its real workflow state, task row, timer rows, deadlines,
assignment) are then copied N times with fresh task ids, as N items assigned at one meeting would look.
Each sweeper process calls the engine's sweep (`engine.workflow.sweep.sweep`, its default batch size)
until no timer is due; the drain is timed from their common release to the last one's end. Two sweepers
run on PostgreSQL only (SQLite has one writer).
"""
from __future__ import annotations

import contextlib
import multiprocessing
import os
import re
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import event, func, insert, select, text

from bench import scenario
from bench.measure import counting_statements
from bench.sweep import add_due_items
from bench.waits import LockWaits
from engine import clock
from engine.db import Database
from engine.deadlines.timers import FORECAST
from engine.models import Assignment, Deadline, Item, ProcessInstance, TaskRow, Timer
from engine.scheduler import ready as ready_as_server
from engine.workflow.serializer import STATE, pack

CHUNK = 2000
TIMEOUT = 1800
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@dataclass
class DrainFigure:
    sweepers: int
    timers: int  # timer rows due at the start
    fired: int  # timer events the sweeps fired
    seconds: float
    ticks: int  # sweep calls that fired something, in the busiest sweeper (one tick should drain all)
    cpu_seconds: float  # the sweeper processes' own CPU
    shares: list[int]  # timer events each sweeper fired: one sweeper doing most of the work shows here
    server_cpu_seconds: float | None  # PostgreSQL: CPU of the sweepers' server backends
    statements: int  # SQL statements the sweepers sent
    lock_waits: LockWaits | None = None  # PostgreSQL: how often the sweepers' backends waited on a lock

    @property
    def per_second(self) -> float:
        return self.timers / self.seconds


def _rows(session, model, item_id):
    table = model.__table__
    return [dict(r._mapping) for r in session.execute(select(table).where(table.c.item_id == item_id))]


def make_backlog(db, due_timers: int, tag: str) -> int:
    """Items whose timers are all due now, `due_timers` in all (at least), copied from one item the engine
    assigned a month ago. Returns how many timer rows are due."""
    add_due_items(db, 1, prefix=f"{tag}T")
    with db.reading() as s:
        template_id = s.scalar(select(func.max(Item.id)))
        item = dict(s.execute(select(Item.__table__).where(Item.id == template_id)).one()._mapping)
        instance = dict(s.execute(select(ProcessInstance.__table__)
                                  .where(ProcessInstance.item_id == template_id)).one()._mapping)
        tasks, timers = _rows(s, TaskRow, template_id), _rows(s, Timer, template_id)
        # A forecast's row is derived from its instance (its id too): each copy gets its own at its first sweep.
        timers = [r for r in timers if r["kind"] != FORECAST]
        deadlines, assignments = _rows(s, Deadline, template_id), _rows(s, Assignment, template_id)
        first_item = s.scalar(select(func.max(Item.id))) + 1
        first_instance = s.scalar(select(func.max(ProcessInstance.id))) + 1
    n = max(0, -(-due_timers // len(timers)) - 1)  # copies besides the template item
    state = STATE.text(instance["state"])
    ids = set(UUID_RE.findall(state))
    for r in deadlines + assignments:
        r.pop("id")
    due = 0
    with db.transaction() as s:
        for start in range(0, n, CHUNK):
            batch = {m: [] for m in (Item, ProcessInstance, TaskRow, Timer, Deadline, Assignment)}
            for k in range(start, min(n, start + CHUNK)):
                item_id, instance_id = first_item + k, first_instance + k
                fresh = {old: str(uuid.uuid4()) for old in ids}
                copy = UUID_RE.sub(lambda m: fresh.get(m.group(0), m.group(0)), state)
                copy = copy.replace(f'"item_id":{template_id},', f'"item_id":{item_id},')
                batch[Item].append({**item, "id": item_id, "number": f"{tag}-{k:06d}"})
                batch[ProcessInstance].append({**instance, "id": instance_id, "item_id": item_id,
                                               "state": pack(copy)})
                for model, rows in ((TaskRow, tasks), (Timer, timers)):
                    batch[model] += [{**r, "id": fresh.get(r["id"], r["id"]), "item_id": item_id,
                                      "instance_id": instance_id} for r in rows]
                batch[Deadline] += [{**r, "item_id": item_id} for r in deadlines]
                batch[Assignment] += [{**r, "item_id": item_id} for r in assignments]
                due += len(timers)
            for model, rows in batch.items():
                s.execute(insert(model.__table__), rows)
    if db.is_postgres:
        with db.engine.begin() as conn:
            for table in ("item", "process_instance", "deadline", "assignment"):
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                  f"(SELECT MAX(id) FROM {table}))"))
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))
    return due + len(timers)


def backend_pids(db) -> set[int]:
    """The server pids of the connections `db` opens from now on (PostgreSQL; empty on SQLite)."""
    pids: set[int] = set()
    if db.is_postgres:
        @event.listens_for(db.engine, "connect")
        def _backend(dbapi_conn, _record):
            cur = dbapi_conn.cursor()
            cur.execute("SELECT pg_backend_pid()")
            pids.add(cur.fetchone()[0])
            cur.close()
            # end the transaction the query began: a connection handed out in one cannot be made read-only
            # (Database.reading), and psycopg refused with "can't change 'read_only' now"
            dbapi_conn.rollback()
    return pids


def backend_cpu(pids) -> float:
    """CPU seconds (user + system) the server backends of these pids used so far; the server runs on this
    machine for the bench, so /proc has them (0 when it cannot be read)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return total / os.sysconf("SC_CLK_TCK")


def _sweeper(url: str, ready, go, results) -> None:
    from engine.workflow.sweep import sweep

    db = Database(url)
    pids = backend_pids(db)  # before any connection: it learns the pids as they connect
    ready_as_server(db)  # as `banli scheduler` starts: its processes parsed, then frozen out of the GC's walks
    try:
        _due_left(db)  # connected before the start: the backend's own start-up is not counted
        ready.put(None)
        go.wait(TIMEOUT)
        cpu, server = time.process_time(), backend_cpu(pids)
        fired = ticks = 0
        with counting_statements(db.engine) as statements:
            while True:
                report = sweep(db)
                ticks += bool(report.loaded)
                fired += report.fired
                if report.failed:
                    raise RuntimeError(f"sweep failed: {report.failed[0]}")
                if not report.loaded and not _due_left(db):
                    break
        results.put((fired, ticks, time.perf_counter(), time.process_time() - cpu,
                     backend_cpu(pids) - server if db.is_postgres else None, statements["n"]))
    except Exception as exc:  # noqa: BLE001 - surfaced in the parent
        results.put((repr(exc), 0, time.perf_counter(), 0.0, None, 0))
    finally:
        db.engine.dispose()


def _due_left(db) -> int:
    with db.reading() as s:
        return s.scalar(select(func.count()).select_from(Timer).where(Timer.due_at <= clock.now()))


def drain(db, sweepers: int, timers: int) -> DrainFigure:
    ctx = multiprocessing.get_context("spawn")
    ready, results, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    procs = [ctx.Process(target=_sweeper, args=(db.url, ready, go, results)) for _ in range(sweepers)]
    for p in procs:
        p.start()
    for _ in procs:
        ready.get(timeout=TIMEOUT)
    with (LockWaits(db.url) if db.is_postgres else contextlib.nullcontext()) as waits:
        start = time.perf_counter()
        go.set()
        got = [results.get(timeout=TIMEOUT) for _ in procs]
    for p in procs:
        p.join(TIMEOUT)
    errors = [f for f, *_ in got if isinstance(f, str)]
    if errors:
        raise RuntimeError(f"bench sweeper failed: {errors[0]}")
    if _due_left(db):
        raise RuntimeError("bench: timers still due after the sweepers stopped")
    server = [g[4] for g in got if g[4] is not None]
    return DrainFigure(sweepers, timers, sum(g[0] for g in got), max(g[2] for g in got) - start,
                       max(g[1] for g in got), sum(g[3] for g in got), [g[0] for g in got],
                       sum(server) if server else None, sum(g[5] for g in got), waits)


def run(db, due_timers: int, counts=(1, 2)) -> list[DrainFigure]:
    """A fresh backlog of `due_timers` timers for each sweeper count, on the same database."""
    with db.transaction() as s:
        scenario.create_org(s)
    out = []
    for sweepers in counts:
        timers = make_backlog(db, due_timers, f"DRAIN{sweepers}")
        out.append(drain(db, sweepers, timers))
    return out

