"""The deadline ledger on the side paths of the procedure: each test is one thing a user saw go wrong."""
from __future__ import annotations

import re
from datetime import date

import time_machine
from sqlalchemy import func, select

from engine import clock
from engine.deadlines import board
from engine.deadlines.rules import RuleError, rules_for, set_rule
from engine.models import AuditEvent, Deadline, Item, Notification, TaskRow, Timer, Unit
from engine.workflow.forms import FormInvalid
from engine.workflow.deployment import PROCESSES_DIR, latest
from engine.workflow.recompute import change_rules, load_holidays
from engine.workflow.runtime import complete_task
from engine.workflow.sweep import sweep
from engine.workflow.versions import deploy_checked, item_diagram, migrate_version, step_load
from tests.conftest import csrf_token, login, user, shown_title
from tests.test_timers import assign, at, deadlines, do, notes, register, reply

HANDLING = (PROCESSES_DIR / "item_handling.bpmn").read_text(encoding="utf-8")


def sign_and_pledge(db, item_id):
    do(db, item_id, "jtj_staff", "sign_for", sign_decision="sign")
    do(db, item_id, "jtj_head", "pledge", responsible_leader="副局长", contact_person="李", contact_phone="13800000004",
       plan="方案", target_date=clock.today().isoformat())


def consult(db, item_id, more=False, day=None):
    do(db, item_id, "jtj_staff", "consult", consult_date=day or clock.today().isoformat(), consult_form="phone", participants="孙委员",
       proposer_views="同意", more_consultation=more)


def rows(db, item_id, key):
    with db.reading() as s:
        return s.scalars(select(Deadline).where(Deadline.item_id == item_id, Deadline.key == key)
                         .order_by(Deadline.id)).all()


def audit_count(db, item_id, action):
    with db.reading() as s:
        return s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.item_id == item_id,
                                                                            AuditEvent.action == action))


def test_first_consultation_meets_first_contact_even_when_another_is_needed(demo_db):
    with time_machine.travel(at("2026-03-02"), tick=False):
        item_id = register(demo_db)
        assign(demo_db, item_id)
        sign_and_pledge(demo_db, item_id)
        consult(demo_db, item_id, more=True)  # on time, and another consultation is needed
    [contact] = rows(demo_db, item_id, "first_contact")
    assert contact.status == "met" and contact.unit_id is not None
    with time_machine.travel(at("2026-04-10"), tick=False):  # well past 20 working days
        sweep(demo_db)
        sweep(demo_db)
    assert [r.status for r in rows(demo_db, item_id, "first_contact")] == ["met"]
    assert not [n for n in notes(demo_db, item_id) if "首次联系" in shown_title(n)]
    assert audit_count(demo_db, item_id, "timer_overdue") == 0 and audit_count(demo_db, item_id, "timer_reminder") == 0


def test_rehandling_round_opens_only_its_own_deadlines_and_reminds_once(demo_db):
    with time_machine.travel(at("2026-03-02"), tick=False):
        item_id = register(demo_db)
        assign(demo_db, item_id)
        sign_and_pledge(demo_db, item_id)
        consult(demo_db, item_id)
        reply(demo_db, item_id)
    with time_machine.travel(at("2026-03-05"), tick=False):
        do(demo_db, item_id, "member_sun", "rate", attitude="unsatisfied", result="unsatisfied", rating_reason="没解决")
        do(demo_db, item_id, "office", "order_rehandling", rehandle_decision="rehandle", rehandle_instructions="重办")
    assert not [n for n in notes(demo_db, item_id) if "None" in shown_title(n)]
    assert not [n for n in notes(demo_db, item_id, "overdue")]  # nothing is late: the first contact was met
    assert [r.round for r in rows(demo_db, item_id, "first_contact")] == [1]
    replies = rows(demo_db, item_id, "reply")
    assert [(r.round, r.status) for r in replies] == [(1, "met"), (2, "open")]
    assert replies[1].due_date == date(2026, 4, 7)  # 1 month from the order (04-05 is 清明, 04-06 its day off)
    # A second consultation in round 2, then the round-2 reply reminders fire once each.
    with time_machine.travel(at("2026-03-06"), tick=False):
        consult(demo_db, item_id, more=True, day="2026-03-06")
        consult(demo_db, item_id, day="2026-03-06")
    for day in ("2026-03-24", "2026-03-25", "2026-04-05", "2026-04-06"):
        with time_machine.travel(at(day), tick=False):
            sweep(demo_db)
    with demo_db.reading() as s:
        events = s.execute(select(AuditEvent.step, func.count()).where(
            AuditEvent.item_id == item_id, AuditEvent.action.like("timer_%")).group_by(AuditEvent.step)).all()
    assert dict(events) == {"reply_remind": 1, "reply_remind2": 1}
    reminders = [shown_title(n) for n in notes(demo_db, item_id, "reminder")]
    assert reminders and all("答复将于 2026-04-07 到期" in t for t in reminders)


