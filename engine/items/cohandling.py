"""协办: the office waives a silent co-unit's opinion (with a reason) so that the lead unit's reply is not
blocked. The waiver completes the co-unit's waiting `cohandle` task in its place, is kept as the co-unit's
opinion marked `waived`, shows in the co-unit's record, and counts against it (`waived_opinions`).
"""
from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from engine.models import Assignment, CoOpinion, Item, TaskRow, Unit, User
from engine.people.authz import NotAllowed
from engine.people.notifications import notify, role_users
from engine.workflow.forms import FieldError, FormInvalid
from engine.workflow.runtime import complete_on_behalf

CO_TASK = "cohandle"


def silent_co_units(session: Session, item: Item) -> list[Unit]:
    """Co-units whose opinion is still awaited (their `cohandle` task is ready)."""
    return list(session.scalars(select(Unit).join(TaskRow, TaskRow.unit_id == Unit.id)
                                .where(TaskRow.item_id == item.id, TaskRow.spec_name == CO_TASK)
                                .order_by(Unit.name)))


def waive_opinion(session: Session, user: User, item: Item, unit_code: str, reason: str) -> CoOpinion:
    """免于提出协办意见: complete the co-unit's task in its place, recording the office's reason."""
    if user.role != "office":
        raise NotAllowed("只有区府办可以免除协办意见 (only the office waives a co-unit's opinion)")
    unit = {u.code: u for u in silent_co_units(session, item)}.get((unit_code or "").strip())
    errors = []
    if unit is None:
        errors.append(FieldError("unit", "协办单位", "no_waiting_opinion"))
    if not (reason or "").strip():
        errors.append(FieldError("reason", "免除理由", "required"))
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
        raise FormInvalid([FieldError("unit", "协办单位", "no_waiting_opinion")])
    recipients = [u for role in ("unit_handler", "unit_head") for u in role_users(session, role, unit.id)]
    notify(session, recipients, item, "waiver", f"区府办已免除本单位对 {item.number} 的协办意见", f"waiver:{item.id}:{unit.id}",
           body=reason, link=f"/items/{item.id}")
    return opinion
