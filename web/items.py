"""Items: the list with filters, registration, the item page with its timeline, and what the office and
supervisors do on an item besides its tasks: merge (并案), waive a co-opinion, urge (催办), record checks, promises."""
from __future__ import annotations

import uuid
from dataclasses import dataclass

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select

from engine.items import (attachments, cohandling, extensions, merging, promises, queries, reassignment,
                          supervision)
from engine.items import letter as reply_letter
from engine.people import visibility
from engine.people.authz import NotAllowed
from engine.workflow.forms import FieldError, FormInvalid
from engine.models import ITEM_STATUSES, Item, Promise, User
from engine.items.registration import register_item
from engine.workflow.runtime import instance_of
from web.helpers import current_lang, db, error_text, field_error_text, item_filter, roles_required, uploads
from web.units import unit_choice

bp = Blueprint("items", __name__, url_prefix="/items")

REGISTRATION_FIELDS = ("item_type", "year", "number", "session", "title", "content", "proposer", "cosigners",
                       "category", "suggested_units", "request_token")


@bp.get("/")
@login_required
def index():
    if current_user.role == "proposer":
        return redirect(url_for("portal.index"))
    f = item_filter(request.args)
    with db().reading() as s:
        unit = unit_choice(s, request.args)
        f.unit_id = unit.unit_id
        page, total = queries.list_page(s, s.get(User, current_user.id), f, request.args.get("after"),
                                        request.args.get("before"))
    return render_template("items/index.html", items=page.rows, page=page, total=total, f=f, unit=unit,
                           statuses=ITEM_STATUSES)


@bp.route("/new", methods=["GET", "POST"])
@roles_required("office")
def register():
    values, errors = {"request_token": uuid.uuid4().hex}, {}
    if request.method == "POST":
        values = {k: request.form.get(k, "") for k in REGISTRATION_FIELDS}
        values["cosigners"] = request.form.getlist("cosigners")
        try:
            with db().transaction() as s:
                me = s.get(User, current_user.id)
                item = register_item(s, values, me, uploads(request.files.getlist("attachments")))
                item_id, number, started = item.id, item.number, instance_of(s, item.id).status != "incident"
                task = queries.my_next_task(s, me, item_id)  # 交办: the office goes straight on
                task_id = task.id if task is not None else None
            if started:
                flash(_("已登记 %(number)s，请交办。", number=number), "success")
            else:
                flash(_("已登记 %(number)s，但流程启动出错，已通知流程管理员处理。", number=number), "error")
            if started and task_id:
                return redirect(url_for("tasks.task", task_id=task_id))
            return redirect(url_for("items.detail", item_id=item_id))
        except FormInvalid as exc:
            errors = {e.field: e.message(current_lang()) for e in exc.errors}
    values["request_token"] = values.get("request_token") or uuid.uuid4().hex
    with db().reading() as s:
        proposers = s.scalars(select(User).where(User.role == "proposer", User.active).order_by(User.name)).all()
    return render_template("items/new.html", values=values, errors=errors, proposers=proposers), \
        400 if errors else 200


@dataclass(frozen=True)
class SideForm:
    """One of the item page's own forms (申请延期, 改派…) sent back refused: it opens again with what was
    typed and each field's error beside it, not a flash above an empty form."""
    name: str
    values: dict
    errors: dict


def refused_side_form(item_id: int, name: str, exc: FormInvalid):
    """The item page again, status 400, with form `name` open, its values and errors."""
    return item_page(item_id, SideForm(name, request.form.to_dict(),
                                       {e.field: e.message(current_lang()) for e in exc.errors}), 400)


@bp.get("/<int:item_id>")
@login_required
def detail(item_id: int):
    return item_page(item_id)