def test_a_fixed_reply_date_already_past_is_recorded_and_overdue_everywhere(demo_db, client):
    with demo_db.transaction() as s:
        set_rule(s, 2026, "reply_fixed_date", "2026-03-06")
    with time_machine.travel(at("2026-03-02"), tick=False):
        item_id = register(demo_db)
        assign(demo_db, item_id)
    with time_machine.travel(at("2026-03-10"), tick=False):
        sign_and_pledge(demo_db, item_id)
        [row] = rows(demo_db, item_id, "reply")
        assert (row.due_date, row.status) == (date(2026, 3, 6), "overdue")
        titles = [shown_title(n) for n in notes(demo_db, item_id, "overdue")]
        assert titles and set(titles) == {"已超期：答复期限为 2026-03-06"}
        assert not [n for n in notes(demo_db, item_id, "reminder")]  # past reminders fold into the flag
        with demo_db.reading() as s:
            on_board = board.board(s, board.BoardFilter(show="overdue"))
            assert [(r.deadline.key, r.item.id) for r in on_board if r.item.id == item_id] == [("reply", item_id)]
            assert "handling" in item_diagram(s, s.get(Item, item_id)).overdue
            late = {step.spec_name: step.late for step in step_load(s, "item_handling")}
        assert late.get("consult", 0) >= 1
        login(client, "office")
        html = client.get(f"/items/{item_id}").get_data(as_text=True)
        assert "2026-03-06" in html and "None" not in html


def with_two_co_units(db) -> int:
    """An item assigned on 2026-03-02 to the traffic bureau with two co-units, all signed for, pledged."""
    with time_machine.travel(at("2026-03-02"), tick=False):
        item_id = register(db)
        assign(db, item_id, co_units=["jyj", "zjj"])
        do(db, item_id, "jyj_staff", "co_sign_for", co_sign_decision="sign")
        do(db, item_id, "zjj_staff", "co_sign_for", co_sign_decision="sign")
        sign_and_pledge(db, item_id)
    return item_id


