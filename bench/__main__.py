"""`make bench` / `python -m bench`: the engine's figures against its own limits, measured side by side.

(a) persisted lifecycles against raw SpiffWorkflow, (b) the timer sweep at 1k against 100k open items,
(c) the pages at 1k against 100k items, (d) bytes per closed item, (e) completions per second with 1, 2
and 4 worker processes on PostgreSQL. PostgreSQL parts run when BANLI_BENCH_PG_URL (or the test
server) answers, and say SKIPPED otherwise.
"""
from __future__ import annotations

import argparse
import logging
import os
import platform
import sys
import time

from bench import bulk, lifecycles, pages, sweep, workers
from bench.databases import Databases


def say(line: str = "") -> None:
    print(line, flush=True)


def section_a_d(dbs: Databases, backends: list[str], n: int) -> dict:
    say(f"(a) full lifecycles, engine + database vs raw SpiffWorkflow in memory ({n} items per backend)")
    say(f"    {'backend':10} {'engine/s':>9} {'raw/s':>8} {'ratio':>6} {'plain/s':>8} {'ratio':>6} "
        f"{'ms/task':>8} {'raw ms':>7} {'SQL/task':>8}")
    out = {}
    for backend in backends:
        fig = lifecycles.run(dbs.new(backend, "lifecycles"), n)
        out[backend] = fig
        say(f"    {backend:10} {fig.items / fig.engine_s:9.2f} {fig.items / fig.raw_s:8.1f} {fig.ratio:6.3f} "
            f"{fig.items / fig.plain_s:8.1f} {fig.plain_ratio:6.3f} {fig.engine_s / fig.completions * 1000:8.1f} "
            f"{fig.raw_s / fig.completions * 1000:7.2f} {fig.statements / fig.completions:8.1f}")
    say(f"    (lifecycles per second; raw = BpmnWorkflow in memory with the engine's sandboxed script engine, "
        f"plain = with SpiffWorkflow's own; {next(iter(out.values())).completions / n:.1f} user tasks per "
        "lifecycle; SQL/task counts every statement, registration and the next-task lookup included; "
        "target ratio >= 0.33)")
    say()
    say("(d) database bytes per closed item, history included (audit, read model, state, task rows, deadlines)")
    for backend, fig in out.items():
        extra = (f"; as stored before VACUUM {fig.stored_per_item / 1024:.1f} KB (dead row versions of the "
                 "rewritten state)" if fig.stored_per_item is not None else "")
        biggest = ", ".join(f"{t} {b / 1024:.1f}" for t, b in fig.biggest)
        say(f"    {backend:10} {fig.bytes_per_item / 1024:6.1f} KB per item{extra}")
        say(f"    {'':10} largest, KB per item: {biggest}")
    say("    (SQLite: bytes in use in its pages; PostgreSQL: relation sizes after VACUUM FULL; target <= 10 KB)")
    say()
    return out


def section_b(pairs: dict, due: int) -> None:
    """(b) on the databases of (c): same due timers, 1k against 100k open items with waiting timers."""
    say(f"(b) one timer sweep with {due} timers due, small vs large number of open items with waiting timers")
    say(f"    {'backend':10} {'open':>8} {'ms':>9}   {'open':>8} {'ms':>9} {'ratio':>7}  fired / loaded instances")
    for backend, (small_db, large_db) in pairs.items():
        small, large = sweep.run(small_db, bulk_open(small_db), due), sweep.run(large_db, bulk_open(large_db), due)
        say(f"    {backend:10} {small.open_items:8,} {small.seconds * 1000:9.1f}   {large.open_items:8,} "
            f"{large.seconds * 1000:9.1f} {large.seconds / small.seconds:7.2f}  "
            f"{small.fired}/{small.loaded} and {large.fired}/{large.loaded}")
    say("    (the sweep selects due timer rows only and loads only their instances; target ratio <= 1.2)")
    say()


