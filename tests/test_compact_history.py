"""A closed item's history is stored compactly and shows the same (issue 14).

Before: each notification (one per person per event) stored its Chinese title (and body) beside the same
text as a catalog message in a verbose JSON shape, and JSON columns stored a JSON 'null' for nothing. Now a
notice keeps its catalog message only, as a short list; the rows stored before read the same (the readers
take both shapes) and the migration converts them.
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import create_engine, select

from engine import migrations
from engine.i18n import N_, Msg, step_name, translator
from engine.items.registration import register_item
from engine.models import AuditEvent, Deadline, Item, Notification, Pledge
from engine.people.notifications import notify, text
from engine.workflow.runtime import complete_task
from tests.conftest import task_for, user

EN, ZH = translator("en"), translator("zh")
TITLE = N_("新任务：%(step)s（第%(round)s轮）", step=step_name("签收"), round=2)
BODY = N_("答复类别 %(reply_class)s", reply_class="A")


def _former(msg: Msg) -> dict:
    """A message as rows before this change stored it."""
    params = {k: _former(v) if isinstance(v, Msg) else v for k, v in msg.params.items()}
    return {"id": msg.msgid, "params": params, **({"context": msg.context} if msg.context else {})}


def _assigned(db) -> int:
    with db.transaction() as s:
        item = register_item(s, {"item_type": "proposal", "title": "关于夜市的提案", "content": "夜市。",
                                 "proposer": "member_sun"}, user(s, "office"))
        complete_task(s, task_for(s, item.id, "assign_item").id, user(s, "office"),
                      {"assign_decision": "assign", "lead_unit": "jtj"})
        return item.id


def test_a_notice_stores_its_message_only_and_reads_as_a_former_row_does(demo_db):
    with demo_db.transaction() as s:
        office, item = user(s, "office"), s.scalars(select(Item).limit(1)).one()
        notify(s, [office], item, "proposer", TITLE, "compact:new", body=BODY)
        notify(s, [office], item, "return_decision", N_("退回申请已同意"), "compact:typed", body="同意，改派。")
        s.add(Notification(user_id=office.id, item_id=item.id, kind="proposer", title=str(TITLE), body=str(BODY),
                           message={"title": _former(TITLE), "body": _former(BODY)}, dedupe_key="compact:old"))
        s.flush()
        rows = {n.dedupe_key: n for n in s.scalars(select(Notification).where(Notification.dedupe_key.like("compact:%")))}
        new, typed, old = rows["compact:new"], rows["compact:typed"], rows["compact:old"]
        assert new.title is None and new.body is None  # no Chinese copy beside the message
        assert new.message == [["新任务：%(step)s（第%(round)s轮）", {"step": ["签收", {}, "bpmn"], "round": 2}],
                               ["答复类别 %(reply_class)s", {"reply_class": "A"}]]
        for translate in (EN, ZH):
            assert text(new, translate) == text(old, translate)
        assert text(new, ZH) == ("新任务：签收（第2轮）", "答复类别 A")
        assert text(new, EN)[0] != text(new, ZH)[0]
        assert typed.title is None and typed.message == [["退回申请已同意"]] and text(typed, ZH)[1] == "同意，改派。"


def test_new_task_notices_and_the_timeline_store_no_copies_and_no_json_null(demo_db):
    item_id = _assigned(demo_db)
    with demo_db.reading() as s:
        notices = s.scalars(select(Notification).where(Notification.item_id == item_id,
                                                        Notification.kind == "task")).all()
        assert notices and all(n.title is None for n in notices)
        assert [n.message for n in notices if text(n)[0] == "新任务：签收"] == [["签收"]]  # its step, no more
        assert all(text(n, EN)[0].startswith("New task: ") for n in notices)
        assert all(text(n)[0].startswith("新任务：") for n in notices)
        assert all(len(n.dedupe_key) == len("task:") + 22 for n in notices)  # the task's uuid in base64
        # nothing to say is SQL NULL, not the four bytes of a JSON null
        conn = s.connection()
        assert not conn.execute(sa.text("SELECT count(*) FROM audit_event WHERE item_id = :i AND "
                                        "(CAST(message AS TEXT) = 'null' OR CAST(data AS TEXT) = 'null')"),
                                {"i": item_id}).scalar()
        assert not conn.execute(sa.text("SELECT count(*) FROM deadline WHERE item_id = :i AND "
                                        "CAST(warning_message AS TEXT) = 'null'"), {"i": item_id}).scalar()
        assert s.scalar(select(sa.func.count()).select_from(Deadline).where(Deadline.item_id == item_id))
        assert s.scalar(select(sa.func.count()).select_from(AuditEvent).where(AuditEvent.item_id == item_id))


def test_the_notifications_page_shows_former_and_new_rows_alike(demo_db, client):
    from tests.conftest import login

    with demo_db.transaction() as s:
        office, item = user(s, "office"), s.scalars(select(Item).limit(1)).one()
        s.add(Notification(user_id=office.id, item_id=item.id, kind="proposer", title=str(TITLE), body=str(BODY),
                           message={"title": _former(TITLE), "body": _former(BODY)}, dedupe_key="page:old"))
        notify(s, [office], item, "proposer", TITLE, "page:new", body=BODY)
    login(client, "office")
    for lang, translate in (("en", EN), ("zh", ZH)):
        client.get(f"/lang/{lang}")
        page = client.get("/notifications/").get_data(as_text=True)
        title, body = TITLE.render(translate), BODY.render(translate)
        assert page.count(title) == 2 and page.count(body) == 2, lang  # the former row and the new one alike


def test_the_migration_converts_former_notices_and_back(demo_db):
    """e8b3f0c6a2d4: notices stored with their Chinese text and the former message shape keep the message only,
    shown the same; the downgrade gives the text back."""
    engine = create_engine(demo_db.url)
    table = sa.table("notification", sa.column("id", sa.Integer), sa.column("user_id", sa.Integer),
                     sa.column("kind", sa.String), sa.column("title", sa.String), sa.column("body", sa.Text),
                     sa.column("message", sa.JSON), sa.column("dedupe_key", sa.String),
                     sa.column("created_at", sa.DateTime))
    try:
        migrations.downgrade(engine, "d2a5c7e91f30")
        with engine.begin() as conn:
            uid = conn.execute(sa.text("SELECT id FROM user_account WHERE username = 'office'")).scalar()
            rows = [dict(title=str(TITLE), body=str(BODY), message={"title": _former(TITLE), "body": _former(BODY)}),
                    dict(title="退回申请已同意", body="同意，改派。", message={"title": _former(Msg("退回申请已同意")), "body": None}),
                    dict(title="旧版通知", body="旧正文", message=None),  # before messages: stays as written
                    dict(kind="task", title="新任务：签收（第2轮）", body=None, message={"title": _former(TITLE), "body": None})]
            for k, r in enumerate(rows):
                conn.execute(table.insert().values(user_id=uid, dedupe_key=f"mig:{k}",
                                                   created_at=sa.func.current_timestamp(), **{"kind": "proposer", **r}))
            rows = [{k: v for k, v in r.items() if k != "kind"} for r in rows]
            before = [text(Notification(**r)) for r in rows]
            before_en = [text(Notification(**r), EN) for r in rows]
        migrations.upgrade(engine)
        with engine.connect() as conn:
            stored = conn.execute(select(table.c.title, table.c.body, table.c.message)
                                  .where(table.c.dedupe_key.like("mig:%")).order_by(table.c.dedupe_key)).all()
        upgraded = [Notification(title=t, body=b, message=m) for t, b, m in stored]
        assert [n.title for n in upgraded] == [None, None, "旧版通知", None]
        assert upgraded[3].message == ["签收", 2]  # a task's notice: its step and round
        assert [text(n) for n in upgraded] == before and [text(n, EN) for n in upgraded] == before_en
        migrations.downgrade(engine, "d2a5c7e91f30")
        with engine.connect() as conn:
            again = conn.execute(select(table.c.title, table.c.body, table.c.message)
                                 .where(table.c.dedupe_key.like("mig:%")).order_by(table.c.dedupe_key)).all()
        assert [(t, b, m) for t, b, m in again] == [(r["title"], r["body"], r["message"]) for r in rows]
        migrations.upgrade(engine)
    finally:
        engine.dispose()


def test_the_timeline_refers_to_the_records_for_short_texts_too(demo_db, client):
    """Short texts (the pledge's contact, a consultation's participants) were copied into the timeline entry
    beside the record that holds them; now the entry keeps the decisions, and the item page shows the texts
    from the records as before."""
    from datetime import timedelta

    from engine import clock
    from tests.conftest import login
    from tests.test_lifecycle import do, register

    item_id = register(demo_db)
    do(demo_db, item_id, "office", "assign_item", assign_decision="assign", lead_unit="jtj")
    do(demo_db, item_id, "jtj_staff", "sign_for", sign_decision="sign")
    do(demo_db, item_id, "jtj_head", "pledge", responsible_leader="副局长王", contact_person="郑科长",
       contact_phone="13812345678", plan="调研试点推广。",
       target_date=(clock.today() + timedelta(days=60)).isoformat())
    do(demo_db, item_id, "jtj_staff", "consult", consult_date=clock.today().isoformat(), consult_form="meeting",
       participants="陈代表、李科长", proposer_views="希望增加班次。", more_consultation=True)
    with demo_db.reading() as s:
        entries = {e.step: e.data for e in s.scalars(select(AuditEvent).where(AuditEvent.item_id == item_id,
                                                                             AuditEvent.action == "completed"))}
    assert entries["pledge"] == {"target_date": (clock.today() + timedelta(days=60)).isoformat(), "form": "pledge"}
    assert entries["consult"] == {"consult_date": clock.today().isoformat(), "consult_form": "meeting",
                                  "more_consultation": True, "form": "consultation"}
    login(client, "office")
    page = client.get(f"/items/{item_id}").get_data(as_text=True)
    for shown in ("副局长王", "郑科长", "调研试点推广。", "陈代表、李科长", "希望增加班次。"):
        assert shown in page, shown
    with demo_db.reading() as s:  # the phone is not on the page; its record keeps it
        assert s.scalar(select(Pledge.contact_phone).where(Pledge.item_id == item_id)) == "13812345678"


def test_a_task_notice_stored_with_the_former_key_links_to_its_task_and_is_read_when_it_is_done(demo_db):
    """Notices of tasks open since before the short key: the bell links to the task, and completing the task
    marks them read, as it does the new ones."""
    from tests.test_lifecycle import do, register

    item_id = register(demo_db)
    with demo_db.transaction() as s:
        task_id = task_for(s, item_id, "assign_item").id
        office = user(s, "office")
        s.execute(sa.update(Notification).where(Notification.item_id == item_id, Notification.user_id == office.id,
                                                Notification.kind == "task").values(dedupe_key=f"task:{task_id}"))
    with demo_db.reading() as s:
        former = s.scalars(select(Notification).where(Notification.dedupe_key == f"task:{task_id}")).one()
        assert former.href == f"/tasks/{task_id}" and former.read_at is None
    do(demo_db, item_id, "office", "assign_item", assign_decision="assign", lead_unit="jtj")
    with demo_db.reading() as s:
        assert s.get(Notification, former.id).read_at is not None
        new = s.scalars(select(Notification).where(Notification.item_id == item_id, Notification.kind == "task",
                                                   Notification.read_at.is_(None))).all()
        assert new and all(n.href == f"/tasks/{task_for(s, item_id, 'sign_for').id}" for n in new
                           if "签收" in text(n)[0])


def test_an_outbox_event_refers_to_its_item_and_sends_the_same_message_as_a_former_row(demo_db):
    """Each event stored its item's number, year, type and title (which never change after registration);
    now only the status the item had then: the message a partner receives is the same as a former row's."""
    from engine.events import outbox
    from engine.models import OutboxEvent
    from tests.test_lifecycle import do, register

    item_id = register(demo_db)
    do(demo_db, item_id, "office", "assign_item", assign_decision="assign", lead_unit="jtj")
    do(demo_db, item_id, "jtj_staff", "sign_for", sign_decision="sign")  # the item's status moves on
    with demo_db.transaction() as s:
        event = s.scalars(select(OutboxEvent).where(OutboxEvent.item_id == item_id)).one()
        assert event.payload["item"] == {"status": "assigning"}
        item = s.get(Item, item_id)
        former = OutboxEvent(event_id="former-1", event_type=event.event_type, item_id=item_id,
                             created_at=event.created_at, payload={
                                 "item": {**outbox.item_summary(item), "status": "assigning"},
                                 "data": event.payload["data"]})
        s.add(former)
        s.flush()
        sent, sent_before = outbox.message(s, event), outbox.message(s, former)
    assert sent["item"]["status"] == "assigning" != item.status
    assert {**sent, "id": None} == {**sent_before, "id": None}
    assert sent["item"]["number"] == item.number and sent["item"]["title"] == item.title


