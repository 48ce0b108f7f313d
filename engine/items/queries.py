"""Read-only queries for pages: they read indexed rows, never workflow state."""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from sqlalchemy import and_, func, literal_column, or_, select
from sqlalchemy.orm import Session, aliased, selectinload

from engine import clock, keyset
from engine.db import escape_like
from engine.people import visibility
from engine.people.authz import LANES
from engine.deadlines.ledger import LABELS as DEADLINE_LABELS, OPEN as OPEN_DEADLINE, state as deadline_state
from engine.items import promises, separate
from engine.models import (Assignment, Attachment, AuditEvent, CoOpinion, Consultation, Deadline, Disclosure,
                           ExtensionRequest, Item, LeaderInstruction, Pledge, Rating, RehandlingOrder, Reply,
                           ReturnRequest, SupervisionCheck, TaskRow, Unit, Urge, User)

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
COUNT_CAP = 1_000  # a list counts this far and then says "1,000+": an exact total would read every row


class Count(int):
    """How many rows a list has, counted up to a cap: an int (the pager computes with it) that prints as
    "1,000+" when there are more."""

    more: bool

    def __new__(cls, n: int, more: bool = False):
        obj = super().__new__(cls, n)
        obj.more = more
        return obj

    def __str__(self) -> str:
        return f"{int(self):,}+" if self.more else str(int(self))


def bounded_count(session: Session, q, cap: int = COUNT_CAP) -> Count:
    """The rows of `q`, counted through at most cap + 1 of them."""
    ones = q.order_by(None).with_only_columns(literal_column("1"), maintain_column_froms=True)  # an index can answer
    n = session.scalar(select(func.count()).select_from(ones.limit(keyset.literal_limit(cap + 1)).subquery())) or 0
    return Count(min(n, cap), n > cap)


def inbox(session: Session, user: User, page: int = 1, per_page: int = INBOX_PAGE):
    """One page of my tasks: (task row, item, unit) tuples, the soonest due first, undated ones last.

    Dated and undated tasks are read apart, each in the order of the (lane, due_at, created_at) index, so a
    page costs the rows before it and on it, not every task of a large office.
    """
    unit = aliased(Unit)
    base = (select(TaskRow, Item, unit).join(Item, Item.id == TaskRow.item_id)
            .outerjoin(unit, unit.id == TaskRow.unit_id).where(visible_tasks_clause(user)))
    offset = (max(page, 1) - 1) * per_page
    order = (TaskRow.due_at, TaskRow.created_at, TaskRow.id)
    dated = session.execute(base.where(TaskRow.due_at.is_not(None)).order_by(*order)
                            .offset(offset).limit(per_page)).all()
    if len(dated) == per_page:
        return dated
    if dated:
        offset = 0
    else:  # the page starts among the undated tasks: skip as many as the dated ones left over
        n_dated = session.scalar(select(func.count()).select_from(
            select(TaskRow.id).where(visible_tasks_clause(user), TaskRow.due_at.is_not(None))
            .limit(offset).subquery()))
        offset -= n_dated
    undated = session.execute(base.where(TaskRow.due_at.is_(None)).order_by(*order)
                              .offset(offset).limit(per_page - len(dated))).all()
    return dated + undated


def _inbox_key(row) -> tuple:
    return row[0].due_at, row[0].created_at, row[0].id


# Dated tasks first, the soonest due first, then undated ones, the oldest first: both along the
# (lane, due_at, created_at, id) index (an undated segment orders by its all-NULL due_at too, so that the
# index's order is the page's order on PostgreSQL as on SQLite).
INBOX_SEGMENTS = [
    keyset.Segment((TaskRow.due_at.is_not(None),), (TaskRow.due_at, TaskRow.created_at, TaskRow.id),
                   (TaskRow.due_at, TaskRow.created_at, TaskRow.id), row_key=_inbox_key),
    keyset.Segment((TaskRow.due_at.is_(None),), (TaskRow.due_at, TaskRow.created_at, TaskRow.id),
                   (TaskRow.created_at, TaskRow.id), row_key=lambda row: _inbox_key(row)[1:]),
]


def inbox_page(session: Session, user: User, after: str | None = None, before: str | None = None,
               per_page: int = INBOX_PAGE) -> keyset.Page:
    """The inbox page after (or before) a page link's cursor: (task row, item, unit) rows in inbox() order,
    costing what the first page costs."""
    unit = aliased(Unit)
    q = (select(TaskRow, Item, unit).join(Item, Item.id == TaskRow.item_id)
         .outerjoin(unit, unit.id == TaskRow.unit_id).where(visible_tasks_clause(user)))
    return keyset.page(session, q, INBOX_SEGMENTS, per_page, keyset.parse(after, INBOX_SEGMENTS),
                       keyset.parse(before, INBOX_SEGMENTS))


