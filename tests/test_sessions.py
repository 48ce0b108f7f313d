"""Sessions and login: server-side logout and password change, the generated secret key, secure cookies,
security headers, throttled guessing with answers that cost the same, and the one redirect validator."""
from __future__ import annotations

import os
import re
import stat
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import func, select

from engine import clock
from engine.demo import DEMO_PASSWORD
from engine.models import LoginSession
from engine.people import accounts, sessions
from tests.conftest import csrf_token, login, user
from web.helpers import safe_redirect_target


def cookie(client) -> str:
    return client.get_cookie("session").value


def signed_in(client) -> bool:
    return client.get("/tasks/").status_code == 200


def test_logout_kills_the_old_cookie_on_the_server(app, client):
    login(client, "office")
    stolen = cookie(client)
    assert signed_in(client)
    client.post("/logout", data={"csrf_token": csrf_token(client, "/tasks/")})
    assert not signed_in(client)
    replay = app.test_client()
    replay.set_cookie("session", stolen)  # the cookie copied before logout is worth nothing
    r = replay.get("/tasks/")
    assert r.status_code == 302 and "/login" in r.headers["Location"]


def test_password_change_ends_every_other_session(app, client, demo_db):
    other = app.test_client()
    login(client, "jtj_staff")
    login(other, "jtj_staff")
    assert signed_in(client) and signed_in(other)
    token = csrf_token(client, "/account/password")
    bad = client.post("/account/password", data={"csrf_token": token, "current": "wrong", "new": "n3w-secret!",
                                                   "confirm": "n3w-secret!"})
    assert bad.status_code == 400 and "当前密码不正确" in bad.get_data(as_text=True) and signed_in(other)
    short = client.post("/account/password", data={"csrf_token": token, "current": DEMO_PASSWORD, "new": "short",
                                                     "confirm": "short"})
    assert short.status_code == 400 and "至少 8 个字符" in short.get_data(as_text=True)
    client.get("/lang/en")  # the same refusals in English: catalog messages, nothing Chinese left
    bad = client.post("/account/password", data={"csrf_token": token, "current": "wrong", "new": "n3w-secret!",
                                                   "confirm": "n3w-secret!"}).get_data(as_text=True)
    assert "The current password is wrong." in bad and "当前密码" not in bad
    short = client.post("/account/password", data={"csrf_token": token, "current": DEMO_PASSWORD, "new": "short",
                                                     "confirm": "short"}).get_data(as_text=True)
    assert "The new password needs at least 8 characters." in short
    client.get("/lang/zh")
    r = client.post("/account/password", data={"csrf_token": token, "current": DEMO_PASSWORD, "new": "n3w-secret!",
                                                "confirm": "n3w-secret!"})
    assert r.status_code == 302
    assert signed_in(client) and not signed_in(other)
    with demo_db.reading() as s:
        assert s.scalar(select(func.count()).select_from(LoginSession)
                        .where(LoginSession.user_id == user(s, "jtj_staff").id)) == 1
    fresh = app.test_client()
    assert login(fresh, "jtj_staff").status_code == 401
    assert login(fresh, "jtj_staff", "n3w-secret!").status_code == 302


def test_a_deactivated_user_is_signed_out(client, demo_db):
    login(client, "jtj_staff")
    with demo_db.transaction() as s:
        user(s, "jtj_staff").active = False
    assert not signed_in(client)


def test_the_secret_key_is_generated_once_per_installation(tmp_path, monkeypatch, db):
    from web import create_app

    monkeypatch.delenv("SECRET_KEY", raising=False)
    url = f"sqlite:///{tmp_path / 'office' / 'banli.db'}"
    first = create_app({"DATABASE_URL": url}).config["SECRET_KEY"]
    again = create_app({"DATABASE_URL": url}).config["SECRET_KEY"]
    key_file = tmp_path / "office" / "secret_key"
    assert first == again == key_file.read_text().strip() and len(first) == 64
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600  # only the owner reads it
    elsewhere = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'other' / 'banli.db'}"}).config["SECRET_KEY"]
    assert elsewhere != first and "dev-only" not in first
    monkeypatch.setenv("SECRET_KEY", "given-by-the-operator")
    assert create_app({"DATABASE_URL": url}).config["SECRET_KEY"] == "given-by-the-operator"


def test_production_cookies_are_secure_and_headers_are_sent(demo_db):
    from web import create_app

    app = create_app({"DATABASE_URL": demo_db.url, "SECRET_KEY": "test", "PRODUCTION": True})
    app.extensions["banli_db"] = demo_db
    client = app.test_client()
    r = login(client, "office")
    set_cookie = r.headers["Set-Cookie"]
    assert "Secure" in set_cookie and "HttpOnly" in set_cookie and "SameSite=Lax" in set_cookie
    assert r.headers["Strict-Transport-Security"].startswith("max-age=")


