"""延期 of a 分办 unit's own reply deadline (`sep_reply`), through the real BPMN, the controlled clock and the web
pages: the unit asks before its deadline and within 6 months of assignment, the office decides in its inbox, and
an approval moves that unit's part only (its ledger row, its overdue and reminder timers), never another unit's
part nor the lead unit's reply deadline; the board and the statistics read the new date."""
from __future__ import annotations

from datetime import date, datetime

import pytest
import time_machine
from sqlalchemy import select

from engine.items.extensions import decide_extension, request_extension
from engine.models import Deadline, ExtensionRequest, Item
from engine.reports.statistics import item_facts, part_facts
from engine.workflow.forms import FormInvalid
from engine.workflow.sweep import sweep
from tests.conftest import user
from tests.test_followup import PLEDGE, as_user, new_item, notes, post
from tests.test_lifecycle import do
from tests.test_separate import T0, deadlines, part_reply, units


def _assigned_with_parts(db, title):
    """Lead 住建局, 分办 交通局 and 卫健委; 交通局 signs for its part and pledges (its handling has begun)."""
    item_id = new_item(db, title)
    do(db, item_id, "office", "assign_item", assign_decision="assign", lead_unit="zjj", separate_units=["jtj", "wjw"])
    do(db, item_id, "jtj_staff", "sep_sign_for", sep_sign_decision="sign")
    do(db, item_id, "jtj_head", "sep_pledge", **PLEDGE)
    return item_id


def _ask(db, item_id, username, new_date, reason="需协调多个部门。"):
    with db.transaction() as s:
        return request_extension(s, s.get(Item, item_id), user(s, username), new_date, reason).id


def _refusal(db, item_id, username, new_date):
    with db.transaction() as s:
        with pytest.raises(FormInvalid) as exc:
            request_extension(s, s.get(Item, item_id), user(s, username), new_date, "来不及。")
    return exc.value.errors[0]


