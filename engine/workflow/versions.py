"""Process versions: deploying a checked file, moving running items to a newer version, and where items stand.

A deploy creates a new version; new items start on the newest, running items stay pinned to theirs until an
admin migrates them (版本迁移). Migration uses SpiffWorkflow's diff utilities: the workflow is aligned with
the new spec task by task, and refused, with the reason, when the item's history or current steps cannot be
expressed in the new version. Deadlines already running are kept unless their timer itself changed.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session
from SpiffWorkflow.bpmn.util.diff import diff_workflow, migrate_workflow
from SpiffWorkflow.util.task import TaskState

from engine.i18n import N_, Msg
from engine import clock
from engine.deadlines.calendar import current_calendar
from engine.db import Database
from engine.workflow.deployment import deploy, parsed
from engine.models import AuditEvent, Deadline, Incident, Item, ProcessDefinition, ProcessInstance, TaskRow, User
from engine.deadlines.expressions import calendar_scope
from engine.workflow.serializer import STATE
from engine.workflow.stepping import EngineWorkflow
from engine.text import safe_filename
from engine.workflow.validation import check_and_raise
from engine.workflow.incidents import INCIDENT_MESSAGE, ProcessFailed, ProcessFailure, guard

# runtime's `sync_derived` writes the state and every derived row; migration must end exactly as a task completion
# does, so it calls the same function rather than a copy of it.
from engine.workflow.runtime import (Directory, instance_of, load_workflow, run_engine, script_engine, sync_derived,
                                     task_row)

DEFINITE = TaskState.COMPLETED | TaskState.STARTED | TaskState.READY | TaskState.WAITING | TaskState.ERROR \
    | TaskState.CANCELLED
RESET = TaskState.READY | TaskState.WAITING  # what migrate_workflow re-creates from the new spec


def deploy_checked(session: Session, xml: bytes, filename: str, deployed_by: str) -> tuple[ProcessDefinition, bool]:
    """Validate, then deploy as the next version (InvalidProcess, and nothing deployed, on any problem)."""
    filename = safe_filename(filename)  # shown on pages and sent back in a download header
    check_and_raise(xml, filename)
    return deploy(session, xml, filename, deployed_by)


# ---------------------------------------------------------------------------------------------- overview

@dataclass
class VersionRow:
    definition: ProcessDefinition
    running: int
    total: int


@dataclass
class ProcessVersions:
    process_id: str
    name: str
    versions: list[VersionRow]  # newest first

    @property
    def newest(self) -> ProcessDefinition:
        return self.versions[0].definition


def version_overview(session: Session) -> list[ProcessVersions]:
    """Every deployed process with its versions and how many items run on each."""
    counts = {d: (running or 0, total) for d, running, total in session.execute(
        select(ProcessInstance.definition_id, func.sum(case((ProcessInstance.status == "running", 1), else_=0)),
               func.count()).group_by(ProcessInstance.definition_id))}
    out: dict[str, ProcessVersions] = {}
    for d in session.scalars(select(ProcessDefinition).order_by(ProcessDefinition.process_id,
                                                                ProcessDefinition.version.desc())):
        group = out.setdefault(d.process_id, ProcessVersions(d.process_id, d.name, []))
        running, total = counts.get(d.id, (0, 0))
        group.versions.append(VersionRow(d, running, total))
    return list(out.values())


MIGRATABLE = ("running", "incident")  # an item set aside by an incident is moved to a fixed version, then retried


def running_items(session: Session, definition_id: int) -> list[tuple[ProcessInstance, Item]]:
    """The items of a version that may be migrated: running ones and those waiting on an incident."""
    return session.execute(select(ProcessInstance, Item).join(Item, Item.id == ProcessInstance.item_id)
                           .where(ProcessInstance.definition_id == definition_id,
                                  ProcessInstance.status.in_(MIGRATABLE)).order_by(Item.number)).all()


# --------------------------------------------------------------------------------------------- migration

class MigrationRefused(Exception):
    """This item cannot move to that version; `reasons` (catalog messages) say why."""

    def __init__(self, *reasons: str):
        super().__init__("；".join(reasons))
        self.reasons = list(reasons)


@dataclass
class MigrationResult:
    item_id: int
    number: str
    ok: bool
    message: str
    reasons: list[str] = field(default_factory=list)


def _name(task) -> str:
    spec = task.task_spec
    return f"“{spec.bpmn_name}”({spec.bpmn_id})" if getattr(spec, "bpmn_name", None) else (spec.bpmn_id or spec.name)


def _under_reset(task) -> bool:
    """Whether migrate_workflow drops this task anyway, as a descendant of a step it re-creates."""
    parent = task.parent
    while parent is not None:
        if parent.has_state(RESET):
            return True
        parent = parent.parent
    return False


def _refusals(wf, top_diff, sp_diffs) -> list[str]:
    reasons = []
    for sp_id, sp_diff in sp_diffs.items():
        if sp_diff is None:
            sub = wf.subprocesses[sp_id]
            reasons.append(N_("子流程 %(name)s 在新版本中已不存在", name=sub.spec.name))
    for diff in [top_diff, *(d for d in sp_diffs.values() if d is not None)]:
        for task in diff.removed:
            if task.has_state(TaskState.ERROR):
                reasons.append(N_("环节 %(step)s 处于错误状态", step=_name(task)))
            elif task.has_state(RESET):
                reasons.append(N_("当前环节 %(step)s 在新版本中已删除", step=_name(task)))
            elif task.has_state(DEFINITE) or not _under_reset(task):
                reasons.append(N_("已办理的环节 %(step)s 在新版本中已删除，事项的办理记录将无法对应", step=_name(task)))
        for task in diff.changed:  # a passed step whose continuation changed: the item would skip the new steps
            new_spec = diff.alignment.get(task)
            if new_spec is None or not task.has_state(TaskState.COMPLETED):
                continue
            taken = {child.task_spec.name for child in task.children}
            if any(out.name not in taken for out in new_spec.outputs):
                reasons.append(N_("已办理的环节 %(step)s 之后的步骤在新版本中已改变，事项将跳过新增的步骤", step=_name(task)))
    return list(dict.fromkeys(reasons))


def _snapshot(workflows: Iterable) -> dict:
    """Data and internal data of the steps migrate_workflow will re-create, to carry across what still holds."""
    return {t.id: (dict(t.data), dict(t.internal_data)) for w in workflows
            for t in w.get_tasks(state=RESET, skip_subprocesses=True)}


def _restore(workflows: Iterable, saved: dict, changed: set) -> None:
    """Give re-created steps back their data; an unchanged timer also keeps its due instant."""
    for w in workflows:
        for task in w.get_tasks(state=RESET, skip_subprocesses=True):
            if task.id not in saved:
                continue
            data, internal = saved[task.id]
            task.data.update(data)
            if task.task_spec not in changed and "event_value" in internal:
                task.internal_data["event_value"] = internal["event_value"]


def migrate_instance(session: Session, instance_id: int, target: ProcessDefinition,
                     actor: User | None) -> MigrationResult:
    """Move one running (or incident) item to `target`, in the caller's transaction; MigrationRefused when it
    cannot. An item set aside by an incident stays so: the admin retries the incident on the new version."""
    instance = session.get(ProcessInstance, instance_id, with_for_update=True)
    item = session.get(Item, instance.item_id)
    current = session.get(ProcessDefinition, instance.definition_id)
    if instance.status not in MIGRATABLE:
        raise MigrationRefused(N_("事项流程已结束，无需迁移"))
    if current.process_id != target.process_id:
        raise MigrationRefused(N_("目标是另一个流程 %(process)s", process=target.process_id))
    if current.id == target.id:
        raise MigrationRefused(N_("事项已在 v%(version)s 上", version=target.version))
    wf, _ = load_workflow(session, instance)
    new = parsed(target)
    if not wf.get_tasks(state=TaskState.COMPLETED):
        return _restart_on(session, instance, item, wf, current, target, actor)
    top_diff, sp_diffs = diff_workflow(STATE.registry, wf, new.spec, new.subprocess_specs)
    reasons = _refusals(wf, top_diff, sp_diffs)
    if reasons:
        raise MigrationRefused(*reasons)

    workflows = [wf, *wf.subprocesses.values()]
    saved = _snapshot(workflows)
    changed = {spec for d in [top_diff, *sp_diffs.values()] for spec in
               {d.alignment.get(t) for t in d.changed}}
    with guard(instance.id, "migrate", submitted={"target_id": target.id}, user_id=actor.id if actor else None,
               set_aside=False), calendar_scope(current_calendar(session)):
        migrate_workflow(top_diff, wf, new.spec)
        for sp_id, sub in wf.subprocesses.items():
            migrate_workflow(sp_diffs[sp_id], sub, new.subprocess_specs.get(sub.spec.name))
        wf.subprocess_specs = new.subprocess_specs
        # Process-level data objects of the new version exist from the start of an instance; a migrated one
        # gets them here, empty, as a new instance would have them.
        objects = wf.data.setdefault("data_objects", {})
        for name in new.spec.data_objects:
            objects.setdefault(name, None)
        _restore(workflows, saved, changed)
        fired = run_engine(wf)
    try:  # the state must load against the new version, or the item would be stuck on its next step
        STATE.loads(STATE.dumps(wf), new.spec, new.subprocess_specs)
    except Exception as exc:  # noqa: BLE001 - refuse rather than write a state that cannot be read back
        raise MigrationRefused(N_("迁移后的状态无法按新版本读取：%(error)s", error=str(exc))) from None

    instance.definition_id = target.id
    directory = Directory.load(session)
    sync_derived(session, instance, item, wf, directory, fired, moved_by="migration")
    _refresh_task_rows(session, instance, item, wf, directory)
    message = N_("已从 v%(old)s 迁移到 v%(new)s", old=current.version, new=target.version)
    session.add(AuditEvent(item_id=item.id, actor_id=actor.id if actor else None, action="migrated",
                           step=target.process_id, title=message,
                           data={"from": current.version, "to": target.version}))
    return MigrationResult(item.id, item.number, True, message)


def _restart_on(session: Session, instance: ProcessInstance, item: Item, wf, current: ProcessDefinition,
                target: ProcessDefinition, actor: User | None) -> MigrationResult:
    """An instance whose start failed has run nothing: it moves by starting afresh on the target, with the
    same start data; the incident's retry then runs it."""
    new = parsed(target)
    fresh = EngineWorkflow(new.spec, new.subprocess_specs, script_engine=script_engine())
    fresh.get_next_task(state=TaskState.READY).data.update(wf.get_next_task(state=TaskState.READY).data)
    instance.state, instance.definition_id = STATE.dumps(fresh), target.id
    message = N_("已从 v%(old)s 迁移到 v%(new)s", old=current.version, new=target.version)
    session.add(AuditEvent(item_id=item.id, actor_id=actor.id if actor else None, action="migrated",
                           step=target.process_id, title=message,
                           data={"from": current.version, "to": target.version}))
    return MigrationResult(item.id, item.number, True, message)


