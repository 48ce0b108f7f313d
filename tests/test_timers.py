"""Deadlines that hold: BPMN timers on the working-day calendar, fired by the sweep with a controlled clock."""
from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
import time_machine
from sqlalchemy import func, select
from click.testing import CliRunner

from engine import clock
from engine.deadlines.calendar import import_year_csv
from engine.items.extensions import decide_extension, request_extension
from engine.workflow.forms import FormInvalid
from engine.models import AuditEvent, Deadline, Item, Notification, ProcessInstance, Rating, TaskRow, Timer
from engine.items.registration import register_item
from engine.deadlines.rules import set_rule
from engine.workflow.runtime import complete_task
from engine.workflow.sweep import sweep
from tests.conftest import task_for, user, shown_title

SH = clock.LOCAL_TZ


def at(day: str, hour: int = 10) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=SH)


def do(db, item_id, username, spec, **form):
    """Complete the item's ready `spec` task that `username` acts on (its own unit's, for a co-unit's part)."""
    with db.transaction() as s:
        actor = user(s, username)
        rows = s.scalars(select(TaskRow).where(TaskRow.item_id == item_id, TaskRow.spec_name == spec)
                         .order_by(TaskRow.id)).all()
        row = next((r for r in rows if r.unit_id in (None, actor.unit_id)), None) or task_for(s, item_id, spec)
        assert row is not None, spec
        complete_task(s, row.id, actor, {k: ("true" if v is True else v) for k, v in form.items()})


def register(db, **extra):
    with db.transaction() as s:
        return register_item(s, {"item_type": "proposal", "title": "关于增加公园绿地的提案", "content": "增加绿地。",
                                 "proposer": "member_sun", "year": "2026", **extra}, user(s, "office")).id


def assign(db, item_id, **extra):
    do(db, item_id, "office", "assign_item", assign_decision="assign", lead_unit="jtj", **extra)


def deadlines(db, item_id):
    with db.reading() as s:
        return {(d.key, d.round): d for d in s.scalars(select(Deadline).where(Deadline.item_id == item_id))}


def notes(db, item_id, kind=None):
    with db.reading() as s:
        q = select(Notification).where(Notification.item_id == item_id)
        if kind:
            q = q.where(Notification.kind == kind)
        return s.scalars(q).all()


def to_reply(db, item_id):
    do(db, item_id, "jtj_staff", "sign_for", sign_decision="sign")
    do(db, item_id, "jtj_head", "pledge", responsible_leader="副局长", contact_person="李", contact_phone="13800000003",
       plan="方案", target_date=clock.today().isoformat())
    do(db, item_id, "jtj_staff", "consult", consult_date=clock.today().isoformat(), consult_form="phone", participants="孙委员",
       proposer_views="同意")


def reply(db, item_id):
    do(db, item_id, "jtj_staff", "draft_reply", reply_class="A", reply_text="已解决。", disclosure="full")
    do(db, item_id, "jtj_head", "signoff_reply", signoff_decision="approve")
    do(db, item_id, "office", "review_reply", review_decision="approve")


def test_deadlines_open_at_assignment_on_the_holiday_calendar(demo_db):
    with time_machine.travel(at("2026-09-28"), tick=False):
        item_id = register(demo_db)
        assign(demo_db, item_id)
    d = deadlines(demo_db, item_id)
    # 2026-09-28 + 5 working days crosses National Day and ends on a make-up Saturday.
    assert d[("return_window", 1)].due_date == date(2026, 10, 10)
    with demo_db.reading() as s:
        sign = task_for(s, item_id, "sign_for")
        assert clock.local(sign.due_at).date() == date(2026, 10, 10)
        timers = {t.spec_name: t for t in s.scalars(select(Timer).where(Timer.item_id == item_id))}
    # and the reply deadline's forecast, which brings the sweep back if its date passes before the pledge
    assert {(name, t.kind) for name, t in timers.items()} == {("sign_remind", "reminder"), ("sign_overdue", "overdue"),
                                                             ("reply_overdue", "forecast")}
    # The 3-day reminder: 2026-10-07, 09:00 Shanghai.
    assert timers["sign_remind"].due_at == datetime(2026, 10, 7, 1, 0, tzinfo=timezone.utc)


