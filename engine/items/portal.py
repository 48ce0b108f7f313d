"""代表委员: what a proposer sees of the items they lead (领衔) or co-signed (联名/附议).

The lead proposer sees the item, its consultations, its approved replies and the tasks waiting for them
(the rating, filled in right here: a proposer never opens an internal task page); a co-signer, named in Item.cosigners, sees the same read only. Nobody else's items are
reachable: `portal_item` returns None for them, exactly as for an item that does not exist.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.people import visibility
from engine.models import Attachment, Consultation, Disclosure, Item, Rating, Reply, TaskRow, User
from engine.items import merging, separate
from engine.items.queries import visible_tasks_clause
from engine.deadlines.ledger import ReplyDeadline, reply_deadlines
from engine.workflow import runtime

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
    items = session.scalars(select(Item).where(visibility.portal_items_clause(session, user))).all()
    led = [it for it in items if it.proposer_id == user.id]
    deadlines = reply_deadlines(session, items, current_round=True)
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
    forms: dict[str, dict]  # task id -> its BPMN form: the rating is filled in here, not on a task page
    consultations: list[Consultation]
    replies: list[Reply]  # approved replies only: drafts are the unit's business
    ratings: list[Rating]
    disclosure: Disclosure | None
    merged_into: Item | None = None  # 并案: the lead item whose replies this proposer receives
    may_rate_merged: bool = False
    letter_scans: list[Attachment] = field(default_factory=list)  # the stamped reply letters (盖章答复函)
    parts: list[separate.Part] = field(default_factory=list)  # 分办: each separate unit's own part
    unit_names: dict[int, str] = field(default_factory=dict)  # whose reply a task, reply or rating is


def portal_item(session: Session, user: User, item_id: int) -> PortalDetail | None:
    """The item as its proposer or a co-signer sees it, or None for anyone else."""
    item = session.get(Item, item_id)
    role = visibility.view_of(session, user, item) if item is not None else None
    if role not in ("lead", "cosigner"):
        return None

    def rows(model, *where):
        return session.scalars(select(model).where(model.item_id == item.id, *where).order_by(model.id)).all()

    tasks = _my_tasks(session, user, [item.id]).get(item.id, []) if role == "lead" else []
    forms = {t.id: runtime.task_form(session, t) for t in tasks}
    if item.merged_into_id:  # a merged item's proposer receives the lead item's replies and rates them here
        lead = session.get(Item, item.merged_into_id)
        return PortalDetail(item, role, reply_deadlines(session, [lead], current_round=True).get(lead.id), tasks,
                            forms, rows(Consultation), merging.lead_replies(session, item), rows(Rating), None, lead,
                            role == "lead" and merging.may_rate_merged(session, user, item))
    replies, ratings = rows(Reply, Reply.status == "approved"), rows(Rating)
    parts = separate.parts(session, item)
    return PortalDetail(item, role, reply_deadlines(session, [item], current_round=True).get(item.id), tasks, forms,
                        rows(Consultation), replies, ratings,
                        session.scalars(select(Disclosure).where(Disclosure.item_id == item.id)).first(),
                        letter_scans=rows(Attachment, Attachment.kind == "letter_scan"), parts=parts,
                        unit_names=separate.unit_names(session, [t.unit_id for t in tasks] + [r.unit_id for r in replies]
                                                       + [r.unit_id for r in ratings]) if parts else {})



def portal_task(session: Session, user: User, item_id: int, task_id: str) -> TaskRow | None:
    """A task of this item waiting for this (lead) proposer, or None: the portal completes nothing else."""
    detail = portal_item(session, user, item_id)
    return next((t for t in detail.tasks if t.id == task_id), None) if detail else None
