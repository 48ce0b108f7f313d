"""Every page through Flask's test client, as the demo users would use them."""
from __future__ import annotations

import re

from sqlalchemy import func, select

from engine import clock
from engine.models import AuditEvent, Item, ProcessInstance, TaskRow
from engine.people.accounts import create_user
from tests.conftest import csrf_token, login, task_for
from tests.conftest import user as user_row


def item_by_title(db, fragment):
    with db.reading() as s:
        return s.scalars(select(Item).where(Item.title.contains(fragment), Item.year == 2026)).one()


def test_login_required_and_bad_password(client):
    assert client.get("/tasks/").status_code == 302
    r = login(client, "office", "wrong")
    assert r.status_code == 401 and "用户名或密码错误" in r.get_data(as_text=True)


def test_csrf_is_enforced(client):
    r = client.post("/login", data={"username": "office", "password": "banli2026"})
    assert r.status_code == 400


def test_inbox_lists_my_tasks_with_title_step_and_unit(client):
    login(client, "jyj_staff")
    html = client.get("/tasks/").get_data(as_text=True)
    assert "关于加强中小学课后服务的提案" in html and "签收" in html and "区教育局" in html
    assert "关于老旧小区加装电梯的建议" not in html  # another unit's item


def test_english_ui(client):
    login(client, "office")
    client.get("/lang/en")
    html = client.get("/tasks/").get_data(as_text=True)
    assert "My tasks" in html and "Log out" in html


def test_register_item_validates_and_starts_the_process(client, demo_db):
    login(client, "office")
    token = csrf_token(client, "/items/new")
    r = client.post("/items/new", data={"csrf_token": token, "item_type": "proposal", "title": "", "content": "",
                                        "proposer": "member_sun"})
    html = r.get_data(as_text=True)
    assert r.status_code == 400 and html.count("此项为必填项") == 2 and 'selected>孙委员' in html
    r = client.post("/items/new", data={"csrf_token": token, "item_type": "proposal", "title": "关于建设口袋公园的提案",
                                        "content": "利用边角地建设口袋公园。", "proposer": "member_sun"})
    assert r.status_code == 302
    item = item_by_title(demo_db, "口袋公园")
    assert item.status == "assigning" and item.number.startswith("TA2026-")
    html = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "关于建设口袋公园的提案" in html and "登记" in html


def test_only_the_office_registers(client):
    login(client, "jtj_staff")
    assert client.get("/items/new").status_code == 403


def test_task_page_renders_the_bpmn_form_and_completes(client, demo_db):
    item = item_by_title(demo_db, "课后服务")
    with demo_db.reading() as s:
        row = task_for(s, item.id, "sign_for")
    login(client, "jyj_staff")
    html = client.get(f"/tasks/{row.id}").get_data(as_text=True)
    assert 'name="sign_decision"' in html and "申请退回" in html and item.content in html
    # A field required only on a condition says so beside its label, before anyone is refused.
    label = re.search(r'<label for="f-return_reason">(.*?)</label>', html, re.S).group(1)
    assert '<span class="req">*</span>' in label and "“签收或申请退回”为“申请退回”时必填" in label
    client.get("/lang/en")
    html_en = client.get(f"/tasks/{row.id}").get_data(as_text=True)
    label = re.search(r'<label for="f-return_reason">(.*?)</label>', html_en, re.S).group(1)
    assert "(required when Sign for or ask to return is &#34;Ask to return&#34;)" in label and "时必填" not in label
    client.get("/lang/zh")
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    # Bad input: a return without its reason is refused with a message, nothing changes.
    r = client.post(f"/tasks/{row.id}", data={"csrf_token": token, "sign_decision": "return"})
    assert r.status_code == 400 and "此项为必填项" in r.get_data(as_text=True)
    r = client.post(f"/tasks/{row.id}", data={"csrf_token": token, "sign_decision": "sign"})
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/items/{item.id}")
    html = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "签收" in html and "王教育（经办人）" in html  # on the timeline, with who
    # The unit a step concerns stands with the step, not after the person (who may be the office's).
    entry = [li for li in html.split('<ol class="timeline">')[1].split("</ol>")[0].split("<li>") if "王教育" in li][-1]
    assert re.search(r'</b>\s*<span class="tag">区教育局</span>\s*<span class="muted">王教育（经办人）</span>', entry), entry
    with demo_db.reading() as s:
        assert task_for(s, item.id, "pledge") is not None


