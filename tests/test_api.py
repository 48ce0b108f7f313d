"""The health endpoint, the JSON-lines logs, and `banli serve --prod` with several gunicorn workers."""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.request import urlopen

import pytest
import time_machine
from click.testing import CliRunner

from engine import logs, models
from engine.db import Database
from web.cli import main

ROOT = Path(__file__).resolve().parent.parent


def test_health_reports_database_and_deployed_versions(client, demo_db):
    response = client.get("/api/health")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["database"] == {"backend": demo_db.engine.dialect.name, "reachable": True}
    assert [(p["process_id"], p["version"]) for p in body["processes"]] == [("item_handling", 1)]


def test_health_gives_the_age_of_the_scheduler_heartbeat(client, demo_db):
    beat = getattr(models, "SchedulerHeartbeat", None)
    if beat is None:
        pytest.skip("this installation has no scheduler_heartbeat model")
    now = datetime(2026, 5, 6, 9, 30, tzinfo=timezone.utc)
    with demo_db.transaction() as s:
        s.add(beat(name="sweep", holder="host-a:4242", beat_at=now - timedelta(seconds=90)))
    with time_machine.travel(now, tick=False):
        body = client.get("/api/health").get_json()
    assert body["scheduler"] == {"heartbeat_age_seconds": 90.0, "holder": "host-a:4242"}


def test_health_is_503_when_the_database_is_unreachable(app):
    app.extensions["banli_db"] = Database("postgresql+psycopg://banli@127.0.0.1:1/nowhere?connect_timeout=2")
    response = app.test_client().get("/api/health")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "error"
    assert body["database"]["reachable"] is False and body["database"]["error"] == "OperationalError"
    assert "127.0.0.1" not in response.get_data(as_text=True)  # no connection details for anonymous callers


def test_every_request_is_logged_with_its_fields(client, caplog):
    with caplog.at_level(logging.INFO, logger="banli.request"):
        client.get("/login")
    record = next(r for r in caplog.records if r.name == "banli.request")
    assert (record.method, record.path, record.status) == ("GET", "/login", 200)


def test_log_lines_are_json_with_the_extra_fields():
    record = logging.LogRecord("banli.request", logging.INFO, __file__, 1, "request %s", ("done",), None)
    record.path, record.status = "/tasks/", 409
    line = json.loads(logs.JsonFormatter().format(record))
    assert line["msg"] == "request done" and line["level"] == "info" and line["logger"] == "banli.request"
    assert (line["path"], line["status"]) == ("/tasks/", 409)
    assert datetime.fromisoformat(line["ts"]).tzinfo is not None


def test_prod_refuses_the_development_secret_key(monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    result = CliRunner().invoke(main, ["serve", "--prod"])
    assert result.exit_code == 2 and "SECRET_KEY is not set" in result.output


def test_serve_prod_runs_gunicorn_workers_that_answer_and_log_json(demo_db):
    env = {**os.environ, "DATABASE_URL": demo_db.url, "SECRET_KEY": "test-secret", "BANLI_LOG_LEVEL": "INFO"}
    proc = subprocess.Popen([sys.executable, "-m", "web.cli", "serve", "--prod", "--port", "0", "--workers", "2"],
                            cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    watchdog = threading.Timer(60, proc.kill)  # a hung server must not hang the suite
    watchdog.start()
    try:
        lines, booted, url = [], set(), None
        while len(booted) < 2 or url is None:  # gunicorn says where it listens and when each worker is up
            raw = proc.stderr.readline()
            assert raw, "gunicorn exited early:\n" + "".join(lines)
            lines.append(raw)
            entry = json.loads(raw)
            if entry["msg"].startswith("Listening at: "):
                url = entry["msg"].split()[2]
            if entry["msg"].startswith("Booting worker"):
                booted.add(entry["pid"])
        with urlopen(f"{url}/api/health") as response:
            assert json.load(response)["database"]["reachable"] is True
        entry = json.loads(proc.stderr.readline())
        while entry["logger"] != "banli.request":
            entry = json.loads(proc.stderr.readline())
        assert (entry["path"], entry["status"]) == ("/api/health", 200) and entry["pid"] in booted
    finally:
        proc.terminate()
        proc.wait()
        watchdog.cancel()
        proc.stderr.close()
