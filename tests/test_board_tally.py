"""The board's summary rows are kept with every change of the deadline ledger, and its pages follow one another.

Before: the per-unit and per-step tables counted every open deadline of the window at each view, and the
rows were sorted from all of them; now the tables are summed from summary rows (deadline_tally) that the
same flush keeps, and the rows are read one page at a time along the board's index.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta

from hypothesis import HealthCheck, given, settings, strategies as st
import pytest
import time_machine
from sqlalchemy import delete, func, select, text

from engine import clock
from engine.deadlines import board, tally
from engine.deadlines.ledger import DUE_SOON_DAYS, LABELS
from engine.models import Deadline, DeadlineTally, ExtensionRequest, Item, ProcessInstance, Unit, User
from engine.workflow import sweep as sweep_module
from engine.workflow.runtime import complete_task
from engine.workflow.sweep import sweep
from tests.conftest import BACKEND, task_for, user
from tests.test_timers import assign, register

STATUSES = ("open", "overdue", "met", "met_late", "expired", "waived", "void")
KEYS = sorted(LABELS)
TODAY = date(2026, 6, 15)


def _ids(s):
    items = s.execute(select(Item.id, Item.item_type, Item.is_key, Item.leader_id).order_by(Item.id).limit(6)).all()
    units = s.scalars(select(Unit.id).order_by(Unit.id).limit(3)).all()
    leaders = s.scalars(select(User.id).where(User.role == "leader").order_by(User.id)).all()
    return items, units, leaders


change = st.one_of(
    st.tuples(st.just("add"), st.integers(0, 5), st.integers(-1, 2), st.sampled_from(KEYS), st.integers(-20, 20),
              st.sampled_from(STATUSES)),
    st.tuples(st.just("status"), st.integers(0, 50), st.sampled_from(STATUSES)),
    st.tuples(st.just("move"), st.integers(0, 50), st.integers(-20, 20)),
    st.tuples(st.just("unit"), st.integers(0, 50), st.integers(-1, 2)),
    st.tuples(st.just("regroup"), st.integers(0, 50), st.booleans(), st.integers(-1, 1)),
    st.tuples(st.just("delete"), st.integers(0, 50)),
    st.tuples(st.just("flush"),),
)
# A savepoint of some changes (flushed or not), released or rolled back (the sweep's instance that fails).
change = st.one_of(change, st.tuples(st.just("savepoint"), st.lists(change, max_size=4), st.booleans()))


class _Undo(Exception):
    pass


def _apply(s, op, items, units, leaders):
    rows = s.scalars(select(Deadline).order_by(Deadline.id)).all() + [r for r in s.new if isinstance(r, Deadline)]
    pick = (lambda k: rows[k % len(rows)]) if rows else None
    kind = op[0]
    if kind == "add":
        _, i, u, key, days, status = op
        item = items[i % len(items)]
        due = TODAY + timedelta(days=days)
        s.add(Deadline(item_id=item.id, key=key, round=1, step=LABELS[key], unit_id=units[u] if u >= 0 else None,
                       due_date=due, original_due_date=due, status=status, item_type=item.item_type,
                       is_key=item.is_key, leader_id=item.leader_id))
    elif kind == "flush":
        s.flush()
    elif kind == "savepoint":
        try:
            with s.begin_nested():
                for inner in op[1]:
                    _apply(s, inner, items, units, leaders)
                if op[2]:
                    raise _Undo
        except _Undo:
            pass
    elif pick is None:
        return
    elif kind == "status":
        pick(op[1]).status = op[2]
    elif kind == "move":
        row = pick(op[1])
        row.due_date = TODAY + timedelta(days=op[2])
    elif kind == "unit":
        pick(op[1]).unit_id = units[op[2]] if op[2] >= 0 else None
    elif kind == "regroup":
        row = pick(op[1])
        row.is_key, row.leader_id = op[2], (leaders[op[3] % len(leaders)] if op[2] and op[3] >= 0 else None)
    elif kind == "delete":
        row = pick(op[1])
        if row in s.new:
            s.expunge(row)
        elif s.scalar(select(ExtensionRequest.id).where(ExtensionRequest.deadline_id == row.id).limit(1)) is None:
            s.delete(row)


def _expected_units(s, f: board.BoardFilter, today: date) -> list[tuple[int, str, int, int]]:
    """The per-unit table counted the slow way: every unit with a flagged deadline or one due by the horizon,
    the most flagged first, then the earliest due (then the unit's id); with its overdue and due-soon counts."""
    soon = today + timedelta(days=DUE_SOON_DAYS)
    names = dict(s.execute(select(Unit.id, Unit.name)).all())
    units: dict = {}
    for d in s.scalars(select(Deadline)):
        if d.status not in tally.OPEN or (f.unit_id and d.unit_id != f.unit_id) or (f.key and d.key != f.key) or \
                (f.item_type and d.item_type != f.item_type) or (f.key_only and not d.is_key) or \
                (f.viewer is not None and f.viewer.role == "leader" and d.leader_id != f.viewer.id):
            continue
        flagged, first, late, due_soon = units.get(d.unit_id or 0, (0, tally.NO_DATE, 0, 0))
        is_late = d.status == "overdue" or d.due_date < today
        units[d.unit_id or 0] = (flagged + (d.status == "overdue"),
                                 min(first, d.due_date) if d.status == "open" else first,
                                 late + is_late, due_soon + (not is_late and d.due_date <= soon))
    shown = [(u, v) for u, v in units.items() if v[0] or v[1] <= soon]
    return [(u, names.get(u) or "—", late, due_soon)
            for u, (_, _, late, due_soon) in sorted(shown, key=lambda e: (-e[1][0], e[1][1], e[0]))]


def _unit_pages(s, f: board.BoardFilter) -> list[tuple[int, str, int, int]]:
    """Every page of the per-unit table (2 units a page), chained by their cursors as the links carry them;
    each page's link back gives the page before it."""
    pages, cursor = [], None
    while True:
        page = board.unit_page(s, f, after=cursor, limit=2)
        pages.append(page)
        if page.next is None:
            break
        cursor = board.parse_unit_cursor(str(page.next))
    for k in range(1, len(pages)):
        back = board.unit_page(s, f, before=board.parse_unit_cursor(str(pages[k].previous)), limit=2)
        assert [r.unit_id for r in back.rows] == [r.unit_id for r in pages[k - 1].rows]
    return [(r.unit_id, r.name, r.late, r.soon) for p in pages for r in p.rows]


def _expected_summary(s, f: board.BoardFilter, by: str, today: date):
    """What the board's tables must show, counted the slow way from every deadline row."""
    soon = today + timedelta(days=DUE_SOON_DAYS)
    names = dict(s.execute(select(Unit.id, Unit.name)).all())
    out: dict = {}
    for d in s.scalars(select(Deadline)):
        if d.status not in tally.OPEN:
            continue
        late = d.status == "overdue" or d.due_date < today
        if not (late or d.due_date <= soon):
            continue
        if (f.unit_id and d.unit_id != f.unit_id) or (f.key and d.key != f.key) or \
                (f.item_type and d.item_type != f.item_type) or (f.key_only and not d.is_key):
            continue
        if f.viewer is not None and f.viewer.role == "leader" and d.leader_id != f.viewer.id:
            continue
        label = (names.get(d.unit_id) or "—") if by == "unit" else LABELS.get(d.key, d.key)
        o, n = out.get(label, (0, 0))
        out[label] = (o + late, n + (not late))
    return sorted(((k, o, n) for k, (o, n) in out.items()), key=lambda r: (-r[1], r[0]))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(changes=st.lists(st.lists(change, max_size=8), min_size=1, max_size=4), rolled_back=st.integers(-1, 3),
       day=st.integers(-25, 25), unit=st.integers(-1, 2), key=st.sampled_from([None, *KEYS]),
       item_type=st.sampled_from([None, "suggestion", "proposal"]), key_only=st.booleans(), as_leader=st.booleans())
def test_summary_rows_equal_a_recount_after_random_changes(demo_db, changes, rolled_back, day, unit, key, item_type,
                                                           key_only, as_leader):
    """Random changes to deadline rows, in several transactions (one rolled back) and savepoints (some rolled
    back), through the ORM as the ledger writes them: the summary rows always equal a recount, and the board's tables read from them equal
    the tables counted from the rows, on any later or earlier day (a new day rewrites nothing)."""
    with demo_db.reading() as s:
        items, units, leaders = _ids(s)
    for k, batch in enumerate(changes):
        try:
            with demo_db.transaction() as s:
                for op in batch:
                    _apply(s, op, items, units, leaders)
                if k == rolled_back:
                    raise RuntimeError("roll back")
        except RuntimeError:
            pass
    with demo_db.reading() as s:
        assert tally.stored(s) == tally.recount(s)
        assert s.scalar(select(func.count()).select_from(DeadlineTally).where(DeadlineTally.n < 0)) == 0
        assert tally.stored_all_units(s) == tally.recount_all_units(tally.recount(s))
        assert tally.stored_units(s) == tally.recount_units(tally.recount(s))
        viewer = s.scalars(select(User).where(User.id == leaders[0])).one() if as_leader else user(s, "supervisor")
        f = board.BoardFilter(unit_id=units[unit] if unit >= 0 else None, key=key, item_type=item_type,
                              key_only=key_only, viewer=viewer)
        with clock.travel(datetime.combine(TODAY + timedelta(days=day), time(12), clock.LOCAL_TZ)):
            today = clock.today()
            assert board.summary(s, f, "step") == _expected_summary(s, f, "step", today)
            expected = _expected_units(s, f, today)
            assert _unit_pages(s, f) == expected
            assert board.summary(s, f, "unit") == [(n, late, soon) for _, n, late, soon in expected[:board.UNIT_ROWS]]
            # the same units and counts as the table counted the old way, from every row of the window
            assert sorted(board.summary(s, f, "unit") if len(expected) <= board.UNIT_ROWS else []) == \
                sorted(_expected_summary(s, f, "unit", today) if len(expected) <= board.UNIT_ROWS else [])


def test_the_engine_keeps_the_summary_rows_as_timers_flag_deadlines(demo_db):
    """The demo's items ran through the engine; a sweep months later flags their deadlines: the summary rows
    follow every step, and the board's tables show the flags."""
    with demo_db.reading() as s:
        before = tally.stored(s)
        assert before and before == tally.recount(s)
    later = clock.now() + timedelta(days=120)
    with clock.travel(later):
        report = sweep(demo_db, now=later)
        assert report.fired > 0
        with demo_db.reading() as s:
            after = tally.stored(s)
            assert after == tally.recount(s) and after != before
            assert any(b[0] == tally.FLAGGED for b in after)  # flagged: late whatever the day
            late = sum(o for _, o, _ in board.summary(s, board.BoardFilter(), "step"))
            assert late == sum(1 for d in s.scalars(select(Deadline).where(Deadline.status.in_(tally.OPEN)))
                               if d.status == "overdue" or d.due_date < clock.today())


def _all_rows_agree(s) -> None:
    assert tally.stored(s) == tally.recount(s)
    assert tally.stored_all_units(s) == tally.recount_all_units(tally.recount(s))
    assert tally.stored_units(s) == tally.recount_units(tally.recount(s))


def test_a_sweep_instance_that_fails_after_writing_leaves_the_summary_rows_as_they_were(demo_db, monkeypatch):
    """Each instance of a sweep batch runs in a savepoint; one that fails after its deadline rows were
    flushed is rolled back alone, and its differences with it: the others' are written at the commit."""
    real, failed = sweep_module.fire_timers, []

    def fire_then_fail_if_it_flagged(s, instance_id, now, **kw):
        """The first three instances whose firing changed a deadline fail after their changes are flushed."""
        fired = real(s, instance_id, now, **kw)
        s.flush()
        item_id = s.get(ProcessInstance, instance_id).item_id
        mine = s.execute(select(Deadline.id, Deadline.status).where(Deadline.item_id == item_id)).all()
        if len(failed) < 3 and any(statuses.get(i) != st for i, st in mine):
            failed.append(instance_id)
            raise RuntimeError("after the write")
        return fired

    monkeypatch.setattr(sweep_module, "fire_timers", fire_then_fail_if_it_flagged)
    with demo_db.reading() as s:
        before = tally.stored(s)
        statuses = dict(s.execute(select(Deadline.id, Deadline.status)).all())
    later = clock.now() + timedelta(days=120)
    with clock.travel(later):
        report = sweep(demo_db, now=later)
    assert report.fired > 0 and failed and [i for i, _ in report.failed] == failed
    with demo_db.reading() as s:
        _all_rows_agree(s)
        assert tally.stored(s) != before  # the others' flags were counted
        # nothing of the failed instances' firing stayed: their deadlines are as before the sweep
        items = select(ProcessInstance.item_id).where(ProcessInstance.id.in_(failed))
        theirs = dict(s.execute(select(Deadline.id, Deadline.status).where(Deadline.item_id.in_(items))).all())
        changed = [i for i, st in s.execute(select(Deadline.id, Deadline.status)).all() if statuses.get(i) != st]
    assert theirs and all(statuses[i] == st for i, st in theirs.items()) and changed


def _same_day_items(db, n: int) -> list[int]:
    """n items assigned to the same unit at the same instant: their deadlines share summary rows."""
    with time_machine.travel(datetime(2026, 9, 28, 10, tzinfo=clock.LOCAL_TZ), tick=False):
        items = [register(db) for _ in range(n)]
        for item_id in items:
            assign(db, item_id)
    return items


@pytest.mark.skipif(BACKEND != "postgres", reason="SQLite has one writer: its transactions never overlap")
def test_two_completions_of_one_unit_and_day_do_not_wait_on_each_other(demo_db):
    """Before: the first flush of a completion upserted the unit's summary rows and held their row locks
    until its COMMIT, so a second completion of the same unit and due day waited for the whole first
    transaction (here: forever, the first one is idle). Now the rows are written just before COMMIT."""
    first, second = _same_day_items(demo_db, 2)
    with demo_db.reading() as s:
        before = tally.stored(s)
    a = demo_db.sessions()
    try:
        complete_task(a, task_for(a, first, "sign_for").id, user(a, "jtj_staff"), {"sign_decision": "sign"})
        a.flush()  # the deadline rows are written, the transaction stays open
        with demo_db.transaction() as b:
            b.execute(text("SET LOCAL lock_timeout = '3s'"))  # a wait fails the test instead of hanging it
            complete_task(b, task_for(b, second, "sign_for").id, user(b, "jtj_staff"), {"sign_decision": "sign"})
        a.commit()
    finally:
        a.close()
    with demo_db.reading() as s:
        _all_rows_agree(s)
        after = tally.stored(s)
    moved = {k: after.get(k, 0) - before.get(k, 0) for k in set(before) | set(after)}
    assert -2 in moved.values()  # both sign-for deadlines left the same summary row


def test_rebuild_restores_summary_rows_written_around_the_hook(demo_db):
    with demo_db.transaction() as s:
        expected = tally.stored(s)
        s.execute(delete(DeadlineTally))
        tally.rebuild(s)
    with demo_db.reading() as s:
        assert tally.stored(s) == expected == tally.recount(s)


def _ordered_board_rows(s, f: board.BoardFilter, today: date):
    soon = today + timedelta(days=DUE_SOON_DAYS)
    rows = [d for d in s.scalars(select(Deadline)) if d.board_date is not None and d.board_date <= soon
            and (not f.key_only or d.is_key)]
    return [d.id for d in sorted(rows, key=lambda d: (not d.is_key, d.board_date, d.due_date, d.item_id, d.id))]


def test_board_pages_follow_one_another_forwards_and_backwards(demo_db):
    """Pages of 2 rows chained by their cursors give every row of the board once, in its order; the link
    back from each page gives the page before it."""
    later = clock.now() + timedelta(days=100)
    with clock.travel(later):
        sweep(demo_db, now=later)
        with demo_db.reading() as s:
            f = board.BoardFilter(viewer=user(s, "supervisor"))
            expected = _ordered_board_rows(s, f, clock.today())
            assert len(expected) > 4
            pages, cursor = [], None
            while True:
                page = board.board_page(s, f, after=cursor, limit=2)
                pages.append(page)
                cursor = page.next
                if cursor is None:
                    break
                cursor = board.parse_cursor(str(cursor), f)  # as the link carries it
            assert [r.deadline.id for p in pages for r in p.rows] == expected
            assert pages[0].previous is None and pages[-1].next is None
            for k in range(1, len(pages)):
                back = board.board_page(s, f, before=board.parse_cursor(str(pages[k].previous), f), limit=2)
                assert [r.deadline.id for r in back.rows] == [r.deadline.id for r in pages[k - 1].rows]
                assert (back.previous is None) == (k == 1)


def test_board_page_links_on_the_web(client, demo_db):
    from tests.conftest import login

    later = clock.now() + timedelta(days=100)
    with clock.travel(later):
        sweep(demo_db, now=later)
    login(client, "supervisor")
    with clock.travel(later):
        import re
        first = client.get("/supervision/").get_data(as_text=True)
        nxt = re.search(r'rel="next" href="([^"]+)"', first)
        with demo_db.reading() as s:
            total = len(_ordered_board_rows(s, board.BoardFilter(), clock.today()))
        assert f'<span class="count">{total}</span>' in first
        if total <= board.BOARD_PAGE:
            assert nxt is None
            return
        second = client.get(nxt.group(1).replace("&amp;", "&")).get_data(as_text=True)
        assert 'rel="prev"' in second


def test_the_board_shows_the_first_units_and_links_to_all_of_them_page_by_page(client, demo_db, monkeypatch):
    """The board's per-unit table shows its first units (the most overdue first) and a link to the units'
    page, which shows every unit page by page; a unit's name opens the board for that unit."""
    import re

    from tests.conftest import login

    monkeypatch.setattr(board, "UNIT_ROWS", 1)
    monkeypatch.setattr(board, "UNIT_PAGE", 1)
    later = clock.now() + timedelta(days=100)
    with clock.travel(later):
        sweep(demo_db, now=later)
    login(client, "supervisor")
    with clock.travel(later):
        with demo_db.reading() as s:
            expected = _expected_units(s, board.BoardFilter(viewer=user(s, "supervisor")), clock.today())
        assert len(expected) >= 2, "the demo has overdue deadlines in several units"
        html = client.get("/supervision/").get_data(as_text=True)
        table = html[html.index("按单位"):html.index("按环节")]
        assert expected[0][1] in table and expected[1][1] not in table
        link = re.search(r'href="(/supervision/units[^"]*)"', table)
        assert link is not None
        seen, url = [], link.group(1).replace("&amp;", "&")
        while url:
            page = client.get(url).get_data(as_text=True)
            rows = re.findall(r'<td data-label="单位"><a href="/supervision/\?unit=(\d+)">([^<]+)</a></td>'
                              r'<td data-label="超期"[^>]*>(\d+)</td><td data-label="即将到期">(\d+)</td>', page)
            seen += [(int(u), name, int(late), int(soon)) for u, name, late, soon in rows]
            nxt = re.search(r'rel="next" href="([^"]+)"', page)
            url = nxt.group(1).replace("&amp;", "&") if nxt else None
            assert len(seen) <= len(expected)
        assert seen == [r for r in expected if r[0]]
        unit = client.get(f"/supervision/?unit={expected[0][0]}").get_data(as_text=True)
        assert f'<input type="hidden" name="unit" value="{expected[0][0]}">' in unit  # the unit filter shows it
        assert f'<input name="unit_name" value="{expected[0][1]}"' in unit


def test_the_migration_fills_the_per_unit_rows_and_every_units_rows_from_the_summary_rows(demo_db):
    """A database upgraded with deadlines already open gets the rows the hook would have written."""
    from engine import migrations

    with demo_db.transaction() as s:  # flagged deadlines beside open ones
        rows = s.scalars(select(Deadline).where(Deadline.status == "open").order_by(Deadline.id)).all()
        for row in rows[::2]:
            row.status = "overdue"
    with demo_db.reading() as s:
        before = (tally.stored_units(s), tally.stored_all_units(s))
        assert before[0] and any(v[0] for v in before[0].values()) and any(v[1] for v in before[0].values())
    demo_db.engine.dispose()
    migrations.downgrade(demo_db.engine, "c13e7a1f0b42")
    migrations.upgrade(demo_db.engine)
    with demo_db.reading() as s:
        assert (tally.stored_units(s), tally.stored_all_units(s)) == before
        assert tally.stored_units(s) == tally.recount_units(tally.recount(s))
