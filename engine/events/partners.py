"""对接平台: partner platforms (代表履职平台, 提案系统). Each acts through its own machine user, whose role and
unit decide what it may see and do exactly as for a person, and receives the events it subscribed to."""
from __future__ import annotations

import base64
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.i18n import N_
from engine.events.outbox import EVENT_TYPES
from engine.models import ROLES, Partner, Unit, User
from engine.people.accounts import MACHINE_PASSWORD, create_user


def new_secret() -> str:
    """A signing key in the Standard Webhooks form: whsec_ and 24 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def _check_url(url: str | None) -> str | None:
    url = (url or "").strip() or None
    if url and not url.startswith(("http://", "https://")):
        raise ValueError(N_("回调地址须以 http:// 或 https:// 开头"))
    return url


def create_partner(session: Session, name: str, role: str, webhook_url: str | None = None,
                   events: list[str] | None = None, unit_code: str | None = None) -> Partner:
    """The partner, its machine user (username `partner:<name>`) and its signing secret."""
    name = (name or "").strip()
    if not name or len(name) > 60:
        raise ValueError(N_("平台名称必填，至多 60 字"))
    if session.scalar(select(Partner.id).where(Partner.name == name)):
        raise ValueError(N_("平台 %(name)s 已存在", name=name))
    events = list(EVENT_TYPES) if events is None else events
    unknown = [e for e in events if e not in EVENT_TYPES]
    if unknown:
        raise ValueError(N_("未知事件类型：%(types)s", types=", ".join(unknown)))
    url = _check_url(webhook_url)
    if role not in ROLES:
        raise ValueError(N_("未知角色：%(role)s", role=role))
    if unit_code and session.scalar(select(Unit.id).where(Unit.code == unit_code)) is None:
        raise ValueError(N_("单位编码不存在：%(code)s", code=unit_code))
    user = create_user(session, f"partner:{name}", name, role, "unused", unit_code=unit_code)
    user.password_hash = MACHINE_PASSWORD
    partner = Partner(name=name, user_id=user.id, webhook_url=url, secret=new_secret(), events=events)
    session.add(partner)
    session.flush()
    return partner


def partners(session: Session) -> list[tuple[Partner, User]]:
    return session.execute(select(Partner, User).join(User, User.id == Partner.user_id).order_by(Partner.name)).all()

