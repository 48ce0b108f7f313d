"""Every command that runs the workflow turns a process failure into an incident, through the browser.

An extension approval (it moves the reply timers), the office's waiver of a co-unit's opinion, its approval of
a co-unit's return, a take-back (改派) and a deadline recompute after a rule change each run BPMN expressions or
scripts. A process version that fails at that point must give an incident, no 500, the item as it was last
committed, and the admin's way out: deploy a fixed version, migrate the item in the browser, retry.
"""
from __future__ import annotations

from datetime import timedelta

import time_machine
from sqlalchemy import select

from engine import clock

from engine.models import Assignment, CoOpinion, Deadline, DeadlineRule, ExtensionRequest, Incident, ProcessInstance, \
    ReturnRequest
from engine.workflow.deployment import deploy
from engine.workflow.versions import migrate_version
from tests.conftest import csrf_token, login, user
from tests.test_followup import handle_to_reply, new_item, post
from tests.test_incidents import GOOD, _as, _migrate_in_browser
from tests.test_lifecycle import do, ready

FAILED = "本次操作未生效"  # what the user is told (engine.workflow.incidents.INCIDENT_MESSAGE)

# A script step after a co-unit's opinion, inside its part: it runs when the co-unit's opinion task completes.
CO_BROKEN = (GOOD
             .replace(b'<bpmn:sequenceFlow id="Flow_cohandle_w_end" sourceRef="cohandle" targetRef="w_end" />',
                      b'<bpmn:sequenceFlow id="Flow_cohandle_co_check" sourceRef="cohandle" targetRef="co_check" />'
                      b'<bpmn:sequenceFlow id="Flow_cohandle_w_end" sourceRef="co_check" targetRef="w_end" />'
                      b'<bpmn:scriptTask id="co_check" name="co check" scriptFormat="python">'
                      b'<bpmn:incoming>Flow_cohandle_co_check</bpmn:incoming>'
                      b'<bpmn:outgoing>Flow_cohandle_w_end</bpmn:outgoing>'
                      b"<bpmn:script>x = rules['no_such_rule']</bpmn:script></bpmn:scriptTask>")
             .replace(b"<bpmn:outgoing>Flow_cohandle_w_end</bpmn:outgoing>\n        </bpmn:userTask>",
                      b"<bpmn:outgoing>Flow_cohandle_co_check</bpmn:outgoing>\n        </bpmn:userTask>"))
assert CO_BROKEN.count(b"co_check") == 6, "the process no longer has the flow this test breaks"
# The gateway after the office's decision on a co-unit's return (a task of the office's since issue 12).
CO_RETURN_BROKEN = GOOD.replace(b"co_return_decision == 'approve'</bpmn:conditionExpression>",
                                b"co_return_decision == 'approve' and rules['no_such_rule']</bpmn:conditionExpression>")
assert CO_RETURN_BROKEN != GOOD
CO_FIXED = CO_BROKEN.replace(b"x = rules['no_such_rule']", b"x = 1")
# The gateway after the office's decision on a return: a take-back goes through it.
RETURN_BROKEN = GOOD.replace(b"return_decision == 'approve'</bpmn:conditionExpression>",
                             b"return_decision == 'approve' and rules['no_such_rule']</bpmn:conditionExpression>")


def _instance(s, item_id):
    return s.scalars(select(ProcessInstance).where(ProcessInstance.item_id == item_id)).one()


def _deploy(db, source: bytes) -> int:
    with db.transaction() as s:
        definition, _ = deploy(s, source, "item_handling.bpmn", "admin")
        return definition.id


def _onto(db, item_id, source: bytes) -> int:
    """Deploy `source` and move the item onto it (the item was fine on its version until then)."""
    with db.reading() as s:
        from_id, admin_id = _instance(s, item_id).definition_id, user(s, "admin").id
    target_id = _deploy(db, source)
    (result,) = migrate_version(db, from_id, target_id, admin_id, [item_id])
    assert result.ok, result.message
    return target_id


def _failed_once(client, db, item_id, response, action, version) -> Incident:
    """The command answered with a redirect and the incident message; the item kept its committed state."""
    assert response.status_code in (302, 303), response.status_code
    assert FAILED in client.get(response.headers["Location"]).get_data(as_text=True)
    with db.reading() as s:
        inst = _instance(s, item_id)
        assert inst.version == version and inst.status == "incident"
        (incident,) = s.scalars(select(Incident).where(Incident.item_id == item_id)).all()
        assert incident.status == "open" and incident.action == action and "no_such_rule" in incident.message
        return incident


