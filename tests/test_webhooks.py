"""Signed webhooks to a local HTTP server: signatures, retries with backoff, no duplicates after a crash."""
from __future__ import annotations

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import time_machine
from sqlalchemy import select

from engine import clock
from engine.events import webhooks
from engine.events.partners import create_partner
from engine.models import OutboxEvent, WebhookDelivery
from engine.workflow.sweep import sweep
from tests.test_timers import assign, at, register


class Receiver:
    """A partner platform on a local port: records every request; answers 500 while `failing` > 0."""

    def __init__(self):
        self.requests: list[tuple[dict, bytes]] = []
        self.failing = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                status = 500 if receiver.failing > 0 else 204
                receiver.failing -= 1
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/banli-events"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def ids(self) -> list[str]:
        return [h["webhook-id"] for h, _ in self.requests]


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.server.shutdown()


def partner(db, url, events=None):
    with db.transaction() as s:
        p = create_partner(s, "代表履职平台", "office", url, events)
        return p.secret


def deliveries(db):
    with db.reading() as s:
        return s.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)).all()


def test_signed_delivery_with_retries_and_backoff(demo_db, receiver):
    secret = partner(demo_db, receiver.url)
    receiver.failing = 2
    with time_machine.travel(at("2026-09-28"), tick=False):
        item_id = register(demo_db)
        assign(demo_db, item_id)
        assert [d.state for d in deliveries(demo_db)] == ["pending"]
        first = webhooks.deliver_due(demo_db)
        assert (first.delivered, first.failed) == (0, 1)
        assert webhooks.deliver_due(demo_db).failed == 0  # not due again yet: backoff
        assert len(receiver.requests) == 1
    with time_machine.travel(at("2026-09-28") + timedelta(seconds=31), tick=False):
        assert webhooks.deliver_due(demo_db).failed == 1  # second failure: next try a minute later
    with time_machine.travel(at("2026-09-28") + timedelta(seconds=62), tick=False):
        assert webhooks.deliver_due(demo_db).failed == 0
    with time_machine.travel(at("2026-09-28") + timedelta(seconds=92), tick=False):
        assert webhooks.deliver_due(demo_db).delivered == 1
        assert webhooks.deliver_due(demo_db).delivered == 0  # acknowledged once, never sent again
        [d] = deliveries(demo_db)
        assert (d.state, d.attempts, d.last_status) == ("delivered", 3, 204)
        now = int(clock.now().timestamp())
    assert len(set(receiver.ids())) == 1 and len(receiver.requests) == 3  # the same event id each time
    headers, body = receiver.requests[-1]
    assert webhooks.verify(secret, headers, body, now=now)
    assert not webhooks.verify(secret, headers, body.replace(b"jtj", b"zjj"), now=now)
    assert not webhooks.verify("whsec_" + "A" * 32, headers, body, now=now)
    assert not webhooks.verify(secret, headers, body, now=now + 3600)  # a replayed old message
    event = json.loads(body)
    assert event["type"] == "item.assigned" and event["item"]["id"] == item_id
    assert event["data"]["lead_unit"] == "jtj" and event["id"] == headers["webhook-id"]


def test_a_dead_partner_ends_dead_and_an_admin_retry_sends_it_again(demo_db):
    partner(demo_db, "http://127.0.0.1:9/unreachable")  # the discard port: connection refused
    start = at("2026-09-28")
    with time_machine.travel(start, tick=False):
        assign(demo_db, register(demo_db))
    t = start
    for _ in range(webhooks.MAX_ATTEMPTS):
        with time_machine.travel(t, tick=False):
            webhooks.deliver_due(demo_db)
        t += webhooks.MAX_RETRY
    [d] = deliveries(demo_db)
    assert d.state == "dead" and d.attempts == webhooks.MAX_ATTEMPTS and d.last_error
    with demo_db.transaction() as s:
        webhooks.retry(s, d.id)
    assert deliveries(demo_db)[0].state == "pending"


def test_no_duplicates_after_a_worker_crash(demo_db, receiver):
    partner(demo_db, receiver.url)
    with time_machine.travel(at("2026-09-28"), tick=False):
        for _ in range(3):
            assign(demo_db, register(demo_db))
        sent = []

        def crash_after_first(url, body, headers):  # the worker dies before sending the second
            if sent:
                raise KeyboardInterrupt("worker killed")
            sent.append(headers["webhook-id"])
            return webhooks.http_post(url, body, headers)

        with pytest.raises(KeyboardInterrupt):
            webhooks.deliver_due(demo_db, post=crash_after_first)
        assert [d.state for d in deliveries(demo_db)] == ["delivered", "pending", "pending"]
        # Another worker at once: the crashed worker's claim still holds, nothing is sent twice.
        assert webhooks.deliver_due(demo_db).delivered == 0
    with time_machine.travel(at("2026-09-28") + webhooks.CLAIM + timedelta(seconds=1), tick=False):
        assert webhooks.deliver_due(demo_db).delivered == 2
        assert webhooks.deliver_due(demo_db).delivered == 0
    assert sorted(receiver.ids()) == sorted(set(receiver.ids())) and len(receiver.ids()) == 3
    assert all(d.state == "delivered" and d.attempts == 1 for d in deliveries(demo_db))


