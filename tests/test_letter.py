"""The reply letter (答复函): a .docx in the GB/T 9704 layout with a per-year document number."""
from __future__ import annotations

from datetime import datetime, timezone
from io import BytesIO

import pytest
import time_machine
from click.testing import CliRunner
from docx import Document
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.shared import Mm
from sqlalchemy import select

from engine.items.letter import draw_number, reply_letter
from engine.models import Attachment, Item, Pledge, Reply, Unit
from tests.conftest import csrf_token, login, user

PDF = b"%PDF-1.4\n%%EOF\n"
WHEN = datetime(2026, 11, 20, 2, 0, tzinfo=timezone.utc)


@pytest.fixture
def replied(demo_db):
    """The demo's 2026 item whose reply the office approved (waiting for 陈代表's rating)."""
    with demo_db.reading() as s:
        reply = s.scalars(select(Reply).join(Item, Item.id == Reply.item_id)
                          .where(Reply.status == "approved", Item.year == 2026, Item.status == "rating")).first()
        return reply.item_id


def _texts(data: bytes):
    doc = Document(BytesIO(data))
    return doc, [p.text for p in doc.paragraphs]


def test_cli_writes_the_letter_with_its_fields(demo_db, replied, tmp_path, monkeypatch):
    from engine.cli import main

    monkeypatch.setenv("DATABASE_URL", demo_db.url)
    with demo_db.reading() as s:
        item = s.get(Item, replied)
        reply = s.scalars(select(Reply).where(Reply.item_id == replied, Reply.status == "approved")).one()
        unit = s.get(Unit, reply.unit_id)
        pledge = s.scalars(select(Pledge).where(Pledge.item_id == replied)).first()
        number, proposer, head = item.number, item.proposer.name, s.get(type(item.proposer), reply.signed_by).name
        expected = {"unit": unit.name, "class": reply.final_class or reply.reply_class, "text": reply.text.strip(),
                    "contact": pledge.contact_person, "phone": pledge.contact_phone, "title": item.title}
    out = tmp_path / "letter.docx"
    with time_machine.travel(WHEN, tick=False):
        r = CliRunner().invoke(main, ["letter", number, "-o", str(out)])
    assert r.exit_code == 0, r.output
    doc, texts = _texts(out.read_bytes())
    section = doc.sections[0]  # GB/T 9704: A4, margins 37 / 35 / 28 / 26 mm
    assert (round(section.page_width.mm), round(section.page_height.mm)) == (210, 297)
    assert [round(m.mm) for m in (section.top_margin, section.bottom_margin, section.left_margin,
                                  section.right_margin)] == [37, 35, 28, 26]
    assert texts[0] == expected["class"] and doc.paragraphs[0].alignment == WD_ALIGN_PARAGRAPH.RIGHT
    assert texts[1] == expected["unit"]
    assert f"{expected['unit']}〔2026〕1号" in texts[2] and f"签发人：{head}" in texts[2]
    assert any(t.startswith(proposer) and t.endswith("：") for t in texts)
    assert any(f"《{expected['title']}》" in t for t in texts) and any(expected["text"] in t for t in texts)
    assert f"联系人：{expected['contact']}　　联系电话：{expected['phone']}" in texts
    assert any(t.startswith("抄送：") and "区政府办公室" in t for t in texts)
    assert "2026年" in "".join(texts) and not any("{{" in t or "{%" in t for t in texts)
    body = doc.paragraphs[texts.index(next(t for t in texts if expected["text"] in t))]
    assert body.runs[0].font.size.pt == 16  # 3号
    # the number is drawn once: the same letter again keeps it
    with time_machine.travel(WHEN, tick=False):
        CliRunner().invoke(main, ["letter", number, "-o", str(out)])
    assert f"{expected['unit']}〔2026〕1号" in _texts(out.read_bytes())[1][2]
    r = CliRunner().invoke(main, ["letter", "JY2099-999", "-o", str(out)])
    assert r.exit_code != 0 and "no item numbered" in r.output


def test_document_numbers_count_per_unit_and_year(demo_db):
    with demo_db.transaction() as s:
        jyj, jtj = (s.scalars(select(Unit).where(Unit.code == c)).one() for c in ("jyj", "jtj"))
        jtj.letter_prefix = "交运函"
        assert [draw_number(s, jtj, 2026) for _ in range(2)] == ["交运函〔2026〕1号", "交运函〔2026〕2号"]
        assert draw_number(s, jyj, 2026) == "区教育局〔2026〕1号"
        assert draw_number(s, jtj, 2027) == "交运函〔2027〕1号"


def test_unit_uploads_the_stamped_scan_and_the_proposer_downloads_both(client, demo_db, replied):
    with demo_db.reading() as s:
        item = s.get(Item, replied)
        reply = s.scalars(select(Reply).where(Reply.item_id == replied, Reply.status == "approved")).one()
        staff = s.scalars(select(type(item.proposer)).where(type(item.proposer).unit_id == reply.unit_id,
                                                            type(item.proposer).role == "unit_handler")).first()
        proposer, staff_name = item.proposer.username, staff.username
    login(client, staff_name)
    html = client.get(f"/items/{replied}").get_data(as_text=True)
    assert "下载答复函（Word）" in html and "上传盖章答复函扫描件" in html
    r = client.get(f"/items/{replied}/letter.docx")
    assert r.status_code == 200 and r.mimetype.endswith("wordprocessingml.document")
    token = csrf_token(client, f"/items/{replied}")
    r = client.post(f"/items/{replied}/letter-scan", data={"csrf_token": token,
                    "attachments": (BytesIO(PDF), "盖章.pdf")}, content_type="multipart/form-data")
    assert r.status_code == 302
    with demo_db.reading() as s:
        scan = s.scalars(select(Attachment).where(Attachment.item_id == replied,
                                                  Attachment.kind == "letter_scan")).one()
    login(client, "jtj_staff" if staff_name != "jtj_staff" else "jyj_staff")  # another unit may not upload
    r = client.post(f"/items/{replied}/letter-scan", data={"csrf_token": token,
                    "attachments": (BytesIO(PDF), "x.pdf")}, content_type="multipart/form-data")
    assert r.status_code in (403, 404)
    login(client, proposer)
    html = client.get(f"/portal/items/{replied}").get_data(as_text=True)
    assert f"/items/{replied}/letter.docx" in html and f"/items/attachments/{scan.id}" in html
    assert client.get(f"/items/{replied}/letter.docx").status_code == 200
    assert client.get(f"/items/attachments/{scan.id}").data == PDF
    login(client, "member_zhao")  # someone else's item
    assert client.get(f"/items/{replied}/letter.docx").status_code == 404
    assert client.get(f"/items/attachments/{scan.id}").status_code == 404


def test_the_office_replaces_the_template(demo_db, replied, tmp_path, monkeypatch):
    from engine.items.letter import default_template

    doc = Document(BytesIO(default_template()))
    doc.paragraphs[1].runs[0].text = "{{ unit_name }}（本局自定模板）"
    mine = tmp_path / "mine.docx"
    doc.save(mine)
    monkeypatch.setenv("BANLI_LETTER_TEMPLATE", str(mine))
    with demo_db.transaction() as s:
        letter = reply_letter(s, s.get(Item, replied))
    assert _texts(letter.data)[1][1].endswith("（本局自定模板）")
