"""The whole procedure through the engine on the real processes/ file, one transaction per command."""
from __future__ import annotations

from sqlalchemy import func, select
from SpiffWorkflow.util.task import TaskState

from engine import clock
from engine.models import (Assignment, AuditEvent, CoOpinion, Consultation, Disclosure, Item, ProcessInstance,
                           Rating, RehandlingOrder, Reply, ReturnRequest, TaskRow)
from engine.items.registration import register_item
from engine.workflow.runtime import WORKFLOWS, complete_task, instance_of
from engine.workflow.serializer import STATE
from tests.conftest import task_for, user


def do(db, item_id, username, spec_name, **form):
    """Complete the ready `spec_name` task of the item that `username` acts on (its own unit's, where each
    unit has one: co-units, 分办 units)."""
    with db.transaction() as s:
        actor = user(s, username)
        rows = s.scalars(select(TaskRow).where(TaskRow.item_id == item_id, TaskRow.spec_name == spec_name)
                         .order_by(TaskRow.id)).all()
        row = next((r for r in rows if r.unit_id in (None, actor.unit_id)), None) or task_for(s, item_id, spec_name)
        assert row is not None, f"no ready task {spec_name}; ready: {ready(db, item_id)}"
        complete_task(s, row.id, actor, {k: ("true" if v is True else v) for k, v in form.items()})


def ready(db, item_id):
    with db.reading() as s:
        return sorted(s.scalars(select(TaskRow.spec_name).where(TaskRow.item_id == item_id)))


def register(db, title="关于完善夜间公交的建议"):
    with db.transaction() as s:
        return register_item(s, {"item_type": "suggestion", "title": title, "content": "夜间公交班次少。",
                                 "proposer": "deputy_chen", "year": "2026"}, user(s, "office")).id


REPLY = dict(reply_class="B", reply_text="正在解决，列入明年计划。", promised="明年开通两条夜班线路。",
             promised_date="2027-06-30", disclosure="full")


