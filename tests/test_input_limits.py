"""Size and shape limits on files and long text: refused quickly with a message, never a 500 or a stall."""
from __future__ import annotations

import io
import zipfile

import pytest

from engine.reports.excel import MAX_EXPANDED_BYTES, ImportFileInvalid, read_rows
from tests.conftest import csrf_token, login
from tests.test_excel import GOOD, workbook


def _rezip(data: bytes, replace: dict[str, bytes] | None = None, add: dict[str, bytes] | None = None) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, (replace or {}).get(info.filename, src.read(info.filename)))
        for name, body in (add or {}).items():
            dst.writestr(name, body)
    return out.getvalue()


def test_an_xlsx_that_expands_past_the_limit_is_refused_before_it_is_inflated():
    bomb = _rezip(workbook(GOOD), add={"xl/media/padding.bin": b"\0" * (MAX_EXPANDED_BYTES + 1)})
    assert len(bomb) < 1024 * 1024  # a small upload...
    with pytest.raises(ImportFileInvalid, match="解压后过大"):  # ...that would unzip past the limit
        read_rows(bomb)


def test_a_malformed_sheet_is_refused_with_a_message():
    broken = _rezip(workbook(GOOD), replace={"xl/worksheets/sheet1.xml": b"<worksheet><sheetData><row><c"})
    with pytest.raises(ImportFileInvalid, match="损坏|不是有效的"):
        read_rows(broken)


def test_a_sheet_of_empty_rows_is_refused_by_its_row_count():
    header = ",".join(f'<c r="{c}1" t="inlineStr"><is><t>{h}</t></is></c>' for c, h in zip("ABCDEFG", [
        "类型*", "年度", "编号", "届次", "案由*", "内容*", "领衔人*"]))
    rows = "".join(f'<row r="{n}"><c r="A{n}"/></row>' for n in range(2, 12_000))
    sheet = (f'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
             f'<row r="1">{header.replace(",", "")}</row>{rows}</sheetData></worksheet>').encode()
    with pytest.raises(ImportFileInvalid, match="行数超过上限"):
        read_rows(_rezip(workbook(GOOD), replace={"xl/worksheets/sheet1.xml": sheet}))


def test_import_page_answers_400_for_damaged_files(client):
    login(client, "office")
    broken = _rezip(workbook(GOOD), replace={"xl/worksheets/sheet1.xml": b"<worksheet><sheetData><row><c"})
    r = client.post("/imports/", data={"csrf_token": csrf_token(client, "/imports/"),
                                       "file": (io.BytesIO(broken), "items.xlsx")}, content_type="multipart/form-data")
    html = r.get_data(as_text=True)
    assert r.status_code == 400 and ("损坏" in html or "不是有效的 Excel 文件" in html)


def test_calendar_import_with_a_line_over_the_csv_field_limit_is_refused(client):
    login(client, "admin")
    text = "2026-01-01,holiday,\"" + "x" * 140_000 + "\"\n"
    r = client.post("/admin/calendar/import?year=2026", data={"csrf_token": csrf_token(client, "/admin/calendar/"),
                                                              "year": "2026", "text": text})
    page = r.get_data(as_text=True)
    assert r.status_code == 400 and "line 1" in page and "field larger than field limit" in page


def test_a_request_over_the_upload_limit_gets_413_with_a_message(client, app):
    app.config["MAX_CONTENT_LENGTH"] = 1024
    login(client, "office")
    r = client.post("/imports/", data={"csrf_token": csrf_token(client, "/imports/"),
                                       "file": (io.BytesIO(b"x" * 4096), "items.xlsx")},
                    content_type="multipart/form-data")
    assert r.status_code == 413 and "过大" in r.get_data(as_text=True)


def test_similarity_reads_a_bounded_part_of_any_text(monkeypatch):
    from engine.items import similarity

    seen = []
    real = similarity.words
    monkeypatch.setattr(similarity, "words", lambda text: seen.append(len(text)) or real(text))
    similarity.item_words("标题" * 10_000, "公交线路优化。" * 3_000_000)  # 21 M characters
    assert max(seen) <= similarity.MAX_CONTENT_CHARS


def test_a_nul_character_anywhere_in_the_input_is_a_400_with_a_message(client, demo_db):
    """Found by the fuzz test on PostgreSQL, which refuses a NUL even in a query parameter: the login form
    with username "\\x00" reached the failed-login count and answered 500."""
    form = {"csrf_token": csrf_token(client, "/login"), "username": "\x00", "password": "x"}
    r = client.post("/login", data=form)
    assert r.status_code == 400 and "NUL" in r.get_data(as_text=True)
    assert client.get("/public/?q=a%00b").status_code == 400
    r = client.post("/api/v1/items", json={"title": "a\x00"}, headers={"Authorization": "Bearer x"})
    assert r.status_code == 400 and r.is_json and "NUL" in r.get_json()["detail"]
