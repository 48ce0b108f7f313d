"""Deadlines as rows: waiting timers, the deadline ledger, extension requests, per-year rules, notifications."""
from __future__ import annotations

import base64
import uuid
from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from engine.i18n import Msg

from .base import Base, utcnow

if TYPE_CHECKING:
    from .items import Item


class Timer(Base):
    """One waiting BPMN timer of one instance. The sweep selects due rows only (indexed due_at)."""

    __tablename__ = "timer"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # SpiffWorkflow task uuid of the timer event
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id", ondelete="CASCADE"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id"), index=True)
    due_at: Mapped[datetime] = mapped_column(index=True)
    spec_name: Mapped[str] = mapped_column(String(100))  # the boundary event's id
    deadline_key: Mapped[str | None] = mapped_column(String(40))
    kind: Mapped[str | None] = mapped_column(String(20))  # reminder, overdue, expired
    attached_to: Mapped[str | None] = mapped_column(String(100))


class Deadline(Base):
    """期限: one deadline of one item in one round for one owner, with its history (the old due date kept on
    extension). Every page, the board, the notices and the statistics read these rows."""

    __tablename__ = "deadline"
    __table_args__ = (Index("ix_deadline_status_due", "status", "due_date"),
                      # The board walks this in its own order (key items first, flagged first, the earliest due).
                      # Open deadlines only (a closed one has no board date): every board query bounds the
                      # board date, which implies the index's condition, and closed items cost it nothing.
                      Index("ix_deadline_board", "is_key", "board_date", "due_date", "item_id", "id",
                            sqlite_where=text("board_date IS NOT NULL"), postgresql_where=text("board_date IS NOT NULL")))
    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id"), index=True)
    key: Mapped[str] = mapped_column(String(40))  # return_window, first_contact, co_opinion, reply, rating, disclosure
    round: Mapped[int] = mapped_column(default=1)
    step: Mapped[str | None] = mapped_column(String(200))  # what must be done, for the board
    attached_to: Mapped[str | None] = mapped_column(String(100))  # the BPMN activity the deadline watches
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"), index=True)  # the owner: the unit that must act
    owner_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))  # or the person (rating)
    due_date: Mapped[date]
    original_due_date: Mapped[date]
    # open, overdue (flagged), met, met_late, expired (rating window lapsed: 未表态), waived, void
    status: Mapped[str] = mapped_column(String(20), default="open")  # indexed first in ix_deadline_status_due
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    overdue_at: Mapped[datetime | None]
    met_at: Mapped[datetime | None]
    extended: Mapped[bool] = mapped_column(default=False)
    warning: Mapped[str | None] = mapped_column(String(300))  # e.g. computed without the year's holidays (Chinese)
    # The warning as a catalog message (engine.i18n.Msg.to_json) shown in the reader's language; rows written
    # before it have only `warning`.
    warning_message: Mapped[list | dict | None] = mapped_column(JSON(none_as_null=True))
    # The item's own grouping, copied so the board reads and counts deadlines without the item (the ledger
    # refreshes them while the deadline is open; the summary rows were counted under these values).
    item_type: Mapped[str | None] = mapped_column(String(20))
    is_key: Mapped[bool] = mapped_column(default=False)
    leader_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    # What the board sorts and counts by (deadlines.tally.board_date): the due date of an open deadline, the
    # FLAGGED date for a flagged one (late whatever its date), None once closed. Kept by the tally at flush.
    board_date: Mapped[date | None]

    @validates("warning")
    def _keep_warning_message(self, _key, warning):
        self.warning_message = warning.to_json() if isinstance(warning, Msg) else None
        return str(warning)[:300] if warning is not None else None


class DeadlineTally(Base):
    """Summary rows of the board: how many open deadlines per board date, owner unit, deadline key and item
    grouping. Kept in the same transaction as every change of a deadline row (deadlines.tally); the board sums the
    dates of its window instead of counting deadlines, and a new day needs no rewrite (late = before today)."""

    __tablename__ = "deadline_tally"
    # One unit's rows in date order, those that count something (rows at zero stay: see deadlines.tally):
    # the per-unit table reads the units it shows, the per-step table every unit's rows (negative ids).
    __table_args__ = (Index("ix_deadline_tally_unit", "unit_id", "board_date", sqlite_where=text("n > 0"),
                            postgresql_where=text("n > 0")),)
    board_date: Mapped[date] = mapped_column(primary_key=True)
    # 0: no unit (the proposer's rating); negative: every unit (tally.ALL_UNITS, one of its shards)
    unit_id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    item_type: Mapped[str] = mapped_column(String(20), primary_key=True)
    is_key: Mapped[bool] = mapped_column(primary_key=True)
    leader_id: Mapped[int] = mapped_column(primary_key=True)  # 0: no leader
    n: Mapped[int]


