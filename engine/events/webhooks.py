"""Signed webhooks: the outbox delivered to partner URLs with retries and backoff.

Signatures follow the Standard Webhooks scheme: headers `webhook-id` (the event id, which receivers
deduplicate on), `webhook-timestamp` and `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`
keyed by the partner's secret. A delivery is claimed for a while before it is sent, so two workers never
send it at once; once acknowledged (2xx) it is never sent again. A worker that dies between sending and
recording leaves its claim to run out and the delivery is sent again with the same id: at least once,
acknowledged once.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Callable

from sqlalchemy import or_, select

from engine.i18n import N_
from engine import clock
from engine.events import outbox
from engine.models import OutboxEvent, Partner, WebhookDelivery

log = logging.getLogger("banli.webhooks")
CLAIM = timedelta(seconds=60)
FIRST_RETRY = timedelta(seconds=30)
MAX_RETRY = timedelta(hours=6)
MAX_ATTEMPTS = 8  # about 2 hours of retries in all, then the delivery is dead until an admin retries it
TIMEOUT = 10


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix("whsec_"))


def sign(secret: str, event_id: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(_key(secret), f"{event_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def verify(secret: str, headers, body: bytes, tolerance: int = 300, now: int | None = None) -> bool:
    """What a receiver does (and the tests): check the signature and that the timestamp is recent."""
    try:
        event_id, ts = headers["webhook-id"], int(headers["webhook-timestamp"])
    except (KeyError, ValueError):
        return False
    now = int(clock.now().timestamp()) if now is None else now
    if abs(now - ts) > tolerance:
        return False
    expected = sign(secret, event_id, ts, body)
    return any(hmac.compare_digest(expected, s) for s in headers.get("webhook-signature", "").split())


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, ... doubling after each failed attempt, at most 6 hours."""
    return min(FIRST_RETRY * (2 ** max(attempts - 1, 0)), MAX_RETRY)


def http_post(url: str, body: bytes, headers: dict) -> int:
    """POST and return the status; a refused connection or a timeout raises OSError."""
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:  # noqa: S310 - admins configure the URL
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


@dataclass
class DeliveryReport:
    delivered: int = 0
    failed: int = 0
    dead: int = 0
    errors: list[str] = field(default_factory=list)


def _claim(db, batch: int) -> tuple[str, list[tuple[int, str, str, dict]]]:
    """Take up to `batch` due deliveries for this worker, committed before anything is sent."""
    claim, now = str(uuid.uuid4()), clock.now()
    with db.transaction() as s:
        q = (select(WebhookDelivery).where(WebhookDelivery.state == "pending", WebhookDelivery.next_attempt_at <= now,
                                           or_(WebhookDelivery.locked_until.is_(None),
                                               WebhookDelivery.locked_until < now))
             .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id).limit(batch))
        if db.is_postgres:
            q = q.with_for_update(skip_locked=True)
        jobs = []
        for d in s.scalars(q).all():
            d.claim, d.locked_until = claim, now + CLAIM
            partner, event = s.get(Partner, d.partner_id), s.get(OutboxEvent, d.event_id)
            jobs.append((d.id, partner.webhook_url, partner.secret, outbox.message(s, event)))
    return claim, jobs


def _record(db, delivery_id: int, claim: str, status: int | None, error: str | None, report: DeliveryReport) -> None:
    with db.transaction() as s:
        d = s.get(WebhookDelivery, delivery_id)
        if d is None or d.claim != claim or d.state != "pending":
            return  # our claim ran out and another worker took it over
        now = clock.now()
        d.attempts += 1
        d.last_status, d.last_error, d.claim, d.locked_until = status, error, None, None
        if status is not None and 200 <= status < 300:
            d.state, d.delivered_at = "delivered", now
            report.delivered += 1
        elif d.attempts >= MAX_ATTEMPTS:
            d.state = "dead"
            report.dead += 1
        else:
            d.next_attempt_at = now + backoff(d.attempts)
            report.failed += 1


def deliver_due(db, batch: int = 50, post: Callable[[str, bytes, dict], int] = http_post) -> DeliveryReport:
    """Send every due delivery once: acknowledged ones are done, the others wait for their next try."""
    report = DeliveryReport()
    claim, jobs = _claim(db, batch)
    for delivery_id, url, secret, payload in jobs:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        ts = int(clock.now().timestamp())
        headers = {"Content-Type": "application/json", "webhook-id": payload["id"], "webhook-timestamp": str(ts),
                   "webhook-signature": sign(secret, payload["id"], ts, body), "User-Agent": "banli-webhooks"}
        status, error = None, None
        try:
            status = post(url, body, headers)
            if not 200 <= status < 300:
                error = f"HTTP {status}"
        except OSError as exc:
            error = str(exc) or type(exc).__name__
        if error:
            report.errors.append(f"{url}: {error}")
            log.warning("webhook not delivered", extra={"url": url, "error": error})
        _record(db, delivery_id, claim, status, error, report)
    return report


def deliveries(session, state: str | None = None, limit: int = 200):
    """The admin's view: newest first, with the partner and the event."""
    q = (select(WebhookDelivery, Partner.name, OutboxEvent).join(Partner, Partner.id == WebhookDelivery.partner_id)
         .join(OutboxEvent, OutboxEvent.id == WebhookDelivery.event_id)
         .order_by(WebhookDelivery.id.desc()).limit(limit))
    if state:
        q = q.where(WebhookDelivery.state == state)
    return session.execute(q).all()


def retry(session, delivery_id: int) -> WebhookDelivery:
    """An admin sends a dead (or waiting) delivery again now."""
    d = session.get(WebhookDelivery, delivery_id)
    if d is None:
        raise LookupError(N_("投递记录不存在"))
    if d.state == "delivered":
        raise ValueError(N_("已送达，不再重发"))
    d.state, d.next_attempt_at, d.claim, d.locked_until = "pending", clock.now(), None, None
    d.attempts = min(d.attempts, MAX_ATTEMPTS - 1)
    return d
