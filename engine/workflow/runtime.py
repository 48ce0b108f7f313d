"""Running items through their process: start, complete a task, and write everything derived from it.

Each public function is one command: the caller wraps it in one transaction (`Database.transaction`), so
the workflow state, the task rows, the read model and the audit event are committed together or not at all.
"""
from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date
from types import SimpleNamespace
from typing import Callable
from uuid import UUID

from sqlalchemy import bindparam, delete, event, exists, func, insert, inspect, literal, null, select, union_all, update
from sqlalchemy.orm import Session, defer, lazyload
from sqlalchemy.orm.util import identity_key
from sqlalchemy.orm.exc import StaleDataError
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from engine import clock, writes
from engine.db import database_key
from engine.direct import direct
from engine.sqlin import one_of
from engine.i18n import N_, Msg, step_name
from engine.deadlines import ledger
from engine.workflow import formrules, forms
from engine.people import notifications
from engine.people.authz import LANES, require_can_act
from engine.deadlines.calendar import current_calendar
from engine.workflow.deployment import parsed, parsed_version
from engine.workflow.incidents import ProcessFailure, guard, resolved_by_success, settle_moot
from engine.workflow.parser import ParsedProcess
from engine.models import (AuditEvent, Deadline, Item, ITEM_STATUSES, ProcessDefinition, ProcessInstance, Rating, TaskRow,
                           Timer, Unit, User)
from engine.workflow.readmodel import PROJECTIONS, RECORDED, STATUS_BY_FORM, Completion, event_title, project, timer_outcome
from engine.deadlines.rules import latest_allowed, rules_for
from engine.workflow.sandbox import make_script_engine
from engine.deadlines.expressions import FUNCTIONS, calendar_scope, end_of_day
from engine.workflow.serializer import STATE
from engine.workflow.stepping import EngineWorkflow, tasks_in_state
from engine.deadlines.forecast import forecasts
from engine.deadlines.timers import due_of, meta, sync_timers, waiting_timers


class TaskGone(Exception):
    """The task was completed or withdrawn meanwhile."""


class StaleTask(Exception):
    """Someone else changed the item after the user opened the task."""


STALE_MESSAGE = N_("此事项已被他人更新，请刷新页面后重新办理")
GONE_MESSAGE = N_("此任务已办理或已不存在")


_ENGINE = None


def script_engine():
    """The sandboxed engine with the calendar functions BPMN expressions call (stateless, so shared)."""
    global _ENGINE
    if _ENGINE is None:
        _ENGINE = make_script_engine(FUNCTIONS)
    return _ENGINE


class EngineRun(list):
    """The timer events that fired in one engine run; `completed` holds every task that completed in it
    (what meets deadlines)."""

    def __init__(self):
        super().__init__()
        self.completed: list = []


def run_engine(wf: BpmnWorkflow, done=None) -> EngineRun:
    """Run the workflow until it waits; return the timer events that fired on the way.

    `done` is a task the caller completed itself just before (a user task): it counts as completed too.
    """
    fired = EngineRun()
    if done is not None:
        fired.completed.append(done)

    def did_complete(task):
        fired.completed.append(task)
        if meta(task.task_spec)["kind"]:
            fired.append(task)

    wf.do_engine_steps(did_complete_task=did_complete)
    # A signal nobody waits for (重新交办 with no co-unit's part open) is simply not caught; SpiffWorkflow keeps
    # it as an event for the outside world, which would only grow the stored state.
    wf.get_events()
    return fired


class _Ids:
    """Ids by code, looked up on first use and remembered for the command (a province has thousands of
    users; a command needs a handful). Codes the command will likely need (`expect`) are looked up together
    with the first one asked for: one statement where there was one per code."""

    def __init__(self, session: Session, lookup):
        self.session, self.lookup = session, lookup
        self.known: dict[str, int | None] = {}
        self.expected: set[str] = set()

    def expect(self, codes) -> None:
        self.expected.update(c for c in codes if c and isinstance(c, str) and c not in self.known)

    def pending(self) -> list[str]:
        """The expected codes not looked up yet, taken to be looked up by the caller (see `learn`)."""
        codes = sorted(self.expected)
        self.expected.clear()
        return codes

    def learn(self, codes, found: dict) -> None:
        self.known.update({c: found.get(c) for c in codes})

    def get(self, code: str | None, default=None):
        if not code:
            return default
        if code not in self.known:
            self.expected.add(code)
            codes = self.pending()
            self.learn(codes, dict(self.session.connection().execute(self.lookup, {"codes": codes}).all()))
        return default if self.known[code] is None else self.known[code]

    def __getitem__(self, code: str) -> int:
        found = self.get(code)
        if found is None:
            raise KeyError(code)
        return found


@dataclass
class Directory:
    """Units and people by code, as a command needs them."""

    units: _Ids
    people: _Ids

    @classmethod
    def load(cls, session: Session, *steps) -> "Directory":
        """The units and people the data of `steps` (those a command ran) name are expected."""
        directory = cls(_Ids(session, _UNIT_IDS), _Ids(session, _USER_IDS))
        directory.expect(*steps)
        return directory

    def expect(self, *tasks) -> None:
        """Expect the codes the data of `tasks` names: the lead unit, the co-units and 分办 units (every step
        after assignment carries them), the leader, the proposer."""
        for task in tasks:
            data = task.data
            self.units.expect([data.get(v) for v in UNIT_VARS] + [c for v in UNIT_LISTS for c in data.get(v) or ()])
            self.people.expect([data.get(v) for v in PERSON_VARS])


UNIT_VARS, UNIT_LISTS = ("lead_unit", "co_unit", "sep_unit"), ("co_units", "separate_units")
PERSON_VARS = ("leader", "proposer")


_UNIT_IDS = direct(select(Unit.code, Unit.id).where(one_of(Unit.code, "codes")))
_USER_IDS = direct(select(User.username, User.id).where(one_of(User.username, "codes")))


_CHOICES = {"unit": select(Unit.code, Unit.name).where(Unit.active),
            "leader": select(User.username, User.name).where(User.role == "leader", User.active)}
