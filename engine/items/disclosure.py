"""公开: the published replies anyone may read, without contact details.

Only items with a Disclosure row of scope 'full' or 'summary' exist here; everything else (scope 'none',
not yet published, withdrawn) is not found. What is shown and searched is the redacted text stored when
the office published (Disclosure.public_title / public_text / public_content, see
engine.people.redaction): the internal text is never read here, so a search cannot probe it.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import Session

from engine import keyset
from engine.db import escape_like
from engine.items.queries import Count, bounded_count
from engine.models import Disclosure, Item, Unit
from engine.people.redaction import REDACTED, looks_like_probe, redact  # noqa: F401 - redact: for callers

PUBLISHED_SCOPES = ("full", "summary")
PAGE_SIZE = 20


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


def _public(item: Item, disclosure: Disclosure, unit: str | None) -> PublishedReply:
    return PublishedReply(item.id, item.year, item.item_type, item.number, disclosure.public_title or REDACTED,
                          item.proposer.name, unit, disclosure.scope, item.reply_class, disclosure.public_text or "",
                          disclosure.public_content if disclosure.scope == "full" else None,
                          disclosure.published_at)


def search(session: Session, f: PublicFilter) -> tuple[list[PublishedReply], Count]:
    """Published replies matching the filter, newest first, one page; and how many match (bounded: "1,000+")."""
    q = _matching(f)
    total = bounded_count(session, q)
    # Newest publication first, along the published_at index: a page costs the rows on it.
    rows = session.execute(q.order_by(Disclosure.published_at.desc(), Disclosure.id.desc())
                           .offset((max(f.page, 1) - 1) * PAGE_SIZE).limit(PAGE_SIZE)).all()
    return [_public(item, d, unit) for item, d, unit in rows], total


PUBLIC_ORDER = (Disclosure.published_at, Disclosure.id)
PUBLIC_SEGMENTS = [keyset.Segment((), PUBLIC_ORDER, PUBLIC_ORDER, descending=True,
                                  row_key=lambda row: (row[1].published_at, row[1].id))]


def search_page(session: Session, f: PublicFilter, after: str | None = None,
                before: str | None = None) -> tuple[keyset.Page, Count]:
    """The public list page after (or before) a page link's cursor, newest publication first along the
    (published_at, id) index (rows: PublishedReply), and the bounded total."""
    q = _matching(f)
    page = keyset.page(session, q, PUBLIC_SEGMENTS, PAGE_SIZE, keyset.parse(after, PUBLIC_SEGMENTS),
                       keyset.parse(before, PUBLIC_SEGMENTS))
    page.rows = [_public(item, d, unit) for item, d, unit in page.rows]
    return page, bounded_count(session, q)


def _matching(f: PublicFilter):
    q = _published()
    if f.year:
        q = q.where(Disclosure.public_year == f.year)
    if f.item_type:
        q = q.where(Item.item_type == f.item_type)
    if f.unit_id:
        q = q.where(Disclosure.public_unit_id == f.unit_id)
    if f.q and f.q.strip():
        words = f.q.strip()
        like = f"%{escape_like(words)}%"
        fields = [Item.number.like(like, escape="\\")]
        if not looks_like_probe(words):  # nothing to find in redacted text, and nothing to confirm
            fields += [Disclosure.public_title.like(like, escape="\\"), Disclosure.public_text.like(like, escape="\\")]
        q = q.where(or_(*fields))
    return q


def published_reply(session: Session, item_id: int) -> PublishedReply | None:
    """One published reply, or None when the item is not published (scope 'none', not yet, or no item)."""
    row = session.execute(_published().where(Item.id == item_id)).first()
    return _public(*row) if row else None


def public_years(session: Session) -> list[int]:
    """The years that have published replies, newest first, for the search form.

    A loose index scan over ix_disclosure_public_year (a recursive query: each step seeks the next lower year),
    so it costs one index seek per year shown, however many replies each year has, on SQLite and PostgreSQL.
    """
    year = Disclosure.public_year
    years = select(func.max(year).label("year")).cte("years", recursive=True)
    lower = select(year).where(year < years.c.year).order_by(year.desc()).limit(1).scalar_subquery()
    years = years.union_all(select(lower).where(years.c.year.is_not(None)))
    return list(session.scalars(select(years.c.year).where(years.c.year.is_not(None))))


HAS_PUBLISHED_REPLIES = exists().where(Disclosure.public_unit_id == Unit.id)  # for unit suggestions: one seek each
