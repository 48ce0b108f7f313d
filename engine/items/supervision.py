"""催办 and 督办 by hand: the office and supervisors urge a unit on an item and record their checks.

Both are recorded on the item (and its timeline); an urge is delivered to the unit's handlers and head
as a notification, and counted per unit in the statistics (`urged`).
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.i18n import N_, Msg
from engine import clock
from engine.models import (CHECK_KINDS, URGE_CHANNELS, Assignment, AuditEvent, Item, SupervisionCheck, Unit, Urge,
                           User)
from engine.people.authz import NotAllowed
from engine.people.notifications import notify, role_users
from engine.workflow.forms import FieldError, FormInvalid

SUPERVISING_ROLES = ("office", "supervisor")
CHANNEL_LABELS = {"system": N_("系统催办"), "phone": N_("电话催办"), "notice": N_("书面督办通知")}
CHECK_LABELS = {"phone": N_("电话督查"), "visit": N_("实地督查"), "notice": N_("督办通知")}


def may_supervise(user: User) -> bool:
    return user.role in SUPERVISING_ROLES and user.active


def urgeable_units(session: Session, item: Item) -> list[Unit]:
    """The units that hold a part of the item now (lead and co-units), the ones that can be urged."""
    rows = session.scalars(select(Unit).join(Assignment, Assignment.unit_id == Unit.id)
                           .where(Assignment.item_id == item.id, Assignment.ended_at.is_(None))
                           .order_by(Assignment.role.desc(), Unit.name))  # lead first, then co-units
    return list(dict.fromkeys(rows))


def _date(raw: str | None, field: str, label: str, errors: list, since: datetime | None, too_early: str) -> date | None:
    """The day typed (today when blank): not in the future, nor before `since` (the instant the item was
    assigned or registered), whose own day is named in the message `too_early`."""
    value = (raw or "").strip()
    if not value:
        return clock.today()
    try:
        day = date.fromisoformat(value)
    except ValueError:
        errors.append(FieldError(field, label, "date"))
        return None
    first = clock.local_day(since)
    if day > clock.today():
        errors.append(FieldError(field, label, "not_future", clock.today().isoformat()))
    elif first is not None and day < first:
        errors.append(FieldError(field, label, too_early, first.isoformat()))
    return day


def urge(session: Session, user: User, item: Item, unit_code: str, channel: str, on: str, text: str) -> Urge:
    """催办: record the urge on the item and deliver it to the unit."""
    if not may_supervise(user):
        raise NotAllowed(N_("只有区府办和督查人员可以催办"))
    errors = []
    units = {u.code: u for u in urgeable_units(session, item)}
    unit = units.get((unit_code or "").strip())
    if unit is None:
        errors.append(FieldError("unit", N_("催办单位"), "reference"))
    if channel not in URGE_CHANNELS:
        errors.append(FieldError("channel", N_("催办方式"), "enum"))
    day = _date(on, "urged_on", N_("催办日期"), errors, item.assigned_at, "before_assignment")
    if not (text or "").strip():
        errors.append(FieldError("text", N_("催办内容"), "required"))
    if errors:
        raise FormInvalid(errors)
    row = Urge(item_id=item.id, unit_id=unit.id, channel=channel, urged_on=day, text=text.strip(), by_id=user.id,
               source=user.role)
    session.add(row)
    session.flush()
    session.add(AuditEvent(item_id=item.id, actor_id=user.id, action="urged", unit_id=unit.id,
                           title=N_("催办（%(channel)s）：%(unit)s", channel=Msg(CHANNEL_LABELS[channel]), unit=unit.name), data={"text": row.text}))
    recipients = [u for role in ("unit_handler", "unit_head") for u in role_users(session, role, unit.id)]
    notify(session, recipients, item, "urge", N_("催办：%(number)s 请抓紧办理", number=item.number), f"urge:{row.id}",
           body=row.text,
           link=f"/items/{item.id}")
    return row


def record_check(session: Session, user: User, item: Item, kind: str, on: str, note: str) -> SupervisionCheck:
    """督办检查: a phone call, a site visit or a written notice, with its date and note."""
    if not may_supervise(user):
        raise NotAllowed(N_("只有区府办和督查人员可以记录督查"))
    errors = []
    if kind not in CHECK_KINDS:
        errors.append(FieldError("kind", N_("督查方式"), "enum"))
    day = _date(on, "held_on", N_("督查日期"), errors, item.registered_at, "before_registration")
    if not (note or "").strip():
        errors.append(FieldError("note", N_("督查情况"), "required"))
    if errors:
        raise FormInvalid(errors)
    row = SupervisionCheck(item_id=item.id, kind=kind, held_on=day, note=note.strip(), by_id=user.id)
    session.add(row)
    session.add(AuditEvent(item_id=item.id, actor_id=user.id, action="checked", title=N_("督查：%(kind)s", kind=Msg(CHECK_LABELS[kind])),
                           data={"note": row.note, "on": day.isoformat()}))
    return row


def urges_per_unit(session: Session, item_ids) -> dict[int, int]:
    """How many times each unit was urged by hand on these items."""
    return dict(session.execute(select(Urge.unit_id, func.count()).where(Urge.item_id.in_(item_ids))
                                .group_by(Urge.unit_id)).all())
