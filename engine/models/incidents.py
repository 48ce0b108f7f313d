"""Incidents: a script or expression failed; the instance stays at its last committed state until retried."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, utcnow
from .org import User


class Incident(Base):
    __tablename__ = "incident"
    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id"), index=True)
    action: Mapped[str] = mapped_column(String(20))  # start, complete (a submission), timers (the sweep), migrate
    task_id: Mapped[str | None] = mapped_column(String(36))  # the user task being completed
    failed_step: Mapped[str | None] = mapped_column(String(200))  # the BPMN element that failed
    error_type: Mapped[str] = mapped_column(String(80))
    message: Mapped[str] = mapped_column(Text)  # the failure as the engine wrote it (the technical text)
    # What the failure says to a reader, when it is a catalog message (a sandbox refusal: engine.i18n.Msg.to_json),
    # rendered in the reader's language; rows before it, and other failures, show `message` as written.
    error_message: Mapped[dict | None] = mapped_column(JSON)
    line: Mapped[int | None]
    error_line: Mapped[str | None] = mapped_column(Text)
    submitted: Mapped[dict | None] = mapped_column(JSON)  # the form as submitted, so a retry loses nothing
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    status: Mapped[str] = mapped_column(String(10), default="open", index=True)  # open, resolved
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None]
    resolution: Mapped[str | None] = mapped_column(Text)
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))  # None: by the system
    occurrences: Mapped[int] = mapped_column(default=1, server_default="1")  # how often the same failure happened while open

    resolved_by: Mapped["User | None"] = relationship(foreign_keys=[resolved_by_id], lazy="selectin")
    submitter: Mapped["User | None"] = relationship(foreign_keys=[user_id], lazy="selectin")  # of a submission

    @property
    def returnable(self) -> bool:
        """A user's submission, which can be handed back to its submitter (engine.workflow.recovery)."""
        return self.action == "complete" and self.user_id is not None and self.task_id is not None