def _fix_and_retry(client, db, item_id, broken_id, fixed: bytes, incident: Incident, outcome: str) -> None:
    """The admin's way out, in the browser: the fixed version, the item migrated onto it, the retry."""
    fixed_id = _deploy(db, fixed)
    _as(client, "admin")
    _migrate_in_browser(client, db, broken_id, fixed_id, item_id)
    r = client.post(f"/admin/incidents/{incident.id}/retry",
                    data={"csrf_token": csrf_token(client, "/admin/incidents/")})
    assert r.status_code == 302 and outcome in client.get(r.headers["Location"]).get_data(as_text=True)
    with db.reading() as s:
        inc = s.get(Incident, incident.id)
        assert inc.status == "resolved" and inc.resolved_by_id == user(s, "admin").id
        assert _instance(s, item_id).status == "running"


def _failed_extension(client, db):
    """An extension the housing bureau asks for in time, whose approval fails on the item's (broken) version:
    (item id, its reply deadline, the request, the incident, the broken version's id)."""
    item_id = new_item(db, "关于社区食堂的建议")
    handle_to_reply(db, item_id)  # the housing bureau handles it: the reply deadline and its reminders wait
    with db.reading() as s:
        reply = s.scalars(select(Deadline).where(Deadline.item_id == item_id, Deadline.key == "reply")).one()
    # The reminder's expression fails for any reply date after the current one: only the approval meets it.
    broken = GOOD.replace(b"remind_at(reply_due, rules['reminder_leads'][0])",
                          f"remind_at(reply_due, rules['reminder_leads'][0]) if reply_due &lt; "
                          f"'{reply.due_date + timedelta(days=1)}' else rules['no_such_rule']".encode())
    assert broken != GOOD
    broken_id = _onto(db, item_id, broken)
    login(client, "zjj_staff")
    post(client, f"/supervision/items/{item_id}/extension", f"/items/{item_id}",
         new_date=(reply.due_date + timedelta(days=30)).isoformat(), reason="需协调规划审批。")
    with db.reading() as s:
        req = s.scalars(select(ExtensionRequest).where(ExtensionRequest.item_id == item_id)).one()
        version = _instance(s, item_id).version
    _as(client, "office")
    r = post(client, f"/supervision/extensions/{req.id}", f"/items/{item_id}", decision="approve", opinion="同意")
    return item_id, reply, req, _failed_once(client, db, item_id, r, "extension", version), broken_id


def test_an_extension_approval_that_fails_is_an_incident_and_the_retry_approves_it(client, demo_db):
    db = demo_db
    item_id, reply, req, incident, broken_id = _failed_extension(client, db)
    with db.reading() as s:
        assert s.get(ExtensionRequest, req.id).status == "pending"
        assert s.get(Deadline, reply.id).due_date == reply.due_date
    _fix_and_retry(client, db, item_id, broken_id, GOOD + b"\n", incident, "同意延期")
    with db.reading() as s:
        assert s.get(ExtensionRequest, req.id).status == "approved"
        assert s.get(Deadline, reply.id).due_date == reply.due_date + timedelta(days=30)
        assert s.get(Deadline, reply.id).extended


def _failed_waiver(client, db):
    """An item with a silent co-unit (wjw) whose waiver fails on the item's version (the step after a
    co-unit's opinion is broken): (item id, the incident, the broken version's id)."""
    broken_id = _deploy(db, CO_BROKEN)
    item_id = new_item(db, "关于校园周边交通的建议")
    handle_to_reply(db, item_id, co_units=["wjw"])
    assert "co_sign_for" in ready(db, item_id)  # the co-unit never even signed for its part
    with db.reading() as s:
        version = _instance(s, item_id).version
    login(client, "office")
    r = post(client, f"/items/{item_id}/waive", f"/items/{item_id}", unit="wjw", reason="逾期未复，电话确认无意见。")
    return item_id, _failed_once(client, db, item_id, r, "waive", version), broken_id


def test_a_waiver_that_fails_is_an_incident_and_the_retry_waives_the_opinion(client, demo_db):
    db = demo_db
    item_id, incident, broken_id = _failed_waiver(client, db)
    with db.reading() as s:
        assert s.scalars(select(CoOpinion).where(CoOpinion.item_id == item_id)).all() == []
    assert "co_sign_for" in ready(db, item_id)  # nothing of the waiver was kept
    _fix_and_retry(client, db, item_id, broken_id, CO_FIXED, incident, "免除协办意见")
    with db.reading() as s:
        assert s.scalars(select(CoOpinion).where(CoOpinion.item_id == item_id)).one().waived
    assert ready(db, item_id) == ["draft_reply"]


