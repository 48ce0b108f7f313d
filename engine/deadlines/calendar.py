"""The working-day calendar (工作日历): the only place that computes dates and deadlines.

Working days follow the official Chinese arrangement: Monday to Friday, minus statutory holidays, plus the
weekend days made working days (调休). Only those exceptions are stored (table calendar_day); the years
whose arrangement is loaded are listed in calendar_year, and a deadline that depends on any other year
says so instead of silently guessing. Periods in days and months follow the civil code (民法典 art.
201-203). All dates are local dates in Asia/Shanghai; callers pass the start, nothing here reads a clock.
"""
from __future__ import annotations

import csv
import io
import re
import time
import weakref
from calendar import monthrange
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Iterable, Mapping, NamedTuple

import chinese_calendar as cc
from chinese_calendar.constants import Holiday
from sqlalchemy import delete, event, func, select
from sqlalchemy.orm import Session

from engine.i18n import N_
from engine.models import CalendarDay, CalendarYear, utcnow

ONE_DAY = timedelta(days=1)
RULE_FORMS = "'5WD' (working days), '20D' (days), '3M' (months) or a fixed date 'YYYY-MM-DD'"
RULE_LIMITS = {"WD": 500, "D": 730, "M": 24}  # two years: no deadline of the procedure is longer
_RULE = re.compile(r"(\d+)\s*(WD|D|M)")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class Deadline:
    """A computed due date, the rule it came from, and why it may be wrong (missing holiday data)."""

    due: date
    rule: str
    warnings: tuple[str, ...] = ()


class DayView(NamedTuple):
    day: date
    is_working: bool
    name: str | None


def _local_date(d: date) -> date:
    # datetime is a subclass of date: a UTC instant's date is the wrong local day after 16:00 UTC.
    if isinstance(d, datetime):
        raise TypeError(f"pass a local date (Asia/Shanghai), not a datetime: {d!r}")
    return d


class WorkCalendar:
    """Working days from the stored exceptions; pure and in memory, so deadline maths needs no DB."""

    def __init__(self, exceptions: Mapping[date, bool], covered_years: Iterable[int],
                 names: Mapping[date, str | None] | None = None):
        self._exceptions = dict(exceptions)
        self._names = dict(names or {})
        self.covered_years = frozenset(covered_years)

    def covers(self, year: int) -> bool:
        return year in self.covered_years

    def is_working_day(self, d: date) -> bool:
        return self._exceptions.get(d, d.weekday() < 5)

    def name_of(self, d: date) -> str | None:
        return self._names.get(d)

    def add_working_days(self, start: date, n: int) -> date:
        """The n-th working day after start (start not counted); n < 0 counts backwards, for reminders."""
        d, step = _local_date(start), (ONE_DAY if n >= 0 else -ONE_DAY)
        for _ in range(abs(n)):
            d += step
            while not self.is_working_day(d):
                d += step
        return d

    def add_days(self, start: date, n: int) -> date:
        """n days after start (start not counted); an end on a rest day moves to the next working day."""
        return self.next_working_day(_local_date(start) + timedelta(days=n))

    def add_months(self, start: date, n: int) -> date:
        """The corresponding day n months later, or that month's last day when it has none (2026-01-31
        + 1 month = 2026-02-28); an end on a rest day moves to the next working day."""
        return self.next_working_day(_corresponding_day(_local_date(start), n))

    def next_working_day(self, d: date) -> date:
        """d itself if it is a working day, else the first working day after it."""
        while not self.is_working_day(d):
            d += ONE_DAY
        return d

    def deadline(self, start: date, rule: str) -> Deadline:
        """The due date of `rule` counted from `start`, with a warning for every year the result
        depends on whose holidays are not loaded. A fixed date is the office's choice: kept as is."""
        start = _local_date(start)
        quantity, unit = parse_rule(rule)
        if unit == "DATE":
            return Deadline(quantity, rule)
        if unit == "WD":
            due = self.add_working_days(start, quantity)
            consulted = (start + ONE_DAY, due)  # every day counted or skipped
        else:
            nominal = start + timedelta(days=quantity) if unit == "D" else _corresponding_day(start, quantity)
            due = self.next_working_day(nominal)
            consulted = (nominal, due)  # only the end and the rest days it moved over matter
        return Deadline(due, rule, self._missing_years(*consulted))

    def _missing_years(self, first: date, last: date) -> tuple[str, ...]:
        return tuple(not_loaded([y]) for y in range(first.year, last.year + 1) if y not in self.covered_years)


