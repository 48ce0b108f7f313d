"""What one completion writes: each row once, derived rows without ORM round trips, a small closed history."""
from __future__ import annotations

import re
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import event, func, select, update
from sqlalchemy.engine.interfaces import CacheStats
from sqlalchemy.orm import Session

from engine import clock
from engine.events import outbox
from engine.models import Assignment, AuditEvent, Item, Notification, OutboxEvent, ProcessInstance, TaskRow, Unit
from engine.people.notifications import notify
from engine.workflow.forms import FormInvalid
from engine.workflow.runtime import WORKFLOWS, StaleTask, complete, complete_task, instance_of, task_form
from engine.workflow.serializer import STATE
from engine.workflow.versions import item_diagram
from tests.conftest import task_for, user
from tests.test_lifecycle import REPLY, do, register


def _statements(db, params=None):
    seen = []

    def record(_conn, _cursor, statement, parameters, *_args):
        seen.append(" ".join(statement.split()))
        if params is not None:
            params.append(parameters)

    event.listen(db.engine, "before_cursor_execute", record)
    return seen, lambda: event.remove(db.engine, "before_cursor_execute", record)


def _written_tables(seen) -> Counter:
    """Every table a statement writes, its WITH clauses' included (not an upsert's DO UPDATE of its own table)."""
    out = Counter()
    for sql in seen:
        for m in re.finditer(r"(?:^|\(|\) )(INSERT INTO|UPDATE|DELETE FROM) (\w+)", sql):
            out[f"{m.group(1).split()[0]} {m.group(2)}"] += 1
    return out


def test_a_completion_writes_the_instance_and_the_item_once(demo_db):
    """Before: autoflush wrote the instance twice (timers, then state) and the item twice, 24+ statements;
    then the instance and the item were read in two statements, the deadlines twice, and the new task's
    recipients before notifying them (20)."""
    item_id = register(demo_db)
    do(demo_db, item_id, "office", "assign_item", assign_decision="assign", lead_unit="jtj", co_units=["jyj"])
    with demo_db.transaction() as s:
        row = task_for(s, item_id, "sign_for")
        who = user(s, "jtj_staff")
        seen, stop = _statements(demo_db)
        try:
            complete_task(s, row.id, who, {"sign_decision": "sign"})
        finally:
            stop()
    written = _written_tables(seen)
    assert written["UPDATE process_instance"] == 1 and written["UPDATE item"] <= 1
    assert written["INSERT task_row"] <= 1  # the new ready tasks in one statement
    assert not [sql for sql in seen if sql.startswith("SELECT notification")]  # no read before notifying
    assert not [sql for sql in seen if sql.startswith("SELECT user_account")]  # nor of whom to notify
    assert len([sql for sql in seen if sql.startswith("SELECT process_instance")]) == 1  # item read with it
    # The ledger's; the return window's only when the form asks to return the item (here it signs for it).
    assert len([sql for sql in seen if sql.startswith("SELECT deadline")]) == 1
    # 17, and the board's summary rows (deadlines.tally): one upsert of the counts that moved, and one delete
    # here, where the signing closed the only deadline of its count; and 1 more since the co-unit's part is open
    # beside the lead unit's sign-for from assignment (the ledger reads two units' ids where it read one): 20.
    # Then 18: the task rows and timer rows are read in one statement, and the units in one (IN).
    # On PostgreSQL 17: the done task's row is deleted in the statement that marks its notice read (WITH).
    # Then 17 / 16: the units' and people's ids come in the statement that reads the task and timer rows;
    # 16 / 15: the return window's deadline is read only for a request to return the item.
    # PostgreSQL 14: the new task rows go in the statement that tells the first new task's users (WITH);
    # 13: the timeline entry goes in the statement that reads the task and timer rows (WITH);
    # 11 on PostgreSQL (14 on SQLite) once the summary rows were written at COMMIT, after this count;
    # 10: the item's progress goes in the instance's UPDATE (WITH).
    assert len(seen) <= (10 if demo_db.is_postgres else 14), "\n".join(s[:100] for s in seen)
    assert not [sql for sql in seen if sql.startswith("SELECT unit")]
    assert len([sql for sql in seen if "DELETE FROM task_row" in sql]) == 1


