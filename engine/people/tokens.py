"""个人访问令牌: personal access tokens for the REST API, with scopes and an expiry, stored hashed, revocable.

A token is 32 random bytes, so a plain SHA-256 is enough to store it (no salt or slow hash is needed
against guessing); the token itself is shown once, when it is created.
"""
from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import clock
from engine.i18n import N_
from engine.models import ApiToken, User

PREFIX = "banli_"
# What a token may do. Reading follows the user's own visibility; writing runs the user's own commands.
SCOPES = {
    "items:read": N_("读取事项"),  # read items
    "items:write": N_("登记、撤回事项"),  # register and withdraw items
    "tasks:read": N_("读取待办任务"),  # read tasks
    "tasks:write": N_("办理任务"),  # complete tasks
    "reports:read": N_("读取期限、督查看板和统计"),  # read deadlines, the board and statistics
    "processes:read": N_("读取流程版本和故障"),  # read process versions and incidents
    "processes:write": N_("检查和部署流程"),  # check and deploy processes
}
DEFAULT_DAYS, MAX_DAYS = 90, 366


class TokenInvalid(Exception):
    """The token is unknown, expired or revoked, or its user is inactive."""


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(session: Session, user: User, name: str, scopes: list[str], days: int = DEFAULT_DAYS
                 ) -> tuple[ApiToken, str]:
    """Create a token; returns the row and the token text (shown once, never stored)."""
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ValueError(N_("令牌名称必填，至多 100 字"))
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown or not scopes:
        raise ValueError(N_("未知或缺少权限范围：%(scopes)s", scopes=", ".join(unknown) or "-"))
    if not 1 <= days <= MAX_DAYS:
        raise ValueError(N_("有效期须为 1 至 %(n)s 天", n=MAX_DAYS))
    token = PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(user_id=user.id, name=name, token_hash=digest(token), prefix=token[:12],
                   scopes=sorted(set(scopes)), expires_at=clock.now() + timedelta(days=days))
    session.add(row)
    session.flush()
    return row, token


def authenticate(session: Session, token: str) -> tuple[User, ApiToken]:
    """The user and token row behind a bearer token, or TokenInvalid."""
    row = session.scalars(select(ApiToken).where(ApiToken.token_hash == digest(token.strip()))).first()
    now = clock.now()
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        raise TokenInvalid(N_("令牌无效、已过期或已吊销"))
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        raise TokenInvalid(N_("令牌所属用户已停用"))
    row.last_used_at = now
    return user, row


def tokens_of(session: Session, user: User) -> list[ApiToken]:
    return session.scalars(select(ApiToken).where(ApiToken.user_id == user.id)
                           .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())).all()


def revoke(session: Session, user: User, token_id: int) -> ApiToken:
    """Revoke one of the user's own tokens (admins may revoke any)."""
    row = session.get(ApiToken, token_id)
    if row is None or (row.user_id != user.id and user.role != "admin"):
        raise LookupError(N_("令牌不存在"))
    if row.revoked_at is None:
        row.revoked_at = clock.now()
    return row


def state(row: ApiToken) -> str:
    """active, expired or revoked."""
    if row.revoked_at is not None:
        return "revoked"
    return "expired" if row.expires_at <= clock.now() else "active"
