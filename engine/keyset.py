"""Keyset pages: a list page starts after the last row of the page before (or ends before the first row of the
page after), read along an index in the list's order, so page N costs what page 1 costs (OFFSET would read
and skip every row before it).

A list is one or more segments read one after the other (the board: key items, then the rest; the inbox:
dated tasks, then undated ones), each ordered by index columns that end with a unique one. A cursor names a
segment and the key of a row in it; it travels in page links as text.
"""
from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Callable

from sqlalchemy import bindparam, literal, tuple_
from sqlalchemy.orm import Session

INT_MAX = 2**31 - 1  # PostgreSQL's INTEGER


@dataclass(frozen=True)
class Segment:
    where: tuple  # the clauses that select this segment's rows
    order: tuple  # ORDER BY columns, in the index's order (a column equal in the whole segment may lead)
    key: tuple  # the columns a cursor holds: a suffix of `order` that ends with a unique column
    descending: bool = False
    row_key: Callable[[Any], tuple] | None = None  # the key's values of a row the query returns


@dataclass(frozen=True)
class Cursor:
    segment: int
    values: tuple

    def __str__(self) -> str:
        raw = json.dumps([self.segment, [v.isoformat() if isinstance(v, (date, datetime)) else v
                                         for v in self.values]], ensure_ascii=False, separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def parse(text: str | None, segments: list[Segment]) -> Cursor | None:
    """The cursor of a page link, typed by its segment's key columns; None when missing or malformed (the
    first page, as a link someone edited by hand deserves)."""
    if not text:
        return None
    try:
        n, raw = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        if not (isinstance(n, int) and 0 <= n < len(segments)) or len(raw) != len(segments[n].key):
            return None
        values = []
        for v, col in zip(raw, segments[n].key):
            kind = getattr(col.type, "impl", col.type).python_type  # UTCDateTime: its impl's
            if not isinstance(v, int if kind in (int, bool) else str) or "\x00" in str(v):
                return None  # PostgreSQL refuses NUL even as a parameter
            if kind is int and not -INT_MAX <= v <= INT_MAX:
                return None  # beyond an INTEGER column: the database would refuse the comparison
            value = datetime.fromisoformat(v) if kind is datetime else date.fromisoformat(v) if kind is date \
                else kind(v)
            if isinstance(value, datetime) and value.tzinfo is None:
                return None  # instants are compared in UTC
            values.append(value)
        return Cursor(n, tuple(values))
    except (ValueError, TypeError, IndexError, KeyError, NotImplementedError, UnicodeDecodeError):
        return None


def literal_limit(n: int):
    """A LIMIT written into the SQL as a number, not sent as a parameter. PostgreSQL keeps one generic plan
    of a statement the driver prepared (psycopg does after 5 runs) only while it costs about what a plan for
    the actual values costs; with LIMIT $n it prices 10% of the matching rows, which on a large table makes
    the generic plan look many times dearer, so the statement was planned again on every run (about 1.2 ms,
    ten times the page's execution). A literal keeps the generic plan as cheap as the custom one."""
    return bindparam("limit", n, literal_execute=True, unique=True)


@dataclass
class Page:
    rows: list
    next: Cursor | None  # after the last row shown; None on the last page
    previous: Cursor | None  # before the first row shown; None on the first page


def _walk(session: Session, query, segments: list[Segment], limit: int, cursor: Cursor | None, backward: bool,
          scalars: bool) -> list[tuple[int, Any]]:
    """Up to `limit` (segment, row) after (or before) `cursor`, nearest first."""
    order = list(range(len(segments)))
    if backward:
        order.reverse()
    if cursor is not None:
        order = order[order.index(cursor.segment):]
    out: list[tuple[int, Any]] = []
    for n in order:
        seg = segments[n]
        q = query.where(*seg.where)
        if cursor is not None and cursor.segment == n:
            place = tuple_(*seg.key)
            at = tuple_(*(literal(v, c.type) for v, c in zip(cursor.values, seg.key)))
            q = q.where(place > at if backward == seg.descending else place < at)
        down = backward != seg.descending
        q = q.order_by(*(c.desc() if down else c for c in seg.order)).limit(literal_limit(limit - len(out)))
        rows = session.scalars(q).all() if scalars else session.execute(q).all()
        out += [(n, r) for r in rows]
        if len(out) == limit:
            break
    return out[::-1] if backward else out


def page(session: Session, query, segments: list[Segment], limit: int, after: Cursor | None = None,
         before: Cursor | None = None, scalars: bool = False) -> Page:
    """The page of `query` after `after` (or before `before`; the first page with neither)."""
    def cursor(entry):
        n, row = entry
        return Cursor(n, tuple(segments[n].row_key(row)))

    if before is not None:
        found = _walk(session, query, segments, limit + 1, before, True, scalars)
        more = len(found) > limit
        found = found[1:] if more else found
        return Page([r for _, r in found], cursor(found[-1]) if found else None, cursor(found[0]) if more else None)
    found = _walk(session, query, segments, limit + 1, after, False, scalars)
    more = len(found) > limit
    found = found[:limit]
    return Page([r for _, r in found], cursor(found[-1]) if more else None,
                cursor(found[0]) if after is not None and found else None)
