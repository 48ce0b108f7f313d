"""代表委员: what a proposer sees of the items they lead (领衔) or co-signed (联名/附议).

The lead proposer sees the item, its consultations, its approved replies and the tasks waiting for them
(the rating, filled in right here: a proposer never opens an internal task page); a co-signer, named in Item.cosigners, sees the same read only. Nobody else's items are
reachable: `portal_item` returns None for them, exactly as for an item that does not exist.

Where an item stands is read as a `Stage` (已登记, 交办中, 办理中, 已答复，待评价 ...), derived from the item's status
and the facts the portal shows (approved replies, ratings, 并案), never from the names of the ready steps: which
step is ready (审核退回申请, 领导领办批示, 审核答复 ...) is the staff's deliberation. The portal's pages and the API
(for a proposer) read the same `stages`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.i18n import N_, Msg
from engine.people import visibility
from engine.models import (Attachment, Consultation, Deadline, Disclosure, Item, ProcessInstance, Rating, Reply,
                           TaskRow, User)
from engine.items import merging, separate
from engine.items.queries import visible_tasks_clause
from engine.deadlines.ledger import ReplyDeadline, reply_deadlines
from engine.workflow import runtime
from engine.workflow.deployment import parsed_version

# --- where an item stands, as its proposers read it ---------------------------------------------------------

STAGE_LABELS = {
    "registered": N_("已登记"),  # the office has not assigned it yet
    "assigning": N_("交办中"),  # assigned, the units signing for it (or giving it back: the office's business)
    "handling": N_("办理中"),  # the units handle it and write the reply (drafts are theirs until approved)
    "rehandling": N_("重新办理中"),  # a later round, after the office ordered re-handling
    "rating": N_("已答复，待评价"),  # an approved reply waits for the lead proposer's rating
    "rated": N_("已评价"),  # rated; what the office makes of it (研究重新办理) is its own deliberation
    "replied": N_("已答复"),  # replied, the rating window passed unrated (未表态)
    "closed": N_("已办结"),
    "withdrawn": N_("已撤回"),
}


@dataclass(frozen=True)
class Stage:
    """Where an item stands for its proposers: a code of STAGE_LABELS and, for an item merged into another
    (并案), the other's number: its stage is then that of the lead item's handling and of this item's rating."""

    code: str
    merged_into: str | None = None

    @property
    def label(self) -> str:
        return STAGE_LABELS[self.code]

    @property
    def status(self) -> str:
        """The stage's code as the API's `status` for a proposer (a code of STAGE_LABELS, or merged)."""
        return "merged" if self.merged_into else self.code

    @property
    def text(self) -> str:
        """The stage in one line (the API's `current_step` for a proposer): 已并入 X，已答复，待评价."""
        if self.merged_into:
            return N_("已并入 %(number)s，%(stage)s", number=self.merged_into, stage=Msg(self.label))
        return self.label


def _own_stage(item: Item, rated: set[tuple[int, int]]) -> str:
    status = item.status
    if status == "registered" or (status == "assigning" and item.assigned_at is None):
        return "registered"
    if status in ("assigning", "signing"):
        return "assigning"
    if status in ("handling", "replying"):
        return "rehandling" if item.round > 1 else "handling"
    if status == "rating":
        return "rating"
    if status == "rehandling":
        return "rated"
    if status == "publishing":
        return "rated" if (item.id, item.round) in rated else "replied"
    if status in ("closed", "withdrawn"):
        return status
    return "handling"  # a status this mapping does not know yet: nothing internal, nothing promised


def stages(session: Session, items: list[Item]) -> dict[int, Stage]:
    """Each item's `Stage` by id, in four queries whatever the number of items."""
    if not items:
        return {}
    host_ids = {it.merged_into_id for it in items if it.merged_into_id}
    hosts = {h.id: h for h in session.scalars(select(Item).where(Item.id.in_(host_ids)))} if host_ids else {}
    ids = [it.id for it in items] + list(hosts)
    rated = set(session.execute(select(Rating.item_id, Rating.round).where(
        Rating.item_id.in_(ids), Rating.attitude != "no_opinion")).all())
    replied = dict(session.execute(select(Reply.item_id, func.max(Reply.round)).where(
        Reply.item_id.in_(list(hosts)), Reply.status == "approved").group_by(Reply.item_id)).all()) if hosts else {}
    windows = {(i, r): due for i, r, due in session.execute(  # merging.rating_window, of every lead item at once
        select(Deadline.item_id, Deadline.round, func.min(Deadline.due_date)).where(
            Deadline.item_id.in_(list(hosts)), Deadline.key == "rating").group_by(Deadline.item_id, Deadline.round))
    } if hosts else {}
    out: dict[int, Stage] = {}
    for it in items:
        host = hosts.get(it.merged_into_id) if it.merged_into_id else None
        if host is None:
            out[it.id] = Stage(_own_stage(it, rated))
            continue
        # 并案: the lead item's handling, and this item's own rating of the lead item's latest reply, due within
        # the lead item's rating window: past it unrated, it reads as a normal item's does after 未表态.
        lead_stage, latest = _own_stage(host, rated), replied.get(host.id)
        own_rated = (it.id, latest) in rated
        if latest is None or lead_stage in ("registered", "assigning", "withdrawn"):
            code = lead_stage
        elif not own_rated and not merging.window_passed(windows.get((host.id, latest))):
            code = "rating"
        elif lead_stage in ("handling", "rehandling", "closed"):
            code = lead_stage
        else:
            code = "rated" if own_rated else "replied"
        out[it.id] = Stage(code, host.number)
    return out


