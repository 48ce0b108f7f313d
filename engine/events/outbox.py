"""The outbox: an event is a row written in the same transaction as the change it reports.

Recording an event also queues one delivery per partner platform that subscribed to its type, so a
change that is committed always has its deliveries, and a change rolled back has none.
"""
from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.i18n import N_
from engine import clock
from engine.models import Item, OutboxEvent, Partner, WebhookDelivery

EVENT_TYPES = {
    "item.assigned": N_("事项已交办"),  # an item was assigned to its units
    "reply.approved": N_("答复已审核通过"),  # a reply was approved by the office
    "deadline.overdue": N_("期限已超期"),  # a deadline passed with its step still open
}


def item_summary(item: Item) -> dict:
    return {"id": item.id, "number": item.number, "year": item.year, "type": item.item_type,
            "title": item.title, "status": item.status}


def record(session: Session, event_type: str, item: Item | None, data: dict) -> OutboxEvent:
    """Write the event and its deliveries; the caller's transaction commits them with the change."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}")
    now = clock.now()
    event = OutboxEvent(event_id=str(uuid.uuid4()), event_type=event_type, item_id=item.id if item else None,
                        created_at=now, payload={"type": event_type, "occurred_at": now.isoformat(),
                                                 "item": item_summary(item) if item else None, "data": data})
    event.payload["id"] = event.event_id
    session.add(event)
    session.flush()
    for partner in session.scalars(select(Partner).where(Partner.active.is_(True), Partner.webhook_url.is_not(None))):
        if event_type in (partner.events or []):
            session.add(WebhookDelivery(event_id=event.id, partner_id=partner.id, next_attempt_at=now))
    return event
