"""The directory (通讯录): units, users and the roster of deputies and members, kept by the office itself.

People are never deleted: they are deactivated and keep their history. Passwords are reset by the
keepers (owners change theirs through `sessions.change_password`); a reset or a deactivation ends the
person's sessions and API tokens. The accounts that hold the keys (admins and the office's own) are an
admin's alone: the office cannot change or reset them, nor grant their roles (`may_keep`). Setting an e-mail address records when, so that only notifications of later events are mailed. Every command validates all fields and raises `DirectoryInvalid` with one
message per bad field (in Chinese and English), in the caller's transaction.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine import clock
from engine.models import ROLES, Unit, User
from engine.people.accounts import hash_password, is_machine
from engine.people.contact import valid_email, valid_phone
from engine.people.sessions import MIN_PASSWORD, close_all_sessions

PROPOSER_KINDS = ("deputy", "member")  # 代表 / 委员
USERNAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789_.-")


@dataclass(frozen=True)
class Problem:
    field: str
    zh: str
    en: str

    def message(self, lang: str = "zh") -> str:
        return self.en if lang == "en" else self.zh


class DirectoryInvalid(Exception):
    def __init__(self, problems: list[Problem]):
        super().__init__("; ".join(f"{p.field}: {p.en}" for p in problems))
        self.problems = problems


def _text(raw: dict, name: str) -> str:
    value = raw.get(name)
    return "" if value is None else str(value).strip()


def _flag(raw: dict, name: str, default: bool = True) -> bool:
    value = raw.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "on", "yes", "y", "是", "启用")


# --- units -----------------------------------------------------------------------------------------------

def save_unit(session: Session, raw: dict, unit: Unit | None = None) -> Unit:
    """Create a unit (unit=None) or change one. Fields: code, name, letter_prefix, active."""
    problems = []
    code, name = _text(raw, "code"), _text(raw, "name")
    if not code:
        problems.append(Problem("code", "请填写单位编码", "Enter the unit's code"))
    elif len(code) > 40 or not set(code.lower()) <= USERNAME_CHARS:
        problems.append(Problem("code", "单位编码只能含字母、数字、下划线、点和连字符（至多40个）",
                                "A unit code has at most 40 letters, digits, _ . or -"))
    else:
        clash = session.scalar(select(Unit.id).where(func.lower(Unit.code) == code.lower()))
        if clash is not None and (unit is None or clash != unit.id):
            problems.append(Problem("code", f"单位编码 {code} 已被使用", f"The unit code {code} is taken"))
    if not name:
        problems.append(Problem("name", "请填写单位名称", "Enter the unit's name"))
    elif len(name) > 200:
        problems.append(Problem("name", "单位名称过长", "The name is too long"))
    prefix = _text(raw, "letter_prefix")
    if len(prefix) > 40:
        problems.append(Problem("letter_prefix", "发文字号前缀过长", "The document-number prefix is too long"))
    if problems:
        raise DirectoryInvalid(problems)
    if unit is None:
        unit = Unit(code=code, name=name)
        session.add(unit)
    unit.code, unit.name, unit.letter_prefix = code, name, prefix or None
    unit.active = _flag(raw, "active", unit.active if unit.id else True)
    session.flush()
    return unit


# --- who keeps which account ------------------------------------------------------------------------------

# Roles that hold the keys to the system: only an admin grants them or changes, resets or deactivates their
# accounts. Were they the office's too, the office could reset an admin's password or make itself admin.
KEY_ROLES = ("admin", "office")
_NOT_KEEPER = Problem("username", "只有系统管理员可以修改区府办和管理员账号",
                      "Only an admin changes the accounts of the office and of admins")


def may_keep(actor: User | None, account: User | None) -> bool:
    """May `actor` change, reset or deactivate `account` (None: a new one)? actor None: the command line.
    A partner's machine user is kept on the partners' page (its token, not a password, is its way in)."""
    if actor is None or account is None:
        return True
    if is_machine(account):
        return False
    return actor.role == "admin" or account.role not in KEY_ROLES or account.id == actor.id  # one's own profile


def may_reset(actor: User | None, account: User) -> bool:
    """May `actor` set `account`'s password without knowing it? Not their own: that asks for the current one
    (sessions.change_password), or a session left open would be a way to keep the account."""
    return may_keep(actor, account) and (actor is None or actor.id != account.id)


def grantable_roles(actor: User | None, account: User | None) -> list[str]:
    """The roles `actor` may give `account` (None: a new one): an admin any; the office any but the key
    roles, besides the one the account has."""
    if actor is None or actor.role == "admin":
        return list(ROLES)
    return [r for r in ROLES if r not in KEY_ROLES or (account is not None and r == account.role)]


def _keeper_problems(actor: User | None, account: User | None, role: str, active: bool) -> list[Problem]:
    if not may_keep(actor, account):
        return [_NOT_KEEPER]
    if actor is None:
        return []
    if account is not None and account.id == actor.id and (role != account.role or not active):
        return [Problem("role", "不能修改自己的角色或停用自己", "You cannot change your own role or deactivate yourself")]
    if role in ROLES and role not in grantable_roles(actor, account):
        return [Problem("role", "只有系统管理员可以授予区府办或管理员角色", "Only an admin grants the office or admin role")]
    return []


# --- users and the roster --------------------------------------------------------------------------------

USER_FIELDS = ("username", "name", "role", "unit", "email", "phone", "active", "proposer_kind",
               "roster_number", "delegation", "password")


def save_user(session: Session, raw: dict, user: User | None = None, actor: User | None = None) -> User:
    """Create a user (user=None; `password` required) or change one (`password` ignored: see set_password),
    as `actor` (None: the command line) may (`may_keep`).

    `unit` is a unit code (required for unit roles); proposers have a kind (deputy / member), a roster
    number and a delegation or sector.
    """
    problems = []
    username, name, role = _text(raw, "username").lower(), _text(raw, "name"), _text(raw, "role")
    if user is not None and not username:
        username = user.username
    if not username:
        problems.append(Problem("username", "请填写用户名", "Enter a username"))
    elif len(username) > 80 or not set(username) <= USERNAME_CHARS:
        problems.append(Problem("username", "用户名只能含小写字母、数字、下划线、点和连字符",
                                "A username has only lower-case letters, digits, _ . or -"))
    else:
        clash = session.scalar(select(User.id).where(func.lower(User.username) == username))
        if clash is not None and (user is None or clash != user.id):
            problems.append(Problem("username", f"用户名 {username} 已被使用", f"The username {username} is taken"))
    if not name:
        problems.append(Problem("name", "请填写姓名", "Enter the name"))
    elif len(name) > 120:
        problems.append(Problem("name", "姓名过长", "The name is too long"))
    if role not in ROLES:
        problems.append(Problem("role", "请选择角色", "Choose a role"))
    unit = None
    unit_code = _text(raw, "unit")
    if unit_code:
        unit = session.scalars(select(Unit).where(Unit.code == unit_code)).first()
        if unit is None:
            problems.append(Problem("unit", f"单位编码 {unit_code} 不存在", f"No unit has the code {unit_code}"))
    elif role in ("unit_handler", "unit_head"):
        problems.append(Problem("unit", "承办单位的人员须选择所属单位", "Unit staff need their unit"))
    email, phone = _text(raw, "email"), _text(raw, "phone")
    if email and not valid_email(email):
        problems.append(Problem("email", "电子邮箱格式不正确", "The e-mail address is not valid"))
    if phone and not valid_phone(phone):
        problems.append(Problem("phone", "电话号码格式不正确（如 13812345678 或 0571-87654321）",
                                "The phone number is not valid (e.g. 13812345678 or 0571-87654321)"))
    kind = _text(raw, "proposer_kind") or None
    if role == "proposer" and kind not in PROPOSER_KINDS:
        problems.append(Problem("proposer_kind", "请选择代表或委员", "Choose deputy or member"))
    password = str(raw.get("password") or "")
    if user is None and len(password) < MIN_PASSWORD:
        problems.append(Problem("password", f"初始密码至少 {MIN_PASSWORD} 位",
                                f"The initial password needs at least {MIN_PASSWORD} characters"))
    problems += _keeper_problems(actor, user, role, _flag(raw, "active", user.active if user is not None else True))
    if problems:
        raise DirectoryInvalid(problems)
    if user is None:
        user = User(username=username, password_hash=hash_password(password))
        session.add(user)
    user.username, user.name, user.role = username, name, role
    user.unit_id = unit.id if unit else None
    user.phone = phone or None
    set_email(user, email or None)
    user.proposer_kind = kind if role == "proposer" else None
    user.roster_number = (_text(raw, "roster_number") or None) if role == "proposer" else None
    user.delegation = (_text(raw, "delegation") or None) if role == "proposer" else None
    user.active = _flag(raw, "active", user.active if user.id else True)
    if not user.active and user.id:
        close_all_sessions(session, user.id)
    session.flush()
    return user


def set_email(user: User, email: str | None) -> None:
    """A new address receives mail only for events from now on (no backlog of old notifications)."""
    if (email or None) != user.email:
        user.email = email or None
        user.email_set_at = clock.now() if email else None


def deactivate(session: Session, user: User) -> None:
    """停用: the person can no longer log in or be chosen; their history stays."""
    user.active = False
    close_all_sessions(session, user.id)
    session.flush()


def set_password(session: Session, user: User, password: str, actor: User | None = None) -> None:
    """A keeper's reset (重置密码): the person's open sessions and API tokens end with the old password."""
    if not may_reset(actor, user):
        raise DirectoryInvalid([_NOT_KEEPER])
    if len(password or "") < MIN_PASSWORD:
        raise DirectoryInvalid([Problem("password", f"密码至少 {MIN_PASSWORD} 位",
                                        f"A password needs at least {MIN_PASSWORD} characters")])
    user.password_hash = hash_password(password)
    close_all_sessions(session, user.id)
    session.flush()


def roster(session: Session, active_only: bool = True) -> list[User]:
    """代表名册 / 委员名册: the proposers, deputies first, by delegation and name."""
    q = select(User).where(User.role == "proposer")
    if active_only:
        q = q.where(User.active)
    return list(session.scalars(q.order_by(User.proposer_kind, User.delegation, User.name)))
