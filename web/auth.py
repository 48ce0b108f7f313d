"""Login, logout, the password change and the language switch. Sessions live on the server
(engine.people.sessions): the cookie carries only a token that logout and a password change revoke."""
from __future__ import annotations

from urllib.parse import urlparse

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import UserMixin, current_user, login_required, login_user, logout_user

from engine.people import accounts, sessions
from engine.models import User
from web import LANGUAGES, login_manager
from web.helpers import db, error_text, safe_redirect_target

bp = Blueprint("auth", __name__)


class SessionUser(UserMixin):
    """What a request knows of its user; the engine gets the database row itself. Its id for Flask-Login
    is the server-side session token, not the user id: a cookie without a live session row is no login."""

    def __init__(self, user: User, token: str):
        self.id, self.username, self.name = user.id, user.username, user.name
        self.role, self.unit_id = user.role, user.unit_id
        self.unit_name = user.unit.name if user.unit else None
        self.active, self.token = user.active, token

    def get_id(self) -> str:
        return self.token

    @property
    def is_active(self) -> bool:
        return self.active


@login_manager.user_loader
def load_user(token: str):
    with db().reading() as s:
        user = sessions.session_user(s, token)
        return SessionUser(user, token) if user is not None else None


# Each role's start page: proposers live in the portal, supervisors on the board, admins in 流程管理.
START_PAGES = {"proposer": "portal.index", "supervisor": "supervision.board", "admin": "admin.index"}


def _home() -> str:
    return url_for(START_PAGES.get(current_user.role, "tasks.inbox"))


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "POST":
        with db().transaction() as s:
            result = sessions.log_in(s, request.form.get("username", ""), request.form.get("password", ""),
                                     request.remote_addr)
            if result.user is not None:
                if session.get("lang"):  # chosen before logging in
                    accounts.remember_language(result.user, session["lang"])
                login_user(SessionUser(result.user, result.token))
                return redirect(safe_redirect_target(request.args.get("next")) or _home())
        if result.throttled:
            flash(_("登录失败次数过多，请 %(n)s 分钟后再试。", n=int(sessions.FAILURE_WINDOW.total_seconds() // 60)),
                  "error")
            return render_template("auth/login.html", username=request.form.get("username", "")), 429
        flash(_("用户名或密码错误。"), "error")
        return render_template("auth/login.html", username=request.form.get("username", "")), 401
    return render_template("auth/login.html", username="")


@bp.post("/logout")
@login_required
def logout():
    with db().transaction() as s:
        sessions.close_session(s, current_user.token)
    lang = session.get("lang")
    logout_user()
    session.clear()
    if lang:
        session["lang"] = lang
    return redirect(url_for("auth.login"))


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password():
    """Change my password: every other session of mine ends; this browser stays signed in."""
    error = None
    if request.method == "POST":
        try:
            with db().transaction() as s:
                token = sessions.change_password(s, s.get(User, current_user.id), request.form.get("current", ""),
                                                 request.form.get("new", ""), request.form.get("confirm", ""))
                user = s.get(User, current_user.id)
                login_user(SessionUser(user, token))
            flash(_("密码已修改，其他设备上的登录已失效。"), "success")
            return redirect(_home())
        except sessions.PasswordRejected as exc:
            error = error_text(exc)
    return render_template("auth/password.html", error=error,
                           min_length=sessions.MIN_PASSWORD), 400 if error else 200


@bp.get("/lang/<code>")
def set_language(code: str):
    if code in LANGUAGES:
        session["lang"] = code
        if current_user.is_authenticated:
            with db().transaction() as s:
                accounts.remember_language(s.get(User, current_user.id), code)
    back = request.args.get("next") or (request.referrer and urlparse(request.referrer).path)
    return redirect(safe_redirect_target(back) or url_for("auth.index"))


@bp.get("/")
def index():
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    return redirect(_home())
