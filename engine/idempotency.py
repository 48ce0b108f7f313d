"""Idempotency-Key: a POST repeated with the same key gets the first response again, not a second effect.

The key is reserved (a unique row per user and key) before the command runs, so two copies of one request
sent at once cannot both run: the second is told the first is still in progress. A response is kept for a
day; a key sent again with a different request is refused rather than silently answered with the old one.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from engine import clock
from engine.models import IdempotencyRecord

KEEP = timedelta(hours=24)
MAX_KEY = 255


@dataclass
class Prior:
    """What an earlier request with the same key left: its response, or None while it still runs."""

    status: int | None
    body: dict | list | None
    same_request: bool


def request_hash(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + body).hexdigest()


def reserve(db, user_id: int, key: str, req_hash: str) -> Prior | None:
    """Reserve `key` for this request; None means go ahead, a Prior means answer from it."""
    now = clock.now()
    for _attempt in range(2):
        try:
            with db.transaction() as s:
                s.execute(delete(IdempotencyRecord).where(IdempotencyRecord.user_id == user_id,
                                                          IdempotencyRecord.key == key,
                                                          IdempotencyRecord.created_at < now - KEEP))
                prior = s.scalars(select(IdempotencyRecord).where(IdempotencyRecord.user_id == user_id,
                                                                  IdempotencyRecord.key == key)).first()
                if prior is not None:
                    return Prior(prior.status, prior.body, prior.request_hash == req_hash)
                s.add(IdempotencyRecord(user_id=user_id, key=key, request_hash=req_hash, created_at=now))
            return None
        except IntegrityError:  # the same key reserved at this instant by a concurrent request
            continue
    return Prior(None, None, True)


def finish(db, user_id: int, key: str, status: int, body) -> None:
    """Keep the response; a server error frees the key instead, so the client may try again."""
    with db.transaction() as s:
        row = s.scalars(select(IdempotencyRecord).where(IdempotencyRecord.user_id == user_id,
                                                        IdempotencyRecord.key == key)).first()
        if row is None:
            return
        if status >= 500:
            s.delete(row)
        else:
            row.status, row.body = status, body