def test_co_opinion_deadline_belongs_to_the_silent_co_unit(demo_db):
    item_id = with_two_co_units(demo_db)
    with time_machine.travel(at("2026-03-20"), tick=False):
        with demo_db.transaction() as s:
            staff = user(s, "zjj_staff")
            row = s.scalars(select(TaskRow).where(TaskRow.item_id == item_id, TaskRow.spec_name == "cohandle",
                                                  TaskRow.unit_id == staff.unit_id)).one()
            complete_task(s, row.id, staff, {"co_opinion": "同意主办意见。"})
    with demo_db.reading() as s:
        units = dict(s.execute(select(Unit.code, Unit.id)).all())
    co = {r.unit_id: r.status for r in rows(demo_db, item_id, "co_opinion")}
    assert co == {units["jyj"]: "open", units["zjj"]: "met"}
    with time_machine.travel(at("2026-04-03"), tick=False):
        sweep(demo_db)
        with demo_db.reading() as s:
            jyj_rows = board.board(s, board.BoardFilter(unit_id=units["jyj"], show="overdue"))
            jtj_rows = board.board(s, board.BoardFilter(unit_id=units["jtj"]))
            by_unit = {name: late for name, late, _soon in board.summary(s, board.BoardFilter(), "unit")}
            jyj_name = s.get(Unit, units["jyj"]).name
    assert [(r.deadline.key, r.item.id) for r in jyj_rows if r.item.id == item_id] == [("co_opinion", item_id)]
    assert not [r for r in jtj_rows if r.item.id == item_id and r.deadline.key == "co_opinion"]
    assert by_unit[jyj_name] >= 1
    told = {n.user_id for n in notes(demo_db, item_id, "overdue") if "协办意见" in shown_title(n)}
    with demo_db.reading() as s:
        assert user(s, "jyj_staff").id in told and user(s, "office").id in told
        assert user(s, "zjj_staff").id not in told and user(s, "jtj_staff").id not in told


def test_migration_recomputes_a_changed_timer_without_calling_it_an_extension(demo_db):
    with time_machine.travel(at("2026-03-02"), tick=False):
        item_id = register(demo_db)
        assign(demo_db, item_id)
        sign_and_pledge(demo_db, item_id)
    [before] = rows(demo_db, item_id, "reply")
    assert before.due_date == date(2026, 6, 2) and not before.extended
    changed = HANDLING.replace('<bpmn:timeDate xsi:type="bpmn:tFormalExpression">reply_due</bpmn:timeDate>',
                               '<bpmn:timeDate xsi:type="bpmn:tFormalExpression">due_at(\'4M\', assigned_on)</bpmn:timeDate>')
    assert changed != HANDLING
    with time_machine.travel(at("2026-03-03"), tick=False):
        with demo_db.transaction() as s:
            v1_id = latest(s, "item_handling").id
            v2, _ = deploy_checked(s, changed.encode("utf-8"), "x.bpmn", "admin")
            v2_id, admin_id = v2.id, user(s, "admin").id
        results = {r.item_id: r for r in migrate_version(demo_db, v1_id, v2_id, admin_id)}
    assert results[item_id].ok
    [after] = rows(demo_db, item_id, "reply")
    assert after.due_date == date(2026, 7, 2) and not after.extended
    assert audit_count(demo_db, item_id, "deadline_recomputed") == 1
    with demo_db.reading() as s:
        assert s.scalar(select(func.count()).select_from(Notification).where(Notification.item_id == item_id,
                                                                              Notification.kind == "overdue")) == 0


def test_a_return_request_after_the_window_is_refused_and_the_page_says_why(demo_db, client):
    with time_machine.travel(at("2026-03-02"), tick=False):
        item_id = register(demo_db)
        assign(demo_db, item_id)
    with demo_db.reading() as s:
        task_id = s.scalars(select(TaskRow.id).where(TaskRow.item_id == item_id, TaskRow.spec_name == "sign_for")).one()
    with time_machine.travel(at("2026-03-10"), tick=False):  # the window (5 working days) ended on 03-09
        try:
            do(demo_db, item_id, "jtj_staff", "sign_for", sign_decision="return", return_reason="不属于本单位职责")
        except FormInvalid as exc:
            assert exc.errors[0].code == "window_closed" and "2026-03-09" in exc.errors[0].message()
        else:
            raise AssertionError("a late return request was accepted")
        login(client, "jtj_staff")
        html = client.get(f"/tasks/{task_id}").get_data(as_text=True)
        assert re.search(r'value="return"\s+disabled', html) and "申请退回的期限已于 2026-03-09 届满" in html
        # The office can still take it back and assign it again; the unit's window is void, not held against it.
        login(client, "office")
        detail = client.get(f"/items/{item_id}").get_data(as_text=True)
        assert "收回并重新交办" in detail
        client.post(f"/supervision/items/{item_id}/take-back",
                    data={"csrf_token": csrf_token(client, f"/items/{item_id}"), "reason": "职责不符"})
    with demo_db.reading() as s:
        assert s.scalars(select(TaskRow.spec_name).where(TaskRow.item_id == item_id)).all() == ["assign_item"]
    assert [r.status for r in rows(demo_db, item_id, "return_window")] == ["void"]
    with time_machine.travel(at("2026-03-11"), tick=False):
        do(demo_db, item_id, "office", "assign_item", assign_decision="assign", lead_unit="wjw")
    assert [(r.status, r.due_date) for r in rows(demo_db, item_id, "return_window")] == \
        [("void", date(2026, 3, 9)), ("open", date(2026, 3, 18))]


