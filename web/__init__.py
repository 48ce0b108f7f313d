"""banli web: a thin Flask app. Routes parse input, call one engine function, render."""
from __future__ import annotations

from flask import Flask, g, session
from flask_babel import Babel
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect

from engine.config import settings
from engine.db import Database

LANGUAGES = ("zh", "en")
csrf = CSRFProtect()
login_manager = LoginManager()
babel = Babel()


def select_locale() -> str:
    """Simplified Chinese unless the user chose English (offices' browsers often say en-US)."""
    return session.get("lang") if session.get("lang") in LANGUAGES else "zh"


def create_app(config: dict | None = None) -> Flask:
    app = Flask(__name__)
    conf = settings()
    app.config.update(SECRET_KEY=conf.secret_key, DATABASE_URL=conf.database_url,
                      BABEL_DEFAULT_LOCALE="zh", BABEL_DEFAULT_TIMEZONE="Asia/Shanghai",
                      SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax")
    app.config.update(config or {})
    app.extensions["banli_db"] = Database(app.config["DATABASE_URL"])

    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = None

    from web import admin, api, auth, calendar_admin, incidents, items, notifications, supervision, tasks
    from web import imports, partners, portal, public, reports, tokens
    from web.helpers import register_template_helpers

    for bp in (auth.bp, tasks.bp, items.bp, api.bp, supervision.bp, notifications.bp, calendar_admin.bp,
               admin.bp, admin.diagram_bp, incidents.bp, reports.bp, imports.bp, portal.bp, public.bp, tokens.bp,
               partners.bp):
        app.register_blueprint(bp)
    register_template_helpers(app)
    from web import api_v1

    api_v1.configure(app)
    csrf.exempt(api_v1.bp)  # bearer tokens, no cookies: cross-site forgery has nothing to ride on

    @app.teardown_appcontext
    def _close(_exc):
        g.pop("db_session", None)

    return app