def item_page(item_id: int, side_form: SideForm | None = None, status: int = 200):
    with db().reading() as s:
        item, viewer = s.get(Item, item_id), s.get(User, current_user.id)
        if item is None:
            abort(404)
        if current_user.role == "proposer":  # the proposer's world is the portal (404 there if not theirs)
            return redirect(url_for("portal.item", item_id=item_id))
        if not visibility.may_see_internal(s, viewer, item):
            abort(403)
        d = queries.item_detail(s, item, viewer)
        can_extend = extensions.may_ask(s, viewer, item)
        office = viewer.role == "office"
        approved = reply_letter.approved_reply(s, item)
        can_scan = approved is not None and (office or (
            viewer.role in ("unit_handler", "unit_head") and viewer.unit_id == approved.unit_id))
        return render_template("items/detail.html", item=item, d=d, can_extend=can_extend,
                               can_take_back=reassignment.may_take_back(s, viewer, item),
                               approved=approved, can_scan=can_scan,  # 并案: the merged item's own letter's number
                               letter_number=reply_letter.letter_number(s, approved, item.id) if approved else None,
                               merge_into=merging.merge_candidates(s, item) if office else [],
                               silent=cohandling.silent_co_units(s, item) if office else [],
                               urgeable=supervision.urgeable_units(s, item) if supervision.may_supervise(viewer) else [],
                               answer_part=cohandling.may_answer_part(s, viewer, item),
                               co_returns=[r for r, _u in cohandling.waiting_co_returns(s, item)]
                               if office else [],
                               blocked=extensions.blocked_approvals(s, d.extensions) if office else {},
                               side_form=side_form), status


@bp.get("/attachments/<int:attachment_id>")
@login_required
def attachment(attachment_id: int):
    """A file, to those who may see it (404 otherwise: whether it exists is not told)."""
    with db().reading() as s:
        found = attachments.content(s, s.get(User, current_user.id), attachment_id)
        if found is None:
            abort(404)
        a, data = found
        name, content_type = a.filename, a.content_type
    from urllib.parse import quote

    return Response(data, mimetype=content_type, headers={
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}", "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, no-store"})


@bp.post("/<int:item_id>/letter-scan")
@login_required
def letter_scan(item_id: int):
    """The stamped reply letter, scanned and uploaded back (盖章答复函)."""
    files = uploads(request.files.getlist("attachments"))
    try:
        with db().transaction() as s:
            item = s.get(Item, item_id) or abort(404)
            if not files:
                raise FormInvalid([FieldError("attachments", "附件", "required")])
            attachments.add_letter_scan(s, s.get(User, current_user.id), item, files[0])
        flash(_("已上传盖章答复函。"), "success")
    except PermissionError:
        abort(403)
    except FormInvalid as exc:  # its form again, the error beside the input, asking for the file again
        if all(e.code != "no_approved_reply" for e in exc.errors):
            return refused_side_form(item_id, "letter_scan", exc)
        for e in exc.errors:  # no approved reply: the page has no scan form to show the error beside
            flash(field_error_text(e), "error")
    return redirect(url_for("items.detail", item_id=item_id))


@bp.get("/<int:item_id>/letter.docx")
@login_required
def letter(item_id: int):
    """答复函 of the approved reply, under the document number drawn when the office approved it. A GET changes
    nothing: a reply without a number has no letter yet (the office draws it, `letter_number`)."""
    try:
        with db().reading() as s:
            item = s.get(Item, item_id) or abort(404)
            result = reply_letter.reply_letter(s, item, s.get(User, current_user.id),
                                               request.args.get("unit", type=int))  # 分办: that unit's letter
    except PermissionError:
        abort(404)
    except reply_letter.LetterUnavailable as exc:
        flash(error_text(exc), "error")
        return redirect(url_for("items.detail", item_id=item_id))
    from urllib.parse import quote

    return Response(result.data, mimetype=reply_letter.DOCX_MIME, headers={
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(result.filename)}",
        "Cache-Control": "private, no-store"})


@bp.post("/<int:item_id>/letter-number")
@roles_required("office")
def letter_number(item_id: int):
    """编发文字号: the office draws the document number of an approved reply that has none (approved before numbers
    were drawn at approval), the lead unit's or, with `unit`, a 分办 unit's."""
    try:
        with db().transaction() as s:
            item = s.get(Item, item_id) or abort(404)
            number = reply_letter.number_letter(s, item, s.get(User, current_user.id), request.form.get("unit", type=int))
        flash(_("已编发文字号：%(number)s", number=number), "success")
    except reply_letter.LetterUnavailable as exc:
        flash(error_text(exc), "error")
    return redirect(url_for("items.detail", item_id=item_id))


