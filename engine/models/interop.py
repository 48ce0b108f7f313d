"""Open to the platforms around banli: API tokens, partner platforms, the event outbox and idempotency keys."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, utcnow


class ApiToken(Base):
    """个人访问令牌: a personal access token. Only its SHA-256 is stored; the token is shown once."""

    __tablename__ = "api_token"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))  # the first characters, to recognise a token in a list
    scopes: Mapped[list] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]


class Partner(Base):
    """对接平台: a partner platform (代表履职平台, 提案系统) with its machine user and webhook endpoint."""

    __tablename__ = "partner"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), unique=True)
    webhook_url: Mapped[str | None] = mapped_column(String(500))
    secret: Mapped[str] = mapped_column(String(100))  # the HMAC key both sides hold
    events: Mapped[list] = mapped_column(JSON)  # the event types it receives
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class OutboxEvent(Base):
    """An event written in the same transaction as the change it reports."""

    __tablename__ = "outbox_event"
    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)  # what partners deduplicate on
    event_type: Mapped[str] = mapped_column(String(40), index=True)
    item_id: Mapped[int | None] = mapped_column(ForeignKey("item.id"), index=True)
    payload: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookDelivery(Base):
    """One event to one partner: pending until acknowledged (2xx), retried with backoff, dead after the last try."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (UniqueConstraint("event_id", "partner_id"),
                      Index("ix_webhook_delivery_due", "state", "next_attempt_at"))
    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("outbox_event.id"))
    partner_id: Mapped[int] = mapped_column(ForeignKey("partner.id"), index=True)
    state: Mapped[str] = mapped_column(String(12), default="pending")  # pending, delivered, dead
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    claim: Mapped[str | None] = mapped_column(String(36))  # the worker that is sending it now
    locked_until: Mapped[datetime | None]  # when that claim runs out (a crashed worker's claim does)
    last_status: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None]


class IdempotencyRecord(Base):
    """The response to a POST sent with an Idempotency-Key, replayed when the same key comes again."""

    __tablename__ = "idempotency_record"
    __table_args__ = (UniqueConstraint("user_id", "key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[int | None]  # None while the first request is still running
    body: Mapped[dict | list | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
