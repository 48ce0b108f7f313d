"""设置 → 访问令牌: a user's personal access tokens for the REST API (create, list, revoke)."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from engine.models import User
from engine.people import tokens
from web.helpers import db, error_text

bp = Blueprint("settings", __name__, url_prefix="/settings")


def _page(new_token: str | None = None, error: str | None = None, status: int = 200):
    with db().reading() as s:
        rows = tokens.tokens_of(s, s.get(User, current_user.id))
    return render_template("settings/tokens.html", rows=rows, scopes=tokens.SCOPES, state=tokens.state,
                           new_token=new_token, error=error, values=request.form,
                           default_days=tokens.DEFAULT_DAYS, max_days=tokens.MAX_DAYS), status


@bp.get("/tokens")
@login_required
def index():
    return _page()


@bp.post("/tokens")
@login_required
def create():
    days = request.form.get("days", type=int)
    try:
        with db().transaction() as s:
            _row, text = tokens.create_token(s, s.get(User, current_user.id), request.form.get("name", ""),
                                             request.form.getlist("scopes"), days if days is not None else -1)
    except ValueError as exc:
        return _page(error=error_text(exc), status=400)
    return _page(new_token=text)


@bp.post("/tokens/<int:token_id>/revoke")
@login_required
def revoke(token_id: int):
    try:
        with db().transaction() as s:
            tokens.revoke(s, s.get(User, current_user.id), token_id)
    except LookupError:
        abort(404)
    flash(_("令牌已吊销。"), "success")
    return redirect(url_for("settings.index"))