def test_an_approved_extension_moves_only_that_units_part_its_reminders_board_and_figures(client, demo_db):
    db = demo_db
    u = units(db)
    with time_machine.travel(T0, tick=False):
        item_id = _assigned_with_parts(db, "关于公交线路优化的建议")
        assert deadlines(db, item_id, "sep_reply") == {("jtj", date(2026, 6, 2), "open"), ("wjw", date(2026, 6, 2), "open")}
        # Six months from assignment (2026-03-02) at most.
        assert _refusal(db, item_id, "jtj_staff", "2026-12-31").code == "not_after"
        req_id = _ask(db, item_id, "jtj_staff", "2026-08-31")
        # A second request of the same part waits for the first; the lead unit's own request is its own.
        assert _refusal(db, item_id, "jtj_head", "2026-08-20").code == "pending"
        do(db, item_id, "zjj_staff", "sign_for", sign_decision="sign")
        do(db, item_id, "zjj_head", "pledge", **PLEDGE)
        lead_req = _ask(db, item_id, "zjj_staff", "2026-07-31")
        with db.transaction() as s:
            decide_extension(s, lead_req, user(s, "office"), False, "不同意。")
            decide_extension(s, req_id, user(s, "office"), True, "同意。")
    with db.reading() as s:
        rows = {d.unit_id: d for d in s.scalars(
            select(Deadline).where(Deadline.item_id == item_id, Deadline.key == "sep_reply"))}
        jtj, wjw = rows[u["jtj"]], rows[u["wjw"]]
        assert (jtj.due_date, jtj.original_due_date, jtj.extended) == (date(2026, 8, 31), date(2026, 6, 2), True)
        assert (wjw.due_date, wjw.extended) == (date(2026, 6, 2), False)  # another unit's part does not move
        lead = s.scalars(select(Deadline).where(Deadline.item_id == item_id, Deadline.key == "reply")).one()
        assert (lead.due_date, lead.extended) == (date(2026, 6, 2), False)  # nor the lead unit's deadline
        assert s.get(ExtensionRequest, req_id).status == "approved"
    assert any("区交通运输局" in n and "2026-08-31" in n for n in notes(db, "deputy_chen", item_id))
    assert any("2026-08-31" in n for n in notes(db, "jtj_staff", item_id))
    assert not any("2026-08-31" in n for n in notes(db, "zjj_staff", item_id))

    # Reminders 15 days before: 卫健委's at the old date, 交通局's only at its new one.
    with time_machine.travel(datetime(2026, 5, 20, 10), tick=False):
        sweep(db)
    assert "催办提醒：分办答复将于 2026-06-02 到期" in notes(db, "wjw_staff", item_id)
    assert not any("分办答复" in n for n in notes(db, "jtj_staff", item_id))
    # After the old date: 卫健委's part is late on the board, 交通局's is not.
    with time_machine.travel(datetime(2026, 6, 3, 10), tick=False):
        sweep(db)
        assert deadlines(db, item_id, "sep_reply") == {("jtj", date(2026, 8, 31), "open"),
                                                        ("wjw", date(2026, 6, 2), "overdue")}
        as_user(client, "office")
        with db.reading() as s:
            number = s.get(Item, item_id).number
        assert number in client.get(f"/supervision/?unit={u['wjw']}&deadline=sep_reply&show=overdue").get_data(as_text=True)
        assert number not in client.get(f"/supervision/?unit={u['jtj']}&deadline=sep_reply&show=overdue").get_data(as_text=True)
    with time_machine.travel(datetime(2026, 8, 17, 10), tick=False):
        sweep(db)
    assert "催办提醒：分办答复将于 2026-08-31 到期" in notes(db, "jtj_staff", item_id)

    # 交通局 replies after its old date, before the new one: on time, flagged as extended, in its figures.
    with time_machine.travel(datetime(2026, 8, 25, 10), tick=False):
        part_reply(db, item_id, "jtj")
        assert ("jtj", date(2026, 8, 31), "met") in deadlines(db, item_id, "sep_reply")
        with db.reading() as s:
            today = date(2026, 8, 25)
            parts = {p.lead_unit_id: p for p in part_facts(s, item_facts(s, 2026, today), today)
                     if p.id == item_id and p.separate}
    assert (parts[u["jtj"]].on_time, parts[u["jtj"]].due, parts[u["jtj"]].original_due, parts[u["jtj"]].extended) == \
        (True, date(2026, 8, 31), date(2026, 6, 2), True)
    assert (parts[u["wjw"]].on_time, parts[u["wjw"]].extended) == (False, False)


def test_a_part_extension_is_refused_after_its_deadline_and_a_refusal_keeps_the_date(demo_db):
    db = demo_db
    with time_machine.travel(T0, tick=False):
        item_id = _assigned_with_parts(db, "关于社区医院夜间门诊的建议")
        # 卫健委 has not signed for its part: its handling has not begun.
        assert _refusal(db, item_id, "wjw_staff", "2026-07-31").code == "not_started"
        req_id = _ask(db, item_id, "jtj_staff", "2026-07-31")
        with db.transaction() as s:
            decide_extension(s, req_id, user(s, "office"), False, "理由不充分。")
    assert ("jtj", date(2026, 6, 2), "open") in deadlines(db, item_id, "sep_reply")
    assert any("未同意" in n and "2026-06-02" in n for n in notes(db, "jtj_staff", item_id))
    assert not any("2026-07-31" in n for n in notes(db, "deputy_chen", item_id))
    with time_machine.travel(datetime(2026, 6, 3, 10), tick=False):
        sweep(db)
        error = _refusal(db, item_id, "jtj_staff", "2026-08-31")
    assert error.code == "too_late" and "2026-06-02" in error.message()


def test_a_part_that_replied_while_its_request_waited_is_not_extended(demo_db):
    db = demo_db
    with time_machine.travel(T0, tick=False):
        item_id = _assigned_with_parts(db, "关于慢行系统建设的建议")
        req_id = _ask(db, item_id, "jtj_staff", "2026-07-31")
        part_reply(db, item_id, "jtj")  # its deadline is met: there is nothing left to move
        with db.transaction() as s:
            with pytest.raises(FormInvalid) as exc:
                decide_extension(s, req_id, user(s, "office"), True, "同意。")
        assert exc.value.errors[0].code == "no_deadline"
        with db.transaction() as s:
            decide_extension(s, req_id, user(s, "office"), False, "已答复，无需延期。")
    assert ("jtj", date(2026, 6, 2), "met") in deadlines(db, item_id, "sep_reply")
    assert not any("2026-07-31" in n for n in notes(db, "deputy_chen", item_id))


