"""Recovery from an incident: an admin replays the failed action on the instance as it now is.

The replay, the resolution and the instance's return to `running` are one transaction: a retry that
fails again changes nothing but the incident's error (the same incident, not a new one); a retry of something
already done (the handler resubmitted meanwhile) resolves the incident without touching the item.
Each action has its replay in `incidents.REPLAYS`: the workflow's own here, those of item commands (an
extension approval, a co-unit's waiver or return, a take-back) where those commands are defined.
A failed submission that cannot go through as it was is handed back to its submitter instead
(`return_to_submitter`).
"""
from __future__ import annotations

from engine.i18n import N_, Msg, step_name
from engine import clock
from engine.deadlines.rules import rules_for
from engine.models import AuditEvent, Incident, Item, ProcessDefinition, ProcessInstance, TaskRow, User
from engine.people.notifications import notify
from engine.workflow.incidents import REPLAYS, ProcessFailed, describe, guard, replays, resolve
from engine.workflow.recompute import recompute_instance
from engine.workflow.runtime import GONE_MESSAGE, TaskGone, complete_task, fire_timers, resume_start
from engine.workflow.versions import migrate_instance


class NotRetryable(ValueError):
    """The incident is resolved already, or gone."""


GONE_OUTCOME = N_("任务已不在待办中，故障已关闭")  # the task was done meanwhile: nothing to replay or hand back


def retry(db, incident_id: int, admin: User) -> str:
    """Replay the failed action; returns what was done. Raises ProcessFailed if the process still fails
    (recorded on the incident), the error itself for any other failure (recorded too), NotRetryable if there
    is nothing to retry."""
    try:
        with db.transaction() as s:
            incident = s.get(Incident, incident_id, with_for_update={"of": Incident})
            if incident is None or incident.status != "open":
                raise NotRetryable(N_("该故障已处理"))
            replay = REPLAYS.get(incident.action)
            if replay is None:
                raise NotRetryable(N_("无法重试此类故障：%(action)s", action=incident.action))
            instance = s.get(ProcessInstance, incident.instance_id, with_for_update=True)
            if instance.status == "incident":
                instance.status = "running"  # for the replay; resolve() keeps it so only if nothing else is open
                s.flush()
            with guard(instance.id, incident_id=incident.id):
                outcome = replay(s, incident, instance)
            resolve(s, incident, admin.id, outcome)  # a catalog message; who resolved it is resolved_by
            return outcome
    except (NotRetryable, ProcessFailed):
        raise
    except TaskGone:
        with db.transaction() as s:  # done meanwhile (resubmitted, or withdrawn): nothing left to replay
            incident = s.get(Incident, incident_id)
            resolve(s, incident, admin.id, GONE_MESSAGE)
        return GONE_OUTCOME
    except Exception as exc:
        info = describe(exc)
        with db.transaction() as s:
            incident = s.get(Incident, incident_id)
            incident.message, incident.error_type, incident.line = info["message"], info["error_type"], info["line"]
            incident.error_message = info["error_message"]
            incident.occurrences = (incident.occurrences or 1) + 1
        raise


RETURNED_MESSAGE = N_("已退回提交人重新提交")


def return_to_submitter(db, incident_id: int, admin: User) -> str:
    """Close a failed submission's incident by handing its task back to the user who submitted it: the
    submission stays undone, the item runs again (its timers too), and the submitter is told to check what
    they entered and submit again. For a submission that cannot go through as it was (a choice or a date no
    longer allowed, data a script cannot take): a retry would fail again and again while the submitter,
    told that the admin was notified, waits on an admin who cannot act. Returns what was done."""
    with db.transaction() as s:
        incident = s.get(Incident, incident_id, with_for_update={"of": Incident})
        if incident is None or incident.status != "open":
            raise NotRetryable(N_("该故障已处理"))
        if not incident.returnable:
            raise NotRetryable(N_("只有用户提交的办理可以退回提交人"))
        s.get(ProcessInstance, incident.instance_id, with_for_update=True)  # as a retry or a completion locks it
        row = s.get(TaskRow, incident.task_id)
        if row is None:  # done meanwhile (resubmitted, or withdrawn): nothing to hand back
            resolve(s, incident, admin.id, GONE_MESSAGE)
            return GONE_OUTCOME
        submitter = incident.submitter
        resolve(s, incident, admin.id, RETURNED_MESSAGE)
        step = step_name(row.title)
        notify(s, [submitter], incident.item_id, "incident_returned",
               N_("“%(step)s”未办理成功，请重新提交", step=step), f"incident-returned:{incident.id}",
               body=Msg(N_("流程出错，您的提交未生效。流程管理员已退回此项，请核对填写的内容后重新提交。")),
               link=f"/tasks/{row.id}")
        s.add(AuditEvent(item_id=incident.item_id, actor_id=admin.id, action="incident_returned", step=row.spec_name,
                         title=N_("流程故障已退回%(name)s重新提交：%(step)s", name=submitter.name, step=step)))
        return RETURNED_MESSAGE


@replays("complete")
def _complete(s, incident: Incident, instance: ProcessInstance) -> str:
    if incident.user_id is None:
        raise NotRetryable(N_("故障未记录提交人，无法重新办理"))
    complete_task(s, incident.task_id, s.get(User, incident.user_id), incident.submitted or {})
    return N_("已按原提交内容重新办理")


@replays("start")
def _start(s, incident: Incident, instance: ProcessInstance) -> str:
    resume_start(s, instance)
    return N_("流程已启动")


@replays("migrate")
def _migrate(s, incident: Incident, instance: ProcessInstance) -> str:
    target = s.get(ProcessDefinition, (incident.submitted or {}).get("target_id"))
    if target is None:
        raise NotRetryable(N_("迁移的目标版本已不存在"))
    return migrate_instance(s, instance.id, target, s.get(User, incident.user_id)).message


@replays("timers")
def _timers(s, incident: Incident, instance: ProcessInstance) -> str:
    fire_timers(s, instance.id, clock.now())
    return N_("已重新触发到期的期限")


@replays("recompute")
def _recompute(s, incident: Incident, instance: ProcessInstance) -> str:
    submitted = incident.submitted or {}
    rules = rules_for(s, s.get(Item, instance.item_id).year) if submitted.get("rules") else None
    recompute_instance(s, instance, submitted.get("reason") or "calendar", rules)
    return N_("已按现行日历和规则重算期限")
