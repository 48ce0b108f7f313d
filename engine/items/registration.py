"""登记: registering an item and starting its process."""
from __future__ import annotations

import re

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine.i18n import N_
from engine import clock
from engine.items import attachments
from engine.text import is_item_number, unsafe_characters
from engine.workflow.deployment import latest
from engine.workflow.forms import FieldError, FormInvalid
from engine.models import Item, ItemCosigner, ItemCounter, ITEM_TYPES, TaskRow, User
from engine.workflow.runtime import audit, complete, start_item

PROCESS_ID = "item_handling"
TYPE_PREFIX = {"suggestion": "JY", "proposal": "TA"}  # 建议 / 提案 numbering


_COUNTER = ItemCounter.__table__
_ITEM = Item.__table__
_THIS_COUNTER = (_COUNTER.c.year == bindparam("w_year"), _COUNTER.c.item_type == bindparam("w_type"))
# Built once, run as Core: one statement draws the next number where the ORM took four.
_NEXT = update(_COUNTER).where(*_THIS_COUNTER).values(last=_COUNTER.c.last + 1).returning(_COUNTER.c.last)
_REGISTERED = select(func.count()).select_from(_ITEM).where(_ITEM.c.year == bindparam("w_year"),
                                                             _ITEM.c.item_type == bindparam("w_type"))
_TAKEN = select(_ITEM.c.id).where(_ITEM.c.year == bindparam("w_year"), _ITEM.c.item_type == bindparam("w_type"),
                                  _ITEM.c.number == bindparam("w_number"))


def _draw_number(session: Session, year: int, item_type: str) -> str:
    """The next free number of the year and type. The counter row is locked by its UPDATE (PostgreSQL row lock;
    SQLite's write lock is already held by the command) until the registration commits, so concurrent
    registrations draw different numbers; numbers taken by hand (an import with given numbers) are skipped."""
    conn, keys = session.connection(), {"w_year": year, "w_type": item_type}
    while True:
        last = conn.execute(_NEXT, keys).scalar()
        if last is None:  # first use: continue after the items registered before the counter existed
            insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
            conn.execute(insert(_COUNTER).values(year=year, item_type=item_type,
                                                 last=conn.execute(_REGISTERED, keys).scalar() or 0)
                         .on_conflict_do_nothing())  # or another registration made it meanwhile: counted on
            continue
        number = number_for(item_type, year, last)
        if conn.execute(_TAKEN, {**keys, "w_number": number}).first() is None:
            return number


def number_for(item_type: str, year: int, sequence: int) -> str:
    return f"{TYPE_PREFIX[item_type]}{year}-{sequence:03d}"



_SEPARATORS = re.compile(r"[、,，;；/\s]+")


# 建议 come from people's congress deputies, 提案 from CPPCC members: the lead and every co-signer.
PROPOSER_KIND = {"suggestion": ("deputy", "not_deputy"), "proposal": ("member", "not_member")}


def _of_kind(item_type: str, person, field: str, label: str, errors: list) -> None:
    kind, problem = PROPOSER_KIND.get(item_type, (None, None))
    if kind is not None and person.proposer_kind != kind:
        errors.append(FieldError(field, label, problem, person.name))


def _cosigners(session: Session, given, lead: User | None, item_type: str, errors: list) -> dict[int, str]:
    """联名/附议: each co-signer must be on the roster (an active deputy or member, of the kind the item's
    type asks), named by username or by a name no one else on the roster has. Returns their names by user
    id; the lead proposer is not one."""
    tokens = given if isinstance(given, list) else _SEPARATORS.split(str(given or ""))
    tokens = list(dict.fromkeys(t.strip() for t in tokens if t and t.strip()))
    if not tokens:
        return {}
    rows = session.execute(select(User.id, User.username, User.name, User.proposer_kind)
                           .where(User.role == "proposer", User.active,
                                  (User.username.in_(tokens)) | (User.name.in_(tokens)))).all()
    names: dict[int, str] = {}
    for token in tokens:
        by_username = [r for r in rows if r.username == token]
        matches = by_username or [r for r in rows if r.name == token]
        if not matches:
            errors.append(FieldError("cosigners", N_("联名/附议人"), "not_in_roster", token))
        elif len(matches) > 1:
            errors.append(FieldError("cosigners", N_("联名/附议人"), "ambiguous", token))
        elif lead is None or matches[0].id != lead.id:
            _of_kind(item_type, matches[0], "cosigners", N_("联名/附议人"), errors)
            names[matches[0].id] = matches[0].name
    return names


# Longest accepted value of each registration field, in characters (the columns' sizes; content is text).
FIELD_LIMITS = {"title": 300, "content": 50_000, "number": 40, "session": 80, "cosigners": 2000, "category": 80,
                "suggested_units": 300, "proposer": 80}
