"""Incidents: when a BPMN script or expression fails, nothing of the command is kept, and an admin sees it.

The failing command's transaction rolls back, so the instance stays at its last committed state; the
incident is written in a transaction of its own, with the error, the element and the line, and with the
form the user submitted. The instance is set aside (status `incident`) so the sweep does not fail on it
again and again; an admin retries it after fixing the cause (e.g. deploying a fixed version and migrating
the instance), which replays the stored action (`engine.workflow.recovery`). A later success of the same
action (the handler resubmits) resolves it too; either way the instance runs again with its timers.
"""
from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm import Session
from SpiffWorkflow.exceptions import WorkflowException

from engine.i18n import N_, Msg
from engine import clock
from engine.models import AuditEvent, Incident, ProcessInstance
from engine.people.notifications import notify, role_users

INCIDENT_MESSAGE = N_("流程在“%(step)s”出错，本次操作未生效，已通知流程管理员处理")


class ProcessFailed(Exception):
    """A command could not run because the process itself failed; `incident_id` says where it is recorded."""

    def __init__(self, incident_id: int, step: str):
        super().__init__(Msg(INCIDENT_MESSAGE, step=step))
        self.incident_id = incident_id


def describe(exc: Exception) -> dict:
    task = getattr(exc, "task", None)
    spec = getattr(task, "task_spec", None) or getattr(exc, "task_spec", None)
    step = (getattr(spec, "bpmn_name", None) or getattr(spec, "bpmn_id", None) or getattr(spec, "name", None)
            or "?")
    notes = " ".join(getattr(exc, "__notes__", []) or [])
    return {"failed_step": f"{step} ({getattr(spec, 'bpmn_id', '') or ''})".strip(),
            "error_type": getattr(exc, "error_type", None) or type(exc).__name__,
            "message": f"{exc} {notes}".strip()[:4000], "line": getattr(exc, "line_number", None),
            "error_line": getattr(exc, "error_line", None)}


def is_process_failure(exc: Exception) -> bool:
    return isinstance(exc, WorkflowException)


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
                               title=N_("流程出错：%(step)s", step=info["failed_step"]), data={"error": info["message"][:300]}))
        session.flush()
        notify(session, role_users(session, "admin"), None, "incident",
               N_("流程出错：%(step)s · %(error)s", step=info["failed_step"], error=info["error_type"]),
               f"incident:{incident.id}",
               body=info["message"], link="/admin/incidents/")
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
    if instance.status != "incident":  # such an incident sets its instance aside: none is open (no query)
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