def stage(session: Session, item: Item) -> Stage:
    return stages(session, [item])[item.id]


def merged_rating_due(session: Session, item: Item) -> date | None:
    """The day by which a merged item's proposer is asked to rate the lead item's latest reply: the lead item's
    own rating deadline for that reply (the same window, from the same reply); None once it has passed or
    when the lead item has none."""
    replies = merging.lead_replies(session, item)
    if not replies:
        return None
    due = merging.rating_window(session, item.merged_into_id, replies[-1].round)
    return due if due is not None and not merging.window_passed(due) else None


def rating_form(session: Session, item: Item) -> dict | None:
    """The rating form (formKey "rating") of the lead item's process, which a merged item's proposer fills in
    on the portal as the lead item's proposer does (merging.rate_merged checks the same fields); None for a
    process version without one."""
    definition_id = session.scalar(select(ProcessInstance.definition_id).where(
        ProcessInstance.item_id == (item.merged_into_id or item.id)).order_by(ProcessInstance.id.desc()).limit(1))
    if definition_id is None:
        return None
    proc = parsed_version(session, definition_id)
    for spec in (proc.spec, *proc.subprocess_specs.values()):
        for task_spec in spec.task_specs.values():
            form = getattr(task_spec, "extensions", {}).get("form")
            if form and form.get("key") == "rating":
                return form
    return None

# --- the portal's pages -------------------------------------------------------------------------------------

@dataclass
class PortalItem:
    item: Item
    role: str  # lead, cosigner
    reply_deadline: ReplyDeadline | None
    tasks: list[TaskRow]  # what waits for this proposer (the rating), empty for co-signers
    stage: Stage | None = None
    rate_merged: bool = False  # 并案: the lead item's reply waits for this (lead) proposer's rating
    rate_merged_due: date | None = None

    @property
    def waiting(self) -> bool:
        return bool(self.tasks) or self.rate_merged


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
    shown = stages(session, items)
    out = []
    for it in items:
        entry = PortalItem(it, "lead" if it.proposer_id == user.id else "cosigner", deadlines.get(it.id),
                           tasks.get(it.id, []), shown[it.id])
        if it.merged_into_id and entry.role == "lead" and entry.stage.code == "rating":
            entry.rate_merged, entry.rate_merged_due = True, merged_rating_due(session, it)
        out.append(entry)
    out.sort(key=lambda p: (not p.waiting, -p.item.year, p.item.item_type, p.item.number))
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
    stage: Stage | None = None
    rating_form: dict | None = None  # 并案: the form of the rating this proposer owes the lead item's reply
    rate_merged_due: date | None = None
    # Items this proposer leads that were merged into this one (when they also co-signed or lead it): the
    # rating state of their own item, each kept on that item (分别评价), with its ratings.
    my_merged: list[tuple[Item, Stage, list[Rating]]] = field(default_factory=list)


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
        may_rate = role == "lead" and merging.may_rate_merged(session, user, item)
        return PortalDetail(item, role, reply_deadlines(session, [lead], current_round=True).get(lead.id), tasks,
                            forms, rows(Consultation), merging.lead_replies(session, item), rows(Rating), None, lead,
                            may_rate, stage=stage(session, item),
                            rating_form=rating_form(session, item) if may_rate else None,
                            rate_merged_due=merged_rating_due(session, item) if may_rate else None)
    replies, ratings = rows(Reply, Reply.status == "approved"), rows(Rating)
    parts = separate.parts(session, item)
    mine = [m for m in merging.merged_items(session, item) if m.proposer_id == user.id]
    mine_stages = stages(session, mine)
    return PortalDetail(item, role, reply_deadlines(session, [item], current_round=True).get(item.id), tasks, forms,
                        rows(Consultation), replies, ratings,
                        session.scalars(select(Disclosure).where(Disclosure.item_id == item.id)).first(),
                        letter_scans=rows(Attachment, Attachment.kind == "letter_scan"), parts=parts,
                        unit_names=separate.unit_names(session, [t.unit_id for t in tasks] + [r.unit_id for r in replies]
                                                       + [r.unit_id for r in ratings]) if parts else {},
                        stage=stage(session, item),
                        my_merged=[(m, mine_stages[m.id], session.scalars(select(Rating).where(
                            Rating.item_id == m.id).order_by(Rating.id)).all()) for m in mine])



def portal_task(session: Session, user: User, item_id: int, task_id: str) -> TaskRow | None:
    """A task of this item waiting for this (lead) proposer, or None: the portal completes nothing else."""
    detail = portal_item(session, user, item_id)
    return next((t for t in detail.tasks if t.id == task_id), None) if detail else None
