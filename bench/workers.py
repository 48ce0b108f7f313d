"""(e) task completions per second with 1, 2 and 4 worker processes on PostgreSQL.

Items are registered first; each worker process then runs its share of them to the end (every task
in its own transaction), all workers released together. Workers act on different items, as different
offices and units do; conflicts on one item are the concurrency tests' subject, not this figure's.
"""
from __future__ import annotations

import multiprocessing
import time
from dataclasses import dataclass

from bench import scenario
from bench.drain import backend_cpu, backend_pids
from bench.waits import LockWaits
from engine.db import Database
from engine.scheduler import ready as ready_as_server

TIMEOUT = 600


@dataclass
class WorkerFigure:
    workers: int
    completions: int
    seconds: float
    cpu_seconds: float  # CPU time the worker processes used
    server_cpu_seconds: float  # CPU time their PostgreSQL backends used
    lock_waits: LockWaits | None = None  # how often the workers' backends waited on a lock

    @property
    def per_second(self) -> float:
        return self.completions / self.seconds


def _worker(url: str, jobs: list[tuple[int, dict]], ready, go, results) -> None:
    db = Database(url)
    pids = backend_pids(db)  # before any connection: it learns the pids as they connect
    ready_as_server(db)  # as a web worker boots (web.cli.production_app): processes parsed, then frozen
    try:
        with db.reading() as s:
            actors = scenario.Actors(s)
        ready.put(None)
        go.wait(TIMEOUT)
        cpu, server = time.process_time(), backend_cpu(pids)
        done = sum(scenario.run_to_end(db, item_id, data, actors) for item_id, data in jobs)
        results.put((done, time.perf_counter(), time.process_time() - cpu, backend_cpu(pids) - server))
    except Exception as exc:  # noqa: BLE001 - surfaced in the parent
        results.put((repr(exc), time.perf_counter(), 0.0, 0.0))
    finally:
        db.engine.dispose()


def _round(ctx, url: str, jobs: list, n: int) -> WorkerFigure:
    """n worker processes share `jobs`; timed from their common release to the last one's end."""
    ready, results, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    procs = [ctx.Process(target=_worker, args=(url, jobs[i::n], ready, go, results)) for i in range(n)]
    for p in procs:
        p.start()
    for _ in procs:
        ready.get(timeout=TIMEOUT)  # imports and connections done before the clock starts
    with LockWaits(url) as waits:
        start = time.perf_counter()
        go.set()
        got = [results.get(timeout=TIMEOUT) for _ in procs]
    for p in procs:
        p.join(TIMEOUT)
    errors = [done for done, *_ in got if isinstance(done, str)]
    if errors:
        raise RuntimeError(f"bench worker failed: {errors[0]}")
    return WorkerFigure(n, sum(g[0] for g in got), max(g[1] for g in got) - start, sum(g[2] for g in got),
                        sum(g[3] for g in got), waits)


def run(db, items_per_worker: int, counts=(1, 2, 4), rounds: int = 2) -> list[WorkerFigure]:
    """The same number of items per worker process, so every configuration runs long enough to time.

    The configurations alternate for `rounds` rounds and each keeps its best round: on a shared machine
    a neighbour's burst then costs one round, not the figure.
    """
    with db.transaction() as s:
        org = scenario.create_org(s)
    plans = scenario.plans(org, items_per_worker * sum(counts) * rounds, seed=11)
    queue = [(scenario.register(db, p), scenario.forms(p)) for p in plans]
    ctx = multiprocessing.get_context("spawn")  # fresh interpreters: no connection crosses a fork
    best: dict[int, WorkerFigure] = {}
    for _ in range(rounds):
        for n in counts:
            jobs, queue = queue[:n * items_per_worker], queue[n * items_per_worker:]
            fig = _round(ctx, db.url, jobs, n)
            if n not in best or fig.per_second > best[n].per_second:
                best[n] = fig
    return [best[n] for n in counts]
