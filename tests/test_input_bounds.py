"""Dates and identifiers held to the domain's bounds.

The responsibility pledge's target date (责任状·计划办结日期) lies between today and the reply deadline; a
promised completion date (承诺完成日期) between today and the end of the year after next; an item's number
(编号) is a plain identifier in the engine and in the API alike.
"""
from __future__ import annotations

from datetime import date, datetime

import pytest
import time_machine
from sqlalchemy import select, update

from engine import clock
from engine.items.registration import register_item
from engine.models import Deadline
from engine.workflow.forms import FormInvalid
from tests.conftest import csrf_token, login, task_for, user
from tests.test_api_v1 import auth, token_for
from tests.test_followup import PLEDGE, new_item
from tests.test_lifecycle import REPLY, do
from tests.test_separate import T0

# T0 (2026-03-02, a Monday): the reply is due 3 months later, 2026-06-02; six months later is 2026-09-02.
DUE, CAP = date(2026, 6, 2), date(2026, 9, 2)


def _signed(db, title="关于夜间公交的建议", lead="jtj", **assignment):
    item_id = new_item(db, title)
    do(db, item_id, "office", "assign_item", assign_decision="assign", lead_unit=lead, **assignment)
    do(db, item_id, f"{lead}_staff", "sign_for", sign_decision="sign")
    return item_id


def _refused(db, item_id, username, spec, **form):
    with pytest.raises(FormInvalid) as exc:
        do(db, item_id, username, spec, **form)
    return [(e.field, e.code, e.param) for e in exc.value.errors]


# --- 1. the pledge's target date --------------------------------------------------------------------------------

def test_pledge_target_date_lies_between_today_and_the_reply_deadline(demo_db):
    with time_machine.travel(T0, tick=False):
        item_id = _signed(demo_db)
        with demo_db.reading() as s:
            assert s.scalar(select(Deadline.due_date).where(Deadline.item_id == item_id, Deadline.key == "reply")) == DUE
        pledge = {**PLEDGE}
        assert _refused(demo_db, item_id, "jtj_head", "pledge", **{**pledge, "target_date": "9999-12-31"}) == \
            [("target_date", "after_reply_due", "2026-06-02")]
        assert _refused(demo_db, item_id, "jtj_head", "pledge", **{**pledge, "target_date": "2026-06-03"}) == \
            [("target_date", "after_reply_due", "2026-06-02")]
        assert _refused(demo_db, item_id, "jtj_head", "pledge", **{**pledge, "target_date": "2026-03-01"}) == \
            [("target_date", "not_past", "2026-03-02")]
        do(demo_db, item_id, "jtj_head", "pledge", **{**pledge, "target_date": "2026-06-02"})  # the deadline itself


def test_every_problem_of_a_form_is_told_at_once(demo_db):
    """A missing field and a date out of bounds were told one after the other: the field checks refused the
    form before the domain's rules looked at it, so the person corrected, sent, and was refused again."""
    with time_machine.travel(T0, tick=False):
        item_id = _signed(demo_db)
        assert sorted(_refused(demo_db, item_id, "jtj_head", "pledge", **{
            **PLEDGE, "responsible_leader": "", "contact_phone": "12", "target_date": "9999-12-31"})) == [
            ("contact_phone", "phone", ""), ("responsible_leader", "required", ""),
            ("target_date", "after_reply_due", "2026-06-02")]


def test_a_pledge_may_target_today(demo_db):
    with time_machine.travel(T0, tick=False):
        item_id = _signed(demo_db)
        do(demo_db, item_id, "jtj_head", "pledge", **{**PLEDGE, "target_date": "2026-03-02"})


def test_a_complex_items_pledge_may_run_to_its_later_deadline(demo_db):
    with time_machine.travel(T0, tick=False):
        item_id = _signed(demo_db, is_complex=True)  # 复杂事项: 6 months
        assert _refused(demo_db, item_id, "jtj_head", "pledge", **{**PLEDGE, "target_date": "2026-09-03"}) == \
            [("target_date", "after_reply_due", "2026-09-02")]
        do(demo_db, item_id, "jtj_head", "pledge", **{**PLEDGE, "target_date": "2026-09-02"})


