"""A failing BPMN script leaves the item at its last committed state, with an incident an admin can retry."""
from __future__ import annotations

from sqlalchemy import func, select

import pytest

from engine import clock
from engine.config import PROCESSES_DIR
from engine.workflow.deployment import deploy
from engine.workflow.incidents import ProcessFailed
from engine.workflow.recovery import retry
from engine.models import Incident, Pledge, ProcessInstance
from engine.items.registration import register_item
from engine.workflow.runtime import complete
from tests.conftest import PledgeForm, login, csrf_token, task_for, user

GOOD = (PROCESSES_DIR / "item_handling.bpmn").read_bytes()
BROKEN = GOOD.replace(b"reply_due = due_at(rules['reply'], assigned_on)",
                      b"reply_due = due_at(rules['no_such_rule'], assigned_on)")


def item_on(demo_db, bpmn: bytes):
    """An item registered on a deployed variant of the process, and a way to complete its steps as a user."""
    with demo_db.transaction() as s:
        deploy(s, bpmn, "item_handling.bpmn", "admin")
        item_id = register_item(s, {"item_type": "suggestion", "title": "关于路灯的建议", "content": "路灯不亮。",
                                    "proposer": "deputy_chen"}, user(s, "office")).id

    def do(username, spec, **form):
        with demo_db.reading() as s:
            row, uid = task_for(s, item_id, spec), user(s, username).id
        return complete(demo_db, row.id, uid, form)
    return item_id, do

def test_failed_script_becomes_an_incident_and_retry_applies_the_submission(demo_db):
    assert BROKEN != GOOD
    item_id, do = item_on(demo_db, BROKEN)
    do("office", "assign_item", assign_decision="assign", lead_unit="jtj")
    do("jtj_staff", "sign_for", sign_decision="sign")
    pledge = PledgeForm(responsible_leader="副局长", contact_person="李", contact_phone="13800000001", plan="修复")
    with demo_db.reading() as s:
        version_before = s.scalars(select(ProcessInstance).where(ProcessInstance.item_id == item_id)).one().version
    with pytest.raises(ProcessFailed) as exc:
        do("jtj_head", "pledge", **pledge)
    assert "计算答复期限" in str(exc.value)
    with demo_db.reading() as s:
        inst = s.scalars(select(ProcessInstance).where(ProcessInstance.item_id == item_id)).one()
        assert inst.version == version_before and inst.status == "incident"  # last committed state
        assert task_for(s, item_id, "pledge") is not None
        assert s.scalar(select(func.count()).select_from(Pledge).where(Pledge.item_id == item_id)) == 0
        incident = s.scalars(select(Incident).where(Incident.item_id == item_id)).one()
        assert incident.error_type == "KeyError" and incident.line == 8 and "no_such_rule" in incident.message
        assert incident.submitted["plan"] == "修复"
        admin = user(s, "admin")
    # Retrying before the cause is fixed fails again and keeps the incident open.
    with pytest.raises(Exception):
        retry(demo_db, incident.id, admin)
    # The admin deploys the fixed process and moves the item onto it, then retries: nothing was lost.
    with demo_db.transaction() as s:
        fixed, _ = deploy(s, GOOD + b"\n", "item_handling.bpmn", "admin")
        s.get(ProcessInstance, inst.id).definition_id = fixed.id
    retry(demo_db, incident.id, admin)
    with demo_db.reading() as s:
        assert s.scalars(select(Pledge).where(Pledge.item_id == item_id)).one().plan == "修复"
        assert s.get(Incident, incident.id).status == "resolved"
        assert s.get(ProcessInstance, inst.id).status == "running"
        assert task_for(s, item_id, "consult") is not None