def _plan(db, statement: str, parameters) -> str:
    with db.engine.connect() as conn:
        if db.is_postgres:
            conn.exec_driver_sql("SET enable_seqscan = off")
            plan = "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + statement, parameters))
            conn.rollback()
            return plan
        return "\n".join(r[-1] for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters))


def test_the_notices_of_a_done_task_and_the_unread_count_read_the_unread_rows_index(demo_db):
    """The indexes by item and by user hold unread notices only: the statements that read them still find
    their rows through them (no scan of every notice)."""
    from sqlalchemy import event

    from engine.people import notifications

    item_id = _assigned(demo_db)
    seen = []

    def keep(_conn, _cursor, statement, parameters, _context, _many):
        if "notification" in statement and statement.lstrip().upper().startswith(("UPDATE", "SELECT")):
            seen.append((statement, parameters))

    event.listen(demo_db.engine, "before_cursor_execute", keep)
    try:
        with demo_db.transaction() as s:
            item = s.get(Item, item_id)
            notifications.tasks_done(s, item, [task_for(s, item_id, "sign_for").id])
            notifications.unread_count(s, user(s, "jtj_staff").id)
    finally:
        event.remove(demo_db.engine, "before_cursor_execute", keep)
    plans = [_plan(demo_db, st, p) for st, p in seen]
    assert len(plans) == 2
    assert "ix_notification_unread_item" in plans[0], plans[0]
    assert "ix_notification_unread" in plans[1], plans[1]
