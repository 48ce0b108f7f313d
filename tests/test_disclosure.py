"""Public disclosure: redaction of contact details, search, and nothing unpublished reachable."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.items.disclosure import PublicFilter, redact, search
from engine.models import Disclosure, Item, Unit


@pytest.mark.parametrize("text, kept", [
    ("请联系李科长，电话 0571-86012345。", "请联系李科长，电话 ［已隐去］。"),
    ("手机13812345678或+86 139 1234 5678", "手机［已隐去］或［已隐去］"),
    ("邮箱 li.ke@example.gov.cn 。", "邮箱 ［已隐去］ 。"),
    ("身份证号 330106199001011234，旧证 330106900101123", "身份证号 ［已隐去］，旧证 ［已隐去］"),
    ("证号33010619900101123X。", "证号［已隐去］。"),
    ("（0571）86012345转123", "［已隐去］"),
    ("服务热线 400-123-4567", "服务热线 ［已隐去］"),
    ("联系电话：86012345", "联系电话：［已隐去］"),
])
def test_redact_strips_contact_details(text, kept):
    assert redact(text) == kept


def test_redact_keeps_dates_amounts_and_numbers():
    text = "2025年12月31日前新增泊位120个，投资3500万元，编号JY2025-001，共计20250630号文。"
    assert redact(text) == text


def test_public_list_needs_no_login_and_hides_contact_details(client):
    html = client.get("/public/?year=2025").get_data(as_text=True)
    assert "建议提案答复公开" in html and html.count('class="pub-hit"') == 20  # one page
    assert "0571-86012345" not in html
    found = client.get("/public/?q=JY2025-001").get_data(as_text=True)
    assert found.count('class="pub-hit"') == 1 and "JY2025-001" in found


def test_published_reply_is_redacted_in_full(client, demo_db):
    with demo_db.reading() as s:
        d = s.scalars(select(Disclosure).where(Disclosure.scope == "full", Disclosure.text.contains("0571"))).first()
    html = client.get(f"/public/{d.item_id}").get_data(as_text=True)
    assert "［已隐去］" in html and "0571-86012345" not in html and "全文公开" in html


def test_unpublished_items_are_unreachable(client, demo_db):
    with demo_db.reading() as s:
        hidden = s.scalars(select(Disclosure.item_id).where(Disclosure.scope == "none")).first()
        unpublished = s.scalars(select(Item.id).where(Item.status != "closed")).first()
        listed = client.get("/public/?year=2025").get_data(as_text=True)
        hidden_number = s.get(Item, hidden).number
    assert client.get(f"/public/{hidden}").status_code == 404
    assert client.get(f"/public/{unpublished}").status_code == 404
    assert client.get("/public/999999").status_code == 404
    assert hidden_number not in listed


def test_search_by_year_type_unit_and_keyword(demo_db):
    with demo_db.reading() as s:
        edu = s.scalars(select(Unit.id).where(Unit.code == "jyj")).one()
        all_2025, total = search(s, PublicFilter(year=2025))
        assert total > 90 and all(r.year == 2025 for r in all_2025)
        props, _ = search(s, PublicFilter(year=2025, item_type="proposal"))
        assert props and all(r.item_type == "proposal" for r in props)
        edu_hits, _ = search(s, PublicFilter(unit_id=edu))
        assert edu_hits and all(r.unit == "区教育局" for r in edu_hits)
        hits, n = search(s, PublicFilter(q="公共厕所"))
        assert n >= 1 and all("公共厕所" in r.title or "公共厕所" in r.text for r in hits)
        summaries = [r for r in all_2025 if r.scope == "summary"]
        assert all(r.content is None for r in summaries)  # a summary publishes no more than the summary


def test_a_phone_number_is_not_searchable(demo_db):
    with demo_db.reading() as s:
        assert search(s, PublicFilter(q="86012345"))[1] == 0


@pytest.fixture
def published_with_contacts(demo_db):
    """The river item, its title and reply carrying a phone number, rated and published through the engine."""
    from engine.demo import _do

    with demo_db.transaction() as s:
        item = s.scalars(select(Item).where(Item.title == "关于治理河道黑臭水体的建议", Item.year == 2026)).one()
        item.title = "关于治理河道黑臭水体的建议（联系人手机13812345678）"
        _do(s, item, "deputy_chen", attitude="satisfied", result="satisfied")
        _do(s, item, "office", publish_scope="full",
            published_text="已完成截污纳管。联系人 李工 138 1234 5678，邮箱 li(at)example.gov.cn。")
        return item.id


def test_publication_stores_the_redacted_title_and_text(client, demo_db, published_with_contacts):
    with demo_db.reading() as s:
        d = s.scalars(select(Disclosure).where(Disclosure.item_id == published_with_contacts)).one()
        assert "13812345678" in d.text.replace(" ", "")  # the office's own text is kept as written
        assert d.public_title == "关于治理河道黑臭水体的建议（联系人手机［已隐去］）"
        assert d.public_text == "已完成截污纳管。联系人 李工 ［已隐去］，邮箱 ［已隐去］。"
    html = client.get(f"/public/{published_with_contacts}").get_data(as_text=True)
    assert "13812345678" not in html and "1234 5678" not in html and "example.gov.cn" not in html
    listed = client.get("/public/?year=2026").get_data(as_text=True)
    assert "13812345678" not in listed and "联系人手机［已隐去］" in listed


@pytest.mark.parametrize("probe", ["1381_34_678", "138%678", "1381", "5678", "example", "li(at)", "_", "%"])
def test_search_cannot_confirm_a_redacted_detail(demo_db, published_with_contacts, probe):
    with demo_db.reading() as s:
        hits, _ = search(s, PublicFilter(q=probe, year=2026))
        assert published_with_contacts not in [r.item_id for r in hits]


def test_search_finds_published_words(demo_db, published_with_contacts):
    with demo_db.reading() as s:
        hits, _ = search(s, PublicFilter(q="截污纳管", year=2026))
        assert [r.item_id for r in hits] == [published_with_contacts]