def test_overdue_fires_exactly_once_and_never_cancels_the_step(demo_db):
    with time_machine.travel(at("2026-09-28"), tick=False):
        item_id = register(demo_db)
        assign(demo_db, item_id)
    with time_machine.travel(at("2026-10-08"), tick=False):
        report = sweep(demo_db)
        assert report.fired == 1 and report.loaded == [_instance(demo_db, item_id)]
        assert [n.kind for n in notes(demo_db, item_id, "reminder")] == ["reminder"]  # to the unit's handler
    for _ in range(3):
        with time_machine.travel(at("2026-10-12"), tick=False):
            sweep(demo_db)
    overdue = notes(demo_db, item_id, "overdue")
    with demo_db.reading() as s:
        office = user(s, "office").id
    assert sorted({n.user_id for n in overdue}) == sorted({office, _uid(demo_db, "jtj_staff")})
    assert len(overdue) == 2  # once per person, across three sweeps
    d = deadlines(demo_db, item_id)[("return_window", 1)]
    assert d.status == "overdue"
    with demo_db.reading() as s:
        assert task_for(s, item_id, "sign_for") is not None  # the step stays open
        fired = s.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.item_id == item_id, AuditEvent.action == "timer_overdue"))
    assert fired == 1
    with time_machine.travel(at("2026-10-13"), tick=False):
        do(demo_db, item_id, "jtj_staff", "sign_for", sign_decision="sign")
    assert deadlines(demo_db, item_id)[("return_window", 1)].status == "met_late"


def test_reply_deadline_three_months_six_for_complex_and_fixed_batch_date(demo_db):
    with time_machine.travel(at("2026-01-31"), tick=False):
        simple, complex_, fixed = register(demo_db), register(demo_db), register(demo_db)
        for item_id in (simple, complex_):
            assign(demo_db, item_id, is_complex=(item_id == complex_), co_units=["jyj"])
            do(demo_db, item_id, "jyj_staff", "co_sign_for", co_sign_decision="sign")  # its opinion is then due
            to_reply(demo_db, item_id)
        with demo_db.transaction() as s:
            set_rule(s, 2026, "reply_fixed_date", "2026-06-30")
        # Items start with the rules in force when they are registered: a new one takes the batch date.
        fixed = register(demo_db)
        assign(demo_db, fixed)
        to_reply(demo_db, fixed)
    assert deadlines(demo_db, simple)[("reply", 1)].due_date == date(2026, 4, 30)
    assert deadlines(demo_db, complex_)[("reply", 1)].due_date == date(2026, 7, 31)
    assert deadlines(demo_db, fixed)[("reply", 1)].due_date == date(2026, 6, 30)
    # Civil-code months: 2026-01-31 + 1M is 2026-02-28, a make-up working day, so it stays.
    assert deadlines(demo_db, simple)[("co_opinion", 1)].due_date == date(2026, 2, 28)


def test_missed_reminders_coalesce_after_downtime(demo_db):
    with time_machine.travel(at("2026-01-05"), tick=False):
        item_id = register(demo_db)
        assign(demo_db, item_id)
        to_reply(demo_db, item_id)
    # The scheduler was down for five months: both reply reminders and the deadline passed meanwhile.
    with time_machine.travel(at("2026-06-01"), tick=False):
        sweep(demo_db)
        sweep(demo_db)
    reply_notes = [n for n in notes(demo_db, item_id) if n.kind in ("reminder", "overdue") and "答复" in shown_title(n)]
    assert {n.kind for n in reply_notes} == {"overdue"}  # one per person, no stale reminders
    assert deadlines(demo_db, item_id)[("reply", 1)].status == "overdue"


def test_extension_moves_the_deadline_and_its_timers(demo_db):
    with time_machine.travel(at("2026-03-02"), tick=False):
        item_id = register(demo_db)
        assign(demo_db, item_id)
        to_reply(demo_db, item_id)
        old = deadlines(demo_db, item_id)[("reply", 1)].due_date
        assert old == date(2026, 6, 2)
        with demo_db.transaction() as s:
            item = s.get(Item, item_id)
            with pytest.raises(FormInvalid) as exc:
                request_extension(s, item, user(s, "jtj_staff"), "2026-12-31", "需要更多时间")
            assert exc.value.errors[0].code == "not_after"  # six months in all
            req = request_extension(s, item, user(s, "jtj_staff"), "2026-08-31", "需协调多个部门。")
            req_id = req.id
        with demo_db.transaction() as s:
            decide_extension(s, req_id, user(s, "office"), True, "同意。")
    d = deadlines(demo_db, item_id)[("reply", 1)]
    assert (d.due_date, d.original_due_date, d.extended) == (date(2026, 8, 31), date(2026, 6, 2), True)
    with demo_db.reading() as s:
        overdue = s.scalars(select(Timer).where(Timer.item_id == item_id, Timer.spec_name == "reply_overdue")).one()
        assert clock.local(overdue.due_at).date() == date(2026, 8, 31)
    # Nothing fires at the old date; the overdue fires after the new one.
    with time_machine.travel(at("2026-06-10"), tick=False):
        sweep(demo_db)
    assert deadlines(demo_db, item_id)[("reply", 1)].status == "open"
    with time_machine.travel(at("2026-09-01"), tick=False):
        sweep(demo_db)
    assert deadlines(demo_db, item_id)[("reply", 1)].status == "overdue"