def test_a_completion_leaves_the_instance_and_the_item_written_and_clean(demo_db):
    """The instance's and the item's rows go out as two prebuilt UPDATEs, not through the ORM's flush (which
    cost several times the statements): afterwards the objects hold what the rows hold, nothing left to flush."""
    item_id = register(demo_db)
    do(demo_db, item_id, "office", "assign_item", assign_decision="assign", lead_unit="jtj")
    with demo_db.transaction() as s:
        row = task_for(s, item_id, "sign_for")
        instance, item = s.get(ProcessInstance, row.instance_id), s.get(Item, item_id)
        version, state = instance.version, instance.state
        complete_task(s, row.id, user(s, "jtj_staff"), {"sign_decision": "sign"})
        assert instance not in s.dirty and item not in s.dirty
        stored = s.connection().execute(select(ProcessInstance.__table__.c.version, ProcessInstance.__table__.c.state,
                                                Item.__table__.c.status, Item.__table__.c.current_step)
                                         .join_from(ProcessInstance.__table__, Item.__table__)
                                         .where(ProcessInstance.__table__.c.id == instance.id)).one()
        assert stored == (version + 1, instance.state, item.status, item.current_step)
        assert instance.state != state and item.current_step == "签订责任状"


STEPS = {"assign_item": ("office", {"assign_decision": "assign", "lead_unit": "jtj"}),
         "sign_for": ("jtj_staff", {"sign_decision": "sign"})}


@pytest.mark.parametrize("step", STEPS)
def test_a_write_over_a_version_that_moved_on_is_refused_and_nothing_applies(demo_db, step):
    """Another writer's version reached the row after this command read the instance: the instance's UPDATE
    (WHERE version = the one read) changes nothing, and the command is refused as stale, wholly rolled back.
    Both ways the instance is written: beside the item's own UPDATE (a projection changed the item: assignment),
    and with the item's progress in its UPDATE (sign-for; on PostgreSQL not awaited, checked as the command's
    flush ends: still the command's StaleTask, not an error of the commit)."""
    item_id = register(demo_db)
    if step == "sign_for":
        do(demo_db, item_id, "office", "assign_item", assign_decision="assign", lead_unit="jtj")
    table = ProcessInstance.__table__

    def written_elsewhere(session, _item, row, _user):  # after the command read the instance, before it writes
        session.connection().execute(update(table).where(table.c.id == row.instance_id)
                                     .values(version=table.c.version + 1))

    with demo_db.reading() as s:
        before = (s.get(Item, item_id).status, s.get(Item, item_id).current_step)
    who, values = STEPS[step]
    with pytest.raises(StaleTask):
        with demo_db.transaction() as s:
            row = task_for(s, item_id, step)
            complete_task(s, row.id, user(s, who), values, after=written_elsewhere)
    with demo_db.reading() as s:
        assert [r.spec_name for r in s.scalars(select(TaskRow).where(TaskRow.item_id == item_id))] == [step]
        assert (s.get(Item, item_id).status, s.get(Item, item_id).current_step) == before
        assert not s.scalars(select(AuditEvent).where(AuditEvent.item_id == item_id, AuditEvent.action == "completed",
                                                      AuditEvent.step == step)).all()


