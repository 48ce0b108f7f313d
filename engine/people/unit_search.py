"""单位筛选: a unit found by what a user typed, for the filter forms of lists and boards.

A province has thousands of units, so no form lists them all: a type-ahead asks for a few suggestions, and
the name typed (without JavaScript, or not picked from the suggestions) is resolved here to one unit, or to
the units it could mean. Each costs a bounded query over the unit table, never over the items.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.db import escape_like
from engine.models import Unit

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

    Both are read along ix_unit_name: the exact name by a seek, the others in name order until `limit` match
    (a name typed can be anywhere in a unit's name, so no index narrows a LIKE '%...%': a name that matches
    few units reads the unit table, which is small, and never the items).
    """
    text = (text or "").strip()[:MAX_TYPED]
    if not text:
        return []
    q = select(Unit.id, Unit.name)
    if within is not None:
        q = q.where(within)
    exact = session.execute(q.where(Unit.name == text).order_by(Unit.id).limit(limit)).all()
    rest = session.execute(q.where(Unit.name.like(f"%{escape_like(text)}%", escape="\\"), Unit.name != text)
                           .order_by(Unit.name, Unit.id).limit(limit - len(exact))).all() if len(exact) < limit else []
    return [(unit_id, name) for unit_id, name in exact + rest]


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
