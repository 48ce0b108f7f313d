"""The bell: my notifications, and marking them read."""
from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from engine.people import notifications
from web.helpers import db, safe_redirect_target

bp = Blueprint("notifications", __name__, url_prefix="/notifications")


@bp.get("/")
@login_required
def index():
    with db().reading() as s:
        rows = [(n, *notifications.text(n, _)) for n in notifications.for_user(s, current_user.id)]
    return render_template("notifications.html", rows=rows)


@bp.post("/read")
@login_required
def read():
    """Mark one (id given) or all notifications read; follow the notification's link if it has one."""
    nid = request.form.get("id", type=int)
    with db().transaction() as s:
        notifications.mark_read(s, current_user.id, nid)
    return redirect(safe_redirect_target(request.form.get("next")) or url_for("notifications.index"))


def unread_count() -> int:
    if not current_user.is_authenticated:
        return 0
    with db().reading() as s:
        return notifications.unread_count(s, current_user.id)
