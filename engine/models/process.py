"""Deployed process versions, running instances and the rows derived from them."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, validates

from engine.i18n import Msg

from .base import Base, utcnow


class ProcessDefinition(Base):
    """One deployed version of a BPMN file; specs are stored once and instances refer to them."""

    __tablename__ = "process_definition"
    __table_args__ = (UniqueConstraint("process_id", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    process_id: Mapped[str] = mapped_column(String(100), index=True)
    name: Mapped[str] = mapped_column(String(200))
    version: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    bpmn_xml: Mapped[str] = mapped_column(Text)
    filename: Mapped[str] = mapped_column(String(200))
    deployed_by: Mapped[str] = mapped_column(String(80))
    deployed_at: Mapped[datetime] = mapped_column(default=utcnow)


class ProcessInstance(Base):
    """The workflow state of one item; `version` makes a stale concurrent write fail."""

    __tablename__ = "process_instance"
    id: Mapped[int] = mapped_column(primary_key=True)
    definition_id: Mapped[int] = mapped_column(ForeignKey("process_definition.id"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="running", index=True)  # running, completed, error
    state: Mapped[bytes] = mapped_column(LargeBinary)  # serializer.STATE: compressed JSON, spec by reference
    version: Mapped[int] = mapped_column(default=1)
    next_timer_due: Mapped[datetime | None] = mapped_column(index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    __mapper_args__ = {"version_id_col": version}


class TaskRow(Base):
    """A ready user task, copied out of the workflow so the inbox never reads workflow state."""

    __tablename__ = "task_row"
    __table_args__ = (
        Index("ix_task_row_lane_unit", "lane", "unit_id", "due_at"),
        Index("ix_task_row_assignee", "assignee_id"),
        Index("ix_task_row_lane_due", "lane", "due_at", "created_at", "id"),  # the inbox's order (keyset pages)
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # SpiffWorkflow task uuid
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id", ondelete="CASCADE"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id"), index=True)
    spec_name: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(200))
    form_key: Mapped[str | None] = mapped_column(String(60))
    lane: Mapped[str | None] = mapped_column(String(40))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    round: Mapped[int] = mapped_column(default=1)
    due_at: Mapped[datetime | None] = mapped_column(index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditEvent(Base):
    """The item's timeline: who did what, when (append-only)."""

    __tablename__ = "audit_event"
    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    action: Mapped[str] = mapped_column(String(40))
    step: Mapped[str | None] = mapped_column(String(100))
    title: Mapped[str | None] = mapped_column(String(200))  # the Chinese text (all that rows before `message` have)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"))
    data: Mapped[dict | None] = mapped_column(JSON(none_as_null=True))  # None is SQL NULL, not a JSON null
    # The title as a catalog message with its parameters (engine.i18n.Msg), rendered in the reader's language.
    message: Mapped[list | dict | None] = mapped_column(JSON(none_as_null=True))

    @validates("title")
    def _keep_message(self, _key, title):
        if isinstance(title, Msg):
            self.message = title.to_json()
        return str(title)[:200] if title is not None else None
