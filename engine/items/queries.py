"""Read-only queries for pages: they read indexed rows, never workflow state."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session, aliased

from engine.db import escape_like
from engine.people import visibility
from engine.people.authz import LANES
from engine.deadlines.ledger import state as deadline_state
from engine.items import promises
from engine.models import (Assignment, AuditEvent, CoOpinion, Consultation, Deadline, Disclosure, ExtensionRequest,
                           Item, LeaderInstruction, Pledge, Rating, RehandlingOrder, Reply, ReturnRequest,
                           SupervisionCheck, TaskRow, Unit, Urge, User)

PAGE_SIZE = 50


def visible_tasks_clause(user: User):
    """The SQL condition for the task rows a user may act on (mirrors authz.can_act)."""
    clauses = []
    for name, lane in LANES.items():
        if lane.role != user.role:
            continue
        if lane.unit_var:
            clauses.append(and_(TaskRow.lane == name, TaskRow.unit_id == user.unit_id))
        elif lane.person_var:
            clauses.append(and_(TaskRow.lane == name, TaskRow.assignee_id == user.id))
        else:
            clauses.append(TaskRow.lane == name)
    return or_(*clauses) if clauses else TaskRow.id.is_(None)


INBOX_PAGE = 50


def inbox(session: Session, user: User, page: int = 1):
    """One page of my tasks: (task row, item, unit) tuples, the soonest due first, undated ones last."""
    unit = aliased(Unit)
    q = (select(TaskRow, Item, unit).join(Item, Item.id == TaskRow.item_id)
         .outerjoin(unit, unit.id == TaskRow.unit_id).where(visible_tasks_clause(user))
         .order_by(TaskRow.due_at.is_(None), TaskRow.due_at, TaskRow.created_at)
         .offset((max(page, 1) - 1) * INBOX_PAGE).limit(INBOX_PAGE))
    return session.execute(q).all()


def inbox_count(session: Session, user: User) -> int:
    return session.scalar(select(func.count()).select_from(TaskRow).where(visible_tasks_clause(user))) or 0


@dataclass
class ItemFilter:
    year: int | None = None
    item_type: str | None = None
    status: str | None = None
    unit_id: int | None = None
    key_only: bool = False
    q: str | None = None
    page: int = 1


def _filtered(user: User, f: ItemFilter):
    """The items `user` may open internally that match the filters (the list page, its export and the API)."""
    q = select(Item).where(visibility.internal_items_clause(user))
    if f.year:
        q = q.where(Item.year == f.year)
    if f.item_type:
        q = q.where(Item.item_type == f.item_type)
    if f.status:
        q = q.where(Item.status == f.status)
    if f.unit_id:
        q = q.where(Item.id.in_(select(Assignment.item_id).where(Assignment.unit_id == f.unit_id,
                                                                  Assignment.ended_at.is_(None))))
    if f.key_only:
        q = q.where(Item.is_key.is_(True))
    if f.q:
        like = f"%{escape_like(f.q.strip())}%"
        q = q.where(or_(Item.title.like(like, escape="\\"), Item.number.like(like, escape="\\")))
    return q


def list_items(session: Session, user: User, f: ItemFilter):
    q = _filtered(user, f)
    total = session.scalar(select(func.count()).select_from(q.subquery()))
    rows = session.scalars(q.order_by(Item.year.desc(), Item.item_type, Item.number)
                           .offset((max(f.page, 1) - 1) * PAGE_SIZE).limit(PAGE_SIZE)).all()
    return rows, total


def items_after(session: Session, user: User, f: ItemFilter, after_id: int | None, limit: int) -> list[Item]:
    """Keyset pagination for the API: the newest first, `limit` items after the item `after_id`.

    A cursor stays right while items are registered meanwhile, where an offset would skip or repeat."""
    q = _filtered(user, f)
    if after_id is not None:
        q = q.where(Item.id < after_id)
    return session.scalars(q.order_by(Item.id.desc()).limit(limit)).all()


@dataclass
class ItemDetail:
    item: Item
    assignments: list
    return_requests: list
    pledges: list
    co_opinions: list
    instructions: list
    consultations: list
    replies: list
    ratings: list
    rehandling: list
    disclosure: Disclosure | None
    timeline: list  # (event, actor name, unit name)
    open_tasks: list
    deadlines: list  # (Deadline, state)
    extensions: list
    urges: list
    checks: list
    promises: list  # promises.BoardRow
    merged_into: Item | None
    merged_items: list


def item_detail(session: Session, item: Item) -> ItemDetail:
    def rows(model, order=None):
        return session.scalars(select(model).where(model.item_id == item.id).order_by(order or model.id)).all()

    actor, unit = aliased(User), aliased(Unit)
    timeline = session.execute(
        select(AuditEvent, actor.name, unit.name).outerjoin(actor, actor.id == AuditEvent.actor_id)
        .outerjoin(unit, unit.id == AuditEvent.unit_id).where(AuditEvent.item_id == item.id)
        .order_by(AuditEvent.at, AuditEvent.id)).all()
    tasks = session.execute(select(TaskRow, Unit.name).outerjoin(Unit, Unit.id == TaskRow.unit_id)
                            .where(TaskRow.item_id == item.id).order_by(TaskRow.created_at)).all()
    return ItemDetail(item, rows(Assignment), rows(ReturnRequest), rows(Pledge), rows(CoOpinion),
                      rows(LeaderInstruction), rows(Consultation), rows(Reply), rows(Rating),
                      rows(RehandlingOrder), session.scalars(select(Disclosure).where(
                          Disclosure.item_id == item.id)).first(), timeline, tasks,
                      [(d, deadline_state(d)) for d in rows(Deadline)], rows(ExtensionRequest), rows(Urge),
                      rows(SupervisionCheck), promises.of_item(session, item.id),
                      session.get(Item, item.merged_into_id) if item.merged_into_id else None,
                      session.scalars(select(Item).where(Item.merged_into_id == item.id).order_by(Item.number)).all())


# visibility.FIELDS name -> the ItemDetail attribute that holds it ("item" is the item itself)
_DETAIL_FIELDS = {"assignments": "assignments", "return_requests": "return_requests", "pledges": "pledges",
                  "co_opinions": "co_opinions", "instructions": "instructions", "consultations": "consultations",
                  "replies": "replies", "ratings": "ratings", "rehandling": "rehandling", "disclosure": "disclosure",
                  "timeline": "timeline", "tasks": "open_tasks", "deadlines": "deadlines", "extensions": "extensions",
                  "urges": "urges", "checks": "checks", "promises": "promises", "merge": "merged_into"}


def item_detail_for(session: Session, user: User, item: Item) -> ItemDetail | None:
    """The item's detail with only the sections this user may see (visibility.fields_for), or None when the
    user may not see the item at all. A proposer's replies are the approved ones only."""
    fields = visibility.fields_for(visibility.view_of(session, user, item))
    if not fields:
        return None
    d = item_detail(session, item)
    for name, attr in _DETAIL_FIELDS.items():
        if name not in fields:
            setattr(d, attr, None if attr in ("disclosure", "merged_into") else [])
    if "merge" not in fields:
        d.merged_items = []
    if "replies" not in fields and "approved_replies" in fields:
        d.replies = [r for r in session.scalars(select(Reply).where(Reply.item_id == item.id,
                                                                    Reply.status == "approved").order_by(Reply.id))]
    return d