def test_an_items_progress_that_updates_no_row_refuses_the_instances_write_too(demo_db):
    """The item's progress goes with the instance's UPDATE (PostgreSQL: in its WITH clause): an item row that
    is not there updates nothing, and neither does the instance's UPDATE; the command is refused as stale (on
    PostgreSQL the UPDATE is not awaited: no flush follows it here, so the commit checks it)."""
    from sqlalchemy.orm.exc import StaleDataError

    from engine.workflow.runtime import _store_instance

    item_id = register(demo_db)
    with demo_db.transaction() as s:
        instance = instance_of(s, item_id)
        version = instance.version
    with pytest.raises(StaleDataError):
        with demo_db.transaction() as s:
            instance = instance_of(s, item_id)
            _store_instance(s, instance, None, item=Item(id=-1),
                            item_progress={"status": "handling", "closed_at": None, "current_step": "x"},
                            status=instance.status, updated_at=clock.now(), next_timer_due=None)
    with demo_db.reading() as s:
        assert instance_of(s, item_id).version == version


def test_a_completion_like_one_before_it_compiles_no_statement(demo_db):
    """A statement SQLAlchemy cannot cache is compiled anew at every completion. The new task rows' multi-row
    VALUES (in the WITH clause of the new task's notice, PostgreSQL) was one: compiling it cost more than
    the round trip it saved (1.2 ms of 18 per task)."""
    def sign_for_next_item() -> list:
        item_id = register(demo_db)
        do(demo_db, item_id, "office", "assign_item", assign_decision="assign", lead_unit="jtj", co_units=["jyj"])
        misses = []

        def record(_conn, _cursor, statement, _parameters, context, _many):
            if context is not None and context.compiled is not None and context.cache_hit != CacheStats.CACHE_HIT:
                misses.append(" ".join(statement.split())[:120])

        event.listen(demo_db.engine, "before_cursor_execute", record)
        try:
            do(demo_db, item_id, "jtj_staff", "sign_for", sign_decision="sign")
        finally:
            event.remove(demo_db.engine, "before_cursor_execute", record)
        return misses

    sign_for_next_item()  # the first of its shape compiles what it sends
    assert sign_for_next_item() == []


def test_a_done_task_notice_is_found_through_an_index(demo_db):
    """Marking the done task's notice read scanned every notification: the event key has no index."""
    item_id = register(demo_db)
    params = []
    with demo_db.transaction() as s:
        row = task_for(s, item_id, "assign_item")
        seen, stop = _statements(demo_db, params)
        try:
            complete_task(s, row.id, user(s, "office"), {"assign_decision": "assign", "lead_unit": "jtj"})
        finally:
            stop()
    marked = [(sql, p) for sql, p in zip(seen, params) if "UPDATE notification" in sql]
    assert len(marked) == 1
    if demo_db.is_postgres:  # the plan of a tiny table says nothing there; the item's index is in the query
        assert "notification.item_id" in marked[0][0]
        return
    with demo_db.engine.connect() as conn:
        plan = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + marked[0][0], marked[0][1]).all()
    assert not [p for p in plan if "SCAN notification" in p[-1]], plan


def test_a_closed_item_keeps_only_the_steps_its_diagram_shows(demo_db):
    item_id = register(demo_db)
    do(demo_db, item_id, "office", "assign_item", assign_decision="withdraw", assign_note="领衔人申请撤回。")
    with demo_db.reading() as s:
        instance = instance_of(s, item_id)
        assert instance.status == "completed" and len(instance.state) < 300
        full = WORKFLOWS.entries[(str(s.get_bind().url), instance.id)][1]  # the whole tree, as committed
        passed = {t.task_spec.bpmn_id for t in full.get_tasks() if t.task_spec.bpmn_id and t.has_state(64)}
        WORKFLOWS.entries.clear()  # another process: only the stored state
        diagram = item_diagram(s, s.get(Item, item_id))
    assert set(diagram.completed) == passed and "assign_item" in passed and diagram.active == []
    assert STATE.completed_steps(instance.state) == diagram.completed