def test_a_return_request_within_the_window_goes_through(demo_db):
    with time_machine.travel(at("2026-03-02"), tick=False):
        item_id = register(demo_db)
        assign(demo_db, item_id)
    with time_machine.travel(at("2026-03-06"), tick=False):  # within the window the same request goes through
        do(demo_db, item_id, "jtj_staff", "sign_for", sign_decision="return", return_reason="不属于本单位职责")
    with demo_db.reading() as s:
        assert s.scalars(select(TaskRow.spec_name).where(TaskRow.item_id == item_id)).all() == ["decide_return"]


def test_loading_next_years_holidays_recomputes_open_deadlines_with_an_audit_entry(demo_db):
    with time_machine.travel(at("2026-12-28"), tick=False):
        item_id = register(demo_db)
        assign(demo_db, item_id)
    [window] = rows(demo_db, item_id, "return_window")
    assert window.due_date == date(2027, 1, 4) and "2027" in window.warning  # weekends only: 01-01 counted
    with time_machine.travel(at("2026-12-29"), tick=False):
        with demo_db.transaction() as s:
            stored, report = load_holidays(s, 2027, "2027-01-01,holiday,元旦\n2027-02-06,holiday,春节\n",
                                           user(s, "admin"))
    assert report.moved >= 1 and item_id in report.changed_items
    [window] = rows(demo_db, item_id, "return_window")
    assert (window.due_date, window.original_due_date, window.warning, window.extended) == \
        (date(2027, 1, 5), date(2027, 1, 5), None, False)
    with demo_db.reading() as s:
        moved = s.scalars(select(AuditEvent).where(AuditEvent.item_id == item_id,
                                                   AuditEvent.action == "deadline_recomputed")).all()
        assert [e.data["from"] for e in moved] == ["2027-01-04"] and moved[0].data["to"] == "2027-01-05"
        sign = s.scalars(select(TaskRow).where(TaskRow.item_id == item_id)).one()
        assert clock.local(sign.due_at).date() == date(2027, 1, 5)
    # A due date computed at assignment but not yet watched (first contact) follows the new calendar too.
    with time_machine.travel(at("2026-12-30"), tick=False):
        sign_and_pledge(demo_db, item_id)
    [contact] = rows(demo_db, item_id, "first_contact")
    assert contact.due_date == date(2027, 1, 26) and contact.warning is None  # 20 working days, 01-01 off


def test_a_deadline_the_loaded_year_leaves_on_its_day_no_longer_warns(client, demo_db):
    """Loading 2027's holidays counts every open deadline again: one that stays on its day was counted with them
    this time, so it no longer says they are missing (the warning stayed, on the board and the item page)."""
    with time_machine.travel(at("2026-12-28"), tick=False):
        item_id = register(demo_db)
        assign(demo_db, item_id)
    [window] = rows(demo_db, item_id, "return_window")
    assert window.due_date == date(2027, 1, 4) and "2027" in window.warning
    with time_machine.travel(at("2026-12-29"), tick=False):
        with demo_db.transaction() as s:  # a year whose holidays do not touch the window's days
            load_holidays(s, 2027, "2027-10-01,holiday,国庆节\n", user(s, "admin"))
    [window] = rows(demo_db, item_id, "return_window")
    assert (window.due_date, window.warning, window.warning_message) == (date(2027, 1, 4), None, None)
    login(client, "office")
    assert "节假日数据未载入" not in client.get(f"/items/{item_id}").get_data(as_text=True)


