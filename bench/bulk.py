"""Many items fast: bulk inserts of the rows the pages read, with realistic values, not through the engine.

The shape of a province that has run the system for seven years: items spread over 2020-2026, the past
years closed, the current year at every step. Units grow with the item count (about 50 items per unit
over the years), so each unit's inbox holds about as many tasks at 1k items as at 100k: what changes is
the size of the tables around it, which is what the scaling figure is about. The office is one role
that sees every office task, so its inbox does grow with the province.
"""
from __future__ import annotations

import gc
import random
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session

from engine import clock
from bench.scenario import SUBJECTS, PLACES, create_org
from engine.deadlines import tally
from engine.models import (Assignment, Deadline, Disclosure, Item, ProcessDefinition, ProcessInstance, TaskRow, Unit,
                           User)

CURRENT = 2026
YEARS = range(2020, CURRENT + 1)
# Where the current year's items stand (status, share) and the tasks each status has ready.
OPEN_STATUSES = [("assigning", 5), ("signing", 10), ("handling", 45), ("replying", 20), ("rating", 10),
                 ("publishing", 5), ("closed", 5)]
TASKS = {
    "assigning": [("assign_item", "交办", "assignment", "office")],
    "signing": [("sign_for", "签收或申请退回", "sign_for", "lead_unit")],
    "handling": [("consult", "面商", "consultation", "lead_unit"), ("cohandle", "协办意见", "co_opinion", "co_unit")],
    "replying": [("draft_reply", "起草答复", "reply", "lead_unit")],
    "rating": [("rate", "评价", "rating", "proposer")],
    "publishing": [("publish", "答复公开", "disclosure", "office")],
}
CHUNK = 5000
EMPTY_STATE = ProcessInstance.__table__.c.state.type.python_type()  # "" or b"", whichever the column stores


def _utc(d: date, hour: int = 9) -> datetime:
    return datetime(d.year, d.month, d.day, hour, tzinfo=timezone.utc)


