"""The reply letter (答复函): a .docx in the GB/T 9704 layout with a per-year document number, drawn when the
office approves the reply; downloading the letter changes nothing."""
from __future__ import annotations

from datetime import datetime, timezone
from io import BytesIO

import pytest
import time_machine
from click.testing import CliRunner
from docx import Document
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.shared import Mm
from sqlalchemy import select, update

from engine import clock
from engine.items.letter import reply_letter
from engine.letter_numbers import draw_number
from engine.models import Attachment, Item, LetterCounter, Pledge, Reply, Unit
from tests.conftest import csrf_token, form_html, login, user
from tests.test_followup import PLEDGE, new_item
from tests.test_lifecycle import REPLY, do

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
        letter_number, approved_year = reply.letter_number, clock.local_day(reply.reviewed_at).year
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
    # the number drawn when the office approved the reply (the unit's first of that year)
    assert letter_number == f"{expected['unit']}〔{approved_year}〕1号"
    assert letter_number in texts[2] and f"签发人：{head}" in texts[2]
    assert any(t.startswith(proposer) and t.endswith("：") for t in texts)
    assert any(f"《{expected['title']}》" in t for t in texts) and any(expected["text"] in t for t in texts)
    assert f"联系人：{expected['contact']}　　联系电话：{expected['phone']}" in texts
    assert any(t.startswith("抄送：") and "区政府办公室" in t for t in texts)
    assert "2026年" in "".join(texts) and not any("{{" in t or "{%" in t for t in texts)
    body = doc.paragraphs[texts.index(next(t for t in texts if expected["text"] in t))]
    assert body.runs[0].font.size.pt == 16  # 3号
    # writing the letter again draws nothing: the same number, the counters as they were
    counters = _numbers(demo_db)
    with time_machine.travel(WHEN, tick=False):
        CliRunner().invoke(main, ["letter", number, "-o", str(out)])
    assert letter_number in _texts(out.read_bytes())[1][2] and _numbers(demo_db) == counters
    r = CliRunner().invoke(main, ["letter", "JY2099-999", "-o", str(out)])
    assert r.exit_code != 0 and "no item numbered" in r.output


def test_document_numbers_count_per_unit_and_year(demo_db):
    with demo_db.transaction() as s:
        jyj, jtj = (s.scalars(select(Unit).where(Unit.code == c)).one() for c in ("jyj", "jtj"))
        jtj.letter_prefix = "交运函"
        assert [draw_number(s, jtj, 2030) for _ in range(2)] == ["交运函〔2030〕1号", "交运函〔2030〕2号"]
        assert draw_number(s, jyj, 2030) == "区教育局〔2030〕1号"
        assert draw_number(s, jtj, 2031) == "交运函〔2031〕1号"


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


def test_a_refused_scan_opens_its_form_again_with_the_error_and_asks_for_the_file_again(client, demo_db, replied):
    """Refused (a file of a type not taken, or none chosen), the upload was a flash above the page and an empty
    input: nothing said which form failed, nor that the chosen file had to be chosen again."""
    login(client, "office")
    page = f"/items/{replied}"
    token = csrf_token(client, page)
    r = client.post(f"{page}/letter-scan", data={"csrf_token": token, "attachments": (BytesIO(b"MZ"), "scan.exe")},
                    content_type="multipart/form-data")
    assert r.status_code == 400
    form = form_html(r.get_data(as_text=True), "scan-form")
    assert 'class="error"' in form and "请重新选择文件" in form and 'aria-describedby="scan-again' in form
    r = client.post(f"{page}/letter-scan", data={"csrf_token": token}, content_type="multipart/form-data")
    form = form_html(r.get_data(as_text=True), "scan-form")
    assert r.status_code == 400 and "此项为必填项" in form and "请重新选择文件" not in form  # none was chosen
    with demo_db.reading() as s:
        assert s.scalars(select(Attachment).where(Attachment.item_id == replied,
                                                  Attachment.kind == "letter_scan")).all() == []
    # An item with no approved reply shows no scan form: the refusal is said above the page instead.
    other = new_item(demo_db, "关于增设停车位的建议")
    r = client.post(f"/items/{other}/letter-scan", data={"csrf_token": token, "attachments": (BytesIO(PDF), "盖章.pdf")},
                    content_type="multipart/form-data")
    assert r.status_code == 302 and "尚无审核通过的答复" in client.get(r.headers["Location"]).get_data(as_text=True)


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


