"""Variants and follow-up of the procedure: supervision by hand, promised measures and year-end carry-over.

催办 (Urge) and 督办检查 (SupervisionCheck) are recorded on the item by the office and supervisors;
承诺事项 (Promise) come out of B and C replies and are tracked until closed with evidence; 结转
(CarryOver) lists what the office carried from one year into the next.
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, utcnow
from .org import Unit, User

URGE_CHANNELS = ("system", "phone", "notice")  # 系统催办, 电话催办, 书面督办通知
CHECK_KINDS = ("phone", "visit", "notice")  # 电话督查, 实地督查, 督办通知


class Urge(Base):
    """催办: the office or a supervisor urges a unit on an item, by hand; delivered to the unit's users."""

    __tablename__ = "urge"
    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), index=True)
    channel: Mapped[str] = mapped_column(String(10))
    urged_on: Mapped[date]
    text: Mapped[str] = mapped_column(Text)
    by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    source: Mapped[str] = mapped_column(String(20))  # the role that urged: office, supervisor
    at: Mapped[datetime] = mapped_column(default=utcnow)

    unit: Mapped[Unit] = relationship(lazy="joined")
    by: Mapped[User] = relationship(lazy="joined")


class SupervisionCheck(Base):
    """督办检查: a recorded check on an item (phone call, site visit, written notice) with its date and note."""

    __tablename__ = "supervision_check"
    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    held_on: Mapped[date]
    note: Mapped[str] = mapped_column(Text)
    by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    at: Mapped[datetime] = mapped_column(default=utcnow)

    by: Mapped[User] = relationship(lazy="joined")


class Promise(Base):
    """承诺事项: one promised measure of an approved B or C reply, owned by a unit, due by a date."""

    __tablename__ = "promise"
    __table_args__ = (Index("ix_promise_status_due", "status", "due_date"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id"), index=True)
    reply_id: Mapped[int] = mapped_column(ForeignKey("reply.id"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), index=True)
    text: Mapped[str] = mapped_column(Text)
    due_date: Mapped[date]
    status: Mapped[str] = mapped_column(String(10), default="open")  # open, done
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None]
    closed_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    evidence: Mapped[str | None] = mapped_column(Text)

    unit: Mapped[Unit] = relationship(lazy="joined")


class PromiseProgress(Base):
    """落实进展: a unit's progress report on a promise."""

    __tablename__ = "promise_progress"
    id: Mapped[int] = mapped_column(primary_key=True)
    promise_id: Mapped[int] = mapped_column(ForeignKey("promise.id"), index=True)
    text: Mapped[str] = mapped_column(Text)
    by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    at: Mapped[datetime] = mapped_column(default=utcnow)

    by: Mapped[User] = relationship(lazy="joined")


class CarryOver(Base):
    """结转: an unfinished item or an open promise carried into a new year; it keeps its year and number."""

    __tablename__ = "carry_over"
    __table_args__ = (UniqueConstraint("year", "item_id", "promise_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    year: Mapped[int] = mapped_column(index=True)  # the year carried into
    kind: Mapped[str] = mapped_column(String(10))  # item, promise
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id"), index=True)
    promise_id: Mapped[int | None] = mapped_column(ForeignKey("promise.id"))
    by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    at: Mapped[datetime] = mapped_column(default=utcnow)