def step_deadlines(session: Session, rows: list[TaskRow]) -> dict[str, tuple[Deadline, str]]:
    """The deadline each task works against, by task id, with its state (正常 / 即将到期 / 已超期): the item's
    deadline of the task's round due on the task's date, open and the task's unit's before another's (two
    co-units owe their opinions on the same date, each in its own row). One read for a page of the inbox,
    as for the task page's one row: the state is the ledger's, a flag the date alone would not show included."""
    wanted = {r.id: (r, (r.item_id, r.round, clock.local(r.due_at).date())) for r in rows if r.due_at is not None}
    if not wanted:
        return {}
    same_day: dict[tuple, list[Deadline]] = {}
    for d in session.scalars(select(Deadline).where(Deadline.item_id.in_({k[0] for _r, k in wanted.values()}))):
        same_day.setdefault((d.item_id, d.round, d.due_date), []).append(d)
    out = {}
    for task_id, (row, key) in wanted.items():
        if key in same_day:
            d = max(same_day[key], key=lambda d: (d.status in OPEN_DEADLINE, d.unit_id == row.unit_id, d.id))
            out[task_id] = (d, deadline_state(d))
    return out


def inbox_count(session: Session, user: User) -> Count:
    return bounded_count(session, select(TaskRow.id).where(visible_tasks_clause(user)))


@dataclass
class ItemFilter:
    year: int | None = None
    item_type: str | None = None
    status: str | None = None
    unit_id: int | None = None
    key_only: bool = False
    q: str | None = None
    page: int = 1


def _filtered(user: User, f: ItemFilter, seen=None):
    """The items `user` may open internally (or those of `seen`, a visibility clause) that match the filters
    (the list page, its export and the API)."""
    q = select(Item).where(visibility.internal_items_clause(user) if seen is None else seen)
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


def list_items(session: Session, user: User, f: ItemFilter) -> tuple[list[Item], Count]:
    """One page of the items a user may see, newest first (year, then 建议 before 提案, then the latest
    number), read in the order of an index; and how many there are (bounded: "1,000+")."""
    q = _filtered(user, f)
    total = bounded_count(session, q)
    # Backwards along the (year, item_type, number) unique index: a page costs the rows on it.
    rows = session.scalars(q.order_by(Item.year.desc(), Item.item_type.desc(), Item.number.desc())
                           .offset((max(f.page, 1) - 1) * PAGE_SIZE).limit(PAGE_SIZE)).all()
    return rows, total


ITEM_ORDER = (Item.year, Item.item_type, Item.number)


def item_segments(f: ItemFilter) -> list[keyset.Segment]:
    """The item list as one descending segment. The cursor leaves out the leading columns a filter fixes
    (the year; then the type): SQLite walks (status, year, ...) for a year's status only when the rest of
    the key is the range."""
    fixed = 2 if f.year and f.item_type else 1 if f.year else 0
    return [keyset.Segment((), ITEM_ORDER, ITEM_ORDER[fixed:], descending=True,
                           row_key=lambda item: (item.year, item.item_type, item.number)[fixed:])]


def list_page(session: Session, user: User, f: ItemFilter, after: str | None = None,
              before: str | None = None, per_page: int | None = None) -> tuple[keyset.Page, Count]:
    """The item list page after (or before) a page link's cursor, in list_items() order along the
    (year, item_type, number) index, and the bounded total: page N costs what page 1 costs."""
    q, segments = _filtered(user, f), item_segments(f)
    # The page's rows alone, then their proposers and units by id: joined under the LIMIT, PostgreSQL priced
    # the lookups for every row the order could reach and set up a cache (Memoize) sized by every proposer and
    # unit at each view, a third of the page's time at 1M items.
    rows = q.options(selectinload(Item.proposer), selectinload(Item.lead_unit))
    page = keyset.page(session, rows, segments, per_page or PAGE_SIZE, keyset.parse(after, segments),
                       keyset.parse(before, segments), scalars=True)
    return page, bounded_count(session, q)


