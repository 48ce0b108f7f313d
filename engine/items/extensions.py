"""延期: the lead unit asks for a later reply date; the office approves or refuses.

An approved extension moves the reply deadline and every timer that watches it (reminders included):
the timers' expressions are evaluated again against the new `reply_due`, so the BPMN stays the one place
that says when to remind. The deadline row keeps the original date beside the new one.
"""
from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session
from SpiffWorkflow.util.task import TaskState

from engine import clock
from engine.i18n import N_
from engine.people.authz import NotAllowed
from engine.deadlines.calendar import current_calendar
from engine.workflow.forms import FieldError, FormInvalid
from engine.models import AuditEvent, Deadline, ExtensionRequest, Item, Timer, User
from engine.people.notifications import notify, role_users
from engine.deadlines.rules import rules_for
from engine.deadlines.expressions import calendar_scope, instant
from engine.deadlines.timers import FORECAST, meta, waiting_timers
from engine.workflow.readmodel import tell_proposers
from engine.workflow.incidents import guard, replays, resolved_by_success
from engine.workflow.runtime import GONE_MESSAGE, Directory, TaskGone, active_instance, load_workflow, sync_derived


def open_reply_deadline(session: Session, item: Item) -> Deadline | None:
    return session.scalars(select(Deadline).where(Deadline.item_id == item.id, Deadline.key == "reply",
                                                  Deadline.status.in_(("open", "overdue")))
                           .order_by(Deadline.id.desc()).limit(1)).first()


def pending(session: Session, item_id: int) -> ExtensionRequest | None:
    return session.scalars(select(ExtensionRequest).where(ExtensionRequest.item_id == item_id,
                                                          ExtensionRequest.status == "pending")).first()


def waiting_for_office(session: Session) -> list[tuple[ExtensionRequest, Item]]:
    """Extension requests waiting for the office's decision: tasks of the office's inbox, oldest first."""
    return list(session.execute(select(ExtensionRequest, Item).join(Item, Item.id == ExtensionRequest.item_id)
                                .where(ExtensionRequest.status == "pending")
                                .order_by(ExtensionRequest.requested_at)).all())


def latest_allowed(session: Session, item: Item) -> date:
    """Extensions keep the total within `max_extension` (6 months) of assignment."""
    start = clock.local(item.assigned_at).date()
    return current_calendar(session).deadline(start, rules_for(session, item.year)["max_extension"]).due


def can_request(user: User, item: Item) -> bool:
    return user.role in ("unit_handler", "unit_head") and item.lead_unit_id is not None \
        and user.unit_id == item.lead_unit_id


def before_handling(session: Session, item: Item) -> bool:
    """Whether the reply deadline still runs ahead of its step (assigned, not yet pledged): an extension is
    part of handling (DOMAIN.md step 5), and until then no timer holds the date it would move."""
    return session.scalar(select(Timer.id).where(Timer.item_id == item.id, Timer.deadline_key == "reply",
                                                 Timer.kind == FORECAST).limit(1)) is not None


def may_ask(session: Session, user: User, item: Item) -> bool:
    """Whether the item page offers this user the extension form (the same rules request_extension checks)."""
    deadline = open_reply_deadline(session, item)
    return (can_request(user, item) and deadline is not None and deadline.status == "open"
            and deadline.due_date >= clock.today() and pending(session, item.id) is None
            and not before_handling(session, item))


def request_extension(session: Session, item: Item, user: User, new_date: str, reason: str) -> ExtensionRequest:
    if not can_request(user, item):
        raise NotAllowed(N_("只有主办单位可以申请延期"))
    deadline = open_reply_deadline(session, item)
    if deadline is None:
        raise FormInvalid([FieldError("new_date", N_("延期至"), "no_deadline")])
    if pending(session, item.id) is not None:
        raise FormInvalid([FieldError("new_date", N_("延期至"), "pending")])
    if deadline.status == "overdue" or deadline.due_date < clock.today():  # 延期须在期限届满前申请
        raise FormInvalid([FieldError("new_date", N_("延期至"), "too_late", deadline.due_date.isoformat())])
    if before_handling(session, item):
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
    notify(session, role_users(session, "office"), item, "extension",
           N_("延期申请：答复期限申请延至 %(date)s", date=wanted.isoformat()), f"extension:{req.id}",
           link=f"/items/{item.id}")
    return req