# The same, of the codes given only (checking a submission): one indexed read of a few rows, not the directory.
_CHOSEN = {"unit": direct(_CHOICES["unit"].where(one_of(Unit.code, "codes"))),
           "leader": direct(_CHOICES["leader"].where(one_of(User.username, "codes")))}


def choices(session: Session, only: dict[str, set[str]] | None = None):
    """The reference values a form field may take, by field type: {code: name}.

    `only` (forms.references of a submission): of these codes only, those a field may take; enough to check the
    submission (a code not among them is refused), without reading every unit and leader of a province."""
    cache: dict[str, dict[str, str]] = {}

    def lookup(kind: str):
        kind = "unit" if kind == "unit_list" else kind  # the same values: one query for both
        if kind not in cache:
            if kind not in _CHOICES:
                rows = []
            elif only is None:
                rows = session.execute(_CHOICES[kind]).all()
            else:
                codes = sorted(only.get(kind, ()))
                rows = session.connection().execute(_CHOSEN[kind], {"codes": codes}).all() if codes else []
            cache[kind] = dict(rows)
        return cache[kind]

    return lookup


class _Workflows:
    """Workflows this process committed last, by instance, so the next command on an item skips
    deserialising it. An entry is used only if the row's version is still the one it was committed at
    (another process or a failed command makes it stale) and it is taken out while in use, so two
    requests never share one object; only a commit puts it back."""

    def __init__(self, size: int = 512):
        self.size, self.entries, self.lock = size, OrderedDict(), threading.Lock()

    @staticmethod
    def _key(session: Session, instance_id: int) -> tuple[str, int]:
        return database_key(session), instance_id

    def take(self, session: Session, instance: ProcessInstance, spec) -> BpmnWorkflow | None:
        with self.lock:
            hit = self.entries.pop(self._key(session, instance.id), None)
        if hit is None or hit[0] != instance.version or hit[1].spec is not spec:
            return None
        return hit[1]

    def stage(self, session: Session, instance: ProcessInstance, wf: BpmnWorkflow) -> None:
        session.info.setdefault("banli_workflows", {})[self._key(session, instance.id)] = (instance, wf)

    def committed(self, session: Session) -> None:
        staged = session.info.pop("banli_workflows", None)
        if not staged:
            return
        with self.lock:
            for key, (instance, wf) in staged.items():
                self.entries[key] = (instance.version, wf)
                self.entries.move_to_end(key)
            while len(self.entries) > self.size:
                self.entries.popitem(last=False)

    @staticmethod
    def discard(session: Session, *_args) -> None:
        session.info.pop("banli_workflows", None)


WORKFLOWS = _Workflows()
event.listen(Session, "after_commit", WORKFLOWS.committed)
event.listen(Session, "after_rollback", WORKFLOWS.discard)
event.listen(Session, "after_soft_rollback", WORKFLOWS.discard)


def load_workflow(session: Session, instance: ProcessInstance) -> tuple[BpmnWorkflow, ParsedProcess]:
    proc = parsed_version(session, instance.definition_id)
    wf = WORKFLOWS.take(session, instance, proc.spec)
    if wf is None:  # the state is read only now (a command's first statement leaves it out: see _COMMAND_ROWS)
        wf = STATE.loads(instance.state, proc.spec, proc.subprocess_specs)
        wf.script_engine = script_engine()
        wf._banli_state = instance.state
    return wf, proc


def _stored_state(instance: ProcessInstance, wf: BpmnWorkflow) -> bytes | None:
    """The instance's state as stored: its column if loaded, else the bytes the workflow was read from or last
    written as (a cached workflow is used only at the version it was committed at); None if unknown."""
    if "state" in instance.__dict__:
        return instance.state
    return getattr(wf, "_banli_state", None)


def form_of(task) -> dict:
    return task.task_spec.extensions.get("form") or {"key": None, "fields": []}


def task_row_values(task, instance: ProcessInstance, item: Item, directory: Directory) -> dict:
    """The columns of a ready task's row (the inbox reads these, never the workflow)."""
    spec = task.task_spec
    lane = LANES.get(spec.lane or "")
    unit_id = directory.units.get(task.data.get(lane.unit_var) or "") if lane and lane.unit_var else None
    assignee = directory.people.get(task.data.get(lane.person_var) or "") if lane and lane.person_var else None
    if unit_id is None and task.data.get("sep_unit"):  # the office or the proposer on a 分办 unit's part
        unit_id = directory.units.get(task.data["sep_unit"])
    return dict(id=str(task.id), instance_id=instance.id, item_id=item.id, spec_name=spec.bpmn_id or spec.name,
                title=spec.bpmn_name or spec.name, form_key=form_of(task)["key"], lane=spec.lane,
                unit_id=unit_id, assignee_id=assignee, round=int(task.data.get("round", 1)))


def task_row(task, instance: ProcessInstance, item: Item, directory: Directory) -> TaskRow:
    return TaskRow(**task_row_values(task, instance, item, directory))


def _activities(task) -> set[str]:
    """The task's own activity and the subprocesses around it: what a boundary timer may watch."""
    out = {task.task_spec.bpmn_id or task.task_spec.name}
    wf = task.workflow
    while wf is not wf.top_workflow:
        parent = wf.top_workflow.get_task_from_id(wf.parent_task_id)
        out.add(parent.task_spec.bpmn_id or parent.task_spec.name)
        wf = parent.workflow
    return out


TASK_ROW_COLUMNS = dict(unit_id=None, assignee_id=None)  # every row the same keys: one statement for all
# The derived rows' statements, built once and run as Core on the session's connection: under the ORM a
# statement built per call costs several times what SQLite takes to run it (0.36 ms against 0.04 ms for
# the timer rows' SELECT), and a completion sends about twenty.
# The instance's task rows and timer rows, and the ids of the units and people the command will name, read in
# one statement (one round trip where there were three).
_DERIVED_ROWS = direct(union_all(
    select(literal("task").label("kind"), TaskRow.id, TaskRow.due_at, TaskRow.unit_id, TaskRow.lane,
           TaskRow.assignee_id).where(TaskRow.instance_id == bindparam("instance_id")),
    select(literal("timer"), Timer.id, Timer.due_at, null(), null(), null())
    .where(Timer.instance_id == bindparam("instance_id")),
    select(literal("unit"), Unit.code, null(), Unit.id, null(), null())
    .where(one_of(Unit.code, "unit_codes")),
    select(literal("user"), User.username, null(), User.id, null(), null())
    .where(one_of(User.username, "user_codes"))))
