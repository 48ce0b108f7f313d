"""The in-process workflow cache never serves a state another process or a failed command changed."""
from __future__ import annotations

from uuid import UUID

from sqlalchemy import select
from SpiffWorkflow.util.task import TaskState

from engine.deadlines.calendar import current_calendar
from engine.workflow.deployment import parsed_version
from engine.models import Item, ProcessInstance
from engine.items.registration import register_item
from engine.workflow.runtime import WORKFLOWS, Directory, complete_task, load_workflow, script_engine, sync_derived
from engine.deadlines.expressions import calendar_scope
from engine.workflow.serializer import STATE
from tests.conftest import task_for, user


def test_a_newer_version_written_elsewhere_is_read_from_the_database(demo_db):
    with demo_db.transaction() as s:
        item = register_item(s, {"item_type": "proposal", "title": "关于公厕改造的提案", "content": "公厕少。",
                                 "proposer": "member_sun"}, user(s, "office"))
        complete_task(s, task_for(s, item.id, "assign_item").id, user(s, "office"),
                      {"assign_decision": "assign", "lead_unit": "jtj"})
        item_id = item.id
    assert WORKFLOWS.entries  # the committed workflow is cached
    # Another process signs for the item: it reads the row, not this process's cache, and writes a new version.
    with demo_db.transaction() as s:
        inst = s.scalars(select(ProcessInstance).where(ProcessInstance.item_id == item_id)).one()
        proc = parsed_version(s, inst.definition_id)
        wf = STATE.loads(inst.state, proc.spec, proc.subprocess_specs)
        wf.script_engine = script_engine()
        task = wf.get_task_from_id(UUID(task_for(s, item_id, "sign_for").id))
        task.set_data(sign_decision="sign")
        with calendar_scope(current_calendar(s)):
            task.run()
            wf.do_engine_steps()
            sync_derived(s, inst, s.get(Item, item_id), wf, Directory.load(s))
        s.info.pop("banli_workflows", None)  # as if it were another process: nothing reaches our cache
    with demo_db.reading() as s:
        inst = s.scalars(select(ProcessInstance).where(ProcessInstance.item_id == item_id)).one()
        wf, _ = load_workflow(s, inst)
        names = {t.task_spec.bpmn_id for t in wf.get_tasks(manual=True) if t.state == TaskState.READY}
    assert names == {"pledge"}  # the other process's step, not the cached state before it


def test_a_failed_command_leaves_nothing_in_the_cache(demo_db):
    with demo_db.transaction() as s:
        item = register_item(s, {"item_type": "proposal", "title": "关于公厕改造的提案", "content": "公厕少。",
                                 "proposer": "member_sun"}, user(s, "office"))
        item_id = item.id
    try:
        with demo_db.transaction() as s:
            complete_task(s, task_for(s, item_id, "assign_item").id, user(s, "office"),
                          {"assign_decision": "assign", "lead_unit": "jtj"})
            raise RuntimeError("the request failed after the engine ran")
    except RuntimeError:
        pass
    with demo_db.reading() as s:
        inst = s.scalars(select(ProcessInstance).where(ProcessInstance.item_id == item_id)).one()
        wf, _ = load_workflow(s, inst)
        assert {t.task_spec.bpmn_id for t in wf.get_tasks(manual=True) if t.state == TaskState.READY} == {"assign_item"}
        assert task_for(s, item_id, "assign_item") is not None


def test_a_co_units_opinion_asked_before_a_restart_completes_after_it(demo_db):
    """A multi-instance step (协办意见) merges its finished instances through an event of the parsed spec; a
    spec parsed afresh (a restarted server, or the version an item was migrated to) must carry it too, or the
    last co-unit's opinion completes and the item waits forever."""
    from engine.workflow import deployment
    from tests.test_followup import handle_to_reply, new_item
    from tests.test_lifecycle import do, ready

    item_id = new_item(demo_db, "关于口袋公园绿化的建议")
    handle_to_reply(demo_db, item_id, co_units=["wjw"])
    do(demo_db, item_id, "wjw_staff", "co_sign_for", co_sign_decision="sign")  # the co-unit takes its part
    assert "cohandle" in ready(demo_db, item_id)
    deployment._CACHE.clear(), deployment._BY_ID.clear(), WORKFLOWS.entries.clear()  # as after a restart
    do(demo_db, item_id, "wjw_staff", "cohandle", co_opinion="同意。")
    assert ready(demo_db, item_id) == ["draft_reply"]