def test_the_timeline_keeps_decisions_and_refers_to_the_records_for_texts(demo_db):
    item_id = register(demo_db)
    do(demo_db, item_id, "office", "assign_item", assign_decision="assign", lead_unit="jtj")
    do(demo_db, item_id, "jtj_staff", "sign_for", sign_decision="sign")
    do(demo_db, item_id, "jtj_head", "pledge", responsible_leader="副局长", contact_person="郑", contact_phone="13812345678",
       plan="调研、试点、推广。" * 10, target_date=(clock.today() + timedelta(days=60)).isoformat())
    do(demo_db, item_id, "jtj_staff", "consult", consult_date=clock.today().isoformat(), consult_form="meeting",
       participants="陈代表", proposer_views="希望增加班次。", more_consultation=False)
    do(demo_db, item_id, "jtj_staff", "draft_reply", **{**REPLY, "reply_text": "经研究，" * 40})
    with demo_db.reading() as s:
        entries = {e.step: e.data for e in s.scalars(select(AuditEvent).where(AuditEvent.item_id == item_id,
                                                                             AuditEvent.action == "completed"))}
    assert entries["draft_reply"]["form"] == "reply" and entries["draft_reply"]["reply_class"] == "B"
    assert "reply_text" not in entries["draft_reply"] and "plan" not in entries["pledge"]
    assert entries["assign_item"]["lead_unit"] == "jtj"


def test_an_event_notifies_each_person_once(demo_db):
    with demo_db.transaction() as s:
        office = user(s, "office")
        item = s.scalars(select(Item).limit(1)).one()
        first = notify(s, [office, office.id], item, "overdue", "已超期", "overdue:test")
        again = notify(s, [office], item, "overdue", "已超期", "overdue:test")
        assert (first, again) == (1, 0)
        assert s.scalar(select(func.count()).select_from(Notification).where(
            Notification.dedupe_key == "overdue:test")) == 1


def test_notices_events_and_timeline_keep_no_copy_of_their_own_columns(demo_db):
    """A task's notice stored its link beside the task id it is derived from, the outbox event its own type,
    id and instant inside its payload, and the timeline the empty fields of a form."""
    item_id = register(demo_db)
    do(demo_db, item_id, "office", "assign_item", assign_decision="assign", lead_unit="jtj")
    with demo_db.reading() as s:
        task_notices = s.scalars(select(Notification).where(Notification.item_id == item_id,
                                                            Notification.kind == "task")).all()
        event = s.scalars(select(OutboxEvent).where(OutboxEvent.item_id == item_id)).one()
        entry = s.scalars(select(AuditEvent).where(AuditEvent.item_id == item_id,
                                                   AuditEvent.action == "completed")).one()
    assert task_notices and all(n.link is None for n in task_notices)
    with demo_db.reading() as s:  # what the bell links to: the task itself
        open_tasks = set(s.scalars(select(TaskRow.id).where(TaskRow.item_id == item_id)))
    assert {f"/tasks/{t}" for t in open_tasks} <= {n.href for n in task_notices}  # and the done task's notice
    assert set(event.payload) == {"item", "data"}
    with demo_db.reading() as s:
        message = outbox.message(s, event)  # what a partner receives: the same envelope as before
    assert (message["type"], message["id"]) == ("item.assigned", event.event_id)
    assert message["occurred_at"] == event.created_at.isoformat() and message["data"]["lead_unit"] == "jtj"
    assert None not in entry.data.values() and entry.data["lead_unit"] == "jtj"


