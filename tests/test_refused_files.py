"""A refused form comes back with what was typed, but no browser can put a chosen file back into a file input:
beside each input that had a file, the page says to choose it again (only on a refused form)."""
from __future__ import annotations

import re
from io import BytesIO

import pytest

from engine.items.registration import register_item
from engine.workflow.runtime import complete_task
from tests.conftest import csrf_token, login, task_for, user
from tests.test_browser import log_in

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
AGAIN_ZH, AGAIN_EN = "请重新选择附件", "Choose the file again"


def hint_for(html: str, input_id: str) -> str | None:
    """The text of the hint the file input `input_id` points to (aria-describedby), None without one."""
    tag = re.search(rf'<input[^>]*\bid="{input_id}"[^>]*>', html).group(0)
    ref = re.search(r'aria-describedby="([^"]+)"', tag)
    if ref is None:
        return None
    hint = re.search(rf'<[a-z]+[^>]*\bid="{ref.group(1)}"[^>]*>([^<]*)<', html)
    assert hint is not None, f"{input_id} points to a missing #{ref.group(1)}"
    return hint.group(1).strip()


def test_a_refused_registration_asks_for_its_file_again(client):
    login(client, "office")
    page = client.get("/items/new").get_data(as_text=True)
    assert hint_for(page, "f-attachments") is None and AGAIN_ZH not in page
    form = {"csrf_token": csrf_token(client, "/items/new"), "item_type": "proposal", "title": "",
            "content": "利用边角地建设口袋公园。", "proposer": "member_sun"}
    r = client.post("/items/new", data={**form, "attachments": (BytesIO(PDF), "选址图.pdf")},
                    content_type="multipart/form-data")
    html = r.get_data(as_text=True)
    assert r.status_code == 400 and "利用边角地建设口袋公园。" in html  # typed text kept, the file cannot be
    assert hint_for(html, "f-attachments") == AGAIN_ZH and html.count(AGAIN_ZH) == 1

    r = client.post("/items/new", data=form, content_type="multipart/form-data")  # no file chosen: nothing to redo
    assert r.status_code == 400 and hint_for(r.get_data(as_text=True), "f-attachments") is None

    client.get("/lang/en")
    r = client.post("/items/new", data={**form, "attachments": (BytesIO(PDF), "map.pdf")},
                    content_type="multipart/form-data")
    assert r.status_code == 400 and hint_for(r.get_data(as_text=True), "f-attachments") == AGAIN_EN


def test_a_refused_step_form_asks_for_its_file_again(client, demo_db):
    with demo_db.transaction() as s:
        item = register_item(s, {"item_type": "proposal", "title": "关于课桌椅更新的提案", "content": "课桌椅老旧。",
                                 "proposer": "member_sun"}, user(s, "office"))
        complete_task(s, task_for(s, item.id, "assign_item").id, user(s, "office"),
                      {"assign_decision": "assign", "lead_unit": "jyj"})
        complete_task(s, task_for(s, item.id, "sign_for").id, user(s, "jyj_staff"), {"sign_decision": "sign"})
        task_id = task_for(s, item.id, "pledge").id
    login(client, "jyj_head")
    page = client.get(f"/tasks/{task_id}").get_data(as_text=True)
    assert 'id="f-attachments"' in page and hint_for(page, "f-attachments") is None
    r = client.post(f"/tasks/{task_id}", data={"csrf_token": csrf_token(client, f"/tasks/{task_id}"),
                                               "responsible_leader": "王副局长", "plan": "分批更新。",
                                               "attachments": (BytesIO(PDF), "责任状.pdf")},
                    content_type="multipart/form-data")
    html = r.get_data(as_text=True)
    assert r.status_code == 400 and "分批更新。" in html and hint_for(html, "f-attachments") == AGAIN_ZH


def test_a_refused_import_asks_for_its_file_again(client):
    login(client, "office")
    token = csrf_token(client, "/imports/")
    r = client.post("/imports/", data={"csrf_token": token, "file": (BytesIO(b"not a workbook"), "items.xlsx")},
                    content_type="multipart/form-data")
    html = r.get_data(as_text=True)
    assert r.status_code == 400 and hint_for(html, "import-file") == "请重新选择文件"
    r = client.post("/imports/", data={"csrf_token": token}, content_type="multipart/form-data")
    assert r.status_code == 400 and hint_for(r.get_data(as_text=True), "import-file") is None  # none was chosen


@pytest.mark.browser
def test_the_browser_drops_the_file_and_the_page_says_so(server, browser, tmp_path):
    scan = tmp_path / "选址图.pdf"
    scan.write_bytes(PDF)
    page = browser.new_page(viewport={"width": 390, "height": 844})
    log_in(page, server, "office")
    page.wait_for_selector("nav.nav", state="attached")  # folded behind the menu button on a phone
    page.goto(f"{server}/items/new")
    page.select_option("#r-item_type", "proposal")
    page.fill("#r-content", "利用边角地建设口袋公园。")
    page.set_input_files("#f-attachments", str(scan))
    page.click("button.primary")
    page.wait_for_selector(".field.has-error")
    assert page.input_value("#r-content") == "利用边角地建设口袋公园。"
    assert page.evaluate("document.querySelector('#f-attachments').files.length") == 0  # what no page can undo
    hint = page.locator("#f-attachments + .file-again")  # right under the input, where the eye is
    assert hint.is_visible() and hint.inner_text() == AGAIN_ZH
    box, field = hint.bounding_box(), page.locator("#f-attachments").bounding_box()
    assert 0 <= box["y"] - (field["y"] + field["height"]) < 20 and box["x"] + box["width"] <= 390
