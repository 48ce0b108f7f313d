"""代表委员: what a proposer sees of the items they lead (领衔) or co-signed (联名/附议).

The lead proposer sees the item, its consultations, its approved replies and the tasks waiting for them
(the rating); a co-signer, named in Item.cosigners, sees the same read only. Nobody else's items are
reachable: `portal_item` returns None for them, exactly as for an item that does not exist.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.models import Attachment, Consultation, Disclosure, Item, Rating, Reply, TaskRow, User
from engine.items.queries import visible_tasks_clause
from engine.deadlines.ledger import ReplyDeadline, reply_deadlines

_SEPARATORS = re.compile(r"[、,，;；/\s]+")


def cosigner_names(text: str | None) -> list[str]:
    return [n for n in _SEPARATORS.split(text or "") if n]


def role_in(user: User, item: Item) -> str | None:
    """'lead', 'cosigner', or None when the item is not this proposer's."""
    if user.role != "proposer" or not user.active:
        return None
    if item.proposer_id == user.id:
        return "lead"
    return "cosigner" if user.name in cosigner_names(item.cosigners) else None


@dataclass
class PortalItem:
    item: Item
    role: str  # lead, cosigner
    reply_deadline: ReplyDeadline | None
    tasks: list[TaskRow]  # what waits for this proposer (the rating), empty for co-signers


def _my_tasks(session: Session, user: User, item_ids: list[int]) -> dict[int, list[TaskRow]]:
    out: dict[int, list[TaskRow]] = {}
    if not item_ids:
        return out
    for row in session.scalars(select(TaskRow).where(TaskRow.item_id.in_(item_ids), visible_tasks_clause(user))
                               .order_by(TaskRow.created_at)):
        out.setdefault(row.item_id, []).append(row)
    return out


def my_items(session: Session, user: User) -> list[PortalItem]:
    """The proposer's items, those waiting for them first, then newest year first."""
    if user.role != "proposer":
        return []
    led = session.scalars(select(Item).where(Item.proposer_id == user.id)).all()
    # LIKE narrows the co-signed candidates; the exact name check decides ("陈代表" is not "陈代表甲").
    cosigned = [it for it in session.scalars(select(Item).where(Item.cosigners.contains(user.name),
                                                                Item.proposer_id != user.id))
                if user.name in cosigner_names(it.cosigners)]
    items = list(led) + cosigned
    deadlines = reply_deadlines(session, items)
    tasks = _my_tasks(session, user, [it.id for it in led])
    out = [PortalItem(it, "lead" if it.proposer_id == user.id else "cosigner", deadlines.get(it.id),
                      tasks.get(it.id, [])) for it in items]
    out.sort(key=lambda p: (not p.tasks, -p.item.year, p.item.item_type, p.item.number))
    return out


@dataclass
class PortalDetail:
    item: Item
    role: str
    reply_deadline: ReplyDeadline | None
    tasks: list[TaskRow]
    consultations: list[Consultation]
    replies: list[Reply]  # approved replies only: drafts are the unit's business
    ratings: list[Rating]
    disclosure: Disclosure | None
    letter_scans: list[Attachment]  # the stamped reply letters (the lead proposer's copy)


def portal_item(session: Session, user: User, item_id: int) -> PortalDetail | None:
    """The item as its proposer or a co-signer sees it, or None for anyone else."""
    item = session.get(Item, item_id)
    role = role_in(user, item) if item is not None else None
    if role is None:
        return None

    def rows(model, *where):
        return session.scalars(select(model).where(model.item_id == item.id, *where).order_by(model.id)).all()

    tasks = _my_tasks(session, user, [item.id]).get(item.id, []) if role == "lead" else []
    return PortalDetail(item, role, reply_deadlines(session, [item]).get(item.id), tasks, rows(Consultation),
                        rows(Reply, Reply.status == "approved"), rows(Rating),
                        session.scalars(select(Disclosure).where(Disclosure.item_id == item.id)).first(),
                        rows(Attachment, Attachment.kind == "letter_scan") if role == "lead" else [])

