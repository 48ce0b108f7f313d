"""改派: the office takes back an item a unit has not signed for, to assign it again.

Once the return window (申请退回时限) has passed, a unit can no longer ask to return an item; the office
still can take it back. It goes through the process's own return path, so the BPMN stays the one place
that says what follows: the sign-for step is completed as a return on the unit's behalf, the office's
decision approves it, and the item waits for assignment again. The unit's window, no longer its to
meet, is voided rather than counted against it.
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.i18n import N_
from engine.models import AuditEvent, Deadline, Item, TaskRow, User
from engine.people.authz import NotAllowed
from engine.workflow.forms import FieldError, FormInvalid
from engine.workflow.incidents import guard, moot_after, replays, resolved_by_success
from engine.workflow.runtime import GONE_MESSAGE, TaskGone, complete_task, instance_of

SIGN_FOR, RETURN_DECISION = "sign_for", "return_decision"  # the forms of the two steps of the return path


def _waiting_sign_for(session: Session, item: Item) -> TaskRow | None:
    return session.scalars(select(TaskRow).where(TaskRow.item_id == item.id, TaskRow.form_key == SIGN_FOR)
                           .limit(1)).first()


def may_take_back(session: Session, user: User, item: Item) -> bool:
    """Whether the item page offers the office the 改派 form: the lead unit has not signed yet."""
    return user.role == "office" and _waiting_sign_for(session, item) is not None


def take_back(session: Session, item: Item, user: User, reason: str) -> None:
    if user.role != "office":
        raise NotAllowed(N_("只有区府办可以改派"))
    reason = (reason or "").strip()
    if not reason:
        raise FormInvalid([FieldError("reason", N_("改派理由"), "required")])
    sign = _waiting_sign_for(session, item)
    if sign is None:
        raise FormInvalid([FieldError("reason", N_("改派"), "not_signing")])
    # A failure on either step is the take-back's incident: a retry replays both.
    with guard(action="take_back", task_id=sign.id, submitted={"reason": reason}, user_id=user.id):
        complete_task(session, sign.id, user, {"sign_decision": "return", "return_reason": f"区府办改派：{reason}"},
                      for_unit=True)
        decision = session.scalars(select(TaskRow).where(TaskRow.item_id == item.id,
                                                         TaskRow.form_key == RETURN_DECISION).limit(1)).first()
        complete_task(session, decision.id, user, {"return_decision": "approve", "return_opinion": reason})
    resolved_by_success(session, instance_of(session, item.id), "take_back", sign.id, user.id,
                        N_("区府办再次改派，已生效"))
    window = session.scalars(select(Deadline).where(Deadline.item_id == item.id, Deadline.key == "return_window",
                                                    Deadline.unit_id == sign.unit_id)
                             .order_by(Deadline.id.desc()).limit(1)).first()
    if window is not None:
        window.status = "void"
    session.add(AuditEvent(item_id=item.id, actor_id=user.id, action="taken_back", title=N_("区府办改派"),
                           unit_id=sign.unit_id, data={"reason": reason}))


@replays("take_back")
def _take_back_again(session: Session, incident, instance) -> str:
    """The admin's retry of a take-back that failed, with the office's reason as given."""
    item = session.get(Item, instance.item_id)
    sign = _waiting_sign_for(session, item)
    if sign is None or sign.id != incident.task_id:  # signed for, or taken back, meanwhile
        raise TaskGone(GONE_MESSAGE)
    take_back(session, item, session.get(User, incident.user_id), (incident.submitted or {}).get("reason") or "")
    return N_("已按原决定改派")


@moot_after(SIGN_FOR)
def _acted_on_meanwhile(row) -> tuple:
    """The unit signed for (or asked to return) the item the office failed to take back: nothing is left
    to take back."""
    return "take_back", row.id, N_("承办单位已办理签收，改派不再重试")
