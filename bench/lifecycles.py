"""(a) full lifecycles through engine and database against raw SpiffWorkflow, and (d) bytes per closed item.

Both sides run the same processes/ BPMN with the same form data, interleaved in small rounds so that a
noisy neighbour slows both alike. The engine side is what users cause: registration, then every task
completed in its own transaction (validation, permission check, engine run, task rows, timers,
deadlines, read model, audit event, state). The raw side is BpmnWorkflow in memory completing the same
user tasks with the same (already validated) data.

The raw side runs in a process of its own (`RawSide`), each of its rounds while this one waits. In one
interpreter the engine's workflow classes (engine.workflow.stepping) and SpiffWorkflow's own meet at the same
places in SpiffWorkflow's code, whose bytecode Python specialises for the one class it sees there: with both,
raw SpiffWorkflow ran 10-40% slower beside the engine than alone, which flattered the ratio.
"""
from __future__ import annotations

import gc
import multiprocessing
import time
from dataclasses import dataclass

from sqlalchemy import select, text

from bench import scenario
from engine import clock, heap
from bench.drain import backend_cpu
from bench.measure import commit_wait_ms, counting_statements, growth, stored_bytes, used_bytes
from engine.deadlines.calendar import current_calendar
from engine.deadlines.pruning import prune_tallies
from engine.workflow.deployment import latest, parsed
from engine.models import Item
from engine.items.registration import PROCESS_ID
from engine.scheduler import ready

ROUND = 4  # lifecycles per side per round


@dataclass
class LifecycleFigures:
    backend: str
    items: int
    completions: int
    engine_s: float
    engine_cpu_s: float  # this process's CPU on the engine side (the database server's not included)
    raw_s: float
    plain_s: float  # raw with SpiffWorkflow's own script engine instead of the sandbox
    statements: int
    server_cpu_s: float | None  # PostgreSQL: its backends' CPU on the engine side (/proc: the server is local)
    commit_ms: float | None  # PostgreSQL: the median wait for a one-row COMMIT on this machine
    bytes_per_item: float
    stored_per_item: float | None  # PostgreSQL before VACUUM: dead row versions included
    biggest: list[tuple[str, int]]  # (table, bytes per item), largest first
    rounds: list[float]  # each round's ratio (raw seconds / engine seconds of the same items, run back to back)

    @property
    def ratio(self) -> float:
        """Persisted lifecycles per second / raw lifecycles per second (same script engine)."""
        return self.raw_s / self.engine_s

    @property
    def plain_ratio(self) -> float:
        """The same against raw SpiffWorkflow with its own, unsandboxed script engine."""
        return self.plain_s / self.engine_s


def run(db, n: int, warmup: int = 4) -> LifecycleFigures:
    """Run at the same day of the year whenever the bench runs (`scenario.DAY`): in December a plan's date
    lands in a year whose holidays may not be loaded yet, and every such deadline would carry a warning.

    The engine side starts as a server process does (engine.scheduler.ready, as web.cli.production_app): its
    processes parsed, then what it loaded frozen out of the garbage collector's walks (engine.heap), the raw
    side's process too (`_raw_process`); unfrozen at the end, what the bench loaded for this database is
    collected with it."""
    ready(db)
    try:
        with clock.travel(scenario.DAY):
            return _run(db, n, warmup)
    finally:
        gc.unfreeze()


def _run(db, n: int, warmup: int) -> LifecycleFigures:
    with db.transaction() as s:
        org = scenario.create_org(s)
    all_plans = scenario.plans(org, n + warmup)
    with db.reading() as s:
        actors = scenario.Actors(s)
        proc = parsed(latest(s, PROCESS_ID))
        data = [scenario.forms(p) for p in all_plans]
        typed = [scenario.typed(s, proc, d) for d in data]
        starts = [scenario.start_data(s, p, i + 1) for i, p in enumerate(all_plans)]

    def engine_side(indexes) -> int:
        return sum(scenario.run_to_end(db, scenario.register(db, all_plans[i]), data[i], actors) for i in indexes)

    with RawSide(db, typed, starts) as raw:
        return _measure(db, n, warmup, engine_side, raw)