def not_loaded(years) -> str:
    """The warning of a date counted on weekends alone: these years' holidays are not loaded (ledger reads the
    years back from it once they are)."""
    return N_("%(years)s年节假日数据未载入，按周末计算", years="、".join(str(y) for y in years))


def _corresponding_day(start: date, n: int) -> date:
    year, month0 = divmod(start.month - 1 + n, 12)
    year += start.year
    return date(year, month0 + 1, min(start.day, monthrange(year, month0 + 1)[1]))


def parse_rule(rule: str) -> tuple[int, str] | tuple[date, str]:
    """'5WD' -> (5, 'WD'), '20D' -> (20, 'D'), '3M' -> (3, 'M'), '2026-06-30' -> (date, 'DATE')."""
    text = rule.strip().upper() if isinstance(rule, str) else ""
    if _ISO_DATE.fullmatch(text):
        try:
            return date.fromisoformat(text), "DATE"
        except ValueError:
            raise ValueError(f"deadline rule {rule!r} is not a real date; use {RULE_FORMS}") from None
    m = _RULE.fullmatch(text)
    if not m or int(m[1]) == 0:
        raise ValueError(f"bad deadline rule {rule!r}: use {RULE_FORMS}, with a number of at least 1")
    if int(m[1]) > RULE_LIMITS[m[2]]:  # beyond any procedure's period, and dates would overflow
        raise ValueError(f"deadline rule {rule!r} is out of range: at most {RULE_LIMITS[m[2]]}{m[2]}")
    return int(m[1]), m[2]


def year_view(cal: WorkCalendar, year: int) -> list[DayView]:
    """Every day of `year` with whether it is worked and its holiday name, for the admin's year grid."""
    d, out = date(year, 1, 1), []
    while d.year == year:
        out.append(DayView(d, cal.is_working_day(d), cal.name_of(d)))
        d += ONE_DAY
    return out


# --- loading and caching ----------------------------------------------------------------------------

def load_calendar(session: Session) -> WorkCalendar:
    rows = session.execute(select(CalendarDay.day, CalendarDay.is_working, CalendarDay.name)).all()
    years = session.scalars(select(CalendarYear.year)).all()
    return WorkCalendar({r.day: r.is_working for r in rows}, years, {r.day: r.name for r in rows})


RECHECK_SECONDS = 5.0  # how stale another process's edits may be seen; edits in this process are immediate


@dataclass
class _Cached:
    calendar: WorkCalendar
    marker: tuple
    checked: float


# One cached calendar per database engine (tests and tools may open several databases in one process).
_cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _marker(session: Session) -> tuple:
    """Cheap change marker: changes on any insert, update or delete of either table."""
    days = session.execute(select(func.count(), func.max(CalendarDay.updated_at)).select_from(CalendarDay)).one()
    years = session.execute(select(func.count(), func.max(CalendarYear.loaded_at)).select_from(CalendarYear)).one()
    return tuple(days) + tuple(years)


def current_calendar(session: Session) -> WorkCalendar:
    """The process-wide calendar, reloaded when the stored data changed (checked every few seconds)."""
    bind, now = session.get_bind(), time.monotonic()
    entry = _cache.get(bind)
    if entry is not None and now - entry.checked < RECHECK_SECONDS:
        return entry.calendar
    marker = _marker(session)
    if entry is None or entry.marker != marker:
        entry = _Cached(load_calendar(session), marker, now)
        _cache[bind] = entry
    entry.checked = now
    return entry.calendar


def package_calendar() -> WorkCalendar:
    """The official calendar from `chinesecalendar` alone, for when no database holds one."""
    exceptions, names = {}, {}
    for year in chinesecalendar_years():
        for day, (is_working, name) in _package_exceptions(year).items():
            exceptions[day], names[day] = is_working, name
    return WorkCalendar(exceptions, chinesecalendar_years(), names)


