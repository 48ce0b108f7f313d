"""Process admins' pages and the engine behind them: checked deploys, version pinning, migration (allowed and
refused), the live diagram and the step overview, and hostile uploads through the upload page."""
from __future__ import annotations

import io
import json
from datetime import timedelta

import time_machine
from lxml import etree
from sqlalchemy import func, select

from engine.config import PROCESSES_DIR
from engine.workflow.deployment import latest
from engine.models import AuditEvent, Item, ProcessDefinition, ProcessInstance, TaskRow, Timer
from engine.items.registration import register_item
from engine.workflow.safexml import MAX_BYTES
from engine.workflow.versions import deploy_checked, migrate_version
from tests.conftest import csrf_token, login, user

HANDLING = (PROCESSES_DIR / "item_handling.bpmn").read_text(encoding="utf-8")
RENAMED = HANDLING.replace('name="签收"', 'name="签收确认"', 1)
BPMN_NS = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL", "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI"}


def without_task(xml: str, task_id: str) -> str:
    """The process with one task taken out and its incoming flow joined to where the task led."""
    root = etree.fromstring(xml.encode("utf-8"))
    find = lambda path: root.xpath(path, namespaces=BPMN_NS)  # noqa: E731
    task = find(f"//bpmn:*[@id='{task_id}']")[0]
    (incoming,) = find(f"//bpmn:sequenceFlow[@targetRef='{task_id}']")
    (outgoing,) = find(f"//bpmn:sequenceFlow[@sourceRef='{task_id}']")
    incoming.set("targetRef", outgoing.get("targetRef"))
    for ref in find(f"//bpmn:incoming[text()='{outgoing.get('id')}']"):
        ref.text = incoming.get("id")
    for el in [task, outgoing, *find(f"//bpmn:flowNodeRef[text()='{task_id}']"),
               *find(f"//bpmndi:BPMNShape[@bpmnElement='{task_id}']"),
               *find(f"//bpmndi:BPMNEdge[@bpmnElement='{outgoing.get('id')}']")]:
        el.getparent().remove(el)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8").decode("utf-8")


def item_id(db, fragment: str) -> int:
    with db.reading() as s:
        return s.scalars(select(Item.id).where(Item.title.contains(fragment), Item.year == 2026)).one()


def deploy_form(client, xml: str | bytes, action="deploy", upload=True):
    token = csrf_token(client, "/admin/")
    data = {"csrf_token": token, "action": action}
    if upload:
        data["file"] = (io.BytesIO(xml if isinstance(xml, bytes) else xml.encode("utf-8")), "item_handling.bpmn")
    else:
        data.update(xml=xml, filename="item_handling.bpmn")
    return client.post("/admin/deploy", data=data, content_type="multipart/form-data" if upload else None,
                       follow_redirects=True)


def versions_of(db) -> list[int]:
    with db.reading() as s:
        return s.scalars(select(ProcessDefinition.version).where(ProcessDefinition.process_id == "item_handling")
                         .order_by(ProcessDefinition.version)).all()


# ------------------------------------------------------------------------------------------------ access

def test_only_admins_reach_the_admin_pages(client):
    assert client.get("/admin/").status_code == 302  # to the login page
    login(client, "office")
    for url in ("/admin/", "/admin/modeler", "/admin/definitions/1.bpmn", "/admin/versions/1"):
        assert client.get(url).status_code == 403, url
    assert client.post("/admin/deploy", data={"csrf_token": csrf_token(client, "/tasks/"), "xml": HANDLING}) \
        .status_code == 403
    assert client.get("/admin/steps").status_code == 200  # the step overview is for the office too


def test_definitions_page_lists_versions_and_downloads_the_file(client, demo_db):
    login(client, "admin")
    html = client.get("/admin/").get_data(as_text=True)
    with demo_db.reading() as s:
        d = latest(s, "item_handling")
        running = s.scalar(select(func.count()).select_from(ProcessInstance).where(ProcessInstance.status == "running"))
        total = s.scalar(select(func.count()).select_from(ProcessInstance))
    assert "v1" in html and d.sha256[:12] in html and d.deployed_by in html
    assert f"{running} / {total}" in html
    assert "文件不超过 2.0 MB" in html  # the upload limit in a size a person reads, not 2000000 字节
    response = client.get(f"/admin/definitions/{d.id}.bpmn")
    assert response.status_code == 200 and "attachment" in response.headers["Content-Disposition"]
    assert response.data.decode("utf-8") == d.bpmn_xml


def test_modeler_page_carries_the_bpmn_and_the_bundles(client):
    login(client, "admin")
    html = client.get("/admin/modeler").get_data(as_text=True)
    assert 'id="bpmn-source"' in html and "vendor/modeler.js" in html and "vendor/modeler.css" in html
    source = html.split('id="bpmn-source">', 1)[1].split("</script>", 1)[0]
    assert json.loads(source) == HANDLING


# ------------------------------------------------------------------------------------- deploy and pinning

