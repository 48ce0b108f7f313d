"""The proposers' portal: own items, co-signed items read only, nobody else's, and the rating."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from engine.models import Item, TaskRow
from engine.items.portal import my_items, portal_item
from engine.items.registration import register_item
from engine.people.accounts import create_user
from tests.conftest import csrf_token, login, user


@pytest.fixture
def cosigned(demo_db):
    """Liu leads one item co-signed by Chen, and one co-signed by a namesake-like 陈代表甲."""
    with demo_db.transaction() as s:
        office = user(s, "office")
        create_user(s, "deputy_chen_jia", "陈代表甲", "proposer", "pw-2026-abc", proposer_kind="deputy")
        a = register_item(s, {"item_type": "suggestion", "proposer": "deputy_liu", "title": "关于建设口袋公园的建议",
                              "content": "利用边角地建设口袋公园。", "cosigners": "黄代表、陈代表"}, office)
        b = register_item(s, {"item_type": "suggestion", "proposer": "deputy_liu", "title": "关于增设路灯的建议",
                              "content": "背街小巷照明不足。", "cosigners": "陈代表甲"}, office)
        return a.id, b.id


def test_my_items_are_led_or_cosigned_and_nobody_elses(demo_db, cosigned):
    with demo_db.reading() as s:
        chen = user(s, "deputy_chen")
        entries = my_items(s, chen)
        roles = {e.item.id: e.role for e in entries}
        assert roles[cosigned[0]] == "cosigner" and cosigned[1] not in roles
        led = [e for e in entries if e.role == "lead"]
        assert led and all(e.item.proposer_id == chen.id for e in led)
        others = s.scalars(select(Item.id).where(Item.proposer_id != chen.id)).all()
        assert not set(others) & {e.item.id for e in led}
        # the item waiting for Chen's rating comes first, with its task
        assert entries[0].tasks and entries[0].tasks[0].form_key == "rating"


def test_another_proposers_item_is_not_found(client, demo_db, cosigned):
    login(client, "deputy_chen")
    with demo_db.reading() as s:
        zhao_item = s.scalars(select(Item.id).where(Item.proposer_id == user(s, "member_zhao").id)).first()
    assert client.get(f"/portal/items/{zhao_item}").status_code == 404
    assert client.get(f"/portal/items/{cosigned[1]}").status_code == 404  # 陈代表甲 is someone else
    assert client.get("/portal/items/999999").status_code == 404


def test_a_namesake_added_later_does_not_see_what_the_other_co_signed(client, demo_db, cosigned):
    """A co-signer is the person the office picked at registration, not whoever bears the name."""
    with demo_db.transaction() as s:
        create_user(s, "deputy_chen_2", "陈代表", "proposer", "pw-2026-abc", proposer_kind="deputy")
    with demo_db.reading() as s:
        namesake, chen = user(s, "deputy_chen_2"), user(s, "deputy_chen")
        assert cosigned[0] not in {e.item.id for e in my_items(s, namesake)}
        assert cosigned[0] in {e.item.id for e in my_items(s, chen)}
    login(client, "deputy_chen_2", "pw-2026-abc")
    assert client.get(f"/portal/items/{cosigned[0]}").status_code == 404
    assert "关于建设口袋公园的建议" not in client.get("/portal/").get_data(as_text=True)
    # The one the office picked still reads it, though the roster now has two of that name.
    login(client, "deputy_chen")
    assert "联名/附议人（只读）" in client.get(f"/portal/items/{cosigned[0]}").get_data(as_text=True)


def test_cosigner_reads_but_cannot_rate(client, demo_db, cosigned):
    login(client, "deputy_chen")
    html = client.get(f"/portal/items/{cosigned[0]}").get_data(as_text=True)
    assert "联名/附议人（只读）" in html and "关于建设口袋公园的建议" in html
    assert "/tasks/" not in html.split('<main class="page">')[1]  # no action for a co-signer


def test_portal_lists_deadline_consultations_and_the_rating_link(client, demo_db):
    login(client, "deputy_chen")
    html = client.get("/portal/").get_data(as_text=True)
    with demo_db.reading() as s:
        item = s.scalars(select(Item).where(Item.title == "关于治理河道黑臭水体的建议", Item.year == 2026)).one()
        task = s.scalars(select(TaskRow).where(TaskRow.item_id == item.id)).one()
    assert f'href="/portal/items/{item.id}#task-{task.id}"' in html and "评价" in html
    detail = client.get(f"/portal/items/{item.id}").get_data(as_text=True)
    assert "面商记录（1）" in detail and "认可办理方向" in detail  # the consultation
    assert "答复期限" in detail and "经研究，我单位已将该事项列入年度重点工作" in detail  # the approved reply


def test_drafts_are_not_shown_to_the_proposer(demo_db):
    with demo_db.reading() as s:
        sun = user(s, "member_sun")
        item = s.scalars(select(Item).where(Item.title == "关于完善社区医疗服务的提案", Item.year == 2026)).one()  # reply under review
        detail = portal_item(s, sun, item.id)
        assert detail.role == "lead" and detail.replies == []


def test_rating_in_the_portal_not_on_a_task_page(client, demo_db):
    login(client, "deputy_chen")
    with demo_db.reading() as s:
        item = s.scalars(select(Item).where(Item.title == "关于治理河道黑臭水体的建议", Item.year == 2026)).one()
        task_id = s.scalars(select(TaskRow.id).where(TaskRow.item_id == item.id)).one()
    # the internal task page and item page lead back to the portal; nothing internal is rendered
    r = client.get(f"/tasks/{task_id}")
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/portal/items/{item.id}")
    assert client.get(f"/items/{item.id}").headers["Location"].endswith(f"/portal/items/{item.id}")
    assert client.get("/tasks/").headers["Location"].endswith("/portal/")
    token = csrf_token(client, f"/portal/items/{item.id}")
    bad = client.post(f"/portal/items/{item.id}/tasks/{task_id}", data={"csrf_token": token, "attitude": "satisfied",
                                                                     "result": "unsatisfied"})
    assert bad.status_code == 400 and "此项为必填项" in bad.get_data(as_text=True)  # 不满意 needs a reason
    r = client.post(f"/portal/items/{item.id}/tasks/{task_id}", data={"csrf_token": token, "attitude": "satisfied",
                                                                   "result": "basically_satisfied"})
    assert r.status_code == 303
    html = client.get(f"/portal/items/{item.id}").get_data(as_text=True)
    assert re.search(r"办理态度\s*满意，办理结果\s*基本满意", html)


def test_a_cosigner_or_stranger_cannot_send_the_rating(client, demo_db, cosigned):
    with demo_db.reading() as s:
        item = s.scalars(select(Item).where(Item.title == "关于治理河道黑臭水体的建议", Item.year == 2026)).one()
        task_id = s.scalars(select(TaskRow.id).where(TaskRow.item_id == item.id)).one()
    login(client, "member_zhao")
    token = csrf_token(client, "/portal/")
    r = client.post(f"/portal/items/{item.id}/tasks/{task_id}", data={"csrf_token": token, "attitude": "satisfied",
                                                                   "result": "satisfied"})
    assert r.status_code == 303
    with demo_db.reading() as s:
        assert s.get(TaskRow, task_id) is not None  # still waiting for its own proposer


def test_portal_is_for_proposers_only(client):
    login(client, "office")
    assert client.get("/portal/").status_code == 403


# --- what a proposer reads of where an item stands ---------------------------------------------------------

INTERNAL_STEPS = ("审核退回申请", "领导领办批示", "协办签收", "审核答复", "答复公开", "研究重新办理")


def status_of(html: str) -> str:
    """The 状态 of the portal's item page, as text."""
    dd = re.search(r"<dt>状态</dt><dd>(.*?)</dd>", html, re.S).group(1)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", dd)).strip()


