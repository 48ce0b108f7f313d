"""Functions that BPMN scripts and expressions may call (through the sandbox).

Deadlines in the BPMN are written as `due_at(rules['reply'], assigned_on)` and `remind_at(reply_due, '15D')`:
the calendar module does the arithmetic, so a process admin changes a deadline by editing a rule or an
expression, never code. The calendar in use is set per command with `calendar_scope`.
"""
from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime, time, timedelta
from typing import Iterator

from engine import clock
from engine.deadlines.calendar import WorkCalendar, parse_rule

_calendar: ContextVar[WorkCalendar | None] = ContextVar("banli_calendar", default=None)
END_OF_DAY = time(23, 59, 59)
REMINDER_TIME = time(9, 0)


@contextmanager
def calendar_scope(calendar: WorkCalendar) -> Iterator[None]:
    token = _calendar.set(calendar)
    try:
        yield
    finally:
        _calendar.reset(token)


def _cal() -> WorkCalendar:
    cal = _calendar.get()
    if cal is None:
        raise RuntimeError("no working calendar in scope (engine commands set one)")
    return cal


def instant(day: date, at: time = END_OF_DAY) -> str:
    """The ISO instant (Asia/Shanghai) a timer waits for: a deadline ends with its due day."""
    return datetime.combine(day, at, clock.LOCAL_TZ).isoformat()


def end_of_day(day: date) -> datetime:
    """The instant a deadline of `day` ends (Asia/Shanghai), as a datetime."""
    return datetime.combine(day, END_OF_DAY, clock.LOCAL_TZ)


def due_day(value: str) -> date:
    """The local due date of an instant written by `due_at`."""
    return datetime.fromisoformat(value).astimezone(clock.LOCAL_TZ).date()


def today() -> str:
    """Today in Asia/Shanghai, as an ISO date (task data stays JSON-native)."""
    return clock.today().isoformat()


def due_at(rule: str, start: str) -> str:
    """The end of the due day of `rule` (`5WD`, `20D`, `3M`, or a fixed date) counted from `start`."""
    return instant(_cal().deadline(date.fromisoformat(str(start)[:10]), rule).due)


def remind_at(due: str, lead: str) -> str:
    """When to remind `lead` (`15D`, `3D`, `2WD`) before `due`, at 09:00.

    A reminder whose time has already passed when the step starts folds into the deadline itself, so a
    short window does not remind the moment it opens.
    """
    at = instant(remind_day(_cal(), due_day(due), lead), REMINDER_TIME)
    return due if datetime.fromisoformat(at) <= clock.now() else at


def remind_day(calendar: WorkCalendar, due: date, lead: str) -> date:
    """The day a reminder `lead` (`15D`, `3D`, `2WD`) before the due day `due` falls on: the processes' timers
    (`remind_at`) and the reminders sent without one (promises, merged items' ratings) count it alike."""
    quantity, unit = parse_rule(lead)
    if unit == "WD":
        return calendar.add_working_days(due, -quantity)
    if unit == "D":
        return due - timedelta(days=quantity)
    raise ValueError(f"reminder lead must be days (D) or working days (WD), not {lead!r}")


FUNCTIONS = {"today": today, "due_at": due_at, "remind_at": remind_at}
