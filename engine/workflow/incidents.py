"""Incidents: when a BPMN script or expression fails, nothing of the command is kept, and an admin sees it.

The failing command's transaction rolls back, so the instance stays at its last committed state; the
incident is written in a transaction of its own, with the error, the element and the line, and with the
form the user submitted. The instance is set aside (status `incident`) so the sweep does not fail on it
again and again; an admin retries it after fixing the cause (e.g. deploying a fixed version and migrating
the instance), which replays the stored action (`engine.workflow.recovery`).
"""
from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from SpiffWorkflow.exceptions import WorkflowException

from engine import clock
from engine.models import AuditEvent, Incident, ProcessInstance, User
from engine.people.notifications import notify, role_users

INCIDENT_MESSAGE = ("流程在“{step}”出错，本次操作未生效，已通知流程管理员处理 "
                    "(the process failed at '{step}'; nothing was changed and the process admins were told)")


class ProcessFailed(Exception):
    """A command could not run because the process itself failed; `incident_id` says where it is recorded."""

    def __init__(self, incident_id: int, step: str):
        super().__init__(INCIDENT_MESSAGE.format(step=step))
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


def record(db, instance_id: int, action: str, exc: Exception, task_id: str | None = None,
           submitted: dict | None = None, user_id: int | None = None) -> Incident:
    """Write the incident in its own transaction and set the instance aside."""
    info = describe(exc)
    with db.transaction() as s:
        instance = s.get(ProcessInstance, instance_id)
        incident = Incident(instance_id=instance_id, item_id=instance.item_id, action=action, task_id=task_id,
                            submitted=submitted, user_id=user_id, **info)
        s.add(incident)
        s.execute(update(ProcessInstance).where(ProcessInstance.id == instance_id).values(status="incident"))
        s.add(AuditEvent(item_id=instance.item_id, actor_id=user_id, action="incident",
                         title=f"流程出错：{info['failed_step']}", data={"error": info["message"][:300]}))
        s.flush()
        notify(s, role_users(s, "admin"), None, "incident", f"流程出错：{info['failed_step']} · {info['error_type']}",
               f"incident:{incident.id}", body=info["message"], link="/admin/incidents/")
    return incident


def open_incidents(session: Session):
    return session.scalars(select(Incident).where(Incident.status == "open").order_by(Incident.created_at.desc())).all()