def test_an_approved_reply_event_refers_to_the_reply_and_its_message_carries_the_texts(demo_db):
    item_id = register(demo_db)
    do(demo_db, item_id, "office", "assign_item", assign_decision="assign", lead_unit="jtj")
    do(demo_db, item_id, "jtj_staff", "sign_for", sign_decision="sign")
    do(demo_db, item_id, "jtj_head", "pledge", responsible_leader="副局长", contact_person="郑", contact_phone="13812345678",
       plan="调研、试点、推广。", target_date=(clock.today() + timedelta(days=60)).isoformat())
    do(demo_db, item_id, "jtj_staff", "consult", consult_date=clock.today().isoformat(), consult_form="meeting",
       participants="陈代表", proposer_views="希望增加班次。", more_consultation=False)
    do(demo_db, item_id, "jtj_staff", "draft_reply", **{**REPLY, "reply_text": "经研究，" * 40})
    do(demo_db, item_id, "jtj_head", "signoff_reply", signoff_decision="approve")
    do(demo_db, item_id, "office", "review_reply", review_decision="approve", final_class="B")
    with demo_db.reading() as s:
        event = s.scalars(select(OutboxEvent).where(OutboxEvent.item_id == item_id,
                                                    OutboxEvent.event_type == "reply.approved")).one()
        assert "text" not in event.payload["data"]  # a reference, not a copy of the reply
        message = outbox.message(s, event)
    assert message["data"]["text"] == "经研究，" * 40 and message["data"]["reply_class"] == "B"
    assert list(message["data"]) == ["round", "reply_class", "text", "adopted", "promised", "promised_date",
                                     "disclosure"]


def test_no_completion_of_a_whole_lifecycle_leaves_the_orm_anything_to_flush(demo_db, monkeypatch):
    """Records go in, and what a projection changed (assignments, replies, the item) goes out, as prebuilt Core
    statements (engine.writes): the ORM's flush of even a few objects cost a completion about a millisecond.
    The lifecycle's own assertions check that every record and change is stored."""
    from tests import test_lifecycle

    flushed = []

    def record(session, _context, _instances):
        flushed.append(sorted(type(o).__name__ for o in (*session.new, *session.dirty, *session.deleted)))

    def watched(*args, **kwargs):  # the whole command, its commit included
        event.listen(Session, "before_flush", record)
        try:
            test_lifecycle.do.__wrapped__(*args, **kwargs)
        finally:
            event.remove(Session, "before_flush", record)

    watched.__wrapped__ = test_lifecycle.do
    monkeypatch.setattr(test_lifecycle, "do", watched)
    test_lifecycle.test_full_lifecycle_with_returns_co_units_consultations_and_rehandling(demo_db)
    assert flushed == []


def test_a_completion_by_the_users_id_reads_them_with_the_task(demo_db):
    """The web names the acting user by id (runtime.complete): they come in the command's first statement, with
    the task, the instance and the item, instead of a statement of their own."""
    item_id = register(demo_db)
    with demo_db.reading() as s:
        row, office = task_for(s, item_id, "assign_item"), user(s, "office")
    seen, stop = _statements(demo_db)
    try:
        complete(demo_db, row.id, office.id, {"assign_decision": "assign", "lead_unit": "jtj"})
    finally:
        stop()
    assert not [sql for sql in seen if sql.startswith("SELECT user_account.")]  # no read of the user alone
    first = next(sql for sql in seen if sql.startswith("SELECT"))
    assert "FROM process_instance" in first and "JOIN task_row" in first and "JOIN user_account" in first, first
    with demo_db.reading() as s:
        assert s.get(Item, item_id).lead_unit.code == "jtj"
        assert s.scalars(select(AuditEvent.actor_id).where(AuditEvent.item_id == item_id,
                                                           AuditEvent.action == "completed")).all() == [office.id]


