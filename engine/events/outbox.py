"""The outbox: an event is a row written in the same transaction as the change it reports.

Recording an event also queues one delivery per partner platform that subscribed to its type, so a
change that is committed always has its deliveries, and a change rolled back has none.
"""
from __future__ import annotations

import uuid

from sqlalchemy import bindparam, cast, insert, literal, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from engine.i18n import N_
from engine import clock, writes
from engine.direct import direct
from engine.models import Item, OutboxEvent, Partner, Reply, WebhookDelivery

EVENT_TYPES = {
    "item.assigned": N_("事项已交办"),  # an item was assigned to its units
    "reply.approved": N_("答复已审核通过"),  # a reply was approved by the office
    "deadline.overdue": N_("期限已超期"),  # a deadline passed with its step still open
}


def item_summary(item: Item) -> dict:
    return {"id": item.id, "number": item.number, "year": item.year, "type": item.item_type,
            "title": item.title, "status": item.status}


# What the event stores of its item: the status it had then. Its number, year, type and title never change
# after registration and are read from the item when the message is sent (rows before stored them all).
AS_OF_EVENT = ("status",)


def message(session: Session, event: OutboxEvent) -> dict:
    """The message a partner receives for an event: type, instant, item, data and the event's id.

    An approved reply's event refers to the reply (its texts are never changed once drafted) and the
    message carries them, read when it is sent."""
    if "type" in event.payload:  # stored whole by earlier versions
        return event.payload
    data, item = event.payload["data"], event.payload["item"]
    if item is not None and "number" not in item:
        item = {**item_summary(session.get(Item, event.item_id)), **item}
    if "reply_id" in data:
        data = dict(data)
        r = session.get(Reply, data.pop("reply_id"))
        data.update(text=r.text, adopted=r.adopted, promised=r.promised,
                    promised_date=r.promised_date.isoformat() if r.promised_date else None, disclosure=r.disclosure)
    return {"type": event.event_type, "occurred_at": event.created_at.isoformat(), "item": item,
            "data": data, "id": event.event_id}


_PARTNERS = select(Partner.id, Partner.events).where(Partner.active.is_(True), Partner.webhook_url.is_not(None))
_EVENT_COLUMNS = ("event_id", "event_type", "item_id", "payload", "created_at")
_INSERT_EVENT = direct(insert(OutboxEvent).returning(OutboxEvent.id))
_INSERT_DELIVERIES = writes.later(insert(WebhookDelivery))


def _record_in_one():
    """PostgreSQL: the event (a WITH clause) and a delivery for each partner subscribed to its type, in one
    statement queued with the command's writes (engine.writes.later): nothing to wait for."""
    table = OutboxEvent.__table__
    event = (insert(OutboxEvent).values({c: bindparam(c, type_=table.c[c].type) for c in _EVENT_COLUMNS})
             .returning(OutboxEvent.id).cte("recorded_event"))
    deliveries = WebhookDelivery.__table__
    fresh = ("state", "attempts")  # a new delivery's, as the model's defaults give them
    subscribed = _PARTNERS.with_only_columns(
        event.c.id, Partner.id, bindparam("created_at"),
        *(literal(deliveries.c[c].default.arg, deliveries.c[c].type) for c in fresh)) \
        .where(cast(Partner.events, JSONB).has_key(bindparam("event_type", type_=table.c.event_type.type)))
    return writes.later(insert(WebhookDelivery).from_select(("event_id", "partner_id", "next_attempt_at", *fresh),
                                                            subscribed, include_defaults=False).add_cte(event))


_RECORD_IN_ONE = _record_in_one()


def record(session: Session, event_type: str, item: Item | None, data: dict) -> None:
    """Write the event and its deliveries; the caller's transaction commits them with the change.

    Core statements on the session's connection, so the command's pending changes are not flushed halfway (a
    flush here wrote the instance a second time when a deadline's timer fired). Elsewhere than on PostgreSQL
    the event's key comes back from its INSERT and the partners are read (no round trips there)."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}")
    now = clock.now()
    conn = session.connection()
    # The payload keeps what the columns and the item do not: the message's type, id and instant are the
    # row's, the item's fixed fields the item's (`message`).
    row = dict(event_id=str(uuid.uuid4()), event_type=event_type, item_id=item.id if item else None, created_at=now,
               payload={"item": {k: getattr(item, k) for k in AS_OF_EVENT} if item else None, "data": data})
    if conn.dialect.name == "postgresql":
        conn.execute(_RECORD_IN_ONE, row)
        return
    row_id = conn.execute(_INSERT_EVENT, row).scalar()
    deliveries = [dict(event_id=row_id, partner_id=partner_id, next_attempt_at=now)
                  for partner_id, events in conn.execute(_PARTNERS) if event_type in (events or [])]
    if deliveries:
        conn.execute(_INSERT_DELIVERIES, deliveries)
