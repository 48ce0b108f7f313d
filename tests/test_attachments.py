"""Attachments: checked by content and size, stored with their step, served only to those who may see the item."""
from __future__ import annotations

import re
from io import BytesIO

import pytest
from docx import Document
from sqlalchemy import select

from engine import clock
from engine.items import attachments
from engine.items.attachments import Upload, sniff
from engine.items.registration import register_item
from engine.models import Attachment, AuditEvent
from engine.workflow.forms import FormInvalid
from tests.conftest import csrf_token, login, task_for, user

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def _docx() -> bytes:
    doc = Document()
    doc.add_paragraph("责任状")
    buf = BytesIO()
    doc.save(buf)
    return buf.getvalue()


def test_type_is_read_from_the_content_not_the_name():
    assert sniff(PDF) == ("application/pdf", "pdf")
    assert sniff(PNG)[0] == "image/png"
    assert sniff(_docx())[1] == "docx"
    assert sniff(b"MZ\x90\x00 this is a program") is None
    assert sniff(b"PK\x03\x04 broken zip") is None
    with pytest.raises(FormInvalid) as caught:
        attachments.check([Upload("scan.pdf", b"MZ\x90\x00 renamed program")])
    assert caught.value.errors[0].code == "file_type" and "scan.pdf" in caught.value.errors[0].message()


def test_size_is_limited(monkeypatch):
    monkeypatch.setattr(attachments, "MAX_BYTES", 100)
    with pytest.raises(FormInvalid) as caught:
        attachments.check([Upload("big.pdf", PDF + b"0" * 200)])
    assert caught.value.errors[0].code == "file_size"


def test_registration_file_is_stored_with_the_item_and_named_by_its_content(demo_db):
    with demo_db.transaction() as s:
        item = register_item(s, {"item_type": "proposal", "title": "关于公园厕所的提案", "content": "增设厕所。",
                                 "proposer": "member_sun"}, user(s, "office"), [Upload("原件.exe", PDF)])
        item_id = item.id
    with demo_db.reading() as s:
        a = s.scalars(select(Attachment).where(Attachment.item_id == item_id)).one()
        assert (a.kind, a.filename, a.content_type, a.size) == ("registration", "原件.pdf", "application/pdf", len(PDF))
        assert s.scalars(select(AuditEvent).where(AuditEvent.item_id == item_id, AuditEvent.action == "attached")).one()
    with pytest.raises(FormInvalid), demo_db.transaction() as s:  # a bad file: nothing registered at all
        register_item(s, {"item_type": "proposal", "title": "关于坏文件的提案", "content": "x",
                          "proposer": "member_sun"}, user(s, "office"), [Upload("a.pdf", b"not a pdf")])
    with demo_db.reading() as s:
        assert not s.scalars(select(AuditEvent).where(AuditEvent.title == "关于坏文件的提案")).first()


@pytest.fixture
def pledged(client, demo_db):
    """An item assigned to 区教育局 whose head signs the pledge with a scan, through the pages."""
    with demo_db.transaction() as s:
        from engine.workflow.runtime import complete_task

        item = register_item(s, {"item_type": "proposal", "title": "关于课桌椅更新的提案", "content": "课桌椅老旧。",
                                 "proposer": "member_sun"}, user(s, "office"))
        complete_task(s, task_for(s, item.id, "assign_item").id, user(s, "office"),
                      {"assign_decision": "assign", "lead_unit": "jyj"})
        complete_task(s, task_for(s, item.id, "sign_for").id, user(s, "jyj_staff"), {"sign_decision": "sign"})
        task_id, item_id = task_for(s, item.id, "pledge").id, item.id
    login(client, "jyj_head")
    form = {"csrf_token": csrf_token(client, f"/tasks/{task_id}"), "responsible_leader": "王副局长",
            "contact_person": "李老师", "contact_phone": "0571-87654321", "plan": "分批更新。",
            "target_date": clock.today().isoformat()}
    r = client.post(f"/tasks/{task_id}", data={**form, "attachments": (BytesIO(b"MZ fake"), "责任状.pdf")},
                    content_type="multipart/form-data")
    assert r.status_code == 400 and "不支持的文件类型" in r.get_data(as_text=True)
    r = client.post(f"/tasks/{task_id}", data={**form, "attachments": (BytesIO(PDF), "责任状.pdf")},
                    content_type="multipart/form-data")
    assert r.status_code == 302, r.get_data(as_text=True)[:2000]
    return item_id


def test_a_steps_file_is_served_only_to_those_who_may_see_the_item(client, demo_db, pledged):
    with demo_db.reading() as s:
        a = s.scalars(select(Attachment).where(Attachment.item_id == pledged)).one()
        assert a.kind == "pledge"
    html = client.get(f"/items/{pledged}").get_data(as_text=True)
    assert "责任状.pdf" in html and re.search(rf'href="/items/attachments/{a.id}"', html)
    r = client.get(f"/items/attachments/{a.id}")
    assert r.status_code == 200 and r.data == PDF and r.headers["X-Content-Type-Options"] == "nosniff"
    for who in ("jtj_staff", "member_sun"):  # another unit; the proposer (internal step papers)
        login(client, who)
        assert client.get(f"/items/attachments/{a.id}").status_code == 404
    login(client, "office")
    assert client.get(f"/items/attachments/{a.id}").status_code == 200


def test_a_file_name_is_stored_without_path_control_or_direction_characters(demo_db):
    """A NUL in a name made PostgreSQL refuse the row (a 500, found by the upload fuzz test); U+202E shows
    `gnp.exe` as `exe.png`; a path must not survive into the stored name."""
    names = ["a\x00b.png", "..\\..\\evil\u202egnp.exe", "../../etc/passwd", "报告\r\nContent-Type: x.png"]
    with demo_db.transaction() as s:
        item = register_item(s, {"item_type": "suggestion", "title": "关于路灯的建议", "content": "路灯不亮。",
                                 "proposer": "deputy_chen"}, user(s, "office"), [Upload(n, PNG) for n in names])
        stored = sorted(a.filename for a in s.scalars(select(Attachment).where(Attachment.item_id == item.id)))
    assert stored == sorted(["ab.png", "evilgnp.png", "passwd.png", "报告Content-Type_ x.png"]), stored
