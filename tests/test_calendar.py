"""The working-day calendar: official 2026 holidays, civil-code months, missing years, admin edits."""
from datetime import date, datetime, timezone

import chinese_calendar
import pytest
from sqlalchemy import func, insert, select

from engine.deadlines import calendar as workcal
from engine.i18n import render, translator
from engine.deadlines.calendar import (Deadline, WorkCalendar, current_calendar, delete_day, import_year_csv, load_calendar,
                             mark_year_loaded, parse_rule, seed_from_chinesecalendar, set_day, year_view)
from engine.db import Database
from engine.models import CalendarDay, CalendarYear

D = date.fromisoformat
NO_2027 = "2027年节假日数据未载入，按周末计算"  # a catalog message: the page shows it in English too


@pytest.fixture
def db(tmp_path):
    db = Database(f"sqlite:///{tmp_path}/t.db")
    db.create_all()
    with db.transaction() as s:
        seed_from_chinesecalendar(s)
    return db


@pytest.fixture
def cal(db):
    with db.reading() as s:
        return load_calendar(s)


def due(cal, start, rule):
    return cal.deadline(D(start), rule).due


# --- DOMAIN.md's examples and the 2026 holidays ----------------------------------------------------

def test_domain_examples(cal):
    assert due(cal, "2026-09-30", "1WD") == D("2026-10-08")
    assert due(cal, "2026-09-28", "5WD") == D("2026-10-10")  # a Saturday made a working day
    assert cal.is_working_day(D("2026-10-10"))
    assert due(cal, "2026-01-31", "1M") == D("2026-02-28")  # make-up Saturday: stays
    assert cal.deadline(D("2026-01-31"), "1M") == Deadline(D("2026-02-28"), "1M", ())


def test_national_day_2026(cal):
    assert [cal.is_working_day(D(f"2026-10-{d:02}")) for d in range(1, 11)] == [False] * 7 + [True] * 3
    assert cal.is_working_day(D("2026-09-20"))  # Sunday worked before the holiday
    assert due(cal, "2026-09-11", "20D") == D("2026-10-08")  # 20 days end on 1 October
    assert cal.add_working_days(D("2026-10-08"), -1) == D("2026-09-30")  # counting back, for reminders


def test_spring_festival_2026(cal):
    # 14 Feb (Saturday) is worked; 15-23 Feb are the holiday; 28 Feb (Saturday) is worked again.
    assert due(cal, "2026-02-12", "3WD") == D("2026-02-24")
    assert due(cal, "2026-02-24", "4WD") == D("2026-02-28")
    assert due(cal, "2026-01-27", "20D") == D("2026-02-24")  # ends on 16 Feb, a holiday


def test_natural_days_ending_on_a_weekend_move_to_monday(cal):
    assert due(cal, "2026-03-02", "20D") == D("2026-03-23")  # 22 March is a Sunday
    assert due(cal, "2026-03-02", "19D") == D("2026-03-23")
    assert due(cal, "2026-03-02", "17D") == D("2026-03-19")


def test_month_ends(cal):
    assert due(cal, "2025-08-31", "6M") == D("2026-02-28")  # no 31 Feb; 28 Feb 2026 is a make-up Saturday
    assert due(cal, "2023-08-31", "6M") == D("2024-02-29")  # leap year
    assert due(cal, "2024-02-29", "12M") == D("2025-02-28")
    assert due(cal, "2024-01-31", "1M") == D("2024-02-29")
    assert due(cal, "2026-03-15", "3M") == D("2026-06-15")
    assert due(cal, "2025-12-31", "1M") == D("2026-02-02")  # 31 Jan 2026 is a Saturday


def test_month_end_on_a_holiday_moves_forward(cal):
    # 2018-01-31 + 3 months: no 31 April, so 30 April, which was Labour Day like 1 May.
    assert due(cal, "2018-01-31", "3M") == D("2018-05-02")
    assert due(cal, "2026-07-01", "3M") == D("2026-10-08")


def test_fixed_date_is_kept_as_is(cal):
    assert cal.deadline(D("2026-03-10"), "2026-06-30") == Deadline(D("2026-06-30"), "2026-06-30", ())
    assert due(cal, "2026-09-01", "2026-10-01") == D("2026-10-01")  # the office's choice, even on a holiday


def test_weekends_only_calendar_is_pure():
    cal = WorkCalendar({}, [])
    assert cal.add_working_days(D("2026-09-30"), 1) == D("2026-10-01")
    assert cal.deadline(D("2026-09-30"), "1WD").warnings == (NO_2027.replace("2027", "2026"),)
    with pytest.raises(TypeError, match="local date"):
        cal.add_days(datetime(2026, 1, 1, tzinfo=timezone.utc), 1)


