"""The domain read model: what each completed form means for the item, written as rows.

Projections are keyed by the form's `camunda:formKey`, which names the kind of record (a reply, a
rating), never the position of a step in the procedure: a process admin may reorder steps freely.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Callable, Mapping

from sqlalchemy import bindparam, insert, select
from sqlalchemy.orm import Session

from engine import clock, writes
from engine.i18n import N_
from engine.events import outbox
from engine.letter_numbers import number_reply
from engine.people.notifications import notify, role_users, tell_proposers
from engine.people.redaction import redact
from engine.models import (Assignment, CoOpinion, Consultation, Deadline, Disclosure, Item, LeaderInstruction,
                           Pledge, Promise, Rating, RehandlingOrder, Reply, ReturnRequest, Unit, User)


@dataclass
class Completion:
    """One completed form, with what a projection needs to know."""

    session: Session
    item: Item
    user: User | None  # None when a timer, not a person, acted
    data: dict  # the validated form data
    task_data: dict  # all process variables as the task saw them
    units: Mapping[str, int]  # unit code -> id (looked up as needed)
    people: Mapping[str, int]  # username -> id

    @property
    def round(self) -> int:
        return int(self.task_data.get("round", 1))

    def unit(self, var: str) -> int | None:
        return self.units.get(self.task_data.get(var) or "")

    @property
    def separate_part(self) -> bool:
        """The form belongs to a 分办 unit's own part (the multi-instance `sep_part` names the unit)."""
        return bool(self.task_data.get("sep_unit"))

    def replying_unit(self) -> int | None:
        """The unit whose pledge, reply or rating this is: the 分办 unit of a separate part, else the lead unit."""
        return self.unit("sep_unit") if self.separate_part else self.unit("lead_unit")