def test_an_extension_asked_in_time_cannot_be_approved_once_the_date_has_passed(demo_db):
    """The office decides after the date: the reply timer has fired and the deadline is flagged. An approval
    would move the date with nothing left to watch it, the step late against a date ahead, and the statistics
    counting the reply on time: it is refused by name; the request can still be refused, nothing moved."""
    with time_machine.travel(at("2026-03-02"), tick=False):
        item_id = register(demo_db)
        assign(demo_db, item_id)
        to_reply(demo_db, item_id)
    with time_machine.travel(at("2026-05-28"), tick=False), demo_db.transaction() as s:
        req_id = request_extension(s, s.get(Item, item_id), user(s, "jtj_staff"), "2026-08-31", "需协调。").id
    with time_machine.travel(at("2026-06-02"), tick=False):  # the last day: still approvable
        assert deadlines(demo_db, item_id)[("reply", 1)].status == "open"
    with time_machine.travel(at("2026-06-05"), tick=False):
        sweep(demo_db)
        with demo_db.transaction() as s, pytest.raises(FormInvalid) as exc:
            decide_extension(s, req_id, user(s, "office"), True, "同意。")
        assert exc.value.errors[0].code == "lapsed" and "2026-06-02" in exc.value.errors[0].message()
        d = deadlines(demo_db, item_id)[("reply", 1)]
        assert (d.due_date, d.extended, d.status) == (date(2026, 6, 2), False, "overdue")
        with demo_db.transaction() as s:
            assert decide_extension(s, req_id, user(s, "office"), False, "已逾期。").status == "refused"


def test_a_co_units_open_part_does_not_pull_an_extended_deadline_back(demo_db):
    """The co-unit's part began before the reply date was set; once the extended reply timer has fired, a
    later command must not forecast the date again from that part's data (the original date, wrongly)."""
    with time_machine.travel(at("2026-03-02"), tick=False):
        item_id = register(demo_db)
        assign(demo_db, item_id, co_units=["jyj"])  # the education bureau stays silent
        do(demo_db, item_id, "jtj_staff", "sign_for", sign_decision="sign")
        do(demo_db, item_id, "jtj_head", "pledge", responsible_leader="副局长", contact_person="李",
           contact_phone="13800000003", plan="方案", target_date=clock.today().isoformat())
        do(demo_db, item_id, "jtj_staff", "consult", consult_date="2026-03-02", consult_form="phone",
           participants="孙委员", proposer_views="同意", more_consultation=True)
        with demo_db.transaction() as s:
            req_id = request_extension(s, s.get(Item, item_id), user(s, "jtj_staff"), "2026-08-31", "需协调。").id
        with demo_db.transaction() as s:
            decide_extension(s, req_id, user(s, "office"), True, "同意。")
    with time_machine.travel(at("2026-09-02"), tick=False):
        sweep(demo_db)
        do(demo_db, item_id, "jtj_staff", "consult", consult_date="2026-09-02", consult_form="visit",
           participants="孙委员", proposer_views="同意", more_consultation=False)
    d = deadlines(demo_db, item_id)[("reply", 1)]
    assert (d.due_date, d.original_due_date, d.status) == (date(2026, 8, 31), date(2026, 6, 2), "overdue")
    with demo_db.reading() as s:
        assert not s.scalars(select(AuditEvent).where(AuditEvent.item_id == item_id,
                                                      AuditEvent.action == "deadline_recomputed")).all()


def test_an_extension_must_be_asked_before_the_deadline(demo_db):
    with time_machine.travel(at("2026-03-02"), tick=False):
        item_id = register(demo_db)
        assign(demo_db, item_id)
        to_reply(demo_db, item_id)
    with time_machine.travel(at("2026-06-05"), tick=False):
        sweep(demo_db)
        with demo_db.transaction() as s:
            with pytest.raises(FormInvalid) as exc:
                request_extension(s, s.get(Item, item_id), user(s, "jtj_staff"), "2026-08-31", "来不及。")
    assert exc.value.errors[0].code == "too_late" and "2026-06-02" in exc.value.errors[0].message()