# --- years without holiday data ----------------------------------------------------------------------

def test_deadline_into_2027_warns_until_the_year_is_imported(db):
    with db.transaction() as s:
        before = current_calendar(s).deadline(D("2026-12-15"), "20WD")
    assert before.due == D("2027-01-12")  # 1 January 2027 counted as a working day
    assert before.warnings == (NO_2027,)
    with db.transaction() as s:
        stored = import_year_csv(s, 2027, "2027-01-01,holiday,元旦\n2027-01-02,holiday,元旦\n\n"
                                          "2027-02-20,workday,春节调休\n")
    assert stored == 2  # 2 January is a Saturday anyway: accepted, not stored
    with db.transaction() as s:
        after = current_calendar(s).deadline(D("2026-12-15"), "20WD")
        assert s.get(CalendarYear, 2027).source == "admin"
    assert after == Deadline(D("2027-01-13"), "20WD", ())


def test_import_replaces_a_years_stored_days(db):
    with db.transaction() as s:
        assert s.get(CalendarDay, D("2026-10-01")).source == "chinesecalendar"  # loaded into the session
        assert import_year_csv(s, 2026, "2026-10-01,holiday,国庆节\n2026-10-09,holiday,区假\n") == 2
        assert import_year_csv(s, 2026, "2026-10-01,holiday,国庆节\n2026-10-09,holiday,区假\n") == 2
    with db.transaction() as s:
        assert seed_from_chinesecalendar(s) == 0  # the admin's 2026 now wins over the package
        cal = current_calendar(s)
    assert cal.is_working_day(D("2026-10-02")) and not cal.is_working_day(D("2026-10-09"))


def test_warning_only_for_years_the_result_depends_on(cal):
    assert cal.deadline(D("2026-08-31"), "6M") == Deadline(D("2027-03-01"), "6M", (NO_2027,))  # 28 Feb: Sunday
    assert cal.deadline(D("2026-12-20"), "10D").warnings == ()  # 30 Dec 2026: nothing from 2027 used
    assert cal.deadline(D("2026-12-20"), "10WD").warnings == (NO_2027,)


# --- seeding and admin edits --------------------------------------------------------------------------

def count(s, model):
    return s.scalar(select(func.count()).select_from(model))


def test_seed_is_idempotent_and_keeps_admin_rows(db):
    with db.transaction() as s:
        assert count(s, CalendarYear) == 23  # 2004-2026
        assert s.get(CalendarDay, D("2026-10-01")).name == "国庆节"
        assert s.get(CalendarDay, D("2026-10-10")).name == "国庆节调休"
        assert s.get(CalendarDay, D("2026-04-06")).name == "清明节"
        assert s.get(CalendarDay, D("2026-10-03")) is None  # a holiday on a Saturday is no exception
        rows = count(s, CalendarDay)
        set_day(s, D("2026-10-08"), False, "区里另行安排")
        set_day(s, D("2026-10-01"), True, None)
    with db.transaction() as s:
        assert seed_from_chinesecalendar(s) == 0
        assert count(s, CalendarDay) == rows + 1
        assert s.get(CalendarDay, D("2026-10-01")).source == "admin"
        cal = current_calendar(s)
    assert cal.is_working_day(D("2026-10-01")) and not cal.is_working_day(D("2026-10-08"))
    assert cal.add_working_days(D("2026-09-30"), 1) == D("2026-10-01")


def test_seed_repairs_package_rows(db):
    with db.transaction() as s:
        s.execute(insert(CalendarDay).values(day=D("2026-03-03"), is_working=False, name="x",
                                             source="chinesecalendar"))
        s.get(CalendarDay, D("2026-10-01")).is_working = True
    with db.transaction() as s:
        assert seed_from_chinesecalendar(s, [2026]) == 2
        assert s.get(CalendarDay, D("2026-03-03")) is None
        assert s.get(CalendarDay, D("2026-10-01")).is_working is False
    with db.transaction() as s, pytest.raises(ValueError, match="2004-2026"):
        seed_from_chinesecalendar(s, [2027])


def test_delete_day_and_mark_year(db):
    with db.transaction() as s:
        assert delete_day(s, D("2026-10-10")) is True
        assert delete_day(s, D("2026-10-10")) is False
        mark_year_loaded(s, 2028)
    with db.transaction() as s:
        cal = current_calendar(s)
    assert not cal.is_working_day(D("2026-10-10")) and cal.covers(2028)


