"""The sweep cannot stall: failing instances are set aside in the query, one tick drains every due timer in
batches, and several sweepers share a backlog (PostgreSQL SKIP LOCKED)."""
from __future__ import annotations

import threading
import uuid
from datetime import datetime

import pytest
import time_machine
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine import clock
from engine.config import PROCESSES_DIR
from engine.models import Incident, Item, ProcessInstance, Timer
from engine.workflow.deployment import deploy
from engine.workflow.runtime import fire_timers
from engine.workflow.sweep import due_query, still_due, sweep
from tests.conftest import BACKEND
from tests.test_timers import assign, register

GOOD = (PROCESSES_DIR / "item_handling.bpmn").read_bytes()
# The sign-for reminder, once fired, runs into a failing script: every such item fails in the sweep.
REMINDER_FAILS = GOOD.replace(
    '<bpmn:endEvent id="sign_remind_end" name="已提醒签收">\n      <bpmn:incoming>Flow_sign_remind_sign_remind_end'
    '</bpmn:incoming>\n    </bpmn:endEvent>'.encode(),
    b'<bpmn:scriptTask id="sign_remind_end" name="reminder hook" scriptFormat="python">'
    b'<bpmn:incoming>Flow_sign_remind_sign_remind_end</bpmn:incoming>'
    b"<bpmn:script>x = rules['no_such_rule']</bpmn:script></bpmn:scriptTask>")
assert REMINDER_FAILS != GOOD, "the process file changed: update the replaced element"


def at(day: str, hour: int = 10) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=clock.LOCAL_TZ)


def _clone(db, item_id: int, copies: int) -> None:
    """`copies` more items in exactly this item's state (rows copied, not re-run: the test is about the sweep).
    They share the workflow's task ids, so they can only be used where firing fails before anything is written."""
    with db.transaction() as s:
        item = s.get(Item, item_id)
        inst = s.scalars(select(ProcessInstance).where(ProcessInstance.item_id == item_id)).one()
        timers = s.scalars(select(Timer).where(Timer.instance_id == inst.id)).all()
        for n in range(copies):
            twin = Item(year=item.year, item_type=item.item_type, number=f"X{n:04d}", title=item.title,
                        content=item.content, proposer_id=item.proposer_id, status=item.status)
            s.add(twin)
            s.flush()
            twin_inst = ProcessInstance(definition_id=inst.definition_id, item_id=twin.id, state=inst.state)
            s.add(twin_inst)
            s.flush()
            for t in timers:
                s.add(Timer(id=str(uuid.uuid4()), instance_id=twin_inst.id, item_id=twin.id, spec_name=t.spec_name,
                            due_at=t.due_at, deadline_key=t.deadline_key, kind=t.kind, attached_to=t.attached_to))


def test_200_failing_instances_do_not_delay_the_others(demo_db):
    with demo_db.transaction() as s:
        deploy(s, REMINDER_FAILS, "item_handling.bpmn", "admin")
    with time_machine.travel(at("2026-09-28"), tick=False):
        failing = register(demo_db)
        assign(demo_db, failing)
        _clone(demo_db, failing, 199)
        with demo_db.transaction() as s:
            deploy(s, GOOD + b"\n", "item_handling.bpmn", "admin")
        healthy = [register(demo_db) for _ in range(3)]  # registered last: the highest ids, the latest timers
        for item_id in healthy:
            assign(demo_db, item_id)
    with time_machine.travel(at("2026-10-08"), tick=False):
        first = sweep(demo_db, batch=50)
        with demo_db.reading() as s:
            healthy_instances = set(s.scalars(select(ProcessInstance.id).where(ProcessInstance.item_id.in_(healthy))))
            assert s.scalar(select(func.count()).select_from(Incident).where(Incident.status == "open")) == 200
            set_aside = s.scalar(select(func.count()).select_from(ProcessInstance)
                                 .where(ProcessInstance.status == "incident"))
        assert healthy_instances <= set(first.loaded) and len(first.failed) == 200 and set_aside == 200
        second = sweep(demo_db, batch=50)  # the set-aside instances are not even selected again
        assert second.failed == [] and second.loaded == [] and second.batches == 0


def _due_items(db, n: int) -> list[int]:
    with time_machine.travel(at("2026-09-28"), tick=False):
        items = [register(db) for _ in range(n)]
        for item_id in items:
            assign(db, item_id)
    return items


def test_one_tick_drains_a_backlog_larger_than_a_batch(demo_db):
    _due_items(demo_db, 12)
    with time_machine.travel(at("2026-10-08"), tick=False):
        report = sweep(demo_db, batch=5)
        assert len(report.loaded) == 12 and report.fired == 12 and report.batches == 3
        with demo_db.reading() as s:
            due = s.scalar(select(func.count()).select_from(Timer).where(Timer.due_at <= clock.now()))
        assert due == 0


def test_two_sweepers_share_a_backlog_without_firing_anything_twice(demo_db):
    _due_items(demo_db, 12)
    reports, errors = [], []

    def run():
        try:
            reports.append(sweep(demo_db, batch=2))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    with time_machine.travel(at("2026-10-08"), tick=False):
        threads = [threading.Thread(target=run) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    assert errors == [] and len(reports) == 2
    loaded = [i for r in reports for i in r.loaded]
    assert len(loaded) == len(set(loaded)) == 12  # every instance fired once, by one sweeper or the other
    assert sum(r.fired for r in reports) == 12


@pytest.mark.skipif(BACKEND != "postgres", reason="SQLite has one writer: two sweeps never overlap")
def test_an_instance_another_sweeper_fired_while_the_query_ran_is_not_loaded_again(demo_db):
    """The race, step by step: sweeper B's query starts while A holds instance 2 (firing it), reaches
    instance 2 after A committed, and locks it. PostgreSQL re-checks the locked row's own columns only, not
    the timer rows of the query's IN (...) (they stay as the query's snapshot saw them: due), so the query
    returns it. Before: B fired it again (nothing fired, a load for nothing; seen in the test above). Now B
    re-reads which of its locked instances are still due."""
    _due_items(demo_db, 3)
    with time_machine.travel(at("2026-10-08"), tick=False):
        now = clock.now()
        with demo_db.reading() as s:
            first, second, third = s.scalars(select(ProcessInstance.id).order_by(ProcessInstance.id)
                                             .where(ProcessInstance.status == "running")).all()[-3:]
        a = demo_db.sessions()
        b = demo_db.engine.connect()
        try:
            assert fire_timers(a, second, now, selected_due=True) == 1  # A holds instance 2, not committed
            compiled = due_query(now, 50, first - 1, postgres=True).compile(dialect=demo_db.engine.dialect)
            cursor = b.connection.driver_connection.cursor(name="sweeper_b")  # B's query, a row at a time
            cursor.execute(str(compiled), compiled.params)
            assert cursor.fetchone()[0] == first  # the query's snapshot is taken: A has not committed
            a.commit()
            locked = [first] + [r[0] for r in cursor.fetchall()]
            cursor.close()
            assert locked == [first, second, third]  # the race: instance 2 is locked and returned again
            assert still_due(Session(bind=b), locked, now) == [first, third]
        finally:
            a.close()
            b.rollback()
            b.close()