def test_unit_a_can_neither_see_nor_complete_unit_b_task(client, demo_db):
    item = item_by_title(demo_db, "课后服务")  # waits for sign-for by the education bureau
    with demo_db.reading() as s:
        row = task_for(s, item.id, "sign_for")
        version = s.get(ProcessInstance, row.instance_id).version
        events = s.scalar(select(func.count()).select_from(AuditEvent))
    login(client, "jtj_staff")
    assert item.title not in client.get("/tasks/").get_data(as_text=True)
    assert client.get(f"/tasks/{row.id}").status_code == 403
    token = csrf_token(client, "/tasks/")
    r = client.post(f"/tasks/{row.id}", data={"csrf_token": token, "sign_decision": "sign"})
    assert r.status_code == 403
    assert client.get(f"/items/{item.id}").status_code == 403  # not its item either
    with demo_db.reading() as s:
        assert s.get(TaskRow, row.id) is not None
        assert s.get(ProcessInstance, row.instance_id).version == version
        assert s.scalar(select(func.count()).select_from(AuditEvent)) == events


def test_a_task_completed_meanwhile_is_refused_with_a_clear_message(client, demo_db):
    """Two handlers of the same unit open the same sign-for; the second to submit is told, nothing changes."""
    item = item_by_title(demo_db, "课后服务")
    with demo_db.transaction() as s:
        create_user(s, "jyj_staff2", "赵教育（经办人）", "unit_handler", "banli2026", unit_code="jyj")
        row = task_for(s, item.id, "sign_for")
    other = client.application.test_client()
    login(other, "jyj_staff2")
    login(client, "jyj_staff")
    token_other = csrf_token(other, f"/tasks/{row.id}")
    token = csrf_token(client, f"/tasks/{row.id}")  # both pages are open
    assert other.post(f"/tasks/{row.id}", data={"csrf_token": token_other, "sign_decision": "sign"}).status_code == 302
    r = client.post(f"/tasks/{row.id}", data={"csrf_token": token, "sign_decision": "return",
                                              "return_reason": "不属于本局职责。"})
    assert r.status_code == 303
    assert "此任务已办理或已不存在" in client.get(r.headers["Location"]).get_data(as_text=True)
    with demo_db.reading() as s:
        assert s.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.item_id == item.id, AuditEvent.step == "sign_for")) == 1  # the first one only


def test_parallel_tasks_of_one_item_do_not_refuse_each_other(client, demo_db):
    """The leader's instruction and the lead unit's consultation were opened on the same page state."""
    item = item_by_title(demo_db, "加装电梯")
    with demo_db.reading() as s:
        consult = task_for(s, item.id, "consult")
        leader_task = task_for(s, item.id, "leader_instruct")
    other = client.application.test_client()
    login(other, "leader_wang")
    login(client, "zjj_staff")
    token_other, token = csrf_token(other, f"/tasks/{leader_task.id}"), csrf_token(client, f"/tasks/{consult.id}")
    assert other.post(f"/tasks/{leader_task.id}", data={"csrf_token": token_other, "instruction": "加快"}).status_code == 302
    r = client.post(f"/tasks/{consult.id}", data={
        "csrf_token": token, "consult_date": clock.today().isoformat(), "consult_form": "phone",
        "participants": "刘代表", "proposer_views": "同意"})
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/items/{item.id}")

