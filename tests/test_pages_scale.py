"""Pages in O(page): they read a page along an index in their own order, and count only up to a bound."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import event, select, update

from engine import clock
from engine.items import disclosure, queries
from engine.models import TaskRow
from tests.conftest import login, user


def _captured(db, fn):
    seen = []

    def record(_conn, _cursor, statement, parameters, *_args):
        seen.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        fn()
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    return seen


def _sorts_everything(db, statement, parameters) -> bool:
    """SQLite: does the plan sort the rows it reads (a temp b-tree for the ORDER BY) instead of walking an index?"""
    with db.engine.connect() as conn:
        plan = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
    return any("TEMP B-TREE FOR" in row[-1] and "ORDER BY" in row[-1] for row in plan)


def test_the_office_inbox_and_the_item_list_walk_an_index_in_page_order(demo_db):
    """Before: both sorted every matching row (all office tasks; every item of every year) for one page."""
    if demo_db.engine.dialect.name != "sqlite":
        return  # the plan is SQLite's; PostgreSQL's planner is checked by bench (c)
    with demo_db.reading() as s:
        office = user(s, "office")
        inbox = _captured(demo_db, lambda: queries.inbox(s, office))
        listing = _captured(demo_db, lambda: queries.list_items(s, office, queries.ItemFilter()))
        public = _captured(demo_db, lambda: disclosure.search(s, disclosure.PublicFilter()))
    pages = [(st, p) for st, p in inbox + listing + public if "ORDER BY" in st]
    assert len(pages) >= 3
    assert [st for st, p in pages if _sorts_everything(demo_db, st, p)] == []


def test_inbox_pages_follow_one_another_across_dated_and_undated_tasks(demo_db):
    with demo_db.transaction() as s:
        ids = s.scalars(select(TaskRow.id).where(TaskRow.lane == "office").order_by(TaskRow.id)).all()
        assert len(ids) >= 3, "the demo has office tasks"
        # Half of them dated (in the past and future), the rest undated.
        for k, tid in enumerate(ids[: len(ids) // 2 + 1]):
            s.execute(update(TaskRow).where(TaskRow.id == tid).values(due_at=clock.now() + timedelta(days=k - 1)))
    with demo_db.reading() as s:
        office = user(s, "office")
        everything = queries.inbox(s, office, per_page=1000)
        expected = sorted(everything, key=lambda r: (r[0].due_at is None, r[0].due_at or r[0].created_at,
                                                     r[0].created_at))
        assert [r[0].id for r in everything] == [r[0].id for r in expected]
        paged = [r for p in range(1, len(everything) + 2) for r in queries.inbox(s, office, page=p, per_page=2)]
    assert [r[0].id for r in paged] == [r[0].id for r in everything]


def test_lists_count_up_to_a_bound_and_say_so(demo_db, monkeypatch):
    monkeypatch.setattr(queries, "COUNT_CAP", 3)
    monkeypatch.setattr(queries.bounded_count, "__defaults__", (3,))
    with demo_db.reading() as s:
        office = user(s, "office")
        rows, total = queries.list_items(s, office, queries.ItemFilter())
        assert len(rows) > 3 and total == 3 and total.more and str(total) == "3+"
        one, exact = queries.list_items(s, office, queries.ItemFilter(q=rows[0].number))
        assert exact == len(one) and not exact.more and str(exact) == str(len(one))
        statements = _captured(demo_db, lambda: queries.inbox_count(s, office))
    assert all("LIMIT" in st for st, _ in statements)  # never a count of every row


def test_the_item_list_page_shows_the_bounded_total(client, monkeypatch):
    monkeypatch.setattr(queries.bounded_count, "__defaults__", (5,))
    login(client, "office")
    html = client.get("/items/").get_data(as_text=True)
    assert '<span class="count">5+</span>' in html