_DELETE_TASK_ROWS = writes.later(delete(TaskRow).where(one_of(TaskRow.id, "ids")))
# PostgreSQL runs a DELETE in a WITH clause: the rows of done tasks go in the statement that marks their notices.
_DELETE_TASK_ROWS_CTE = _DELETE_TASK_ROWS.returning(TaskRow.id).cte("gone_task_rows")
_INSERT_TASK_ROWS = writes.later(insert(TaskRow))
_MOVE_TASK_ROW = writes.later(update(TaskRow).where(TaskRow.id == bindparam("tid"))
                              .values(due_at=bindparam("due", type_=TaskRow.due_at.type)))
_INSERT_AUDIT = writes.later(insert(AuditEvent))
_TASK_ROWS_CTES: dict[int, object] = {}


def _task_rows_cte(n: int):
    """INSERT of `n` task rows (parameters t<i>_<column>) as a CTE, built once per row count."""
    if n not in _TASK_ROWS_CTES:
        table = TaskRow.__table__
        columns = ("id", "instance_id", "item_id", "spec_name", "title", "form_key", "lane", "unit_id", "assignee_id",
                   "round", "due_at", "created_at")  # what sync_derived gives every new row
        # INSERT ... SELECT of a UNION ALL, not a multi-row VALUES: SQLAlchemy does not cache the compiled form
        # of the latter, and compiling it at every completion cost more than the round trip it saves.
        rows = union_all(*(select(*(bindparam(f"t{i}_{c}", type_=table.c[c].type).label(c) for c in columns))
                           for i in range(n))) if n > 1 else \
            select(*(bindparam(f"t0_{c}", type_=table.c[c].type).label(c) for c in columns))
        _TASK_ROWS_CTES[n] = (insert(TaskRow).from_select(columns, rows)
                              .returning(TaskRow.id).cte(f"new_task_rows_{n}"))
    return _TASK_ROWS_CTES[n]
_ACTIVE = TaskState.READY | TaskState.WAITING | TaskState.STARTED


def active_tasks(wf: BpmnWorkflow) -> list:
    """`wf.get_tasks(state=_ACTIVE)`, walked by engine.workflow.stepping: SpiffWorkflow's iterator spends several
    calls on every step of the tree, and the walk was the dearest part of a completion's scan;
    tests/test_state_reuse.py compares the two along the deadline oracle's random paths."""
    return tasks_in_state(wf, _ACTIVE)


@dataclass
class Scan:
    """The workflow as an engine run left it and the instance's derived rows as stored: what sync_derived
    compares. Taken right after the run (`scan`), before projections, so that the ids of the units and people
    they name come in the same statement as the rows."""

    active_tasks: list
    ready: list  # the ready user tasks
    active: set[str]  # the activities still running
    task_rows: dict  # task id: stored row
    timer_rows: dict  # timer id: due instant
    deadlines: ledger.Prefetched | None = None  # PostgreSQL: the item's deadlines, read with the scan
    state: bytes | None = None  # the workflow's new state (`next_state`), when taken while the scan was answered


def scan(session: Session, instance: ProcessInstance, wf: BpmnWorkflow, directory: Directory,
         entry: dict | None = None, with_state: bool = False) -> Scan:
    """`entry`: a timeline entry (`audit_row`) inserted by the same statement, as a WITH clause (PostgreSQL:
    one round trip for both).

    `with_state`: the engine run was the command's last change of the workflow, so its new state is serialised
    (`next_state`) while the statement is on its way (PostgreSQL: the server answers meanwhile)."""
    ready, active = [], set()  # one pass over the task tree: walking it is the engine's dearest step
    running = active_tasks(wf)
    for task in running:
        active.add(task.task_spec.bpmn_id or task.task_spec.name)
        if task.state == TaskState.READY and task.task_spec.manual:
            ready.append(task)
    directory.expect(*ready)
    units, people = directory.units.pending(), directory.people.pending()
    task_rows, timer_rows, found = {}, {}, {"unit": {}, "user": {}}
    stmt, params = _DERIVED_ROWS, {"instance_id": instance.id, "unit_codes": units, "user_codes": people}
    if entry is not None:
        stmt = _scan_with_audit(tuple(sorted(entry)))
        params.update({f"a_{k}": v for k, v in entry.items()})
    conn = session.connection()
    deadlines = ledger.prefetch(session, instance.item_id) if conn.dialect.name == "postgresql" else None
    sent = conn.send(stmt, params)
    state = next_state(wf, running) if with_state else None
    for r in sent.rows():
        if r.kind == "task":
            task_rows[r.id] = r
        elif r.kind == "timer":
            timer_rows[r.id] = r.due_at
        else:
            found[r.kind][r.id] = r.unit_id
    directory.units.learn(units, found["unit"])
    directory.people.learn(people, found["user"])
    return Scan(running, ready, active, task_rows, timer_rows, deadlines, state)


def next_state(wf: BpmnWorkflow, active_tasks: list, moved_by: str | None = None) -> bytes:
    """The state to store: a finished workflow keeps what its diagram needs, not the whole task tree (a step
    still active: not finished, and no walk of the tree); an open one its tree, reusing the JSON of the steps
    that did not change unless a command `moved_by` edited steps' data."""
    if not active_tasks and wf.is_completed():
        return STATE.closed(wf)
    return STATE.dumps(wf, reuse=moved_by is None)


