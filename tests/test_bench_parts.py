"""The benchmark's own machinery: the (f) backlog is real (the engine fires every copied timer) and the
results file has exactly the issue's keys."""
from __future__ import annotations

import json
import os
import time

import pytest

from sqlalchemy import event, func, select

from bench import __main__ as bench_main
from bench import drain, lifecycles, scenario
from engine import clock
from engine.deadlines.calendar import current_calendar
from engine.items.registration import PROCESS_ID
from engine.models import AuditEvent, Deadline, Timer
from engine.workflow.deployment import latest, parsed
from engine.workflow.sweep import sweep


def test_the_drain_backlog_is_fired_by_the_engine_item_by_item(db):
    with db.transaction() as s:
        scenario.create_org(s)
    due = drain.make_backlog(db, 6, "T")
    with db.reading() as s:
        assert s.scalar(select(func.count()).select_from(Timer).where(Timer.due_at <= clock.now())) == due >= 6
    report = sweep(db)
    assert not report.failed and report.fired == due and len(report.loaded) == due // 2
    with db.reading() as s:
        assert s.scalar(select(func.count()).select_from(Timer).where(Timer.due_at <= clock.now())) == 0
        flagged = s.scalar(select(func.count()).select_from(Deadline).where(Deadline.status == "overdue"))
    assert flagged == len(report.loaded)  # every copy's return window is flagged, as the template's was


def test_the_results_file_has_exactly_the_issue_keys(tmp_path, monkeypatch):
    monkeypatch.setattr(bench_main, "RESULTS_FILE", tmp_path / "bench-results.json")
    bench_main.write_results({"lifecycle_ratio_sqlite": 0.2, "unexpected": 1})
    out = json.loads((tmp_path / "bench-results.json").read_text())
    assert list(out) == list(bench_main.RESULT_KEYS) and out["lifecycle_ratio_sqlite"] == 0.2
    assert out["web_over_engine"] is None and "unexpected" not in out


def test_a_fired_timer_in_the_sweep_writes_its_instance_once_in_few_statements(db):
    """The sweep read each instance it had just selected and locked again, then its item, then whether a timer
    was still due, and the overdue event's outbox flushed the instance halfway, so it was written twice:
    20.2 statements per instance (9.5 per timer in bench (f)) before; 17.2 since the reply deadline's forecast
    (opened at assignment) is kept by the same pass, 19.2 with the board's summary rows (a flagged deadline moves
    its count: one upsert, and a delete where its count falls to zero); 18.1 since the task rows and timer rows
    are read in one statement and the units in one; 17.15 since the units' ids come in that same statement."""
    with db.transaction() as s:
        scenario.create_org(s)
    due = drain.make_backlog(db, 40, "S")
    seen = []

    def record(_conn, _cursor, statement, *_args):
        seen.append(statement.lstrip())

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        report = sweep(db)
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    assert report.fired == due and not report.failed
    assert len([sql for sql in seen if sql.startswith("UPDATE process_instance")]) == len(report.loaded)
    assert len(seen) / len(report.loaded) <= 17.2, len(seen) / len(report.loaded)


def test_the_bulk_fill_writes_consistent_rows_in_chunks(db, monkeypatch):
    """The fill streams chunks (COPY on PostgreSQL, executemany on SQLite) yet gives what the pages read: every
    item with its instance and lead assignment, the current year's open items with their reply deadline, the
    summary rows equal to a recount, and the foreign keys whole (SQLite's were off during the fill)."""
    from sqlalchemy import text

    from bench import bulk
    from engine.deadlines import tally
    from engine.models import Assignment, Item, ProcessInstance, TaskRow

    monkeypatch.setattr(bulk, "CHUNK", 70)  # several chunks, the last one short
    bulk.populate(db, 300)
    with db.reading() as s:
        count = lambda model, *where: s.scalar(select(func.count()).select_from(model).where(*where))  # noqa: E731
        assert count(Item) == count(ProcessInstance) == 300
        assert count(Assignment, Assignment.role == "lead") == 300
        open_now = count(Item, Item.year == bulk.CURRENT, Item.status.notin_(("closed", "withdrawn")))
        assert open_now > 0 and count(Deadline) == open_now
        assert count(TaskRow) > 0 and count(Deadline, Deadline.board_date.is_(None)) == 0
        assert tally.stored(s) == tally.recount(s)
        assert tally.stored_units(s) == tally.recount_units(tally.recount(s))
        if not db.is_postgres:
            assert s.execute(text("PRAGMA foreign_key_check")).all() == []
            assert s.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_a_part_that_fails_still_writes_every_key_with_the_reason(tmp_path, monkeypatch, capsys):
    from bench import bulk

    def fail(db, n, seed=7):
        raise RuntimeError("disk full")

    monkeypatch.setattr(bench_main, "RESULTS_FILE", tmp_path / "bench-results.json")
    monkeypatch.setattr(bulk, "populate", fail)
    assert bench_main.main(["--only", "c", "--sqlite-only"]) == 0
    out = json.loads((tmp_path / "bench-results.json").read_text())
    assert list(out) == list(bench_main.RESULT_KEYS)
    assert out["page_ratio_max_sqlite"] is None and out["pages"] is None
    printed = capsys.readouterr().out
    assert "page_ratio_max_sqlite: null ((c) on sqlite failed: disk full)" in printed
    assert "lifecycle_ratio_sqlite: null (part not run (--only))" in printed