def items_after(session: Session, user: User, f: ItemFilter, after_id: int | None, limit: int) -> list[Item]:
    """Keyset pagination for the API: the newest first, `limit` items after the item `after_id`.

    A cursor stays right while items are registered meanwhile, where an offset would skip or repeat. A
    proposer lists the items of their portal, as each one of them reads; the filters by status and by unit are
    not theirs (they would tell the staff's step and the units that help, which the portal does not show)."""
    if user.role == "proposer":
        f = replace(f, status=None, unit_id=None)
    q = _filtered(user, f, visibility.visible_items_clause(session, user))
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
    deadlines: list  # (Deadline, state, owner unit's name or None), live ones first, the void ones last
    extensions: list
    urges: list
    checks: list
    promises: list  # promises.BoardRow
    merged_into: Item | None
    merged_items: list
    attachments: list  # Attachment rows (no bytes) the viewer may download
    assign_note: str | None = None  # 交办说明 of the assignment in force
    parts: list = field(default_factory=list)  # 分办: each separate unit's part (engine.items.separate.Part)


# Attachments a proposer may download: what they sent in, and the stamped reply letter sent to them.
PROPOSER_ATTACHMENTS = ("registration", "letter_scan")


def can_see_attachment(session: Session, user: User, item: Item, attachment: Attachment) -> bool:
    """Asks the visibility policy: whoever sees the item internally sees its files; in the portal the
    proposer and co-signers see only what was sent in or sent to them."""
    view = visibility.view_of(session, user, item)
    return view == "internal" or (view in ("lead", "cosigner") and attachment.kind in PROPOSER_ATTACHMENTS)


def my_next_task(session: Session, user: User, item_id: int) -> TaskRow | None:
    """The item's open task this user may act on (after registering, the office goes straight to 交办)."""
    return session.scalars(select(TaskRow).where(TaskRow.item_id == item_id, visible_tasks_clause(user))
                           .order_by(TaskRow.created_at).limit(1)).first()


_STEP_ORDER = {key: n for n, key in enumerate(DEADLINE_LABELS)}  # the procedure's order


def _deadlines_of(session: Session, item: Item) -> list[tuple[Deadline, str, str | None]]:
    """The item's deadlines with their owners, as a reader scans them: by round, due date, then unit (the lead
    unit first, the others in the order the 分办 parts are listed, the proposer's last), then step. They arose
    in the order their timers started (a first contact after the reply, a part between the lead unit's rows).
    Those voided (a part withdrawn, the item re-assigned) come after the ones that still count, so that old
    and new units' rows do not interleave."""
    def order(row):
        d, st, _unit = row
        if d.unit_id is None:
            unit = (2, 0)
        else:
            unit = (0, 0) if d.unit_id == item.lead_unit_id else (1, d.unit_id)
        return st == "void", d.round, d.due_date, unit, _STEP_ORDER.get(d.key, len(_STEP_ORDER)), d.id
    return sorted(((d, deadline_state(d), unit) for d, unit in session.execute(
        select(Deadline, Unit.name).outerjoin(Unit, Unit.id == Deadline.unit_id)
        .where(Deadline.item_id == item.id))), key=order)


def item_detail(session: Session, item: Item, viewer: User | None = None) -> ItemDetail:
    """Everything the item page shows; attachments only those `viewer` may download (all without a viewer)."""
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
                      _deadlines_of(session, item), rows(ExtensionRequest), rows(Urge),
                      rows(SupervisionCheck), promises.of_item(session, item.id),
                      session.get(Item, item.merged_into_id) if item.merged_into_id else None,
                      session.scalars(select(Item).where(Item.merged_into_id == item.id).order_by(Item.number)).all(),
                      [a for a in rows(Attachment, Attachment.uploaded_at)
                       if viewer is None or can_see_attachment(session, viewer, item, a)],
                      next(((ev.data or {}).get("assign_note") for ev, _, _ in reversed(timeline)
                            if ev.action == "completed" and (ev.data or {}).get("assign_decision") == "assign"), None),
                      separate.parts(session, item))


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
    d = item_detail(session, item, user)
    for name, attr in _DETAIL_FIELDS.items():
        if name not in fields:
            setattr(d, attr, None if attr in ("disclosure", "merged_into") else [])
    if "merge" not in fields:
        d.merged_items = []
    if "assignments" not in fields:
        d.parts = []
    if "replies" not in fields and "approved_replies" in fields:
        d.replies = [r for r in session.scalars(select(Reply).where(Reply.item_id == item.id,
                                                                    Reply.status == "approved").order_by(Reply.id))]
    return d