def sync_derived(session: Session, instance: ProcessInstance, item: Item, wf: BpmnWorkflow,
                 directory: Directory, fired=(), moved_by: str | None = None, scanned: Scan | None = None) -> None:
    """Write the state and everything derived from it: task rows, timers, deadlines, notifications, status.

    `moved_by` says why deadlines may have moved ("extension", "recompute", "migration"): see ledger.sync.
    `scanned`: the `scan` of this engine run, when the caller took it already.
    Derived rows go out as Core statements (no ORM objects to track) and nothing is flushed halfway: the
    instance and the item are written once, at the command's flush, with only the columns that changed.
    """
    _derive(session, instance, item, wf, directory, fired, moved_by, scanned)
    writes.check_sent(session)


def _derive(session: Session, instance: ProcessInstance, item: Item, wf: BpmnWorkflow, directory: Directory,
            fired=(), moved_by: str | None = None, scanned: Scan | None = None) -> None:
    """sync_derived without the check of the instance's write (`_write` checks it after its flush)."""
    with session.no_autoflush:
        _sync_derived(session, instance, item, wf, directory, fired, moved_by,
                      scanned or scan(session, instance, wf, directory))


def _sync_derived(session: Session, instance: ProcessInstance, item: Item, wf: BpmnWorkflow,
                  directory: Directory, fired, moved_by: str | None, scanned: Scan) -> None:
    active_tasks, ready, active = scanned.active_tasks, scanned.ready, scanned.active
    calendar = current_calendar(session)
    waiting = waiting_timers(wf)
    timers = [(t, due, False) for t, due in waiting]
    timers += [(t, due, True) for t in fired if (due := due_of(t)) is not None]
    with calendar_scope(calendar):  # deadlines that run before their timers wait (the reply's, from assignment)
        running = {meta(t.task_spec)["deadline"] for t, _due, _fired in timers}
        early = forecasts(wf, instance.id, running, active_tasks)
    conn = session.connection()
    existing = scanned.task_rows
    next_due = sync_timers(session, instance, wf, waiting, early, rows=scanned.timer_rows)
    now = clock.now()
    timers += [(f, due, due <= now) for f, due in early]  # a forecast whose date has passed is flagged
    completed = [(t.task_spec.bpmn_id or t.task_spec.name, ledger.completion_owner(t, directory.units))
                 for t in getattr(fired, "completed", ())]
    # `deadlines`: the item's deadlines as this command leaves them (stored rows as changed, and new ones)
    live, deadlines = ledger.sync(session, item, timers, completed, active, calendar,
                                  directory.units, directory.people, moved_by, scanned.deadlines)
    due = ledger.due_by_activity(deadlines)
    current = {str(t.id) for t in ready}
    gone = [tid for tid in existing if tid not in current]
    if gone:
        if conn.dialect.name == "postgresql":  # one round trip for the rows and their notices
            notifications.tasks_done(session, item, gone, deleting=_DELETE_TASK_ROWS_CTE)
        else:
            conn.execute(_DELETE_TASK_ROWS, {"ids": gone})
            notifications.tasks_done(session, item, gone)
        for tid in gone:  # as an ORM delete would: a row object the command holds is gone from the session
            obj = session.identity_map.get(identity_key(TaskRow, tid))
            if obj is not None:
                session.expunge(obj)
    rows_by_activity: dict[str, list] = {}
    new_rows, moved = [], []
    for task in ready:
        activities = _activities(task)
        tid = str(task.id)
        row, values = existing.get(tid), None
        if row is None:
            values = task_row_values(task, instance, item, directory)
            row = SimpleNamespace(**values)
        day = ledger.task_due(due, task, activities, form_of(task)["key"], directory.units, directory.people)
        due_at = end_of_day(day) if day else None
        if values is not None:
            values.update(due_at=due_at, created_at=clock.now())
            new_rows.append(values)
        elif row.due_at != due_at:
            moved.append({"tid": tid, "due": due_at})
        for a in activities:
            rows_by_activity.setdefault(a, []).append(row)
    if new_rows:
        rows = [dict(TASK_ROW_COLUMNS, **v) for v in new_rows]
        # PostgreSQL: the rows go in the statement that tells the first task's users (a WITH clause).
        carrier = next((r for r in rows if LANES.get(r["lane"] or "")), None) if conn.dialect.name == "postgresql" \
            else None
        if carrier is None:
            conn.execute(_INSERT_TASK_ROWS, rows)
        for values in rows:
            inserting = None
            if values is carrier:
                inserting = (_task_rows_cte(len(rows)),
                             {f"t{i}_{k}": v for i, r in enumerate(rows) for k, v in r.items()})
            notifications.new_task(session, SimpleNamespace(**values), item, inserting=inserting)
    if moved:
        conn.execute(_MOVE_TASK_ROW, moved)
    for entry in live:  # the timeline shows each reminder and flag once, only for deadlines still open
        m = meta(entry.task.task_spec)
        audit(session, item_id=item.id, action=f"timer_{entry.kind}", step=entry.task.task_spec.bpmn_id,
              title=entry.task.task_spec.bpmn_name or entry.task.task_spec.name, unit_id=entry.row.unit_id,
              data={"deadline": m["deadline"], "due": entry.row.due_date.isoformat()})
    if live:
        def recipients(activity, unit_id):
            if activity not in rows_by_activity and unit_id is not None:  # its step has not begun: the unit
                return [u for role in ("unit_handler", "unit_head")
                        for u in notifications.role_users(session, role, unit_id)]
            return [u for r in rows_by_activity.get(activity, []) if unit_id is None or r.unit_id in (None, unit_id)
                    for u in notifications.task_users(session, r)]
        ledger.announce(session, item, live, recipients)

    now = clock.now()
    ended = not active_tasks and wf.is_completed()
    state = scanned.state if scanned.state is not None else next_state(wf, active_tasks, moved_by)
    unchanged = state == _stored_state(instance, wf)  # not rewritten
    if ended:
        withdrawn = wf.data.get("assign_decision") == "withdraw"
        progress = dict(status="withdrawn" if withdrawn else "merged" if item.merged_into_id else "closed",
                        closed_at=now, current_step=None)
    else:
        statuses = {STATUS_BY_FORM.get(form_of(t)["key"] or "", "handling") for t in ready}
        progress = dict(status=min(statuses, key=ITEM_STATUSES.index) if statuses else item.status,
                        closed_at=item.closed_at,
                        current_step="、".join(dict.fromkeys(t.task_spec.bpmn_name or t.task_spec.name for t in ready)))
    if not any(getattr(item, k) != v for k, v in progress.items()):
        progress = None
    elif inspect(item).modified:  # a projection changed the item too: one UPDATE of it, at the command's end
        for key, value in progress.items():
            setattr(item, key, value)
        progress = None
    _store_instance(session, instance, state=None if unchanged else state, item=item, item_progress=progress,
                    status="completed" if ended else instance.status, updated_at=now, next_timer_due=next_due)
    wf._banli_state = state
    WORKFLOWS.stage(session, instance, wf)