def test_a_flagged_deadline_counted_without_a_years_holidays_says_so_truly_once_they_are_loaded(client, demo_db):
    """An overdue deadline keeps the day it was counted on; once the year's holidays are loaded, its warning says
    it was counted before they were, no longer that they are missing (a supervisor would load them again)."""
    with time_machine.travel(at("2026-12-28"), tick=False):
        item_id = register(demo_db)
        assign(demo_db, item_id)
        sign_and_pledge(demo_db, item_id)
    [contact] = rows(demo_db, item_id, "first_contact")
    due = contact.due_date
    assert due.year == 2027 and "2027年节假日数据未载入" in contact.warning
    with time_machine.travel(at("2027-02-01"), tick=False):
        sweep(demo_db)
        [contact] = rows(demo_db, item_id, "first_contact")
        assert contact.status == "overdue"
        with demo_db.transaction() as s:  # New Year's Day 2027 falls inside the window: it would have moved
            load_holidays(s, 2027, "2027-01-01,holiday,元旦\n", user(s, "admin"))
        [contact] = rows(demo_db, item_id, "first_contact")
        assert (contact.status, contact.due_date) == ("overdue", due)
        assert contact.warning == "按周末计算（2027年节假日数据载入前）"
        login(client, "office")
        page = client.get(f"/items/{item_id}").get_data(as_text=True)
        assert "节假日数据未载入" not in page and "按周末计算（2027年节假日数据载入前）" in page
        client.get("/lang/en")
        page = client.get(f"/items/{item_id}").get_data(as_text=True)
        assert "Counted on weekends alone, before the holidays of 2027 were loaded" in page


def test_changing_a_rule_recomputes_that_years_open_deadlines_but_keeps_met_ones(demo_db):
    with time_machine.travel(at("2026-03-02"), tick=False):
        item_id = register(demo_db)
        assign(demo_db, item_id)
        sign_and_pledge(demo_db, item_id)
    assert [r.due_date for r in rows(demo_db, item_id, "reply")] == [date(2026, 6, 2)]
    [window] = rows(demo_db, item_id, "return_window")
    assert window.status == "met"
    with time_machine.travel(at("2026-03-04"), tick=False):
        with demo_db.transaction() as s:
            report = change_rules(s, 2026, {"reply": "4M", "return_window": "3WD"}, user(s, "admin"))
    assert report.changed_items == [item_id] or item_id in report.changed_items
    [reply_row] = rows(demo_db, item_id, "reply")
    assert reply_row.due_date == date(2026, 7, 2) and not reply_row.extended
    assert rows(demo_db, item_id, "return_window")[0].due_date == window.due_date  # met: history kept
    with demo_db.reading() as s:
        timer = s.scalars(select(Timer).where(Timer.item_id == item_id, Timer.spec_name == "reply_overdue")).one()
        assert clock.local(timer.due_at).date() == date(2026, 7, 2)


def test_rules_are_validated_where_they_are_entered(demo_db, client):
    with demo_db.transaction() as s:
        for key, rule in (("reply", "99999M"), ("first_contact", "1000000WD"), ("return_window", "400D"),
                          ("reply_fixed_date", "2024-06-30"), ("reminder_leads", "15D,90D")):
            try:
                set_rule(s, 2026, key, rule)
            except RuleError as exc:
                assert "范围" in str(exc) or "无效" in str(exc) or "之后" in str(exc), (key, rule, str(exc))
            else:
                raise AssertionError(f"{key}={rule} was accepted")
    login(client, "admin")
    page = client.post("/admin/calendar/rules?year=2026", data={
        "csrf_token": csrf_token(client, "/admin/calendar/?year=2026"), "reply": "99999M"}, follow_redirects=True)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "规则“99999M”超出合理范围" in html
    with demo_db.reading() as s:
        assert rules_for(s, 2026)["reply"] == "3M"