def test_the_lifecycle_bench_runs_items_with_co_units_to_the_end(db):
    """Bench (a) stopped at the co-units' sign-for (issue 12 gave each co-unit its own part): the scenario had
    no form data for it, so (a) and (d) measured nothing."""
    fig = lifecycles.run(db, 3, warmup=1)
    assert fig.items == 3 and fig.completions >= 3 * 9 and fig.statements > 0
    with db.reading() as s:  # the run went through co-units' parts, and every item closed (run checks it)
        assert s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.step == "co_sign_for"))


def test_the_raw_side_runs_in_a_process_of_its_own_and_completes_what_raw_spiffworkflow_completes(db):
    """Beside the engine's workflow classes in one interpreter, raw SpiffWorkflow ran slower than alone (its
    specialised bytecode saw both): bench (a) runs it in a spawned process, which must do the same work."""
    with clock.travel(scenario.DAY):
        with db.transaction() as s:
            org = scenario.create_org(s)
        plans = scenario.plans(org, 2)
        with db.reading() as s:
            proc = parsed(latest(s, PROCESS_ID))
            calendar = current_calendar(s)
            typed = [scenario.typed(s, proc, scenario.forms(p)) for p in plans]
            starts = [scenario.start_data(s, p, i + 1) for i, p in enumerate(plans)]
        here = [scenario.raw_lifecycle(proc, starts[i], typed[i], calendar, plain) for plain in (False, True)
                for i in (0, 1)]
        with lifecycles.RawSide(db, typed, starts) as raw:
            assert raw.pid != os.getpid()
            there = [raw.run([i], plain) for plain in (False, True) for i in (0, 1)]
            assert [done for done, _seconds in there] == here and all(seconds > 0 for _done, seconds in there)
            with pytest.raises(RuntimeError, match="(?s)the raw side failed: .*IndexError"):
                raw.run([5], False)  # no such plan: the failure is reported, not waited for
            with pytest.raises(RuntimeError, match="the raw side's process ended"):
                raw.run([0], False)  # the failure ended it: asked again, the bench stops rather than waits


def test_the_sweep_figure_times_the_sweep_on_current_statistics_of_the_waiting_timers(db):
    """Before: the waiting timers went in after the fill's ANALYZE, so PostgreSQL planned the sweep's due
    timers from an empty table's statistics and read every waiting timer (the sweep ratio of (b) at 1M moved
    between 0.96 and 1.63 with autovacuum's timing); the due ones are read along ix_timer_due_at now."""
    import pytest
    from sqlalchemy import text

    from bench import bulk
    from bench import sweep as sweep_bench

    if not db.is_postgres:
        pytest.skip("PostgreSQL's planner statistics")
    bulk.populate(db, 300)
    n = sweep_bench.add_waiting_timers(db)
    assert n > 0
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT reltuples FROM pg_class WHERE relname = 'timer'")).scalar() == n


def test_the_web_bench_client_opens_a_new_connection_after_the_server_closed_an_idle_one(monkeypatch):
    """Bench (g) broke with BrokenPipeError: after the users' loop, a client whose keep-alive connection had been
    idle longer than gunicorn keeps one (2 s) wrote its POST into the closed socket. A browser opens a new one."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from bench import web

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 0.2  # the server drops a keep-alive connection idle this long, as gunicorn does after 2 s

        def _answer(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")
        do_GET = do_POST = _answer

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(web.Client, "IDLE", 0.1)
    try:
        client = web.Client(server.server_address[1])
        assert client.request("GET", "/tasks/") == (200, "ok")
        time.sleep(0.5)  # idle past the server's keep-alive: the server has closed the connection
        assert client.request("POST", "/tasks/1", {"a": "b"}) == (200, "ok")
    finally:
        server.shutdown()


def test_the_pages_of_both_databases_are_timed_in_turn_run_for_run(monkeypatch):
    """(c) times a page on the small and the large database alternately: a machine slowing down halfway
    through weighs on both medians alike (measured one side after the other, it doubled a ratio)."""
    from bench import measure

    calls, now, factor = [], [0.0], [1.0]

    def page(side, ms):
        def run():
            calls.append(side)
            if len(calls) == 12:  # the machine slows down fourfold from here on
                factor[0] = 4.0
            now[0] += ms * factor[0] / 1000
        return run

    monkeypatch.setattr(measure.time, "perf_counter", lambda: now[0])
    small, large = measure.paired_median_ms(page("small", 2.0), page("large", 2.0), repeat=11)
    assert calls == ["small", "large"] * 12  # warmed both, then one run of each in turn
    assert small == large  # the same page at the same speed: a ratio of 1 whenever the slowdown comes


def test_the_sweep_figure_is_the_median_of_rounds_each_sweeping_its_own_new_due_items(db, monkeypatch):
    """(b) timed one destructive sweep per database, the small one first: it paid for what a running sweeper
    has warm, and a slow minute of the VM fell on one side only. Now a warm-up round, then rounds that each
    make new due items on both sides and sweep them in turn; every timed sweep loads just its round's items."""
    from bench import sweep as sweep_bench

    with db.transaction() as s:
        scenario.create_org(s)
    timed = []
    real = sweep_bench._timed_sweep
    monkeypatch.setattr(sweep_bench, "_timed_sweep", lambda *a: timed.append(real(*a)) or timed[-1])
    small, large = sweep_bench.paired(db, 1, db, 2, due=2, rounds=3)  # one database as both sides, in turn
    assert [f.open_items for f in timed] == [1, 2] * 3  # the warm-up round is not timed
    assert all(f.loaded == 2 and f.fired >= 2 for f in timed)  # each round its own due items, none left over
    assert small.open_items == 1 and large.open_items == 2
    assert small.seconds == sorted(f.seconds for f in timed[0::2])[1]  # the median round of each side
    assert large.seconds == sorted(f.seconds for f in timed[1::2])[1]