@pytest.mark.parametrize("path", ["/login", "/public/", "/tasks/"])
def test_security_headers_everywhere(client, path):
    login(client, "office")
    r = client.get(path)
    assert r.headers["X-Frame-Options"] == "DENY" and r.headers["X-Content-Type-Options"] == "nosniff"
    csp = r.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    assert r.headers["Referrer-Policy"] == "same-origin"
    assert "Strict-Transport-Security" not in r.headers  # only in production (HTTPS)
    if path == "/tasks/":
        assert r.headers["Cache-Control"] == "no-store"


def test_failed_logins_are_throttled_per_user(app, client):
    for _ in range(sessions.MAX_FAILURES_PER_USER):
        assert login(client, "office", "guess").status_code == 401
    r = login(client, "office")  # even the right password waits out the window
    assert r.status_code == 429 and "登录失败次数过多" in r.get_data(as_text=True)
    assert login(app.test_client(), "supervisor").status_code == 302  # another user is not locked out
    with time_machine.travel(clock.now() + sessions.FAILURE_WINDOW + timedelta(seconds=1), tick=False):
        assert login(app.test_client(), "office").status_code == 302


def test_failed_logins_are_throttled_per_address(app, client):
    for i in range(sessions.MAX_FAILURES_PER_ADDRESS):
        login(client, f"nobody{i}", "guess")
    assert login(client, "office").status_code == 429
    other = app.test_client()
    r = other.post("/login", data={"username": "office", "password": DEMO_PASSWORD,
                                   "csrf_token": csrf_token(other)}, environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert r.status_code == 302


def test_unknown_and_known_users_cost_the_same_scrypt(demo_db, monkeypatch):
    calls = []
    real = accounts.hashlib.scrypt

    class Counting:
        @staticmethod
        def scrypt(*args, **kwargs):
            calls.append(kwargs.get("n"))
            return real(*args, **kwargs)

        sha256 = staticmethod(accounts.hashlib.sha256)

    monkeypatch.setattr(accounts, "hashlib", Counting)
    with demo_db.transaction() as s:
        for name in ("no_such_user", "office"):
            calls.clear()
            assert sessions.log_in(s, name, "wrong", "10.0.0.1").user is None
            assert calls == [2**14]  # one scrypt of the same cost either way
        for _ in range(sessions.MAX_FAILURES_PER_USER):
            sessions.log_in(s, "office", "wrong", "10.0.0.2")
        calls.clear()
        assert sessions.log_in(s, "office", "wrong", "10.0.0.2").throttled and calls == [2**14]


@pytest.mark.parametrize("target", [
    "//evil.example", "/\t/evil.example", "/\\evil.example", "/\\/evil.example", "https://evil.example/",
    "javascript:alert(1)", "/\n/evil.example", " /x", "http:/evil.example", "/%0d%0aSet-Cookie:x", None, "",
    "evil.example", "/\x7f/x",
])
def test_redirect_targets_off_site_are_refused(target):
    expected = "/%0d%0aSet-Cookie:x" if target == "/%0d%0aSet-Cookie:x" else None  # encoded: a harmless path
    assert safe_redirect_target(target) == expected


@pytest.mark.parametrize("target", ["/items/?year=2026", "/portal/items/3#task-x", "/"])
def test_redirect_targets_on_site_are_kept(target):
    assert safe_redirect_target(target) == target


def test_login_and_language_redirects_stay_on_site(client):
    token = csrf_token(client)
    r = client.post("/login?next=/%09/evil.example", data={"username": "office", "password": DEMO_PASSWORD,
                                                           "csrf_token": token})
    assert r.headers["Location"] == "/tasks/"
    assert client.get("/lang/en?next=//evil.example").headers["Location"] == "/"
    assert client.get("/lang/zh?next=/items/").headers["Location"] == "/items/"
    # A notification followed from the list: its link, never another site's.
    token = csrf_token(client, "/notifications/")
    for target in ("/\t/evil.example", "/\\evil.example", "//evil.example"):
        r = client.post("/notifications/read", data={"csrf_token": token, "next": target})
        assert r.headers["Location"] == "/notifications/", target
    r = client.post("/notifications/read", data={"csrf_token": token, "next": "/items/?year=2026"})
    assert r.headers["Location"] == "/items/?year=2026"


def test_behind_the_proxy_throttling_counts_the_client_address(demo_db, monkeypatch):
    from web import create_app

    monkeypatch.delenv("BANLI_TRUSTED_PROXIES", raising=False)
    app = create_app({"DATABASE_URL": demo_db.url, "SECRET_KEY": "test", "PRODUCTION": True})
    app.extensions["banli_db"] = demo_db
    client = app.test_client()

    site = "https://banli.example"  # as the proxy forwards it: HTTPS, so the Secure cookie travels

    def attempt(address, username, password):
        html = client.get("/login", base_url=site).get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
        return client.post("/login", data={"username": username, "password": password, "csrf_token": token},
                           headers={"X-Forwarded-For": address, "Referer": f"{site}/login"}, base_url=site)

    for i in range(sessions.MAX_FAILURES_PER_ADDRESS):
        attempt("203.0.113.7", f"nobody{i}", "guess")
    assert attempt("203.0.113.7", "office", DEMO_PASSWORD).status_code == 429
    assert attempt("198.51.100.2", "office", DEMO_PASSWORD).status_code == 302  # another client, same proxy
