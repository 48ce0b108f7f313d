"""Recovery from an incident: an admin replays the failed action on the instance as it now is."""
from __future__ import annotations

from sqlalchemy import update

from engine import clock
from engine.models import Incident, ProcessInstance, User
from engine.workflow.incidents import describe
from engine.workflow.runtime import complete_task, fire_timers


def retry(db, incident_id: int, admin: User) -> str:
    """Replay the failed action on the instance as it now is; raises ProcessFailed again if it still fails."""
    with db.transaction() as s:
        incident = s.get(Incident, incident_id)
        if incident is None or incident.status != "open":
            raise ValueError("该故障已处理 (this incident is already resolved)")
        s.execute(update(ProcessInstance).where(ProcessInstance.id == incident.instance_id).values(status="running"))
        action, instance_id, task_id = incident.action, incident.instance_id, incident.task_id
        submitted, user_id = incident.submitted or {}, incident.user_id
    try:
        with db.transaction() as s:
            if action == "complete":
                complete_task(s, task_id, s.get(User, user_id), submitted)
                outcome = "已按原提交内容重新办理 (the submission was applied)"
            else:
                fire_timers(s, instance_id, clock.now())
                outcome = "已重新触发到期的期限 (the due timers were fired)"
            inc = s.get(Incident, incident_id)
            inc.status, inc.resolved_at, inc.resolution = "resolved", clock.now(), f"{outcome} · {admin.name}"
    except Exception as exc:
        with db.transaction() as s:
            s.execute(update(ProcessInstance).where(ProcessInstance.id == instance_id).values(status="incident"))
            inc = s.get(Incident, incident_id)
            inc.message, inc.error_type, inc.line = describe(exc)["message"], describe(exc)["error_type"], \
                describe(exc)["line"]
        raise
    return outcome