def test_incident_page_is_for_admins_and_shows_the_error(client, demo_db):
    with demo_db.transaction() as s:
        deploy(s, BROKEN, "item_handling.bpmn", "admin")
        item_id = register_item(s, {"item_type": "suggestion", "title": "关于路灯的建议", "content": "路灯不亮。",
                                    "proposer": "deputy_chen"}, user(s, "office")).id
    login(client, "office")
    with demo_db.reading() as s:
        row = task_for(s, item_id, "assign_item")
    token = csrf_token(client, f"/tasks/{row.id}")
    client.post(f"/tasks/{row.id}", data={"csrf_token": token, "assign_decision": "assign", "lead_unit": "jtj"})
    client.post("/logout", data={"csrf_token": token})
    login(client, "jtj_staff")
    with demo_db.reading() as s:
        row = task_for(s, item_id, "sign_for")
    token = csrf_token(client, f"/tasks/{row.id}")
    client.post(f"/tasks/{row.id}", data={"csrf_token": token, "sign_decision": "sign"})
    client.post("/logout", data={"csrf_token": token})
    login(client, "jtj_head")
    with demo_db.reading() as s:
        row = task_for(s, item_id, "pledge")
    token = csrf_token(client, f"/tasks/{row.id}")
    r = client.post(f"/tasks/{row.id}", data={"csrf_token": token, "responsible_leader": "a", "contact_person": "b",
                                             "contact_phone": "13800000001", "plan": "d", "target_date": clock.today().isoformat()})
    assert r.status_code == 302 and "本次操作未生效" in client.get(r.headers["Location"]).get_data(as_text=True)
    assert r.headers["Location"].endswith(f"/items/{item_id}")  # back to the item the incident holds
    assert client.get("/admin/incidents/").status_code == 403
    client.post("/logout", data={"csrf_token": csrf_token(client, "/tasks/")})
    login(client, "admin")
    html = client.get("/admin/incidents/").get_data(as_text=True)
    assert "KeyError" in html and "no_such_rule" in html and "重试" in html


# --- the lifecycle: open -> (fix deployed, item migrated in the browser) -> resolved -------------------------

START_BROKEN = (GOOD
                .replace(b'<bpmn:sequenceFlow id="Flow_start_assign_merge" sourceRef="start" targetRef="assign_merge" />',
                         b'<bpmn:sequenceFlow id="Flow_start_boom" sourceRef="start" targetRef="boom" />'
                         b'<bpmn:sequenceFlow id="Flow_start_assign_merge" sourceRef="boom" targetRef="assign_merge" />'
                         b'<bpmn:scriptTask id="boom" name="start check" scriptFormat="python">'
                         b'<bpmn:incoming>Flow_start_boom</bpmn:incoming>'
                         b'<bpmn:outgoing>Flow_start_assign_merge</bpmn:outgoing>'
                         b"<bpmn:script>x = rules['no_such_rule']</bpmn:script></bpmn:scriptTask>")
                .replace(b"<bpmn:outgoing>Flow_start_assign_merge</bpmn:outgoing>\n    </bpmn:startEvent>",
                         b"<bpmn:outgoing>Flow_start_boom</bpmn:outgoing>\n    </bpmn:startEvent>"))
# The fix keeps the step (a migration needs the passed steps to exist) with a working script.
START_FIXED = START_BROKEN.replace(b"x = rules['no_such_rule']", b"x = 1")

PLEDGE = PledgeForm(responsible_leader="副局长", contact_person="李", contact_phone="13800000001", plan="修复")


def _as(client, username):
    client.post("/logout", data={"csrf_token": csrf_token(client, "/login")})
    login(client, username)


def _submit(client, demo_db, item_id, spec, **form):
    with demo_db.reading() as s:
        row = task_for(s, item_id, spec)
    token = csrf_token(client, f"/tasks/{row.id}")
    return client.post(f"/tasks/{row.id}", data={"csrf_token": token, **form})


def _at_pledge_on_broken(client, demo_db) -> tuple[int, int]:
    """An item on the BROKEN process (deployed here; its id first), assigned and signed for in the browser;
    the client is the unit head who signs its pledge, the step that fails."""
    with demo_db.transaction() as s:
        broken, _ = deploy(s, BROKEN, "item_handling.bpmn", "admin")
        item_id = register_item(s, {"item_type": "suggestion", "title": "关于路灯的建议", "content": "路灯不亮。",
                                    "proposer": "deputy_chen"}, user(s, "office")).id
        broken_id = broken.id
    login(client, "office")
    _submit(client, demo_db, item_id, "assign_item", assign_decision="assign", lead_unit="jtj")
    _as(client, "jtj_staff")
    _submit(client, demo_db, item_id, "sign_for", sign_decision="sign")
    _as(client, "jtj_head")
    return broken_id, item_id