def test_deploy_creates_a_version_new_items_start_on_it_running_items_stay(client, demo_db):
    login(client, "admin")
    page = deploy_form(client, RENAMED).get_data(as_text=True)
    assert "已部署" in page and "v2" in page
    assert versions_of(demo_db) == [1, 2]
    with demo_db.transaction() as s:
        v1, v2 = (s.scalars(select(ProcessDefinition).order_by(ProcessDefinition.version)).all())
        assert v2.deployed_by == "admin" and "签收确认" in v2.bpmn_xml
        assert set(s.scalars(select(ProcessInstance.definition_id))) == {v1.id}  # running items stay
        item = register_item(s, {"item_type": "proposal", "title": "新版本事项", "content": "内容",
                                 "proposer": "member_sun", "year": "2026"}, user(s, "office"))
        s.flush()
        assert s.scalars(select(ProcessInstance.definition_id).where(ProcessInstance.item_id == item.id)).one() == v2.id
    again = deploy_form(client, RENAMED).get_data(as_text=True)
    assert "未创建新版本" in again and versions_of(demo_db) == [1, 2]  # identical bytes: no new version


def test_a_broken_file_is_not_deployed_and_the_problems_are_shown(client, demo_db):
    login(client, "admin")
    response = deploy_form(client, HANDLING.replace('name="role" value="proposer"', 'name="role" value="citizens"', 1), upload=False)
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and "未部署" in html
    assert 'data-element="rate"' in html and "citizens" in html
    assert versions_of(demo_db) == [1]


def test_check_only_deploys_nothing(client, demo_db):
    login(client, "admin")
    html = deploy_form(client, RENAMED, action="check", upload=False).get_data(as_text=True)
    assert "检查通过" in html and versions_of(demo_db) == [1]


def test_a_sandbox_escape_in_an_uploaded_script_is_refused(client, demo_db):
    login(client, "admin")
    evil = HANDLING.replace("<bpmn:script>assigned_on = today()",
                            "<bpmn:script>x = ().__class__.__base__.__subclasses__()\nassigned_on = today()", 1)
    response = deploy_form(client, evil)
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and "__subclasses__" in html and 'data-element="mark_assigned"' in html
    assert versions_of(demo_db) == [1]


def test_xml_attacks_through_the_upload_page(client, demo_db):
    login(client, "admin")
    attacks = {
        "billion laughs": b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 '
                          b'"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;'
                          b'&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]><definitions>&lol3;</definitions>',
        "xxe": b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
               b'<definitions>&x;</definitions>',
        "external dtd": b'<?xml version="1.0"?><!DOCTYPE d SYSTEM "http://127.0.0.1:9/evil.dtd"><definitions/>',
        "too large": b"<definitions>" + b" " * MAX_BYTES + b"</definitions>",
    }
    for name, payload in attacks.items():
        response = deploy_form(client, payload)
        html = response.get_data(as_text=True)
        assert response.status_code == 400, name
        assert ("DOCTYPE" in html or "文件过大" in html) and "Traceback" not in html and "root:" not in html, name
        assert "lol" not in html.split('id="bpmn-source"')[1], name  # the editor shows the deployed version
    assert versions_of(demo_db) == [1]


# ---------------------------------------------------------------------------------------------- migration

def test_bulk_migration_moves_running_items_and_keeps_their_deadlines(client, demo_db):
    login(client, "admin")
    deploy_form(client, RENAMED)
    signing = item_id(demo_db, "课后服务")  # waits for sign-for, whose title changes in v2
    with demo_db.reading() as s:
        v1, v2 = s.scalars(select(ProcessDefinition).order_by(ProcessDefinition.version)).all()
        running = s.scalar(select(func.count()).select_from(ProcessInstance).where(ProcessInstance.status == "running"))
        timers = {t.id: t.due_at for t in s.scalars(select(Timer))}
        row = s.scalars(select(TaskRow).where(TaskRow.item_id == signing)).one()
        # Items whose co-units' parts (a multi-instance) are under way move too, their parts' tasks kept
        # (the parser wires each multi-instance to its children, as SpiffWorkflow's own loader does).
        busy = dict(s.execute(select(TaskRow.id, TaskRow.item_id).where(TaskRow.spec_name.in_(
            ("co_sign_for", "decide_co_return", "cohandle")))).all())
    html = client.post(f"/admin/versions/{v1.id}/migrate",
                       data={"csrf_token": csrf_token(client, f"/admin/versions/{v1.id}"), "target": v2.id,
                             "scope": "all"}).get_data(as_text=True)
    assert f"成功 {running}，拒绝 0" in html
    with demo_db.reading() as s:
        pins = dict(s.execute(select(ProcessInstance.item_id, ProcessInstance.definition_id)
                              .where(ProcessInstance.status == "running")).all())
        assert set(pins.values()) == {v2.id} and busy
        assert set(s.scalars(select(TaskRow.id).where(TaskRow.id.in_(list(busy))))) == set(busy)
        moved = s.get(TaskRow, row.id)  # the same open task, now with v2's title and its deadline kept
        assert moved.title == "签收确认" and moved.due_at == row.due_at and moved.unit_id == row.unit_id
        assert {t.id: t.due_at for t in s.scalars(select(Timer))} == timers
        assert s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "migrated")) \
            == running
    # the migrated item goes on under v2
    login(client, "jyj_staff")
    token = csrf_token(client, f"/tasks/{row.id}")
    page = client.post(f"/tasks/{row.id}", data={"csrf_token": token, "sign_decision": "sign"}, follow_redirects=True)
    assert page.status_code == 200
    with demo_db.reading() as s:
        assert s.get(TaskRow, row.id) is None
        assert s.scalars(select(TaskRow.spec_name).where(TaskRow.item_id == signing)).all() == ["pledge"]


