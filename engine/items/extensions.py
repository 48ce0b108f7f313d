"""延期: the lead unit (or a 分办 unit, for its own part) asks for a later reply date; the office approves or refuses.

An approved extension moves the reply deadline and every timer that watches it (reminders included):
the timers' expressions are evaluated again against the new `reply_due`, so the BPMN stays the one place
that says when to remind. The deadline row keeps the original date beside the new one.

A 分办 unit's request is for its own `sep_reply` row: an approval moves only the timers of that unit's `sep_part`
instance (the ones whose data name the unit in `sep_unit`), never another part's nor the lead unit's.
"""
from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session
from SpiffWorkflow.util.task import TaskState

from engine import clock
from engine.i18n import N_
from engine.people.authz import NotAllowed
from engine.deadlines import ledger
from engine.deadlines.calendar import current_calendar
from engine.workflow.forms import FieldError, FormInvalid
from engine.items import separate
from engine.models import AuditEvent, Deadline, ExtensionRequest, Item, Pledge, Timer, Unit, User
from engine.people.notifications import notify, role_users, tell_proposers
from engine.deadlines.ledger import PART_KEY, open_part_deadline, open_reply_deadline
from engine.deadlines.rules import latest_allowed
from engine.deadlines.expressions import calendar_scope, instant
from engine.deadlines.timers import FORECAST, meta, waiting_timers
from engine.workflow.incidents import guard, replays, resolved_by_success
from engine.workflow.runtime import GONE_MESSAGE, Directory, TaskGone, active_instance, load_workflow, sync_derived


def pending(session: Session, item_id: int, deadline: Deadline | None = None) -> ExtensionRequest | None:
    """The request waiting for a decision on the item's reply deadline of the same owner as `deadline` (the lead
    unit's or one 分办 unit's: each asks for its own date); without `deadline`, any of the item's."""
    q = select(ExtensionRequest).where(ExtensionRequest.item_id == item_id, ExtensionRequest.status == "pending")
    if deadline is not None:
        q = q.join(Deadline, Deadline.id == ExtensionRequest.deadline_id).where(
            Deadline.key == deadline.key, Deadline.unit_id == deadline.unit_id)
    return session.scalars(q).first()


def waiting_for_office(session: Session) -> list[tuple[ExtensionRequest, Item, str | None, str]]:
    """Extension requests waiting for the office's decision: tasks of the office's inbox, oldest first, with
    the 分办 unit's name when the request is for a part (None for the lead unit's) and the state of the
    deadline it would move (a decision is due with the deadline: once it passed, only a refusal is left)."""
    rows = session.execute(select(ExtensionRequest, Item, Deadline, Unit.name)
                           .join(Item, Item.id == ExtensionRequest.item_id)
                           .join(Deadline, Deadline.id == ExtensionRequest.deadline_id)
                           .outerjoin(Unit, Unit.id == Deadline.unit_id)
                           .where(ExtensionRequest.status == "pending")
                           .order_by(ExtensionRequest.requested_at)).all()
    return [(req, item, name if deadline.key == PART_KEY else None, ledger.state(deadline))
            for req, item, deadline, name in rows]


def is_part_unit(session: Session, user: User, item: Item) -> bool:
    """Whether the user's unit is a 分办 unit of the item's current assignment (and has not given its part back)."""
    return user.unit_id is not None and user.unit_id != item.lead_unit_id and any(
        p.unit.id == user.unit_id and p.status != "returned" for p in separate.parts(session, item))


def can_request(session: Session, user: User, item: Item) -> bool:
    return user.role in ("unit_handler", "unit_head") and user.unit_id is not None and (
        user.unit_id == item.lead_unit_id or is_part_unit(session, user, item))


def own_deadline(session: Session, user: User, item: Item) -> Deadline | None:
    """The open reply deadline the user's unit may ask to extend: the lead unit's, or its own part's."""
    if user.unit_id == item.lead_unit_id:
        return open_reply_deadline(session, item)
    return open_part_deadline(session, item, user.unit_id)


def before_handling(session: Session, item: Item) -> bool:
    """Whether the reply deadline still runs ahead of its step (assigned, not yet pledged): an extension is
    part of handling (DOMAIN.md step 5), and until then no timer holds the date it would move."""
    return session.scalar(select(Timer.id).where(Timer.item_id == item.id, Timer.deadline_key == "reply",
                                                 Timer.kind == FORECAST).limit(1)) is not None


def part_before_handling(session: Session, item: Item, unit_id: int) -> bool:
    """A 分办 part's handling begins with its own pledge (its timers wait from assignment all the same)."""
    return session.scalar(select(Pledge.id).where(Pledge.item_id == item.id, Pledge.unit_id == unit_id,
                                                  Pledge.signed_at >= item.assigned_at).limit(1)) is None


def _not_started(session: Session, item: Item, deadline: Deadline) -> bool:
    if deadline.key == PART_KEY:
        return part_before_handling(session, item, deadline.unit_id)
    return before_handling(session, item)


