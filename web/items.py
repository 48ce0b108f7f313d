"""Items: the list with filters, registration, and the item page with its timeline."""
from __future__ import annotations

import uuid

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select

from engine.items import extensions
from engine.items import queries
from engine.people import visibility
from engine.workflow.forms import FormInvalid
from engine.models import ITEM_STATUSES, Item, Unit, User
from engine.items.registration import register_item
from engine.workflow.runtime import instance_of
from web.helpers import current_lang, db, item_filter, roles_required

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
        try:
            with db().transaction() as s:
                item = register_item(s, values, s.get(User, current_user.id))
                item_id, number, started = item.id, item.number, instance_of(s, item.id).status != "incident"
            if started:
                flash(_("已登记 %(number)s，等待交办。", number=number), "success")
            else:
                flash(_("已登记 %(number)s，但流程启动出错，已通知流程管理员处理。", number=number), "error")
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
        d = queries.item_detail(s, item)
        can_extend = extensions.may_ask(s, viewer, item)
        return render_template("items/detail.html", item=item, d=d, can_extend=can_extend)