def _refresh_task_rows(session: Session, instance: ProcessInstance, item: Item, wf, directory: Directory) -> None:
    """Open tasks keep their rows (and deadlines) but take the new version's title, form and lane."""
    tasks = {str(t.id): t for t in wf.get_tasks(state=TaskState.READY, manual=True)}
    for row in session.scalars(select(TaskRow).where(TaskRow.instance_id == instance.id)):
        task = tasks.get(row.id)
        if task is not None:
            fresh = task_row(task, instance, item, directory)
            row.spec_name, row.title, row.form_key = fresh.spec_name, fresh.title, fresh.form_key
            row.lane, row.unit_id, row.assignee_id = fresh.lane, fresh.unit_id, fresh.assignee_id


def migrate_version(db: Database, from_definition_id: int, target_id: int, actor_id: int | None,
                    item_ids: Iterable[int] | None = None) -> list[MigrationResult]:
    """Migrate the running items of one version (or the chosen ones), each in its own transaction."""
    wanted = set(item_ids) if item_ids is not None else None
    with db.reading() as s:
        candidates = [(inst.id, item.id, item.number) for inst, item in running_items(s, from_definition_id)
                      if wanted is None or item.id in wanted]
    results = []
    for instance_id, item_id, number in candidates:
        try:
            with db.transaction() as s:
                target = s.get(ProcessDefinition, target_id)
                actor = s.get(User, actor_id) if actor_id else None
                results.append(migrate_instance(s, instance_id, target, actor))
        except MigrationRefused as exc:
            results.append(MigrationResult(item_id, number, False, str(exc), exc.reasons))
        except Exception as exc:  # noqa: BLE001 - a script of the new version (or the diff) failed: an incident
            if not isinstance(exc, ProcessFailed):  # the diff itself failed: recorded the same way
                exc = ProcessFailure(exc, instance_id, "migrate", submitted={"target_id": target_id},
                                     user_id=actor_id, set_aside=False).after_rollback(db)
            with db.reading() as s:
                incident = s.get(Incident, exc.incident_id)
                message = Msg("%(failure)s · %(detail)s", failure=Msg(INCIDENT_MESSAGE, step=incident.failed_step),
                              detail=incident.message[:200])
            results.append(MigrationResult(item_id, number, False, message, [message]))
    return results