def may_ask(session: Session, user: User, item: Item) -> bool:
    """Whether the item page offers this user the extension form (the same rules request_extension checks)."""
    if not can_request(session, user, item):
        return False
    deadline = own_deadline(session, user, item)
    return (deadline is not None and deadline.status == "open"
            and deadline.due_date >= clock.today() and pending(session, item.id, deadline) is None
            and not _not_started(session, item, deadline))


def lapsed(deadline: Deadline) -> bool:
    """The deadline has passed: too late to ask for an extension, and to approve one asked in time. Its timer
    has fired: an approved date would have no timer to watch it, and the step would stay flagged late while
    the statistics counted a reply by the new date on time."""
    return deadline.status == "overdue" or deadline.due_date < clock.today()


def approval_blocked(deadline: Deadline) -> str | None:
    """Why the office can only refuse a request on `deadline` now: "overdue" (the date passed undecided,
    `lapsed`) or the state it ended in (replied: met; given back: void); None while an approval can move it."""
    state = ledger.state(deadline)
    return None if state in ("on_time", "due_soon") else state


def blocked_approvals(session: Session, requests) -> dict[int, tuple[str, date]]:
    """The pending requests among `requests` the office can only refuse: (approval_blocked, the deadline's
    date) by request id, for the item page."""
    out = {}
    for req in requests:
        deadline = session.get(Deadline, req.deadline_id) if req.status == "pending" else None
        blocked = approval_blocked(deadline) if deadline is not None else None
        if blocked is not None:
            out[req.id] = (blocked, deadline.due_date)
    return out


def request_extension(session: Session, item: Item, user: User, new_date: str, reason: str) -> ExtensionRequest:
    if not can_request(session, user, item):
        raise NotAllowed(N_("只有主办单位或分办单位可以申请延期"))
    deadline = own_deadline(session, user, item)
    if deadline is None:
        raise FormInvalid([FieldError("new_date", N_("延期至"), "no_deadline")])
    if pending(session, item.id, deadline) is not None:
        raise FormInvalid([FieldError("new_date", N_("延期至"), "pending")])
    if lapsed(deadline):  # 延期须在期限届满前申请
        raise FormInvalid([FieldError("new_date", N_("延期至"), "too_late", deadline.due_date.isoformat())])
    if _not_started(session, item, deadline):
        raise FormInvalid([FieldError("new_date", N_("延期至"), "not_started")])
    errors = []
    try:
        wanted = date.fromisoformat((new_date or "").strip())
    except ValueError:
        wanted = None
        errors.append(FieldError("new_date", N_("延期至"), "date"))
    if wanted is not None and wanted <= deadline.due_date:
        errors.append(FieldError("new_date", N_("延期至"), "after", deadline.due_date.isoformat()))
    limit = latest_allowed(session, item)
    if wanted is not None and wanted > limit:
        errors.append(FieldError("new_date", N_("延期至"), "not_after", limit.isoformat()))
    if not (reason or "").strip():
        errors.append(FieldError("reason", N_("延期理由"), "required"))
    if errors:
        raise FormInvalid(errors)
    req = ExtensionRequest(item_id=item.id, deadline_id=deadline.id, requested_by=user.id,
                           old_due_date=deadline.due_date, new_due_date=wanted, reason=reason.strip())
    session.add(req)
    session.flush()
    session.add(AuditEvent(item_id=item.id, actor_id=user.id, action="extension_requested", title=N_("申请延期"),
                           unit_id=user.unit_id, data={"from": deadline.due_date.isoformat(), "to": wanted.isoformat()}))
    part = _part_unit(session, deadline)
    notify(session, role_users(session, "office"), item, "extension",
           N_("延期申请：答复期限申请延至 %(date)s", date=wanted.isoformat()) if part is None
           else N_("延期申请：%(unit)s的分办答复期限申请延至 %(date)s", unit=part.name, date=wanted.isoformat()),
           f"extension:{req.id}", link=f"/items/{item.id}")
    return req


def _part_unit(session: Session, deadline: Deadline) -> Unit | None:
    """The 分办 unit whose own deadline this is (None for the lead unit's reply)."""
    return session.get(Unit, deadline.unit_id) if deadline.key == PART_KEY and deadline.unit_id else None


def _move_lead(wf, new_due) -> None:
    for task, _due in waiting_timers(wf):
        if meta(task.task_spec)["deadline"] == "reply":
            task.data["reply_due"] = new_due
            task.internal_data["event_value"] = wf.script_engine.evaluate(
                task, task.task_spec.event_definition.expression)
    for task in wf.get_tasks(state=TaskState.STARTED):  # the handling subprocess keeps the value too
        if "reply_due" in task.data:
            task.data["reply_due"] = new_due


