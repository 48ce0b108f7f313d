"""(c) what the pages read, at 1k against 100k items: the inboxes, the item list, the public replies and the
supervisors' board, with what their filter forms read (the public list's years and units, the unit filter's
choices of the item list, the board and the promises board).

Each query is the engine function a page calls, run on a database filled by `bench.bulk` and timed as
the median of several runs in one session (compiled SQL warm, as in a running server), the two databases' runs
in turn so that a change of the machine's speed meanwhile weighs on both sides alike.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from bench import bulk
from bench.measure import paired_median_ms
from engine.deadlines import board
from engine.items import disclosure, queries
from engine.people import unit_search
from engine.models import Unit


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


def _pages(session, rows: dict[str, int] | None = None):
    """(name, function returning the rows shown) for each page measured.

    `rows`: for the inboxes, the 2026 handling list's page 2 and the unit suggestions, how many rows to show.
    A small office has fewer open tasks than one page (12 at 1k items), 64 items handling (a page 2 of 14),
    and one unit whose name contains the text typed (20 at 100k, with the 片区 units); the large one is then
    measured on a page of the same length, so that both sides show the same rows and the ratio is what the
    database size costs, not what a longer page costs.
    """
    users = bulk.query_users(session)
    unit = tuple(session.execute(select(Unit.id, Unit.name).order_by(Unit.id).limit(1)).one())
    typed = unit[1][1:3]  # two characters of a name, as one starts typing: matches many units
    rows = rows or {}

    def per_page(name):
        return rows.get(name, queries.INBOX_PAGE)

    office, handler = users["office"], users["handler"]
    year_handling = queries.ItemFilter(year=bulk.CURRENT, status="handling")

    def inbox(who, name, after=None):
        return queries.inbox_page(session, who, after, per_page=per_page(name)).rows

    def second(page_of):
        """The cursor of page 2 (read once, outside the timing: the page link carries it)."""
        nxt = page_of(None).next
        return str(nxt) if nxt is not None else None

    office_p2 = second(lambda a: queries.inbox_page(session, office, a, per_page=per_page(OFFICE)))
    list_p2 = second(lambda a: queries.list_page(session, office, queries.ItemFilter(), a)[0])
    handling_p2 = second(lambda a: queries.list_page(session, office, year_handling, a)[0])
    public_p2 = second(lambda a: disclosure.search_page(session, disclosure.PublicFilter(), a)[0])
    board_p2 = board.board_page(session, board.BoardFilter()).next
    units_p2 = board.unit_page(session, board.BoardFilter()).next  # pages of the board's 10 units: 1k has 20
    return [
        ("inbox, unit handler", lambda: inbox(handler, "inbox, unit handler")),
        (OFFICE, lambda: inbox(office, OFFICE)),
        ("inbox, office p.2", lambda: inbox(office, OFFICE, office_p2)),
        ("item list, office, all years p.1", lambda: queries.list_page(session, office, queries.ItemFilter())[0].rows),
        ("item list, office, all years p.2", lambda: queries.list_page(
            session, office, queries.ItemFilter(), list_p2)[0].rows),
        ("item list, office, 2026 handling p.1", lambda: queries.list_page(session, office, year_handling)[0].rows),
        (HANDLING_P2, lambda: queries.list_page(session, office, year_handling, handling_p2,
                                                per_page=rows.get(HANDLING_P2))[0].rows),
        ("item list, unit handler p.1", lambda: queries.list_page(session, handler, queries.ItemFilter())[0].rows),
        ("public replies p.1", lambda: disclosure.search_page(session, disclosure.PublicFilter())[0].rows
                                       + disclosure.public_years(session)),  # the page with its search form
        ("public replies p.2", lambda: disclosure.search_page(session, disclosure.PublicFilter(), public_p2)[0].rows),
        ("supervisors' board p.1", lambda: board.board_page(session, board.BoardFilter()).rows),
        ("supervisors' board p.2", lambda: board.board_page(session, board.BoardFilter(), after=board_p2).rows),
        ("supervisors' board, both summary tables", lambda: (board.summary(session, board.BoardFilter(), "unit")
                                                             + board.summary(session, board.BoardFilter(), "step"))),
        ("supervisors' board, units p.2", lambda: board.unit_page(session, board.BoardFilter(), after=units_p2).rows),
        (UNIT_CHOICES, lambda: unit_choices(session, unit, rows.get(UNIT_CHOICES, unit_search.SUGGESTIONS))),
        (TYPE_AHEAD, lambda: unit_search.suggest(session, typed, disclosure.HAS_PUBLISHED_REPLIES,
                                                 rows.get(TYPE_AHEAD, unit_search.SUGGESTIONS))),
    ]


UNIT_CHOICES = "unit filter (item list, boards)"
TYPE_AHEAD = "unit type-ahead, public (name typed)"


def unit_choices(session, unit: tuple[int, str], suggestions: int = unit_search.SUGGESTIONS):
    """What the item list, the board and the promises board read for their unit filter: the unit of a
    `unit=<id>` link, and the type-ahead's suggestions for a name typed (the unit's own: the exact match
    first, then every unit whose name contains it, as the bench's 片区 units do)."""
    return [unit_search.choose(session, unit[0], None)] + unit_search.suggest(session, unit[1], limit=suggestions)


OFFICE = "inbox, office (all office tasks)"
HANDLING_P2 = "item list, office, 2026 handling p.2"  # 64 items at 1k: a page 2 of 14
INBOXES = ("inbox, unit handler", OFFICE, "inbox, office p.2")


def compare(small_db, large_db, repeat: int = 15) -> list[PageFigure]:
    """Each page timed on both databases in turn, run for run (bench.measure.paired_median_ms)."""
    with small_db.reading() as small_s, large_db.reading() as large_s:
        small_pages = _pages(small_s)
        small_rows = {name: len(page()) for name, page in small_pages}
        same_rows = {n: max(1, small_rows[n]) for n in INBOXES if small_rows[n] < queries.INBOX_PAGE}
        if small_rows[HANDLING_P2] < queries.PAGE_SIZE:  # the large side's page 2 as long as the small side's
            same_rows[HANDLING_P2] = max(1, small_rows[HANDLING_P2])
        # The suggestions as many as the small side's (one unit contains the text among 20, twenty among 2,000).
        if small_rows[TYPE_AHEAD] < unit_search.SUGGESTIONS:
            same_rows[TYPE_AHEAD] = max(1, small_rows[TYPE_AHEAD])
        if small_rows[UNIT_CHOICES] - 1 < unit_search.SUGGESTIONS:  # the unit of the link, then the suggestions
            same_rows[UNIT_CHOICES] = max(1, small_rows[UNIT_CHOICES] - 1)
        large_pages = dict(_pages(large_s, same_rows))
        figures = []
        for name, page in small_pages:
            small_ms, large_ms = paired_median_ms(page, large_pages[name], repeat)
            figures.append(PageFigure(name, small_ms, large_ms, small_rows[name], len(large_pages[name]())))
            small_s.expunge_all()
            large_s.expunge_all()
        return figures