class DeadlineUnitTally(Base):
    """The board's per-unit table in its order: per unit and per filter the board offers (a deadline key or
    ANY, an item type or ANY, key items only or all, one leader's items or all: 0), how many open deadlines
    are flagged overdue, how many are open and unflagged, and the earliest due date of those. Read along
    ix_deadline_unit_tally_rank: the units with the most flagged deadlines first, then the earliest due;
    kept by deadlines.tally in the same transaction, and no new day changes them (the date is stored, not a count
    of days)."""

    __tablename__ = "deadline_unit_tally"
    __table_args__ = (Index("ix_deadline_unit_tally_rank", "key", "item_type", "key_only", "leader_id",
                            "minus_flagged", "first_due", "unit_id"),)
    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    item_type: Mapped[str] = mapped_column(String(20), primary_key=True)
    key_only: Mapped[bool] = mapped_column(primary_key=True)
    leader_id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(primary_key=True)  # 0: no unit (the proposer's rating)
    minus_flagged: Mapped[int]  # minus the flagged count: an ascending index gives the most flagged first
    dated: Mapped[int]  # open and not flagged
    first_due: Mapped[date]  # the earliest due date of those (tally.NO_DATE when there are none)


class ExtensionRequest(Base):
    """延期: the lead unit asks for more time for the reply; the office approves or refuses."""

    __tablename__ = "extension_request"
    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id"), index=True)
    deadline_id: Mapped[int] = mapped_column(ForeignKey("deadline.id"))
    requested_by: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    old_due_date: Mapped[date]
    new_due_date: Mapped[date]
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default="pending")  # pending, approved, refused
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    decided_at: Mapped[datetime | None]
    opinion: Mapped[str | None] = mapped_column(Text)


class DeadlineRule(Base):
    """A year's deadline rule overriding the default of DOMAIN.md (e.g. reply = 2026-06-30 for a batch)."""

    __tablename__ = "deadline_rule"
    __table_args__ = (UniqueConstraint("year", "key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    year: Mapped[int]
    key: Mapped[str] = mapped_column(String(40))
    rule: Mapped[str] = mapped_column(String(40))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Notification(Base):
    """An in-app message (and e-mail when SMTP is set); `dedupe_key` makes every event notify once."""

    __tablename__ = "notification"
    # The unread count reads a user's unread rows, and a done task's notices are found by item among the
    # unread ones (notifications.tasks_done): both indexes hold unread rows only (most notices end up read).
    __table_args__ = (UniqueConstraint("user_id", "dedupe_key"),
                      Index("ix_notification_unread", "user_id", sqlite_where=text("read_at IS NULL"),
                            postgresql_where=text("read_at IS NULL")),
                      Index("ix_notification_unread_item", "item_id", sqlite_where=text("read_at IS NULL"),
                            postgresql_where=text("read_at IS NULL")))
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    item_id: Mapped[int | None] = mapped_column(ForeignKey("item.id"))
    kind: Mapped[str] = mapped_column(String(20))  # task, reminder, overdue, return_decision, extension
    # The Chinese text: only rows written before `message` (and rows written before the text was kept as a
    # reference only, which have both); new rows keep the message alone.
    title: Mapped[str | None] = mapped_column(String(300))
    body: Mapped[str | None] = mapped_column(Text)  # a person's own words (an opinion), as typed
    # [title] or [title, body]: catalog messages (engine.i18n.Msg.to_json), rendered in the reader's language
    # (engine.people.notifications.text; older rows hold {"title": msg, "body": msg or None})
    message: Mapped[list | dict | None] = mapped_column(JSON(none_as_null=True))
    link: Mapped[str | None] = mapped_column(String(200))
    dedupe_key: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None]
    emailed_at: Mapped[datetime | None]

    # The item's number and title are shown beside the title, not stored in every notification.
    item: Mapped["Item | None"] = relationship(lazy="joined")

    @property
    def href(self) -> str | None:
        """Where the notice leads: its link, or for a task's notice the task (derived from its key, not stored)."""
        if self.link:
            return self.link
        task_id = task_of_key(self.dedupe_key)
        return f"/tasks/{task_id}" if task_id else None


def task_key(task_id: str) -> str:
    """A task's notice event key: the task's uuid in base64 (22 characters, not 36: it is stored twice per
    recipient, in the row and in the (user, key) index)."""
    try:
        return "task:" + base64.urlsafe_b64encode(uuid.UUID(task_id).bytes).decode().rstrip("=")
    except ValueError:  # not a uuid (SpiffWorkflow's ids are): kept as it is
        return f"task:{task_id}"


def task_keys(task_id: str) -> tuple[str, str]:
    """The key of a task's notice and the key rows stored before spelled it with (the uuid as it is)."""
    return task_key(task_id), f"task:{task_id}"


def task_of_key(key: str) -> str | None:
    """The task id a task notice's key names, in either spelling; None for another event."""
    if not key.startswith("task:"):
        return None
    rest = key[5:]
    return str(uuid.UUID(bytes=base64.urlsafe_b64decode(rest + "=="))) if len(rest) == 22 else rest


class SchedulerHeartbeat(Base):
    """The one scheduler process that holds the lock says it is alive here."""

    __tablename__ = "scheduler_heartbeat"
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    holder: Mapped[str] = mapped_column(String(120))
    beat_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_sweep_fired: Mapped[int] = mapped_column(default=0)