def _migrate_in_browser(client, demo_db, from_id, to_id, item_id):
    page = client.get(f"/admin/versions/{from_id}").get_data(as_text=True)
    assert f'value="{item_id}"' in page and "流程故障" in page  # the incident item is offered for migration
    r = client.post(f"/admin/versions/{from_id}/migrate", data={
        "csrf_token": csrf_token(client, f"/admin/versions/{from_id}"), "scope": "chosen", "item": str(item_id),
        "target": str(to_id)})
    assert r.status_code in (200, 302)
    with demo_db.reading() as s:
        inst = s.scalars(select(ProcessInstance).where(ProcessInstance.item_id == item_id)).one()
        assert inst.definition_id == to_id


def _fix_in_browser(client, demo_db, broken_id: int, item_id: int) -> None:
    """The admin deploys the fixed process and moves the item onto it from the version page; the client is
    the unit head again."""
    with demo_db.transaction() as s:
        fixed, _ = deploy(s, GOOD + b"\n", "item_handling.bpmn", "admin")
        fixed_id = fixed.id
    _as(client, "admin")
    _migrate_in_browser(client, demo_db, broken_id, fixed_id, item_id)
    _as(client, "jtj_head")


def test_resubmission_resolves_the_incident_once_and_the_item_runs_again(client, demo_db):
    from engine.models import Timer

    broken_id, item_id = _at_pledge_on_broken(client, demo_db)
    # Submitted twice while the process is broken: one open incident, not two.
    for _ in range(2):
        r = _submit(client, demo_db, item_id, "pledge", **PLEDGE)
        assert r.status_code == 302
    with demo_db.reading() as s:
        (incident,) = s.scalars(select(Incident).where(Incident.item_id == item_id)).all()
        assert incident.status == "open" and incident.occurrences == 2
    # The admin deploys the fix and moves the incident item onto it from the version page.
    _fix_in_browser(client, demo_db, broken_id, item_id)
    # The handler resubmits: it goes through, the incident is resolved and the item runs again, timers too.
    r = _submit(client, demo_db, item_id, "pledge", **PLEDGE)
    assert r.status_code == 302
    with demo_db.reading() as s:
        inc = s.get(Incident, incident.id)
        assert inc.status == "resolved" and inc.resolved_by_id == user(s, "jtj_head").id
        inst = s.scalars(select(ProcessInstance).where(ProcessInstance.item_id == item_id)).one()
        assert inst.status == "running"
        assert s.scalar(select(func.count()).select_from(Timer).where(Timer.instance_id == inst.id)) > 0
        assert s.scalars(select(Pledge).where(Pledge.item_id == item_id)).one().plan == "修复"
    # The admin's retry of the resolved incident does nothing to the healthy item.
    _as(client, "admin")
    r = client.post(f"/admin/incidents/{incident.id}/retry", data={"csrf_token": csrf_token(client, "/admin/incidents/")})
    assert r.status_code == 302
    html = client.get("/admin/incidents/").get_data(as_text=True)
    assert "该故障已处理" in html and "已处理的流程故障" in html and "办理人重新提交成功" in html
    client.get("/lang/en")  # the refusal and the stored resolution are catalog messages: English here
    r = client.post(f"/admin/incidents/{incident.id}/retry", data={"csrf_token": csrf_token(client, "/admin/incidents/")})
    html = client.get("/admin/incidents/").get_data(as_text=True)
    assert "This incident is already resolved" in html and "The handler submitted the task again successfully" in html
    assert "办理人重新提交成功" not in html
    with demo_db.reading() as s:
        assert s.scalars(select(ProcessInstance).where(ProcessInstance.item_id == item_id)).one().status == "running"


