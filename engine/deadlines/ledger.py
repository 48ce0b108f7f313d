"""The deadline ledger (期限台账): every deadline of an item, per owner and round, with its state.

A deadline opens when its `overdue` (or `expired`) timer starts waiting, or fires at once because its date
had already passed when its step opened (then it is recorded with that real date and flagged at once). It is
met when its event happens: the activity it watches completes for its owner (the first consultation meets
the first-contact deadline whatever follows). A met deadline never fires again: timers of later loops and
rounds that find it closed stay silent. The owner is the unit (or person) who must act, taken from the lane
of the timer: the lead unit, each co-unit for its own opinion, each 分办 unit for its own part, the proposer for
the rating (of a 分办 part's reply: the proposer, recorded under that part's unit).

Timers only schedule; the rows here are the truth that the item page, the board, the diagram, the
notices and the statistics read.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import chain

from sqlalchemy import bindparam, event, insert, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from engine import clock, writes
from engine.direct import Sent, direct
from engine.i18n import N_, Msg
from engine.events import outbox
from engine.deadlines.calendar import WorkCalendar, not_loaded
from engine.deadlines.forecast import FROM_ASSIGNMENT, Forecast
from engine.models import AuditEvent, Deadline, Item
from engine.people.authz import LANES
from engine.people.notifications import notify, role_users
from engine.deadlines.expressions import due_day
from engine.deadlines.timers import meta
from engine.deadlines import tally  # counts every flushed change of deadline rows into the board's summary rows

DEADLINE_KINDS = ("overdue", "expired")  # timers that mark the deadline itself (reminders only remind)
LABELS = {"return_window": N_("签收/申请退回"), "first_contact": N_("首次联系代表委员"), "co_opinion": N_("协办意见"),
          "reply": N_("答复"), "rating": N_("评价"), "disclosure": N_("答复公开"),
          "sep_reply": N_("分办答复"), "sep_rating": N_("评价分办答复")}
DUE_SOON_DAYS = 7
OPEN = tally.OPEN
CLOSED = ("met", "met_late", "expired", "waived", "void")
# Deadlines DOMAIN.md sets once per item, from assignment: once met, neither a later consultation loop nor a
# re-handling round opens them again, whatever date their timers carry by then (a recompute may move it).
ONCE_PER_ITEM = frozenset({"first_contact", "co_opinion"})


def _warning(cal: WorkCalendar, start: date, due: date) -> str | None:
    missing = [y for y in range(start.year, due.year + 1) if not cal.covers(y)]
    if not missing:
        return None
    return not_loaded(missing)


# `_warning`'s text, read back: the years whose holidays a deadline was counted without.
_NOT_LOADED = re.compile(r"^(\d{4}(?:、\d{4})*)年节假日数据未载入")


def settle_loaded_warnings(session: Session, cal: WorkCalendar, year: int) -> int:
    """After `year`'s holidays are loaded: a deadline that is not counted again (flagged, met or closed: it keeps
    the day it was counted on) says it was counted before they were loaded, no longer that they are missing.
    Open deadlines are counted again by `sync` and lose the warning there. Returns how many rows changed."""
    found = session.execute(select(_TABLE.c.id, _TABLE.c.warning).where(
        _TABLE.c.status != "open", _TABLE.c.due_date >= date(year, 1, 1),
        _TABLE.c.warning.like("%年节假日数据未载入%"))).all()
    changed = []
    for row_id, text in found:
        named = _NOT_LOADED.match(text or "")
        if named is None:
            continue
        years = named.group(1).split("、")
        missing = [y for y in years if not cal.covers(int(y))]
        if len(missing) == len(years):
            continue
        warning = (not_loaded(missing) if missing else N_("按周末计算（%(years)s年节假日数据载入前）", years="、".join(years)))
        changed.append({"w_id": row_id, "v_warning": str(warning)[:300], "v_warning_message": warning.to_json()})
    if changed:
        session.connection().execute(_SET_WARNING, changed)
    return len(changed)


def round_of(key: str, data: dict) -> int:
    return 1 if key in ONCE_PER_ITEM else int(data.get("round", 1))


def owners(task, units, people) -> list[tuple[int | None, int | None]]:
    """(unit id, person id) of whoever must act on the deadline of this timer (its lane says who)."""
    lane = LANES.get(getattr(task.task_spec, "lane", None) or "")
    if lane is not None and lane.unit_var:
        code = task.data.get(lane.unit_var)
        if code:
            return [(units.get(code), None)]
        if lane.unit_var == "co_unit":  # the multi-instance's timer watches every co-unit's opinion
            return [(units.get(c), None) for c in dict.fromkeys(task.data.get("co_units") or [])]
        return [(units.get(task.data.get("lead_unit") or ""), None)]
    if lane is not None and lane.person_var:  # inside a 分办 part the person acts on that unit's reply
        return [(part_unit(task, units), people.get(task.data.get(lane.person_var) or ""))]
    return [(None, None)]


def part_unit(task, units) -> int | None:
    """The 分办 unit whose part a task of a personal lane (the proposer's rating) belongs to, else None."""
    return units.get(task.data.get("sep_unit") or "")


def completion_owner(task, units) -> int | None:
    """The unit a completed activity was done by (None when its lane is not a unit's)."""
    lane = LANES.get(getattr(task.task_spec, "lane", None) or "")
    if lane is not None and lane.unit_var:
        return units.get(task.data.get(lane.unit_var) or "")
    return part_unit(task, units)


class Row:
    """A deadline row as the ledger reads and changes it: its columns as plain attributes, and what they were
    when read (`was`; None for a new row). The ledger writes the differences itself with Core statements and
    counts them into the board's summary rows (tally.count): as ORM objects, the rows cost a completion more
    in the ORM's bookkeeping and flush than in their statements."""

    def __init__(self, values: dict, stored: bool):
        self.__dict__.update(values)
        self.was = dict(values) if stored else None

    def values(self) -> dict:
        return {c: getattr(self, c) for c in _COLUMNS}


@dataclass
class Live:
    """A fired timer whose deadline is still open: it is recorded on the timeline and announced."""

    task: object
    kind: str
    row: Row


_TABLE = Deadline.__table__
_COLUMNS = tuple(c.name for c in _TABLE.c)
# Built once: the item's rows, new rows (executemany), and a changed row's columns (all but its id: one
# statement for every change, executemany).
_ITEM_DEADLINES = direct(select(_TABLE).where(_TABLE.c.item_id == bindparam("item_id")).order_by(_TABLE.c.id))
_INSERT = writes.later(insert(_TABLE))
_UPDATE = writes.later(update(_TABLE)).where(_TABLE.c.id == bindparam("w_id")).values(
    {c: bindparam(f"v_{c}", type_=_TABLE.c[c].type) for c in _COLUMNS if c != "id"})
_SET_WARNING = writes.later(update(_TABLE)).where(_TABLE.c.id == bindparam("w_id")).values(
    {c: bindparam(f"v_{c}", type_=_TABLE.c[c].type) for c in ("warning", "warning_message")})


def _close(row: Row, now: datetime) -> None:
    row.met_at = now
    row.status = "met_late" if row.status == "overdue" else "met"


def _set_warning(row: Row, warning) -> None:
    """As Deadline's own `warning` validator keeps it: the text, and the catalog message for the reader's language."""
    row.warning_message = warning.to_json() if isinstance(warning, Msg) else None
    row.warning = str(warning)[:300] if warning is not None else None


_FLUSHES = "banli_flushes"  # how many flushes the session has made (session.info)


@event.listens_for(Session, "after_flush")
def _count_flush(session: Session, _context) -> None:
    session.info[_FLUSHES] = session.info.get(_FLUSHES, 0) + 1


@dataclass
class Prefetched:
    """The item's deadlines as read ahead (`prefetch`), and the session's flushes then."""

    item_id: int
    sent: Sent
    flushes: int


def prefetch(session: Session, item_id: int) -> Prefetched:
    """Send the read of the item's deadlines ahead (engine.direct.send): on PostgreSQL its answer comes with the
    statement the command waits for next (the scan), one wait where there were two. The ledger uses it only if
    no flush has written anything since and no change of a deadline waits in the session (see `_read`): between
    the scan and the ledger, a command changes deadlines through the ORM only."""
    return Prefetched(item_id, session.connection().send(_ITEM_DEADLINES, {"item_id": item_id}),
                      session.info.get(_FLUSHES, 0))


def _read(session: Session, item: Item, prefetched: Prefetched | None = None) -> list[Row]:
    """The item's deadlines, after writing what the command changed in them through the ORM (a co-unit's part
    voided by its withdrawal): the ledger must find them as they are."""
    if any(isinstance(o, Deadline) for o in chain(session.new, session.dirty, session.deleted)):
        session.flush()
    if prefetched is not None and prefetched.item_id == item.id and prefetched.flushes == session.info.get(_FLUSHES, 0):
        found = prefetched.sent.rows()
    else:
        found = session.connection().execute(_ITEM_DEADLINES, {"item_id": item.id})
    return [Row(dict(r), True) for r in found.mappings()]


def _write(session: Session, rows: list[Row]) -> None:
    """Insert the new rows and update the changed ones, count both into the summary rows, and give an ORM
    object the command holds of a changed row (read for a form's window) its new values as committed."""
    delta: Counter = Counter()
    new, changed = [], []
    for row in rows:
        row.board_date = tally.board_date(row.status, row.due_date)
        after = tally.bucket(*(getattr(row, n) for n in tally.DIMENSIONS))
        current = row.values()
        if row.was is None:
            delta[after] += 1
            new.append({c: v for c, v in current.items() if c != "id"})
            continue
        differences = {c: v for c, v in current.items() if v != row.was[c]}
        if not differences:
            continue
        delta[tally.bucket(*(row.was[n] for n in tally.DIMENSIONS))] -= 1
        delta[after] += 1
        changed.append({"w_id": row.id, **{f"v_{c}": v for c, v in current.items() if c != "id"}})
        obj = session.identity_map.get(identity_key(Deadline, row.id))
        if obj is not None:
            writes.committed(obj, differences)
        row.was = current
    conn = session.connection()
    if new:
        conn.execute(_INSERT, new)
    if changed:
        conn.execute(_UPDATE, changed)
    tally.count(session, delta)


def sync(session: Session, item: Item, timers, completed, active: set[str], cal: WorkCalendar, units, people,
         moved_by: str | None = None, prefetched: Prefetched | None = None) -> tuple[list[Live], list[Row]]:
    """Open, move, flag and close the item's deadlines after an engine run; return the live fired timers and
    the item's deadlines as the run leaves them (stored rows as changed, and new ones), written.

    `timers` are (task, due instant, fired) for the waiting timers and those that fired in this run;
    `completed` the (activity, unit id) pairs completed in this run; `active` the activities still running.
    `moved_by` says why a due date moved: "extension" marks the row extended; anything else (a migration,
    a calendar recompute) moves it and keeps the flag as it was. A `Forecast` among the timers stands for a
    deadline that runs from assignment before its own timer waits (engine.deadlines.forecast): it opens,
    moves and flags the row as that timer would, for the item's current lead unit only. `prefetched`: the read
    sent ahead (`prefetch`).
    """
    now, today = clock.now(), clock.today()
    rows = _read(session, item, prefetched)
    for activity, unit in completed:  # the event happened: its deadlines are met before timers are read
        for row in rows:
            if row.status in OPEN and row.attached_to == activity and (unit is None or row.unit_id in (None, unit)):
                _close(row, now)

    def find(key, rnd, owner, day) -> Row | None:
        same = [r for r in rows if (r.key, r.round, r.unit_id, r.owner_user_id) == (key, rnd, *owner)]
        # A void row (a co-unit's part withdrawn) is never taken up again: a new assignment owes it anew.
        return next((r for r in same if r.status in OPEN), None) or \
            next((r for r in same if r.status != "void"
                  and (key in ONCE_PER_ITEM or day in (r.due_date, r.original_due_date))), None)

    live: list[Live] = []
    seen: set[int] = set()
    deadline_timers = [t for t in timers if meta(t[0].task_spec)["kind"] in DEADLINE_KINDS]
    reminders = [t for t in timers if meta(t[0].task_spec)["kind"] == "reminder"]
    for task, due, fired in deadline_timers:
        m = meta(task.task_spec)
        if not m["deadline"]:
            continue
        key, rnd, day = m["deadline"], round_of(m["deadline"], task.data), due_day(due.isoformat())
        for owner in owners(task, units, people):
            if isinstance(task, Forecast) and owner[0] != item.lead_unit_id:
                continue  # returned: the deadline is no longer this unit's (its row turns void below)
            row = find(key, rnd, owner, day)
            if row is None:
                row = Row(dict(id=None, item_id=item.id, key=key, round=rnd, step=LABELS.get(key, key),
                                    unit_id=owner[0], owner_user_id=owner[1], due_date=day, original_due_date=day,
                                    opened_at=now, attached_to=m["attached_to"], status="open", extended=False,
                                    overdue_at=None, met_at=None, board_date=None, **_grouping(item)), False)
                _set_warning(row, _warning(cal, today, day))
                rows.append(row)
            elif row.status in OPEN and row.due_date != day:
                _move(session, item, row, day, cal, today, moved_by)
            elif row.status == "open" and moved_by is not None:
                # Recomputed and still on its day: what it warned of may be loaded now (a flagged row keeps
                # the date it was counted on without them, and its warning with it).
                _set_warning(row, _warning(cal, today, day))
            if row.status in OPEN:
                seen.add(id(row))
            if fired and row.status in OPEN and row.overdue_at is None:
                row.status, row.overdue_at = ("expired" if m["kind"] == "expired" else "overdue"), now
                live.append(Live(task, m["kind"], row))
                if row.status == "overdue":  # to the partners' outbox, in this same transaction
                    outbox.record(session, "deadline.overdue", item, {
                        "deadline": row.key, "step": row.step, "round": row.round,
                        "due_date": row.due_date.isoformat()})
    for task, _due, fired in reminders:
        m = meta(task.task_spec)
        if not fired or not m["deadline"]:
            continue
        rnd = round_of(m["deadline"], task.data)
        for owner in owners(task, units, people):
            row = next((r for r in rows if (r.key, r.round, r.unit_id, r.owner_user_id) == (m["deadline"], rnd, *owner)
                        and r.status == "open"), None)
            if row is not None:
                live.append(Live(task, "reminder", row))
    for row in rows:  # a step that ended without a completion we saw (e.g. a migration): its deadline is over
        if row.status in OPEN and id(row) not in seen and row.attached_to not in active:
            if row.key in FROM_ASSIGNMENT and row.unit_id != item.lead_unit_id:
                row.status = "void"  # the unit gave the item back before its step began: nothing to meet
            else:
                _close(row, now)
    grouping = _grouping(item)
    for row in rows:  # the board groups open deadlines as their item is now (交办 may mark it key)
        if row.status in OPEN and any(getattr(row, k) != v for k, v in grouping.items()):
            for k, v in grouping.items():
                setattr(row, k, v)
    _write(session, rows)
    return live, rows


def _grouping(item: Item) -> dict:
    return {"item_type": item.item_type, "is_key": bool(item.is_key), "leader_id": item.leader_id}


def _move(session: Session, item: Item, row: Row, day: date, cal: WorkCalendar, today: date,
          moved_by: str | None) -> None:
    """A new due date for an open deadline: an approved extension marks it; a recompute keeps the flag."""
    old = row.due_date
    row.due_date = day
    _set_warning(row, _warning(cal, today, day))
    if moved_by == "extension":
        row.extended = True
        return
    if not row.extended:
        row.original_due_date = day
    session.add(AuditEvent(item_id=item.id, action="deadline_recomputed", step=row.key,
                           title=N_("%(step)s期限重算：%(old)s → %(new)s", step=row.step or "", old=old.isoformat(),
                                    new=day.isoformat()),
                           data={"deadline": row.key, "round": row.round, "from": old.isoformat(),
                                 "to": day.isoformat(), "reason": moved_by or "recompute"}))
    if row.status == "overdue" and day >= today:
        row.status, row.overdue_at = "open", None  # a later date un-flags it; it may fire again then


def state(row, today: date | None = None) -> str:
    """on_time, due_soon, overdue, met, met_late, expired, waived or void: what every page shows."""
    if row.status in CLOSED:
        return row.status
    return "overdue" if row.status == "overdue" else date_state(row.due_date, today)


def date_state(due: date, today: date | None = None) -> str:
    """on_time, due_soon or overdue: an open deadline's state by its date alone (the ledger's flag aside)."""
    today = today or clock.today()
    if due < today:
        return "overdue"
    return "due_soon" if due <= today + timedelta(days=DUE_SOON_DAYS) else "on_time"


def coalesced(live: list[Live]) -> list[Live]:
    """After downtime several timers of one deadline fire together: keep the most urgent per deadline."""
    rank = {"expired": 3, "overdue": 2, "reminder": 1}
    best: dict[int, Live] = {}
    for entry in live:
        key = id(entry.row)
        if key not in best or rank.get(entry.kind, 0) > rank.get(best[key].kind, 0):
            best[key] = entry
    return list(best.values())


def announce(session: Session, item: Item, live: list[Live], recipients) -> None:
    """Tell people about the deadlines whose timers fired: reminders to the owner, overdue to the office too.

    `recipients(activity_id, unit_id)` gives the users who may act on the open tasks of that activity for
    that owner unit (None: any).
    """
    for entry in coalesced(live):
        row = entry.row
        label = Msg(LABELS.get(row.key, row.key))
        # Each co-unit (and each 分办 unit) has its own row of the same deadline and date: its own notice.
        own = row.key == "co_opinion" or (row.unit_id is not None and row.unit_id != item.lead_unit_id)
        event = f"{item.id}:{row.key}:{row.round}:{row.due_date}" + (f":u{row.unit_id}" if own else "")
        link = f"/items/{item.id}"
        if entry.kind == "reminder":
            notify(session, recipients(row.attached_to, row.unit_id), item, "reminder",
                   N_("催办提醒：%(deadline)s将于 %(date)s 到期", deadline=label, date=row.due_date.isoformat()),
                   f"remind:{event}", link=link)
        elif entry.kind == "overdue":
            notify(session, recipients(row.attached_to, row.unit_id) + role_users(session, "office"), item, "overdue",
                   N_("已超期：%(deadline)s期限为 %(date)s", deadline=label, date=row.due_date.isoformat()),
                   f"overdue:{event}", link=link)
        elif entry.kind == "expired":
            notify(session, role_users(session, "office"), item, "overdue",
                   N_("评价期满未表态"), f"expired:{event}", link=link)


def due_by_activity(rows: list[Row]) -> dict[tuple[str, int | None], date]:
    """The earliest open due date per (watched activity, owner unit): what task rows and the diagram show."""
    out: dict[tuple[str, int | None], date] = {}
    for row in rows:
        if row.status in OPEN and row.attached_to:
            k = (row.attached_to, row.unit_id)
            out[k] = min(out.get(k, row.due_date), row.due_date)
    return out


# Steps DOMAIN.md gives no deadline of their own (责任落实: the pledge). Their tasks show none, even inside a
# subprocess another step's deadline watches: a 分办 part's reply deadline is on the whole part, its pledge
# included, where the lead unit's pledge comes before 办理与答复 and shows none.
UNDATED_FORMS = frozenset({"pledge"})


def task_due(due: dict[tuple[str, int | None], date], task, activities: set[str], form_key: str | None,
             units, people) -> date | None:
    """The date a ready task shows (`due` from `due_by_activity`; `activities` the task's own and those around
    it): the earliest open deadline of its own step, owed by whoever acts on the task, as `owners` names a
    timer's owner. The office's task on a 分办 part carries the part's unit for the inbox, but the part's reply
    deadline is that unit's, not the office's."""
    if form_key in UNDATED_FORMS:
        activities = {task.task_spec.bpmn_id or task.task_spec.name}
    mine = {unit for unit, _person in owners(task, units, people)}
    days = [d for (activity, unit), d in due.items() if activity in activities and unit in mine]
    return min(days) if days else None


# --- the reply deadline --------------------------------------------------------------------------------

PART_KEY = "sep_reply"  # a 分办 unit's own reply deadline


def open_reply_deadline(session: Session, item: Item) -> Deadline | None:
    """The item's current reply deadline (its latest round's), open or flagged overdue."""
    return session.scalars(select(Deadline).where(Deadline.item_id == item.id, Deadline.key == "reply",
                                                  Deadline.status.in_(("open", "overdue")))
                           .order_by(Deadline.id.desc()).limit(1)).first()


def open_part_deadline(session: Session, item: Item, unit_id: int) -> Deadline | None:
    """The 分办 unit's open reply deadline (its latest round's)."""
    return session.scalars(select(Deadline).where(Deadline.item_id == item.id, Deadline.key == PART_KEY,
                                                  Deadline.unit_id == unit_id,
                                                  Deadline.status.in_(("open", "overdue")))
                           .order_by(Deadline.id.desc()).limit(1)).first()


@dataclass(frozen=True)
class ReplyDeadline:
    due: date  # effective: after approved extensions
    original: date
    extended: bool
    warnings: tuple[str, ...] = ()


def reply_deadlines(session: Session, items: list[Item], current_round: bool = False) -> dict[int, ReplyDeadline]:
    """答复期限 of each assigned item (first round), read from its ledger row: what the statistics and the
    portal show. With `current_round`, the deadline of the item's latest round (a re-handled item's new
    reply date), as the proposer needs it. The row exists from assignment (engine.deadlines.forecast)."""
    ids = [i.id for i in items if i.assigned_at is not None]
    out: dict[int, ReplyDeadline] = {}
    for chunk in (ids[k:k + 500] for k in range(0, len(ids), 500)):
        rounds = () if current_round else (Deadline.round == 1,)
        for row in session.scalars(select(Deadline).where(Deadline.item_id.in_(chunk), Deadline.key == "reply",
                                                          Deadline.status != "void", *rounds)
                                   .order_by(Deadline.round, Deadline.id)):
            out[row.item_id] = ReplyDeadline(row.due_date, row.original_due_date, row.extended,
                                             (row.warning,) if row.warning else ())
    return out