def test_migration_is_refused_with_the_reason_where_the_new_version_lacks_the_step(demo_db):
    key_item = item_id(demo_db, "加装电梯")  # waits for the leader's instruction, among others
    with demo_db.transaction() as s:
        v1 = latest(s, "item_handling")
        v1_id = v1.id
        v2, _ = deploy_checked(s, without_task(HANDLING, "leader_instruct").encode("utf-8"), "x.bpmn", "admin")
        v2_id = v2.id
        admin_id = user(s, "admin").id
    results = {r.item_id: r for r in migrate_version(demo_db, v1_id, v2_id, admin_id)}
    refused = results[key_item]
    assert not refused.ok and "leader_instruct" in refused.message and "已删除" in refused.message
    assert all(r.ok for i, r in results.items() if i != key_item)  # the others never reached that step
    with demo_db.reading() as s:
        assert s.scalars(select(ProcessInstance.definition_id).where(ProcessInstance.item_id == key_item)).one() \
            == v1_id  # nothing changed for the refused item
        assert s.scalars(select(TaskRow.spec_name).where(TaskRow.item_id == key_item,
                                                         TaskRow.spec_name == "leader_instruct")).first()


def test_version_page_lists_items_and_offers_the_other_versions(client, demo_db):
    login(client, "admin")
    deploy_form(client, RENAMED)
    with demo_db.reading() as s:
        v1 = s.scalars(select(ProcessDefinition).where(ProcessDefinition.version == 1)).one()
    html = client.get(f"/admin/versions/{v1.id}").get_data(as_text=True)
    assert "课后服务" in html and "v2" in html and 'name="item"' in html


# ------------------------------------------------------------------------------- diagram and step overview

def test_item_diagram_marks_completed_active_and_overdue_steps(client, demo_db):
    key_item, signing = item_id(demo_db, "加装电梯"), item_id(demo_db, "课后服务")
    login(client, "office")
    state = client.get(f"/diagram/items/{key_item}.json").get_json()
    assert state["version"] == 1 and "<bpmn:definitions" in state["xml"]
    assert {"assign_item", "sign_for", "pledge"} <= set(state["completed"])
    assert {"consult", "leader_instruct", "co_part"} <= set(state["active"])  # a co-unit's part still open
    assert state["overdue"] == [] and "draft_reply" not in state["completed"] + state["active"]
    with demo_db.reading() as s:
        due = s.scalars(select(TaskRow.due_at).where(TaskRow.item_id == signing)).one()
    with time_machine.travel(due + timedelta(days=1), tick=False):
        assert client.get(f"/diagram/items/{signing}.json").get_json()["overdue"] == ["sign_for"]
        counts = client.get("/admin/steps/item_handling.json").get_json()["counts"]
        assert counts["sign_for"] == {"waiting": 1, "late": 1}
        assert "<span class=\"status s-overdue\">1</span>" in client.get("/admin/steps").get_data(as_text=True)
    assert client.get("/admin/steps/item_handling.json").get_json()["counts"]["sign_for"] == {"waiting": 1, "late": 0}


def test_item_page_includes_the_diagram_only_for_those_who_see_the_item(client, demo_db):
    signing = item_id(demo_db, "课后服务")
    login(client, "deputy_chen")  # not this item's proposer
    assert client.get(f"/diagram/items/{signing}.json").status_code == 403
    login(client, "member_zhao")  # its proposer: the portal is their world, the diagram is internal
    assert client.get(f"/diagram/items/{signing}.json").status_code == 403
    assert client.get("/admin/steps").status_code == 403
    login(client, "office")
    html = client.get(f"/items/{signing}").get_data(as_text=True)
    assert f'data-url="/diagram/items/{signing}.json"' in html and "vendor/viewer.js" in html
    assert client.get(f"/diagram/items/{signing}.json").status_code == 200


def test_step_counts_come_from_task_rows(client, demo_db):
    login(client, "supervisor")
    counts = client.get("/admin/steps/item_handling.json").get_json()["counts"]
    with demo_db.reading() as s:
        expected = dict(s.execute(select(TaskRow.spec_name, func.count(func.distinct(TaskRow.item_id)))
                                  .group_by(TaskRow.spec_name)).all())
    assert {k: v["waiting"] for k, v in counts.items()} == expected