def test_a_start_failure_keeps_the_registration_and_is_retried_after_migration(client, demo_db):
    assert START_BROKEN.count(b"boom") > 3
    with demo_db.transaction() as s:
        broken, _ = deploy(s, START_BROKEN, "item_handling.bpmn", "admin")
        broken_id = broken.id
    login(client, "office")
    r = client.post("/items/new", data={"csrf_token": csrf_token(client, "/items/new"), "item_type": "suggestion",
                                        "title": "关于路灯的建议", "content": "路灯不亮。", "proposer": "deputy_chen"})
    assert r.status_code == 302  # not a 500
    item_id = int(r.headers["Location"].rsplit("/", 1)[1])
    assert "流程启动出错" in client.get(r.headers["Location"]).get_data(as_text=True)
    with demo_db.reading() as s:
        incident = s.scalars(select(Incident).where(Incident.item_id == item_id)).one()
        assert incident.action == "start" and "no_such_rule" in incident.message
        assert task_for(s, item_id, "assign_item") is None
    with demo_db.transaction() as s:
        fixed, _ = deploy(s, START_FIXED, "item_handling.bpmn", "admin")
        fixed_id = fixed.id
    _as(client, "admin")
    _migrate_in_browser(client, demo_db, broken_id, fixed_id, item_id)
    r = client.post(f"/admin/incidents/{incident.id}/retry", data={"csrf_token": csrf_token(client, "/admin/incidents/")})
    html = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "流程已启动" in html and "系统管理员" in html or "admin" in html
    with demo_db.reading() as s:
        inc = s.get(Incident, incident.id)
        assert inc.status == "resolved" and inc.resolved_by_id == user(s, "admin").id and inc.resolved_at
        assert task_for(s, item_id, "assign_item") is not None
        assert s.scalars(select(ProcessInstance).where(ProcessInstance.item_id == item_id)).one().status == "running"


def test_a_migration_that_fails_is_an_incident_and_leaves_the_item_as_it_was(demo_db):
    from engine.workflow.versions import migrate_version

    timer_broken = GOOD.replace(b">sign_due</bpmn:timeDate>", b">sign_due + rules['no_such_rule']</bpmn:timeDate>")
    assert timer_broken != GOOD
    with demo_db.transaction() as s:
        item_id = register_item(s, {"item_type": "suggestion", "title": "关于路灯的建议", "content": "路灯不亮。",
                                    "proposer": "deputy_chen"}, user(s, "office")).id
    with demo_db.reading() as s:
        row, office_id = task_for(s, item_id, "assign_item"), user(s, "office").id
    complete(demo_db, row.id, office_id, {"assign_decision": "assign", "lead_unit": "jtj"})
    with demo_db.transaction() as s:
        inst = s.scalars(select(ProcessInstance).where(ProcessInstance.item_id == item_id)).one()
        from_id, version = inst.definition_id, inst.version
        target, _ = deploy(s, timer_broken, "item_handling.bpmn", "admin")
        target_id, admin_id = target.id, user(s, "admin").id
    (result,) = migrate_version(demo_db, from_id, target_id, admin_id, [item_id])  # no exception
    assert not result.ok and "no_such_rule" in result.message
    with demo_db.reading() as s:
        inst = s.scalars(select(ProcessInstance).where(ProcessInstance.item_id == item_id)).one()
        assert inst.definition_id == from_id and inst.version == version and inst.status == "running"
        incident = s.scalars(select(Incident).where(Incident.item_id == item_id)).one()
        assert incident.action == "migrate" and incident.submitted == {"target_id": target_id}


def test_an_instance_runs_again_only_when_none_of_its_incidents_is_open(demo_db):
    from SpiffWorkflow.exceptions import WorkflowException

    from engine.workflow.incidents import record

    with demo_db.transaction() as s:
        item_id = register_item(s, {"item_type": "suggestion", "title": "关于路灯的建议", "content": "路灯不亮。",
                                    "proposer": "deputy_chen"}, user(s, "office")).id
        inst_id = s.scalars(select(ProcessInstance.id).where(ProcessInstance.item_id == item_id)).one()
        admin = user(s, "admin")
    first = record(demo_db, inst_id, "timers", WorkflowException("first failure"))
    second = record(demo_db, inst_id, "complete", WorkflowException("second failure"), task_id="t-1", submitted={},
                    user_id=admin.id)
    again = record(demo_db, inst_id, "timers", WorkflowException("first failure, again"))
    assert again.id == first.id  # one open incident per instance, action, task and step
    retry(demo_db, first.id, admin)  # nothing due: the replay succeeds
    with demo_db.reading() as s:
        assert s.get(Incident, first.id).status == "resolved" and s.get(Incident, first.id).occurrences == 2
        assert s.get(ProcessInstance, inst_id).status == "incident"  # the other incident still holds it
    retry(demo_db, second.id, admin)  # its task is gone: closed without touching the item
    with demo_db.reading() as s:
        assert s.get(Incident, second.id).status == "resolved"
        assert s.get(ProcessInstance, inst_id).status == "running"


