"""公开: the published replies anyone may read, without contact details.

Only items with a Disclosure row of scope 'full' or 'summary' exist here; everything else (scope 'none',
not yet published, withdrawn) is not found. Every text leaves through `redact`, so a phone number, an
e-mail address or an ID number typed into a reply never reaches the public page.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from engine.items.queries import Count, bounded_count
from engine.models import Disclosure, Item, Reply, Unit

PUBLISHED_SCOPES = ("full", "summary")
PAGE_SIZE = 20
REDACTED = "［已隐去］"

# Order matters: an ID number contains runs of digits a phone pattern would match in part.
_PATTERNS = [
    re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", re.ASCII),  # e-mail
    re.compile(r"(?<![0-9A-Za-z])[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx]"
               r"(?![0-9A-Za-z])"),  # 18-digit resident ID (居民身份证号)
    re.compile(r"(?<!\d)[1-9]\d{7}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}(?!\d)"),  # 15-digit ID
    re.compile(r"(?<!\d)(?:\+?86[\s-]?)?1[3-9]\d[\s-]?\d{4}[\s-]?\d{4}(?!\d)"),  # mobile
    re.compile(r"(?<!\d)(?:\(0\d{2,3}\)|（0\d{2,3}）|0\d{2,3}[\s-]?)\d{7,8}(?:(?:转|-|ext\.?)\d{1,5})?(?!\d)"),  # landline
    re.compile(r"(?<!\d)(?:400|800)[\s-]?\d{3}[\s-]?\d{4}(?!\d)"),  # service numbers
]
_PROBE = re.compile(r"\d{5,}|@")  # a query that looks for a contact detail
# A local number without area code looks like any other number: redacted only where it is called a phone.
_LOCAL = re.compile(r"((?:电话|手机|座机|传真|热线|联系方式)\s*(?:号码)?\s*[：:]?\s*)\d{7,8}(?!\d)")


def redact(text: str | None) -> str:
    """The text with phone numbers, e-mail addresses and ID numbers replaced by ［已隐去］."""
    out = text or ""
    for pattern in _PATTERNS:
        out = pattern.sub(REDACTED, out)
    return _LOCAL.sub(lambda m: m.group(1) + REDACTED, out)


@dataclass(frozen=True)
class PublishedReply:
    item_id: int
    year: int
    item_type: str
    number: str
    title: str
    proposer: str
    unit: str | None
    scope: str  # full, summary
    reply_class: str | None
    text: str  # redacted
    content: str | None  # the item's own text, published with a full reply (redacted)
    published_at: datetime


@dataclass
class PublicFilter:
    year: int | None = None
    item_type: str | None = None
    unit_id: int | None = None
    q: str | None = None
    page: int = 1


def _published():
    return (select(Item, Disclosure, Unit.name).join(Disclosure, Disclosure.item_id == Item.id)
            .outerjoin(Unit, Unit.id == Item.lead_unit_id).where(Disclosure.scope.in_(PUBLISHED_SCOPES)))


def _final_reply(session: Session, item_id: int) -> Reply | None:
    return session.scalars(select(Reply).where(Reply.item_id == item_id, Reply.status == "approved")
                           .order_by(Reply.round.desc(), Reply.id.desc()).limit(1)).first()


def _public(session: Session, item: Item, disclosure: Disclosure, unit: str | None) -> PublishedReply:
    text = disclosure.text or ""
    if not text:  # the office published without its own text: the reply's own, per scope
        reply = _final_reply(session, item.id)
        text = (reply.text if disclosure.scope == "full" else reply.disclosure_summary) if reply else ""
    return PublishedReply(item.id, item.year, item.item_type, item.number, item.title, item.proposer.name, unit,
                          disclosure.scope, item.reply_class, redact(text),
                          redact(item.content) if disclosure.scope == "full" else None, disclosure.published_at)


def search(session: Session, f: PublicFilter) -> tuple[list[PublishedReply], Count]:
    """Published replies matching the filter, newest first, one page; and how many match (bounded: "1,000+")."""
    q = _published()
    if f.year:
        q = q.where(Item.year == f.year)
    if f.item_type:
        q = q.where(Item.item_type == f.item_type)
    if f.unit_id:
        q = q.where(Item.lead_unit_id == f.unit_id)
    if f.q and f.q.strip():
        words = f.q.strip()
        like = f"%{words}%"
        fields = [Item.title.like(like), Item.number.like(like)]
        if not _PROBE.search(words):  # searching texts for a phone number would reveal where it was written
            fields.append(Disclosure.text.like(like))
        q = q.where(or_(*fields))
    total = bounded_count(session, q)
    # Newest publication first, along the published_at index: a page costs the rows on it.
    rows = session.execute(q.order_by(Disclosure.published_at.desc(), Disclosure.id.desc())
                           .offset((max(f.page, 1) - 1) * PAGE_SIZE).limit(PAGE_SIZE)).all()
    return [_public(session, item, d, unit) for item, d, unit in rows], total


def published_reply(session: Session, item_id: int) -> PublishedReply | None:
    """One published reply, or None when the item is not published (scope 'none', not yet, or no item)."""
    row = session.execute(_published().where(Item.id == item_id)).first()
    return _public(session, *row) if row else None


def facets(session: Session) -> tuple[list[int], list[tuple[int, str]]]:
    """The years and lead units that have published replies, for the search form."""
    years = session.scalars(select(Item.year).join(Disclosure, Disclosure.item_id == Item.id)
                            .where(Disclosure.scope.in_(PUBLISHED_SCOPES)).distinct().order_by(Item.year.desc())).all()
    units = session.execute(select(Unit.id, Unit.name).join(Item, Item.lead_unit_id == Unit.id)
                            .join(Disclosure, Disclosure.item_id == Item.id)
                            .where(Disclosure.scope.in_(PUBLISHED_SCOPES)).distinct().order_by(Unit.name)).all()
    return list(years), [tuple(u) for u in units]
