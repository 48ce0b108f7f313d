"""登录会话: signing in and out, kept on the server, and throttled guessing.

A signed-in browser holds a random token in its (signed) session cookie; the server keeps the token's
SHA-256 in `login_session`. A request is signed in only while that row exists: logging out deletes it,
changing a password deletes every row of the user, an inactive user has none. A copied or stolen cookie
is therefore worth nothing after logout, unlike a cookie that merely carries the user id.

Guessing is throttled: after MAX_FAILURES_PER_USER failed attempts on one user name, or
MAX_FAILURES_PER_ADDRESS from one address, within FAILURE_WINDOW, further attempts are refused without
checking the password until the window has passed. Every answer costs one scrypt, whether the user
exists or not, so timing does not tell which user names exist.
"""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.orm import Session

from engine.i18n import N_
from engine import clock
from engine.models import ApiToken, LoginFailure, LoginSession, User
from engine.people import accounts

FAILURE_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_USER = 5
MAX_FAILURES_PER_ADDRESS = 20


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(session: Session, user: User) -> str:
    """A new server-side session for `user`; returns the token the cookie carries."""
    token = secrets.token_urlsafe(32)
    session.add(LoginSession(token_hash=_hash(token), user_id=user.id))
    session.flush()
    return token


# Built once: every signed-in request reads its user by it (building it at each request cost as much as its run).
_SESSION_USER = (select(User).join(LoginSession, LoginSession.user_id == User.id)
                 .where(LoginSession.token_hash == bindparam("token_hash")))


def session_user(session: Session, token: str | None) -> User | None:
    """The active user whose session this token is, or None (logged out, password changed, unknown)."""
    if not token:
        return None
    user = session.scalars(_SESSION_USER, {"token_hash": _hash(token)}).first()
    return user if user is not None and user.active else None


def close_session(session: Session, token: str | None) -> None:
    """Logout: this token stops working everywhere, at once."""
    if token:
        session.execute(delete(LoginSession).where(LoginSession.token_hash == _hash(token)))


def close_all_sessions(session: Session, user_id: int) -> int:
    """Every session of this user ends, and every API token is revoked (after a password change, a reset or
    a deactivation): a token is a way in too, and one taken with the account must not outlive its password."""
    session.execute(update(ApiToken).where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
                    .values(revoked_at=clock.now()))
    return session.execute(delete(LoginSession).where(LoginSession.user_id == user_id)).rowcount or 0


@dataclass(frozen=True)
class LoginResult:
    user: User | None
    token: str | None = None
    throttled: bool = False


def throttled(session: Session, username: str, address: str) -> bool:
    since = clock.now() - FAILURE_WINDOW
    per_user = session.scalar(select(func.count()).select_from(LoginFailure).where(
        LoginFailure.username == username, LoginFailure.at > since)) or 0
    if per_user >= MAX_FAILURES_PER_USER:
        return True
    per_address = session.scalar(select(func.count()).select_from(LoginFailure).where(
        LoginFailure.address == address, LoginFailure.at > since)) or 0
    return per_address >= MAX_FAILURES_PER_ADDRESS


def log_in(session: Session, username: str, password: str, address: str | None) -> LoginResult:
    """Check the password (unless throttled) and open a session. Writes: call inside a transaction."""
    username, address = (username or "").strip()[:80], (address or "unknown")[:64]
    if throttled(session, username, address):
        accounts.check_password(accounts.DUMMY_HASH, password)  # the same cost as any other answer
        return LoginResult(None, throttled=True)
    user = accounts.authenticate(session, username, password)
    if user is None:
        session.add(LoginFailure(username=username, address=address, at=clock.now()))
        # Old rows are of no use to anyone: drop them as we go.
        session.execute(delete(LoginFailure).where(LoginFailure.at < clock.now() - FAILURE_WINDOW))
        return LoginResult(None)
    session.execute(delete(LoginFailure).where(LoginFailure.username == username))
    return LoginResult(user, open_session(session, user))


class PasswordRejected(ValueError):
    """The current password is wrong or the new one does not do (a catalog message)."""


MIN_PASSWORD = 8


def change_password(session: Session, user: User, current: str, new: str, confirm: str) -> str:
    """Set a new password, end every session of the user, and open a fresh one for this browser."""
    if not accounts.check_password(user.password_hash, current or ""):
        raise PasswordRejected(N_("当前密码不正确。"))
    if len(new or "") < MIN_PASSWORD:
        raise PasswordRejected(N_("新密码至少 %(n)s 个字符。", n=MIN_PASSWORD))
    if new != confirm:
        raise PasswordRejected(N_("两次输入的新密码不一致。"))
    user.password_hash = accounts.hash_password(new)
    close_all_sessions(session, user.id)
    return open_session(session, user)