def bulk_open(db) -> int:
    from sqlalchemy import func, select

    from engine.models import ProcessInstance

    with db.reading() as s:
        return s.scalar(select(func.count()).select_from(ProcessInstance).where(ProcessInstance.status == "running"))


def section_c(dbs: Databases, backends: list[str], small: int, large: int, dbs_by_backend: dict) -> dict:
    say(f"(c) pages at {small:,} vs {large:,} items (bulk-inserted; units grow with items, ~50 items per unit)")
    out = {}
    for backend in backends:
        t0 = time.perf_counter()
        small_db, large_db = dbs.new(backend, "pages_small"), dbs.new(backend, "pages_large")
        bulk.populate(small_db, small)
        bulk.populate(large_db, large)
        say(f"    {backend}: filled in {time.perf_counter() - t0:.0f} s")
        say(f"    {'page':40} {'ms ' + format(small, ','):>10} {'ms ' + format(large, ','):>11} {'ratio':>7}  rows")
        figs = pages.compare(small_db, large_db)
        out[backend] = figs
        dbs_by_backend[backend] = (small_db, large_db)
        for f in figs:
            say(f"    {f.name:40} {f.small_ms:10.2f} {f.large_ms:11.2f} {f.ratio:7.2f}  {f.small_rows} / {f.large_rows}")
    say("    (target ratio <= 1.5)")
    say()
    return out


def section_e(dbs: Databases, items_per_worker: int) -> list:
    say(f"(e) task completions per second on PostgreSQL, worker processes ({items_per_worker} lifecycles each, "
        f"best of 2 alternating rounds, {os.cpu_count()} CPUs shared with the server, load average "
        f"{os.getloadavg()[0]:.1f})")
    figs = workers.run(dbs.new("postgresql", "workers"), items_per_worker)
    one = figs[0].per_second
    for f in figs:
        say(f"    {f.workers} worker{'s' if f.workers > 1 else ' '}  {f.per_second:7.1f} completions/s  "
            f"x{f.per_second / one:.2f}  ({f.completions} in {f.seconds:.1f} s; worker CPU "
            f"{f.cpu_seconds / f.completions * 1000:.1f} ms per completion, {f.cpu_seconds / f.seconds:.2f} "
            "CPUs busy)")
    say("    (target: 2 workers / 1 worker >= 1.6. Steady CPU per completion means the workers do not get in each "
        "other's way; CPUs busy well under the worker count means the machine had no core to give them)")
    say()
    return figs


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--lifecycles", type=int, default=20, help="items per backend for (a) and (d)")
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--large", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=20, help="timers due in the sweep of (b)")
    parser.add_argument("--per-worker", type=int, default=10, help="lifecycles per worker process for (e)")
    parser.add_argument("--sqlite-only", action="store_true")
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)  # migrations and engine logs would interleave with the table

    started = time.perf_counter()
    dbs = Databases()
    try:
        backends = ["sqlite"]
        if args.sqlite_only:
            pg_note = "PostgreSQL parts SKIPPED: --sqlite-only"
        elif dbs.has_postgres:
            backends.append("postgresql")
            pg_note = None
        else:
            pg_note = f"PostgreSQL parts SKIPPED: {dbs.pg_problem}"
        say(f"banli bench — {platform.node()}, {os.cpu_count()} CPUs, load average "
            f"{os.getloadavg()[0]:.1f}, Python {platform.python_version()}, {time.strftime('%Y-%m-%d %H:%M')}")
        if pg_note:
            say(pg_note)
        say()
        section_a_d(dbs, backends, args.lifecycles)
        pairs: dict = {}
        section_c(dbs, backends, args.small, args.large, pairs)
        section_b(pairs, args.due)
        if "postgresql" in backends:
            section_e(dbs, args.per_worker)
        else:
            say(f"(e) SKIPPED: {pg_note}")
    finally:
        dbs.close()
    say(f"bench done in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
