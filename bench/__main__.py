"""`make bench` / `python -m bench`: the engine's figures against its own limits, measured side by side.

(a) persisted lifecycles against raw SpiffWorkflow, (b) the timer sweep at 1k against 100k open items,
(c) the pages at 1k against 100k items, (d) bytes per closed item, (e) completions per second with 1, 2
and 4 worker processes on PostgreSQL, (f) 10,000 timers due at once drained by 1 and 2 sweepers, (g) the
web stack under gunicorn on PostgreSQL. PostgreSQL parts run when BANLI_BENCH_PG_URL (or the test
server) answers, and say SKIPPED otherwise. The figures also go to bench-results.json (see RESULT_KEYS).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import sys
import time

from pathlib import Path

from bench import bulk, drain, lifecycles, pages, sweep, web, workers
from bench.databases import Databases

RESULT_KEYS = ("lifecycle_ratio_sqlite", "lifecycle_ratio_postgresql", "statements_per_task_sqlite",
               "page_ratio_max_sqlite", "page_ratio_max_postgresql", "pages", "bytes_per_item_sqlite",
               "bytes_per_item_postgresql", "sweep_ratio_sqlite", "sweep_ratio_postgresql", "workers_2_over_1",
               "sweepers_2_over_1", "drain_10k_seconds", "web_over_engine")
RESULTS_FILE = Path(__file__).resolve().parent.parent / "bench-results.json"


def say(line: str = "") -> None:
    print(line, flush=True)


def section_a_d(dbs: Databases, backends: list[str], n: int) -> dict:
    say(f"(a) full lifecycles, engine + database vs raw SpiffWorkflow in memory ({n} items per backend)")
    say(f"    {'backend':10} {'engine/s':>9} {'raw/s':>8} {'ratio':>6} {'plain/s':>8} {'ratio':>6} "
        f"{'ms/task':>8} {'CPU ms':>7} {'raw ms':>7} {'SQL/task':>8}")
    out = {}
    for backend in backends:
        fig = lifecycles.run(dbs.new(backend, "lifecycles"), n)
        out[backend] = fig
        say(f"    {backend:10} {fig.items / fig.engine_s:9.2f} {fig.items / fig.raw_s:8.1f} {fig.ratio:6.3f} "
            f"{fig.items / fig.plain_s:8.1f} {fig.plain_ratio:6.3f} {fig.engine_s / fig.completions * 1000:8.1f} "
            f"{fig.engine_cpu_s / fig.completions * 1000:7.1f} "
            f"{fig.raw_s / fig.completions * 1000:7.2f} {fig.statements / fig.completions:8.1f}")
    for backend, fig in out.items():
        low, mid, high = min(fig.rounds), statistics.median(fig.rounds), max(fig.rounds)
        say(f"    {backend:10} its {len(fig.rounds)} rounds (up to {lifecycles.ROUND} lifecycles each): "
            f"ratio {low:.3f} to {high:.3f}, median {mid:.3f} (how much the machine moved it within this run)")
        if fig.commit_ms is not None:
            say(f"    {backend:10} the server's own CPU {fig.server_cpu_s / fig.completions * 1000:.1f} ms per task (not in "
                f"CPU ms); a one-row COMMIT waits {fig.commit_ms:.2f} ms on this machine (its disk's flush)")
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


def section_b(pairs: dict, due: int) -> dict:
    """(b) on the databases of (c): same due timers, 1k against 100k open items with waiting timers."""
    say(f"(b) one timer sweep with {due} timers due, small vs large number of open items with waiting timers")
    say(f"    {'backend':10} {'open':>8} {'ms':>9}   {'open':>8} {'ms':>9} {'ratio':>7}  fired / loaded instances")
    out = {}
    for backend, (small_db, large_db) in pairs.items():
        small, large = sweep.paired(small_db, bulk_open(small_db), large_db, bulk_open(large_db), due)
        say(f"    {backend:10} {small.open_items:8,} {small.seconds * 1000:9.1f}   {large.open_items:8,} "
            f"{large.seconds * 1000:9.1f} {large.seconds / small.seconds:7.2f}  "
            f"{small.fired}/{small.loaded} and {large.fired}/{large.loaded}")
        out[backend] = large.seconds / small.seconds
    say("    (median of 3 rounds, the databases swept in turn; the sweep selects due timer rows only and loads only "
        "their instances; target ratio <= 1.2)")
    say()
    return out


def bulk_open(db) -> int:
    from sqlalchemy import func, select

    from engine.models import ProcessInstance

    with db.reading() as s:
        return s.scalar(select(func.count()).select_from(ProcessInstance).where(ProcessInstance.status == "running"))


def section_c(dbs: Databases, backends: list[str], small: int, large: int, dbs_by_backend: dict,
              failures: dict) -> dict:
    say(f"(c) pages at {small:,} vs {large:,} items (bulk-inserted; units grow with items, ~50 items per unit)")
    out = {}
    for backend in backends:
        t0 = time.perf_counter()
        try:
            small_db, large_db = dbs.new(backend, "pages_small"), dbs.new(backend, "pages_large")
            bulk.populate(small_db, small)
            t1 = time.perf_counter()
            bulk.populate(large_db, large)
        except Exception as exc:  # noqa: BLE001 - the other parts and backends still run; the reason is printed
            failures[backend] = f"(c) on {backend} failed: {str(exc).splitlines()[0][:300]}"
            say(f"    {failures[backend]}")
            continue
        say(f"    {backend}: filled in {time.perf_counter() - t0:.0f} s ({large:,} items in "
            f"{time.perf_counter() - t1:.0f} s)")
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
            f"{f.cpu_seconds / f.completions * 1000:.1f} ms + server {f.server_cpu_seconds / f.completions * 1000:.1f} "
            f"ms per completion, {(f.cpu_seconds + f.server_cpu_seconds) / f.seconds:.2f} CPUs busy with the server; "
            f"{f.lock_waits})")
    say("    (target: 2 workers / 1 worker >= 1.6. Steady CPU per completion means the workers do not get in each "
        "other's way; CPUs busy well under the worker count means the machine had no core to give them)")
    say()
    return figs


def section_f(dbs: Databases, backends: list[str], due: int, ms_per_task: dict) -> list:
    say(f"(f) {due:,} timers due at the same instant (a 交办会 batch): drain time with 1 and 2 sweeper processes "
        f"(load average {os.getloadavg()[0]:.1f})")
    figs = []
    # The batch is PostgreSQL's case (several sweepers share it); SQLite measures it only without a server.
    for backend in (["postgresql"] if "postgresql" in backends else backends):
        counts = (1, 2) if backend == "postgresql" else (1,)
        for f in drain.run(dbs.new(backend, "drain"), due, counts):
            figs.append((backend, f))
            per_timer = f.seconds / f.fired * 1000
            say(f"    {backend:10} {f.sweepers} sweeper{'s' if f.sweepers > 1 else ' '} {f.seconds:7.1f} s  "
                f"{f.per_second:7.1f} timers/s  {per_timer:6.1f} ms per timer "
                + (f"({ms_per_task[backend][0]:.1f} ms, CPU {ms_per_task[backend][1]:.1f} ms per task completion in (a))"
                   if backend in ms_per_task else "")
                + f"  {f.ticks} sweep call{'s' if f.ticks > 1 else ''} by the busiest sweeper; "
                f"CPU {f.cpu_seconds / f.fired * 1000:.1f} ms per timer"
                + (f" + server {f.server_cpu_seconds / f.fired * 1000:.1f} ms" if f.server_cpu_seconds is not None else "")
                + f"; {f.statements / f.fired:.1f} SQL per timer; fired per sweeper {' / '.join(map(str, f.shares))}"
                + (f"; {f.lock_waits}" if f.lock_waits is not None else ""))
    pg = [f for b, f in figs if b == "postgresql"]
    if len(pg) == 2:
        say(f"    sweepers 2 / 1 on PostgreSQL: {pg[0].seconds / pg[1].seconds:.2f} (target >= 1.6; one tick should "
            "drain all)")
        busy = [(f.cpu_seconds + (f.server_cpu_seconds or 0)) / f.seconds for f in pg]
        say(f"    CPUs busy (sweepers + their server backends): {busy[0]:.2f} with 1, {busy[1]:.2f} with 2, of "
            f"{os.cpu_count()}; load average {os.getloadavg()[0]:.1f}. Steady CPU per timer with 2 means they do not "
            "get in each other's way; fewer CPUs busy than sweepers means the machine had no core to give them")
    say()
    return figs


def section_g(dbs: Databases, items_per_user: int):
    fig = web.run(dbs.new("postgresql", "web"), items_per_user)
    say(f"(g) the web stack: gunicorn ({os.cpu_count()} workers x 4 threads) on PostgreSQL, {fig.users} users "
        f"(cores x 4), {items_per_user} items each: inbox, task page, completion (交办), board")
    for page, q in web.summary(fig).items():
        say(f"    {page:12} p50 {q['p50_ms']:8.1f} ms   p95 {q['p95_ms']:8.1f} ms   ({len(fig.latencies[page])} requests)")
    say(f"    CPU per completion: web {fig.web_cpu_ms:.1f} ms (server workers) vs engine command alone "
        f"{fig.engine_cpu_ms:.1f} ms: {fig.web_over_engine:.2f} (target <= 2)")
    for e in fig.errors[:5]:
        say(f"    error: {e}")
    say()
    return fig


_PARTS = {"lifecycle_ratio_sqlite": "a", "lifecycle_ratio_postgresql": "a", "statements_per_task_sqlite": "a",
          "page_ratio_max_sqlite": "c", "page_ratio_max_postgresql": "c", "pages": "c", "bytes_per_item_sqlite": "d",
          "bytes_per_item_postgresql": "d", "sweep_ratio_sqlite": "b", "sweep_ratio_postgresql": "b",
          "workers_2_over_1": "e", "sweepers_2_over_1": "f", "drain_10k_seconds": "f", "web_over_engine": "g"}


def write_results(results: dict) -> None:
    """bench-results.json: every key of RESULT_KEYS, null where its part was skipped."""
    out = {k: results.get(k) for k in RESULT_KEYS}
    RESULTS_FILE.write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    say(f"figures written to {RESULTS_FILE.name}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--lifecycles", type=int, default=20, help="items per backend for (a) and (d)")
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--large", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=20, help="timers due in the sweep of (b)")
    parser.add_argument("--per-worker", type=int, default=10, help="lifecycles per worker process for (e)")
    parser.add_argument("--drain", type=int, default=10_000, help="timers due at once in (f)")
    parser.add_argument("--web-items", type=int, default=5, help="items per simulated user in (g)")
    parser.add_argument("--only", default="abcdefg", help="the parts to run, e.g. 'ad' (default: all)")
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
        results: dict = {}
        failures: dict[str, str] = {}  # backend -> why its pages (and sweep) have no figure
        ms_per_task = {}
        if "a" in args.only or "d" in args.only or "f" in args.only:
            for backend, fig in section_a_d(dbs, backends, args.lifecycles).items():
                results[f"lifecycle_ratio_{backend}"] = round(fig.ratio, 3)
                results[f"bytes_per_item_{backend}"] = round(fig.bytes_per_item)
                ms_per_task[backend] = (fig.engine_s / fig.completions * 1000, fig.engine_cpu_s / fig.completions * 1000)
                if backend == "sqlite":
                    results["statements_per_task_sqlite"] = round(fig.statements / fig.completions, 1)
        pairs: dict = {}
        if "c" in args.only or "b" in args.only:
            page_figs = section_c(dbs, backends, args.small, args.large, pairs, failures)
            if page_figs:
                results["pages"] = {}
                say(f"pages in {RESULTS_FILE.name}: ratios at {args.large:,} / {args.small:,} items")
            for backend, figs in page_figs.items():
                results[f"page_ratio_max_{backend}"] = round(max(f.ratio for f in figs), 2)
                for f in figs:
                    results["pages"].setdefault(f.name, {})[backend] = round(f.ratio, 2)
            for backend, ratio in section_b(pairs, args.due).items():
                results[f"sweep_ratio_{backend}"] = round(ratio, 2)
        if "e" in args.only and "postgresql" in backends:
            figs = section_e(dbs, args.per_worker)
            results["workers_2_over_1"] = round(figs[1].per_second / figs[0].per_second, 2)
        elif "e" in args.only:
            say(f"(e) SKIPPED: {pg_note}")
        if "f" in args.only:
            figs = section_f(dbs, backends, args.drain, ms_per_task)
            pg = [f for b, f in figs if b == "postgresql"]
            drained = pg[0] if pg else figs[0][1]
            results["drain_10k_seconds"] = round(drained.seconds * 10_000 / drained.timers, 1)
            if drained.timers != 10_000:
                say(f"    drain_10k_seconds scaled linearly from {drained.timers:,} timers")
            if len(pg) == 2:
                results["sweepers_2_over_1"] = round(pg[0].seconds / pg[1].seconds, 2)
        if "g" in args.only and "postgresql" in backends:
            results["web_over_engine"] = round(section_g(dbs, args.web_items).web_over_engine, 2)
        elif "g" in args.only:
            say(f"(g) SKIPPED: {pg_note}")
        for key in RESULT_KEYS:
            if key not in results:
                backend = next((b for b in failures if key.endswith(b)), None)
                why = ("part not run (--only)" if not any(p in args.only for p in _PARTS[key])
                       else failures[backend] if backend else "; ".join(failures.values()) or pg_note
                       or "not measured")
                results[key] = None
                say(f"{key}: null ({why})")
        write_results(results)
    finally:
        dbs.close()
    say(f"bench done in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