def test_a_co_return_approval_that_fails_is_an_incident_and_the_retry_approves_it(client, demo_db):
    from engine.items import cohandling
    from engine.models import Item

    db = demo_db
    broken_id = _deploy(db, CO_RETURN_BROKEN)
    item_id = new_item(db, "关于口袋公园建设的建议")
    handle_to_reply(db, item_id, co_units=["wjw"])
    with db.transaction() as s:
        req_id = cohandling.ask_return_part(s, user(s, "wjw_staff"), s.get(Item, item_id), "不属于本委。").id
    with db.reading() as s:
        version = _instance(s, item_id).version
    login(client, "office")
    r = post(client, f"/items/co-returns/{req_id}", f"/items/{item_id}", decision="approve", opinion="同意")
    incident = _failed_once(client, db, item_id, r, "complete", version)  # the office's task
    with db.reading() as s:
        assert s.get(ReturnRequest, req_id).decision is None
        part = s.scalars(select(Assignment).where(Assignment.item_id == item_id, Assignment.role == "co")).one()
        assert part.status == "return_requested" and part.ended_at is None
    _fix_and_retry(client, db, item_id, broken_id, GOOD + b"\n", incident, "已按原提交内容重新办理")
    with db.reading() as s:
        assert s.get(ReturnRequest, req_id).decision == "approve"
    assert ready(db, item_id) == ["draft_reply"]


def _failed_take_back(client, db):
    """An item assigned to the traffic bureau, whose take-back fails on the item's version (only a return
    fails on it): (item id, the incident, the broken version's id)."""
    broken_id = _deploy(db, RETURN_BROKEN)
    item_id = new_item(db, "关于老旧小区改造的建议")
    do(db, item_id, "office", "assign_item", assign_decision="assign", lead_unit="jtj")
    with db.reading() as s:
        version = _instance(s, item_id).version
    login(client, "office")
    r = post(client, f"/supervision/items/{item_id}/take-back", f"/items/{item_id}", reason="职责划分调整。")
    return item_id, _failed_once(client, db, item_id, r, "take_back", version), broken_id


def test_a_take_back_that_fails_is_an_incident_and_the_retry_takes_the_item_back(client, demo_db):
    db = demo_db
    item_id, incident, broken_id = _failed_take_back(client, db)
    assert ready(db, item_id) == ["sign_for"]  # neither step of the take-back was kept
    _fix_and_retry(client, db, item_id, broken_id, GOOD + b"\n", incident, "改派")
    assert ready(db, item_id) == ["assign_item"]


def test_a_recompute_that_fails_is_an_incident_and_the_rule_change_goes_through(client, demo_db):
    db = demo_db
    item_id = new_item(db, "关于背街小巷照明的建议")
    handle_to_reply(db, item_id)
    with db.reading() as s:
        reply = s.scalars(select(Deadline).where(Deadline.item_id == item_id, Deadline.key == "reply")).one()
    # The reply step's script fails for any reply date after the current one: a longer rule meets it.
    broken = GOOD.replace(b"    reply_due = due_at(rules['reply'], assigned_on)</bpmn:script>",
                          f"    reply_due = due_at(rules['reply'], assigned_on)\nif reply_due &gt;= "
                          f"'{reply.due_date + timedelta(days=1)}':\n    x = rules['no_such_rule']</bpmn:script>"
                          .encode())
    assert broken != GOOD
    broken_id = _onto(db, item_id, broken)
    with db.reading() as s:
        version = _instance(s, item_id).version
    login(client, "admin")
    r = post(client, "/admin/calendar/rules", "/admin/calendar/?year=2026", year="2026", reply="4M",
             reply_fixed_date="")
    assert r.status_code == 302
    assert "已记为流程故障" in client.get(r.headers["Location"].split("#")[0]).get_data(as_text=True)
    with db.reading() as s:
        assert s.scalars(select(DeadlineRule.rule).where(DeadlineRule.year == 2026, DeadlineRule.key == "reply")
                         ).one() == "4M"  # the change itself went through
        inst = _instance(s, item_id)
        assert inst.version == version and inst.status == "incident"
        incident = s.scalars(select(Incident).where(Incident.item_id == item_id)).one()
        assert incident.action == "recompute" and "no_such_rule" in incident.message
        assert s.get(Deadline, reply.id).due_date == reply.due_date
    _fix_and_retry(client, db, item_id, broken_id, GOOD + b"\n", incident, "重算期限")
    with db.reading() as s:
        assert s.get(Deadline, reply.id).due_date > reply.due_date


