"""Login, logout and the language switch."""
from __future__ import annotations

from urllib.parse import urlparse

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import UserMixin, current_user, login_required, login_user, logout_user

from engine.people.accounts import authenticate
from engine.models import User
from web import LANGUAGES, login_manager
from web.helpers import db

bp = Blueprint("auth", __name__)


class SessionUser(UserMixin):
    """What a request knows of its user; the engine gets the database row itself."""

    def __init__(self, user: User):
        self.id, self.username, self.name = user.id, user.username, user.name
        self.role, self.unit_id = user.role, user.unit_id
        self.unit_name = user.unit.name if user.unit else None
        self.active = user.active

    @property
    def is_active(self) -> bool:
        return self.active


@login_manager.user_loader
def load_user(user_id: str):
    with db().reading() as s:
        user = s.get(User, int(user_id))
        return SessionUser(user) if user is not None and user.active else None


def _safe_next(target: str | None) -> str:
    if target and not urlparse(target).netloc and target.startswith("/"):
        return target
    return url_for("tasks.inbox")


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "POST":
        with db().reading() as s:
            user = authenticate(s, request.form.get("username", ""), request.form.get("password", ""))
            if user is not None:
                login_user(SessionUser(user))
                return redirect(_safe_next(request.args.get("next")))
        flash(_("用户名或密码错误。"), "error")
        return render_template("auth/login.html", username=request.form.get("username", "")), 401
    return render_template("auth/login.html", username="")


@bp.post("/logout")
@login_required
def logout():
    logout_user()
    return redirect(url_for("auth.login"))


@bp.get("/lang/<code>")
def set_language(code: str):
    if code in LANGUAGES:
        session["lang"] = code
    return redirect(_safe_next(request.args.get("next") or request.referrer and urlparse(request.referrer).path))


@bp.get("/")
def index():
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    return redirect(url_for("portal.index") if current_user.role == "proposer" else url_for("tasks.inbox"))