# --- the document number: drawn at approval, never by a download ----------------------------------------------

def _numbers(db):
    """Every reply's document number and every counter: what a download must leave as it was."""
    with db.reading() as s:
        return (s.execute(select(Reply.id, Reply.letter_number).order_by(Reply.id)).all(),
                s.execute(select(LetterCounter.unit_id, LetterCounter.year, LetterCounter.last)
                          .order_by(LetterCounter.unit_id, LetterCounter.year)).all())


def _signed_off(db, title="关于学校周边停车的建议"):
    """An item of 交通局 whose reply its head signed off: it waits for the office's review."""
    item_id = new_item(db, title)
    do(db, item_id, "office", "assign_item", assign_decision="assign", lead_unit="jtj")
    do(db, item_id, "jtj_staff", "sign_for", sign_decision="sign")
    do(db, item_id, "jtj_head", "pledge", **PLEDGE)
    do(db, item_id, "jtj_staff", "consult", consult_date=clock.today().isoformat(), consult_form="phone",
       participants="陈代表", proposer_views="同意。", more_consultation=False)
    do(db, item_id, "jtj_staff", "draft_reply", **REPLY)
    do(db, item_id, "jtj_head", "signoff_reply", signoff_decision="approve")
    return item_id


def _letter_number(db, item_id):
    with db.reading() as s:
        return s.scalars(select(Reply.letter_number).where(Reply.item_id == item_id).order_by(Reply.id.desc())).first()


def test_the_offices_approval_draws_the_number_in_the_year_of_the_letter(demo_db):
    """The letter is dated the day of the approval: its number comes from that year's counter, at that moment. A
    reply returned for changes draws none."""
    with time_machine.travel(datetime(2026, 12, 30, 2, tzinfo=timezone.utc), tick=False):
        item_id = _signed_off(demo_db)
        do(demo_db, item_id, "office", "review_reply", review_decision="return", review_opinion="请补充时间表。")
        assert _letter_number(demo_db, item_id) is None
        do(demo_db, item_id, "jtj_staff", "draft_reply", **REPLY)
        do(demo_db, item_id, "jtj_head", "signoff_reply", signoff_decision="approve")
        before = _numbers(demo_db)[1]
        do(demo_db, item_id, "office", "review_reply", review_decision="approve")
    number = _letter_number(demo_db, item_id)
    with demo_db.reading() as s:
        jtj = s.scalars(select(Unit).where(Unit.code == "jtj")).one()
        last = s.scalar(select(LetterCounter.last).where(LetterCounter.unit_id == jtj.id, LetterCounter.year == 2026))
    assert number == f"区交通运输局〔2026〕{last}号" and _numbers(demo_db)[1] != before
    with time_machine.travel(datetime(2027, 1, 5, 2, tzinfo=timezone.utc), tick=False):  # downloaded next year
        with demo_db.reading() as s:
            letter = reply_letter(s, s.get(Item, item_id))
    assert letter.number == number and "2026年12月30日" in _texts(letter.data)[1]