def test_an_extension_approval_retried_after_the_date_closes_the_incident_and_leaves_the_request_to_refuse(
        client, demo_db):
    """The retry comes after the reply date: the approval can no longer be given (extensions.lapsed). The
    incident is closed saying so rather than failing at every retry with the item held; the request waits
    for the office, who may refuse it."""
    db = demo_db
    item_id, reply, req, incident, broken_id = _failed_extension(client, db)
    with time_machine.travel(clock.now() + timedelta(days=(reply.due_date - clock.today()).days + 2), tick=False):
        _fix_and_retry(client, db, item_id, broken_id, GOOD + b"\n", incident,
                       f"答复期限 {reply.due_date} 已过，延期不能再同意")
        with db.reading() as s:
            assert s.get(ExtensionRequest, req.id).status == "pending"
            assert s.get(Deadline, reply.id).due_date == reply.due_date
        _as(client, "office")
        post(client, f"/supervision/extensions/{req.id}", f"/items/{item_id}", decision="refuse", opinion="已逾期")
        with db.reading() as s:
            assert s.get(ExtensionRequest, req.id).status == "refused"


def test_refusing_an_extension_whose_approval_failed_closes_that_incident(client, demo_db):
    """The office changes its mind (or the date passes and only a refusal is left): the refusal is the
    request's decision, and the failed approval no longer holds the item."""
    db = demo_db
    item_id, _reply, req, incident, _broken_id = _failed_extension(client, db)
    post(client, f"/supervision/extensions/{req.id}", f"/items/{item_id}", decision="refuse", opinion="不同意")
    with db.reading() as s:
        assert s.get(ExtensionRequest, req.id).status == "refused"
        closed = s.get(Incident, incident.id)
        assert closed.status == "resolved" and closed.resolved_by_id == user(s, "office").id
        assert _instance(s, item_id).status == "running"


def test_a_unit_signing_for_after_a_failed_take_back_closes_that_incident(client, demo_db):
    """The office's take-back failed; the unit then signs for the item itself: there is nothing left to take
    back, and the failed command no longer holds the item and its timers."""
    db = demo_db
    item_id, incident, _broken_id = _failed_take_back(client, db)
    do(db, item_id, "jtj_staff", "sign_for", sign_decision="sign")  # no return: the version runs it
    with db.reading() as s:
        closed = s.get(Incident, incident.id)
        assert closed.status == "resolved" and closed.resolved_by_id == user(s, "jtj_staff").id
        assert _instance(s, item_id).status == "running"


def test_a_co_unit_answering_after_a_failed_waiver_closes_that_incident(client, demo_db):
    db = demo_db
    item_id, incident, broken_id = _failed_waiver(client, db)
    fixed_id = _deploy(db, CO_FIXED)  # the admin fixes the version and moves the item, but does not retry yet
    _as(client, "admin")
    _migrate_in_browser(client, db, broken_id, fixed_id, item_id)
    do(db, item_id, "wjw_staff", "co_sign_for", co_sign_decision="sign")
    do(db, item_id, "wjw_staff", "cohandle", co_opinion="同意主办单位意见。")
    with db.reading() as s:
        closed = s.get(Incident, incident.id)
        assert closed.status == "resolved" and closed.resolved_by_id == user(s, "wjw_staff").id
        assert _instance(s, item_id).status == "running"
        assert not s.scalars(select(CoOpinion).where(CoOpinion.item_id == item_id)).one().waived


def test_an_extension_approval_retried_after_the_reply_went_out_closes_as_gone(client, demo_db):
    """The unit replied while the failed approval waited: nothing is left to extend, and the retry closes
    the incident instead of failing on it at every attempt."""
    from tests.test_followup import reply_approved
    db = demo_db
    item_id, reply, req, incident, broken_id = _failed_extension(client, db)
    reply_approved(db, item_id)
    with db.reading() as s:
        assert s.get(Deadline, reply.id).status == "met"
    _fix_and_retry(client, db, item_id, broken_id, GOOD + b"\n", incident, "故障已关闭")
    with db.reading() as s:
        assert s.get(ExtensionRequest, req.id).status == "pending"
        assert s.get(Deadline, reply.id).due_date == reply.due_date
