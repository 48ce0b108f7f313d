"""协办: a co-unit's own part of an item, and the office's waiver of a silent co-unit's opinion.

A co-unit signs for its part or asks to return it within the lead unit's window (5 working days from
assignment); the office approves (the co-unit leaves the item) or refuses (it keeps its part). The office
may also waive a silent co-unit's opinion (with a reason) so that the lead unit's reply is not
blocked. The waiver completes the co-unit's waiting `cohandle` task in its place, is kept as the co-unit's
opinion marked `waived`, shows in the co-unit's record, and counts against it (`waived_opinions`).
"""
from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from engine.i18n import N_
from engine import clock
from engine.deadlines.calendar import current_calendar
from engine.deadlines.rules import rules_for
from engine.models import AuditEvent, Assignment, CoOpinion, Deadline, Item, ReturnRequest, TaskRow, Unit, User
from engine.people.authz import NotAllowed
from engine.people.notifications import notify, role_users
from engine.workflow.forms import FieldError, FormInvalid
from engine.workflow.runtime import complete_on_behalf, drop_co_unit

CO_TASK = "cohandle"


def silent_co_units(session: Session, item: Item) -> list[Unit]:
    """Co-units whose opinion is still awaited (their `cohandle` task is ready)."""
    return list(session.scalars(select(Unit).join(TaskRow, TaskRow.unit_id == Unit.id)
                                .where(TaskRow.item_id == item.id, TaskRow.spec_name == CO_TASK)
                                .order_by(Unit.name)))


def waive_opinion(session: Session, user: User, item: Item, unit_code: str, reason: str) -> CoOpinion:
    """免于提出协办意见: complete the co-unit's task in its place, recording the office's reason."""
    if user.role != "office":
        raise NotAllowed(N_("只有区府办可以免除协办意见"))
    unit = {u.code: u for u in silent_co_units(session, item)}.get((unit_code or "").strip())
    errors = []
    if unit is None:
        errors.append(FieldError("unit", N_("协办单位"), "no_waiting_opinion"))
    if not (reason or "").strip():
        errors.append(FieldError("reason", N_("免除理由"), "required"))
    if errors:
        raise FormInvalid(errors)
    reason = reason.strip()
    opinion = CoOpinion(item_id=item.id, unit_id=unit.id, text=reason, waived=True, waived_by=user.id)

    def record(_directory) -> None:
        session.add(opinion)
        session.execute(update(Assignment).where(Assignment.item_id == item.id, Assignment.unit_id == unit.id,
                                                 Assignment.role == "co", Assignment.ended_at.is_(None))
                        .values(status="waived"))

    if not complete_on_behalf(session, item, CO_TASK, {"co_unit": unit.code},
                              {"co_opinion": f"（区府办免除协办意见）{reason}"}, user, record):
        raise FormInvalid([FieldError("unit", N_("协办单位"), "no_waiting_opinion")])
    # The co-unit's own deadline closes as waived (免除), not as met: it shows so in its record.
    session.execute(update(Deadline).where(Deadline.item_id == item.id, Deadline.key == "co_opinion",
                                           Deadline.unit_id == unit.id, Deadline.status.in_(("met", "met_late")))
                    .values(status="waived"))
    recipients = [u for role in ("unit_handler", "unit_head") for u in role_users(session, role, unit.id)]
    notify(session, recipients, item, "waiver", N_("区府办已免除本单位对 %(number)s 的协办意见", number=item.number),
           f"waiver:{item.id}:{unit.id}",
           body=reason, link=f"/items/{item.id}")
    return opinion


# --- a co-unit's own part: sign for it, or ask to return it within the window (签收 / 申请退回) ------------

def co_part(session: Session, user: User, item: Item) -> Assignment | None:
    """The user's unit's current co-handling part of the item, if any."""
    if user.role not in ("unit_handler", "unit_head") or user.unit_id is None:
        return None
    return session.scalars(select(Assignment).where(Assignment.item_id == item.id, Assignment.unit_id == user.unit_id,
                                                    Assignment.role == "co", Assignment.ended_at.is_(None))).first()


def return_window_end(session: Session, item: Item, part: Assignment):
    """The last day a co-unit may ask to return its part: the lead unit's window, from the same assignment."""
    start = clock.local(part.assigned_at).date()
    return current_calendar(session).deadline(start, rules_for(session, item.year)["return_window"]).due


def may_answer_part(session: Session, user: User, item: Item) -> bool:
    part = co_part(session, user, item)
    return part is not None and part.status == "assigned" and user.role == "unit_handler"


