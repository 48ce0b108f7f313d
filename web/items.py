"""Items: the list with filters, registration, and the item page with its timeline."""
from __future__ import annotations

import uuid

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select

from engine.items import attachments, extensions
from engine.items import letter as reply_letter
from engine.items import queries
from engine.people import visibility
from engine.workflow.forms import FieldError, FormInvalid
from engine.models import ITEM_STATUSES, Item, Unit, User
from engine.items.registration import register_item
from engine.workflow.runtime import instance_of
from web.helpers import current_lang, db, item_filter, roles_required, uploads

bp = Blueprint("items", __name__, url_prefix="/items")

REGISTRATION_FIELDS = ("item_type", "year", "number", "session", "title", "content", "proposer", "cosigners",
                       "category", "suggested_units", "request_token")


@bp.get("/")
@login_required
def index():
    if current_user.role == "proposer":
        return redirect(url_for("portal.index"))
    f = item_filter(request.args, page=request.args.get("page", 1, type=int))
    with db().reading() as s:
        items, total = queries.list_items(s, s.get(User, current_user.id), f)
        units = s.scalars(select(Unit).order_by(Unit.name)).all()
    return render_template("items/index.html", items=items, total=total, f=f, units=units,
                           statuses=ITEM_STATUSES, page_size=queries.PAGE_SIZE)


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


@bp.get("/<int:item_id>")
@login_required
def detail(item_id: int):
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
        approved = reply_letter.approved_reply(s, item)
        can_scan = approved is not None and (viewer.role == "office" or (
            viewer.role in ("unit_handler", "unit_head") and viewer.unit_id == approved.unit_id))
        return render_template("items/detail.html", item=item, d=d, can_extend=can_extend, approved=approved,
                               can_scan=can_scan)


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
    except FormInvalid as exc:
        flash("；".join(e.message(current_lang()) for e in exc.errors), "error")
    return redirect(url_for("items.detail", item_id=item_id))


@bp.get("/<int:item_id>/letter.docx")
@login_required
def letter(item_id: int):
    """答复函 of the approved reply, numbered from the unit's yearly counter on first download."""
    try:
        with db().transaction() as s:
            item = s.get(Item, item_id) or abort(404)
            result = reply_letter.reply_letter(s, item, s.get(User, current_user.id))
    except PermissionError:
        abort(404)
    except reply_letter.LetterUnavailable:
        flash(_("尚无审核通过的答复，不能生成答复函。"), "error")
        return redirect(url_for("items.detail", item_id=item_id))
    from urllib.parse import quote

    return Response(result.data, mimetype=reply_letter.DOCX_MIME, headers={
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(result.filename)}",
        "Cache-Control": "private, no-store"})
