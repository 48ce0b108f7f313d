"""代表委员: a proposer's own items on a phone: where each stands, deadlines, consultations, replies, rating."""
from __future__ import annotations

from flask import Blueprint, abort, render_template
from flask_login import current_user

from engine.items import portal
from engine.models import User
from web.helpers import db, roles_required

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
