"""代表委员: a proposer's own items on a phone: where each stands, deadlines, consultations, replies, rating."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from engine.items import merging, portal
from engine.models import User
from engine.people.authz import NotAllowed
from engine.workflow.forms import FormInvalid
from web.helpers import current_lang, db, roles_required

bp = Blueprint("portal", __name__, url_prefix="/portal")


@bp.get("/")
@roles_required("proposer")
def index():
    with db().reading() as s:
        entries = portal.my_items(s, s.get(User, current_user.id))
        return render_template("portal/index.html", entries=entries)


@bp.get("/items/<int:item_id>")
@roles_required("proposer")
def item(item_id: int):
    with db().reading() as s:
        detail = portal.portal_item(s, s.get(User, current_user.id), item_id)
        if detail is None:  # another proposer's item looks exactly like a missing one
            abort(404)
        return render_template("portal/item.html", d=detail)


@bp.post("/items/<int:item_id>/rate")
@roles_required("proposer")
def rate_merged(item_id: int):
    """评价 of the lead item's reply by the proposer of an item merged into it (并案)."""
    f = request.form
    try:
        with db().transaction() as s:
            merging.rate_merged(s, s.get(User, current_user.id), item_id, f.get("attitude", ""), f.get("result", ""),
                                f.get("rating_reason", ""))
        flash(_("评价已提交，谢谢！"), "success")
    except NotAllowed:
        abort(404)
    except FormInvalid as exc:
        for e in exc.errors:
            flash(f"{e.label}：{e.message(current_lang())}", "error")
    return redirect(url_for("portal.item", item_id=item_id), code=303)
