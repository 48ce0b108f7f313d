"""登记: registering an item and starting its process."""
from __future__ import annotations

import re

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine import clock
from engine.items import attachments
from engine.workflow.deployment import latest
from engine.workflow.forms import FieldError, FormInvalid
from engine.models import AuditEvent, Item, ITEM_TYPES, User
from engine.workflow.runtime import start_item

PROCESS_ID = "item_handling"
TYPE_PREFIX = {"suggestion": "JY", "proposal": "TA"}  # 建议 / 提案 numbering


def _count(session: Session, year: int, item_type: str) -> int:
    return session.scalar(select(func.count()).select_from(Item)
                          .where(Item.year == year, Item.item_type == item_type)) or 0


def number_for(item_type: str, year: int, sequence: int) -> str:
    return f"{TYPE_PREFIX[item_type]}{year}-{sequence:03d}"



_SEPARATORS = re.compile(r"[、,，;；/\s]+")


def _cosigners(session: Session, given, lead: User | None, errors: list) -> list[str]:
    """联名/附议: each co-signer must be on the roster (an active deputy or member), named by username or by
    a name no one else on the roster has. Returns their names; the lead proposer is not a co-signer."""
    tokens = given if isinstance(given, list) else _SEPARATORS.split(str(given or ""))
    tokens = list(dict.fromkeys(t.strip() for t in tokens if t and t.strip()))
    if not tokens:
        return []
    rows = session.execute(select(User.id, User.username, User.name)
                           .where(User.role == "proposer", User.active,
                                  (User.username.in_(tokens)) | (User.name.in_(tokens)))).all()
    names = []
    for token in tokens:
        by_username = [r for r in rows if r.username == token]
        matches = by_username or [r for r in rows if r.name == token]
        if not matches:
            errors.append(FieldError("cosigners", "联名/附议人", "not_in_roster", token))
        elif len(matches) > 1:
            errors.append(FieldError("cosigners", "联名/附议人", "ambiguous", token))
        elif lead is None or matches[0].id != lead.id:
            names.append(matches[0].name)
    return list(dict.fromkeys(names))


def register_item(session: Session, raw: dict, actor: User, uploads=()) -> Item:
    """Validate the registration fields, create the item with its attachments (登记材料) and start its
    process, in one transaction."""
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
    cosigners = _cosigners(session, raw.get("cosigners"), proposer, errors)
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
                  cosigners="、".join(cosigners) or None,
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
    attachments.add(session, item, "registration", uploads, actor)
    definition = latest(session, PROCESS_ID)
    if definition is None:
        raise RuntimeError("the handling process is not deployed; run `banli init`")
    start_item(session, item, definition, actor)
    return item
