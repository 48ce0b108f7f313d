"""On PostgreSQL a command's writes whose answer it does not read go out together with the next statement it
waits for (libpq's pipeline mode, engine.db): a completion waits for the server a few times, not once per
statement, and still reads what it wrote, fails whole when a write fails, and hands no connection back to the
pool in pipeline mode."""
from __future__ import annotations

import re
from contextlib import ExitStack, contextmanager

import pytest
from sqlalchemy import event, func, insert, select, text

from engine import clock, writes
from engine.models import AuditEvent, Item
from engine.items.registration import register_item
from engine.workflow.runtime import complete_task
from tests.conftest import BACKEND, task_for, user
from tests.test_lifecycle import do, register

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(BACKEND != "postgres", reason="PostgreSQL only: runs in the BANLI_TEST_DB=postgres "
                                                     "pass of `make test`"),
]


@contextmanager
def _round_trips(session, tmp_path):
    """The times the session's connection waits for the server: libpq's protocol trace, one Sync (or simple
    Query) per answer awaited, or a Flush for the answer to a statement sent ahead (engine.direct.send), COMMIT
    included."""
    raw = session.connection().connection.dbapi_connection
    trace = tmp_path / "libpq.trace"
    with open(trace, "w") as out:
        raw.pgconn.trace(out.fileno())
        counted = []
        try:
            yield counted
        finally:
            raw.pgconn.untrace()
    sent = [(m.group(1), line) for line in trace.read_text().splitlines()
            if (m := re.search(r"\bF\s+\d+\s+(\w+)", line))]
    # a Flush right behind a Sync (psycopg's end of a pipeline sends both) is the same wait
    counted.extend(line for i, (kind, line) in enumerate(sent)
                   if kind in ("Sync", "Query") or (kind == "Flush" and (i == 0 or sent[i - 1][0] != "Sync")))


def _in_pipeline(db) -> list[bool]:
    """Whether each pooled connection is in pipeline mode now."""
    out = []
    with db.engine.connect() as conn:
        out.append(conn.connection.dbapi_connection._pipeline is not None)
    return out


def test_a_completion_waits_for_the_server_a_few_times_not_once_a_statement(demo_db, tmp_path):
    """Before: each of the sign-for's 9 statements waited for its answer: 9 round trips, BEGIN and COMMIT aside;
    then 4, the item's deadlines read on their own after the scan; now they come with the scan's answer."""
    item_id = register(demo_db)
    do(demo_db, item_id, "office", "assign_item", assign_decision="assign", lead_unit="jtj", co_units=["jyj"])
    statements = []
    record = lambda *a: statements.append(a[2])  # noqa: E731
    with ExitStack() as stack:
        s = stack.enter_context(demo_db.transaction())
        row = task_for(s, item_id, "sign_for")
        who = user(s, "jtj_staff")
        waited = stack.enter_context(_round_trips(s, tmp_path))  # the COMMIT (at the transaction's end) counted
        event.listen(demo_db.engine, "before_cursor_execute", record)
        stack.callback(event.remove, demo_db.engine, "before_cursor_execute", record)
        complete_task(s, row.id, who, {"sign_decision": "sign"})
    # the command's reads (its rows; the task and timer rows with the deadlines) and the instance's checked
    # write: the projections', timers', deadlines', task rows' and notices' writes ride along with them
    assert 0 < len(waited) <= 3, f"{len(waited)} round trips for {len(statements)} statements:\n" + "\n".join(waited)
    assert len(statements) >= 8
    with demo_db.reading() as s:
        assert s.scalar(select(func.count()).select_from(AuditEvent)
                        .where(AuditEvent.item_id == item_id, AuditEvent.step == "sign_for")) == 1


def test_a_read_sees_the_writes_queued_before_it(demo_db):
    item_id = register(demo_db)
    with demo_db.transaction() as s:
        before = s.scalar(select(func.count()).select_from(AuditEvent))
        conn = s.connection()
        stmt = writes.later(insert(AuditEvent))
        conn.execute(stmt, dict(item_id=item_id, at=clock.now(), action="probe", actor_id=None, step=None, title="一",
                                unit_id=None, data=None, message=None))
        conn.execute(stmt, [dict(item_id=item_id, at=clock.now(), action="probe", actor_id=None, step=None, title=t,
                                 unit_id=None, data=None, message=None) for t in ("二", "三")])
        assert s.scalar(select(func.count()).select_from(AuditEvent)) == before + 3


def test_a_queued_write_that_fails_fails_the_command_and_nothing_of_it_stays(demo_db):
    item_id = register(demo_db)
    with demo_db.reading() as s:
        title = s.get(Item, item_id).title
    with pytest.raises(Exception) as failed:
        with demo_db.transaction() as s:
            s.connection().execute(text("UPDATE item SET title = '改过' WHERE id = :id"), {"id": item_id})
            s.connection().execute(writes.later(insert(AuditEvent)),  # no such item: a foreign key refuses it
                                   dict(item_id=10 ** 9, at=clock.now(), action="probe", actor_id=None, step=None,
                                        title="x", unit_id=None, data=None, message=None))
            s.scalar(select(func.count()).select_from(Item))  # the failure surfaces with the next answer
    assert "foreign key" in str(failed.value).lower()
    with demo_db.reading() as s:
        assert s.get(Item, item_id).title == title
    assert _in_pipeline(demo_db) == [False]
    do(demo_db, item_id, "office", "assign_item", assign_decision="assign", lead_unit="jtj")  # the pool works on


