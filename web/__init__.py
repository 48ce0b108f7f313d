"""banli web: a thin Flask app. Routes parse input, call one engine function, render."""
from __future__ import annotations

import os

from flask import Flask, g, session
from flask_babel import Babel
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from engine.config import installation_secret, settings
from engine.db import Database

LANGUAGES = ("zh", "en")
csrf = CSRFProtect()
login_manager = LoginManager()
babel = Babel()


def select_locale() -> str:
    """Simplified Chinese unless the user chose English (offices' browsers often say en-US)."""
    return session.get("lang") if session.get("lang") in LANGUAGES else "zh"


def create_app(config: dict | None = None) -> Flask:
    """The app. `PRODUCTION=True` (banli serve --prod) sends cookies over HTTPS only and asks browsers to
    keep to HTTPS (HSTS); TLS itself is the reverse proxy's."""
    app = Flask(__name__)
    conf = settings()
    app.config.update(DATABASE_URL=conf.database_url, BABEL_DEFAULT_LOCALE="zh",
                      BABEL_DEFAULT_TIMEZONE="Asia/Shanghai", SESSION_COOKIE_HTTPONLY=True,
                      SESSION_COOKIE_SAMESITE="Lax", PRODUCTION=False)
    app.config.update(config or {})
    if not app.config.get("SECRET_KEY"):  # SECRET_KEY, else this installation's own generated key
        app.config["SECRET_KEY"] = conf.secret_key or installation_secret(app.config["DATABASE_URL"])
    if app.config["PRODUCTION"]:
        app.config.update(SESSION_COOKIE_SECURE=True, REMEMBER_COOKIE_SECURE=True)
    # Behind the TLS proxy every request comes from the proxy: the client's address (which login throttling
    # counts) is in X-Forwarded-For, trusted from as many proxies as BANLI_TRUSTED_PROXIES says (production
    # default 1, else 0: a client talking to us directly could write that header itself).
    proxies = int(os.environ.get("BANLI_TRUSTED_PROXIES", "1" if app.config["PRODUCTION"] else "0"))
    if proxies > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)
    app.extensions["banli_db"] = Database(app.config["DATABASE_URL"])

    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = None

    from web import admin, api, auth, calendar_admin, incidents, items, notifications, supervision, tasks
    from web import directory, imports, partners, portal, public, reports, tokens, units
    from web import inputs
    from web.helpers import register_template_helpers
    from web.security import register_security_headers

    inputs.install(app)
    incidents.install(app)
    for bp in (auth.bp, tasks.bp, items.bp, api.bp, supervision.bp, notifications.bp, calendar_admin.bp,
               admin.bp, admin.diagram_bp, incidents.bp, reports.bp, imports.bp, portal.bp, public.bp, directory.bp,
               tokens.bp, partners.bp, units.bp):
        app.register_blueprint(bp)
    register_template_helpers(app)
    from web import api_v1

    api_v1.configure(app)
    csrf.exempt(api_v1.bp)  # bearer tokens, no cookies: cross-site forgery has nothing to ride on
    register_security_headers(app)

    @app.get("/favicon.ico")
    def favicon():  # browsers ask for it at the root on their own, whatever the page links
        return app.send_static_file("favicon.svg")

    @app.teardown_appcontext
    def _close(_exc):
        g.pop("db_session", None)

    return app