def test_downloading_the_letter_changes_nothing(client, demo_db):
    """A GET of the letter, by the proposer above all, never draws a number: a reply approved before numbers were
    drawn at approval has no letter until the office draws it with the item page's button (a POST)."""
    item_id = _signed_off(demo_db)
    with demo_db.transaction() as s:  # approved by an earlier version: no number
        s.execute(update(Reply).where(Reply.item_id == item_id).values(status="approved", reviewed_at=clock.now()))
    before = _numbers(demo_db)
    for who in ("deputy_chen", "jtj_staff", "office"):
        login(client, who)
        r = client.get(f"/items/{item_id}/letter.docx")
        assert r.status_code == 302 and _numbers(demo_db) == before, who
        assert "答复函尚未编发文字号" in client.get(r.headers["Location"], follow_redirects=True).get_data(as_text=True)
    login(client, "jtj_staff")
    html = client.get(f"/items/{item_id}").get_data(as_text=True)
    assert "答复函尚未编发文字号，由区府办编号后可下载。" in html and "编发文字号</button>" not in html
    token = csrf_token(client, f"/items/{item_id}")
    assert client.post(f"/items/{item_id}/letter-number", data={"csrf_token": token}).status_code == 403
    login(client, "deputy_chen")
    assert client.post(f"/items/{item_id}/letter-number", data={"csrf_token": token}).status_code == 403
    assert _numbers(demo_db) == before
    login(client, "office")
    html = client.get(f"/items/{item_id}").get_data(as_text=True)
    assert "编发文字号</button>" in html and f"/items/{item_id}/letter.docx" not in html
    r = client.post(f"/items/{item_id}/letter-number", data={"csrf_token": csrf_token(client, f"/items/{item_id}")})
    assert r.status_code == 302
    number = _letter_number(demo_db, item_id)
    assert number.startswith("区交通运输局〔") and f"已编发文字号：{number}" in client.get(r.headers["Location"]).get_data(as_text=True)
    # a second press keeps it; from now on everyone downloads the letter under it, and nothing changes
    client.post(f"/items/{item_id}/letter-number", data={"csrf_token": csrf_token(client, f"/items/{item_id}")})
    after = _numbers(demo_db)
    assert _letter_number(demo_db, item_id) == number
    for who in ("office", "jtj_staff", "deputy_chen"):
        login(client, who)
        r = client.get(f"/items/{item_id}/letter.docx")
        assert r.status_code == 200 and number in _texts(r.data)[1][2] and _numbers(demo_db) == after, who


def test_a_separate_units_letter_is_numbered_by_the_office_too(client, demo_db):
    """分办: each unit's letter is its own; one approved before numbering gets its number from the parts table."""
    item_id = new_item(demo_db, "关于菜市场噪音治理的建议")
    do(demo_db, item_id, "office", "assign_item", assign_decision="assign", lead_unit="zjj", separate_units=["jtj"])
    do(demo_db, item_id, "jtj_staff", "sep_sign_for", sep_sign_decision="sign")
    do(demo_db, item_id, "jtj_head", "sep_pledge", **PLEDGE)
    do(demo_db, item_id, "jtj_staff", "sep_draft_reply", **{**REPLY, "reply_class": "A", "promised": "",
                                                             "promised_date": ""})
    do(demo_db, item_id, "jtj_head", "sep_signoff", signoff_decision="approve")
    with demo_db.transaction() as s:
        jtj = s.scalars(select(Unit).where(Unit.code == "jtj")).one().id
        s.execute(update(Reply).where(Reply.item_id == item_id).values(status="approved", reviewed_at=clock.now()))
    login(client, "office")
    html = client.get(f"/items/{item_id}").get_data(as_text=True)
    part = html.split('id="separate-parts"')[1].split("</section>")[0]
    assert "编发文字号</button>" in part and f'name="unit" value="{jtj}"' in part
    r = client.post(f"/items/{item_id}/letter-number",
                    data={"csrf_token": csrf_token(client, f"/items/{item_id}"), "unit": jtj})
    assert r.status_code == 302 and _letter_number(demo_db, item_id).startswith("区交通运输局〔")
    assert client.get(f"/items/{item_id}/letter.docx?unit={jtj}").status_code == 200


