"""Who may act on a task: the lane names the role, task data names the unit or person.

A lane is a role of DOMAIN.md. For unit lanes the task's unit comes from a process variable (the lead
unit, or the co-unit or 分办 unit of a multi-instance child); for personal lanes (leader, proposer) the person does.
Both are resolved once, when the task becomes ready, and copied into its task row: the inbox query and
the permission check read the same columns.
"""
from __future__ import annotations

from dataclasses import dataclass

from engine.i18n import N_
from engine.models import TaskRow, User


@dataclass(frozen=True)
class Lane:
    role: str
    unit_var: str | None = None  # process variable holding the unit code
    person_var: str | None = None  # process variable holding the username


LANES: dict[str, Lane] = {
    "office": Lane("office"),
    "lead_unit": Lane("unit_handler", unit_var="lead_unit"),
    "co_unit": Lane("unit_handler", unit_var="co_unit"),
    "unit_head": Lane("unit_head", unit_var="lead_unit"),
    "sep_unit": Lane("unit_handler", unit_var="sep_unit"),  # 分办: a separate unit's own part
    "sep_unit_head": Lane("unit_head", unit_var="sep_unit"),
    "leader": Lane("leader", person_var="leader"),
    "proposer": Lane("proposer", person_var="proposer"),
}


class NotAllowed(Exception):
    """The user may not act on this task (HTTP 403)."""


def can_act(user: User, task: TaskRow) -> bool:
    lane = LANES.get(task.lane or "")
    if lane is None or not user.active or user.role != lane.role:
        return False
    if lane.unit_var:
        return task.unit_id is not None and task.unit_id == user.unit_id
    if lane.person_var:
        return task.assignee_id == user.id
    return True


def require_can_act(user: User, task: TaskRow) -> None:
    if not can_act(user, task):
        raise NotAllowed(N_("您无权办理此任务"))