def test_no_connection_goes_back_to_the_pool_in_pipeline_mode(demo_db):
    with demo_db.transaction() as s:
        s.scalar(select(func.count()).select_from(Item))
        assert s.connection().connection.dbapi_connection._pipeline is not None
    assert _in_pipeline(demo_db) == [False]
    with pytest.raises(RuntimeError):
        with demo_db.transaction() as s:
            s.scalar(select(func.count()).select_from(Item))
            raise RuntimeError("a command fails")
    assert _in_pipeline(demo_db) == [False]


def test_the_commit_goes_out_with_the_last_writes_and_ends_the_pipeline_in_one_wait(demo_db, tmp_path):
    """Before: COMMIT waited for its answer, then leaving the pipeline waited again (its own Sync)."""
    item_id = register(demo_db)
    entry = dict(item_id=item_id, at=clock.now(), action="probe-commit", actor_id=None, step=None, title="一",
                 unit_id=None, data=None, message=None)
    with demo_db.transaction() as s:
        s.scalar(select(func.count()).select_from(Item))
        s.connection().execute(writes.later(insert(AuditEvent)), entry)
        with _round_trips(s, tmp_path) as waited:
            s.commit()
            s.close()  # the connection back to the pool: the pipeline has ended already
    assert len(waited) == 1, "\n".join(waited)
    assert _in_pipeline(demo_db) == [False]
    with demo_db.reading() as s:
        assert s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "probe-commit")) == 1


def test_a_queued_write_that_fails_at_the_commit_fails_it_as_sqlalchemy_does(demo_db):
    from sqlalchemy.exc import IntegrityError

    item_id = register(demo_db)
    with pytest.raises(IntegrityError):
        with demo_db.transaction() as s:
            s.connection().execute(text("UPDATE item SET title = '改过' WHERE id = :id"), {"id": item_id})
            s.connection().execute(writes.later(insert(AuditEvent)),  # no such item; nothing read after it
                                   dict(item_id=10 ** 9, at=clock.now(), action="probe", actor_id=None, step=None,
                                        title="x", unit_id=None, data=None, message=None))
    with demo_db.reading() as s:
        assert s.get(Item, item_id).title != "改过"
    assert _in_pipeline(demo_db) == [False]
    do(demo_db, item_id, "office", "assign_item", assign_decision="assign", lead_unit="jtj")  # the pool works on


def test_a_registration_waits_only_for_what_it_reads(demo_db, tmp_path):
    """A registration reads the proposer, draws a number, inserts the item (its key is read back) and the
    instance, reads the newest process and the deadline rules, scans, and writes the instance checked; the
    savepoint that guards the item's insert and the timeline entries go out with those, not each on its own.
    Before: 13 waits, the savepoint's begin and end and the registration's timeline entry one each."""
    register(demo_db)  # the calendar and the process read and cached, as in a running system
    with demo_db.transaction() as s:
        office = user(s, "office")
        with _round_trips(s, tmp_path) as waited:
            item = register_item(s, {"item_type": "suggestion", "title": "关于增设公交站台的建议",
                                     "content": "站台太远。", "proposer": "deputy_chen", "year": "2026"}, office)
            s.commit()
        item_id = item.id
    assert 0 < len(waited) <= 10, f"{len(waited)} round trips:\n" + "\n".join(waited)
    with demo_db.reading() as s:
        actions = s.scalars(select(AuditEvent.action).where(AuditEvent.item_id == item_id)
                            .order_by(AuditEvent.id)).all()
    assert actions[:2] == ["registered", "started"]


def test_recording_an_event_waits_for_nothing(demo_db, tmp_path):
    """An outbox event and its deliveries (each subscribed partner's) go in one statement queued with the
    command's other writes. Before: the event's key was read back, then the partners were read: two waits an
    event, an assignment's and an approved reply's included."""
    from engine.events import outbox
    from engine.events.partners import create_partner
    from engine.models import OutboxEvent, WebhookDelivery

    with demo_db.transaction() as s:
        create_partner(s, "代表履职平台", "office", "http://127.0.0.1:9/x", ["item.assigned"])
    with demo_db.transaction() as s:
        item = s.scalars(select(Item).order_by(Item.id)).first()
        with _round_trips(s, tmp_path) as waited:
            outbox.record(s, "item.assigned", item, {"probe": 1})
            outbox.record(s, "reply.approved", item, {"probe": 2})
    assert waited == [], "\n".join(waited)
    with demo_db.reading() as s:
        recorded = {e.id: e.event_type for e in s.scalars(select(OutboxEvent)) if "probe" in e.payload["data"]}
        queued = [recorded[d.event_id] for d in s.scalars(select(WebhookDelivery)) if d.event_id in recorded]
    assert sorted(recorded.values()) == ["item.assigned", "reply.approved"] and queued == ["item.assigned"]