def test_item_list_filters(client):
    login(client, "office")
    html = client.get("/items/").get_data(as_text=True)
    assert html.count('href="/items/') >= 7
    html = client.get("/items/?year=2026&type=proposal").get_data(as_text=True)
    assert "课后服务" in html and "加装电梯" not in html
    html = client.get("/items/?year=2026&key=1").get_data(as_text=True)
    assert "加装电梯" in html and "课后服务" not in html
    html = client.get("/items/?year=2026&status=closed").get_data(as_text=True)
    assert "停车泊位" in html and "课后服务" not in html
    assert "加装电梯" in client.get("/items/?year=2026&q=电梯").get_data(as_text=True)


def test_proposer_sees_only_own_items(client, demo_db):
    login(client, "member_sun")
    html = client.get("/items/?year=2026", follow_redirects=True).get_data(as_text=True)  # the portal
    other = item_by_title(demo_db, "课后服务")
    assert "社区医疗" in html and f"/portal/items/{other.id}\"" not in html
    assert client.get(f"/items/{other.id}", follow_redirects=True).status_code == 404


def test_missing_pages(client):
    login(client, "office")
    assert client.get("/items/999999").status_code == 404
    r = client.get("/tasks/00000000-0000-0000-0000-000000000000")
    assert r.status_code == 302


def test_inbox_pages_past_fifty_tasks(client, demo_db):
    from engine.items.registration import register_item

    with demo_db.transaction() as s:
        office = user_row(s, "office")
        for i in range(50):
            register_item(s, {"item_type": "proposal", "title": f"关于第{i}个公园的提案", "content": "绿地。",
                              "proposer": "member_sun"}, office)
    login(client, "office")
    html = client.get("/tasks/").get_data(as_text=True)
    total = int(re.search(r'(?:我的待办|建议提案待办) <span class="count">(\d+)</span>', html).group(1))
    nxt = re.search(r'rel="next" href="([^"]+)"', html)
    assert total >= 53 and html.count('<td data-label="案由">') == 50 and nxt and 'rel="prev"' not in html
    second = client.get(nxt.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert second.count('<td data-label="案由">') == total - 50 and 'rel="next"' not in second
    back = re.search(r'rel="prev" href="([^"]+)"', second)
    assert client.get(back.group(1).replace("&amp;", "&")).get_data(as_text=True).count('<td data-label="案由">') == 50


def test_a_replys_disclosure_reads_as_the_units_proposal_not_as_published(client, demo_db):
    """The reply line said 摘要公开 / "Summary published" of a reply the office had not published (or had
    published in full): it is what the unit proposes."""
    from engine.models import Reply
    with demo_db.reading() as s:
        reply = s.scalars(select(Reply).where(Reply.disclosure == "summary")).first() or \
            s.scalars(select(Reply).where(Reply.disclosure == "full")).first()
        item_id, proposed = reply.item_id, {"summary": ("摘要公开", "Publish a summary"),
                                            "full": ("全文公开", "Publish in full")}[reply.disclosure]
    login(client, "office")
    html = client.get(f"/items/{item_id}").get_data(as_text=True)
    assert f"拟公开方式：{proposed[0]}" in html
    client.get("/lang/en")
    html = client.get(f"/items/{item_id}").get_data(as_text=True)
    assert f"Proposed disclosure: {proposed[1]}" in html and "Summary published" not in html
    client.get("/lang/zh")


def test_a_deadlines_step_reads_as_the_step_in_english(client, demo_db):
    """The disclosure deadline's step 答复公开 read "Published replies" (the menu's page) in the deadline table."""
    from engine.models import Deadline
    with demo_db.reading() as s:
        item_id = s.scalars(select(Deadline.item_id).where(Deadline.key == "disclosure")).first()
    login(client, "office")
    client.get("/lang/en")
    table = client.get(f"/items/{item_id}").get_data(as_text=True).split('id="deadlines"')[1].split("</section>")[0]
    assert "Publish the reply" in table and "Published replies" not in table
    client.get("/lang/zh")
    assert "答复公开" in client.get(f"/items/{item_id}").get_data(as_text=True).split('id="deadlines"')[1]