def test_the_cli_draws_a_missing_number_only_when_asked(demo_db, replied, tmp_path, monkeypatch):
    from engine.cli import main

    monkeypatch.setenv("DATABASE_URL", demo_db.url)
    with demo_db.transaction() as s:
        s.execute(update(Reply).where(Reply.item_id == replied).values(letter_number=None))
        number = s.get(Item, replied).number
    out = tmp_path / "letter.docx"
    r = CliRunner().invoke(main, ["letter", number, "-o", str(out)])
    assert r.exit_code != 0 and "答复函尚未编发文字号" in r.output and not out.exists()
    r = CliRunner().invoke(main, ["letter", number, "-o", str(out), "--assign-number"])
    assert r.exit_code == 0 and out.exists()
    assert _letter_number(demo_db, replied) in r.output


def test_a_merged_items_letter_has_a_number_of_its_own_drawn_at_the_approval(client, demo_db):
    """并案: every proposer receives the lead item's reply, each in a letter of their own. The merged item's letter
    carried the lead letter's number: two letters issued under one 发文字号. Each letter's number is drawn from
    the unit's counter when the office approves the reply; downloading either letter draws nothing."""
    from tests.test_followup import post

    lead = _signed_off(demo_db)
    other = new_item(demo_db, "关于学校门口接送车辆的建议", proposer="deputy_liu")
    with demo_db.reading() as s:
        lead_number = s.get(Item, lead).number
    login(client, "office")
    post(client, f"/items/{other}/merge", f"/items/{other}", into=lead_number)
    before = _numbers(demo_db)[1]
    do(demo_db, lead, "office", "review_reply", review_decision="approve")
    counters = _numbers(demo_db)[1]
    with demo_db.reading() as s:
        jtj = s.scalars(select(Unit).where(Unit.code == "jtj")).one().id
        drawn = sum(last for u, _y, last in counters if u == jtj) - sum(last for u, _y, last in before if u == jtj)
        host, merged = (reply_letter(s, s.get(Item, i)) for i in (lead, other))
    assert drawn == 2 and host.number != merged.number  # one number per letter, both drawn at the approval
    assert merged.number.startswith("区交通运输局〔") and merged.number in _texts(merged.data)[1][2]
    assert "刘代表：" in _texts(merged.data)[1]  # the letter is the merged item's proposer's
    # The merged item's page shows its own letter's number; its proposer downloads it; nothing is drawn again.
    html = client.get(f"/items/{other}").get_data(as_text=True)
    assert merged.number in html and host.number not in html
    login(client, "deputy_liu")
    r = client.get(f"/items/{other}/letter.docx")
    assert r.status_code == 200 and merged.number in _texts(r.data)[1][2]
    assert _numbers(demo_db)[1] == counters


def test_a_merged_items_letter_approved_before_its_numbering_is_numbered_by_the_office(client, demo_db):
    """A merged item whose lead reply was approved before merged letters had numbers: no letter until the office
    draws its number on its page, a number of its own (the lead letter keeps its own)."""
    from engine.models import MergedLetter
    from tests.test_followup import post

    lead = _signed_off(demo_db)
    other = new_item(demo_db, "关于学校门口接送车辆的建议", proposer="deputy_liu")
    with demo_db.reading() as s:
        lead_number = s.get(Item, lead).number
    login(client, "office")
    post(client, f"/items/{other}/merge", f"/items/{other}", into=lead_number)
    do(demo_db, lead, "office", "review_reply", review_decision="approve")
    with demo_db.transaction() as s:
        s.query(MergedLetter).delete()
    host = _letter_number(demo_db, lead)
    html = client.get(f"/items/{other}").get_data(as_text=True)
    assert "答复函尚未编发文字号" in html and host not in html
    assert client.get(f"/items/{other}/letter.docx").status_code == 302
    r = post(client, f"/items/{other}/letter-number", f"/items/{other}")
    with demo_db.reading() as s:
        number = reply_letter(s, s.get(Item, other)).number
    assert r.status_code == 302 and number != host and _letter_number(demo_db, lead) == host
    assert f"已编发文字号：{number}" in client.get(r.headers["Location"]).get_data(as_text=True)
