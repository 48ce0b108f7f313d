"""Users and passwords (scrypt hashes; no plain text is ever stored)."""
from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.models import ROLES, Unit, User

_N, _R, _P = 2**14, 8, 1


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P)
    return f"scrypt${_N}${_R}${_P}${salt.hex()}${digest.hex()}"


def check_password(stored: str, password: str) -> bool:
    try:
        _, n, r, p, salt, digest = stored.split("$")
        calc = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(calc.hex(), digest)


# Checked against when the user does not exist, so that an unknown name costs the same scrypt as a known
# one and the answer's timing does not say which names exist.
DUMMY_HASH = f"scrypt${_N}${_R}${_P}${'00' * 16}${'00' * 64}"


MACHINE_PASSWORD = "!"  # a partner's machine user: no scrypt hash, so no password logs it in, only its tokens


def is_machine(user: User) -> bool:
    return user.password_hash == MACHINE_PASSWORD


def authenticate(session: Session, username: str, password: str) -> User | None:
    user = session.scalars(select(User).where(User.username == username.strip())).first()
    ok = check_password(user.password_hash if user is not None else DUMMY_HASH, password)
    if user is None or not user.active or not ok:
        return None
    return user


def remember_language(user: User, lang: str) -> None:
    """The UI language the user chose: what the engine writes to them (e-mails) is in it."""
    if lang in ("zh", "en"):
        user.lang = lang


def create_user(session: Session, username: str, name: str, role: str, password: str,
                unit_code: str | None = None, **extra) -> User:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; roles are {', '.join(ROLES)}")
    unit = session.scalars(select(Unit).where(Unit.code == unit_code)).one() if unit_code else None
    user = User(username=username, name=name, role=role, password_hash=hash_password(password),
                unit_id=unit.id if unit else None, **extra)
    session.add(user)
    session.flush()
    return user