# ------------------------------------------------------------------------------------------- the diagram

@dataclass
class DiagramState:
    """What the bpmn-js viewer marks for one item: ids of flow elements by state."""

    definition: ProcessDefinition
    completed: list[str]
    active: list[str]
    overdue: list[str]


def item_diagram(session: Session, item: Item) -> DiagramState | None:
    """Completed and active steps from the item's own workflow state; overdue ones from its deadline ledger."""
    instance = instance_of(session, item.id)
    if instance is None:
        return None
    closed = STATE.completed_steps(instance.state)  # ended (closed, withdrawn, merged): the state says, not a status
    completed, active = dict.fromkeys(closed or ()), {}
    for task in (() if closed is not None else load_workflow(session, instance)[0].get_tasks()):
        bpmn_id = getattr(task.task_spec, "bpmn_id", None)
        if not bpmn_id:
            continue
        if task.has_state(TaskState.COMPLETED):
            completed[bpmn_id] = True
        elif task.has_state(TaskState.READY) and task.task_spec.manual or task.has_state(TaskState.STARTED):
            active[bpmn_id] = True
    today = clock.today()
    overdue = session.scalars(select(Deadline.attached_to).where(  # the ledger's flags, nothing recomputed
        Deadline.item_id == item.id, Deadline.status.in_(("open", "overdue")), Deadline.attached_to.is_not(None),
        (Deadline.status == "overdue") | (Deadline.due_date < today)).order_by(Deadline.due_date))
    return DiagramState(session.get(ProcessDefinition, instance.definition_id),
                        [i for i in completed if i not in active], list(active), list(dict.fromkeys(overdue)))