def test_checking_a_form_reads_only_the_units_and_leaders_it_names(demo_db):
    """A province's directory holds thousands of units: checking an assignment's unit fields must not read them
    all. Before: every active unit (and every leader) was read to check the two or three codes a form names."""
    with demo_db.transaction() as s:
        s.add_all([Unit(code=f"prov{i:04d}", name=f"省直单位{i}") for i in range(300)])
        s.add(Unit(code="closed_unit", name="已撤销单位", active=False))
    item_id = register(demo_db)
    with demo_db.reading() as s:
        row, office = task_for(s, item_id, "assign_item"), user(s, "office")
    key = {"assign_decision": "assign", "lead_unit": "jtj", "is_key": "true"}
    for bad in ("nowhere", "closed_unit"):  # an unknown code and a unit no longer active: refused, nothing done
        with pytest.raises(FormInvalid) as refused:
            complete(demo_db, row.id, office.id, {**key, "co_units": ["jyj", bad], "leader": "leader_wang"})
        assert [(e.field, e.code) for e in refused.value.errors] == [("co_units", "reference")]
    with pytest.raises(FormInvalid) as refused:  # a user who is not a district leader
        complete(demo_db, row.id, office.id, {**key, "co_units": ["jyj"], "leader": "office"})
    assert [(e.field, e.code) for e in refused.value.errors] == [("leader", "reference")]
    params = []
    seen, stop = _statements(demo_db, params)
    try:
        complete(demo_db, row.id, office.id, {**key, "co_units": ["jyj", "prov0007"], "leader": "leader_wang"})
    finally:
        stop()
    reads = [(sql, p) for sql, p in zip(seen, params)
             if sql.startswith(("SELECT unit.code, unit.name", "SELECT user_account.username, user_account.name"))]
    assert len(reads) == 2, seen
    for sql, p in reads:  # each names the codes it checks: an indexed read of a few rows
        assert ("unit.code" if "FROM unit" in sql else "user_account.username") in sql.split("WHERE", 1)[1], sql
        assert "prov0001" not in repr(p) and "leader_li" not in repr(p), p
    with demo_db.reading() as s:
        item = s.get(Item, item_id)
        assert item.lead_unit.code == "jtj" and item.is_key and item.status != "registered"


def test_a_tasks_form_is_read_without_the_workflow_state_or_the_bpmn_text(demo_db):
    """The task page and every completion posted through the web read the task's form first. Before: the
    instance was loaded whole (its compressed workflow state) and the process version with its BPMN text (tens
    of KB) at each request, to find a form the parsed spec already holds."""
    item_id = register(demo_db)
    with demo_db.reading() as s:
        row = task_for(s, item_id, "assign_item")
        task_form(s, row)  # the first request after a start parses the version (and may read it)
    with demo_db.reading() as s:
        row = s.get(TaskRow, row.id)
        seen, stop = _statements(demo_db)
        try:
            form = task_form(s, row)
        finally:
            stop()
    assert form["key"] == "assignment" and "lead_unit" in [f["id"] for f in form["fields"]]
    assert not [sql for sql in seen if "bpmn_xml" in sql or "process_instance.state" in sql], seen
    assert len(seen) <= 1, seen


def test_a_completion_posted_through_the_task_page_reads_the_task_only_in_its_command(client, demo_db):
    """The task page's POST read the task, the user and the task's form in a transaction of its own before the
    command read them all again: the web's own cost of a completion (bench (g)) was one transaction more. The
    submitted fields are now read by the form the command holds."""
    from tests.conftest import csrf_token, login

    item_id = register(demo_db)
    with demo_db.reading() as s:
        row = task_for(s, item_id, "assign_item")
    login(client, "office")
    token = csrf_token(client, f"/tasks/{row.id}")
    seen, stop = _statements(demo_db)
    try:
        r = client.post(f"/tasks/{row.id}", data={"csrf_token": token, "assign_decision": "assign",
                                                  "lead_unit": "jtj", "co_units": ["jyj", "wjw"]})
    finally:
        stop()
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/items/{item_id}"), r.status_code
    assert not [sql for sql in seen if sql.startswith(("SELECT task_row.", "SELECT process_instance.definition_id"))], seen
    assert sum(sql.startswith("BEGIN") for sql in seen) <= 2, seen  # the login session's read, the command
    with demo_db.reading() as s:
        item = s.get(Item, item_id)
        assert item.lead_unit.code == "jtj"
        assert sorted(s.scalars(select(Unit.code).join(Assignment, Assignment.unit_id == Unit.id).where(
            Assignment.item_id == item_id, Assignment.role == "co"))) == ["jyj", "wjw"]
    page = client.get(f"/items/{item_id}").get_data(as_text=True)
    assert "已完成" in page  # the confirmation names the step as before