# The instance's and the item's rows as a command leaves them, written by prebuilt Core UPDATEs and then made
# the objects' committed values: the ORM has nothing left to flush for them (its flush of these two objects
# cost several times their statements, at every completion). The instance's version check is the one the ORM
# makes for `version_id_col`: in the WHERE clause, a stale version updating nothing.
_INSTANCE = ProcessInstance.__table__
_WRITE_ITEM = writes.update_of(Item.__table__, ("status", "closed_at", "current_step"))
# PostgreSQL: the item's progress (parameters i_<column>) in a WITH clause of the instance's UPDATE, one round trip;
# an item row gone updates no instance either.
_ITEM_PROGRESS = (update(Item.__table__).where(Item.__table__.c.id == bindparam("i_id"))
                  .values({c: bindparam(f"i_{c}", type_=Item.__table__.c[c].type)
                           for c in ("status", "closed_at", "current_step")})
                  .returning(Item.__table__.c.id).cte("item_progress"))


def _instance_update(with_state: bool, with_item: bool):
    where = [_INSTANCE.c.id == bindparam("w_id"), _INSTANCE.c.version == bindparam("w_version")]
    if with_item:
        where.append(exists(select(_ITEM_PROGRESS.c.id)))
    stmt = writes.update_of(_INSTANCE, ("status", "updated_at", "next_timer_due", "version")
                            + (("state",) if with_state else ()), *where)
    return stmt.add_cte(_ITEM_PROGRESS).returning(_INSTANCE.c.id) if with_item else stmt


_WRITE_INSTANCE = {(with_state, with_item): _instance_update(with_state, with_item)
                   for with_state in (False, True) for with_item in (False, True)}


def _store_instance(session: Session, instance: ProcessInstance, state: bytes | None, item: Item,
                    item_progress: dict | None = None, **values) -> None:
    """Write the instance's row (its state only when given: a sweep that changed nothing does not rewrite it)
    with the next version, and the item's progress when given; StaleDataError when another transaction wrote
    the instance since it was read, or the item's row is gone. PostgreSQL writes both in one statement, sent
    without waiting: its caller checks it (`writes.check_sent`) once it has queued the rest of its writes."""
    values["version"] = instance.version + 1
    if state is not None:
        values["state"] = state
    where = {"w_version": instance.version}
    combined = item_progress is not None and session.get_bind().dialect.name == "postgresql"
    if combined:
        where.update({"i_id": item.id, **{f"i_{k}": v for k, v in item_progress.items()}})
    elif item_progress is not None:
        writes.store(session, item, _WRITE_ITEM, item_progress)
    if combined:  # not awaited: checked once the command has queued the rest of its writes (writes.check_sent)
        writes.store_sent(session, instance, _WRITE_INSTANCE[state is not None, True], values, where)
        writes.committed(item, item_progress)
    else:
        writes.store(session, instance, _WRITE_INSTANCE[state is not None, False], values, where)


def start_item(session: Session, item: Item, definition: ProcessDefinition, actor: User | None) -> ProcessInstance:
    """Start the item's process on `definition` (the newest version, normally).

    A process failure on the way (a script right after the start event) keeps the registration: the
    instance is stored as it was before the engine ran, with an incident (action `start`) that a retry
    resumes from there (`resume_start`)."""
    proc = parsed(definition)
    wf = EngineWorkflow(proc.spec, proc.subprocess_specs, script_engine=script_engine())
    start = wf.get_next_task(state=TaskState.READY)
    start.data.update(item_id=item.id, item_type=item.item_type, year=item.year, title=item.title,
                      proposer=item.proposer.username, round=1, rules=rules_for(session, item.year))
    before = STATE.dumps(wf)
    instance = ProcessInstance(definition_id=definition.id, item_id=item.id, state=before)
    session.add(instance)
    session.flush()
    audit(session, item_id=item.id, actor_id=actor.id if actor else None, action="started",
          step=definition.process_id,  # the process's name is process content, in the catalog
          title=Msg("%(name)s v%(version)s", name=step_name(definition.name), version=definition.version))
    try:
        with guard(instance.id, "start", user_id=actor.id if actor else None), \
                calendar_scope(current_calendar(session)):
            fired = run_engine(wf)
    except ProcessFailure as failure:  # the registration stays: the incident goes in with it
        failure.open(session)
        return instance
    sync_derived(session, instance, item, wf, Directory.load(session), fired)
    return instance


def resume_start(session: Session, instance: ProcessInstance) -> None:
    """Run a start that failed (see start_item) from the stored state, on the instance's version as it now is."""
    item = session.get(Item, instance.item_id)
    wf, _ = load_workflow(session, instance)
    with guard(instance.id, "start"), calendar_scope(current_calendar(session)):
        fired = run_engine(wf)
    _write(session, instance, item, wf, Directory.load(session), fired)


def instance_of(session: Session, item_id: int) -> ProcessInstance | None:
    return session.scalars(select(ProcessInstance).where(ProcessInstance.item_id == item_id)
                           .order_by(ProcessInstance.id.desc()).limit(1)).first()


def open_task(session: Session, task_id: str, user: User) -> TaskRow:
    """The task row a user may act on, or TaskGone / NotAllowed."""
    row = session.get(TaskRow, task_id)
    if row is None:
        raise TaskGone(GONE_MESSAGE)
    require_can_act(user, row)
    return row


