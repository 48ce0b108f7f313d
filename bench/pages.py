"""(c) what the pages read, at 1k against 100k items: the inbox, the item list and the supervisors' board.

Each query is the engine function a page calls, run on a database filled by `bench.bulk` and timed as
the median of several runs in one session (compiled SQL warm, as in a running server).
"""
from __future__ import annotations

from dataclasses import dataclass

from bench import bulk
from bench.measure import median_ms
from engine.items import queries


@dataclass
class PageFigure:
    name: str
    small_ms: float
    large_ms: float
    small_rows: int
    large_rows: int

    @property
    def ratio(self) -> float:
        return self.large_ms / self.small_ms


def _pages(session):
    """(name, function returning the rows shown) for each page measured."""
    users = bulk.query_users(session)
    pages = [
        ("inbox, unit handler", lambda: queries.inbox(session, users["handler"])),
        ("inbox, office (all office tasks)", lambda: queries.inbox(session, users["office"])),
        ("item list, office, all years p.1", lambda: queries.list_items(session, users["office"], queries.ItemFilter())[0]),
        ("item list, office, 2026 handling p.1", lambda: queries.list_items(
            session, users["office"], queries.ItemFilter(year=bulk.CURRENT, status="handling"))[0]),
        ("item list, unit handler p.1", lambda: queries.list_items(session, users["handler"], queries.ItemFilter())[0]),
    ]
    try:
        from engine.deadlines.board import BoardFilter, board
    except ImportError:  # the board arrives with the supervision module
        return pages
    return pages + [("supervisors' board", lambda: board(session, BoardFilter()))]


def measure(db, repeat: int) -> dict[str, tuple[float, int]]:
    out = {}
    with db.reading() as s:
        for name, page in _pages(s):
            out[name] = (median_ms(page, repeat), len(page()))
            s.expunge_all()
    return out


def compare(small_db, large_db, repeat: int = 15) -> list[PageFigure]:
    small, large = measure(small_db, repeat), measure(large_db, repeat)
    return [PageFigure(name, small[name][0], large[name][0], small[name][1], large[name][1]) for name in small]