def _move_part(wf, new_due, unit_code: str) -> None:
    """Only the unit's own part: its `sep_part` instance's tasks carry the unit's code in `sep_unit`."""
    for task, _due in waiting_timers(wf):
        if meta(task.task_spec)["deadline"] == PART_KEY and task.data.get("sep_unit") == unit_code:
            task.data["sep_reply_due"] = new_due
            task.internal_data["event_value"] = wf.script_engine.evaluate(
                task, task.task_spec.event_definition.expression)
    for task in wf.get_tasks(state=TaskState.STARTED):  # the part's sub-processes keep the value too
        if task.data.get("sep_unit") == unit_code and "sep_reply_due" in task.data:
            task.data["sep_reply_due"] = new_due


def decide_extension(session: Session, request_id: int, user: User, approve: bool, opinion: str) -> ExtensionRequest:
    """The office's decision; an approval moves the reply deadline and its timers in the same transaction."""
    if user.role != "office":
        raise NotAllowed(N_("只有区府办可以审批延期"))
    req = session.get(ExtensionRequest, request_id)
    if req is None or req.status != "pending":
        raise FormInvalid([FieldError("decision", N_("审批"), "decided")])
    item = session.get(Item, req.item_id)
    deadline = session.get(Deadline, req.deadline_id)
    part = _part_unit(session, deadline)
    blocked = approval_blocked(deadline) if approve else None
    if blocked == "overdue":  # asked in time, but the date passed undecided: it stands, and it is late
        raise FormInvalid([FieldError("decision", N_("审批"), "lapsed", deadline.due_date.isoformat())])
    if blocked is not None:  # replied, or given back, meanwhile
        raise FormInvalid([FieldError("decision", N_("审批"), "no_deadline")])
    req.status, req.decided_by, req.decided_at = ("approved" if approve else "refused"), user.id, clock.now()
    req.opinion = (opinion or "").strip() or None
    instance = active_instance(session, item)
    key = f"extension:{req.id}"  # one open incident per request
    if approve:
        if instance is None:  # ended: nothing to move
            raise FormInvalid([FieldError("decision", N_("审批"), "no_deadline")])
        wf, _ = load_workflow(session, instance)
        new_due = instant(req.new_due_date)
        with guard(instance.id, "extension", task_id=key, submitted={"request_id": req.id, "opinion": opinion},
                   user_id=user.id), calendar_scope(current_calendar(session)):
            if part is None:
                _move_lead(wf, new_due)
            else:
                _move_part(wf, new_due, part.code)
            sync_derived(session, instance, item, wf, Directory.load(session), moved_by="extension")
        resolved_by_success(session, instance, "extension", key, user.id,
                            N_("区府办再次同意延期，已生效"))
    else:  # the request's decision: an approval that failed before no longer holds the item
        resolved_by_success(session, instance, "extension", key, user.id,
                            N_("区府办不同意延期，此前未生效的同意不再重试"))
    session.add(AuditEvent(item_id=item.id, actor_id=user.id, action="extension_decided",
                           title=N_("同意延期") if approve else N_("不同意延期"),
                           unit_id=part.id if part is not None else None,
                           data={"from": req.old_due_date.isoformat(), "to": req.new_due_date.isoformat()}))
    owner = part.id if part is not None else item.lead_unit_id
    unit_users = [u for role in ("unit_handler", "unit_head") for u in role_users(session, role, owner)]
    notify(session, unit_users, item, "extension",
           N_("延期申请已同意：答复期限延至 %(date)s", date=req.new_due_date.isoformat()) if approve
           else N_("延期申请未同意：答复期限仍为 %(date)s", date=req.old_due_date.isoformat()),
           f"extension_decided:{req.id}", link=f"/items/{item.id}")
    if approve:
        tell_proposers(session, item.id, f"extended:{req.id}",
                       N_("答复期限已延至 %(date)s", date=req.new_due_date.isoformat()) if part is None
                       else N_("%(unit)s的答复期限已延至 %(date)s", unit=part.name, date=req.new_due_date.isoformat()),
                       body=N_("原期限 %(date)s", date=req.old_due_date.isoformat()))
    return req


@replays("extension")
def _approve_again(session: Session, incident, instance) -> str:
    """The admin's retry of an approval that failed: the office's decision, as it was given."""
    submitted = incident.submitted or {}
    req = session.get(ExtensionRequest, submitted.get("request_id"))
    if req is None or req.status != "pending":  # decided meanwhile
        raise TaskGone(GONE_MESSAGE)
    deadline = session.get(Deadline, req.deadline_id)
    blocked = approval_blocked(deadline)
    if blocked not in (None, "overdue"):  # replied or given back meanwhile: nothing left to extend
        raise TaskGone(GONE_MESSAGE)
    if blocked == "overdue":  # the date passed while the item was held: no retry can approve it any more
        return N_("答复期限 %(date)s 已过，延期不能再同意；申请仍待区府办审批（只能不同意）",
                  date=deadline.due_date.isoformat())
    decide_extension(session, req.id, session.get(User, incident.user_id), True, submitted.get("opinion") or "")
    return N_("已按原决定同意延期至 %(date)s", date=req.new_due_date.isoformat())
