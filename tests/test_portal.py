"""The proposers' portal: own items, co-signed items read only, nobody else's, and the rating."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from engine import clock
from engine.models import Deadline, Item, Rating, TaskRow
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


# --- 并案: the proposer of an item merged into another rates the reply in the portal -------------------------

@pytest.fixture
def merged(client, demo_db):
    """Liu's item merged into Chen's (which Liu co-signed), the lead item replied: (lead id, merged id)."""
    from tests.test_followup import new_item, post, reply_approved
    from tests.test_lifecycle import do

    with demo_db.transaction() as s:
        lead = register_item(s, {"item_type": "suggestion", "proposer": "deputy_chen", "year": "2026",
                                 "title": "关于增设夜间公交线路的建议", "content": "夜间出行不便。",
                                 "cosigners": "刘代表"}, user(s, "office")).id
    other = new_item(demo_db, "关于延长公交末班车时间的建议", proposer="deputy_liu")
    with demo_db.reading() as s:
        lead_number = s.get(Item, lead).number
    login(client, "office")
    post(client, f"/items/{other}/merge", f"/items/{other}", into=lead_number)
    do(demo_db, lead, "office", "assign_item", assign_decision="assign", lead_unit="zjj")
    do(demo_db, lead, "zjj_staff", "sign_for", sign_decision="sign")
    do(demo_db, lead, "zjj_head", "pledge", responsible_leader="副局长", contact_person="郑", contact_phone="13800000005",
       plan="调研、试点、推广", target_date=(clock.today() + timedelta(days=30)).isoformat())
    do(demo_db, lead, "zjj_staff", "consult", consult_date=clock.today().isoformat(), consult_form="phone",
       participants="陈代表、刘代表", proposer_views="同意。")
    reply_approved(demo_db, lead)
    client.get("/logout")
    return lead, other


def selected(html: str, field: str) -> str | None:
    select_ = re.search(rf'<select id="f-{field}"[^>]*>(.*?)</select>', html, re.S).group(1)
    chosen = re.search(r'<option value="([^"]*)" selected', select_)
    return chosen.group(1) if chosen else None


def test_a_merged_items_rating_form_keeps_what_was_chosen_and_shows_the_errors_by_the_fields(client, demo_db, merged):
    _lead, other = merged
    login(client, "deputy_liu")
    page = f"/portal/items/{other}"
    token = csrf_token(client, page)
    r = client.post(f"{page}/rate", data={"csrf_token": token, "attitude": "satisfied", "result": "unsatisfied"})
    html = r.get_data(as_text=True)
    assert r.status_code == 400
    assert selected(html, "attitude") == "satisfied" and selected(html, "result") == "unsatisfied"
    error = re.search(r'<div class="field has-error">(.*?)</div>', html, re.S).group(1)
    assert 'name="rating_reason"' in error and "此项为必填项" in error  # 不满意 needs a reason, said by the field
    r = client.post(f"{page}/rate", data={"csrf_token": token, "attitude": "", "result": "satisfied",
                                          "rating_reason": "末班车仍然太早。"})
    html = r.get_data(as_text=True)
    assert r.status_code == 400 and selected(html, "result") == "satisfied" and "末班车仍然太早。" in html
    error = re.search(r'<div class="field has-error">(.*?)</div>', html, re.S).group(1)
    assert 'name="attitude"' in error
    with demo_db.reading() as s:
        assert s.scalars(select(Rating).where(Rating.item_id == other)).all() == []
    r = client.post(f"{page}/rate", data={"csrf_token": token, "attitude": "satisfied", "result": "unsatisfied",
                                          "rating_reason": "末班车仍然太早。"})
    assert r.status_code == 303
    with demo_db.reading() as s:
        assert [(x.attitude, x.result) for x in s.scalars(select(Rating).where(Rating.item_id == other))] == [
            ("satisfied", "unsatisfied")]


def test_a_merged_items_proposer_is_asked_to_rate_in_the_list_and_sees_their_own_rating_state(client, demo_db, merged):
    lead, other = merged
    with demo_db.reading() as s:
        due = s.scalars(select(Deadline.due_date).where(Deadline.item_id == lead, Deadline.key == "rating")).one()
        numbers = {i: s.get(Item, i).number for i in (lead, other)}
    login(client, "deputy_liu")
    listing = client.get("/portal/").get_data(as_text=True)
    first = re.search(r'<ul class="cards">\s*<li class="([^"]*)">(.*?)</li>', listing, re.S)
    assert "waiting" in first.group(1) and numbers[other] in first.group(2)  # waiting for Liu: listed first
    assert f'href="/portal/items/{other}#rate"' in first.group(2) and f"评价（请于 {due} 前）" in first.group(2)
    assert "已答复，待评价" in first.group(2) and f"已并入 {numbers[lead]}" in first.group(2)
    page = client.get(f"/portal/items/{other}").get_data(as_text=True)
    assert status_of(page) == "已答复，待评价" and f"请于 {due} 前完成" in page
    # On the lead item's page (Liu co-signed it) Liu reads the rating state of their own item, not only Chen's.
    host = client.get(f"/portal/items/{lead}").get_data(as_text=True)
    mine = re.search(r'<section class="card[^"]*" id="my-merged">(.*?)</section>', host, re.S).group(1)
    assert numbers[other] in mine and "待评价" in mine and f'href="/portal/items/{other}#rate"' in mine
    token = csrf_token(client, f"/portal/items/{other}")
    client.post(f"/portal/items/{other}/rate", data={"csrf_token": token, "attitude": "satisfied",
                                                       "result": "unsatisfied", "rating_reason": "末班车仍然太早。"})
    host = client.get(f"/portal/items/{lead}").get_data(as_text=True)
    mine = re.search(r'<section class="card[^"]*" id="my-merged">(.*?)</section>', host, re.S).group(1)
    assert re.search(r"办理态度\s*满意，办理结果\s*不满意", mine) and "#rate" not in mine
    listing = client.get("/portal/").get_data(as_text=True)
    assert f"/portal/items/{other}#rate" not in listing
    assert status_of(client.get(f"/portal/items/{other}").get_data(as_text=True)) == "已评价"
    # Chen, the lead item's proposer, reads his own rating task, never Liu's rating.
    login(client, "deputy_chen")
    host = client.get(f"/portal/items/{lead}").get_data(as_text=True)
    assert "末班车仍然太早" not in host and 'id="my-merged"' not in host and status_of(host) == "已答复，待评价"


def test_a_merged_items_co_signer_reads_what_a_normal_items_co_signer_reads(client, demo_db):
    """并案: a co-signer of a merged item read 已答复，待评价 for good once the rating window had passed unrated,
    even after the lead item closed, where a co-signer of a normal item reads 已答复 (the window's end counts as
    未表态); and the merged item's proposer could still rate. Within the window both read 已答复，待评价 (the item
    waits for its lead proposer's rating, not for the co-signer's): the same on both."""
    from datetime import datetime, timezone

    import time_machine

    from engine.items import merging
    from engine.workflow.sweep import sweep
    from tests.test_followup import handle_to_reply, post, reply_approved

    with demo_db.transaction() as s:
        office = user(s, "office")
        lead, other, normal = (register_item(s, {"item_type": "suggestion", "proposer": who, "year": "2026",
                                                 "title": title, "content": "夜间出行不便。", "cosigners": cosigners},
                                             office).id
                               for who, title, cosigners in (("deputy_chen", "关于增设夜间公交线路的建议", ""),
                                                             ("deputy_liu", "关于延长公交末班车时间的建议", "黄代表"),
                                                             ("deputy_liu", "关于增加公交站台座椅的建议", "黄代表")))
        lead_number = s.get(Item, lead).number
    login(client, "office")
    post(client, f"/items/{other}/merge", f"/items/{other}", into=lead_number)
    for item_id in (lead, normal):
        handle_to_reply(demo_db, item_id)
        reply_approved(demo_db, item_id)
    with demo_db.reading() as s:
        due = s.scalars(select(Deadline.due_date).where(Deadline.item_id == lead, Deadline.key == "rating")).one()

    def seen(item_id):
        html = client.get(f"/portal/items/{item_id}").get_data(as_text=True)
        listing = client.get("/portal/").get_data(as_text=True).split('<main class="page">')[1]
        card = re.search(rf'<li[^>]*>(?:(?!</li>).)*?/portal/items/{item_id}".*?</li>', listing, re.S).group(0)
        return status_of(html), card

    login(client, "deputy_huang")
    assert seen(other)[0] == seen(normal)[0] == "已答复，待评价"
    with time_machine.travel(datetime.combine(due + timedelta(days=2), datetime.min.time(), timezone.utc), tick=False):
        sweep(demo_db)  # the rating windows close unrated: 未表态
        login(client, "deputy_huang")
        (mine, card), (normal_status, _card) = seen(other), seen(normal)
        assert normal_status == "已答复" and mine == normal_status and "待评价" not in card
        with demo_db.reading() as s:
            assert not merging.may_rate_merged(s, user(s, "deputy_liu"), s.get(Item, other))
        login(client, "deputy_liu")
        assert 'id="rate"' not in client.get(f"/portal/items/{other}").get_data(as_text=True)