def test_a_crash_between_sending_and_recording_resends_with_the_same_id(demo_db, receiver):
    partner(demo_db, receiver.url)
    with time_machine.travel(at("2026-09-28"), tick=False):
        assign(demo_db, register(demo_db))

        def sent_then_killed(url, body, headers):
            webhooks.http_post(url, body, headers)
            raise KeyboardInterrupt("killed before the acknowledgement was recorded")

        with pytest.raises(KeyboardInterrupt):
            webhooks.deliver_due(demo_db, post=sent_then_killed)
    with time_machine.travel(at("2026-09-28") + webhooks.CLAIM + timedelta(seconds=1), tick=False):
        assert webhooks.deliver_due(demo_db).delivered == 1
    ids = receiver.ids()
    assert len(ids) == 2 and ids[0] == ids[1]  # at least once; the receiver deduplicates on webhook-id
    [d] = deliveries(demo_db)
    assert d.state == "delivered" and d.attempts == 1  # acknowledged once


def test_overdue_and_approved_reply_events_are_written_with_their_change(demo_db):
    partner(demo_db, "http://127.0.0.1:9/x", events=["deadline.overdue"])
    with time_machine.travel(at("2026-09-28"), tick=False):
        item_id = register(demo_db)
        assign(demo_db, item_id)
    with time_machine.travel(at("2026-10-12"), tick=False):
        sweep(demo_db)
    with demo_db.reading() as s:
        events = s.scalars(select(OutboxEvent).where(OutboxEvent.item_id == item_id).order_by(OutboxEvent.id)).all()
        assert [e.event_type for e in events] == ["item.assigned", "deadline.overdue"]
        assert events[1].payload["data"]["deadline"] == "return_window"
    # Only the subscribed type is queued for this partner.
    assert len(deliveries(demo_db)) == 1


def test_an_event_rolled_back_with_its_change_is_never_sent(demo_db):
    partner(demo_db, "http://127.0.0.1:9/x")
    from engine.models import Item
    from engine.events import outbox

    with pytest.raises(RuntimeError):
        with demo_db.transaction() as s:
            outbox.record(s, "item.assigned", s.scalars(select(Item)).first(), {})
            raise RuntimeError("the change failed")
    assert deliveries(demo_db) == []


def test_an_event_is_queued_for_each_active_partner_that_subscribed_to_it_and_no_other(demo_db):
    """The deliveries are chosen with the event's own statement (PostgreSQL: one statement, not awaited): every
    active partner with an endpoint whose event types name it, each once; not a partner switched off, one without
    an endpoint, one subscribed to other types, or one with no list."""
    from engine.events import outbox
    from engine.models import Item, Partner

    with demo_db.transaction() as s:
        for name, url, events in (("甲", "http://127.0.0.1:9/a", ["item.assigned", "reply.approved"]),
                                  ("乙", "http://127.0.0.1:9/b", ["reply.approved"]),
                                  ("丙", None, ["item.assigned"]),
                                  ("丁", "http://127.0.0.1:9/d", ["item.assigned"]),
                                  ("戊", "http://127.0.0.1:9/e", ["deadline.overdue", "item.assigned"]),
                                  ("己", "http://127.0.0.1:9/f", [])):
            create_partner(s, name, "office", url, events)
        s.flush()
        s.scalars(select(Partner).where(Partner.name == "丁")).one().active = False
    with demo_db.transaction() as s:
        item = s.scalars(select(Item)).first()
        outbox.record(s, "item.assigned", item, {"n": 1})
        outbox.record(s, "reply.approved", item, {"n": 2})
    with demo_db.reading() as s:
        names = {p.id: p.name for p in s.scalars(select(Partner))}
        events = {e.id: (e.event_type, e.payload["data"]["n"]) for e in s.scalars(select(OutboxEvent))
                  if "n" in e.payload["data"]}  # the demo's own events aside
        got = sorted((events[d.event_id][0], names[d.partner_id], d.state, d.attempts)
                     for d in s.scalars(select(WebhookDelivery)) if d.event_id in events)
    assert sorted(v[:2] for v in events.values()) == [("item.assigned", 1), ("reply.approved", 2)]
    assert got == [("item.assigned", "戊", "pending", 0), ("item.assigned", "甲", "pending", 0),
                   ("reply.approved", "乙", "pending", 0), ("reply.approved", "甲", "pending", 0)]


def test_admins_see_partners_and_deliveries_with_their_state(app, client, demo_db):
    from tests.conftest import csrf_token, login

    login(client, "admin")
    token = csrf_token(client, "/admin/partners/")
    r = client.post("/admin/partners/", data={"name": "代表履职平台", "role": "office", "webhook_url": "ftp://x",
                                             "events": ["item.assigned"], "csrf_token": token})
    assert r.status_code == 400 and "http" in r.get_data(as_text=True)
    r = client.post("/admin/partners/", data={"name": "代表履职平台", "role": "office",
                                             "webhook_url": "http://127.0.0.1:9/x", "events": ["item.assigned"],
                                             "csrf_token": token})
    assert r.status_code == 200 and "whsec_" in r.get_data(as_text=True)
    with time_machine.travel(at("2026-09-28"), tick=False):
        assign(demo_db, register(demo_db))
        webhooks.deliver_due(demo_db)
    page = client.get("/admin/partners/?state=pending").get_data(as_text=True)
    assert "item.assigned" in page and "待投递" in page and "partner:代表履职平台" in page
    [d] = deliveries(demo_db)
    r = client.post(f"/admin/partners/deliveries/{d.id}/retry", data={"csrf_token": token})
    assert r.status_code == 302
    login(client, "office")
    assert client.get("/admin/partners/").status_code == 403
