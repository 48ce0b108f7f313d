"""A failing BPMN script leaves the item at its last committed state, with an incident an admin can retry."""
from __future__ import annotations

from sqlalchemy import func, select

import pytest

from engine.config import PROCESSES_DIR
from engine.workflow.deployment import deploy
from engine.workflow.incidents import ProcessFailed
from engine.workflow.recovery import retry
from engine.models import Incident, Pledge, ProcessInstance
from engine.items.registration import register_item
from engine.workflow.runtime import complete
from tests.conftest import login, csrf_token, task_for, user

GOOD = (PROCESSES_DIR / "item_handling.bpmn").read_bytes()
BROKEN = GOOD.replace(b"reply_due = due_at(rules['reply'], assigned_on)",
                      b"reply_due = due_at(rules['no_such_rule'], assigned_on)")


def test_failed_script_becomes_an_incident_and_retry_applies_the_submission(demo_db):
    assert BROKEN != GOOD
    with demo_db.transaction() as s:
        broken, _ = deploy(s, BROKEN, "item_handling.bpmn", "admin")
        item_id = register_item(s, {"item_type": "suggestion", "title": "关于路灯的建议", "content": "路灯不亮。",
                                    "proposer": "deputy_chen"}, user(s, "office")).id
    def do(username, spec, **form):
        with demo_db.reading() as s:
            row, uid = task_for(s, item_id, spec), user(s, username).id
        return complete(demo_db, row.id, uid, form)

    do("office", "assign_item", assign_decision="assign", lead_unit="jtj")
    do("jtj_staff", "sign_for", sign_decision="sign")
    pledge = dict(responsible_leader="副局长", contact_person="李", contact_phone="13800000001", plan="修复", target_date="2099-12-31")
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
                                             "contact_phone": "13800000001", "plan": "d", "target_date": "2099-12-31"})
    assert r.status_code == 302 and "本次操作未生效" in client.get(r.headers["Location"]).get_data(as_text=True)
    assert client.get("/admin/incidents/").status_code == 403
    client.post("/logout", data={"csrf_token": csrf_token(client, "/tasks/")})
    login(client, "admin")
    html = client.get("/admin/incidents/").get_data(as_text=True)
    assert "KeyError" in html and "no_such_rule" in html and "重试" in html