def decide_extension(session: Session, request_id: int, user: User, approve: bool, opinion: str) -> ExtensionRequest:
    """The office's decision; an approval moves the reply deadline and its timers in the same transaction."""
    if user.role != "office":
        raise NotAllowed(N_("只有区府办可以审批延期"))
    req = session.get(ExtensionRequest, request_id)
    if req is None or req.status != "pending":
        raise FormInvalid([FieldError("decision", N_("审批"), "decided")])
    item = session.get(Item, req.item_id)
    req.status, req.decided_by, req.decided_at = ("approved" if approve else "refused"), user.id, clock.now()
    req.opinion = (opinion or "").strip() or None
    if approve:
        instance = active_instance(session, item)
        if instance is None:  # ended: nothing to move
            raise FormInvalid([FieldError("decision", N_("审批"), "no_deadline")])
        wf, _ = load_workflow(session, instance)
        new_due = instant(req.new_due_date)
        key = f"extension:{req.id}"  # one open incident per request
        with guard(instance.id, "extension", task_id=key, submitted={"request_id": req.id, "opinion": opinion},
                   user_id=user.id), calendar_scope(current_calendar(session)):
            for task, _due in waiting_timers(wf):
                if meta(task.task_spec)["deadline"] == "reply":
                    task.data["reply_due"] = new_due
                    task.internal_data["event_value"] = wf.script_engine.evaluate(
                        task, task.task_spec.event_definition.expression)
            for task in wf.get_tasks(state=TaskState.STARTED):  # the handling subprocess keeps the value too
                if "reply_due" in task.data:
                    task.data["reply_due"] = new_due
            sync_derived(session, instance, item, wf, Directory.load(session), moved_by="extension")
        resolved_by_success(session, instance, "extension", key, user.id,
                            N_("区府办再次同意延期，已生效"))
    session.add(AuditEvent(item_id=item.id, actor_id=user.id, action="extension_decided",
                           title=N_("同意延期") if approve else N_("不同意延期"),
                           data={"from": req.old_due_date.isoformat(), "to": req.new_due_date.isoformat()}))
    unit_users = [u for role in ("unit_handler", "unit_head") for u in role_users(session, role, item.lead_unit_id)]
    notify(session, unit_users, item, "extension",
           N_("延期申请已同意：答复期限延至 %(date)s", date=req.new_due_date.isoformat()) if approve
           else N_("延期申请未同意：答复期限仍为 %(date)s", date=req.old_due_date.isoformat()),
           f"extension_decided:{req.id}", link=f"/items/{item.id}")
    if approve:
        tell_proposers(session, item, f"extended:{req.id}",
                       N_("答复期限已延至 %(date)s", date=req.new_due_date.isoformat()),
                       body=N_("原期限 %(date)s", date=req.old_due_date.isoformat()))
    return req


@replays("extension")
def _approve_again(session: Session, incident, instance) -> str:
    """The admin's retry of an approval that failed: the office's decision, as it was given."""
    submitted = incident.submitted or {}
    req = session.get(ExtensionRequest, submitted.get("request_id"))
    if req is None or req.status != "pending":  # decided meanwhile
        raise TaskGone(GONE_MESSAGE)
    decide_extension(session, req.id, session.get(User, incident.user_id), True, submitted.get("opinion") or "")
    return N_("已按原决定同意延期至 %(date)s", date=req.new_due_date.isoformat())
