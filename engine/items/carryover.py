"""结转: at year end the office carries unfinished items and open promises into the new year.

What is carried keeps its original year and number; a CarryOver row records that it was carried into the
new year, so the new year's figures list it apart (`carried_over`) and the old year's still count it
where it belongs. The year-end task shows in the office's inbox from December until it is done.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from engine.i18n import N_
from engine import clock
from engine.deadlines.ledger import date_state
from engine.models import AuditEvent, CarryOver, Item, Promise, User
from engine.people.authz import NotAllowed
from engine.workflow.forms import FieldError, FormInvalid

FINISHED = ("closed", "withdrawn", "merged")


@dataclass
class Pending:
    year: int  # the year being closed
    items: list[Item]
    promises: list[Promise]

    @property
    def empty(self) -> bool:
        return not self.items and not self.promises


def _in_year(year: int):
    """Items of `year` and items carried into it."""
    return or_(Item.year == year, Item.id.in_(select(CarryOver.item_id).where(CarryOver.year == year,
                                                                            CarryOver.kind == "item")))


def pending(session: Session, year: int) -> Pending:
    """What would be carried from `year` into `year + 1` and has not been yet."""
    done_items = select(CarryOver.item_id).where(CarryOver.year == year + 1, CarryOver.kind == "item")
    done_promises = select(CarryOver.promise_id).where(CarryOver.year == year + 1, CarryOver.kind == "promise")
    items = session.scalars(select(Item).where(_in_year(year), Item.status.not_in(FINISHED),
                                               Item.id.not_in(done_items)).order_by(Item.item_type, Item.number)).all()
    promises = session.scalars(select(Promise).join(Item, Item.id == Promise.item_id)
                               .where(_in_year(year), Promise.status == "open", Promise.id.not_in(done_promises))
                               .order_by(Promise.due_date, Promise.id)).all()
    return Pending(year, list(items), list(promises))


def carry_over(session: Session, user: User, year: int) -> Pending:
    """Carry what is unfinished in `year` into `year + 1`; returns what was carried."""
    if user.role != "office":
        raise NotAllowed(N_("只有区府办可以结转"))
    if year >= clock.today().year + 1:
        raise FormInvalid([FieldError("year", N_("结转年度"), "year_order")])
    todo = pending(session, year)
    for item in todo.items:
        session.add(CarryOver(year=year + 1, kind="item", item_id=item.id, by_id=user.id))
        session.add(AuditEvent(item_id=item.id, actor_id=user.id, action="carried_over",
                               title=N_("结转至%(year)s年度", year=year + 1)))
    for promise in todo.promises:
        session.add(CarryOver(year=year + 1, kind="promise", item_id=promise.item_id, promise_id=promise.id,
                              by_id=user.id))
        session.add(AuditEvent(item_id=promise.item_id, actor_id=user.id, action="carried_over",
                               title=N_("承诺事项结转至%(year)s年度：%(promise)s", year=year + 1, promise=promise.text[:40])))
    return todo


def year_end_due(session: Session) -> list[tuple[int, str]]:
    """Years whose carry-over waits for the office: last year (and earlier) with something left, and the
    current year from December on; each with the state of its deadline, the year's last day (the inbox tags
    it as every task's)."""
    today = clock.today()
    last = today.year if today.month == 12 else today.year - 1
    first = session.scalar(select(Item.year).order_by(Item.year).limit(1))
    if first is None:
        return []
    return [(y, date_state(date(y, 12, 31))) for y in range(max(first, last - 2), last + 1)
            if not pending(session, y).empty]


def carried_counts(session: Session, year: int) -> dict[str, int]:
    """What was carried into `year`: items and promises."""
    rows = session.scalars(select(CarryOver.kind).where(CarryOver.year == year)).all()
    return {"items": rows.count("item"), "promises": rows.count("promise")}


def carried_into(session: Session, year: int) -> list[tuple[CarryOver, Item, Promise | None]]:
    return list(session.execute(select(CarryOver, Item, Promise).join(Item, Item.id == CarryOver.item_id)
                                .outerjoin(Promise, Promise.id == CarryOver.promise_id)
                                .where(CarryOver.year == year).order_by(CarryOver.kind, Item.number)).all())
