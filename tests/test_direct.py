"""Statements run straight on the driver (engine.direct) leave the database as SQLAlchemy's own execution does:
the same stored values (instants, JSON, booleans, column defaults), the same rows read back, the same errors,
and every statement seen by the cursor-event listeners."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import bindparam, event, insert, select, update
from sqlalchemy.exc import IntegrityError

from engine import clock
from engine import direct as direct_module
from engine.direct import direct
from engine.models import AuditEvent, Deadline, Item
from engine.sqlin import one_of

AT = datetime(2026, 3, 9, 1, 2, 3, 456789, tzinfo=timezone.utc)
_AUDIT = AuditEvent.__table__
_DEADLINE = Deadline.__table__


def _item_id(db) -> int:
    with db.reading() as s:
        return s.scalars(select(Item.id).order_by(Item.id).limit(1)).one()


def _entries(db, item_id: int) -> list[tuple]:
    with db.reading() as s:
        return [(e.at, e.action, e.title, e.data, e.message) for e in
                s.scalars(select(AuditEvent).where(AuditEvent.item_id == item_id, AuditEvent.action.like("t-direct-%"))
                          .order_by(AuditEvent.id))]


def test_a_direct_insert_stores_what_sqlalchemy_stores(demo_db):
    item_id = _item_id(demo_db)
    rows = [dict(item_id=item_id, at=AT, action="t-direct-a", title="签收", data={"意见": "同意", "n": 2}, message=None),
            dict(item_id=item_id, at=AT + timedelta(days=1), action="t-direct-b", title=None, data=None,
                 message=["%(name)s", {"name": "交办"}])]
    with demo_db.transaction() as s:
        s.connection().execute(insert(_AUDIT), rows)  # SQLAlchemy's execution
    ordinary = _entries(demo_db, item_id)
    sent = direct(insert(_AUDIT))
    with demo_db.transaction() as s:
        s.execute(AuditEvent.__table__.delete().where(AuditEvent.action.like("t-direct-%")))
        s.connection().execute(sent, rows)  # several rows (executemany)
        s.connection().execute(sent, rows[0])  # and one
    assert _entries(demo_db, item_id) == ordinary + ordinary[:1]
    assert [plan is not None for key, plan in direct_module._PLANS.items() if key[0] is sent] == [True, True]
    assert ordinary[0] == (AT, "t-direct-a", "签收", {"意见": "同意", "n": 2}, None)
    assert ordinary[1][3] is None and ordinary[1][4] == ["%(name)s", {"name": "交办"}]


def test_column_defaults_apply_as_they_do_in_sqlalchemy(demo_db):
    """`opened_at` (a function: now), `status` and `extended` (constants) are filled in for rows that omit them."""
    item_id = _item_id(demo_db)
    row = dict(item_id=item_id, key="t-direct", due_date=date(2026, 4, 1), original_due_date=date(2026, 4, 1))
    with clock.travel(AT), demo_db.transaction() as s:
        s.connection().execute(direct(insert(_DEADLINE)), row)
    with demo_db.reading() as s:
        d = s.scalars(select(Deadline).where(Deadline.key == "t-direct")).one()
        assert (d.status, d.extended, d.round, d.due_date) == ("open", False, 1, date(2026, 4, 1))
        assert timedelta(0) <= d.opened_at - AT < timedelta(minutes=1)  # the travelled clock's now


def test_a_direct_read_gives_processed_rows_by_name_by_position_and_as_mappings(demo_db):
    item_id = _item_id(demo_db)
    with demo_db.transaction() as s:
        s.connection().execute(insert(_AUDIT), dict(item_id=item_id, at=AT, action="t-direct-r", data={"a": [1, 2]}))
    read = direct(select(_AUDIT.c.at, _AUDIT.c.data, _AUDIT.c.action).where(_AUDIT.c.action == bindparam("action")))
    with demo_db.transaction() as s:
        result = s.connection().execute(read, {"action": "t-direct-r"})
        rows = result.all()
        assert [(r.at, r.data, r[2]) for r in rows] == [(AT, {"a": [1, 2]}, "t-direct-r")]
        assert rows[0].at.tzinfo is not None  # an aware instant on SQLite too
        assert s.connection().execute(read, {"action": "t-direct-r"}).mappings() == \
            [{"at": AT, "data": {"a": [1, 2]}, "action": "t-direct-r"}]
        assert s.connection().execute(read, {"action": "no-such-action"}).first() is None


def test_a_direct_update_reports_the_rows_it_changed(demo_db):
    item_id = _item_id(demo_db)
    change = direct(update(Item).where(Item.id == bindparam("w_id")).values(title=bindparam("v_title")))
    with demo_db.transaction() as s:
        assert s.connection().execute(change, {"w_id": item_id, "v_title": "改过的标题"}).rowcount == 1
        assert s.connection().execute(change, {"w_id": -1, "v_title": "无"}).rowcount == 0
    with demo_db.reading() as s:
        assert s.get(Item, item_id).title == "改过的标题"


def test_a_list_parameter_and_a_statement_that_cannot_go_direct_still_run(demo_db):
    item_id = _item_id(demo_db)
    by_list = direct(select(Item.id).where(one_of(Item.id, "ids")))
    expanding = direct(select(Item.id).where(Item.id.in_(bindparam("ids", expanding=True))))
    with demo_db.reading() as s:
        for stmt in (by_list, expanding):
            assert s.connection().execute(stmt, {"ids": [item_id, -5]}).scalars().all() == [item_id]
            assert list(s.connection().execute(stmt, {"ids": []})) == []


def test_a_driver_error_is_sqlalchemys_and_undoes_the_command(demo_db):
    item_id = _item_id(demo_db)
    with pytest.raises(IntegrityError), demo_db.transaction() as s:
        s.connection().execute(direct(insert(_AUDIT)), dict(item_id=item_id, at=AT, action="t-direct-undone"))
        s.connection().execute(direct(insert(_AUDIT)), dict(item_id=-12345, at=AT, action="t-direct-no-item"))
        s.connection().execute(select(Item.id).limit(1)).all()  # PostgreSQL: a queued write fails at the next read
    with demo_db.reading() as s:
        assert s.scalars(select(AuditEvent.id).where(AuditEvent.action.like("t-direct-%"))).all() == []
    with demo_db.transaction() as s:  # the connection serves the next command
        s.connection().execute(direct(insert(_AUDIT)), dict(item_id=item_id, at=AT, action="t-direct-after"))
    assert [e[1] for e in _entries(demo_db, item_id)] == ["t-direct-after"]


def test_listeners_see_every_direct_statement_with_its_parameters(demo_db):
    item_id = _item_id(demo_db)
    seen = []

    def record(_conn, _cursor, statement, parameters, context, many):
        seen.append((statement.split()[0], many, context.execution_options.get("banli_direct")))

    event.listen(demo_db.engine, "before_cursor_execute", record)
    try:
        with demo_db.transaction() as s:
            s.connection().execute(direct(insert(_AUDIT)), [dict(item_id=item_id, at=AT, action="t-direct-1")] * 2)
            s.connection().execute(direct(select(_AUDIT.c.id).where(_AUDIT.c.item_id == item_id))).all()
    finally:
        event.remove(demo_db.engine, "before_cursor_execute", record)
    assert [s for s in seen if s[0] != "BEGIN"] == [("INSERT", True, True), ("SELECT", False, True)]
