"""Deadline rules per year: DOMAIN.md's defaults, overridden by the office for a year or a batch.

The rules travel into each instance as the process variable `rules`, read by the BPMN's timer scripts.
"""
from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import clock
from engine.i18n import N_, Msg
from engine.deadlines.calendar import current_calendar, parse_rule
from engine.models import DeadlineRule

DEFAULT_RULES: dict[str, str] = {
    "return_window": "5WD",  # 申请退回时限, from assignment
    "first_contact": "20WD",  # 首次联系代表委员, from assignment
    "co_opinion": "1M",  # 协办意见, from assignment
    "reply": "3M",  # 答复, from assignment
    "reply_complex": "6M",  # 复杂事项答复
    "reply_fixed_date": "",  # a batch-wide fixed reply date (e.g. 2026-06-30) overrides reply/reply_complex
    "rehandle_reply": "1M",  # 重新办理答复, from the re-handling order
    "rating": "15WD",  # 评价, from the reply
    "disclosure": "20WD",  # 公开, from the reply
    "reminder_leads": "15D,3D",  # reminders before a deadline, longest first
    "max_extension": "6M",  # 延期: the total stays within this from assignment
}
LABELS = {
    "return_window": N_("签收/申请退回时限"), "first_contact": N_("首次联系时限"), "co_opinion": N_("协办意见时限"),
    "reply": N_("答复时限"), "reply_complex": N_("复杂事项答复时限"), "reply_fixed_date": N_("统一答复日期（可空）"),
    "rehandle_reply": N_("重新办理答复时限"), "rating": N_("评价时限"), "disclosure": N_("公开时限"),
    "reminder_leads": N_("提前提醒（逗号分隔）"), "max_extension": N_("延期后总期限上限"),
}


class RuleError(ValueError):
    pass


# The longest sane period of each rule, in days (a working day counts 7/5, a month 31): a typo such as
# 99999M is refused where it is typed instead of failing every item of the year.
MAX_DAYS = {"return_window": 60, "first_contact": 120, "co_opinion": 186, "reply": 366, "reply_complex": 366,
            "rehandle_reply": 186, "rating": 120, "disclosure": 120, "reminder_leads": 60, "max_extension": 366}
_PER_UNIT = {"WD": 7 / 5, "D": 1, "M": 31}


def _days(quantity: int, unit: str) -> float:
    return quantity * _PER_UNIT[unit]


def check_rule(key: str, rule: str, year: int | None = None) -> str:
    """Normalise and check one rule; raise RuleError with a clear message."""
    rule = rule.strip().upper().replace(" ", "")
    if key not in DEFAULT_RULES:
        raise RuleError(N_("未知的期限规则 %(key)s", key=key))
    if key == "reply_fixed_date" and not rule:
        return ""
    try:
        for part in rule.split(",") if key == "reminder_leads" else [rule]:
            quantity, unit = parse_rule(part)
            if key == "reminder_leads" and unit not in ("D", "WD"):
                raise ValueError(part)
            if key == "reply_fixed_date" and unit != "DATE":
                raise ValueError(part)
            if unit != "DATE" and _days(quantity, unit) > MAX_DAYS[key]:
                raise RuleError(N_("%(label)s：规则“%(rule)s”超出合理范围（最长约 %(days)s 天）", label=Msg(LABELS[key]),
                                   rule=part, days=MAX_DAYS[key]))
            if unit == "DATE" and year is not None and not (date(year, 1, 1) <= quantity <= date(year + 1, 12, 31)):
                raise RuleError(N_("%(label)s：日期 %(date)s 应在 %(year)s 年会议之后、%(next)s 年底之前", label=Msg(LABELS[key]),
                                   date=quantity.isoformat(), year=year, next=year + 1))
    except RuleError:
        raise
    except ValueError as exc:
        if "out of range" in str(exc):
            raise RuleError(N_("%(label)s：规则“%(rule)s”超出合理范围（最长约 %(days)s 天）", label=Msg(LABELS[key]),
                               rule=rule, days=MAX_DAYS[key])) from None
        raise RuleError(N_("%(label)s：规则“%(rule)s”无效，应如 5WD、20D、3M 或 2026-06-30", label=Msg(LABELS[key]),
                           rule=rule)) from None
    return rule


def rules_for(session: Session, year: int | None = None) -> dict:
    """The rules in force for items of `year`, as the process variable `rules`."""
    year = year or clock.today().year
    rules = dict(DEFAULT_RULES)
    rules.update(dict(session.execute(select(DeadlineRule.key, DeadlineRule.rule)
                                      .where(DeadlineRule.year == year)).all()))
    out: dict = dict(rules)
    out["reminder_leads"] = [p for p in rules["reminder_leads"].split(",") if p]
    return out


def latest_allowed(session: Session, item) -> date:
    """The latest reply date an item may reach: extensions keep the total within `max_extension` (6 months) of
    assignment (DOMAIN.md step 5), and a pledge names no later date when its reply deadline is unknown."""
    start = clock.local(item.assigned_at).date()
    return current_calendar(session).deadline(start, rules_for(session, item.year)["max_extension"]).due


def set_rule(session: Session, year: int, key: str, rule: str) -> None:
    rule = check_rule(key, rule, year)
    row = session.scalars(select(DeadlineRule).where(DeadlineRule.year == year, DeadlineRule.key == key)).first()
    if rule == DEFAULT_RULES[key]:
        if row is not None:
            session.delete(row)
        return
    if row is None:
        session.add(DeadlineRule(year=year, key=key, rule=rule))
    else:
        row.rule, row.updated_at = rule, clock.now()