_DEFINITION_OF = select(ProcessInstance.definition_id).where(ProcessInstance.id == bindparam("instance_id"))


def task_form(session: Session, row: TaskRow) -> dict:
    """The BPMN form of a ready task, from the cached spec: one id read, not the instance's workflow state nor
    the version's BPMN text (a task page and every completion posted through the web ask for it)."""
    proc = parsed_version(session, session.scalar(_DEFINITION_OF, {"instance_id": row.instance_id}))
    for spec in (proc.spec, *proc.subprocess_specs.values()):
        for name in (f"{row.spec_name} [child]", row.spec_name):  # a multi-instance child carries the form
            task_spec = spec.task_specs.get(name)
            if task_spec is not None and "form" in getattr(task_spec, "extensions", {}):
                return task_spec.extensions["form"]
    return {"key": None, "fields": []}


def closed_choices(session: Session, row: TaskRow, form: dict,
                   chosen: dict | None = None) -> dict[str, dict[str, str]]:
    """{field: {option: why}} for options whose deadline has passed (see forms.windows), from the ledger.
    `chosen`: the submitted data; only the options it chose are looked up (signing for an item, the usual
    answer, reads no deadline)."""
    out: dict[str, dict[str, str]] = {}
    for field, option, key in forms.windows(form):
        if chosen is not None and chosen.get(field) != option:
            continue
        deadline = session.scalars(select(Deadline).where(
            Deadline.item_id == row.item_id, Deadline.key == key, Deadline.status.in_(ledger.OPEN),
            (Deadline.unit_id == row.unit_id) | Deadline.unit_id.is_(None)).order_by(Deadline.id.desc()).limit(1)).first()
        if deadline is not None and ledger.state(deadline) == "overdue":
            out.setdefault(field, {})[option] = deadline.due_date.isoformat()
    return out


def merged_in(session: Session, item: Item) -> list[str]:
    """The numbers of the items merged into this one (并案)."""
    return list(session.scalars(select(Item.number).where(Item.merged_into_id == item.id).order_by(Item.number)))


def rating_window(session: Session, lead_id: int, rnd: int) -> date | None:
    """The last day the proposers of items merged into item `lead_id` rate its reply of round `rnd`: the lead
    item's own rating deadline for that reply (the same window, from the same reply); None when it has none."""
    return session.scalar(select(func.min(Deadline.due_date)).where(
        Deadline.item_id == lead_id, Deadline.key == "rating", Deadline.round == rnd))


def merged_unrated(session: Session, item: Item, rnd: int, part: bool) -> list[str]:
    """The numbers of the items merged into this one whose proposer has not rated its reply of round `rnd`
    while that reply's rating window is open (unrated past it counts as 未表态). None for a 分办 unit's part:
    its reply is its own, which merged items do not rate."""
    if part:
        return []
    due = rating_window(session, item.id, rnd)
    if due is None or due < clock.today():
        return []
    return list(session.scalars(select(Item.number).where(
        Item.merged_into_id == item.id, ~exists().where(Rating.item_id == Item.id, Rating.round == rnd))
        .order_by(Item.number)))


def pledge_latest(session: Session, item: Item, unit_id: int | None, part: bool) -> tuple[date, str] | None:
    """The latest target date a responsibility pledge (责任状) may name, and the error code that says why: its
    unit's current reply deadline in the ledger (the lead unit's, or with `part` that 分办 unit's own), or, when
    none is known or it has passed already (an overdue step stays open), the cap extensions are held to
    (`max_extension`, 6 months from assignment), never before today. None before assignment."""
    if item.assigned_at is None:
        return None
    today = clock.today()
    deadline = (ledger.open_part_deadline(session, item, unit_id) if part
                else ledger.open_reply_deadline(session, item))
    if deadline is not None and deadline.due_date >= today:
        return deadline.due_date, "after_reply_due"
    return max(latest_allowed(session, item), today), "not_after"


