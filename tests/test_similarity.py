"""Assignment help: similar past items by Chinese text similarity and the units that handled them."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from engine.people.accounts import create_user
from engine.models import Assignment, Item, Unit
from engine.items.similarity import item_words, similar_items, words
from tests.conftest import csrf_token, login, task_for


def test_words_drop_boilerplate_and_titles_weigh_double():
    assert "建议" not in words("关于优化公交线路的建议") and "公交" in words("关于优化公交线路的建议")
    counts = item_words("关于增设公交站点的建议", "公交站点不足")
    assert counts["公交"] == 3 and counts["公交站点"] == 3 and counts["不足"] == 1  # compounds and their parts


@pytest.fixture
def corpus(db):
    with db.transaction() as s:
        units = {code: Unit(code=code, name=name) for code, name in
                 [("jt", "交通局"), ("jy", "教育局"), ("wj", "卫健委"), ("old", "已撤销的局")]}
        units["old"].active = False
        s.add_all(units.values())
        s.flush()
        who = create_user(s, "p", "代表", "proposer", "x" * 12)
        rows = [("关于优化城东公交线路的建议", "城东公交线路少，换乘不便，建议增开公交线路。", "jt", ["jy"]),
                ("关于增设公交候车亭的建议", "公交站点没有候车亭，建议增设。", "jt", []),
                ("关于加强中小学课后服务的提案", "课后服务内容单一，建议丰富课后服务。", "jy", []),
                ("关于推广家庭医生签约服务的提案", "家庭医生签约率低，建议推广。", "wj", ["old"]),
                ("关于公交线路调整的建议", "公交线路调整。", None, [])]  # not assigned yet: not in the corpus
        ids = []
        for i, (title, content, lead, co) in enumerate(rows):
            it = Item(year=2025, item_type="suggestion", number=f"N{i}", title=title, content=content,
                      proposer_id=who.id, lead_unit_id=units[lead].id if lead else None, status="closed")
            s.add(it)
            s.flush()
            ids.append(it.id)
            if lead:
                s.add(Assignment(item_id=it.id, unit_id=units[lead].id, role="lead"))
            for c in co:
                s.add(Assignment(item_id=it.id, unit_id=units[c].id, role="co"))
    return ids


def test_most_similar_item_first_and_its_units_suggested(db, corpus):
    with db.reading() as s:
        found = similar_items(s, "关于增开老城区公交线路的建议", "老城区公交线路不足，换乘不便。")
        shelters = similar_items(s, "关于在公交站点增设候车亭的建议")
    assert found.items[0].number == "N0" and shelters.items[0].number == "N1"
    assert "N4" not in [i.number for i in found.items]  # unassigned items teach nothing about units
    assert [(u.code, u.lead, u.co) for u in found.units] == [("jt", 1, 0), ("jy", 0, 1)]  # 教育局 co-handled N0


def test_unrelated_text_suggests_nothing(db, corpus):
    with db.reading() as s:
        assert similar_items(s, "关于举办马拉松赛事的提案").items == []
        assert similar_items(s, "关于").items == []  # nothing but boilerplate


def test_the_item_itself_and_inactive_units_are_left_out(db, corpus):
    with db.reading() as s:
        found = similar_items(s, "关于推广家庭医生签约服务的提案", exclude_item_id=corpus[3])
        assert corpus[3] not in [i.item_id for i in found.items]
        found = similar_items(s, "关于推广家庭医生签约服务的提案")
        assert found.items[0].item_id == corpus[3] and [u.code for u in found.units] == ["wj"]


def test_registration_page_asks_for_suggestions(client):
    login(client, "office")
    html = client.get("/items/new").get_data(as_text=True)
    assert 'id="similar-items"' in html and "js/similar.js" in html
    token = re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)
    r = client.post("/reports/similar", data={"title": "关于优化老城区公交线路的建议"}, headers={"X-CSRFToken": token})
    fragment = r.get_data(as_text=True)
    assert r.status_code == 200 and "区交通运输局" in fragment and "设为主办" not in fragment


def test_assignment_task_offers_units_to_take(client, demo_db):
    login(client, "office")
    with demo_db.reading() as s:
        item = s.scalars(select(Item).where(Item.title == "关于优化老城区公交线路的建议", Item.year == 2026)).one()
        task = task_for(s, item.id, "assign_item")
    html = client.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert f'data-item="{item.id}"' in html and 'data-apply="assignment"' in html
    token = csrf_token(client, f"/tasks/{task.id}")
    fragment = client.post("/reports/similar", data={"item_id": item.id, "apply": "assignment", "csrf_token": token})
    text = fragment.get_data(as_text=True)
    assert 'data-unit="jtj" data-role="lead"' in text and item.number not in text


def test_only_the_office_asks(client):
    login(client, "jtj_staff")
    token = csrf_token(client, "/tasks/")
    assert client.post("/reports/similar", data={"title": "公交", "csrf_token": token}).status_code == 403
