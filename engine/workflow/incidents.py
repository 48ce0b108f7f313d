"""Incidents: when a BPMN script or expression fails, nothing of the command is kept, and an admin sees it.

The failing command's transaction rolls back, so the instance stays at its last committed state; the
incident is written in a transaction of its own, with the error, the element and the line, and with the
form the user submitted. The instance is set aside (status `incident`) so the sweep does not fail on it
again and again; an admin retries it after fixing the cause (e.g. deploying a fixed version and migrating
the instance), which replays the stored action (`engine.workflow.recovery`). A later success of the same
action (the handler resubmits) resolves it too; either way the instance runs again with its timers.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable

from sqlalchemy import select, update
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm import Session
from SpiffWorkflow.exceptions import WorkflowException

from engine.i18n import N_, Msg, carried, step_name
from engine import clock
from engine.models import AuditEvent, Incident, ProcessInstance
from engine.people.notifications import notify, role_users

INCIDENT_MESSAGE = N_("流程在“%(step)s”出错，本次操作未生效，已通知流程管理员处理")


class ProcessFailed(Exception):
    """A command could not run because the process itself failed; `incident_id` says where it is recorded."""

    def __init__(self, incident_id: int, step: str, item_id: int | None = None):
        super().__init__(Msg(INCIDENT_MESSAGE, step=step))
        self.incident_id, self.item_id = incident_id, item_id


class ProcessFailure(Exception):
    """A process failure on its way out of a command, with what its incident needs: the instance, the action
    to replay (and its key, `task_id`), what was submitted, by whom. `guard` raises it; whoever ends the
    command's transaction opens the incident: `Database.transaction` after its rollback (`after_rollback`,
    which gives the caller ProcessFailed), a sweep or a recompute in the savepoint's place (`open`)."""

    def __init__(self, cause: Exception, instance_id: int | None, action: str | None, task_id: str | None = None,
                 submitted: dict | None = None, user_id: int | None = None, set_aside: bool = True,
                 incident_id: int | None = None):
        super().__init__(str(cause))
        self.cause, self.instance_id, self.action, self.task_id = cause, instance_id, action, task_id
        self.submitted, self.user_id, self.set_aside, self.incident_id = submitted, user_id, set_aside, incident_id

    def open(self, session: Session) -> Incident:
        """Record it in `session` (whose command part was rolled back): the retried incident, or the open one
        for the same thing, or a new one."""
        if self.incident_id is not None:
            incident = session.get(Incident, self.incident_id)
            for key, value in describe(self.cause).items():
                setattr(incident, key, value)
            incident.occurrences = (incident.occurrences or 1) + 1
            session.flush()
            return incident
        return open_incident(session, self.instance_id, self.action or "complete", self.cause, self.task_id,
                             self.submitted, self.user_id, self.set_aside)

    def after_rollback(self, db) -> ProcessFailed:
        with db.transaction() as s:
            incident = self.open(s)
            failed = ProcessFailed(incident.id, incident.failed_step, incident.item_id)
        return failed


@contextmanager
def guard(instance_id: int | None = None, action: str | None = None, *, task_id: str | None = None,
          submitted: dict | None = None, user_id: int | None = None, set_aside: bool = True,
          incident_id: int | None = None):
    """Around the part of a command that runs the workflow: a process failure in it leaves as ProcessFailure.

    The engine's own steps guard with the instance; the command a user gave guards around them with its
    action and submission, which override the inner ones (the incident replays what the user did: an
    extension approval, not the timer evaluation inside it; a retry, the incident it retries)."""
    try:
        yield
    except ProcessFailure as failure:
        failure.instance_id = failure.instance_id or instance_id
        if action is not None:
            failure.action, failure.task_id, failure.submitted = action, task_id, submitted
            failure.user_id, failure.set_aside = user_id, set_aside
        failure.incident_id = incident_id or failure.incident_id
        raise
    except Exception as exc:
        if not is_process_failure(exc):
            raise
        raise ProcessFailure(exc, instance_id, action, task_id, submitted, user_id, set_aside, incident_id) from exc


# Replays by action, for the admin's retry (engine.workflow.recovery): (session, incident, instance) -> outcome.
# The commands of higher packages register theirs where they are defined (`replays`).
REPLAYS: dict[str, Callable] = {}


def _registers(table: dict, key: str):
    def register(fn: Callable) -> Callable:
        table[key] = fn
        return fn
    return register


def replays(action: str):
    return _registers(REPLAYS, action)


# Failed commands a user's completion makes moot, by the completed form: (task row) -> (action, the
# incident's task_id, resolution) or None. Registered where the commands are defined (`moot_after`), as
# replays are: the unit signs for the item the office failed to take back, the co-unit answers the opinion
# the office failed to waive.
MOOT: dict[str, Callable] = {}


def moot_after(form_key: str):
    return _registers(MOOT, form_key)


def settle_moot(session: Session, instance: ProcessInstance, form_key: str | None, row, user_id: int) -> None:
    """Resolve, in the completion's transaction, the open incident of a command the completion made moot:
    left open, it would hold the item and its timers until an admin's retry found nothing to do."""
    rule = MOOT.get(form_key or "")
    if rule is None or instance.status != "incident":
        return
    found = rule(row)
    if found is not None:
        resolved_by_success(session, instance, found[0], found[1], user_id, found[2])


def _step_of(exc: Exception) -> tuple[str, str]:
    """The failed BPMN element's name and id."""
    task = getattr(exc, "task", None)
    spec = getattr(task, "task_spec", None) or getattr(exc, "task_spec", None)
    step = (getattr(spec, "bpmn_name", None) or getattr(spec, "bpmn_id", None) or getattr(spec, "name", None)
            or "?")
    return step, getattr(spec, "bpmn_id", "") or ""