def _conflict_is_stale(command):
    """A concurrent write of the same instance can surface at any flush (autoflush included): it always
    reaches the caller as StaleTask, never as a database error."""
    @functools.wraps(command)
    def wrapped(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except StaleDataError:
            raise StaleTask(STALE_MESSAGE) from None
    return wrapped


# What a caller adds to the same transaction once a task is completed (e.g. the step's attachments); it is
# given the task row's columns (a Row of task_row, read-only).
AfterCompletion = Callable[[Session, Item, TaskRow, User], None]
# The values submitted for a task: as a dict, or read by the task's form once the command holds it (given the
# form and the task row's columns, read-only): the web takes a posted form's fields by the form's definition,
# which a read of its own before the command cost a transaction (the task, the user and the form read twice).
Submitted = dict | Callable[[dict, SimpleNamespace], dict]


@_conflict_is_stale
def complete_task(session: Session, task_id: str, user: User | int, raw: Submitted, *, for_unit: bool = False,
                  after: AfterCompletion | None = None) -> Item:
    """Validate the form, complete the task, run the engine, and write every derived row.

    `user`: the acting user, or their id (read with the task, the instance and the item, in one statement).

    `for_unit`: the office completes a unit's task on its behalf (改派, engine.items.reassignment); only
    the office may, and the unit's deadline windows do not bind it.

    Concurrency: the instance row is locked (PostgreSQL) and its version checked at the write; a task
    someone else completed meanwhile is TaskGone, a concurrent write to the same instance StaleTask.
    Parallel tasks of one item (two co-units, the leader) do not refuse each other.
    """
    with session.no_autoflush:  # everything is written once, at the end (`_write`)
        return _complete_task(session, task_id, user, raw, for_unit, after)


def _complete_task(session: Session, task_id: str, user: User | int, raw: Submitted, for_unit: bool,
                   after: AfterCompletion | None) -> Item:
    by_id = not isinstance(user, User)
    found = session.execute(_TASK_INSTANCE_AND_ITEM[by_id],
                            {"task_id": task_id, **({"user_id": user} if by_id else {})}).first()
    if found is None:
        raise TaskGone(GONE_MESSAGE)
    instance, item, *columns = found
    if by_id:
        user, *columns = columns
    row = SimpleNamespace(**dict(zip(_TASK_COLUMNS, columns)))
    if not (for_unit and user.role == "office"):
        require_can_act(user, row)
    wf, _ = load_workflow(session, instance)
    task = wf.get_task_from_id(UUID(task_id))
    if task is None or not task.has_state(TaskState.READY):
        raise TaskGone(GONE_MESSAGE)
    form = form_of(task)
    if callable(raw):
        raw = raw(form, row)
    data, problems = forms.checked(form, raw, choices(session, only=forms.references(form, raw)))
    sound = {f: v for f, v in data.items() if not any(e.field == f for e in problems)}  # the rules read these
    closed = {} if for_unit else closed_choices(session, row, form, chosen=sound)
    labels = {f["id"]: f["label"] for f in form["fields"]}
    problems += [forms.FieldError(f, labels[f], "window_closed", closed[f][v]) for f, v in sound.items()
                 if isinstance(v, str) and v in closed.get(f, {})]
    problems += formrules.check(form, sound, formrules.Days(
        clock.today(), clock.local_day(item.assigned_at),
        functools.partial(pledge_latest, session, item, row.unit_id, bool(task.data.get("sep_unit"))),
        functools.partial(merged_in, session, item),
        functools.partial(merged_unrated, session, item, int(task.data.get("round", 1)), bool(task.data.get("sep_unit")))))
    if problems:
        raise forms.FormInvalid(problems)
    task.set_data(**data)
    with guard(instance.id, "complete", task_id=task_id, submitted=raw, user_id=user.id), \
            calendar_scope(current_calendar(session)):
        task.run()
        fired = run_engine(wf, done=task)

    directory = Directory.load(session, task)
    entry = audit_row(item_id=item.id, actor_id=user.id, action="completed", step=row.spec_name,
                      title=event_title(form["key"], data, row.title), unit_id=row.unit_id, data=audit_data(form, data))
    together = session.connection().dialect.name == "postgresql"  # the entry goes in with the scan's read
    scanned = scan(session, instance, wf, directory, entry if together else None, with_state=True)
    project(form["key"], Completion(session, item, user, data, dict(task.data), directory.units, directory.people))
    if not together:
        session.connection().execute(_INSERT_AUDIT, entry)
    if after is not None:
        after(session, item, row, user)
    _write(session, instance, item, wf, directory, fired, scanned)
    resolved_by_success(session, instance, "complete", task_id, user.id,
                        N_("办理人重新提交成功"))
    if not for_unit:  # the office acting in a unit's place is a command of its own (a take-back)
        settle_moot(session, instance, form["key"], row, user.id)
    return item


# The item's proposer and lead unit (joined by default, for pages) are not what a command reads: loaded
# on access if ever, not joined into every command's first statement. Nor is the instance's state (8 KB or so,
# out of line on PostgreSQL): the workflow this process committed last is usually cached (WORKFLOWS), and the
# state is read only when it is not; nor the item's text (up to 50,000 characters), which only a full
# disclosure reads.
_COMMAND_ROWS = (select(ProcessInstance, Item).join(Item, Item.id == ProcessInstance.item_id)
                 .options(lazyload(Item.proposer), lazyload(Item.lead_unit), defer(ProcessInstance.state),
                          defer(Item.content)))
_INSTANCE_AND_ITEM = {skip: _COMMAND_ROWS.where(ProcessInstance.id == bindparam("instance_id"))
                      .with_for_update(of=ProcessInstance, skip_locked=skip) for skip in (False, True)}
# A completion's task row (plain columns: the command only reads it, and an ORM object of it cost several times
# the statement) with its instance (locked) and item, in one statement.
# By the user's id, the acting user comes in it too (as the web names them): one read where there were two.
_TASK = TaskRow.__table__
_TASK_COLUMNS = tuple(c.name for c in _TASK.c)


def _task_statement(by_id: bool):
    stmt = (_COMMAND_ROWS.add_columns(*((User,) if by_id else ()), *(c.label(f"task_{c.name}") for c in _TASK.c))
            .join(_TASK, _TASK.c.instance_id == ProcessInstance.id))
    if by_id:
        stmt = stmt.join(User, User.id == bindparam("user_id")).options(lazyload(User.unit))
    return stmt.where(_TASK.c.id == bindparam("task_id")).with_for_update(of=ProcessInstance)


_TASK_INSTANCE_AND_ITEM = {by_id: _task_statement(by_id) for by_id in (False, True)}


def _instance_and_item(session: Session, instance_id: int, skip_locked: bool = False):
    """The instance (locked on PostgreSQL) and its item in one statement; None when `skip_locked` and
    another transaction holds it."""
    found = session.execute(_INSTANCE_AND_ITEM[skip_locked], {"instance_id": instance_id}).first()
    return (None, None) if found is None else tuple(found)


def audit(session: Session, **values) -> None:
    """Append one timeline entry (审计) with a Core INSERT: nothing for the ORM to track or flush."""
    session.connection().execute(_INSERT_AUDIT, audit_row(**values))


def audit_row(**values) -> dict:
    """The columns of a timeline entry."""
    row = dict(AUDIT_COLUMNS, at=clock.now())
    row.update(values)  # same keys every time: one compiled statement, cached
    if isinstance(row["title"], Msg):  # a title with parameters keeps them, for the reader's language
        row["message"], row["title"] = row["title"].to_json(), str(row["title"])
    return row


_AUDIT_SCANS: dict = {}  # the entry's columns: the scan's statement with the entry's INSERT (PostgreSQL)


def _scan_with_audit(keys: tuple[str, ...]):
    if keys not in _AUDIT_SCANS:
        table = AuditEvent.__table__
        entry = (insert(AuditEvent).values({k: bindparam(f"a_{k}", type_=table.c[k].type) for k in keys})
                 .returning(AuditEvent.id).cte("completion_audit"))
        _AUDIT_SCANS[keys] = _DERIVED_ROWS.add_cte(entry)
    return _AUDIT_SCANS[keys]


AUDIT_COLUMNS = dict(actor_id=None, step=None, title=None, unit_id=None, data=None, message=None)
SHORT = 40  # characters: a choice, a date or a name is kept in the audit entry; longer text has its record


def audit_data(form: dict, data: dict) -> dict | None:
    """What the timeline entry of a completed form keeps: the decisions, not copies of the texts.

    A form whose key has a read-model projection (a reply, a pledge, a consultation ...) stores its texts in
    that record, found by item, round and form key (`form` in the entry); the entry keeps only the short
    values (choices, dates, flags), and not even a short text its record holds (readmodel.RECORDED). A form
    without a record keeps all it submitted. Empty fields are left out.
    """
    data = {k: v for k, v in data.items() if v is not None}  # an empty field says nothing on the timeline
    if not data:
        return None
    if form.get("key") not in PROJECTIONS:
        return data
    recorded = RECORDED.get(form["key"], frozenset())
    kept = {k: v for k, v in data.items() if k not in recorded and (not isinstance(v, str) or len(v) <= SHORT)}
    kept["form"] = form["key"]
    return kept


def complete(db, task_id: str, user_id: int, raw: Submitted, after: AfterCompletion | None = None) -> int:
    """complete_task as one command in its own transaction.

    Returns the item id. Raises FormInvalid, NotAllowed, TaskGone, StaleTask as complete_task does, and
    ProcessFailed (nothing applied, incident recorded) when a script or expression of the BPMN fails.
    """
    with db.transaction() as s:
        return complete_task(s, task_id, user_id, raw, after=after).id


@_conflict_is_stale
def complete_on_behalf(session: Session, item: Item, steps: list[tuple[str, dict]], match: dict, actor: User,
                       record: Callable[[Directory], None]) -> bool:
    """Complete ready tasks of `item` in place of their lane (the office waiving a co-unit's opinion).

    `steps` are (task, data) in order: each is the ready task of that name whose data contains `match`; it
    receives the data and runs (a step not ready is passed over: a co-unit that already signed for its part).
    `record` writes the read-model rows in place of the forms' projections. False when the last step's task
    was not ready.
    The caller guards (engine.workflow.incidents.guard) with its own action: that is what a retry replays.
    """
    instance = active_instance(session, item)
    if instance is None:
        return False
    wf, _ = load_workflow(session, instance)
    fired, done = EngineRun(), False
    with guard(instance.id), calendar_scope(current_calendar(session)):
        for spec_name, data in steps:
            task = next((t for t in wf.get_tasks(state=TaskState.READY)
                         if (t.task_spec.bpmn_id or t.task_spec.name) == spec_name
                         and all(t.data.get(k) == v for k, v in match.items())), None)
            done = task is not None
            if task is None:
                continue
            task.set_data(**data)
            task.run()
            run = run_engine(wf, done=task)
            fired.extend(run)
            fired.completed.extend(run.completed)
            session.add(AuditEvent(item_id=item.id, actor_id=actor.id, action="completed_on_behalf", step=spec_name,
                                   title=task.task_spec.bpmn_name or spec_name, data=data))
    if not done:
        return False
    directory = Directory.load(session)
    record(directory)
    _write(session, instance, item, wf, directory, fired)
    return True


def ready_task_id(session: Session, item: Item, spec_name: str, match: dict) -> str | None:
    """The id of the item's ready `spec_name` task whose data contains `match` (a task row does not tell
    which co-unit an office step is about; the task's data does)."""
    instance = instance_of(session, item.id)
    if instance is None or instance.status not in ("running", "incident"):  # one set aside may still be worked
        return None
    wf, _ = load_workflow(session, instance)
    return next((str(t.id) for t in wf.get_tasks(state=TaskState.READY)
                 if (t.task_spec.bpmn_id or t.task_spec.name) == spec_name
                 and all(t.data.get(k) == v for k, v in match.items())), None)


def active_instance(session: Session, item: Item) -> ProcessInstance | None:
    """The item's process while it has not ended, locked for the command; one set aside by an incident
    included (a command on it that succeeds is no reason to refuse it, and a retry must be able to run it)."""
    return session.scalars(select(ProcessInstance).where(ProcessInstance.item_id == item.id,
                                                         ProcessInstance.status.in_(("running", "incident")))
                           .with_for_update()).first()


def _write(session: Session, instance: ProcessInstance, item: Item, wf: BpmnWorkflow, directory: Directory,
           fired, scanned: Scan | None = None) -> None:
    """The end of every engine command: effects of fired timers, derived rows, and the version check."""
    _record_fired(session, item, fired, directory)
    _derive(session, instance, item, wf, directory, fired, scanned=scanned)
    # a deadline changed through the ORM is counted at its flush; the flush ends with the instance's write checked
    writes.flush(session, orm_only=(Deadline,))


def _record_fired(session: Session, item: Item, fired, directory: Directory) -> None:
    """Read-model effects of timers that fired (e.g. an unrated reply counts as 未表态); their timeline
    entries are written by sync_derived, for the deadlines still open."""
    for task in fired:
        m = meta(task.task_spec)
        timer_outcome(m["kind"], m["deadline"], Completion(session, item, None, {}, dict(task.data),
                                                          directory.units, directory.people))


@_conflict_is_stale
def fire_timers(session: Session, instance_id: int, now, *, selected_due: bool = False) -> int | None:
    """One sweep step for one instance: fire its due timers and write everything derived.

    Returns how many timer events fired, or None when the instance was skipped (another sweeper holds it,
    or nothing is due any more because it was handled meanwhile). `selected_due`: this transaction selected
    the instance for a due timer and holds it (the sweep's batch), so that is not checked again.
    """
    instance, item = _instance_and_item(session, instance_id, skip_locked=True)
    if instance is None or instance.status != "running":
        return None
    if not selected_due and session.scalar(
            select(Timer.id).where(Timer.instance_id == instance_id, Timer.due_at <= now).limit(1)) is None:
        return None
    wf, _ = load_workflow(session, instance)
    with guard(instance.id, "timers"), calendar_scope(current_calendar(session)):
        wf.refresh_timers()
        fired = run_engine(wf)
    _write(session, instance, item, wf, Directory.load(session, *fired), fired)
    return len(fired)