# --- a sandbox refusal, in the reader's language ------------------------------------------------------------

# Compiles (so the deploy accepts it) and is refused at run time: a range past the sandbox's limit.
SANDBOX_REFUSED = GOOD.replace(b"    reply_due = due_at(rules['reply'], assigned_on)",
                               b"    reply_due = due_at(rules['reply'], assigned_on) if len(range(5000000)) else None")


def sandbox_incident(demo_db) -> Incident:
    """An item whose pledge runs into the sandbox's refusal (an open incident)."""
    assert SANDBOX_REFUSED != GOOD
    item_id, do = item_on(demo_db, SANDBOX_REFUSED)
    do("office", "assign_item", assign_decision="assign", lead_unit="jtj")
    do("jtj_staff", "sign_for", sign_decision="sign")
    with pytest.raises(ProcessFailed):
        do("jtj_head", "pledge", **PLEDGE)
    with demo_db.reading() as s:
        return s.scalars(select(Incident).where(Incident.item_id == item_id)).one()


def test_a_sandbox_refusal_reads_in_the_readers_language_on_the_incident_and_item_pages(client, demo_db):
    """The refusal is stored as a catalog message with the incident: the Chinese admin reads it in Chinese
    only, the English one in English only, the failed step's name too; the timeline entry alike."""
    incident = sandbox_incident(demo_db)
    assert incident.error_type == "SandboxViolation"
    assert incident.error_message == ["range() 过大，最多 %(n)s 项", {"n": 1000000}]  # msgid, params
    login(client, "admin")
    client.get("/lang/zh")
    page = client.get("/admin/incidents/").get_data(as_text=True)
    assert "range() 过大，最多 1000000 项" in page and "larger than" not in page and "计算答复期限" in page
    item_page = client.get(f"/items/{incident.item_id}").get_data(as_text=True)
    assert "流程出错：计算答复期限" in item_page
    client.get("/lang/en")
    page = client.get("/admin/incidents/").get_data(as_text=True)
    assert "range() larger than 1000000 items" in page and "过大" not in page
    assert "Compute the reply deadline (set_reply_due)" in page and "计算答复期限" not in page
    item_page = client.get(f"/items/{incident.item_id}").get_data(as_text=True)
    assert "Process error: Compute the reply deadline" in item_page and "计算答复期限" not in item_page
    # The admins' notice of it, in English too.
    notices = client.get("/notifications/").get_data(as_text=True)
    assert "range() larger than 1000000 items" in notices and "过大" not in notices


def test_an_incident_stored_before_its_message_was_kept_shows_as_written(client, demo_db):
    incident = sandbox_incident(demo_db)
    with demo_db.transaction() as s:
        row = s.get(Incident, incident.id)
        row.error_message, row.message = None, "旧版记录：range() 过大"
    login(client, "admin")
    client.get("/lang/en")
    page = client.get("/admin/incidents/").get_data(as_text=True)
    assert "旧版记录：range() 过大" in page and "range() larger than" not in page


# --- a failed submission handed back to its submitter ----------------------------------------------------------

