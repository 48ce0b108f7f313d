"""协办: a co-unit's own part of an item, and the office's waiver of a silent co-unit's opinion.

Each co-unit's part is a branch of the process (the multi-instance `co_part`) that opens at assignment: the
co-unit signs for it or asks to return it within the lead unit's window (5 working days from assignment),
the office decides a request in its inbox (approved, the unit leaves the item; refused, it keeps its part),
and the co-unit gives its opinion (within 1 month of assignment). The functions here are the item page's
short-cuts to those same tasks. The office may also waive a silent co-unit's opinion (with a reason) so that
the lead unit's reply is not blocked: the waiver completes what the co-unit's part still waits for in its
place, is kept as the co-unit's opinion marked `waived`, shows in the co-unit's record, and counts against
it (`waived_opinions`).
"""
from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from engine.i18n import N_
from engine.models import Assignment, CoOpinion, Deadline, Item, ReturnRequest, TaskRow, Unit, User
from engine.people.authz import NotAllowed
from engine.people.notifications import notify, role_users
from engine.workflow.forms import FieldError, FormInvalid
from engine.workflow.incidents import guard, moot_after, replays, resolved_by_success
from engine.workflow.runtime import GONE_MESSAGE, TaskGone, complete_on_behalf, complete_task, instance_of, ready_task_id

CO_TASK = "cohandle"
SIGN_TASK = "co_sign_for"
DECIDE_TASK = "decide_co_return"
WORK = "co_work"  # the sub-process of sign-for and opinion, which the opinion deadline watches


def silent_co_units(session: Session, item: Item) -> list[Unit]:
    """Co-units whose opinion is still awaited: their part waits for their sign-for or their opinion."""
    return list(session.scalars(select(Unit).join(TaskRow, TaskRow.unit_id == Unit.id)
                                .where(TaskRow.item_id == item.id, TaskRow.spec_name.in_((SIGN_TASK, CO_TASK)))
                                .distinct().order_by(Unit.name)))


def waive_opinion(session: Session, user: User, item: Item, unit_code: str, reason: str) -> CoOpinion:
    """免于提出协办意见: complete the co-unit's part in its place (its sign-for, if still open, and its
    opinion), recording the office's reason."""
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

    key = f"waive:{unit.id}"  # one open incident per co-unit's waiver
    steps = [(SIGN_TASK, {"co_sign_decision": "sign"}), (CO_TASK, {"co_opinion": f"（区府办免除协办意见）{reason}"})]
    with guard(action="waive", task_id=key, submitted={"unit": unit.code, "reason": reason}, user_id=user.id):
        if not complete_on_behalf(session, item, steps, {"co_unit": unit.code}, user, record):
            raise FormInvalid([FieldError("unit", N_("协办单位"), "no_waiting_opinion")])
    resolved_by_success(session, instance_of(session, item.id), "waive", key, user.id,
                        N_("区府办再次免除协办意见，已生效"))
    # The co-unit's own deadlines close as waived (免除), not as met: they show so in its record.
    session.execute(update(Deadline).where(Deadline.item_id == item.id, Deadline.key.in_(("co_opinion", "return_window")),
                                           Deadline.unit_id == unit.id, Deadline.status.in_(("met", "met_late")),
                                           Deadline.attached_to.in_((SIGN_TASK, WORK)))
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


def _sign_task(session: Session, user: User, item: Item) -> TaskRow | None:
    if user.role != "unit_handler" or user.unit_id is None:
        return None
    return session.scalars(select(TaskRow).where(TaskRow.item_id == item.id, TaskRow.spec_name == SIGN_TASK,
                                                 TaskRow.unit_id == user.unit_id)).first()


def may_answer_part(session: Session, user: User, item: Item) -> bool:
    return _sign_task(session, user, item) is not None


def sign_part(session: Session, user: User, item: Item) -> Assignment | None:
    """签收: the co-unit takes its part (its sign-for task, from the item page)."""
    row = _sign_task(session, user, item)
    if row is None:
        raise NotAllowed(N_("只有协办单位经办人可以签收本单位的协办部分"))
    complete_task(session, row.id, user, {"co_sign_decision": "sign"})
    return co_part(session, user, item)


def ask_return_part(session: Session, user: User, item: Item, reason: str) -> ReturnRequest:
    """申请退回: the co-unit asks, within the window, to be relieved of its part; the office decides."""
    row = _sign_task(session, user, item)
    if row is None:
        raise NotAllowed(N_("只有协办单位经办人可以申请退回本单位的协办部分"))
    complete_task(session, row.id, user, {"co_sign_decision": "return", "co_return_reason": reason or ""})
    session.flush()
    return session.scalars(select(ReturnRequest).where(ReturnRequest.item_id == item.id,
                                                       ReturnRequest.unit_id == user.unit_id)
                           .order_by(ReturnRequest.id.desc()).limit(1)).one()


def waiting_co_returns(session: Session, item: Item) -> list[tuple[ReturnRequest, Unit]]:
    """Co-units' return requests of the item still waiting for the office's decision (its inbox has the task)."""
    return list(session.execute(
        select(ReturnRequest, Unit).join(Unit, Unit.id == ReturnRequest.unit_id)
        .join(Assignment, (Assignment.item_id == ReturnRequest.item_id) & (Assignment.unit_id == ReturnRequest.unit_id))
        .where(ReturnRequest.item_id == item.id, ReturnRequest.decision.is_(None), Assignment.role == "co",
               Assignment.ended_at.is_(None), Assignment.status == "return_requested")
        .order_by(ReturnRequest.requested_at)).all())


def decide_co_return(session: Session, user: User, request_id: int, approve: bool, opinion: str) -> ReturnRequest:
    """The office approves (the co-unit leaves the item) or refuses (the co-unit keeps its part): the
    decision task of that co-unit's part, from the item page."""
    if user.role != "office":
        raise NotAllowed(N_("只有区府办可以审核退回申请"))
    req = session.get(ReturnRequest, request_id)
    item = session.get(Item, req.item_id) if req is not None else None
    unit = session.get(Unit, req.unit_id) if req is not None else None
    task_id = ready_task_id(session, item, DECIDE_TASK, {"co_unit": unit.code}) \
        if req is not None and req.decision is None else None
    if task_id is None:
        raise FormInvalid([FieldError("decision", N_("审核意见"), "decided")])
    complete_task(session, task_id, user, {"co_return_decision": "approve" if approve else "refuse",
                                           "co_return_opinion": opinion or ""})
    return req


@moot_after("co_opinion")
def _answered_meanwhile(row) -> tuple:
    """The co-unit gave the opinion the office failed to waive: nothing is left to waive."""
    return "waive", f"waive:{row.unit_id}", N_("协办单位已提交意见，免除不再重试")


@replays("waive")
def _waive_again(session: Session, incident, instance) -> str:
    """The admin's retry of a waiver that failed, with the office's reason as given."""
    submitted = incident.submitted or {}
    item = session.get(Item, instance.item_id)
    if submitted.get("unit") not in {u.code for u in silent_co_units(session, item)}:  # answered meanwhile
        raise TaskGone(GONE_MESSAGE)
    waive_opinion(session, session.get(User, incident.user_id), item, submitted["unit"], submitted.get("reason") or "")
    return N_("已按原决定免除协办意见")