def test_cli_deadline_answers_on_a_database_nobody_initialised(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from engine.cli import main

    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    result = CliRunner().invoke(main, ["deadline", "2026-09-30", "1WD"])
    assert result.exit_code == 0 and result.stdout.strip() == "2026-10-08", result.output
    assert "banli init" in result.stderr and "Traceback" not in result.stderr
    result = CliRunner().invoke(main, ["deadline", "2027-12-28", "5WD"])
    assert result.exit_code == 0 and "2028" in result.stderr  # a year chinesecalendar does not know warns


# --- the reply deadline runs from assignment: one ledger row from then on, read by every page ------------

def _views_of_reply(db, item_id):
    """The reply date as the board, the item page's deadlines, the portal and the statistics give it."""
    from engine.items.portal import my_items
    from engine.items.queries import item_detail
    from engine.reports.statistics import item_facts
    with db.reading() as s:
        item = s.get(Item, item_id)
        on_board = [r.deadline.due_date for r in board.board(s, board.BoardFilter(key="reply", show="all"))
                    if r.item.id == item_id]
        page = [d.due_date for d, _state, _unit in item_detail(s, item).deadlines if d.key == "reply" and d.status != "void"]
        portal = [p.reply_deadline.due for p in my_items(s, user(s, "member_sun")) if p.item.id == item_id]
        facts = [f.due for f in item_facts(s, 2026, as_of=clock.today()) if f.id == item_id]
    return on_board, page, portal, facts


def test_the_reply_deadline_opens_at_assignment_and_every_page_reads_that_row(demo_db):
    with demo_db.transaction() as s:
        set_rule(s, 2026, "reply", "1M")  # due within the board's horizon, so the board lists it too
    with time_machine.travel(at("2026-03-02"), tick=False):
        item_id = register(demo_db)
        assign(demo_db, item_id)  # assigned, not signed for
        [row] = rows(demo_db, item_id, "reply")
        assert (row.round, row.status, row.due_date, row.original_due_date) == (1, "open", date(2026, 4, 2),
                                                                                date(2026, 4, 2))
        with demo_db.reading() as s:
            assert row.unit_id == s.scalar(select(Unit.id).where(Unit.code == "jtj"))
    with time_machine.travel(at("2026-03-28"), tick=False):  # a Saturday, within a week of the date
        assert _views_of_reply(demo_db, item_id) == ([date(2026, 4, 2)],) * 4
        # the rules change after assignment: the row moves (audited; 05-02 falls in the May Day holiday)
        with demo_db.transaction() as s:
            change_rules(s, 2026, {"reply": "2M"}, user(s, "admin"))
        [row] = rows(demo_db, item_id, "reply")
        assert (row.due_date, row.original_due_date, row.extended) == (date(2026, 5, 6), date(2026, 5, 6), False)
        assert audit_count(demo_db, item_id, "deadline_recomputed") == 1
        with demo_db.transaction() as s:  # a date no rule gives: every view still shows exactly the row's
            s.get(Deadline, row.id).due_date = date(2026, 4, 1)  # through the ORM: the board's tally follows
        assert _views_of_reply(demo_db, item_id) == ([date(2026, 4, 1)],) * 4
        with demo_db.transaction() as s:
            s.get(Deadline, row.id).due_date = date(2026, 5, 6)
        sign_and_pledge(demo_db, item_id)  # handling starts: its timer waits for the very same date
        assert [(r.due_date, r.status) for r in rows(demo_db, item_id, "reply")] == [(date(2026, 5, 6), "open")]
        with demo_db.reading() as s:
            timer = s.scalars(select(Timer).where(Timer.item_id == item_id, Timer.spec_name == "reply_overdue")).one()
            assert clock.local(timer.due_at).date() == date(2026, 5, 6)
        assert audit_count(demo_db, item_id, "deadline_recomputed") == 1


def test_a_reply_date_passing_before_the_pledge_is_flagged_by_the_sweep_once(demo_db):
    with demo_db.transaction() as s:
        set_rule(s, 2026, "reply_fixed_date", "2026-03-06")
    with time_machine.travel(at("2026-03-02"), tick=False):
        item_id = register(demo_db)
        assign(demo_db, item_id)
        do(demo_db, item_id, "jtj_staff", "sign_for", sign_decision="sign")  # the pledge waits
        assert [r.status for r in rows(demo_db, item_id, "reply")] == ["open"]
    with time_machine.travel(at("2026-03-09"), tick=False):
        sweep(demo_db)
        sweep(demo_db)
        [row] = rows(demo_db, item_id, "reply")
        assert (row.due_date, row.status) == (date(2026, 3, 6), "overdue")
        assert [shown_title(n) for n in notes(demo_db, item_id, "overdue")].count("已超期：答复期限为 2026-03-06") >= 1
        with demo_db.reading() as s:
            unit_users = {n.user_id for n in notes(demo_db, item_id, "overdue")}
            assert user(s, "jtj_head").id in unit_users and user(s, "office").id in unit_users
        do(demo_db, item_id, "jtj_head", "pledge", responsible_leader="副局长", contact_person="李",
            contact_phone="13800000004", plan="方案", target_date=clock.today().isoformat())
        sweep(demo_db)
    assert [r.status for r in rows(demo_db, item_id, "reply")] == ["overdue"]
    assert audit_count(demo_db, item_id, "timer_overdue") == 1  # the handling's own timer adds no second flag


def test_a_returned_items_reply_deadline_is_void_and_the_new_lead_gets_its_own(demo_db):
    with time_machine.travel(at("2026-03-02"), tick=False):
        item_id = register(demo_db)
        assign(demo_db, item_id)
        do(demo_db, item_id, "jtj_staff", "sign_for", sign_decision="return", return_reason="不属于本单位职责")
        do(demo_db, item_id, "office", "decide_return", return_decision="approve", return_opinion="同意")
    assert [r.status for r in rows(demo_db, item_id, "reply")] == ["void"]
    with time_machine.travel(at("2026-03-04"), tick=False):
        do(demo_db, item_id, "office", "assign_item", assign_decision="assign", lead_unit="wjw")
    replies = rows(demo_db, item_id, "reply")
    with demo_db.reading() as s:
        wjw = s.scalar(select(Unit.id).where(Unit.code == "wjw"))
    assert [(r.status, r.due_date) for r in replies] == [("void", date(2026, 6, 2)), ("open", date(2026, 6, 4))]
    assert replies[1].unit_id == wjw


def test_an_extension_is_asked_once_handling_has_begun(demo_db):
    from engine.items.extensions import may_ask, request_extension
    with time_machine.travel(at("2026-03-02"), tick=False):
        item_id = register(demo_db)
        assign(demo_db, item_id)
        with demo_db.transaction() as s:
            item, staff = s.get(Item, item_id), user(s, "jtj_staff")
            assert not may_ask(s, staff, item)
            try:
                request_extension(s, item, staff, "2026-07-01", "需协调。")
                raise AssertionError("an extension before the pledge was accepted")
            except FormInvalid as exc:
                assert exc.errors[0].code == "not_started"


def test_a_co_opinion_given_after_a_restart_reaches_the_join(demo_db):
    from engine.workflow import deployment, runtime
    with time_machine.travel(at("2026-03-02"), tick=False):
        item_id = register(demo_db)
        assign(demo_db, item_id, co_units=["jyj"])
        sign_and_pledge(demo_db, item_id)
        consult(demo_db, item_id)
        with demo_db.transaction() as s:  # the co-unit signs for its part (its opinion task opens)
            from engine.items import cohandling
            cohandling.sign_part(s, user(s, "jyj_staff"), s.get(Item, item_id))
        # a new process: specs parsed afresh, no workflow kept in memory
        deployment._CACHE.clear(), deployment._BY_ID.clear(), runtime.WORKFLOWS.entries.clear()
        with demo_db.transaction() as s:
            me = user(s, "jyj_staff")
            row = s.scalars(select(TaskRow).where(TaskRow.item_id == item_id, TaskRow.spec_name == "cohandle")).one()
            complete_task(s, row.id, me, {"co_opinion": "同意。"})
        with demo_db.reading() as s:
            ready = set(s.scalars(select(TaskRow.spec_name).where(TaskRow.item_id == item_id)))
    assert "draft_reply" in ready
    assert [r.status for r in rows(demo_db, item_id, "co_opinion")] == ["met"]


def test_a_calendar_warning_is_a_catalog_message_shown_in_the_readers_language(client, demo_db):
    """A deadline computed without the year's holidays keeps its warning as a catalog message: the Chinese
    item page says it in Chinese, the English one in English; a row written before kept only text (shown as
    it was written)."""
    with time_machine.travel(at("2026-12-28"), tick=False):
        item_id = register(demo_db)
        assign(demo_db, item_id)
    [window] = rows(demo_db, item_id, "return_window")
    assert window.warning_message == ["%(years)s年节假日数据未载入，按周末计算", {"years": "2027"}]  # msgid, params
    login(client, "office")
    client.get("/lang/zh")
    page = client.get(f"/items/{item_id}").get_data(as_text=True)
    assert "2027年节假日数据未载入，按周末计算" in page and "No holiday data" not in page
    client.get("/lang/en")
    page = client.get(f"/items/{item_id}").get_data(as_text=True)
    assert "No holiday data for 2027: computed on weekends only" in page and "节假日" not in page
    # The unit that owes it reads the same warning where it works: its inbox row and the step's page.
    client.get("/lang/zh")
    with time_machine.travel(at("2026-12-28"), tick=False):
        login(client, "jtj_staff")
        with demo_db.reading() as s:
            task_id = s.scalars(select(TaskRow.id).where(TaskRow.item_id == item_id, TaskRow.spec_name == "sign_for")).one()
        inbox = client.get("/tasks/").get_data(as_text=True)
        row = [r for r in inbox.split("<tr") if f"/tasks/{task_id}" in r]
        assert row and "2027年节假日数据未载入，按周末计算" in row[0]
        assert "2027年节假日数据未载入，按周末计算" in client.get(f"/tasks/{task_id}").get_data(as_text=True)
    login(client, "office")
    with demo_db.transaction() as s:
        s.get(Deadline, window.id).warning = "旧版提示：2027 年节假日未载入"  # plain text, as rows before kept it
    with demo_db.reading() as s:
        assert s.get(Deadline, window.id).warning_message is None
    assert "旧版提示：2027 年节假日未载入" in client.get(f"/items/{item_id}").get_data(as_text=True)


def test_the_deadlines_read_ahead_with_the_scan_are_read_again_when_a_flush_changed_them_since(demo_db):
    """On PostgreSQL the ledger's read goes out with the scan (ledger.prefetch); a command that wrote a deadline
    in between (a flush, or an ORM change still pending) must find the row as it now is, not as read ahead."""
    from engine.deadlines import ledger

    item_id = register(demo_db)
    assign(demo_db, item_id)
    for change in ("flushed", "pending"):
        with demo_db.transaction() as s:
            item = s.get(Item, item_id)
            untouched = ledger._read(s, item, ledger.prefetch(s, item_id))
            assert untouched and [r.status for r in untouched] == [r.status for r in ledger._read(s, item)]
            ahead = ledger.prefetch(s, item_id)
            row = s.scalars(select(Deadline).where(Deadline.item_id == item_id, Deadline.status == "open")
                            .order_by(Deadline.id)).first()
            row.status = "waived"
            if change == "flushed":
                s.flush()
            assert {r.id: r.status for r in ledger._read(s, item, ahead)}[row.id] == "waived", change
            s.rollback()
