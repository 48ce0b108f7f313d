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


# --- hostile uploads ---------------------------------------------------------------------------------------

FILE_FIELDS = sorted(set(re.findall(r'request\.files\.get(?:list)?\(\s*"([A-Za-z_]+)"', WEB_SOURCE)))


def _zip(parts: dict[str, bytes | int]) -> bytes:
    """A zip of `parts`; an int part is that many zero bytes, written in chunks (a bomb costs no memory here)."""
    import io
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, content in parts.items():
            if isinstance(content, int):
                with z.open(name, "w", force_zip64=True) as part:
                    for _ in range(content // 2**20):
                        part.write(bytes(2**20))
            else:
                z.writestr(name, content)
    return out.getvalue()


def _rows_sheet(rows: int) -> bytes:
    cells = "".join(f'<row r="{i}"><c r="A{i}" t="inlineStr"><is><t>x</t></is></c></row>' for i in range(1, rows + 1))
    return (f'<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
            f"<sheetData>{cells}</sheetData></worksheet>").encode()


def _workbook(sheet: bytes | int) -> bytes:
    """An .xlsx skeleton around one sheet (real enough for openpyxl to open it and reach the sheet)."""
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    return _zip({
        "[Content_Types].xml": (
            '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.'
            'spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="'
            'application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>').encode(),
        "_rels/.rels": (f'<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
                        f'relationships"><Relationship Id="rId1" Type="{rel}/officeDocument" '
                        f'Target="xl/workbook.xml"/></Relationships>').encode(),
        "xl/workbook.xml": (f'<?xml version="1.0"?><workbook xmlns="{main}" xmlns:r="{rel}"><sheets>'
                            f'<sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>').encode(),
        "xl/_rels/workbook.xml.rels": (f'<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/'
                                       f'package/2006/relationships"><Relationship Id="rId1" '
                                       f'Type="{rel}/worksheet" Target="worksheets/sheet1.xml"/></Relationships>'
                                       ).encode(),
        "xl/worksheets/sheet1.xml": sheet,
    })


LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
          + b"".join(b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
                     for i in range(1, 10))
          + b"]><bpmn:definitions>&lol9;</bpmn:definitions>")
PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)


def _hostile_files():
    """(filename, content, content type): what a careless or hostile client may send as a file."""
    from web.inputs import MAX_UPLOAD_BYTES

    return [
        ("empty.xlsx", b"", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        ("huge.bin", b"A" * (MAX_UPLOAD_BYTES - 2**20), "application/octet-stream"),  # just under the request limit
        ("picture.xlsx", PNG, "text/html"),  # wrong content type and content
        # Names that must not reach a path, a header or the database as they are (the content is acceptable,
        # so the name is what gets stored).
        ("a\x00b.png", PNG, "image/png"),
        ("../../etc/passwd", PNG, "text/plain"),
        ("..\\..\\boot.ini", b"%PDF-1.4", "text/plain"),
        ("/abs/path.bpmn", PNG, "application/xml"),
        ("a\r\nContent-Type: text/html.png", PNG, "image/png"),
        ("\u202egnp.exe", PNG, "image/png"),
        ("n" * 5000 + ".pdf", b"%PDF-1.4", "application/pdf"),
        ("bomb.xlsx", _workbook(100 * 2**20), "application/octet-stream"),  # 100 MB of zeros as its sheet
        ("rows.xlsx", _workbook(_rows_sheet(150_000)), "application/octet-stream"),  # past the row limit
        ("broken-sheet.xlsx", _workbook(b"<worksheet><sheetData><row><c>"), "application/octet-stream"),
        ("garbage.xlsx", b"PK\x03\x04" + bytes(range(256)) * 40, "application/zip"),
        ("laughs.bpmn", LAUGHS, "application/xml"),
        ("latin1.csv", "2026-01-01,holiday,元旦\n".encode("gb18030") + b"\xff\xfe" * 100, "text/csv"),
        ("long-line.csv", b"2026-01-01,holiday," + b"x" * 200_000 + b"\n", "text/csv"),
    ]


def _file_routes(app):
    """The POST routes whose view reads request.files (found in the source: a new upload route is covered)."""
    import inspect

    out = []
    for rule in _rules(app):
        view = app.view_functions.get(rule.endpoint)
        if "POST" in rule.methods and view is not None and "request.files" in inspect.getsource(view):
            out.append(rule)
    return out


def _task_for_role(demo_db, username: str) -> str:
    from engine.people.authz import can_act
    from tests.conftest import user

    with demo_db.reading() as s:
        me = user(s, username)
        return next((r.id for r in s.scalars(select(TaskRow)) if can_act(me, r)), "x")


def test_every_upload_route_survives_hostile_files(fuzz_client, app, demo_db):
    routes = _file_routes(app)
    assert {r.endpoint for r in routes} >= {"items.register", "tasks.task", "imports.upload", "admin.deploy",
                                            "calendar_admin.import_year", "directory.upload"}, routes
    real = _real_ids(demo_db)
    form = {"item_type": "suggestion", "title": "关于路灯的建议", "content": "路灯不亮。", "proposer": "deputy_chen",
            "year": "2026", "text": ""}
    files = _hostile_files()
    for role in ("office", "admin", "jtj_staff"):
        _as(fuzz_client, role)
        ids = dict(real, task_id=_task_for_role(demo_db, role))
        for rule in routes:
            path = _path(rule, "real", ids)
            for n, (name, content, mimetype) in enumerate(files):
                import io

                data = dict(form, action="check" if n % 2 else "deploy")  # the BPMN upload: checked, or deployed
                for field in FILE_FIELDS:
                    data[field] = (io.BytesIO(content), name, mimetype)
                r = fuzz_client.post(path, data=data, content_type="multipart/form-data")
                assert r.status_code < 500, f"POST {path} as {role} with {name[:40]!r} -> {r.status_code}"