def calendar_for_cli(db) -> tuple[WorkCalendar, str | None]:
    """The database's calendar, or chinesecalendar's with a note when the database is not initialised
    (or not reachable): `banli deadline` answers either way."""
    from sqlalchemy.exc import SQLAlchemyError

    try:
        with db.reading() as s:
            if s.scalar(select(func.count()).select_from(CalendarYear)):
                return current_calendar(s), None
        reason = "the database has no calendar yet (run `banli init`)"
    except SQLAlchemyError as exc:
        reason = f"the database is not initialised or not reachable ({type(exc).__name__}; run `banli init`)"
    return package_calendar(), f"{reason}: computed on chinesecalendar's holidays alone"


def invalidate() -> None:
    """Forget every cached calendar; the next current_calendar() reloads."""
    _cache.clear()


def _changed(session: Session) -> None:
    # Drop the cache now (this transaction sees its own edit) and again when the transaction ends,
    # so a calendar loaded from uncommitted rows never outlives a rollback.
    invalidate()
    if not session.info.get("calendar_hooks"):
        session.info["calendar_hooks"] = True
        event.listen(session, "after_commit", lambda _s: invalidate())
        event.listen(session, "after_rollback", lambda _s: invalidate())


# --- seeding and admin edits ------------------------------------------------------------------------

# The State Council's names (the package's Chinese names are abbreviated: 清明, 端午, 中秋).
_HOLIDAY_NAMES = {
    "New Year's Day": "元旦", "Spring Festival": "春节", "Tomb-sweeping Day": "清明节", "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节", "Mid-autumn Festival": "中秋节", "National Day": "国庆节",
}


def _package_exceptions(year: int) -> dict[date, tuple[bool, str]]:
    """The exceptions to the weekend rule that chinesecalendar knows for `year`."""
    def zh(english: str) -> str:
        return _HOLIDAY_NAMES.get(english) or Holiday(english).chinese

    out = {d: (False, zh(n)) for d, n in cc.holidays.items() if d.year == year and d.weekday() < 5}
    out.update({d: (True, zh(n) + "调休") for d, n in cc.workdays.items() if d.year == year and d.weekday() >= 5})
    return out


def chinesecalendar_years() -> range:
    return range(min(cc.holidays).year, max(cc.holidays).year + 1)


def seed_from_chinesecalendar(session: Session, years: Iterable[int] | None = None) -> int:
    """Write chinesecalendar's exceptions and mark those years loaded. Idempotent. Admin data wins: rows an
    admin set are never touched, and a year an admin imported or marked loaded is skipped whole (filling
    it in would undo the admin's removals). Package rows the package no longer lists are removed.
    Returns the rows changed."""
    known = chinesecalendar_years()
    years = list(known if years is None else years)
    if bad := [y for y in years if y not in known]:
        raise ValueError(f"chinesecalendar has no data for {bad}: it knows {known.start}-{known.stop - 1}")
    changed = 0
    for year in years:
        loaded = session.get(CalendarYear, year)
        if loaded is not None and loaded.source == "admin":
            continue
        wanted = _package_exceptions(year)
        stored = {r.day: r for r in session.scalars(select(CalendarDay).where(
            CalendarDay.day >= date(year, 1, 1), CalendarDay.day <= date(year, 12, 31)))}
        for day, (is_working, name) in wanted.items():
            row = stored.get(day)
            if row is None:
                session.add(CalendarDay(day=day, is_working=is_working, name=name, source="chinesecalendar"))
                changed += 1
            elif row.source != "admin" and (row.is_working, row.name) != (is_working, name):
                row.is_working, row.name = is_working, name
                changed += 1
        for day, row in stored.items():
            if row.source == "chinesecalendar" and day not in wanted:
                session.delete(row)
                changed += 1
        if loaded is None:
            session.add(CalendarYear(year=year, source="chinesecalendar"))
            changed += 1
    if changed:
        session.flush()
        _changed(session)
    return changed


def set_day(session: Session, day: date, is_working: bool, name: str | None = None) -> CalendarDay:
    """Admin override of one day. The row is kept even when it agrees with the weekend rule: it records
    the admin's decision, so a later re-seed cannot bring the package's value back."""
    row = session.get(CalendarDay, _local_date(day))
    if row is None:
        row = CalendarDay(day=day)
        session.add(row)
    row.is_working, row.name, row.source, row.updated_at = is_working, name or None, "admin", utcnow()
    session.flush()
    _changed(session)
    return row