def test_without_a_known_reply_deadline_the_six_month_cap_bounds_the_pledge(demo_db):
    """The ledger has the reply deadline from assignment; an item without one (its row voided here) is held to
    the cap extensions are held to: six months from assignment."""
    with time_machine.travel(T0, tick=False):
        item_id = _signed(demo_db)
        with demo_db.transaction() as s:
            s.execute(update(Deadline).where(Deadline.item_id == item_id, Deadline.key == "reply").values(status="void"))
        assert _refused(demo_db, item_id, "jtj_head", "pledge", **{**PLEDGE, "target_date": "2026-09-03"}) == \
            [("target_date", "not_after", "2026-09-02")]
        do(demo_db, item_id, "jtj_head", "pledge", **{**PLEDGE, "target_date": "2026-08-31"})


def test_a_pledge_signed_after_the_reply_deadline_passed_is_held_to_the_cap(demo_db):
    """Deadlines never kill work in progress: a unit still pledging once its reply is overdue can name a date,
    within the six months an extension could have given at most."""
    with time_machine.travel(T0, tick=False):
        item_id = _signed(demo_db)
    with time_machine.travel(datetime(2026, 6, 10, 9), tick=False):
        assert _refused(demo_db, item_id, "jtj_head", "pledge", **{**PLEDGE, "target_date": "2026-09-03"}) == \
            [("target_date", "not_after", "2026-09-02")]
        do(demo_db, item_id, "jtj_head", "pledge", **{**PLEDGE, "target_date": "2026-07-31"})


def test_a_separate_units_pledge_is_held_to_its_own_deadline(demo_db):
    with time_machine.travel(T0, tick=False):
        item_id = new_item(demo_db, "关于公交线路优化的建议")
        do(demo_db, item_id, "office", "assign_item", assign_decision="assign", lead_unit="zjj",
           separate_units=["jtj"])
        do(demo_db, item_id, "jtj_staff", "sep_sign_for", sep_sign_decision="sign")
        assert _refused(demo_db, item_id, "jtj_head", "sep_pledge", **{**PLEDGE, "target_date": "2099-12-31"}) == \
            [("target_date", "after_reply_due", "2026-06-02")]
        do(demo_db, item_id, "jtj_head", "sep_pledge", **{**PLEDGE, "target_date": "2026-05-29"})


def test_the_pledge_page_shows_the_bound_beside_the_field_and_keeps_what_was_typed(client, demo_db):
    with time_machine.travel(T0, tick=False):
        item_id = _signed(demo_db)
        with demo_db.reading() as s:
            task_id = task_for(s, item_id, "pledge").id
        login(client, "jtj_head")
        r = client.post(f"/tasks/{task_id}", data={
            "csrf_token": csrf_token(client, f"/tasks/{task_id}"), "responsible_leader": "王副局长",
            "contact_person": "李", "contact_phone": "13812345678", "plan": "分三步推进", "target_date": "9999-12-31"})
        html = r.get_data(as_text=True)
    assert r.status_code == 400
    assert "不能晚于答复期限（2026-06-02）" in html and 'value="9999-12-31"' in html and "分三步推进" in html
    field = html.split('id="f-target_date"')[1].split("</div>")[0]  # the message beside its field
    assert "不能晚于答复期限（2026-06-02）" in field and "计划办结日期" in html.split('id="f-target_date"')[0][-200:]


# --- 2. the promised completion date -----------------------------------------------------------------------------

def _to_reply(db):
    item_id = _signed(db)
    do(db, item_id, "jtj_head", "pledge", **{**PLEDGE, "target_date": clock.today().isoformat()})
    do(db, item_id, "jtj_staff", "consult", consult_date=clock.today().isoformat(), consult_form="phone",
       participants="陈代表", proposer_views="同意。", more_consultation=False)
    return item_id


def test_a_promised_date_lies_between_today_and_the_end_of_the_year_after_next(demo_db):
    with time_machine.travel(T0, tick=False):
        item_id = _to_reply(demo_db)
        assert _refused(demo_db, item_id, "jtj_staff", "draft_reply", **{**REPLY, "promised_date": "2999-01-01"}) == \
            [("promised_date", "beyond_horizon", "2028-12-31")]
        assert _refused(demo_db, item_id, "jtj_staff", "draft_reply", **{**REPLY, "promised_date": "2029-01-01"}) == \
            [("promised_date", "beyond_horizon", "2028-12-31")]
        assert _refused(demo_db, item_id, "jtj_staff", "draft_reply", **{**REPLY, "promised_date": "2026-03-01"}) == \
            [("promised_date", "not_past", "2026-03-02")]
        do(demo_db, item_id, "jtj_staff", "draft_reply", **{**REPLY, "promised_date": "2028-12-31"})


