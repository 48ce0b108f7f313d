"""No input gives a 500: every route of the app, with every parameter the code reads, as each kind of user,
with hostile values (20-digit and negative numbers, huge strings, control characters, bad dates).

Parameter names are read from web/*.py and the BPMN forms, so a new route or field is fuzzed without
editing this file. The Hypothesis test draws combinations; BANLI_FUZZ_EXAMPLES raises its example count
(default 40, to keep the suite fast). With TESTING set, an exception in a view reaches the test client, so
a crash fails the test as surely as a 500 status.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from engine.config import PROCESSES_DIR
from engine.models import Item, TaskRow
from tests.conftest import login

ROOT = Path(__file__).resolve().parent.parent
WEB_SOURCE = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "web").glob("*.py"))
PARAMS = sorted(set(re.findall(r'request\.(?:args|form|values|files)\.get(?:list)?\(\s*"([A-Za-z_]+)"', WEB_SOURCE))
                | set(re.findall(r'camunda:formField id="([a-z_]+)"',
                                 (PROCESSES_DIR / "item_handling.bpmn").read_text(encoding="utf-8")))
                | {"page", "year", "type", "status", "unit", "q", "item", "target", "scope", "text", "title",
                   "content", "item_type", "proposer", "number", "id", "item_id", "date", "kind"})
NASTY = ["99999999999999999999", "-99999999999999999999", "-1", "0", "2147483648", "9" * 5000, "", "abc",
         "1e308", "NaN", "\x00", "١٢٣", "2026-02-30", "9999-12-31", "<script>alert(1)</script>", "' OR 1=1 --",
         "../../etc/passwd", "x" * 20_000, "🙂" * 100, "a,b,,c", "true"]
ROLES = [None, "office", "admin", "jtj_staff", "supervisor", "deputy_chen"]
SKIP = {"/logout", "/static/<path:filename>"}


@pytest.fixture
def fuzz_client(app):
    app.config["WTF_CSRF_ENABLED"] = False  # reach the views' own parsing, not only the CSRF refusal
    return app.test_client()


def _rules(app):
    return [r for r in app.url_map.iter_rules() if r.rule not in SKIP]


def _path(rule, value: str, real: dict) -> str:
    def fill(m):
        conv, name = (m.group(1) or ""), m.group(2)
        if value == "real":
            return str(real.get(name, 1))
        return value if conv != "int:" or value.lstrip("-").isdigit() and len(value) < 40 else "99999999999999999999"
    return re.sub(r"<(int:|path:)?([a-z_]+)>", fill, rule.rule)


def _real_ids(demo_db) -> dict:
    with demo_db.reading() as s:
        task = s.scalars(select(TaskRow).limit(1)).first()
        item = s.scalars(select(Item).limit(1)).first()
    return {"item_id": item.id, "task_id": task.id if task else "x", "definition_id": 1, "incident_id": 1,
            "request_id": 1, "year": 2025, "process_id": "item_handling", "code": "en", "filename": "x"}


def _request(client, rule, path: str, params: dict):
    for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
        if method == "GET":
            r = client.get(path, query_string=params)
        else:
            r = client.post(path, data=params)
        assert r.status_code < 500, f"{method} {path} {params!r:.300} -> {r.status_code}"


def _as(client, role):
    client.get("/lang/zh")
    with client.session_transaction() as sess:
        sess.clear()
    if role:
        login(client, role)


def test_every_route_and_parameter_survives_hostile_values(fuzz_client, app, demo_db):
    real = _real_ids(demo_db)
    for role in ROLES:
        _as(fuzz_client, role)
        for shift in range(2):  # real ids in the path with one set of values, hostile ones with another
            for rule in _rules(app):
                params = {p: NASTY[(i + shift * 5) % len(NASTY)] for i, p in enumerate(PARAMS)}
                path = _path(rule, "real" if shift == 0 else NASTY[(len(rule.rule) + 2) % len(NASTY)], real)
                _request(fuzz_client, rule, path, params)


def test_numbers_out_of_range_are_refused_with_a_message(fuzz_client, app):
    login(fuzz_client, "office")
    for path in ("/items/99999999999999999999", "/public/99999999999999999999", "/items/-1"):
        assert fuzz_client.get(path).status_code == 404
    r = fuzz_client.get("/items/", query_string={"year": "99999999999999999999"})
    assert r.status_code == 400 and "超出范围" in r.get_data(as_text=True)
    r = fuzz_client.get("/public/", query_string={"year": "-5"})
    assert r.status_code == 400 and "year" in r.get_data(as_text=True)


values = st.one_of(st.sampled_from(NASTY), st.text(max_size=60),
                   st.integers(min_value=-(10**30), max_value=10**30).map(str))


@settings(max_examples=int(os.environ.get("BANLI_FUZZ_EXAMPLES", "40")), deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_random_requests_never_give_a_500(fuzz_client, app, demo_db, data):
    rule = data.draw(st.sampled_from(_rules(app)), label="route")
    role = data.draw(st.sampled_from(ROLES), label="role")
    _as(fuzz_client, role)
    path_value = data.draw(st.one_of(st.just("real"), values), label="path value")
    path = _path(rule, path_value, _real_ids(demo_db))
    params = data.draw(st.dictionaries(st.sampled_from(PARAMS), values, max_size=6), label="params")
    _request(fuzz_client, rule, path, params)
