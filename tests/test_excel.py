"""Bulk registration from Excel (good and bad files, web with progress, CLI) and the item list export."""
from __future__ import annotations

import io
import json

import pytest
from click.testing import CliRunner
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from engine.reports.excel import ImportFileInvalid, ImportInvalid, import_items, registration_template
from engine.models import Item
from tests.conftest import csrf_token, login, user

HEADER = ["类型*", "年度", "编号", "届次", "案由*", "内容*", "领衔人*", "联名/附议人", "类别", "建议承办单位"]


def workbook(rows, header=HEADER) -> bytes:
    wb = Workbook()
    wb.active.append(header)
    for row in rows:
        wb.active.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


GOOD = [["建议", 2026, None, "区十八届人大五次会议", "关于增设社区充电桩的建议", "小区充电难，建议增设充电桩。", "陈代表",
         "刘代表", "城建", "区住房和城乡建设局"],
        ["提案", None, "TA2026-900", None, "关于发展夜间经济的提案", "建议规划夜市街区。", "member_sun", None, None, None]]


def count_items(db) -> int:
    with db.reading() as s:
        return s.scalar(select(func.count()).select_from(Item))


def test_good_file_registers_every_row_and_starts_the_process(demo_db):
    seen = []
    with demo_db.transaction() as s:
        result = import_items(s, workbook(GOOD), user(s, "office"), lambda done, total: seen.append((done, total)))
    assert [n for _, n in result.imported][1] == "TA2026-900" and result.rows == 2
    assert seen == [(1, 2), (2, 2)]
    with demo_db.reading() as s:
        item = s.scalars(select(Item).where(Item.title == "关于增设社区充电桩的建议")).one()
        assert item.proposer.username == "deputy_chen" and item.cosigners == "刘代表" and item.status == "assigning"


def test_bad_rows_are_listed_by_row_and_column_and_nothing_is_imported(demo_db):
    before = count_items(demo_db)
    rows = [GOOD[0],
            ["议案", None, None, None, "", "内容", "王五", None, None, None],  # bad type, no title, unknown proposer
            GOOD[1],
            ["提案", None, "TA2026-900", None, "重复编号的提案", "内容", "孙委员", None, None, None]]  # same number
    with pytest.raises(ImportInvalid) as caught:
        with demo_db.transaction() as s:
            import_items(s, workbook(rows), user(s, "office"))
    found = {(e.row, e.column, e.message_zh) for e in caught.value.errors}
    assert (3, "类型", "请从列表中选择") in found and (3, "案由", "此项为必填项") in found
    assert (3, "领衔人", "所选项目不存在") in found and (5, "编号", "编号 TA2026-900 已存在") in found
    assert not any(e.row in (2, 4) for e in caught.value.errors)
    assert count_items(demo_db) == before  # the good rows 2 and 4 were rolled back too


@pytest.mark.parametrize("data, message", [
    (b"not a spreadsheet", "不是有效的 Excel 文件"),
    (workbook([["建议", "t", "c"]], header=["类型", "案由", "内容"]), "缺少必填列：领衔人"),
    (workbook([]), "没有数据行"),
])
def test_unreadable_files_say_why(demo_db, data, message):
    with pytest.raises(ImportFileInvalid, match=message):
        with demo_db.transaction() as s:
            import_items(s, data, user(s, "office"))


def test_the_template_round_trips(demo_db):
    with demo_db.reading() as s:
        template = load_workbook(io.BytesIO(registration_template(s)))
    sheet = template["登记"]
    assert [c.value for c in sheet[1]] == HEADER
    assert "陈代表" in [r[0] for r in template["代表委员"].iter_rows(values_only=True)]
    sheet.append(GOOD[0])
    buf = io.BytesIO()
    template.save(buf)
    with demo_db.transaction() as s:
        assert len(import_items(s, buf.getvalue(), user(s, "office")).imported) == 1


def upload(client, data: bytes, **headers):
    token = csrf_token(client, "/imports/")
    return client.post("/imports/", data={"csrf_token": token, "file": (io.BytesIO(data), "items.xlsx")},
                       content_type="multipart/form-data", headers=headers)


def test_upload_page_reports_imported_items(client, demo_db):
    login(client, "office")
    assert "下载登记模板" in client.get("/imports/").get_data(as_text=True)
    r = upload(client, workbook(GOOD))
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "已导入 2 件（共校验 2 行）" in html


def test_upload_page_lists_errors(client, demo_db):
    login(client, "office")
    before = count_items(demo_db)
    r = upload(client, workbook([GOOD[0], ["建议", None, None, None, "无内容的建议", "", "陈代表"]]))
    html = r.get_data(as_text=True)
    assert r.status_code == 400 and "未导入任何事项" in html
    assert '<td data-label="行">3</td><td data-label="列">内容</td>' in html
    assert count_items(demo_db) == before


def test_streamed_upload_reports_progress_then_the_result(client):
    login(client, "office")
    rows = [["提案", None, None, None, f"关于第{i}件测试事项的提案", "内容", "孙委员"] for i in range(150)]
    r = upload(client, workbook(rows), Accept="application/x-ndjson")
    assert r.mimetype == "application/x-ndjson"
    lines = [json.loads(line) for line in r.get_data(as_text=True).splitlines()]
    progress = [line for line in lines if "done" in line]
    assert progress[-1] == {"done": 150, "total": 150} and len(progress) > 2
    assert lines[-1]["ok"] is True and "已导入 150 件" in lines[-1]["html"]


def test_only_the_office_imports(client):
    login(client, "jtj_staff")
    assert client.get("/imports/").status_code == 403


def test_import_command(demo_db, tmp_path):
    from engine.cli import main

    good, bad = tmp_path / "good.xlsx", tmp_path / "bad.xlsx"
    good.write_bytes(workbook(GOOD))
    bad.write_bytes(workbook([["建议", None, None, None, "", "内容", "陈代表"]]))
    env = {"DATABASE_URL": demo_db.url}
    result = CliRunner().invoke(main, ["import", str(bad)], env=env)
    assert result.exit_code == 1 and "第2行 案由: 此项为必填项" in result.output
    result = CliRunner().invoke(main, ["import", str(good)], env=env)
    assert result.exit_code == 0 and "已导入 2 件" in result.output and "已校验 2/2 行" in result.output


def test_item_list_export_follows_filters_and_visibility(client):
    login(client, "jyj_staff")
    r = client.get("/reports/items.xlsx?year=2026")
    rows = list(load_workbook(io.BytesIO(r.data)).active.iter_rows(min_row=2, values_only=True))
    assert [row[3] for row in rows] == ["关于加强中小学课后服务的提案"]  # only the unit's own item
    client.post("/logout", data={"csrf_token": csrf_token(client, "/tasks/")})
    login(client, "office")
    rows = list(load_workbook(io.BytesIO(client.get("/reports/items.xlsx?year=2025").data)).active.iter_rows(
        min_row=2, values_only=True))
    assert len(rows) == 104  # every page, not only the first 50
