"""Process admins see incidents (failed scripts and expressions) and retry them, or hand a failed submission
back to its submitter; any page whose command hit a process failure says so and goes back to the item
(`install`), never a 500."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from engine.i18n import Msg
from engine.workflow import incidents, recovery
from engine.models import Incident, User
from web.helpers import db, error_text, roles_required, tr

bp = Blueprint("incidents", __name__, url_prefix="/admin/incidents")
ACTION_LABELS = {"complete": _l("用户提交的办理"), "timers": _l("期限触发"), "start": _l("登记后启动流程"),
                 "migrate": _l("版本迁移"), "extension": _l("同意延期"), "waive": _l("免除协办意见"),
                 "co_return": _l("同意协办单位退回"), "take_back": _l("改派"), "recompute": _l("期限重算")}


@bp.get("/")
@roles_required("admin")
def index():
    with db().reading() as s:
        rows, resolved = incidents.open_incidents(s), incidents.resolved_incidents(s)
        return render_template("admin/incidents.html", rows=rows, resolved=resolved, action_labels=ACTION_LABELS)


def _acting(incident_id: int):
    """The database, the admin acting (the recovery commands record who resolved an incident) and the
    incident as it is now (None when there is none), read together."""
    database = db()
    with database.reading() as s:
        return database, s.get(User, current_user.id), s.get(Incident, incident_id)


@bp.post("/<int:incident_id>/retry")
@roles_required("admin")
def retry(incident_id: int):
    database, admin, incident = _acting(incident_id)
    try:
        outcome = recovery.retry(database, incident_id, admin)
        flash(_("已重试：%(outcome)s", outcome=tr(outcome)), "success")
    except recovery.NotRetryable as exc:
        flash(error_text(exc), "error")
    except Exception as exc:  # the failure is recorded on the incident again; say what it is
        info = incidents.describe(exc)
        reason = Msg.from_json(info["error_message"]) if info["error_message"] else info["message"][:300]
        flash(_("重试仍然失败：%(error)s", error=tr(reason)), "error")
        if incident is not None and incident.returnable:  # the submission itself may be what cannot go through
            flash(_("若按原提交内容无法办理，可将其退回提交人修改后重新提交。"), "info")
    return redirect(url_for("incidents.index"))


@bp.post("/<int:incident_id>/return")
@roles_required("admin")
def return_to_submitter(incident_id: int):
    database, admin, _incident = _acting(incident_id)
    try:
        flash(_("已处理：%(outcome)s", outcome=tr(recovery.return_to_submitter(database, incident_id, admin))),
              "success")
    except recovery.NotRetryable as exc:
        flash(error_text(exc), "error")
    return redirect(url_for("incidents.index"))


def install(app) -> None:
    """Every command that fails in the process raises ProcessFailed (engine.workflow.incidents): nothing of it
    was kept, the incident is recorded. The user sees that, on the item they acted on."""

    @app.errorhandler(incidents.ProcessFailed)
    def process_failed(exc: incidents.ProcessFailed):
        if request.blueprint == "api_v1":
            from web.api_v1 import lang, problem

            return problem(409, "流程故障 (process incident)", error_text(exc, lang()), "process-incident")
        flash(error_text(exc), "error")
        if exc.item_id is None:
            return redirect(url_for("tasks.inbox"), code=303)
        portal = current_user.is_authenticated and current_user.role == "proposer"
        return redirect(url_for("portal.item" if portal else "items.detail", item_id=exc.item_id), code=303)
