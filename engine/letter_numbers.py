"""发文字号: the document numbers of reply letters (答复函), one per approved reply, from the replying unit's
per-year counter (交运函〔2026〕12号; the prefix is the unit's 发文字号 prefix, or its name).

A number is drawn when the office approves the reply (engine.workflow.readmodel.reply_review), in the year of
that day, the letter's date: reading or downloading the letter never draws one. A reply approved before numbers
were drawn at approval has none until the office draws it on the item page (`number_reply`).

Below engine.items (the read model draws it, engine.items.letter writes it on the letter), and kept apart from
the letter's python-docx and docxtpl, which a completion does not load.
"""
from __future__ import annotations

from sqlalchemy import bindparam, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from engine import clock
from engine.models import LetterCounter, Reply, Unit

_COUNTER = LetterCounter.__table__
# Built once, run as Core: one statement draws the next number (and locks the counter's row on PostgreSQL until
# the command commits, so concurrent approvals draw different numbers); nothing is left for the ORM to flush.
_NEXT = (update(_COUNTER).where(_COUNTER.c.unit_id == bindparam("w_unit"), _COUNTER.c.year == bindparam("w_year"))
         .values(last=_COUNTER.c.last + 1).returning(_COUNTER.c.last))


def draw_number(session: Session, unit: Unit, year: int) -> str:
    """The next document number of the unit's year."""
    conn, keys = session.connection(), {"w_unit": unit.id, "w_year": year}
    while (last := conn.execute(_NEXT, keys).scalar()) is None:  # first use: create the counter (or another
        insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert  # writer did meanwhile)
        conn.execute(insert(_COUNTER).values(unit_id=unit.id, year=year, last=0).on_conflict_do_nothing())
    return f"{unit.letter_prefix or unit.name}〔{year}〕{last}号"


def number_reply(session: Session, reply: Reply) -> str:
    """Give the approved reply its document number, in the year of its approval, unless it has one; return it."""
    if reply.letter_number is None:
        day = clock.local_day(reply.reviewed_at) or clock.today()
        reply.letter_number = draw_number(session, session.get(Unit, reply.unit_id), day.year)
    return reply.letter_number
