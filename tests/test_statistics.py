"""Each figure's definition on a constructed year with known answers, the demo year, the CLI and the page."""
from __future__ import annotations

import io
import json
from datetime import date, datetime

import pytest
import time_machine
from click.testing import CliRunner
from openpyxl import load_workbook

from engine import clock
from engine.people.accounts import create_user
from engine.models import Assignment, CoOpinion, Consultation, Deadline, Item, Rating, RehandlingOrder, Unit
from engine.deadlines.ledger import reply_deadlines
from engine.reports.statistics import rating_verdict, year_statistics
from tests.conftest import login

AS_OF = date(2024, 8, 1)


def at(day: str) -> datetime:
    return datetime.combine(date.fromisoformat(day), datetime.min.time().replace(hour=10), clock.LOCAL_TZ)


@pytest.fixture
def year_2024(db):
    """Eight items of 2024 whose every figure is known (see the expectations in the tests)."""
    with db.transaction() as s:
        u1, u2 = Unit(code="u1", name="甲局"), Unit(code="u2", name="乙局")
        s.add_all([u1, u2])
        s.flush()
        who = create_user(s, "p1", "代表甲", "proposer", "x" * 12)

        def item(number, kind, status="closed", assigned=None, replied=None, cls=None, complex_=False, rnd=1,
                 lead=u1, due=None):
            """`due`: the reply deadline's ledger row, as the engine writes it at assignment (3 months, 6 for
            a complex item, on the working calendar); the statistics read nothing else."""
            it = Item(year=2024, item_type=kind, number=number, title=f"事项{number}", content="内容",
                      proposer_id=who.id, status=status, assigned_at=at(assigned) if assigned else None,
                      replied_at=at(replied) if replied else None, reply_class=cls, is_complex=complex_, round=rnd,
                      lead_unit_id=lead.id if assigned else None)
            s.add(it)
            s.flush()
            if assigned:
                s.add(Assignment(item_id=it.id, unit_id=lead.id, role="lead", assigned_at=at(assigned)))
                day = date.fromisoformat(due)
                s.add(Deadline(item_id=it.id, key="reply", round=1, step="答复", attached_to="handling",
                               unit_id=lead.id, due_date=day, original_due_date=day,
                               status="met" if replied else "open"))
            return it

        def consulted(it, unit=u1, rnd=1):
            s.add(Consultation(item_id=it.id, unit_id=unit.id, round=rnd, held_on=date(2024, 4, 20), form="meeting",
                               participants="双方", proposer_views="认可"))

        def rated(it, attitude, result, rnd=1):
            s.add(Rating(item_id=it.id, round=rnd, attitude=attitude, result=result))

        s1 = item("S1", "suggestion", assigned="2024-03-20", due="2024-06-20", replied="2024-05-10", cls="A")
        consulted(s1)
        rated(s1, "satisfied", "satisfied")
        s.add(Assignment(item_id=s1.id, unit_id=u2.id, role="co", assigned_at=at("2024-03-20")))
        s.add(CoOpinion(item_id=s1.id, unit_id=u2.id, text="同意"))
        s2 = item("S2", "suggestion", assigned="2024-03-20", due="2024-06-20", replied="2024-07-01", cls="B")  # after 2024-06-20
        consulted(s2)
        rated(s2, "basically_satisfied", "satisfied")
        item("S3", "suggestion", status="handling", assigned="2024-03-20", due="2024-06-20")  # overdue, never consulted
        p1 = item("P1", "proposal", assigned="2024-03-20", due="2024-09-20", replied="2024-08-15", cls="C", complex_=True, rnd=2)
        consulted(p1)
        rated(p1, "satisfied", "unsatisfied")
        s.add(RehandlingOrder(item_id=p1.id, round=1, decision="rehandle", instructions="重办"))
        rated(p1, "satisfied", "satisfied", rnd=2)
        p2 = item("P2", "proposal", status="handling", assigned="2024-07-15", due="2024-10-15")  # not due yet
        consulted(p2, unit=u2)  # recorded by a unit that is not the lead: does not count
        item("P3", "proposal", status="withdrawn")
        item("P4", "proposal", status="assigning")
        p5 = item("P5", "proposal", assigned="2024-03-20", due="2024-06-20", replied="2024-05-01", cls="A")
        consulted(p5)
        rated(p5, "no_opinion", "no_opinion")  # 未表态
    with db.reading() as s:
        return year_statistics(s, 2024, as_of=AS_OF)


def test_items_leave_out_withdrawn(year_2024):
    d = year_2024.as_dict()
    assert (d["items"], d["suggestions"], d["proposals"], d["excluded"]) == (7, 3, 4, 1)


def test_reply_rate_is_replied_over_assigned(year_2024):
    assert year_2024.as_dict()["reply_rate"] == {"numerator": 4, "denominator": 6, "rate": 0.6667}
    assert year_2024.by_type["suggestion"].reply_rate.numerator == 2
    assert year_2024.by_type["proposal"].reply_rate.denominator == 3  # P4 is not assigned


def test_on_time_rate_counts_items_due_with_the_complex_period(year_2024):
    t = year_2024.total
    # Due: S1 on time, S2 late, S3 overdue, P1 on time (6 months), P5 on time; P2 not due yet.
    assert (t.on_time_rate.numerator, t.on_time_rate.denominator) == (3, 5)
    assert t.overdue_open == 1 and t.extended == 0
    facts = {f.number: f for f in year_2024.facts}
    assert facts["S2"].due == date(2024, 6, 20) and facts["S2"].on_time is False
    assert facts["P1"].due == date(2024, 9, 20) and facts["P1"].on_time is True
    assert facts["P2"].on_time is None


