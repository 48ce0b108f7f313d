"""单位筛选: a unit found by what a user typed, for the filter forms of lists and boards.

A province has thousands of units, so no form lists them all: a type-ahead asks for a few suggestions, and
the name typed (without JavaScript, or not picked from the suggestions) is resolved here to one unit, or to
the units it could mean. Each costs a bounded query over the unit table and the index of its names'
characters (UnitNameGram), never over the items, and about what it shows, however many units there are.
"""
from __future__ import annotations

import string
from dataclasses import dataclass, field

from sqlalchemy import delete, event, func, insert, inspect, select
from sqlalchemy.orm import Session

from engine import keyset
from engine.db import escape_like
from engine.models import Unit, UnitNameGram

SUGGESTIONS = 20  # at most this many units suggested, or listed when a name is ambiguous
MAX_TYPED = 100


@dataclass
class UnitChoice:
    """The unit filter of a form after a request: the unit chosen, or why none is."""

    unit_id: int | None = None
    text: str = ""  # what the input shows: the chosen unit's name, else what was typed
    matches: list[tuple[int, str]] = field(default_factory=list)  # several units contain the text
    more: bool = False  # more units than `matches` contain it
    typed: bool = False  # a name was typed and did not resolve to one unit

    @property
    def not_found(self) -> bool:
        return self.typed and not self.matches


def suggest(session: Session, text: str, within=None, limit: int = SUGGESTIONS) -> list[tuple[int, str]]:
    """Units whose name contains `text` (inactive ones too: older items name them), the exact name first, then
    in name order; (id, name). `within`: a further condition on Unit (e.g. units with published replies).

    The exact name is a seek along ix_unit_name. The others are read from the index of the names' characters
    and pairs (UnitNameGram), the rows of one pair of the text (its character when it has one) in name order
    until `limit` contain the whole text: what was typed can be anywhere in a name, and a pair is as short as
    what one types in Chinese, so the read costs about the units shown, not the units there are.
    """
    text = (text or "").strip()[:MAX_TYPED]
    if not text:
        return []
    q = select(Unit.id, Unit.name)
    if within is not None:
        q = q.where(within)
    exact = session.execute(q.where(Unit.name == text).order_by(Unit.id).limit(limit)).all()
    if len(exact) >= limit:
        return [(unit_id, name) for unit_id, name in exact]
    gram = UnitNameGram
    q = select(gram.unit_id, gram.name).where(gram.gram == _fold(text)[:2], gram.name != text)
    if within is not None:  # a condition on the unit row: joined only for it
        q = q.join(Unit, Unit.id == gram.unit_id).where(within)
    q = q.where(_contains(session, gram.name, text))
    rest = session.execute(q.order_by(gram.name, gram.unit_id).limit(keyset.literal_limit(limit - len(exact)))).all()
    return [(unit_id, name) for unit_id, name in exact + rest]


def _contains(session: Session, name, text: str):
    """`name` contains `text`, as LIKE '%text%' matches on each database. PostgreSQL is asked with strpos(),
    which it prices as a third of the rows: LIKE it prices from the names' statistics as if independent of
    the pair, expects a few of the pair's rows to match and reads all of them to sort them (1,000 rows for 统计局
    among 20,000 units), where they contain the pair and mostly the text, and the walk in name order stops
    at the limit."""
    if session.get_bind().dialect.name == "postgresql":
        return func.strpos(name, text) > 0
    return name.like(f"%{escape_like(text)}%", escape="\\")


# SQLite's LIKE ignores the case of ASCII letters, PostgreSQL's does not: the index holds names folded so, and
# its rows are the candidates either may match; LIKE on the name decides.
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def _fold(text: str) -> str:
    return text.translate(_ASCII_LOWER)


def name_grams(name: str) -> set[str]:
    """The characters and the pairs of adjacent characters of a name: a text of one character is one of them,
    and a longer one contains its first pair."""
    folded = _fold(name)
    return set(folded) | {folded[k:k + 2] for k in range(len(folded) - 1)}


def index_names(connection, units: list[tuple[int, str]], replace: bool = True) -> None:
    """Write the index rows of these (unit id, name), replacing the units' rows unless they have none yet."""
    if replace and units:
        connection.execute(delete(UnitNameGram).where(UnitNameGram.unit_id.in_([u for u, _ in units])))
    rows = [dict(gram=g, name=name, unit_id=unit_id) for unit_id, name in units for g in sorted(name_grams(name))]
    if rows:
        connection.execute(insert(UnitNameGram), rows)


def index_all(session: Session) -> None:
    """The index of every unit's name anew: after units were written around the ORM (a Core insert)."""
    session.execute(delete(UnitNameGram))
    units = session.execute(select(Unit.id, Unit.name).order_by(Unit.id)).all()
    for k in range(0, len(units), 1000):
        index_names(session, [tuple(u) for u in units[k:k + 1000]], replace=False)


# Every unit added or renamed through the ORM (the directory, the demo) is indexed in the same flush.
@event.listens_for(Unit, "after_insert")
def _index_new_unit(_mapper, connection, unit: Unit) -> None:
    index_names(connection, [(unit.id, unit.name)], replace=False)


@event.listens_for(Unit, "after_update")
def _index_renamed_unit(_mapper, connection, unit: Unit) -> None:
    if inspect(unit).attrs.name.history.has_changes():
        index_names(connection, [(unit.id, unit.name)])


def choose(session: Session, unit_id: int | None, typed: str | None, within=None) -> UnitChoice:
    """The unit a filter form asks for.

    `typed` is None when the request has no typed name (a `unit=<id>` link or bookmark): the id is taken as
    it is. Otherwise the name typed decides: empty is every unit; the id sent with it (the suggestion picked)
    when that unit's name is what was typed; else the unit of exactly that name, or the only unit whose name
    contains it; else the units it could mean, for the page to list.
    """
    if typed is None:
        if unit_id is None:
            return UnitChoice()
        return UnitChoice(unit_id, session.scalar(select(Unit.name).where(Unit.id == unit_id)) or "")
    text = typed.strip()[:MAX_TYPED]
    if not text:
        return UnitChoice()
    if unit_id is not None and session.scalar(select(Unit.name).where(Unit.id == unit_id)) == text:
        return UnitChoice(unit_id, text)
    found = suggest(session, text, within, SUGGESTIONS + 1)
    exact = [u for u in found if u[1] == text]
    if len(exact) == 1 or len(found) == 1:
        chosen = exact[0] if exact else found[0]
        return UnitChoice(chosen[0], chosen[1])
    return UnitChoice(None, text, found[:SUGGESTIONS], len(found) > SUGGESTIONS, typed=True)
