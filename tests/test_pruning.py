"""The nightly maintenance deletes the board's summary rows at zero, and nothing the board shows changes.

Before: every bucket a closed deadline had been counted in stayed as a row at zero, a few dozen per closed
item (the write path never deletes, engine.deadlines.tally); now engine.scheduler.nightly prunes them.
"""
from __future__ import annotations

from sqlalchemy import func, or_, select

from engine.deadlines import board, pruning, tally
from engine.models import Deadline, DeadlineTally, DeadlineUnitTally
from engine.scheduler import nightly


def _zero_rows(s) -> int:
    t, u = DeadlineTally, DeadlineUnitTally
    return (s.scalar(select(func.count()).select_from(t).where(t.n == 0))
            + s.scalar(select(func.count()).select_from(u).where(u.minus_flagged == 0, u.dated == 0)))


def _shown(s):
    """What the board reads from the summary rows: its per-unit and per-step tables and the stored counts."""
    f = board.BoardFilter()
    return (tally.stored(s), tally.stored_all_units(s), tally.stored_units(s),
            board.summary(s, f, "step"), board.summary(s, f, "unit"))


def _close(s, rows) -> None:
    for row in rows:
        row.status = "met"


def test_pruning_deletes_the_rows_at_zero_and_the_board_reads_the_same(demo_db):
    with demo_db.transaction() as s:
        open_rows = s.scalars(select(Deadline).where(Deadline.status.in_(tally.OPEN)).order_by(Deadline.id)).all()
        assert len(open_rows) > 4
        _close(s, open_rows[::2])  # half the open deadlines met: their buckets fall, some to zero
    with demo_db.reading() as s:
        zeros, shown = _zero_rows(s), _shown(s)
        assert zeros > 0
        assert tally.stored(s) == tally.recount(s)
    nightly(demo_db)
    with demo_db.reading() as s:
        assert _zero_rows(s) == 0
        assert _shown(s) == shown
        assert tally.stored(s) == tally.recount(s)
        assert tally.stored_units(s) == tally.recount_units(tally.recount(s))


def test_a_pruned_bucket_counts_again_when_a_deadline_reopens_in_it(demo_db):
    with demo_db.transaction() as s:
        row = s.scalars(select(Deadline).where(Deadline.status == "open").order_by(Deadline.id)).first()
        same = s.scalars(select(Deadline).where(
            Deadline.status.in_(tally.OPEN), Deadline.due_date == row.due_date, Deadline.unit_id == row.unit_id,
            Deadline.key == row.key)).all()
        _close(s, same)  # the bucket of `row` (and its per-unit rows' dated count) falls to zero
        reopened = row.id
    assert pruning.prune_tallies(demo_db, batch=3) > 0  # several batches
    with demo_db.reading() as s:
        assert _zero_rows(s) == 0
    with demo_db.transaction() as s:
        s.get(Deadline, reopened).status = "open"
    with demo_db.reading() as s:
        assert tally.stored(s) == tally.recount(s)
        assert tally.stored_all_units(s) == tally.recount_all_units(tally.recount(s))
        assert tally.stored_units(s) == tally.recount_units(tally.recount(s))
        t = DeadlineUnitTally
        assert s.scalar(select(func.count()).select_from(t).where(
            t.unit_id == (s.get(Deadline, reopened).unit_id or 0), or_(t.dated > 0, t.minus_flagged < 0))) > 0


def test_the_maintenance_runs_once_a_night_from_three_local_time():
    from datetime import date, datetime, timezone

    from engine.scheduler import nightly_due

    def utc(h, d=1):  # Asia/Shanghai is UTC+8
        return datetime(2026, 12, d, h, tzinfo=timezone.utc)

    assert nightly_due(None, utc(18)) is None  # 02:00 on the 2nd in Shanghai: not yet
    assert nightly_due(None, utc(19)) == date(2026, 12, 2)  # 03:00
    assert nightly_due(date(2026, 12, 2), utc(23)) is None  # done that day
    assert nightly_due(date(2026, 12, 2), utc(19, 2)) == date(2026, 12, 3)  # the next night