def delete_day(session: Session, day: date) -> bool:
    """Drop a stored exception: the day follows the weekend rule again. Returns whether a row existed."""
    gone = session.execute(delete(CalendarDay).where(CalendarDay.day == day)).rowcount > 0
    _changed(session)
    return gone


def mark_year_loaded(session: Session, year: int, source: str = "admin") -> None:
    """Declare `year`'s official arrangement present, so deadlines in it stop warning. The admin then
    owns the year: seed_from_chinesecalendar leaves it alone."""
    row = session.get(CalendarYear, year)
    if row is None:
        session.add(CalendarYear(year=year, source=source))
    else:
        row.source, row.loaded_at = source, utcnow()
    session.flush()
    _changed(session)


MAX_IMPORT_CHARS = 200_000


def _csv_lines(reader):
    """The reader's rows; a line the csv module cannot read (a field over its size limit, a NUL) is a
    ValueError naming the line, like every other bad line."""
    while True:
        try:
            yield next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise ValueError(f"line {reader.line_num}: {exc}") from None


def import_year_csv(session: Session, year: int, text: str) -> int:
    """Load a year's arrangement from lines `2027-01-01,holiday,元旦` / `2027-02-07,workday,春节调休`,
    replacing that year's stored days, and mark the year loaded. The whole official list may be pasted:
    lines that agree with the weekend rule (a holiday on a Sunday) are accepted and not stored. Any bad
    line rejects the whole file, naming its line number. Returns the exceptions stored."""
    days: dict[date, tuple[bool, str | None]] = {}
    if len(text) > MAX_IMPORT_CHARS:  # a year is some 40 lines; more is the wrong file
        raise ValueError(N_("内容过长（%(n)s 个字符，至多 %(limit)s 个）", n=len(text), limit=MAX_IMPORT_CHARS))
    # Excel's "CSV UTF-8" starts with a byte-order mark, which would spoil the first date.
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    for lineno, fields in enumerate(_csv_lines(reader), start=1):
        fields = [f.strip() for f in fields]
        if not any(fields) or fields[0].startswith("#"):
            continue
        line = ",".join(fields)
        if len(fields) not in (2, 3):
            raise ValueError(N_("第 %(n)s 行（%(line)s）：应为 日期,holiday|workday[,名称]", n=lineno, line=line))
        try:
            day = date.fromisoformat(fields[0]) if _ISO_DATE.fullmatch(fields[0]) else None
        except ValueError:
            day = None
        if day is None:
            raise ValueError(N_("第 %(n)s 行（%(line)s）：%(value)s 不是 YYYY-MM-DD 格式的日期", n=lineno, line=line,
                                value=fields[0]))
        if day.year != year:
            raise ValueError(N_("第 %(n)s 行（%(line)s）：%(day)s 不在 %(year)s 年", n=lineno, line=line,
                                day=day.isoformat(), year=year))
        if fields[1].lower() not in ("holiday", "workday"):
            raise ValueError(N_("第 %(n)s 行（%(line)s）：类型须为 holiday 或 workday，而不是 %(kind)s", n=lineno,
                                line=line, kind=fields[1]))
        if day in days:
            raise ValueError(N_("第 %(n)s 行（%(line)s）：%(day)s 重复出现", n=lineno, line=line, day=day.isoformat()))
        days[day] = (fields[1].lower() == "workday", (fields[2] if len(fields) == 3 else "") or None)
    if not days:  # an empty paste would otherwise wipe the year and declare it holiday-free
        raise ValueError(N_("没有给出 %(year)s 年的任何日期：应为 %(year)s-01-01,holiday,元旦 这样的行", year=year))
    session.execute(delete(CalendarDay).where(CalendarDay.day >= date(year, 1, 1),
                                              CalendarDay.day <= date(year, 12, 31)))
    stored = 0
    for day, (is_working, name) in sorted(days.items()):
        if is_working != (day.weekday() < 5):  # only exceptions to the weekend rule are stored
            session.add(CalendarDay(day=day, is_working=is_working, name=name, source="admin"))
            stored += 1
    mark_year_loaded(session, year)
    return stored