def test_full_lifecycle_with_returns_co_units_consultations_and_rehandling(demo_db):
    db = demo_db
    item_id = register(db)
    assert ready(db, item_id) == ["assign_item"]

    # Assigned to the transport bureau, which asks to return it; the office approves and re-assigns.
    do(db, item_id, "office", "assign_item", assign_decision="assign", lead_unit="jtj")
    do(db, item_id, "jtj_staff", "sign_for", sign_decision="return", return_reason="不属于本局职责。")
    do(db, item_id, "office", "decide_return", return_decision="approve", return_opinion="同意，改由住建局办理。")
    assert ready(db, item_id) == ["assign_item"]
    do(db, item_id, "office", "assign_item", assign_decision="assign", lead_unit="zjj", co_units=["jyj", "wjw"],
       is_key=True, leader="leader_wang")
    # From assignment each co-unit answers for its own part, beside the lead unit (not after its pledge).
    assert ready(db, item_id) == ["co_sign_for", "co_sign_for", "sign_for"]
    do(db, item_id, "jyj_staff", "co_sign_for", co_sign_decision="sign")
    assert ready(db, item_id) == ["co_sign_for", "cohandle", "sign_for"]
    do(db, item_id, "jyj_staff", "cohandle", co_opinion="教育局同意牵头方案。")
    # The new lead unit asks too; the office refuses, so the unit keeps the item.
    do(db, item_id, "zjj_staff", "sign_for", sign_decision="return", return_reason="应由交通局办理。")
    do(db, item_id, "office", "decide_return", return_decision="refuse", return_opinion="职责明确，请认真办理。")
    do(db, item_id, "zjj_head", "pledge", responsible_leader="副局长", contact_person="郑", contact_phone="13800000002",
       plan="调研、试点、推广", target_date=clock.today().isoformat())
    # Handling in parallel: the co-unit still to answer, the leader, two consultations.
    assert ready(db, item_id) == ["co_sign_for", "consult", "leader_instruct"]
    do(db, item_id, "wjw_staff", "co_sign_for", co_sign_decision="sign")
    do(db, item_id, "wjw_staff", "cohandle", co_opinion="卫健委配合做好站点设置。")
    do(db, item_id, "leader_wang", "leader_instruct", instruction="抓紧办理，按期答复。", report_heard=True)
    do(db, item_id, "zjj_staff", "consult", consult_date=clock.today().isoformat(), consult_form="meeting", participants="陈代表",
       proposer_views="希望增加班次。", more_consultation=True)
    do(db, item_id, "zjj_staff", "consult", consult_date=clock.today().isoformat(), consult_form="visit", participants="陈代表",
       proposer_views="认可方案。")
    # The reply: signed off, returned once by the office, then approved.
    do(db, item_id, "zjj_staff", "draft_reply", **REPLY)
    do(db, item_id, "zjj_head", "signoff_reply", signoff_decision="approve")
    do(db, item_id, "office", "review_reply", review_decision="return", review_opinion="请补充时间表。")
    assert ready(db, item_id) == ["draft_reply"]
    do(db, item_id, "zjj_staff", "draft_reply", **REPLY)
    do(db, item_id, "zjj_head", "signoff_reply", signoff_decision="approve")
    do(db, item_id, "office", "review_reply", review_decision="approve", final_class="B")
    # 不满意, then a re-handling round, then 满意.
    do(db, item_id, "deputy_chen", "rate", attitude="satisfied", result="unsatisfied", rating_reason="进度太慢。")
    do(db, item_id, "office", "order_rehandling", rehandle_decision="rehandle", rehandle_instructions="一个月内重新答复。")
    assert ready(db, item_id) == ["consult", "leader_instruct"]  # co-units gave their opinions in round 1
    do(db, item_id, "leader_wang", "leader_instruct", instruction="重办要有实效。")
    do(db, item_id, "zjj_staff", "consult", consult_date=clock.today().isoformat(), consult_form="phone", participants="陈代表",
       proposer_views="希望年内试点。")
    do(db, item_id, "zjj_staff", "draft_reply", **{**REPLY, "reply_class": "A"})
    do(db, item_id, "zjj_head", "signoff_reply", signoff_decision="approve")
    do(db, item_id, "office", "review_reply", review_decision="approve")
    do(db, item_id, "deputy_chen", "rate", attitude="satisfied", result="satisfied")
    do(db, item_id, "office", "publish", publish_scope="full", published_text="已开通夜班线路。")

    assert ready(db, item_id) == []
    with db.reading() as s:
        item = s.get(Item, item_id)
        assert (item.status, item.round, item.reply_class, item.is_key) == ("closed", 2, "A", True)
        assert item.lead_unit.code == "zjj" and item.closed_at is not None and item.replied_at is not None
        assert s.get(ProcessInstance, s.scalar(select(ProcessInstance.id).where(
            ProcessInstance.item_id == item_id))).status == "completed"
        returns = s.scalars(select(ReturnRequest).where(ReturnRequest.item_id == item_id)
                            .order_by(ReturnRequest.id)).all()
        assert [r.decision for r in returns] == ["approve", "refuse"]
        lead = s.scalars(select(Assignment).where(Assignment.item_id == item_id, Assignment.role == "lead")
                         .order_by(Assignment.id)).all()
        assert [(a.unit.code, a.status) for a in lead] == [("jtj", "returned"), ("zjj", "signed")]
        assert sorted(o.unit.code for o in s.scalars(select(CoOpinion).where(CoOpinion.item_id == item_id))) \
            == ["jyj", "wjw"]
        assert [c.round for c in s.scalars(select(Consultation).where(Consultation.item_id == item_id))] == [1, 1, 2]
        replies = s.scalars(select(Reply).where(Reply.item_id == item_id).order_by(Reply.id)).all()
        assert [(r.round, r.status) for r in replies] == [(1, "returned"), (1, "approved"), (2, "approved")]
        ratings = s.scalars(select(Rating).where(Rating.item_id == item_id).order_by(Rating.id)).all()
        assert [(r.round, r.result) for r in ratings] == [(1, "unsatisfied"), (2, "satisfied")]
        assert s.scalar(select(RehandlingOrder.decision).where(RehandlingOrder.item_id == item_id)) == "rehandle"
        disclosure = s.scalars(select(Disclosure).where(Disclosure.item_id == item_id)).one()
        # published in full with the item's text (which a command reads only when it needs it)
        assert disclosure.scope == "full" and disclosure.public_content == s.get(Item, item_id).content
        # Every completion is on the timeline, with who did it.
        events = s.scalars(select(AuditEvent).where(AuditEvent.item_id == item_id, AuditEvent.action == "completed")).all()
        assert len(events) == 29 and all(e.actor_id for e in events)  # 27 + two co-units signing for
        # The closed state keeps exactly the steps the whole tree passed, subprocesses' included (the diagram's).
        instance = instance_of(s, item_id)
        full = WORKFLOWS.entries[(str(s.get_bind().url), instance.id)][1]  # the whole tree, as committed
        passed = {t.task_spec.bpmn_id for t in full.get_tasks()
                  if t.task_spec.bpmn_id and t.has_state(TaskState.COMPLETED)}
        assert set(STATE.completed_steps(instance.state)) == passed and "cohandle" in passed


def test_withdrawal_before_assignment_closes_as_withdrawn(demo_db):
    item_id = register(demo_db)
    do(demo_db, item_id, "office", "assign_item", assign_decision="withdraw", assign_note="领衔人申请撤回。")
    with demo_db.reading() as s:
        item = s.get(Item, item_id)
        assert item.status == "withdrawn" and ready(demo_db, item_id) == []


def test_state_stores_no_spec(demo_db):
    """Specs are stored once: an instance's state refers to its version instead of embedding the spec."""
    item_id = register(demo_db)
    with demo_db.reading() as s:
        inst = s.scalars(select(ProcessInstance).where(ProcessInstance.item_id == item_id)).one()
        assert '"spec"' not in STATE.text(inst.state) and len(inst.state) < 3000
        assert s.scalar(select(func.count()).select_from(TaskRow).where(TaskRow.item_id == item_id)) == 1