def step_overview(session: Session) -> list[tuple[ProcessDefinition, list["StepLoad"]]]:
    """For each process, its newest version and the load of its steps."""
    newest = session.scalars(select(ProcessDefinition).where(ProcessDefinition.id.in_(
        select(func.max(ProcessDefinition.id)).group_by(ProcessDefinition.process_id)))
        .order_by(ProcessDefinition.process_id)).all()
    return [(d, step_load(session, d.process_id)) for d in newest]


@dataclass
class StepLoad:
    spec_name: str
    title: str
    waiting: int
    late: int


def step_load(session: Session, process_id: str) -> list[StepLoad]:
    """Per step of a process: how many items wait there and how many of those are late (task rows only; their
    due instants are copied from the deadline ledger)."""
    now = clock.now()
    rows = session.execute(
        select(TaskRow.spec_name, func.min(TaskRow.title), func.count(func.distinct(TaskRow.item_id)),
               func.count(func.distinct(case((TaskRow.due_at < now, TaskRow.item_id)))))
        .join(ProcessInstance, ProcessInstance.id == TaskRow.instance_id)
        .join(ProcessDefinition, ProcessDefinition.id == ProcessInstance.definition_id)
        .where(ProcessDefinition.process_id == process_id)
        .group_by(TaskRow.spec_name).order_by(func.count().desc())).all()
    return [StepLoad(name, title, waiting, late) for name, title, waiting, late in rows]
