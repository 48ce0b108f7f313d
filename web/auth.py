"""Login, logout and the language switch."""
from __future__ import annotations

from urllib.parse import urlparse

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import UserMixin, current_user, login_required, login_user, logout_user

from engine.people import directory
from engine.people.accounts import authenticate
from engine.models import User
from web import LANGUAGES, login_manager
from web.helpers import current_lang, db

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


# Each role's start page: proposers live in the portal, supervisors on the board, admins in 流程管理.
START_PAGES = {"proposer": "portal.index", "supervisor": "supervision.board", "admin": "admin.index"}


def start_page(role: str | None) -> str:
    return url_for(START_PAGES.get(role or "", "tasks.inbox"))


def _safe_next(target: str | None, role: str | None = None) -> str:
    if target and not urlparse(target).netloc and target.startswith("/") and not target.startswith("//"):
        return target
    return start_page(role)


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "POST":
        with db().reading() as s:
            user = authenticate(s, request.form.get("username", ""), request.form.get("password", ""))
            if user is not None:
                login_user(SessionUser(user))
                return redirect(_safe_next(request.args.get("next"), user.role))
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
    return redirect(start_page(current_user.role) if current_user.is_authenticated else url_for("auth.login"))


@bp.route("/password", methods=["GET", "POST"])
@login_required
def change_password():
    """修改密码: the owner changes their own password."""
    errors = {}
    if request.method == "POST":
        try:
            with db().transaction() as s:
                directory.change_password(s, s.get(User, current_user.id), request.form.get("old_password", ""),
                                          request.form.get("password", ""), request.form.get("repeat", ""))
            flash(_("密码已修改。"), "success")
            return redirect(start_page(current_user.role))
        except directory.DirectoryInvalid as exc:
            errors = {p.field: p.message(current_lang()) for p in exc.problems}
    return render_template("auth/password.html", errors=errors), 400 if errors else 200
