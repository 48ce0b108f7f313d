"""The one visibility policy (engine.people.visibility): who sees which item, and which of its sections."""
from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import select

from engine import clock
from engine.demo import _do
from engine.deadlines import board
from engine.models import Item
from engine.people import visibility
from tests.conftest import login, user


def item_id(db, title: str) -> int:
    with db.reading() as s:
        return s.scalars(select(Item.id).where(Item.title == title, Item.year == 2026)).one()


ELEVATOR = "关于老旧小区加装电梯的建议"  # key item, lead zjj, co jtj, leader_wang
SORTING = "关于推进垃圾分类的建议"  # jtj asked to return it


@pytest.mark.parametrize("username, view", [
    ("office", "internal"), ("supervisor", "internal"), ("admin", "internal"),
    ("zjj_staff", "internal"), ("zjj_head", "internal"), ("jtj_staff", "internal"),  # lead and co-unit
    ("leader_wang", "internal"), ("leader_li", None), ("jyj_staff", None), ("jyj_head", None),
    ("deputy_liu", "lead"), ("deputy_chen", None), ("member_zhao", None),
])
def test_who_sees_a_key_item(demo_db, username, view):
    with demo_db.reading() as s:
        item = s.get(Item, item_id(demo_db, ELEVATOR))
        u = user(s, username)
        assert visibility.view_of(s, u, item) == view
        assert visibility.may_see_item(s, u, item) is (view is not None)
        assert visibility.may_see_internal(s, u, item) is (view == "internal")
        listed = s.scalar(select(Item.id).where(Item.id == item.id, visibility.visible_items_clause(s, u)))
        assert (listed is not None) is (view is not None)


def test_proposer_fields_are_the_portal_ones(demo_db):
    with demo_db.reading() as s:
        item = s.get(Item, item_id(demo_db, ELEVATOR))
        liu, office = user(s, "deputy_liu"), user(s, "office")
        for field in ("replies", "pledges", "co_opinions", "instructions", "timeline", "return_requests", "tasks"):
            assert not visibility.may_see_field(s, liu, item, field)
            assert visibility.may_see_field(s, office, item, field)
        for field in ("item", "consultations", "approved_replies", "ratings", "disclosure"):
            assert visibility.may_see_field(s, liu, item, field)
        with pytest.raises(ValueError):
            visibility.may_see_field(s, liu, item, "no_such_field")


def test_an_inactive_user_sees_nothing(demo_db):
    with demo_db.transaction() as s:
        office = user(s, "office")
        office.active = False
        s.flush()
        item = s.get(Item, item_id(demo_db, ELEVATOR))
        assert visibility.view_of(s, office, item) is None
        assert s.scalar(select(Item.id).where(visibility.internal_items_clause(office))) is None


def test_a_unit_whose_return_was_approved_loses_the_item(client, demo_db):
    sorting = item_id(demo_db, SORTING)
    login(client, "jtj_staff")
    assert client.get(f"/items/{sorting}").status_code == 200
    with demo_db.transaction() as s:
        item = s.get(Item, sorting)
        _do(s, item, "office", return_decision="approve", return_opinion="同意退回。")
        _do(s, item, "office", assign_decision="assign", lead_unit="hbj", co_units=[])
    assert client.get(f"/items/{sorting}").status_code == 403
    assert client.get(f"/diagram/items/{sorting}.json").status_code == 403
    assert f"/items/{sorting}\"" not in client.get("/items/?year=2026").get_data(as_text=True)
    login(client, "hbj_staff")  # the new unit
    assert client.get(f"/items/{sorting}").status_code == 200


def test_the_board_shows_a_leader_only_their_items(client, demo_db):
    with time_machine.travel(clock.now() + timedelta(days=120), tick=False):  # every 2026 deadline is late
        with demo_db.reading() as s:
            wang, li = user(s, "leader_wang"), user(s, "leader_li")
            rows = board.board(s, board.BoardFilter(viewer=wang))
            everyone = board.board(s, board.BoardFilter(viewer=user(s, "supervisor")))
            assert everyone and rows and len(rows) < len(everyone)
            assert all(r.item.leader_id == wang.id for r in rows)
            assert all(r.item.leader_id == li.id for r in board.board(s, board.BoardFilter(viewer=li)))
            counts = board.summary(s, board.BoardFilter(viewer=wang), "unit")
            assert sum(o + d for _, o, d in counts) == len(rows)
        login(client, "leader_wang")
        html = client.get("/supervision/").get_data(as_text=True)
        others = {r.item.id for r in everyone if r.item.leader_id != wang.id}
        assert others and not any(f'/items/{i}"' in html for i in others)
        for r in rows:  # and every item on the board opens
            assert f'/items/{r.item.id}"' in html and client.get(f"/items/{r.item.id}").status_code == 200


def test_item_detail_for_keeps_only_the_sections_of_the_view(demo_db):
    from engine.items.queries import item_detail_for

    with demo_db.reading() as s:
        item = s.scalars(select(Item).where(Item.title == "关于完善社区医疗服务的提案", Item.year == 2026)).one()
        internal = item_detail_for(s, user(s, "office"), item)
        assert internal.replies and internal.timeline and internal.pledges and internal.open_tasks
        portal = item_detail_for(s, user(s, "member_sun"), item)  # its proposer; the reply awaits review
        assert portal.item.id == item.id and portal.consultations
        assert portal.replies == [] and portal.timeline == [] and portal.pledges == [] and portal.open_tasks == []
        assert portal.deadlines == [] and portal.assignments == []
        assert item_detail_for(s, user(s, "deputy_chen"), item) is None
        assert item_detail_for(s, user(s, "hbj_staff"), item) is None
