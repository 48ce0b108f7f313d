"""Notifications: return decisions reach the unit, and e-mail goes out once through SMTP when configured."""
from __future__ import annotations

import socketserver
import threading

from sqlalchemy import select

from engine.config import Settings
from engine.models import Notification, User
from engine.people.directory import set_email
from engine.people.notifications import send_pending_email
from engine.items.registration import register_item
from engine.workflow.runtime import complete_task
from tests.conftest import task_for, user, shown_title


class _SMTPHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP to receive messages (the test's own server on 127.0.0.1)."""

    def handle(self):
        self.wfile.write(b"220 test ESMTP\r\n")
        data, in_data = [], False
        for raw in self.rfile:
            line = raw.decode("utf-8", "replace")
            if in_data:
                if line in (".\r\n", ".\n"):
                    self.server.messages.append("".join(data))
                    data, in_data = [], False
                    self.wfile.write(b"250 OK\r\n")
                else:
                    data.append(line)
                continue
            cmd = line[:4].upper()
            if cmd == "EHLO" or cmd == "HELO":
                self.wfile.write(b"250 test\r\n")
            elif cmd == "DATA":
                in_data = True
                self.wfile.write(b"354 go on\r\n")
            elif cmd == "QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.wfile.write(b"250 OK\r\n")


def test_return_decisions_reach_the_unit(demo_db):
    item_id = _return_decided(demo_db)
    with demo_db.reading() as s:
        got = s.scalars(select(Notification).where(Notification.item_id == item_id,
                                                   Notification.kind == "return_decision")).all()
        assert {n.user_id for n in got} == {user(s, "jtj_staff").id, user(s, "jtj_head").id}
        assert all("已同意" in shown_title(n) for n in got)


def _smtp():
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _SMTPHandler)
    server.messages = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_email_goes_only_to_events_after_the_address_was_set(demo_db):
    """Setting an address (or configuring SMTP) must not mail the backlog of old, even read, notifications."""
    server = _smtp()
    try:
        with demo_db.transaction() as s:
            staff = user(s, "jyj_staff")
            assert s.scalars(select(Notification).where(Notification.user_id == staff.id)).first() is not None
            set_email(staff, "jyj@example.org")
        settings = Settings(smtp_host="127.0.0.1", smtp_port=server.server_address[1])
        assert send_pending_email(demo_db, settings) == 0 and server.messages == []
        with demo_db.transaction() as s:  # a new event after the address was set
            item = register_item(s, {"item_type": "proposal", "title": "关于校园午餐的提案", "content": "午餐。",
                                     "proposer": "member_sun"}, user(s, "office"))
            complete_task(s, task_for(s, item.id, "assign_item").id, user(s, "office"),
                          {"assign_decision": "assign", "lead_unit": "jyj"})
        sent = send_pending_email(demo_db, settings)
        assert sent == 1 and len(server.messages) == 1 and "jyj@example.org" in server.messages[0]
        assert send_pending_email(demo_db, settings) == 0  # never twice
    finally:
        server.shutdown()
        server.server_close()


def test_no_smtp_configured_sends_nothing(demo_db):
    assert send_pending_email(demo_db, Settings(smtp_host=None)) == 0


def _return_decided(demo_db) -> int:
    """An item the office lets jtj return: jtj's staff get "退回申请已同意" with the office's opinion."""
    with demo_db.transaction() as s:
        item = register_item(s, {"item_type": "suggestion", "title": "关于菜场改造的建议", "content": "菜场破旧。",
                                 "proposer": "deputy_liu"}, user(s, "office"))
        complete_task(s, task_for(s, item.id, "assign_item").id, user(s, "office"),
                      {"assign_decision": "assign", "lead_unit": "jtj"})
        complete_task(s, task_for(s, item.id, "sign_for").id, user(s, "jtj_staff"),
                      {"sign_decision": "return", "return_reason": "不属于本局职责。"})
        complete_task(s, task_for(s, item.id, "decide_return").id, user(s, "office"),
                      {"return_decision": "approve", "return_opinion": "同意，改派。"})
        return item.id


def test_notifications_are_shown_in_the_readers_language(demo_db, client):
    """Titles are catalog messages stored with their parameters: the English page shows them in English
    (a step's name inside one too), the Chinese page in Chinese; a person's own words stay as typed."""
    _return_decided(demo_db)
    with demo_db.transaction() as s:
        item = register_item(s, {"item_type": "proposal", "title": "关于夜市的提案", "content": "夜市。",
                                 "proposer": "member_sun"}, user(s, "office"))
        complete_task(s, task_for(s, item.id, "assign_item").id, user(s, "office"),
                      {"assign_decision": "assign", "lead_unit": "jtj"})
    from tests.conftest import login

    login(client, "jtj_staff")
    client.get("/lang/en")
    page = client.get("/notifications/").get_data(as_text=True)
    assert "Return request approved" in page and "New task: " in page, page
    assert "退回申请已同意" not in page and "新任务" not in page
    assert "同意，改派。" in page  # the office's opinion, as written
    client.get("/lang/zh")
    page = client.get("/notifications/").get_data(as_text=True)
    assert "退回申请已同意" in page and "新任务：签收" in page


def test_a_notification_stored_as_plain_text_still_reads(demo_db):
    """Rows written before notifications kept their message show their Chinese text in any language."""
    from engine.i18n import translator
    from engine.people.notifications import text

    with demo_db.transaction() as s:
        old = Notification(user_id=user(s, "office").id, kind="task", title="新任务：交办", body="旧正文",
                           dedupe_key="old:1")
        s.add(old)
        s.flush()
        assert text(old, translator("en")) == ("新任务：交办", "旧正文")


def test_email_is_written_in_the_recipients_language(demo_db):
    """A user who chose English gets English e-mails; one who never chose gets Chinese."""
    server = _smtp()
    try:
        with demo_db.transaction() as s:
            set_email(user(s, "jtj_staff"), "jtj@example.org")
            user(s, "jtj_staff").lang = "en"
            set_email(user(s, "jtj_head"), "head@example.org")
        _return_decided(demo_db)
        settings = Settings(smtp_host="127.0.0.1", smtp_port=server.server_address[1])
        assert send_pending_email(demo_db, settings) >= 2
        import email

        mails = {m["To"]: m for m in (email.message_from_string(raw) for raw in server.messages)}
        english, chinese = mails["jtj@example.org"], mails["head@example.org"]
        subject = str(email.header.make_header(email.header.decode_header(english["Subject"])))
        assert "Return request approved" in subject and "退回" not in subject
        assert "退回申请已同意" in str(email.header.make_header(email.header.decode_header(chinese["Subject"])))
    finally:
        server.shutdown()
        server.server_close()


def test_choosing_a_language_is_remembered_for_e_mails(demo_db, client):
    from tests.conftest import login

    login(client, "jtj_staff")
    client.get("/lang/en")
    with demo_db.reading() as s:
        assert user(s, "jtj_staff").lang == "en"
