"""登记: registering an item and starting its process."""
from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine import clock
from engine.workflow.deployment import latest
from engine.workflow.forms import FieldError, FormInvalid
from engine.models import AuditEvent, Item, ITEM_TYPES, TaskRow, User
from engine.workflow.runtime import complete, start_item

PROCESS_ID = "item_handling"
TYPE_PREFIX = {"suggestion": "JY", "proposal": "TA"}  # 建议 / 提案 numbering


def _count(session: Session, year: int, item_type: str) -> int:
    return session.scalar(select(func.count()).select_from(Item)
                          .where(Item.year == year, Item.item_type == item_type)) or 0


def number_for(item_type: str, year: int, sequence: int) -> str:
    return f"{TYPE_PREFIX[item_type]}{year}-{sequence:03d}"



def register_item(session: Session, raw: dict, actor: User) -> Item:
    """Validate the registration fields, create the item and start its process, in one transaction."""
    errors = []

    def need(name: str, label: str) -> str:
        value = (raw.get(name) or "").strip()
        if not value:
            errors.append(FieldError(name, label, "required"))
        return value

    item_type = need("item_type", "类型")
    if item_type and item_type not in ITEM_TYPES:
        errors.append(FieldError("item_type", "类型", "enum"))
    title = need("title", "案由")
    content = need("content", "内容")
    proposer_name = need("proposer", "领衔人")
    proposer = None
    if proposer_name:
        proposer = session.scalars(select(User).where(User.username == proposer_name, User.role == "proposer")).first()
        if proposer is None:
            errors.append(FieldError("proposer", "领衔人", "reference"))
    year_raw = (raw.get("year") or "").strip() or str(clock.today().year)
    if not year_raw.isdigit() or not 2000 <= int(year_raw) <= 2100:
        errors.append(FieldError("year", "年度", "long"))
    if len(title) > 300:
        errors.append(FieldError("title", "案由", "maxlength", "300"))
    if errors:
        raise FormInvalid(errors)
    year = int(year_raw)
    given = (raw.get("number") or "").strip()
    if given and session.scalar(select(Item.id).where(Item.year == year, Item.item_type == item_type,
                                                      Item.number == given)):
        raise FormInvalid([FieldError("number", "编号", "duplicate", given)])
    fields = dict(year=year, item_type=item_type, session=(raw.get("session") or "").strip() or None,
                  title=title, content=content, proposer_id=proposer.id, proposer=proposer,
                  cosigners=(raw.get("cosigners") or "").strip() or None,
                  category=(raw.get("category") or "").strip() or None,
                  suggested_units=(raw.get("suggested_units") or "").strip() or None, registered_by=actor.id)
    seen, skip = None, 0
    for _attempt in range(5):  # two offices registering at once may draw the same next number
        count = _count(session, year, item_type)
        skip = skip + 1 if count == seen else 0  # the same count again: a number outside the sequence is taken
        seen = count
        item = Item(number=given or number_for(item_type, year, count + 1 + skip), **fields)
        try:
            with session.begin_nested():
                session.add(item)
                session.flush()
            break
        except IntegrityError:
            if given:
                raise FormInvalid([FieldError("number", "编号", "duplicate", given)]) from None
    else:
        raise RuntimeError("could not draw a free item number")
    session.add(AuditEvent(item_id=item.id, actor_id=actor.id, action="registered", title="登记",
                           data={"number": item.number}))
    definition = latest(session, PROCESS_ID)
    if definition is None:
        raise RuntimeError("the handling process is not deployed; run `banli init`")
    start_item(session, item, definition, actor)
    return item


class NotWithdrawable(Exception):
    """撤回 is possible only before assignment, while the office's assignment task is open."""


def withdraw_item(db, item_id: int, user_id: int, reason: str) -> int:
    """撤回: the office completes the item's open assignment task with the decision `withdraw`, the same
    command as on the task page (the lane's permission check, the BPMN form's validation, one transaction)."""
    with db.reading() as s:
        row = s.scalars(select(TaskRow).where(TaskRow.item_id == item_id, TaskRow.form_key == "assignment")).first()
        if row is None:
            raise NotWithdrawable("事项已交办或已办结，不能撤回 (only an item not yet assigned can be withdrawn)")
        task_id = row.id
    return complete(db, task_id, user_id, {"assign_decision": "withdraw", "assign_note": reason})