def test_a_promise_names_its_date(demo_db):
    """A B reply's promise without a date was tracked as due on 31 December, a date nobody typed."""
    with time_machine.travel(T0, tick=False):
        item_id = _to_reply(demo_db)
        assert _refused(demo_db, item_id, "jtj_staff", "draft_reply", **{**REPLY, "promised_date": ""}) == \
            [("promised_date", "required", "")]
        do(demo_db, item_id, "jtj_staff", "draft_reply", **{**REPLY, "reply_class": "A", "promised": "",
                                                            "promised_date": ""})  # nothing promised: no date


def test_the_reply_page_shows_the_horizon_in_english_too(client, demo_db):
    with time_machine.travel(T0, tick=False):
        item_id = _to_reply(demo_db)
        with demo_db.reading() as s:
            task_id = task_for(s, item_id, "draft_reply").id
        login(client, "jtj_staff")
        form = {"csrf_token": csrf_token(client, f"/tasks/{task_id}"), **REPLY, "promised_date": "2999-01-01"}
        html = client.post(f"/tasks/{task_id}", data=form).get_data(as_text=True)
        assert "不能晚于 2028-12-31（后年年底）" in html and 'value="2999-01-01"' in html
        client.get("/lang/en")
        form["csrf_token"] = csrf_token(client, f"/tasks/{task_id}")
        html = client.post(f"/tasks/{task_id}", data=form).get_data(as_text=True)
        assert "Cannot be later than 2028-12-31 (the end of the year after next)" in html


# --- 3. the item's number ----------------------------------------------------------------------------------------

GOOD_NUMBERS = ["JY2026-101", "提2026-12", "TA2026/7", "A.1", "x_y-z", "7"]
BAD_NUMBERS = ["../../etc", "..", "a..b", "/etc/passwd", "a/", "-a", "a-", ".a", "a//b", "a-/b", "a b", "a\\b",
               "C:x", "a\tb", "%2e%2e", "ＪＹ１"]


@pytest.mark.parametrize("number", BAD_NUMBERS)
def test_registration_refuses_a_number_that_is_no_plain_identifier(demo_db, number):
    with demo_db.transaction() as s:
        with pytest.raises(FormInvalid) as exc:
            register_item(s, {"item_type": "suggestion", "title": "关于某事的建议", "content": "内容。",
                              "proposer": "deputy_chen", "number": number}, user(s, "office"))
    # a control character is refused as one, before the number's own rule
    assert [(e.field, e.code) for e in exc.value.errors] == [("number", "control" if "\t" in number else "item_number")]


def test_registration_takes_plain_numbers(demo_db):
    with demo_db.transaction() as s:
        numbers = [register_item(s, {"item_type": "suggestion", "title": f"关于某事的建议{n}", "content": "内容。",
                                     "proposer": "deputy_chen", "number": n}, user(s, "office")).number
                   for n in GOOD_NUMBERS]
    assert numbers == GOOD_NUMBERS


def test_the_registration_page_says_what_a_number_may_hold(client, demo_db):
    login(client, "office")
    r = client.post("/items/new", data={"csrf_token": csrf_token(client, "/items/new"), "item_type": "suggestion",
                                        "title": "关于某事的建议", "content": "内容。", "proposer": "deputy_chen",
                                        "number": "../../etc"})
    html = r.get_data(as_text=True)
    assert r.status_code == 400 and "编号只能由字母、数字" in html and 'value="../../etc"' in html


def test_the_api_refuses_the_same_numbers_and_documents_the_pattern(client, demo_db):
    office = auth(token_for(demo_db, "office"))
    body = {"item_type": "suggestion", "title": "关于某事的建议", "content": "内容。", "proposer": "deputy_chen"}
    for number in ("../../etc", "a..b", "JY2026-"):
        r = client.post("/api/v1/items", json={**body, "number": number}, headers=office)
        assert r.status_code == 422, (number, r.get_json())
        assert [e["field"] for e in r.get_json()["errors"]] == ["number"]
    r = client.post("/api/v1/items", json={**body, "number": "提2026-12"}, headers=office)
    assert r.status_code == 201 and r.get_json()["number"] == "提2026-12"
    schema = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]["Registration"]
    assert schema["properties"]["number"]["pattern"]
