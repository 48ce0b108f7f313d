"""Screens that say what to do: checks against the step, prefilled forms, and where each role lands."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from engine import clock
from engine.items.registration import register_item
from engine.models import Item, Reply, TaskRow
from engine.workflow.runtime import complete_task
from tests.conftest import csrf_token, login, task_for, user


def _new_item(db, title="关于社区食堂的建议", lead=None, sign=False):
    with db.transaction() as s:
        item = register_item(s, {"item_type": "suggestion", "title": title, "content": "老人吃饭难。",
                                 "proposer": "deputy_liu", "suggested_units": "区民政局"}, user(s, "office"))
        if lead:
            complete_task(s, task_for(s, item.id, "assign_item").id, user(s, "office"),
                          {"assign_decision": "assign", "lead_unit": lead, "assign_note": "请会同街道办理。"})
        if sign:
            complete_task(s, task_for(s, item.id, "sign_for").id, user(s, f"{lead}_staff"), {"sign_decision": "sign"})
        return item.id


def _post(client, task_id, **data):
    return client.post(f"/tasks/{task_id}", data={"csrf_token": csrf_token(client, f"/tasks/{task_id}"), **data})


def test_lead_unit_cannot_also_be_a_co_unit(client, demo_db):
    item_id = _new_item(demo_db)
    with demo_db.reading() as s:
        task_id = task_for(s, item_id, "assign_item").id
    login(client, "office")
    r = _post(client, task_id, assign_decision="assign", lead_unit="jyj", co_units=["jyj", "jtj"])
    assert r.status_code == 400 and "主办单位不能同时作为协办单位" in r.get_data(as_text=True)


def test_dates_and_phones_are_checked_against_the_step(client, demo_db):
    item_id = _new_item(demo_db, lead="jyj", sign=True)
    with demo_db.reading() as s:
        pledge_id = task_for(s, item_id, "pledge").id
    login(client, "jyj_head")
    r = _post(client, pledge_id, responsible_leader="王副局长", contact_person="李", contact_phone="电话",
              plan="方案", target_date="2020-01-01")
    html = r.get_data(as_text=True)
    assert r.status_code == 400 and "不能早于今天" in html and "电话号码格式不正确" in html
    later = (clock.today() + timedelta(days=60)).isoformat()
    assert _post(client, pledge_id, responsible_leader="王副局长", contact_person="李", contact_phone="13812345678",
                 plan="方案", target_date=later).status_code == 302
    with demo_db.reading() as s:
        consult_id = task_for(s, item_id, "consult").id
    login(client, "jyj_staff")
    next_year = (clock.today() + timedelta(days=365)).isoformat()
    r = _post(client, consult_id, consult_date=next_year, consult_form="phone", participants="刘代表",
              proposer_views="同意")
    assert r.status_code == 400 and "不能晚于今天" in r.get_data(as_text=True)


def test_a_consultation_is_not_dated_before_the_unit_had_the_item(client, demo_db):
    """面商 is the handling unit meeting the proposer about the item: a date before its assignment (交办) is a
    typing error, and it would count in the 面商率 of a handling that had not begun."""
    with clock.travel(clock.now() - timedelta(days=30)):
        item_id = _new_item(demo_db, lead="jyj", sign=True)
        with demo_db.transaction() as s:
            complete_task(s, task_for(s, item_id, "pledge").id, user(s, "jyj_head"), {
                "responsible_leader": "王副局长", "contact_person": "李", "contact_phone": "13812345678", "plan": "方案",
                "target_date": (clock.today() + timedelta(days=60)).isoformat()})
    assigned = (clock.today() - timedelta(days=30)).isoformat()
    with demo_db.reading() as s:
        consult_id = task_for(s, item_id, "consult").id
    login(client, "jyj_staff")
    before = (clock.today() - timedelta(days=31)).isoformat()
    r = _post(client, consult_id, consult_date=before, consult_form="phone", participants="刘代表", proposer_views="同意")
    assert r.status_code == 400 and f"不能早于交办日期（{assigned}）" in r.get_data(as_text=True)
    assert _post(client, consult_id, consult_date=assigned, consult_form="phone", participants="刘代表",
                 proposer_views="同意").status_code == 302


def test_after_registration_the_office_goes_straight_to_assignment(client, demo_db):
    login(client, "office")
    token = csrf_token(client, "/items/new")
    r = client.post("/items/new", data={"csrf_token": token, "item_type": "suggestion", "title": "关于口袋公园的建议",
                                        "content": "边角地。", "proposer": "deputy_liu",
                                        "cosigners": ["deputy_chen", "不在名册的人"]})
    assert r.status_code == 400 and "不在名册的人 不在代表委员名册中" in r.get_data(as_text=True)
    r = client.post("/items/new", data={"csrf_token": token, "item_type": "suggestion", "title": "关于口袋公园的建议",
                                        "content": "边角地。", "proposer": "deputy_liu", "cosigners": ["deputy_chen"],
                                        "suggested_units": "区住建局"})
    assert r.status_code == 302 and r.headers["Location"].startswith("/tasks/")
    html = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "交办" in html and "区住建局" in html and "陈代表" in html  # suggested unit and co-signer shown


def test_task_page_shows_deadline_note_and_leader_and_the_timeline_names_acts(client, demo_db):
    with demo_db.transaction() as s:
        item = register_item(s, {"item_type": "suggestion", "title": "关于河道保洁的建议", "content": "河道脏。",
                                 "proposer": "deputy_liu"}, user(s, "office"))
        complete_task(s, task_for(s, item.id, "assign_item").id, user(s, "office"),
                      {"assign_decision": "assign", "lead_unit": "jtj", "is_key": "true", "leader": "leader_wang",
                       "assign_note": "请会同街道办理，月底前报进展。"})
        item_id, sign_id = item.id, task_for(s, item.id, "sign_for").id
        staff_id = user(s, "jtj_staff").id
    login(client, "jtj_staff")
    html = client.get(f"/tasks/{sign_id}").get_data(as_text=True)
    assert "本环节期限" in html and "请会同街道办理，月底前报进展。" in html and "王副区长" in html
    assert any(n.href == f"/tasks/{sign_id}" and n.read_at is None for n in _notes(demo_db, staff_id, item_id))
    r = _post(client, sign_id, sign_decision="return", return_reason="不属于本局职责。")
    assert r.status_code == 302
    page = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "已完成：申请退回" in page and "<b>申请退回</b>" in page
    # the "new task" notice is read once the task is done
    assert all(n.read_at is not None for n in _notes(demo_db, staff_id, item_id) if n.href == f"/tasks/{sign_id}")


def _notes(db, user_id, item_id):
    from engine.models import Notification

    with db.reading() as s:
        return s.scalars(select(Notification).where(Notification.user_id == user_id,
                                                    Notification.item_id == item_id)).all()


def test_publish_form_starts_with_the_reply_redacted(client, demo_db):
    with demo_db.reading() as s:
        row = s.scalars(select(TaskRow).where(TaskRow.form_key == "rating")).first()
        item_id = row.item_id
    with demo_db.transaction() as s:  # the proposer rates; the office publishes next
        reply = s.scalars(select(Reply).where(Reply.item_id == item_id, Reply.status == "approved")).one()
        reply.text = "已完成整治。联系电话 13812345678，邮箱 hb@example.org。"
        reply.disclosure = "full"
        rater = s.get(Item, item_id).proposer
        complete_task(s, row.id, rater, {"attitude": "satisfied", "result": "satisfied"})
        publish_id = task_for(s, item_id, "publish").id
    login(client, "office")
    html = client.get(f"/tasks/{publish_id}").get_data(as_text=True)
    assert "已完成整治。联系电话 ［已隐去］，邮箱 ［已隐去］。" in html and "13812345678" not in html.split("f-published_text")[1][:400]
    assert 'value="full" selected' in html


def test_no_opinion_reads_as_such(client, demo_db):
    from engine.models import Rating

    with demo_db.reading() as s:
        row = s.scalars(select(TaskRow).where(TaskRow.form_key == "rating")).first()
    with demo_db.transaction() as s:
        s.add(Rating(item_id=row.item_id, round=1, attitude="no_opinion", result="no_opinion", reason="评价期满未表态"))
    login(client, "office")
    html = client.get(f"/items/{row.item_id}").get_data(as_text=True)
    assert "办理态度 未表态" in html and "None" not in html


def test_portal_shows_the_reply_deadline_of_the_current_round(demo_db):
    import time_machine

    from engine.items.portal import portal_item
    from tests.test_deadline_ledger import consult, sign_and_pledge
    from tests.test_timers import assign, at, do, register, reply

    with time_machine.travel(at("2026-03-02"), tick=False):
        item_id = register(demo_db)
        assign(demo_db, item_id)
        sign_and_pledge(demo_db, item_id)
        consult(demo_db, item_id)
        reply(demo_db, item_id)
    with time_machine.travel(at("2026-03-05"), tick=False):
        do(demo_db, item_id, "member_sun", "rate", attitude="unsatisfied", result="unsatisfied", rating_reason="没解决")
        do(demo_db, item_id, "office", "order_rehandling", rehandle_decision="rehandle", rehandle_instructions="重办")
        with demo_db.reading() as s:
            shown = portal_item(s, user(s, "member_sun"), item_id).reply_deadline
    assert str(shown.due) == "2026-04-07"  # 1 month from the re-handling order, not the first round's date