def test_proposers_read_where_their_item_stands_not_the_staffs_step(client, demo_db):
    """The ready steps' names (审核退回申请, 领导领办批示, 审核答复 ...) are the staff's deliberations: a
    proposer reads a status derived from the item's status and the portal's facts (交办中, 办理中 ...)."""
    expected = {("deputy_liu", "关于推进垃圾分类的建议"): "交办中",  # a return request under review
                ("deputy_liu", "关于老旧小区加装电梯的建议"): "办理中",  # 面商、领导领办批示、协办签收
                ("member_sun", "关于完善社区医疗服务的提案"): "办理中",  # the reply under the office's review
                ("deputy_chen", "关于治理河道黑臭水体的建议"): "已答复，待评价",
                ("deputy_chen", "关于优化老城区公交线路的建议"): "已登记"}
    for (username, title), stage in expected.items():
        with demo_db.reading() as s:
            item = s.scalars(select(Item).where(Item.title == title, Item.year == 2026)).one()
            step = item.current_step
        login(client, username)
        html = client.get(f"/portal/items/{item.id}").get_data(as_text=True).split('<main class="page">')[1]
        assert status_of(html) == stage, (title, status_of(html))
        listing = client.get("/portal/").get_data(as_text=True).split('<main class="page">')[1]
        card = re.search(rf'<li[^>]*>(?:(?!</li>).)*?{title}.*?</li>', listing, re.S).group(0)
        assert stage in card, (title, card)
        for name in INTERNAL_STEPS:
            assert name not in html and name not in listing, (title, name, step)
    # The rating sent, the item waits for publication ("答复公开" is the office's step): the proposer reads 已评价.
    with demo_db.reading() as s:
        item = s.scalars(select(Item).where(Item.title == "关于治理河道黑臭水体的建议", Item.year == 2026)).one()
        task_id = s.scalars(select(TaskRow.id).where(TaskRow.item_id == item.id)).one()
    login(client, "deputy_chen")
    token = csrf_token(client, f"/portal/items/{item.id}")
    client.post(f"/portal/items/{item.id}/tasks/{task_id}", data={"csrf_token": token, "attitude": "satisfied",
                                                                 "result": "satisfied"})
    with demo_db.reading() as s:
        assert s.get(Item, item.id).current_step == "答复公开"
    assert status_of(client.get(f"/portal/items/{item.id}").get_data(as_text=True)) == "已评价"