@bp.post("/<int:item_id>/co-part")
@roles_required("unit_handler")
def co_part(item_id: int):
    """A co-unit signs for its part or asks to return it (签收 / 申请退回)."""
    if request.form.get("action") == "return":
        return _act(item_id, lambda s, user, item: cohandling.ask_return_part(s, user, item,
                                                                             request.form.get("reason", "")),
                    _("退回申请已提交，等待区府办审核。"))
    return _act(item_id, lambda s, user, item: cohandling.sign_part(s, user, item), _("已签收协办部分。"))


@bp.post("/co-returns/<int:request_id>")
@roles_required("office")
def decide_co_return(request_id: int):
    approve = request.form.get("decision") == "approve"
    with db().reading() as s:
        from engine.models import ReturnRequest
        req = s.get(ReturnRequest, request_id)
        if req is None:
            abort(404)
        item_id = req.item_id
    return _act(item_id, lambda s, user, item: cohandling.decide_co_return(s, user, request_id, approve,
                                                                          request.form.get("opinion", "")),
                _("已同意退回，该协办单位不再参与办理。") if approve else _("已不同意退回，由该协办单位继续协办。"))


def _act(item_id: int, command, done: str, form: str | None = None):
    """Run one engine command on an item; its errors are flashed and the item page shown again, or, for one of
    the page's own forms (`form`), that form opens again as typed with each error beside its field."""
    try:
        with db().transaction() as s:
            item = s.get(Item, item_id)
            if item is None:
                abort(404)
            command(s, s.get(User, current_user.id), item)
        flash(done, "success")
    except NotAllowed:
        abort(403)
    except FormInvalid as exc:
        if form is not None:
            return refused_side_form(item_id, form, exc)
        for e in exc.errors:
            flash(field_error_text(e), "error")
    return redirect(url_for("items.detail", item_id=item_id), code=303)


@bp.post("/<int:item_id>/merge")
@roles_required("office")
def merge(item_id: int):
    into = request.form.get("into", "")
    return _act(item_id, lambda s, user, item: merging.merge_item(s, user, item.id, into),
                _("已并案：并入 %(number)s。", number=into.strip()))


@bp.post("/<int:item_id>/waive")
@roles_required("office")
def waive(item_id: int):
    return _act(item_id, lambda s, user, item: cohandling.waive_opinion(s, user, item, request.form.get("unit", ""),
                                                                       request.form.get("reason", "")),
                _("已免除该协办单位的协办意见。"))


@bp.post("/<int:item_id>/urge")
@roles_required("office", "supervisor")
def urge(item_id: int):
    f = request.form
    return _act(item_id, lambda s, user, item: supervision.urge(s, user, item, f.get("unit", ""), f.get("channel", ""),
                                                               f.get("urged_on", ""), f.get("text", "")),
                _("已催办，催办内容已送达该单位。"), form="urge")


@bp.post("/<int:item_id>/checks")
@roles_required("office", "supervisor")
def check(item_id: int):
    f = request.form
    return _act(item_id, lambda s, user, item: supervision.record_check(s, user, item, f.get("kind", ""),
                                                                       f.get("held_on", ""), f.get("note", "")),
                _("已记录督查情况。"), form="check")


@bp.post("/promises/<int:promise_id>/progress")
@roles_required("unit_handler", "unit_head")
def promise_progress(promise_id: int):
    return _promise(promise_id, lambda s, user: promises.report_progress(s, user, promise_id,
                                                                          request.form.get("text", "")),
                    _("已报告落实进展。"))


@bp.post("/promises/<int:promise_id>/close")
@roles_required("office")
def promise_close(promise_id: int):
    return _promise(promise_id, lambda s, user: promises.close_promise(s, user, promise_id,
                                                                        request.form.get("evidence", "")),
                    _("承诺事项已销号。"))


def _promise(promise_id: int, command, done: str):
    with db().reading() as s:
        promise = s.get(Promise, promise_id)
        if promise is None:
            abort(404)
        item_id = promise.item_id
    try:
        with db().transaction() as s:
            command(s, s.get(User, current_user.id))
        flash(done, "success")
    except NotAllowed:
        abort(403)
    except FormInvalid as exc:
        for e in exc.errors:
            flash(field_error_text(e), "error")
    return redirect(url_for("items.detail", item_id=item_id, _anchor="promises"), code=303)