def test_a_submission_the_admin_cannot_retry_goes_back_to_its_submitter_who_submits_again(client, demo_db):
    """The trap: the submitter is told the admin was notified, the admin's retry keeps failing, the item is held.
    Handed back, the incident closes, the item runs again and the submitter is told where to submit again."""
    from engine.models import AuditEvent, Notification

    broken_id, item_id = _at_pledge_on_broken(client, demo_db)
    _submit(client, demo_db, item_id, "pledge", **PLEDGE)
    with demo_db.reading() as s:
        incident = s.scalars(select(Incident).where(Incident.item_id == item_id)).one()
        task_id = task_for(s, item_id, "pledge").id
        instance_id = incident.instance_id
        assert s.get(ProcessInstance, instance_id).status == "incident"
    _as(client, "admin")
    page = client.get("/admin/incidents/").get_data(as_text=True)
    assert "退回提交人" in page and f"/admin/incidents/{incident.id}/return" in page
    assert "提交人：" in page
    token = csrf_token(client, "/admin/incidents/")
    r = client.post(f"/admin/incidents/{incident.id}/retry", data={"csrf_token": token})
    html = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "重试仍然失败" in html and "退回提交人修改后重新提交" in html  # the way out is named
    r = client.post(f"/admin/incidents/{incident.id}/return", data={"csrf_token": token})
    assert r.status_code == 302
    html = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "已退回提交人重新提交" in html and "没有未处理的流程故障" in html
    with demo_db.reading() as s:
        inc = s.get(Incident, incident.id)
        assert inc.status == "resolved" and inc.resolved_by_id == user(s, "admin").id
        assert s.get(ProcessInstance, instance_id).status == "running"  # the sweep takes its timers again
        assert task_for(s, item_id, "pledge").id == task_id  # still the submitter's to do
        (notice,) = s.scalars(select(Notification).where(Notification.user_id == user(s, "jtj_head").id,
                                                         Notification.kind == "incident_returned")).all()
        assert notice.link == f"/tasks/{task_id}" and notice.item_id == item_id
        assert s.scalars(select(AuditEvent).where(AuditEvent.item_id == item_id,
                                                  AuditEvent.action == "incident_returned")).one().actor_id \
            == user(s, "admin").id
    assert "流程故障已退回" in client.get(f"/items/{item_id}").get_data(as_text=True)  # on the item's timeline
    # Handed back once only: a second click says so and changes nothing.
    client.post(f"/admin/incidents/{incident.id}/return", data={"csrf_token": token})
    assert "该故障已处理" in client.get("/admin/incidents/").get_data(as_text=True)
    # The submitter reads why and where, in their language.
    _as(client, "jtj_head")
    html = client.get("/notifications/").get_data(as_text=True)
    assert "未办理成功，请重新提交" in html and f"/tasks/{task_id}" in html
    client.get("/lang/en")
    html = client.get("/notifications/").get_data(as_text=True)
    assert "was not completed" in html and "did not take effect" in html and "未办理成功" not in html
    assert "您的提交未生效" not in html
    client.get("/lang/zh")
    # Once the process is fixed, the submitter's new submission goes through: no incident left behind.
    _fix_in_browser(client, demo_db, broken_id, item_id)
    assert _submit(client, demo_db, item_id, "pledge", **dict(PLEDGE, plan="更换灯具")).status_code == 302
    with demo_db.reading() as s:
        assert s.scalars(select(Pledge).where(Pledge.item_id == item_id)).one().plan == "更换灯具"
        assert task_for(s, item_id, "consult") is not None
        assert s.scalar(select(func.count()).select_from(Incident).where(Incident.status == "open")) == 0


def test_only_a_users_submission_goes_back_to_a_submitter(client, demo_db):
    with demo_db.transaction() as s:
        deploy(s, START_BROKEN, "item_handling.bpmn", "admin")
    login(client, "office")
    r = client.post("/items/new", data={"csrf_token": csrf_token(client, "/items/new"), "item_type": "suggestion",
                                        "title": "关于路灯的建议", "content": "路灯不亮。", "proposer": "deputy_chen"})
    item_id = int(r.headers["Location"].rsplit("/", 1)[1])
    with demo_db.reading() as s:
        incident = s.scalars(select(Incident).where(Incident.item_id == item_id)).one()
    assert incident.action == "start"
    # Not offered on the page, refused if posted, and nobody's page but an admin's.
    assert client.post(f"/admin/incidents/{incident.id}/return",
                       data={"csrf_token": csrf_token(client, "/tasks/")}).status_code == 403
    _as(client, "admin")
    page = client.get("/admin/incidents/").get_data(as_text=True)
    assert f"/admin/incidents/{incident.id}/retry" in page and f"/admin/incidents/{incident.id}/return" not in page
    client.post(f"/admin/incidents/{incident.id}/return", data={"csrf_token": csrf_token(client, "/admin/incidents/")})
    assert "只有用户提交的办理可以退回提交人" in client.get("/admin/incidents/").get_data(as_text=True)
    with demo_db.reading() as s:
        assert s.get(Incident, incident.id).status == "open"
        assert s.get(ProcessInstance, incident.instance_id).status == "incident"
    r = client.post("/admin/incidents/999999/return", data={"csrf_token": csrf_token(client, "/admin/incidents/")})
    assert r.status_code == 302 and "该故障已处理" in client.get("/admin/incidents/").get_data(as_text=True)
