"""Checks of a completed form that depend on the domain, not on the field types (those are `forms`).

Keyed by the form's `camunda:formKey` like the read model's projections: the lead unit is not also a
co-unit or a 分办 unit, and 分办 excludes co-units; a pledge's planned completion lies between today and its
unit's reply deadline, a consultation between the item's assignment (交办) and today, a promised date between
today and the end of the year after next; a contact phone looks like one. Each problem is a `FieldError` shown
beside its field.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Callable

from engine.people.contact import valid_phone
from engine.workflow.forms import FieldError


def _day(value) -> date | None:
    return date.fromisoformat(value) if value else None


def _unbounded() -> tuple[date, str] | None:
    return None


def _none_merged() -> list[str]:
    return []


@dataclass(frozen=True)
class Days:
    """The days a form's dates are checked against: today, and the day the item was assigned (None before).

    `pledge_latest`: the latest target date a pledge may name and the error code that says why (the reply
    deadline, "after_reply_due"; the cap on extensions, "not_after"), or None; a call, since it reads the
    deadline ledger and only the pledge's rule asks. `merged_in`: the numbers of the items merged into this one
    (并案), which its withdrawal would leave without a reply; a call too, read by the assignment's rule only.
    `merged_unrated`: those of them whose proposer has not rated the reply of the form's round while its rating
    window is open; read by the re-handling order's rule only."""
    today: date
    assigned: date | None = None
    pledge_latest: Callable[[], tuple[date, str] | None] = _unbounded
    merged_in: Callable[[], list[str]] = _none_merged
    merged_unrated: Callable[[], list[str]] = _none_merged


def promise_horizon(today: date) -> date:
    """The latest promised completion date (承诺完成日期) a reply may name: the end of the year after next.

    DOMAIN.md sets no bound (open promises carry over from year to year), but a B reply promises what is being
    solved or is in a plan (this year's or next year's budget), and a year's deadline rules stop at the end of
    the next year too (engine.deadlines.rules.check_rule); a later date is a typo (2999) or no promise at all."""
    return date(today.year + 2, 12, 31)


def _field(form: dict, fid: str) -> str:
    return next((f["label"] for f in form.get("fields", []) if f["id"] == fid), fid)


def assignment(form: dict, data: dict, days: Days) -> list[FieldError]:
    lead = data.get("lead_unit")
    if data.get("assign_decision") == "withdraw" and (merged := days.merged_in()):
        return [FieldError("assign_decision", _field(form, "assign_decision"), "merged_in", "、".join(merged))]
    if data.get("assign_decision", "assign") != "assign":
        return []
    if lead and lead in (data.get("co_units") or []):
        return [FieldError("co_units", _field(form, "co_units"), "lead_is_co")]
    separate = data.get("separate_units") or []
    if separate and data.get("co_units"):  # 分办: each unit replies on its own, none helps another's reply
        return [FieldError("separate_units", _field(form, "separate_units"), "separate_with_co")]
    if lead and lead in separate:
        return [FieldError("separate_units", _field(form, "separate_units"), "lead_is_separate")]
    return []


def pledge(form: dict, data: dict, days: Days) -> list[FieldError]:
    errors = []
    target = _day(data.get("target_date"))
    if target is not None and target < days.today:
        errors.append(FieldError("target_date", _field(form, "target_date"), "not_past", days.today.isoformat()))
    elif target is not None and (latest := days.pledge_latest()) is not None and target > latest[0]:
        errors.append(FieldError("target_date", _field(form, "target_date"), latest[1], latest[0].isoformat()))
    phone = data.get("contact_phone")
    if phone and not valid_phone(phone):
        errors.append(FieldError("contact_phone", _field(form, "contact_phone"), "phone"))
    return errors


def consultation(form: dict, data: dict, days: Days) -> list[FieldError]:
    held = _day(data.get("consult_date"))
    if held is not None and held > days.today:
        return [FieldError("consult_date", _field(form, "consult_date"), "not_future", days.today.isoformat())]
    if held is not None and days.assigned is not None and held < days.assigned:  # it would count in 面商率
        return [FieldError("consult_date", _field(form, "consult_date"), "before_assignment", days.assigned.isoformat())]
    return []


def reply(form: dict, data: dict, days: Days) -> list[FieldError]:
    if (data.get("promised") or "").strip() and not data.get("promised_date") and "promised_date" in data:
        # a promise is tracked to its date (跟踪落实): none typed is none guessed
        return [FieldError("promised_date", _field(form, "promised_date"), "required")]
    promised = _day(data.get("promised_date"))
    if promised is not None and promised < days.today:
        return [FieldError("promised_date", _field(form, "promised_date"), "not_past", days.today.isoformat())]
    if promised is not None and promised > promise_horizon(days.today):
        return [FieldError("promised_date", _field(form, "promised_date"), "beyond_horizon",
                           promise_horizon(days.today).isoformat())]
    return []


def rehandling_order(form: dict, data: dict, days: Days) -> list[FieldError]:
    """并案: re-handling starts a new round, and each round keeps its own reply and ratings (分别评价): the office
    decides it on every proposer's rating of the reply, not on the lead proposer's alone."""
    if data.get("rehandle_decision") == "rehandle" and (waiting := days.merged_unrated()):
        return [FieldError("rehandle_decision", _field(form, "rehandle_decision"), "merged_unrated", "、".join(waiting))]
    return []


RULES: dict[str, Callable[[dict, dict, Days], list[FieldError]]] = {
    "assignment": assignment, "pledge": pledge, "consultation": consultation, "reply": reply,
    "rehandling_order": rehandling_order,
}


def check(form: dict, data: dict, days: Days) -> list[FieldError]:
    rule = RULES.get(form.get("key") or "")
    return rule(form, data, days) if rule else []
