"""Screens that say what to do: checks against the step, prefilled forms, and where each role lands."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from engine import clock
from engine.items.registration import register_item
from engine.models import Item
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
    assert r.status_code == 400 and "须晚于今天" in html and "电话号码格式不正确" in html
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


def test_rule_dates_are_checked_against_the_year(demo_db):
    import pytest

    from engine.deadlines.rules import RuleError, set_rule

    with demo_db.transaction() as s:
        with pytest.raises(RuleError, match="不在 2026—2027 年内"):
            set_rule(s, 2026, "reply_fixed_date", "2020-06-30")
        with pytest.raises(RuleError, match="过长"):
            set_rule(s, 2026, "reply", "30M")
        set_rule(s, 2026, "reply_fixed_date", "2026-06-30")