def test_unrated_reply_counts_as_no_opinion_and_the_item_moves_on(demo_db):
    with time_machine.travel(at("2026-03-02"), tick=False):
        item_id = register(demo_db)
        assign(demo_db, item_id)
        to_reply(demo_db, item_id)
        reply(demo_db, item_id)
    with time_machine.travel(at("2026-04-30"), tick=False):
        sweep(demo_db)
    with demo_db.reading() as s:
        rating = s.scalars(select(Rating).where(Rating.item_id == item_id)).one()
        assert (rating.attitude, rating.result) == ("no_opinion", "no_opinion")
        assert task_for(s, item_id, "publish") is not None and task_for(s, item_id, "rate") is None
    assert deadlines(demo_db, item_id)[("rating", 1)].status == "expired"


def test_sweep_loads_only_instances_with_something_due(demo_db):
    with time_machine.travel(at("2026-03-02"), tick=False):
        early = register(demo_db)
        assign(demo_db, early)
    with time_machine.travel(at("2026-03-20"), tick=False):
        late = [register(demo_db) for _ in range(3)]
        for item_id in late:
            assign(demo_db, item_id)
    with time_machine.travel(at("2026-03-10"), tick=False):
        report = sweep(demo_db)
    assert report.loaded == [_instance(demo_db, early)]
    with time_machine.travel(at("2026-03-11"), tick=False):
        assert sweep(demo_db).loaded == []  # nothing due any more: nothing is loaded


def test_a_deadline_into_2027_warns_until_the_year_is_loaded(demo_db):
    with time_machine.travel(at("2026-12-01"), tick=False):
        item_id = register(demo_db)
        assign(demo_db, item_id)
        to_reply(demo_db, item_id)
    assert "2027" in deadlines(demo_db, item_id)[("reply", 1)].warning
    with demo_db.transaction() as s:
        import_year_csv(s, 2027, "2027-01-01,holiday,元旦\n2027-02-06,holiday,春节\n")
    with time_machine.travel(at("2026-12-01"), tick=False):
        second = register(demo_db)
        assign(demo_db, second)
    assert deadlines(demo_db, second)[("return_window", 1)].warning is None


def test_cli_deadline(demo_db, monkeypatch):
    from engine.cli import main

    monkeypatch.setenv("DATABASE_URL", demo_db.url)
    result = CliRunner().invoke(main, ["deadline", "2026-09-30", "1WD"])
    assert result.exit_code == 0 and result.output.strip() == "2026-10-08"
    result = CliRunner().invoke(main, ["deadline", "2026-09-28", "5WD"])
    assert result.output.strip() == "2026-10-10"
    result = CliRunner().invoke(main, ["deadline", "2026-09-30", "5X"])
    assert result.exit_code != 0 and "5X" in result.output


def _instance(db, item_id):
    with db.reading() as s:
        return s.scalar(select(ProcessInstance.id).where(ProcessInstance.item_id == item_id))


def _uid(db, username):
    with db.reading() as s:
        return user(s, username).id


def test_an_extension_cannot_be_approved_once_the_reply_is_in(demo_db):
    """The unit replied while its request waited: there is no deadline left to move, and an approval would
    tell the proposers of a new date that nothing keeps."""
    with time_machine.travel(at("2026-03-02"), tick=False):
        item_id = register(demo_db)
        assign(demo_db, item_id)
        to_reply(demo_db, item_id)
        with demo_db.transaction() as s:
            req_id = request_extension(s, s.get(Item, item_id), user(s, "jtj_staff"), "2026-08-31", "需协调。").id
        reply(demo_db, item_id)
        assert deadlines(demo_db, item_id)[("reply", 1)].status == "met"
        with demo_db.transaction() as s, pytest.raises(FormInvalid) as exc:
            decide_extension(s, req_id, user(s, "office"), True, "同意。")
        assert exc.value.errors[0].code == "no_deadline"
        with demo_db.transaction() as s:
            assert decide_extension(s, req_id, user(s, "office"), False, "已答复。").status == "refused"
    d = deadlines(demo_db, item_id)[("reply", 1)]
    assert (d.due_date, d.extended, d.status) == (date(2026, 6, 2), False, "met")