FIELD_LABELS = {"title": N_("案由"), "content": N_("内容"), "number": N_("编号"), "session": N_("届次"),
                "cosigners": N_("联名/附议"), "category": N_("类别"), "suggested_units": N_("建议承办单位"),
                "proposer": N_("领衔人")}
# One-line fields; content alone may hold line breaks and tabs.
MULTILINE_FIELDS = ("content",)


def register_item(session: Session, raw: dict, actor: User, uploads=()) -> Item:
    """Validate the registration fields, create the item with its attachments (登记材料) and start its
    process, in one transaction.

    `request_token` (the form's one-time token) makes it idempotent: a form submitted twice (back and
    resubmit, a double click) returns the item the first submission registered."""
    token = (raw.get("request_token") or "").strip() or None
    if token is not None:
        if len(token) > 64:
            raise FormInvalid([FieldError("request_token", N_("表单"), "token")])
        twin = session.scalar(select(Item).where(Item.request_token == token))
        if twin is not None:
            return twin
    errors = [FieldError(name, FIELD_LABELS[name], "maxlength", str(limit)) for name, limit in FIELD_LIMITS.items()
              if len(str(raw.get(name) or "").strip()) > limit]
    if errors:
        raise FormInvalid(errors)
    for name, label in FIELD_LABELS.items():  # refused at input, before any lookup: they break exports, can
        bad = unsafe_characters(str(raw.get(name) or ""), multiline=name in MULTILINE_FIELDS)  # hide text,
        if bad:  # and PostgreSQL refuses a NUL even in a query parameter
            errors.append(FieldError(name, label, "control", " ".join(bad)))
    if errors:
        raise FormInvalid(errors)
    number = str(raw.get("number") or "").strip()
    if number and not is_item_number(number):  # a plain identifier: it names files, links and export rows
        errors.append(FieldError("number", FIELD_LABELS["number"], "item_number"))

    def need(name: str, label: str) -> str:
        value = (raw.get(name) or "").strip()
        if not value:
            errors.append(FieldError(name, label, "required"))
        return value

    item_type = need("item_type", "类型")
    if item_type and item_type not in ITEM_TYPES:
        errors.append(FieldError("item_type", N_("类型"), "enum"))
    title = need("title", "案由")
    content = need("content", "内容")
    proposer_name = need("proposer", "领衔人")
    proposer = None
    if proposer_name:
        proposer = session.scalars(select(User).where(User.username == proposer_name, User.role == "proposer")).first()
        if proposer is None:
            errors.append(FieldError("proposer", N_("领衔人"), "reference"))
        elif not proposer.active:  # no longer on the roster (as a co-signer must be)
            errors.append(FieldError("proposer", N_("领衔人"), "inactive_proposer", proposer.name))
        else:
            _of_kind(item_type, proposer, "proposer", N_("领衔人"), errors)
    year_raw = (raw.get("year") or "").strip() or str(clock.today().year)
    if not re.fullmatch(r"[0-9]{4}", year_raw) or not 2000 <= int(year_raw) <= 2100:
        errors.append(FieldError("year", N_("年度"), "long"))
    cosigners = _cosigners(session, raw.get("cosigners"), proposer, item_type, errors)
    if errors:
        raise FormInvalid(errors)
    year = int(year_raw)
    given = (raw.get("number") or "").strip()
    if given and session.scalar(select(Item.id).where(Item.year == year, Item.item_type == item_type,
                                                      Item.number == given)):
        raise FormInvalid([FieldError("number", N_("编号"), "duplicate", given)])
    fields = dict(year=year, item_type=item_type, session=(raw.get("session") or "").strip() or None,
                  title=title, content=content, proposer_id=proposer.id, proposer=proposer,
                  cosigners="、".join(dict.fromkeys(cosigners.values())) or None,
                  category=(raw.get("category") or "").strip() or None,
                  suggested_units=(raw.get("suggested_units") or "").strip() or None, registered_by=actor.id)
    item = Item(number=given or _draw_number(session, year, item_type), request_token=token, **fields)
    try:
        with session.begin_nested():
            session.add(item)
            session.flush()
    except IntegrityError:
        # a given number registered meanwhile by someone else, or this form's token by a concurrent submission
        if token and (twin := session.scalar(select(Item).where(Item.request_token == token))) is not None:
            return twin
        raise FormInvalid([FieldError("number", N_("编号"), "duplicate", given)]) from None
    session.add_all(ItemCosigner(item_id=item.id, user_id=user_id) for user_id in cosigners)
    audit(session, item_id=item.id, actor_id=actor.id, action="registered", title="登记", data={"number": item.number})
    attachments.add(session, item, "registration", uploads, actor)
    definition = latest(session, PROCESS_ID, text=False)
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
            raise NotWithdrawable(N_("事项已交办或已办结，不能撤回"))
        task_id = row.id
    return complete(db, task_id, user_id, {"assign_decision": "withdraw", "assign_note": reason})
