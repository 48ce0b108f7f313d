"""Deadlines that run before their step opens (预期限): 答复期限 runs from assignment (DOMAIN.md step 6), while
the timers that watch it wait only once handling begins (after the pledge).

From assignment on, the ledger has the deadline's row all the same. Its date is what the BPMN's own script
gives (the script task that sets the variable the deadline's timer waits for, e.g. `reply_due`), run on a
copy of the item's current data: the process stays the one place that says how the date is computed, so
the timer, when it starts waiting, finds the same date in the same row. Until then a forecast stands in
for the timer (the ledger opens, moves and flags the row from it) and, while its date is ahead, has a
timer row of its own so that the sweep comes back when the date passes.
"""
from __future__ import annotations

import copy
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone

from SpiffWorkflow.bpmn.specs.mixins.script_task import ScriptTask
from SpiffWorkflow.util.task import TaskState

from engine.deadlines.timers import meta

# Deadlines DOMAIN.md runs from assignment although their step opens later.
FROM_ASSIGNMENT = frozenset({"reply"})
DEADLINE_KINDS = ("overdue", "expired")
_ACTIVE = TaskState.READY | TaskState.WAITING | TaskState.STARTED
_NAMESPACE = uuid.UUID("6f1c1d1e-5a8f-4c55-9d0e-0b4a1c2d3e4f")


@dataclass
class Forecast:
    """A deadline timer not waiting yet, with the data it will be evaluated on (ledger.sync reads both)."""

    task_spec: object
    data: dict
    id: str  # the timer row's id: one per instance and timer


def _specs(wf):
    yield wf.spec
    yield from wf.subprocess_specs.values()


def _setter(wf, variable: str):
    """The script task that assigns `variable` (at the start of a line)."""
    pattern = re.compile(rf"^\s*{re.escape(variable)}\s*=(?!=)", re.MULTILINE)
    for spec in _specs(wf):
        for task_spec in spec.task_specs.values():
            if isinstance(task_spec, ScriptTask) and pattern.search(task_spec.script or ""):
                return task_spec
    return None


def _candidates(wf) -> list[tuple[object, str, str, object]]:
    """(timer spec, deadline key, variable, setting script) of each FROM_ASSIGNMENT deadline timer whose date a
    script sets: a property of the process version, found once and kept on its spec (the specs of a parsed
    version are shared and never change)."""
    found = getattr(wf.spec, "_banli_forecast", None)
    if found is None:
        found = []
        for spec in _specs(wf):
            for timer in spec.task_specs.values():
                m = meta(timer)
                if m["deadline"] not in FROM_ASSIGNMENT or m["kind"] not in DEADLINE_KINDS:
                    continue
                variable = getattr(getattr(timer, "event_definition", None), "expression", "") or ""
                script = _setter(wf, variable) if variable.isidentifier() else None
                if script is not None:
                    found.append((timer, m["deadline"], variable, script))
        wf.spec._banli_forecast = found
    return found


def forecasts(wf, instance_id: int, running: set[str], active=None) -> list[tuple[Forecast, datetime]]:
    """(forecast, due instant in UTC) for each FROM_ASSIGNMENT deadline whose timer is not in `running`
    (the deadline keys of timers waiting or fired in this run) and whose date the item's data already gives.
    `active`: the workflow's ready, waiting and started tasks, when the caller has walked the tree already.

    Call within a calendar scope. A script that cannot run yet (the item is not assigned) forecasts nothing.
    """
    out = []
    done: set[str] = set()
    for timer, key, variable, script in _candidates(wf):
        if key in running or key in done:
            continue
        if active is None:
            active = wf.get_tasks(state=_ACTIVE)
        # SpiffWorkflow's own joins and ends: their data is no path's (after a migration the end join of a
        # replied item carried `rules` without the date)
        paths = [t for t in active if t.task_spec.bpmn_id is not None]
        if any(variable in t.data for t in paths):
            continue  # the script ran: its timer waits or has fired, though a part begun before it (a
            # co-unit's) still lacks the date; forecast from there, an extended date would go back
        for task in paths:
            if "rules" not in task.data:
                continue
            data = copy.deepcopy(task.data)
            try:
                wf.script_engine.environment.execute(script.script, data, {})
            except Exception:  # noqa: BLE001 - not computable yet (e.g. before assignment): no forecast
                continue
            value = data.get(variable)
            if not isinstance(value, str):
                continue
            due = datetime.fromisoformat(value).astimezone(timezone.utc)
            row_id = str(uuid.uuid5(_NAMESPACE, f"{instance_id}:{timer.name}"))
            out.append((Forecast(timer, data, row_id), due))
            done.add(key)
            break
    return out