def populate(db, n_items: int, seed: int = 7) -> None:
    """Fill an initialised, empty database with `n_items` items and everything the pages read.

    Instances are there for the task rows to refer to, with an empty workflow state: no page reads it
    (pages read derived rows only), and 100k copies of a 15-40 KB state would make the fill take minutes.
    What a state costs is figure (d). Rows are made and written CHUNK items at a time in one transaction
    (COPY on PostgreSQL, executemany on SQLite), so a million items fill in minutes without being held in
    memory at once.
    """
    rnd = random.Random(seed)
    today = clock.today()
    with db.transaction() as s:
        create_org(s, n_units=max(20, n_items // 50), n_proposers=max(40, n_items // 25))
    with db.reading() as s:
        units = s.scalars(select(Unit.id).order_by(Unit.id)).all()
        proposers = s.scalars(select(User.id).where(User.role == "proposer").order_by(User.id)).all()
        leaders = s.scalars(select(User.id).where(User.role == "leader")).all()
        office = s.scalar(select(User.id).where(User.username == "office"))
        definition = s.scalar(select(func.max(ProcessDefinition.id)))
    numbers: dict[tuple[int, str], int] = {}
    gc.disable()  # millions of short-lived dicts: the cyclic collector would walk them all again and again
    try:
        with _writer(db) as write:
            rows = _empty()
            for i in range(1, n_items + 1):
                _item(rows, i, rnd, today, numbers, units, proposers, leaders, office, definition)
                if i % CHUNK == 0 or i == n_items:
                    for model, chunk in rows.items():
                        write(model, chunk)
                    rows = _empty()
    finally:
        gc.enable()
    with db.transaction() as s:
        tally.rebuild(s)  # the rows went in around the ledger: their board dates and summary rows
    analyze(db)


def _empty() -> dict:
    return {model: [] for model in (Item, ProcessInstance, Assignment, TaskRow, Deadline, Disclosure)}


def _item(rows: dict, i: int, rnd: random.Random, today: date, numbers: dict, units, proposers, leaders, office,
          definition) -> None:
    """The rows of item `i`: the item, its instance, assignments, ready tasks, reply deadline, disclosure."""
    year = YEARS[i % len(YEARS)]
    item_type = "suggestion" if rnd.random() < 0.45 else "proposal"
    seq = numbers[(year, item_type)] = numbers.get((year, item_type), 0) + 1
    subject, ask = rnd.choice(SUBJECTS)
    place = rnd.choice(PLACES)
    lead = rnd.choice(units)
    co = rnd.choice(units) if rnd.random() < 0.3 else None
    co = co if co != lead else None
    key = rnd.random() < 0.1
    registered = date(year, 3, 1) + timedelta(days=rnd.randrange(20))
    assigned = registered + timedelta(days=15)
    if year < CURRENT:
        status = "withdrawn" if rnd.random() < 0.02 else "closed"
    else:
        status = rnd.choices([s for s, _ in OPEN_STATUSES], weights=[w for _, w in OPEN_STATUSES])[0]
    done = status in ("closed", "withdrawn")
    proposer = rnd.choice(proposers)
    leader = rnd.choice(leaders) if key else None
    rows[Item].append(dict(
        id=i, year=year, item_type=item_type, number=f"{'JY' if item_type == 'suggestion' else 'TA'}{year}-{seq:05d}",
        session="区十八届人大五次会议" if item_type == "suggestion" else "区政协十五届五次会议",
        title=f"关于{place}{subject}的{'建议' if item_type == 'suggestion' else '提案'}", content=f"{place or '我区'}{ask}" * 3,
        proposer_id=proposer, category=subject[:2], registered_by=office, registered_at=_utc(registered),
        status=status, current_step=None if done else TASKS.get(status, [("", "办理", "", "")])[0][1],
        lead_unit_id=lead, is_key=key, leader_id=leader, round=1,
        assigned_at=_utc(assigned), replied_at=_utc(assigned + timedelta(days=80)) if done else None,
        reply_class=rnd.choice("AAAABBC") if done else None,
        closed_at=_utc(assigned + timedelta(days=110)) if done else None))
    rows[ProcessInstance].append(dict(id=i, definition_id=definition, item_id=i, state=EMPTY_STATE,
                                      version=12 if done else 5, status="completed" if done else "running",
                                      created_at=_utc(registered), updated_at=_utc(assigned + timedelta(days=30))))
    rows[Assignment].append(dict(item_id=i, unit_id=lead, role="lead", status="signed", assigned_at=_utc(assigned),
                                 signed_at=_utc(assigned + timedelta(days=1))))
    if co:
        rows[Assignment].append(dict(item_id=i, unit_id=co, role="co", status="signed", assigned_at=_utc(assigned)))
    if done:
        if status == "closed":  # published per its scope, as the public list shows it
            scope = rnd.choices(("full", "summary", "none"), weights=(8, 1, 1))[0]
            rows[Disclosure].append(dict(item_id=i, scope=scope, text=f"{place or '我区'}{ask}" if scope != "none" else None,
                                         published_by=office, published_at=_utc(assigned + timedelta(days=100 + i % 10)),
                                         public_year=year if scope != "none" else None,
                                         public_unit_id=lead if scope != "none" else None))
        return
    reply_due = assigned + timedelta(days=91)
    rows[Deadline].append(dict(item_id=i, key="reply", round=1, step="答复", attached_to="draft_reply", unit_id=lead,
                               due_date=reply_due, original_due_date=reply_due, opened_at=_utc(assigned),
                               item_type=item_type, is_key=key, leader_id=leader,
                               status="overdue" if reply_due < today else "open"))  # its timer flagged it
    for k, (spec, title, form_key, lane) in enumerate(TASKS.get(status, [])):
        if lane == "co_unit" and co is None:
            continue
        rows[TaskRow].append(dict(
            id=f"{i:08d}-0000-4000-8000-{k:012d}", instance_id=i, item_id=i, spec_name=spec,
            title=title, form_key=form_key, lane=lane, round=1, unit_id={"lead_unit": lead, "co_unit": co}.get(lane),
            assignee_id=proposer if lane == "proposer" else None,
            due_at=_utc(reply_due, 15) if lane in ("lead_unit", "co_unit") else None,
            created_at=_utc(assigned + timedelta(days=rnd.randrange(30)))))


@contextmanager
def _writer(db):
    """write(model, rows) inside one transaction: COPY on PostgreSQL; on SQLite executemany with the journal
    kept in memory and no fsync (a throw-away database: a crash loses nothing worth keeping)."""
    with db.engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        if db.is_postgres:
            with conn.begin():
                yield lambda model, rows: _copy(raw, model.__table__, rows)
            return
        for pragma in ("foreign_keys=OFF", "synchronous=OFF", "cache_size=-262144", "temp_store=MEMORY"):
            raw.execute(f"PRAGMA {pragma}")  # before the transaction: foreign_keys is fixed inside one
        try:
            with conn.begin():
                yield lambda model, rows: rows and conn.execute(insert(model.__table__), _uniform(rows))
        finally:
            for pragma in ("foreign_keys=ON", "synchronous=NORMAL", "cache_size=-2000", "temp_store=DEFAULT"):
                raw.execute(f"PRAGMA {pragma}")


def _names(rows: list[dict]) -> list[str]:
    return list(dict.fromkeys(k for row in rows for k in row))


def _uniform(rows: list[dict]) -> list[dict]:
    """The same keys in every row (None where a row has none), as one executemany needs."""
    names = _names(rows)
    return rows if all(len(row) == len(names) for row in rows) else [{k: row.get(k) for k in names} for row in rows]


def _copy(raw, table, rows: list[dict]) -> None:
    """COPY the rows into `table`; the columns a row leaves out get their Python default (as an INSERT would)."""
    if not rows:
        return
    names = _names(rows)
    defaults = {c.name: c.default.arg(None) if callable(c.default.arg) else c.default.arg
                for c in table.columns if c.default is not None and c.name not in names and not c.primary_key}
    columns = names + list(defaults)
    fixed = tuple(defaults.values())
    with raw.cursor() as cur, cur.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(tuple(row.get(name) for name in names) + fixed)


def analyze(db) -> None:
    """Statistics as a database that has been running has them, and, on PostgreSQL, id sequences moved past
    the ids the bulk insert gave and the tables vacuumed: autovacuum vacuums a table after many inserts
    (PostgreSQL 13+), which sets the visibility map, so an index-only scan (a bounded count) reads the index
    alone. Without it the bench measured, at 100k, counts that visited a table row per index entry (1,001
    for the 2026 handling list's count) where the 1k side, with 64, hardly did; and at 1M autovacuum had
    often run by the time the pages were measured, so the figures depended on its timing."""
    if not db.is_postgres:
        with db.engine.begin() as conn:
            conn.execute(text("ANALYZE"))
        return
    with db.engine.begin() as conn:
        for table in ("item", "process_instance", "assignment", "deadline", "disclosure"):
            conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                              f"(SELECT COALESCE(MAX(id), 1) FROM {table}))"))
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))


def query_users(session: Session) -> dict[str, User]:
    """The people whose pages are measured: the office and the handler of the first unit."""
    def by_name(username):
        return session.scalars(select(User).where(User.username == username)).one()

    return {"office": by_name("office"), "handler": by_name("jtj_staff")}
