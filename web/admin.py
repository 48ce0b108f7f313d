"""Process admins (流程管理): versions, the bpmn-js modeler, checked deploys, migration; and the live diagrams.

Everything under /admin is for the `admin` role, except the step overview, which the office and supervisors
read too. The item diagram's JSON lives in its own small blueprint, since whoever may see an item may see
where it stands.
"""
from __future__ import annotations

import io

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select

from engine.people import visibility
from engine.workflow import versions
from engine.workflow.deployment import latest
from engine.models import Item, ProcessDefinition, User
from engine.text import safe_filename
from engine.workflow.safexml import MAX_BYTES
from engine.workflow.validation import InvalidProcess, check_bpmn
from web.helpers import db, diagram_xml, roles_required

bp = Blueprint("admin", __name__, url_prefix="/admin")
diagram_bp = Blueprint("diagram", __name__, url_prefix="/diagram")
admin_only = roles_required("admin")
overview_roles = roles_required("admin", "office", "supervisor")


def _filename(raw: str | None) -> str:
    return safe_filename(raw)


def _newest(s, process_id: str | None = None) -> ProcessDefinition | None:
    if process_id:
        return latest(s, process_id)
    return s.scalars(select(ProcessDefinition).order_by(ProcessDefinition.id.desc()).limit(1)).first()


def _modeler(xml: str, filename: str, definition: ProcessDefinition | None, problems=(), checked=False,
             status: int = 200):
    return render_template("admin/modeler.html", xml=xml, filename=filename, definition=definition,
                           problems=list(problems), checked=checked), status


@bp.get("/")
@admin_only
def index():
    with db().reading() as s:
        processes = versions.version_overview(s)
    return render_template("admin/index.html", processes=processes, max_bytes=MAX_BYTES)


@bp.get("/definitions/<int:definition_id>.bpmn")
@admin_only
def download(definition_id: int):
    with db().reading() as s:
        d = s.get(ProcessDefinition, definition_id) or abort(404)
        body, name = d.bpmn_xml.encode("utf-8"), f"{d.process_id}-v{d.version}.bpmn"
    return send_file(io.BytesIO(body), mimetype="application/xml", as_attachment=True, download_name=name)


@bp.get("/modeler")
@admin_only
def modeler():
    with db().reading() as s:
        wanted = request.args.get("definition", type=int)
        d = s.get(ProcessDefinition, wanted) if wanted else _newest(s)
        if d is None:
            abort(404)
        return _modeler(d.bpmn_xml, d.filename, d)


@bp.post("/deploy")
@admin_only
def deploy():
    """Check or deploy a file, uploaded or posted from the modeler; problems are shown beside the diagram."""
    upload = request.files.get("file")
    if upload is not None and upload.filename:
        xml, filename = upload.stream.read(MAX_BYTES + 1), _filename(upload.filename)
    else:
        xml, filename = request.form.get("xml", "").encode("utf-8"), _filename(request.form.get("filename"))
    if request.form.get("action") == "check":
        problems = check_bpmn(xml, filename)
        return _shown(xml, filename, problems, checked=not problems)
    try:
        with db().transaction() as s:
            d, created = versions.deploy_checked(s, xml, filename, current_user.username)
            name, version = d.name, d.version
    except InvalidProcess as exc:
        return _shown(xml, filename, exc.problems)
    if created:
        flash(_("已部署 %(name)s v%(version)s：新登记的事项将按此版本办理。", name=name, version=version), "success")
    else:
        flash(_("内容与最新版本 v%(version)s 相同，未创建新版本。", version=version), "success")
    return redirect(url_for("admin.index"))


def _shown(xml: bytes, filename: str, problems, checked: bool = False):
    """The modeler with the checked file, or with the newest version when the file itself was refused."""
    with db().reading() as s:
        fallback = _newest(s)
        if any(p.unreadable for p in problems) and fallback is not None:
            flash(_("上传的文件未能读取，编辑器中显示的是当前最新版本。"), "error")
            return _modeler(fallback.bpmn_xml, fallback.filename, fallback, problems, status=400)
        return _modeler(xml.decode("utf-8", errors="replace"), filename, None, problems, checked,
                        status=400 if problems else 200)


@bp.get("/versions/<int:definition_id>")
@admin_only
def version(definition_id: int):
    with db().reading() as s:
        d = s.get(ProcessDefinition, definition_id) or abort(404)
        others = [v.definition for p in versions.version_overview(s) if p.process_id == d.process_id
                  for v in p.versions if v.definition.id != d.id]
        return render_template("admin/version.html", definition=d, targets=others,
                               items=versions.running_items(s, d.id))


@bp.post("/versions/<int:definition_id>/migrate")
@admin_only
def migrate(definition_id: int):
    target_id = request.form.get("target", type=int)
    chosen = None if request.form.get("scope") == "all" else request.form.getlist("item", type=int)
    with db().reading() as s:
        source, target = s.get(ProcessDefinition, definition_id), s.get(ProcessDefinition, target_id or 0)
        if source is None or target is None or target.process_id != source.process_id:
            abort(400)
    results = versions.migrate_version(db(), definition_id, target.id, current_user.id, chosen)
    return render_template("admin/migration.html", source=source, target=target, results=results)


@bp.get("/steps")
@overview_roles
def steps():
    with db().reading() as s:
        return render_template("admin/steps.html", overview=versions.step_overview(s))


@bp.get("/steps/<process_id>.json")
@overview_roles
def steps_json(process_id: str):
    with db().reading() as s:
        for definition, loads in versions.step_overview(s):
            if definition.process_id == process_id:
                return jsonify(xml=diagram_xml(definition.bpmn_xml), version=definition.version,
                               counts={x.spec_name: {"waiting": x.waiting, "late": x.late} for x in loads})
    abort(404)


@diagram_bp.get("/items/<int:item_id>.json")
@login_required
def item(item_id: int):
    """Where one item stands: its version's diagram and the ids of completed, active and overdue steps."""
    with db().reading() as s:
        it = s.get(Item, item_id) or abort(404)
        if not visibility.may_see_internal(s, s.get(User, current_user.id), it):
            abort(403)
        state = versions.item_diagram(s, it) or abort(404)
        return jsonify(xml=diagram_xml(state.definition.bpmn_xml), version=state.definition.version,
                       completed=state.completed, active=state.active, overdue=state.overdue)
