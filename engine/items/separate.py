"""分办 (separate handling): each unit's own part of an item, as the item page and the portal show it.

The parts run in the BPMN (the multi-instance `sep_part` over `separate_units`); what a page needs of each part
is read here from the records the read model wrote: the unit's assignment (signed, returned ...), its own
deadlines from the ledger (签收/申请退回, 答复, 评价), its approved reply and the proposer's rating of that reply.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.deadlines.ledger import state as deadline_state
from engine.models import Assignment, Deadline, Item, Rating, Reply, Unit

ROLE = "separate"
PART_KEYS = ("return_window", "sep_reply", "sep_rating")


@dataclass
class Part:
    unit: Unit
    status: str  # the assignment's: assigned, signed, return_requested, returned, done
    deadlines: list[tuple[Deadline, str]] = field(default_factory=list)  # (row, its state), in key order
    reply: Reply | None = None  # the part's latest approved reply
    rating: Rating | None = None  # the proposer's rating of it (未表态 when the window passed)

    @property
    def replied(self) -> bool:
        return self.reply is not None


def parts(session: Session, item: Item) -> list[Part]:
    """The 分办 units of the item's current assignment, in unit order (empty for an ordinary item)."""
    if item.assigned_at is None:
        return []
    rows = session.scalars(select(Assignment).where(Assignment.item_id == item.id, Assignment.role == ROLE,
                                                    Assignment.assigned_at >= item.assigned_at)
                           .order_by(Assignment.unit_id)).all()
    if not rows:
        return []
    unit_ids = [a.unit_id for a in rows]
    replies = {r.unit_id: r for r in session.scalars(
        select(Reply).where(Reply.item_id == item.id, Reply.unit_id.in_(unit_ids), Reply.status == "approved")
        .order_by(Reply.id))}
    ratings = {r.unit_id: r for r in session.scalars(
        select(Rating).where(Rating.item_id == item.id, Rating.unit_id.in_(unit_ids)).order_by(Rating.id))}
    deadlines: dict[int, list] = {}
    for row in session.scalars(select(Deadline).where(Deadline.item_id == item.id, Deadline.unit_id.in_(unit_ids),
                                                      Deadline.key.in_(PART_KEYS)).order_by(Deadline.id)):
        deadlines.setdefault(row.unit_id, []).append(row)
    out = []
    for a in rows:
        own = sorted(deadlines.get(a.unit_id, []), key=lambda d: PART_KEYS.index(d.key))
        out.append(Part(a.unit, a.status, [(d, deadline_state(d)) for d in own], replies.get(a.unit_id),
                        ratings.get(a.unit_id)))
    return out


def unit_names(session: Session, unit_ids) -> dict[int, str]:
    ids = [u for u in set(unit_ids) if u is not None]
    return dict(session.execute(select(Unit.id, Unit.name).where(Unit.id.in_(ids))).all()) if ids else {}