def _d(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


# An item's current assignments, read and changed as Core rows: a projection reads only their units and roles, and
# loading them as objects (and flushing what it set on them) cost a completion more than the statements' run.
_ASSIGNMENTS = Assignment.__table__
_A = _ASSIGNMENTS.c
_ACTIVE_ASSIGNMENTS = select(_A.unit_id, _A.role).where(_A.item_id == bindparam("item_id"), _A.ended_at.is_(None))
_SET_ACTIVE: dict = {}  # (columns, by role, by unit): its UPDATE, built once


def _active_assignments(c: Completion) -> list:
    """The item's current assignments, as (unit_id, role) rows."""
    return c.session.connection().execute(_ACTIVE_ASSIGNMENTS, {"item_id": c.item.id}).all()


def _set_active(c: Completion, role: str | None = None, unit_id: int | None = None, **values) -> None:
    """Set `values` on the item's current assignments (of one role, of one unit): one UPDATE. Assignment objects
    of the item this session holds are expired, so that a later read sees what was written."""
    shape = (tuple(sorted(values)), role is not None, unit_id is not None)
    if shape not in _SET_ACTIVE:
        where = [_A.item_id == bindparam("w_item"), _A.ended_at.is_(None)]
        where += [_A.role == bindparam("w_role")] if role is not None else []
        where += [_A.unit_id == bindparam("w_unit")] if unit_id is not None else []
        _SET_ACTIVE[shape] = writes.later(writes.update_of(_ASSIGNMENTS, shape[0], *where))
    params = {"w_item": c.item.id, **{f"v_{k}": v for k, v in values.items()}}
    params.update({"w_role": role} if role is not None else {})
    params.update({"w_unit": unit_id} if unit_id is not None else {})
    c.session.connection().execute(_SET_ACTIVE[shape], params)
    for obj in list(c.session.identity_map.values()):
        if isinstance(obj, Assignment) and obj.item_id == c.item.id:
            c.session.expire(obj)


# Prebuilt and run as Core: what a projection reads besides the objects it changes (statements built per call,
# through the ORM, cost a projection several times their run).
_ITEMS = Item.__table__
_UNIT_NAME = select(Unit.__table__.c.name).where(Unit.__table__.c.id == bindparam("unit_id"))


def unit_name(session: Session, unit_id: int | None) -> str | None:
    return session.connection().execute(_UNIT_NAME, {"unit_id": unit_id}).scalar()


# What a co-unit's or a 分办 unit's part owes (its return window, opinion, own reply, the rating of its reply).
PART_DEADLINES = ("return_window", "co_opinion", "sep_reply", "sep_rating")


def _void_part_deadlines(c: Completion, unit_ids) -> None:
    """A co-unit's or 分办 unit's part withdrawn (its return approved, or the whole item re-assigned): what it still owed is
    no longer owed, so its open deadlines are void (作废), neither met nor late. Written before the ledger
    reads the item's deadlines in this same command, so the ledger leaves them closed. Through the ORM, so that
    the board's summary rows (engine.deadlines.tally) let go of them in the same transaction."""
    now = clock.now()
    for row in c.session.scalars(select(Deadline).where(Deadline.item_id == c.item.id,
                                                        Deadline.key.in_(PART_DEADLINES),
                                                        Deadline.unit_id.in_(list(unit_ids)),
                                                        Deadline.status.in_(("open", "overdue")))):
        row.status, row.met_at = "void", now


_INSERT_ASSIGNMENTS = insert(Assignment).returning(Assignment.id, sort_by_parameter_order=True)  # built once


def assignment(c: Completion) -> None:
    if c.data.get("assign_decision") != "assign":
        return
    now = clock.now()
    item = c.item
    item.lead_unit_id = c.units[c.data["lead_unit"]]
    item.is_key = bool(c.data.get("is_key"))
    item.leader_id = c.people.get(c.data.get("leader") or "") if item.is_key else None
    item.is_complex = bool(c.data.get("is_complex"))
    item.assigned_at = now
    _set_active(c, ended_at=now, status="reassigned")  # a re-assignment replaces the earlier one
    added = [dict(item_id=item.id, unit_id=item.lead_unit_id, role="lead", assigned_at=now)]
    for code in c.data.get("co_units") or []:
        if code != c.data["lead_unit"]:
            added.append(dict(item_id=item.id, unit_id=c.units[code], role="co", assigned_at=now))
    for code in c.data.get("separate_units") or []:  # 分办: each replies on its own part
        if code != c.data["lead_unit"]:
            added.append(dict(item_id=item.id, unit_id=c.units[code], role="separate", assigned_at=now))
    # The notice's event names the lead assignment by id: the rows go in now, as Core (nothing for the ORM to
    # track), while the item, changed above and again by the command, is written once at its end.
    lead_id = c.session.connection().execute(_INSERT_ASSIGNMENTS, added).scalars().first()
    lead_name = unit_name(c.session, item.lead_unit_id)
    separate = [c.units[code] for code in c.data.get("separate_units") or [] if code != c.data["lead_unit"]]
    if separate:  # 分办: the proposer learns every unit that will reply
        names = dict(c.session.execute(select(Unit.id, Unit.name).where(Unit.id.in_(separate))).all())
        title = N_("已交办：由%(unit)s主办，%(separate)s分办", unit=lead_name,
                   separate="、".join(names[u] for u in separate))
    else:
        title = N_("已交办：由%(unit)s主办", unit=lead_name)
    tell_proposers(c.session, item.id, f"assigned:{lead_id}", title)
    outbox.record(c.session, "item.assigned", item, {
        "lead_unit": c.data["lead_unit"], "co_units": [u for u in c.data.get("co_units") or []
                                                       if u != c.data["lead_unit"]],
        "separate_units": [u for u in c.data.get("separate_units") or [] if u != c.data["lead_unit"]],
        "is_key": item.is_key})


def sign_for(c: Completion) -> None:
    if c.data.get("sign_decision") == "return":
        writes.add(c.session, ReturnRequest, item_id=c.item.id, unit_id=c.unit("lead_unit"), reason=c.data["return_reason"])
        _set_active(c, "lead", status="return_requested")
    else:
        _set_active(c, "lead", status="signed", signed_at=clock.now())


def _part_sign_for(c: Completion, unit_var: str, role: str, prefix: str) -> None:
    """A co-unit or 分办 unit signs for its part (签收) or asks to return it (申请退回); the office decides in
    the process."""
    unit_id = c.unit(unit_var)
    if c.data.get(f"{prefix}_sign_decision") == "return":
        writes.add(c.session, ReturnRequest, item_id=c.item.id, unit_id=unit_id, reason=c.data[f"{prefix}_return_reason"])
        _set_active(c, role, unit_id, status="return_requested")
    else:
        _set_active(c, role, unit_id, status="signed", signed_at=clock.now())


def co_sign_for(c: Completion) -> None:
    _part_sign_for(c, "co_unit", "co", "co")


def sep_sign_for(c: Completion) -> None:
    _part_sign_for(c, "sep_unit", "separate", "sep")


def co_return_decision(c: Completion) -> None:
    """The office's decision on a co-unit's request: approved, the unit leaves the item; refused, it keeps its
    part and is taken to have signed for it."""
    _part_return_decision(c, "co_unit", "co", "co", N_("协办退回申请已同意"), N_("协办退回申请未同意，请继续协办"))


def sep_return_decision(c: Completion) -> None:
    """The same for a 分办 unit's part; once it leaves, the item may be replied by the units that remain."""
    _part_return_decision(c, "sep_unit", "separate", "sep", N_("分办退回申请已同意"), N_("分办退回申请未同意，请继续办理"))
    if c.data["sep_return_decision"] == "approve":
        _mark_replied_when_all_have(c)


def _part_return_decision(c: Completion, unit_var: str, role: str, prefix: str, approved_title, refused_title) -> None:
    now = clock.now()
    unit_id = c.unit(unit_var)
    approved = c.data[f"{prefix}_return_decision"] == "approve"
    req = c.session.scalars(select(ReturnRequest).where(ReturnRequest.item_id == c.item.id,
                                                        ReturnRequest.unit_id == unit_id, ReturnRequest.decision.is_(None))
                            .order_by(ReturnRequest.id.desc()).limit(1)).first()
    if req is not None:
        req.decision, req.opinion, req.decided_at = (c.data[f"{prefix}_return_decision"],
                                                     c.data.get(f"{prefix}_return_opinion"), now)
    if approved:
        _set_active(c, role, unit_id, status="returned", ended_at=now)
        _void_part_deadlines(c, [unit_id])
    else:
        _set_active(c, role, unit_id, status="signed", signed_at=now)
    unit_users = [u for role in ("unit_handler", "unit_head") for u in role_users(c.session, role, unit_id)]
    notify(c.session, unit_users, c.item, "return_decision", approved_title if approved else refused_title,
           f"{prefix}_return_decision:{req.id if req else c.item.id}:{unit_id}",
           body=c.data.get(f"{prefix}_return_opinion"), link=f"/items/{c.item.id}")


def return_decision(c: Completion) -> None:
    now = clock.now()
    # The lead unit's request (a co-unit's request for its own part has its own step, co_return_decision).
    req = c.session.scalars(select(ReturnRequest).where(ReturnRequest.item_id == c.item.id,
                                                        ReturnRequest.unit_id == c.unit("lead_unit"))
                            .order_by(ReturnRequest.id.desc()).limit(1)).first()
    if req is not None:
        req.decision, req.opinion, req.decided_at = c.data["return_decision"], c.data.get("return_opinion"), now
        approved = c.data["return_decision"] == "approve"
        unit_users = [u for role in ("unit_handler", "unit_head") for u in role_users(c.session, role, req.unit_id)]
        notify(c.session, unit_users, c.item, "return_decision",
               N_("退回申请已同意") if approved else N_("退回申请未同意，请继续办理"),
               f"return_decision:{req.id}", body=c.data.get("return_opinion"), link=f"/items/{c.item.id}")
    if c.data["return_decision"] == "approve":  # the whole item is re-assigned: the co-units' and 分办 parts end too
        co_units = [unit_id for unit_id, role in _active_assignments(c) if role in ("co", "separate")]
        _set_active(c, ended_at=now, status="returned")
        c.item.lead_unit_id = None
        _void_part_deadlines(c, co_units)
    else:  # refused: the unit keeps the item and is taken to have signed for it
        _set_active(c, "lead", status="signed", signed_at=now)


def pledge(c: Completion) -> None:
    writes.add(c.session, Pledge, item_id=c.item.id, unit_id=c.replying_unit(), signed_by=c.user.id,
               responsible_leader=c.data["responsible_leader"], contact_person=c.data["contact_person"],
               contact_phone=c.data["contact_phone"], plan=c.data["plan"], target_date=_d(c.data["target_date"]))


def co_opinion(c: Completion) -> None:
    unit_id = c.unit("co_unit")
    writes.add(c.session, CoOpinion, item_id=c.item.id, unit_id=unit_id, text=c.data["co_opinion"])
    _set_active(c, "co", unit_id, status="done")


def leader_instruction(c: Completion) -> None:
    writes.add(c.session, LeaderInstruction, item_id=c.item.id, leader_id=c.user.id, round=c.round,
               instruction=c.data["instruction"], report_heard=bool(c.data.get("report_heard")))


def consultation(c: Completion) -> None:
    writes.add(c.session, Consultation, item_id=c.item.id, unit_id=c.unit("lead_unit"), round=c.round,
               held_on=_d(c.data["consult_date"]), form=c.data["consult_form"], participants=c.data["participants"],
               proposer_views=c.data["proposer_views"], recorded_by=c.user.id)


def reply(c: Completion) -> None:
    d = c.data
    writes.add(c.session, Reply, item_id=c.item.id, unit_id=c.replying_unit(), round=c.round,
               reply_class=d["reply_class"], text=d["reply_text"], adopted=d.get("adopted"), promised=d.get("promised"),
               promised_date=_d(d.get("promised_date")), disclosure=d["disclosure"],
               disclosure_summary=d.get("disclosure_summary"), drafted_by=c.user.id)


_LATEST_REPLY = (select(Reply).where(Reply.item_id == bindparam("item_id"), Reply.unit_id == bindparam("unit_id"))
                 .order_by(Reply.id.desc()).limit(1))
_APPROVED_UNITS = select(Reply.unit_id).where(Reply.item_id == bindparam("item_id"), Reply.status == "approved")


def _latest_reply(c: Completion) -> Reply:
    """The reply this sign-off or review is about: the latest of the unit whose part the task is."""
    return c.session.scalars(_LATEST_REPLY, {"item_id": c.item.id, "unit_id": c.replying_unit()}).first()


def _mark_replied_when_all_have(c: Completion, approved_now: Reply | None = None) -> None:
    """办复: an item is replied when its lead unit and every 分办 unit still on it have an approved reply (the
    first time that holds counts); an ordinary item when its lead unit's reply is approved. `approved_now`: a
    reply approved by this command, not written yet (the command writes everything once, at its end)."""
    if c.item.replied_at is not None:
        return
    owing = {unit_id for unit_id, role in _active_assignments(c) if role in ("lead", "separate")}
    approved = set(c.session.connection().execute(_APPROVED_UNITS, {"item_id": c.item.id}).scalars())
    if approved_now is not None:
        approved.add(approved_now.unit_id)
    if owing and owing <= approved:
        c.item.replied_at = clock.now()


def reply_signoff(c: Completion) -> None:
    r = _latest_reply(c)
    if c.data["signoff_decision"] == "approve":
        r.status, r.signed_by, r.signed_at = "signed", c.user.id, clock.now()
    else:
        r.status, r.review_opinion = "revise", c.data.get("signoff_opinion")


def reply_review(c: Completion) -> None:
    r = _latest_reply(c)
    now = clock.now()
    r.reviewed_by, r.reviewed_at = c.user.id, now
    if c.data["review_decision"] == "approve":
        r.status = "approved"
        r.final_class = c.data.get("final_class") or r.reply_class
        if not c.separate_part:  # the item's class is its lead unit's; a 分办 unit's class is its reply's own
            c.item.reply_class = r.final_class
        number_reply(c.session, r)  # 发文字号: the letter is the approved reply's, dated this day
        _mark_replied_when_all_have(c, approved_now=r)
        promises_of(c.session, c.item, r)
        if c.separate_part:
            _set_active(c, "separate", r.unit_id, status="replied")
            title = N_("%(unit)s已答复（分办），请评价", unit=unit_name(c.session, r.unit_id))
        else:
            title = N_("已答复（第%(round)s轮），请评价", round=r.round)
        tell_proposers(c.session, c.item.id, f"replied:{r.id}", title,
                       body=N_("答复类别 %(reply_class)s", reply_class=r.final_class))
        payload = {"round": r.round, "reply_class": r.final_class, "reply_id": r.id}  # its texts: outbox.message
        if c.separate_part:  # 分办: which unit's own reply this is
            payload["separate_unit"] = c.task_data["sep_unit"]
        outbox.record(c.session, "reply.approved", c.item, payload)
    else:
        r.status, r.review_opinion = "returned", c.data.get("review_opinion")


def rating(c: Completion) -> None:
    writes.add(c.session, Rating, item_id=c.item.id, round=c.round, attitude=c.data["attitude"], result=c.data["result"],
               reason=c.data.get("rating_reason"), unit_id=c.unit("sep_unit") if c.separate_part else None)


def rehandling_order(c: Completion) -> None:
    writes.add(c.session, RehandlingOrder, item_id=c.item.id, round=c.round, decision=c.data["rehandle_decision"],
               instructions=c.data["rehandle_instructions"], decided_by=c.user.id,
               unit_id=c.unit("sep_unit") if c.separate_part else None)
    if c.separate_part:  # 分办: that unit's part alone starts a new round; the item's round is its lead unit's
        if c.data["rehandle_decision"] == "rehandle":
            tell_proposers(c.session, c.item.id, f"rehandled:{c.round + 1}:u{c.unit('sep_unit')}",
                           N_("已责成%(unit)s重新办理（分办，第%(round)s轮）", unit=unit_name(c.session, c.unit("sep_unit")),
                              round=c.round + 1))
        return
    if c.data["rehandle_decision"] == "rehandle":
        c.item.round = c.round + 1
        tell_proposers(c.session, c.item.id, f"rehandled:{c.item.round}",
                       N_("已责成重新办理（第%(round)s轮）", round=c.item.round))


def promises_of(session: Session, item: Item, r: Reply) -> None:
    """跟踪落实: each promised measure of an approved B or C reply (one per line) becomes a tracked promise
    of the replying unit, due on the promised date (or at the end of the item's year when none was given)."""
    if r.final_class not in ("B", "C") or not (r.promised or "").strip():
        return
    due = r.promised_date or date(item.year, 12, 31)
    for line in r.promised.splitlines():
        if line.strip():
            writes.add(session, Promise, item_id=item.id, reply_id=r.id, unit_id=r.unit_id, text=line.strip(), due_date=due)


def disclosure(c: Completion) -> None:
    """公开: what the public will read is redacted here, once, and stored beside the office's own text."""
    scope, text = c.data["publish_scope"], c.data.get("published_text")
    row = dict(item_id=c.item.id, scope=scope, text=text, published_by=c.user.id)
    if scope in ("full", "summary"):
        row.update(zip(("public_title", "public_text", "public_content"), public_version(c.session, c.item, scope, text)))
        row.update(public_year=c.item.year, public_unit_id=c.item.lead_unit_id)  # where the public list files it
    writes.add(c.session, Disclosure, **row)


def public_version(session: Session, item: Item, scope: str, office_text: str | None) -> tuple[str, str, str | None]:
    """(title, text, content) as published: the office's text, else the final reply's own per scope (full
    text or summary), the item's content only with a full reply; all redacted."""
    if not office_text:
        reply = session.scalars(select(Reply).where(Reply.item_id == item.id, Reply.status == "approved")
                                .order_by(Reply.round.desc(), Reply.id.desc()).limit(1)).first()
        office_text = (reply.text if scope == "full" else reply.disclosure_summary) if reply else ""
    return (redact(item.title), redact(office_text or ""),
            redact(item.content) if scope == "full" else None)


PROJECTIONS: dict[str, Callable[[Completion], None]] = {
    "assignment": assignment, "sign_for": sign_for, "return_decision": return_decision, "pledge": pledge,
    "co_sign_for": co_sign_for, "co_return_decision": co_return_decision,
    "sep_sign_for": sep_sign_for, "sep_return_decision": sep_return_decision,
    "co_opinion": co_opinion, "leader_instruction": leader_instruction, "consultation": consultation,
    "reply": reply, "reply_signoff": reply_signoff, "reply_review": reply_review, "rating": rating,
    "rehandling_order": rehandling_order, "disclosure": disclosure,
}

# The free-text fields each projection always copies into its record as typed: the timeline entry of the form
# refers to the record (by item, round and form key) instead of keeping a second copy (runtime.audit_data).
RECORDED: dict[str, frozenset[str]] = {
    "pledge": frozenset({"responsible_leader", "contact_person", "contact_phone", "plan"}),
    "consultation": frozenset({"participants", "proposer_views"}),
    "reply": frozenset({"reply_text", "adopted", "promised", "disclosure_summary"}),
    "disclosure": frozenset({"published_text"}), "co_opinion": frozenset({"co_opinion"}),
    "leader_instruction": frozenset({"instruction"}), "rating": frozenset({"rating_reason"}),
    "rehandling_order": frozenset({"rehandle_instructions"}),
}

# The item's status while a task with this form key is ready (the earliest in ITEM_STATUSES wins).
STATUS_BY_FORM = {
    "assignment": "assigning", "sign_for": "signing", "return_decision": "signing", "pledge": "handling",
    "co_opinion": "handling", "co_sign_for": "handling", "co_return_decision": "handling",
    "sep_sign_for": "handling", "sep_return_decision": "handling",
    "leader_instruction": "handling", "consultation": "handling",
    "reply": "replying", "reply_signoff": "replying", "reply_review": "replying", "rating": "rating",
    "rehandling_order": "rehandling", "disclosure": "publishing",
}


def timer_outcome(kind: str | None, deadline: str | None, c: Completion) -> None:
    """What a fired timer means for the record: an expired rating window counts as 未表态 (no opinion)."""
    if kind == "expired" and deadline in ("rating", "sep_rating"):  # sep_rating: a 分办 unit's reply
        writes.add(c.session, Rating, item_id=c.item.id, round=c.round, attitude="no_opinion", result="no_opinion",
                   reason=N_("评价期满未表态"),  # shown through the catalog (web: |tr)
                   unit_id=c.unit("sep_unit") if deadline == "sep_rating" else None)


# The timeline's name of a completed form when a decision makes it another act than the step's name
# (签收 or 申请退回, 交办 or 撤回 ...): (form key, field, value) -> name.
EVENT_TITLES = {
    ("assignment", "assign_decision", "withdraw"): N_("撤回"),
    ("sign_for", "sign_decision", "return"): N_("申请退回"),
    ("return_decision", "return_decision", "approve"): N_("同意退回"),
    ("return_decision", "return_decision", "refuse"): N_("不同意退回"),
    ("co_sign_for", "co_sign_decision", "return"): N_("协办单位申请退回"),
    ("co_return_decision", "co_return_decision", "approve"): N_("同意协办单位退回"),
    ("co_return_decision", "co_return_decision", "refuse"): N_("不同意协办单位退回"),
    ("sep_sign_for", "sep_sign_decision", "return"): N_("分办单位申请退回"),
    ("sep_return_decision", "sep_return_decision", "approve"): N_("同意分办单位退回"),
    ("sep_return_decision", "sep_return_decision", "refuse"): N_("不同意分办单位退回"),
    ("reply_signoff", "signoff_decision", "approve"): N_("同意签发"),
    ("reply_signoff", "signoff_decision", "revise"): N_("退回修改"),
    ("reply_review", "review_decision", "approve"): N_("审核通过"),
    ("reply_review", "review_decision", "return"): N_("驳回修改"),
    ("rehandling_order", "rehandle_decision", "rehandle"): N_("责成重新办理"),
    ("rehandling_order", "rehandle_decision", "close"): N_("不再重办，予以办结"),
}


def event_title(form_key: str | None, data: dict, default: str) -> str:
    """What the completion of this form is called in the timeline and in the confirmation."""
    for (key, field, value), title in EVENT_TITLES.items():
        if key == form_key and data.get(field) == value:
            return title
    return default


def project(form_key: str | None, completion: Completion) -> None:
    handler = PROJECTIONS.get(form_key or "")
    if handler is not None:
        handler(completion)