def test_a_completion_reads_the_stored_state_only_when_its_workflow_is_not_cached(demo_db):
    """The state (8 KB or so) is the largest thing a command could read: a cached workflow needs none of it."""
    from sqlalchemy import event

    from tests.test_lifecycle import do, ready

    with demo_db.transaction() as s:
        item_id = register_item(s, {"item_type": "proposal", "title": "关于公厕改造的提案", "content": "公厕少。",
                                    "proposer": "member_sun"}, user(s, "office")).id
    statements: list[str] = []

    def seen(_conn, _cursor, statement, *_args):
        statements.append(" ".join(statement.split()))

    event.listen(demo_db.engine, "before_cursor_execute", seen)
    try:
        do(demo_db, item_id, "office", "assign_item", assign_decision="assign", lead_unit="jtj")
        cached = [q for q in statements if "process_instance.state" in q]
        statements.clear()
        WORKFLOWS.entries.clear()  # as after a restart, or in another process
        do(demo_db, item_id, "jtj_staff", "sign_for", sign_decision="sign")
        uncached = [q for q in statements if "process_instance.state" in q]
    finally:
        event.remove(demo_db.engine, "before_cursor_execute", seen)
    assert cached == []
    assert len(uncached) == 1 and uncached[0].startswith("SELECT process_instance.state")
    assert ready(demo_db, item_id) == ["pledge"]  # the state read afresh ran on as the cached one would
    with demo_db.reading() as s:  # and what was written is that state, stepped on
        inst = s.scalars(select(ProcessInstance).where(ProcessInstance.item_id == item_id)).one()
        proc = parsed_version(s, inst.definition_id)
        wf = STATE.loads(inst.state, proc.spec, proc.subprocess_specs)
        assert {t.task_spec.bpmn_id for t in wf.get_tasks(manual=True) if t.state == TaskState.READY} == {"pledge"}


def test_a_web_worker_parses_its_processes_before_its_first_request(demo_db, monkeypatch):
    """gunicorn starts each worker afresh (at start-up, and again every couple of thousand requests). Before,
    the first task page a worker served parsed the process's BPMN and compiled its templates on the way (half a
    second on the bench VM, two seconds at the 95th percentile with eight users at once): now the worker does
    both before it takes a request, for the newest version of each process and every version a running item
    is pinned to."""
    from engine import heap
    from engine.workflow import deployment, runtime
    from web.cli import production_app

    with demo_db.transaction() as s:
        item_id = register_item(s, {"item_type": "proposal", "title": "关于公厕改造的提案", "content": "公厕少。",
                                    "proposer": "member_sun"}, user(s, "office")).id
    deployment._CACHE.clear(), deployment._BY_ID.clear(), WORKFLOWS.entries.clear()  # a new worker process
    monkeypatch.setattr(heap, "settle", lambda: None)  # this test run's objects are not frozen (tests/test_heap.py)
    app = production_app({"DATABASE_URL": demo_db.url, "SECRET_KEY": "test"})

    def no_parsing(*_args, **_kwargs):
        raise AssertionError("a request parsed BPMN or compiled a template")

    monkeypatch.setattr(deployment, "parse_bpmn", no_parsing)
    monkeypatch.setattr(app.jinja_env, "compile", no_parsing)
    for page in ("tasks/task.html", "tasks/inbox.html", "base.html"):
        app.jinja_env.get_template(page)
    with demo_db.reading() as s:
        row = task_for(s, item_id, "assign_item")
        assert runtime.task_form(s, row)["key"] == "assignment"  # the task page's form
        wf, _ = load_workflow(s, s.get(ProcessInstance, row.instance_id))  # and the command's workflow
        assert [t.task_spec.bpmn_id for t in wf.get_tasks(state=TaskState.READY, manual=True)] == ["assign_item"]


def test_a_web_worker_boots_while_its_database_cannot_be_read_and_says_so_on_its_health_check(tmp_path, monkeypatch,
                                                                                               caplog):
    """gunicorn replaces a worker every couple of thousand requests; one that failed to boot stopped the whole
    server ("Worker failed to boot"). Its parsing ahead read the database: a restart of the database at that moment
    took the web down for good. The worker now boots, logs that the processes will be parsed at first use, and the
    health check says the database is down until it answers again."""
    from engine import heap
    from web.cli import production_app

    monkeypatch.setattr(heap, "settle", lambda: None)  # this test run's objects are not frozen (tests/test_heap.py)
    with caplog.at_level("WARNING"):
        app = production_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'not_initialised.db'}", "SECRET_KEY": "test"})
    assert any("parsed at first use" in r.getMessage() for r in caplog.records)
    client = app.test_client()
    assert client.get("/login").status_code == 200
    health = client.get("/api/health")
    assert health.status_code == 503 and health.get_json()["status"] != "ok"