def sign_part(session: Session, user: User, item: Item) -> Assignment:
    """签收: the co-unit takes its part."""
    if not may_answer_part(session, user, item):
        raise NotAllowed(N_("只有协办单位经办人可以签收本单位的协办部分"))
    part = co_part(session, user, item)
    part.status, part.signed_at = "signed", clock.now()
    session.add(AuditEvent(item_id=item.id, actor_id=user.id, action="co_signed", unit_id=user.unit_id,
                           title=N_("协办单位签收")))
    return part


def ask_return_part(session: Session, user: User, item: Item, reason: str) -> ReturnRequest:
    """申请退回: the co-unit asks, within the window, to be relieved of its part; the office decides."""
    if not may_answer_part(session, user, item):
        raise NotAllowed(N_("只有协办单位经办人可以申请退回本单位的协办部分"))
    part = co_part(session, user, item)
    last = return_window_end(session, item, part)
    if clock.today() > last:
        raise FormInvalid([FieldError("reason", N_("退回理由"), "window_closed", last.isoformat())])
    if not (reason or "").strip():
        raise FormInvalid([FieldError("reason", N_("退回理由"), "required")])
    req = ReturnRequest(item_id=item.id, unit_id=part.unit_id, reason=reason.strip())
    session.add(req)
    part.status = "return_requested"
    session.flush()
    session.add(AuditEvent(item_id=item.id, actor_id=user.id, action="co_return_requested", unit_id=part.unit_id,
                           title=N_("协办单位申请退回"), data={"reason": req.reason}))
    notify(session, role_users(session, "office"), item, "return", N_("协办单位申请退回：%(number)s", number=item.number),
           f"co_return:{req.id}", body=req.reason, link=f"/items/{item.id}")
    return req


def waiting_co_returns(session: Session) -> list[tuple[ReturnRequest, Item, Unit]]:
    """Co-units' return requests waiting for the office: tasks of the office's inbox."""
    return list(session.execute(
        select(ReturnRequest, Item, Unit).join(Item, Item.id == ReturnRequest.item_id)
        .join(Unit, Unit.id == ReturnRequest.unit_id)
        .join(Assignment, (Assignment.item_id == ReturnRequest.item_id) & (Assignment.unit_id == ReturnRequest.unit_id))
        .where(ReturnRequest.decision.is_(None), Assignment.role == "co", Assignment.ended_at.is_(None),
               Assignment.status == "return_requested")
        .order_by(ReturnRequest.requested_at)).all())


def decide_co_return(session: Session, user: User, request_id: int, approve: bool, opinion: str) -> ReturnRequest:
    """The office approves (the co-unit leaves the item, its opinion is no longer awaited) or refuses (the
    co-unit keeps its part and is taken to have signed for it)."""
    if user.role != "office":
        raise NotAllowed(N_("只有区府办可以审核退回申请"))
    req = session.get(ReturnRequest, request_id)
    if req is None or req.decision is not None:
        raise FormInvalid([FieldError("decision", N_("审核意见"), "decided")])
    item = session.get(Item, req.item_id)
    part = session.scalars(select(Assignment).where(Assignment.item_id == item.id, Assignment.unit_id == req.unit_id,
                                                    Assignment.role == "co", Assignment.ended_at.is_(None))).first()
    if part is None:
        raise FormInvalid([FieldError("decision", N_("审核意见"), "decided")])
    now = clock.now()
    req.decision, req.opinion, req.decided_at = ("approve" if approve else "refuse"), (opinion or "").strip() or None, now
    unit = session.get(Unit, req.unit_id)
    if approve:
        part.status, part.ended_at = "returned", now
        # Its opinion is no longer awaited: out of the process's co-units, and its waiting task completed.
        drop_co_unit(session, item, unit.code, user,
                     N_("协办单位%(unit)s经区府办同意退回，不再提出协办意见", unit=unit.name))
    else:
        part.status, part.signed_at = "signed", now
    session.add(AuditEvent(item_id=item.id, actor_id=user.id, action="co_return_decided", unit_id=unit.id,
                           title=N_("同意协办单位退回：%(unit)s", unit=unit.name) if approve
                           else N_("不同意协办单位退回：%(unit)s", unit=unit.name)))
    recipients = [u for role in ("unit_handler", "unit_head") for u in role_users(session, role, unit.id)]
    notify(session, recipients, item, "return_decision",
           N_("协办退回申请已同意") if approve else N_("协办退回申请未同意，请继续协办"),
           f"co_return_decision:{req.id}", body=req.opinion, link=f"/items/{item.id}")
    return req