def test_the_workers_and_sweepers_server_pids_leave_their_connections_usable_for_a_read(db):
    """(e) and (f) read their server processes' pids as each connection opens: the query left the new connection
    in a transaction, and the first read-only page read (Database.reading) on it failed ("can't change
    'read_only' now"), so every worker of (e) died before it started."""
    import pytest

    from engine.db import Database
    from engine.models import Unit

    if not db.is_postgres:
        pytest.skip("PostgreSQL's backends")
    other = Database(db.url)
    try:
        pids = drain.backend_pids(other)
        with other.reading() as s:
            assert s.scalar(select(func.count()).select_from(Unit)) >= 0
        assert len(pids) == 1
    finally:
        other.engine.dispose()


def test_the_sweep_bench_registers_its_suggestions_for_a_deputy_whatever_the_row_order(db):
    """(b) named "any proposer" with an unordered LIMIT 1: on the large database PostgreSQL met a CPPCC member
    first, and registering a suggestion for them was refused (建议由人大代表提出)."""
    from sqlalchemy import insert

    from bench import sweep as sweep_bench
    from engine.models import Item, User

    with db.transaction() as s:  # a member before any deputy, in id order and in the table's physical order
        s.execute(insert(User), [dict(username="member_first", name="先到委员", role="proposer",
                                      proposer_kind="member", password_hash="x")])
        scenario.create_org(s)
    sweep_bench.add_due_items(db, 1, prefix="ORDER")
    with db.reading() as s:
        item = s.scalars(select(Item).where(Item.number == "ORDER-0000")).one()
        assert item.proposer.proposer_kind == "deputy"


def test_the_lifecycle_ratio_is_shown_with_the_spread_of_its_rounds(db):
    """(a) interleaves the engine's and raw SpiffWorkflow's lifecycles in rounds; each round's ratio is printed
    beside the run's, so a reader sees how far the machine moved it. The run's ratio (total raw time / total
    engine time) is a mean of the rounds' weighted by the engine's time: it lies between their least and most."""
    fig = lifecycles.run(db, 5, warmup=1)
    assert len(fig.rounds) == 2  # 4 lifecycles, then 1
    assert all(r > 0 for r in fig.rounds)
    assert min(fig.rounds) - 1e-9 <= fig.ratio <= max(fig.rounds) + 1e-9


def test_the_worker_and_sweeper_processes_count_the_cpu_of_their_server_backends(db):
    """(e)'s workers and (f)'s sweepers start as the servers they stand for do (engine.scheduler.ready: the
    processes parsed, what was loaded frozen), and that start opens their first connection. Their backends' pids
    are learnt as connections open: learnt after it, the backend was missed and the server's CPU printed 0.0 ms
    per completion and per timer."""
    import multiprocessing

    from bench import workers

    if not db.is_postgres:
        pytest.skip("PostgreSQL's backends")
    with db.transaction() as s:
        org = scenario.create_org(s)
    jobs = [(scenario.register(db, p), scenario.forms(p)) for p in scenario.plans(org, 3, seed=11)]
    worked = workers._round(multiprocessing.get_context("spawn"), db.url, jobs, 1)
    assert worked.completions >= 3 * 8
    assert worked.server_cpu_seconds > 0
    due = drain.make_backlog(db, 200, "SRV")
    drained = drain.drain(db, 1, due)
    assert drained.fired >= due
    assert drained.server_cpu_seconds > 0