def test_a_separate_unit_asks_on_the_item_page_and_the_office_approves_in_its_inbox(client, demo_db):
    db = demo_db
    with time_machine.travel(T0, tick=False):
        item_id = _assigned_with_parts(db, "关于增设公交候车亭的建议")
        page = f"/items/{item_id}"
        as_user(client, "jtj_staff")
        assert "申请延期" in client.get(page).get_data(as_text=True)
        as_user(client, "wjw_staff")  # not signed for yet: no form
        assert "提交延期申请" not in client.get(page).get_data(as_text=True)
        as_user(client, "jtj_staff")
        r = post(client, f"/supervision/items/{item_id}/extension", page, new_date="2026-08-31", reason="需协调规划审批。")
        assert r.status_code == 302
        as_user(client, "office")
        inbox = client.get("/tasks/").get_data(as_text=True)
        assert "审批延期申请" in inbox and "区交通运输局" in inbox
        with db.reading() as s:
            req = s.scalars(select(ExtensionRequest).where(ExtensionRequest.item_id == item_id)).one()
        # On the item page the request names the part it is for, beside the lead unit's requests.
        assert "分办 区交通运输局 · 延期申请" in client.get(page).get_data(as_text=True)
        post(client, f"/supervision/extensions/{req.id}", page, decision="approve", opinion="同意")
        html = client.get(page).get_data(as_text=True)
        assert "2026-08-31" in html and "原期限 2026-06-02" in html
        parts = html[html.index('id="separate-parts"'):]
        jtj = parts[parts.index('data-unit="jtj"'):]
        jtj = jtj[:jtj.index("</tr>")]
        assert "2026-08-31" in jtj and "原期限 2026-06-02" in jtj
    assert ("jtj", date(2026, 8, 31), "open") in deadlines(db, item_id, "sep_reply")


def test_a_part_extension_approval_that_fails_is_an_incident_and_the_retry_moves_only_that_part(client, demo_db):
    from tests.test_incident_commands import _failed_once, _fix_and_retry, _instance, _onto
    from tests.test_incidents import GOOD, _as
    db = demo_db
    # The part's reminder fails for any reply date after the current one: only the approval meets it.
    broken = GOOD.replace(b"remind_at(sep_reply_due, rules['reminder_leads'][0])",
                          b"remind_at(sep_reply_due, rules['reminder_leads'][0]) if sep_reply_due &lt; '2026-06-03' "
                          b"else rules['no_such_rule']")
    assert broken != GOOD
    with time_machine.travel(T0, tick=False):
        item_id = _assigned_with_parts(db, "关于公交站台无障碍改造的建议")
        broken_id = _onto(db, item_id, broken)
        page = f"/items/{item_id}"
        as_user(client, "jtj_staff")
        post(client, f"/supervision/items/{item_id}/extension", page, new_date="2026-08-31", reason="需协调。")
        with db.reading() as s:
            req = s.scalars(select(ExtensionRequest).where(ExtensionRequest.item_id == item_id)).one()
            version = _instance(s, item_id).version
        _as(client, "office")
        r = post(client, f"/supervision/extensions/{req.id}", page, decision="approve", opinion="同意")
        incident = _failed_once(client, db, item_id, r, "extension", version)
        with db.reading() as s:
            assert s.get(ExtensionRequest, req.id).status == "pending"
        assert deadlines(db, item_id, "sep_reply") == {("jtj", date(2026, 6, 2), "open"), ("wjw", date(2026, 6, 2), "open")}
        _fix_and_retry(client, db, item_id, broken_id, GOOD + b"\n", incident, "同意延期")
    with db.reading() as s:
        assert s.get(ExtensionRequest, req.id).status == "approved"
    assert deadlines(db, item_id, "sep_reply") == {("jtj", date(2026, 8, 31), "open"), ("wjw", date(2026, 6, 2), "open")}