def _measure(db, n: int, warmup: int, engine_side, raw: "RawSide") -> LifecycleFigures:
    warm = list(range(warmup))  # every table gets rows, caches fill: what follows is the steady state
    if not engine_side(warm) == raw.run(warm, False)[0] == raw.run(warm, True)[0]:
        raise RuntimeError("engine and raw SpiffWorkflow took different paths with the same data")
    prune_tallies(db)  # the nightly maintenance (engine.scheduler.nightly), before and after: a day's steady state
    before = used_bytes(db)
    stored_before = stored_bytes(db) if db.is_postgres else None
    commit_ms = commit_wait_ms(db) if db.is_postgres else None
    pids = _server_pids(db)
    engine_s = engine_cpu_s = server_cpu_s = raw_s = plain_s = 0.0
    completions = 0
    rounds = []
    measured = list(range(warmup, warmup + n))
    with counting_statements(db.engine) as statements:
        for start in range(0, n, ROUND):
            chunk = measured[start:start + ROUND]
            raw_done, raw_round = raw.run(chunk, False)
            raw_s += raw_round
            s1 = backend_cpu(pids)  # read outside each side's clocks: /proc is neither side's time
            t1, c1 = time.perf_counter(), time.process_time()
            engine_done = engine_side(chunk)
            engine_round = time.perf_counter() - t1
            engine_s += engine_round
            rounds.append(raw_round / engine_round)
            engine_cpu_s += time.process_time() - c1
            server_cpu_s += backend_cpu(pids) - s1
            plain_done, plain_round = raw.run(chunk, True)
            plain_s += plain_round
            if not raw_done == engine_done == plain_done:
                raise RuntimeError("engine and raw SpiffWorkflow took different paths with the same data")
            completions += engine_done
    prune_tallies(db)
    stored_after = stored_bytes(db) if db.is_postgres else None
    after = used_bytes(db)
    with db.reading() as s:
        open_left = s.scalars(select(Item.number).where(Item.status != "closed")).all()
    if open_left:
        raise RuntimeError(f"bench: items not closed at the end: {open_left[:5]}")
    grown = growth(before, after)
    return LifecycleFigures(
        backend=db.engine.dialect.name, items=n, completions=completions, engine_s=engine_s, engine_cpu_s=engine_cpu_s,
        raw_s=raw_s, plain_s=plain_s,
        statements=statements["n"], server_cpu_s=server_cpu_s if db.is_postgres else None, commit_ms=commit_ms,
        bytes_per_item=sum(grown.values()) / n,
        stored_per_item=(sum(growth(stored_before, stored_after).values()) / n) if db.is_postgres else None,
        biggest=sorted(((t, b / n) for t, b in grown.items()), key=lambda x: -x[1])[:4], rounds=rounds)


class RawSide:
    """Raw SpiffWorkflow's lifecycles in a spawned process (see the module's docstring): it reads the deployed
    process and the working calendar from the same database, and runs the lifecycles it is asked for, timed by
    its own clock."""

    def __init__(self, db, typed: list, starts: list):
        url = db.engine.url.render_as_string(hide_password=False)
        self.conn, self._child = multiprocessing.Pipe()
        self.process = multiprocessing.get_context("spawn").Process(
            target=_raw_process, args=(self._child, url, typed, starts), daemon=True)

    def __enter__(self) -> "RawSide":
        self.process.start()
        self._child.close()  # the child's end lives in the child alone: if it dies, a read here ends, not waits
        self.pid = self._answer()
        return self

    def run(self, indexes: list[int], plain: bool) -> tuple[int, float]:
        """(user tasks completed, seconds) for the lifecycles of `indexes`; `plain`: SpiffWorkflow's own script
        engine rather than the sandbox."""
        try:
            self.conn.send((indexes, plain))
        except OSError:  # it has ended: said by the read below
            pass
        return self._answer()

    def _answer(self):
        try:
            kind, value = self.conn.recv()
        except (EOFError, OSError):  # closed, or reset when it ended with a request of ours unread
            self.process.join(timeout=10)
            raise RuntimeError(f"bench: the raw side's process ended (exit code {self.process.exitcode})") from None
        if kind == "failed":
            raise RuntimeError(f"bench: the raw side failed: {value}")
        return value

    def __exit__(self, *_exc) -> None:
        try:
            self.conn.send(None)
        except OSError:  # it is gone already
            pass
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.kill()


def _raw_process(conn, url: str, typed: list, starts: list) -> None:
    import os
    import traceback

    from engine.db import Database

    try:
        db = Database(url)
        with db.reading() as s:
            proc = parsed(latest(s, PROCESS_ID))
            calendar = current_calendar(s)
        db.engine.dispose()
        heap.settle()
        conn.send(("ready", os.getpid()))
        with clock.travel(scenario.DAY):
            while (asked := conn.recv()) is not None:
                indexes, plain = asked
                t0 = time.perf_counter()
                done = sum(scenario.raw_lifecycle(proc, starts[i], typed[i], calendar, plain) for i in indexes)
                conn.send(("done", (done, time.perf_counter() - t0)))
    except Exception:  # noqa: BLE001 - reported to the bench, which stops
        conn.send(("failed", traceback.format_exc(limit=5)))


def _server_pids(db) -> list[int]:
    """The server processes of the database's connections (PostgreSQL; none on SQLite)."""
    if not db.is_postgres:
        return []
    with db.reading() as s:
        return list(s.scalars(text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")))