def test_satisfaction_first_and_final_with_no_opinion_apart(year_2024):
    d = year_2024.as_dict()
    first, final = d["satisfaction_first"], d["satisfaction_final"]
    assert (first["numerator"], first["denominator"], first["no_opinion"]) == (2, 3, 1)
    assert first["counts"] == {"satisfied": 1, "basically_satisfied": 1, "unsatisfied": 1}
    assert (final["numerator"], final["denominator"], final["no_opinion"]) == (3, 3, 1)


def test_consultation_rate_counts_only_the_lead_units_records(year_2024):
    assert year_2024.as_dict()["consultation_rate"] == {"numerator": 4, "denominator": 6, "rate": 0.6667}


def test_rehandled_and_classes(year_2024):
    d = year_2024.as_dict()
    assert d["rehandled"] == {"items": 1, "rounds": 1}
    assert d["classes"] == {"A": {"count": 2, "share": 0.5}, "B": {"count": 1, "share": 0.25},
                            "C": {"count": 1, "share": 0.25}}


def test_units_count_lead_and_co_apart(year_2024):
    units = {u["code"]: u for u in year_2024.as_dict()["units"]}
    assert units["u1"]["lead"]["items"] == 6 and units["u1"]["co"] == {"items": 0, "opinions_sent": 0, "waived": 0, "late": 0}
    assert units["u2"]["lead"]["items"] == 0 and units["u2"]["co"] == {"items": 1, "opinions_sent": 1, "waived": 0, "late": 0}


def test_the_lower_dimension_decides_a_rating():
    assert rating_verdict("satisfied", "basically_satisfied") == "basically_satisfied"
    assert rating_verdict("unsatisfied", "satisfied") == "unsatisfied"
    assert rating_verdict("no_opinion", "satisfied") == "no_opinion"


def test_reply_deadline_skips_to_the_next_working_day(demo_db):
    """The statistics' reply deadline is the ledger's row, there from assignment (before any sign-for)."""
    from tests.test_timers import assign, register
    with time_machine.travel(at("2025-07-01"), tick=False):
        item_id = register(demo_db, year="2025")
        assign(demo_db, item_id)
    with demo_db.reading() as s:
        # 2025-07-01 + 3 months = 2025-10-01, National Day: the deadline moves to 2025-10-09.
        assert reply_deadlines(s, [s.get(Item, item_id)])[item_id].due == date(2025, 10, 9)


def test_demo_year_is_shaped_like_the_speech(demo_db):
    with demo_db.reading() as s:
        d = year_statistics(s, 2025).as_dict()
    assert (d["items"], d["suggestions"], d["proposals"]) == (104, 46, 58)
    assert d["reply_rate"]["rate"] == 1.0 and d["consultation_rate"]["rate"] == 1.0
    assert d["satisfaction_final"]["rate"] == 1.0 and d["satisfaction_final"]["denominator"] == 104
    assert d["satisfaction_first"]["counts"]["unsatisfied"] == 1 and d["rehandled"] == {"items": 1, "rounds": 1}
    assert d["on_time_rate"]["numerator"] == 102  # two replies were approved after the deadline


def test_stats_command_prints_json(demo_db):
    from engine.cli import main

    result = CliRunner().invoke(main, ["stats", "--year", "2025", "--json"], env={"DATABASE_URL": demo_db.url})
    assert result.exit_code == 0, result.output
    data = json.loads(result.output[result.output.index("{"):])
    for key in ("items", "suggestions", "proposals", "reply_rate", "on_time_rate", "satisfaction_first",
                "satisfaction_final", "consultation_rate", "rehandled", "classes", "units"):
        assert key in data
    assert data["items"] == 104
    text = CliRunner().invoke(main, ["stats", "--year", "2025"], env={"DATABASE_URL": demo_db.url}).output
    assert "办复率: 100.0%（104/104）" in text


def test_statistics_page_shows_figures_charts_and_definitions(client):
    login(client, "office")
    html = client.get("/reports/?year=2025").get_data(as_text=True)
    assert "2025年建议提案办理统计" in html and "104/104" in html
    assert 'id="chart-units"' in html and "echarts.min.js" in html
    assert "未表态" in html and "撤回和并案的不计入任何分母" in html  # the definitions
    assert "区综合行政执法局" in html  # the per-unit table


def test_statistics_export_opens_in_excel(client):
    login(client, "supervisor")
    r = client.get("/reports/statistics-2025.xlsx")
    assert r.status_code == 200 and r.mimetype.endswith("spreadsheetml.sheet")
    wb = load_workbook(io.BytesIO(r.data))
    assert wb.sheetnames == ["总体", "单位", "跟踪落实", "明细", "口径"]
    overview = {row[0]: row[1:] for row in wb["总体"].iter_rows(min_row=2, values_only=True)}
    assert overview["件数"] == ("104", "46", "58")
    assert wb["明细"].max_row == 105


def test_proposers_and_units_cannot_see_statistics(client):
    login(client, "deputy_chen")
    assert client.get("/reports/").status_code == 403
