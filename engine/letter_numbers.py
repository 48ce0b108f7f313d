"""发文字号: the document numbers of reply letters (答复函), one per approved reply, from the replying unit's
per-year counter (交运函〔2026〕12号; the prefix is the unit's 发文字号 prefix, or its name).

A number is drawn when the office approves the reply (engine.workflow.readmodel.reply_review), in the year of
that day, the letter's date: reading or downloading the letter never draws one. A reply approved before numbers
were drawn at approval has none until the office draws it on the item page (`number_reply`).

并案: the reply of an item others were merged into goes to each of their proposers too, each in a letter of its
own, so each of those letters draws its own number with the reply's (MergedLetter): two letters issued never
carry one number.

Below engine.items (the read model draws it, engine.items.letter writes it on the letter), and kept apart from
the letter's python-docx and docxtpl, which a completion does not load.
"""
from __future__ import annotations

from sqlalchemy import bindparam, exists, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from engine import clock, writes
from engine.models import Item, LetterCounter, MergedLetter, Reply, Unit

_COUNTER = LetterCounter.__table__
# Built once, run as Core: one statement draws the next number (and locks the counter's row on PostgreSQL until
# the command commits, so concurrent approvals draw different numbers); nothing is left for the ORM to flush.
_NEXT = (update(_COUNTER).where(_COUNTER.c.unit_id == bindparam("w_unit"), _COUNTER.c.year == bindparam("w_year"))
         .values(last=_COUNTER.c.last + 1).returning(_COUNTER.c.last))
_ITEMS, _MERGED = Item.__table__, MergedLetter.__table__
# The items merged into the reply's item whose letter of that reply has no number yet, in their numbers' order.
_UNNUMBERED = (select(_ITEMS.c.id).where(_ITEMS.c.merged_into_id == bindparam("item_id"),
                                         ~exists().where(_MERGED.c.reply_id == bindparam("reply_id"),
                                                         _MERGED.c.item_id == _ITEMS.c.id))
               .order_by(_ITEMS.c.number))
_MERGED_NUMBER = select(_MERGED.c.letter_number).where(_MERGED.c.reply_id == bindparam("reply_id"),
                                                       _MERGED.c.item_id == bindparam("item_id"))


def draw_number(session: Session, unit: Unit, year: int) -> str:
    """The next document number of the unit's year."""
    conn, keys = session.connection(), {"w_unit": unit.id, "w_year": year}
    while (last := conn.execute(_NEXT, keys).scalar()) is None:  # first use: create the counter (or another
        insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert  # writer did meanwhile)
        conn.execute(insert(_COUNTER).values(unit_id=unit.id, year=year, last=0).on_conflict_do_nothing())
    return f"{unit.letter_prefix or unit.name}〔{year}〕{last}号"


def number_reply(session: Session, reply: Reply) -> str:
    """Give the approved reply its document number, in the year of its approval, unless it has one, and so the
    letter of it to each item merged into its item (并案) that has none; return the reply's."""
    day = clock.local_day(reply.reviewed_at) or clock.today()
    unit = session.get(Unit, reply.unit_id)
    if reply.letter_number is None:
        reply.letter_number = draw_number(session, unit, day.year)
    conn = session.connection()
    for item_id in conn.execute(_UNNUMBERED, {"item_id": reply.item_id, "reply_id": reply.id}).scalars().all():
        writes.add(session, MergedLetter, reply_id=reply.id, item_id=item_id,
                   letter_number=draw_number(session, unit, day.year))
    return reply.letter_number


def letter_number(session: Session, reply: Reply, item_id: int) -> str | None:
    """The number of the letter of `reply` to the proposer of item `item_id`: the reply's own for its item, the
    merged letter's for an item merged into it; None while none was drawn."""
    if item_id == reply.item_id:
        return reply.letter_number
    return session.connection().execute(_MERGED_NUMBER, {"reply_id": reply.id, "item_id": item_id}).scalar()