def test_year_view(cal):
    days = year_view(cal, 2026)
    assert len(days) == 365 and days[0] == (D("2026-01-01"), False, "元旦")
    by_day = {d.day: d for d in days}
    assert by_day[D("2026-10-10")] == (D("2026-10-10"), True, "国庆节调休")
    assert by_day[D("2026-10-03")] == (D("2026-10-03"), False, None)
    assert sum(d.is_working for d in days) == 248


def test_seeded_calendar_agrees_with_chinesecalendar_every_day(cal):
    days = [d.day for year in range(2004, 2027) for d in year_view(cal, year)]
    assert [cal.is_working_day(d) for d in days] == [chinese_calendar.is_workday(d) for d in days]


def test_current_calendar_caches_and_sees_other_writers(db, monkeypatch):
    with db.transaction() as s:
        first = current_calendar(s)
        assert current_calendar(s) is first
    # A write from another process (plain SQL, no invalidate) is seen at the next marker check.
    monkeypatch.setattr(workcal, "RECHECK_SECONDS", 0)
    with db.transaction() as s:
        assert current_calendar(s) is first
        s.execute(insert(CalendarDay).values(day=D("2026-03-03"), is_working=False, name="x", source="admin",
                                             updated_at=datetime(2030, 1, 1, tzinfo=timezone.utc)))
    with db.transaction() as s:
        assert not current_calendar(s).is_working_day(D("2026-03-03"))


def test_rolled_back_edit_does_not_stay_cached(db):
    with pytest.raises(RuntimeError), db.transaction() as s:
        set_day(s, D("2026-03-03"), False, "x")
        assert not current_calendar(s).is_working_day(D("2026-03-03"))
        raise RuntimeError("abort")
    with db.transaction() as s:
        assert current_calendar(s).is_working_day(D("2026-03-03"))


# --- bad input ----------------------------------------------------------------------------------------

def test_parse_rule():
    assert parse_rule("5WD") == (5, "WD") and parse_rule(" 20d ") == (20, "D") and parse_rule("6M") == (6, "M")
    assert parse_rule("2026-06-30") == (D("2026-06-30"), "DATE")


@pytest.mark.parametrize("rule", ["", "5", "WD5", "0WD", "-3D", "5 weeks", "3Y", "2026/06/30", None, 5])
def test_bad_rules_name_the_rule_and_the_forms(cal, rule):
    with pytest.raises(ValueError, match=r"'5WD'.*'20D'.*'3M'.*YYYY-MM-DD") as err:
        cal.deadline(D("2026-03-02"), rule)
    assert repr(rule) in str(err.value)


def test_impossible_fixed_date():
    with pytest.raises(ValueError, match="'2026-02-30' is not a real date"):
        parse_rule("2026-02-30")


@pytest.mark.parametrize("line, message", [
    ("2027-13-01,holiday,x", "not a date"),
    ("27-1-1,holiday,x", "not a date"),
    ("2026-10-01,holiday,国庆节", "not in 2027"),
    ("2027-01-04,vacation,x", "'holiday' or 'workday'"),
    ("2027-01-04", "expected date,holiday|workday"),
    ("2027-01-04,holiday,a,b", "expected date,holiday|workday"),
    ("2027-01-01,holiday,元旦", "appears twice"),
])
def test_bad_csv_names_the_line_and_writes_nothing(db, line, message):
    """The message is a catalog string: Chinese as raised, English from the catalog, both naming the line."""
    with db.transaction() as s:
        with pytest.raises(ValueError) as err:
            import_year_csv(s, 2027, f"# 2027 arrangement\n2027-01-01,holiday,元旦\n{line}\n")
        assert str(err.value).startswith("第 3 行")
        english = render(err.value.args[0], translator("en"))
        assert english.startswith("line 3 ") and message in english, english
    with db.transaction() as s:
        assert s.get(CalendarYear, 2027) is None
        assert s.scalar(select(func.count()).select_from(CalendarDay).where(CalendarDay.day >= D("2027-01-01"))) == 0


def test_empty_csv_is_refused_and_bom_is_accepted(db):
    with db.transaction() as s:
        with pytest.raises(ValueError, match="没有给出 2027 年的任何日期") as err:
            import_year_csv(s, 2027, "# nothing yet\n\n")
        assert "no days given for 2027" in render(err.value.args[0], translator("en"))
        assert import_year_csv(s, 2027, "\ufeff2027-01-01,holiday,元旦\r\n") == 1
