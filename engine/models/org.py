"""Who works in the procedure: handling units and users with their role (角色)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, utcnow

# Roles of DOMAIN.md. A user has one role; 'admin' is the process admin.
ROLES = ("office", "unit_handler", "unit_head", "leader", "proposer", "supervisor", "admin")


class Unit(Base):
    """承办单位: a handling unit."""

    __tablename__ = "unit"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200), index=True)  # the unit filters' type-ahead reads in name order
    # 发文字号 prefix of the unit's reply letters, e.g. 交运函 (交运函〔2026〕12号); the name when unset.
    letter_prefix: Mapped[str | None] = mapped_column(String(40))
    active: Mapped[bool] = mapped_column(default=True)


class UnitNameGram(Base):
    """The type-ahead's index of unit names (engine.people.unit_search): each character and each pair of
    adjacent characters of a unit's name, with the name. A name typed is usually two characters (交通, 教育)
    anywhere in the name, which no index of the names narrows; the rows of one of its pairs, read in name
    order, are the units that may contain it, so the suggestions cost about the units they show."""

    __tablename__ = "unit_name_gram"
    gram: Mapped[str] = mapped_column(String(2), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id", ondelete="CASCADE"), primary_key=True, index=True)


class User(Base):
    __tablename__ = "user_account"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20), index=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"), index=True)
    email: Mapped[str | None] = mapped_column(String(200))
    # When the address was last set: only notifications of later events are e-mailed to it.
    email_set_at: Mapped[datetime | None]
    phone: Mapped[str | None] = mapped_column(String(40))
    lang: Mapped[str | None] = mapped_column(String(5))  # the UI language last chosen: e-mails are written in it
    # For proposers: 代表 (deputy) or 委员 (member).
    proposer_kind: Mapped[str | None] = mapped_column(String(20))
    # 代表名册 / 委员名册: the deputy's or member's number, and the delegation (代表团) or sector (界别).
    roster_number: Mapped[str | None] = mapped_column(String(40))
    delegation: Mapped[str | None] = mapped_column(String(120))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    unit: Mapped[Unit | None] = relationship(lazy="joined")


class LoginSession(Base):
    """A signed-in browser: the session cookie carries a random token, this row its SHA-256. Logging out
    deletes the row and a password change deletes all of the user's rows, so an old cookie is worth nothing."""

    __tablename__ = "login_session"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LoginFailure(Base):
    """One failed login, kept a short while to throttle guessing per user name and per address."""

    __tablename__ = "login_failure"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), index=True)
    address: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
