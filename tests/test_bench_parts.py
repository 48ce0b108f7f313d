"""The benchmark's own machinery: the (f) backlog is real (the engine fires every copied timer) and the
results file has exactly the issue's keys."""
from __future__ import annotations

import json

from sqlalchemy import func, select

from bench import __main__ as bench_main
from bench import drain, scenario
from engine import clock
from engine.models import Deadline, Timer
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