def _step_message(exc: Exception) -> Msg:
    """The failed step as the timeline and the notice name it (the admin's page adds its id): its name, a
    catalog message (process content, engine.workflow.process_text)."""
    return step_name(_step_of(exc)[0])


def describe(exc: Exception) -> dict:
    step, bpmn_id = _step_of(exc)
    notes = " ".join(getattr(exc, "__notes__", []) or [])
    reason = carried(exc)  # a sandbox refusal or time-out: shown in the reader's language
    return {"failed_step": f"{step} ({bpmn_id})".strip(),
            "error_type": getattr(exc, "error_type", None) or type(exc).__name__,
            "message": f"{exc} {notes}".strip()[:4000], "line": getattr(exc, "line_number", None),
            "error_line": getattr(exc, "error_line", None),
            "error_message": reason.to_json() if reason is not None else None}


def is_process_failure(exc: Exception) -> bool:
    return isinstance(exc, (WorkflowException, ProcessFailure))


def open_incident(session: Session, instance_id: int, action: str, exc: Exception, task_id: str | None = None,
                  submitted: dict | None = None, user_id: int | None = None, set_aside: bool = True) -> Incident:
    """Record a failure in the caller's transaction: one open incident per instance, action, task and step
    (a second failure of the same thing updates it, keeping the latest submission), and set the instance
    aside (status `incident`) unless the failure left it healthy (a refused migration)."""
    info = describe(exc)
    instance = session.get(ProcessInstance, instance_id, with_for_update=True)
    incident = session.scalars(select(Incident).where(
        Incident.instance_id == instance_id, Incident.status == "open", Incident.action == action,
        Incident.task_id.is_(None) if task_id is None else Incident.task_id == task_id,
        Incident.failed_step == info["failed_step"])).first()
    if incident is None:
        incident = Incident(instance_id=instance_id, item_id=instance.item_id, action=action, task_id=task_id,
                            submitted=submitted, user_id=user_id, **info)
        session.add(incident)
        session.add(AuditEvent(item_id=instance.item_id, actor_id=user_id, action="incident",
                               title=N_("流程出错：%(step)s", step=_step_message(exc)), data={"error": info["message"][:300]}))
        session.flush()
        notify(session, role_users(session, "admin"), None, "incident",
               N_("流程出错：%(step)s · %(error)s", step=_step_message(exc),
                  error=Msg.from_json(info["error_message"]) if info["error_message"] else info["error_type"]),
               f"incident:{incident.id}",
               body=None if info["error_message"] else info["message"],
               link="/admin/incidents/")
    else:
        for key, value in info.items():
            setattr(incident, key, value)
        incident.submitted = submitted if submitted is not None else incident.submitted
        incident.user_id = user_id or incident.user_id
        incident.occurrences = (incident.occurrences or 1) + 1
    if set_aside and instance.status == "running":
        _set_status(session, instance, "incident")
    session.flush()
    return incident


def _set_status(session: Session, instance: ProcessInstance, status: str) -> None:
    """Change only the status: the workflow state is untouched, so its version (which the cached workflow and
    concurrent commands go by) stays."""
    session.execute(update(ProcessInstance).where(ProcessInstance.id == instance.id).values(status=status))
    set_committed_value(instance, "status", status)


def record(db, instance_id: int, action: str, exc: Exception, task_id: str | None = None,
           submitted: dict | None = None, user_id: int | None = None, set_aside: bool = True) -> Incident:
    """open_incident in a transaction of its own (the failed command's was rolled back)."""
    with db.transaction() as s:
        incident = open_incident(s, instance_id, action, exc, task_id, submitted, user_id, set_aside)
        s.expunge(incident)
    return incident


def resolve(session: Session, incident: Incident, user_id: int | None, resolution: str) -> None:
    """Close the incident (who, when, how); the instance runs again once none of the incidents that set it
    aside is open (a failed migration never did)."""
    incident.status, incident.resolved_at = "resolved", clock.now()
    incident.resolved_by_id, incident.resolution = user_id, resolution
    session.flush()
    instance = session.get(ProcessInstance, incident.instance_id)
    still_open = session.scalar(select(Incident.id).where(Incident.instance_id == instance.id,
                                                          Incident.status == "open",
                                                          Incident.action != "migrate").limit(1))
    if instance.status in ("running", "incident"):
        wanted = "incident" if still_open is not None else "running"
        if instance.status != wanted:
            _set_status(session, instance, wanted)


def resolved_by_success(session: Session, instance: ProcessInstance, action: str, task_id: str | None,
                        user_id: int | None, resolution: str) -> None:
    """A command that failed before has now succeeded (the handler resubmitted, the timers fired): its open
    incidents are resolved in the same transaction, and the instance runs again with its timers."""
    if instance is None or instance.status != "incident":  # such an incident sets it aside: none is open
        return
    for incident in session.scalars(select(Incident).where(
            Incident.instance_id == instance.id, Incident.status == "open", Incident.action == action,
            Incident.task_id.is_(None) if task_id is None else Incident.task_id == task_id)).all():
        resolve(session, incident, user_id, resolution)


def open_incidents(session: Session):
    return session.scalars(select(Incident).where(Incident.status == "open").order_by(Incident.created_at.desc())).all()


def resolved_incidents(session: Session, limit: int = 50):
    """The latest resolved incidents, with who resolved them and how (the page's history)."""
    return session.scalars(select(Incident).where(Incident.status == "resolved")
                           .order_by(Incident.resolved_at.desc()).limit(limit)).all()
