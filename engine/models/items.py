"""The domain read model: items (建议/提案) and what happened to them, kept in indexed tables.

Every row here is written by the engine in the same transaction as the workflow state it derives from.
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, utcnow
from .org import Unit, User

ITEM_TYPES = ("suggestion", "proposal")  # 建议 (人大代表), 提案 (政协委员)
ITEM_STATUSES = ("registered", "assigning", "signing", "handling", "replying", "rating",
                 "rehandling", "publishing", "closed", "withdrawn", "merged")


class Item(Base):
    """One suggestion or proposal and its current state."""

    __tablename__ = "item"
    __table_args__ = (
        UniqueConstraint("year", "item_type", "number"),
        # The item list filtered by status (and year), by type or to key items, read in its own order (newest
        # first); a year's figures read the unique index's (year, item_type) prefix.
        Index("ix_item_status_list", "status", "year", "item_type", "number"),
        Index("ix_item_type_list", "item_type", "year", "number"),
        Index("ix_item_key_list", "is_key", "year", "item_type", "number"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    year: Mapped[int]
    item_type: Mapped[str] = mapped_column(String(20))
    number: Mapped[str] = mapped_column(String(40))
    session: Mapped[str | None] = mapped_column(String(80))  # 届次, e.g. 十八届人大四次会议
    title: Mapped[str] = mapped_column(String(300))  # 案由
    content: Mapped[str] = mapped_column(Text)
    proposer_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    cosigners: Mapped[str | None] = mapped_column(Text)  # 联名/附议 as registered: names separated by 、, shown
    category: Mapped[str | None] = mapped_column(String(80))
    suggested_units: Mapped[str | None] = mapped_column(String(300))
    registered_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    registered_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The registration form's one-time token: the same form submitted twice registers one item.
    request_token: Mapped[str | None] = mapped_column(String(64), unique=True)

    # Derived from the workflow (read model).
    status: Mapped[str] = mapped_column(String(20), default="registered")
    current_step: Mapped[str | None] = mapped_column(String(200))
    lead_unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"), index=True)
    is_key: Mapped[bool] = mapped_column(default=False)
    leader_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    is_complex: Mapped[bool] = mapped_column(default=False)
    round: Mapped[int] = mapped_column(default=1)
    assigned_at: Mapped[datetime | None]
    replied_at: Mapped[datetime | None]
    reply_class: Mapped[str | None] = mapped_column(String(2))
    closed_at: Mapped[datetime | None]
    # 并案: the handled item this one was merged into; it keeps its number and proposer.
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("item.id"), index=True)

    proposer: Mapped[User] = relationship(foreign_keys=[proposer_id], lazy="joined")
    lead_unit: Mapped[Unit | None] = relationship(foreign_keys=[lead_unit_id], lazy="joined")
    leader: Mapped[User | None] = relationship(foreign_keys=[leader_id])
    cosigner_links: Mapped[list["ItemCosigner"]] = relationship(lazy="select", viewonly=True)


class ItemCosigner(Base):
    """联名/附议: who co-signed an item, as the office picked them on the roster at registration. Access
    follows these rows, never the names in Item.cosigners: a namesake added later is somebody else."""

    __tablename__ = "item_cosigner"
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), primary_key=True, index=True)


class ItemCounter(Base):
    """The last drawn sequence number per year and type (编号): locked while a number is drawn, so that
    concurrent registrations never draw the same one."""

    __tablename__ = "item_counter"
    year: Mapped[int] = mapped_column(primary_key=True)
    item_type: Mapped[str] = mapped_column(String(20), primary_key=True)
    last: Mapped[int] = mapped_column(default=0)


class Assignment(Base):
    """交办: a unit's part in an item, lead (主办), co-handling (协办) or separate (分办: its own reply)."""

    __tablename__ = "assignment"
    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), index=True)
    role: Mapped[str] = mapped_column(String(10))  # lead, co, separate
    status: Mapped[str] = mapped_column(String(20), default="assigned")  # assigned, signed, returned, done
    assigned_at: Mapped[datetime] = mapped_column(default=utcnow)
    signed_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]  # a return approved ends the assignment

    unit: Mapped[Unit] = relationship(lazy="joined")


class ReturnRequest(Base):
    """申请退回: a unit asks to return an item outside its remit; the office decides."""

    __tablename__ = "return_request"
    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"))
    reason: Mapped[str] = mapped_column(Text)
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    decision: Mapped[str | None] = mapped_column(String(10))  # approve, refuse
    opinion: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime | None]


class Pledge(Base):
    """责任状: the unit head's responsibility pledge and handling plan (办理方案)."""

    __tablename__ = "pledge"
    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"))
    responsible_leader: Mapped[str] = mapped_column(String(120))
    contact_person: Mapped[str] = mapped_column(String(120))
    contact_phone: Mapped[str] = mapped_column(String(40))
    plan: Mapped[str] = mapped_column(Text)
    target_date: Mapped[date]
    signed_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    signed_at: Mapped[datetime] = mapped_column(default=utcnow)


class CoOpinion(Base):
    """协办意见: a co-handling unit's written opinion to the lead unit."""

    __tablename__ = "co_opinion"
    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"))
    text: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    # The office waived a silent co-unit's opinion (text holds the reason); it counts against the co-unit.
    waived: Mapped[bool] = mapped_column(default=False)
    waived_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    unit: Mapped[Unit] = relationship(lazy="joined")


class LeaderInstruction(Base):
    """领导领办: the district leader's instructions on a key item."""

    __tablename__ = "leader_instruction"
    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id"), index=True)
    leader_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    round: Mapped[int] = mapped_column(default=1)
    instruction: Mapped[str] = mapped_column(Text)
    report_heard: Mapped[bool] = mapped_column(default=False)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class Consultation(Base):
    """面商: one recorded consultation of the lead unit with the proposer."""

    __tablename__ = "consultation"
    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"))
    round: Mapped[int] = mapped_column(default=1)
    held_on: Mapped[date]
    form: Mapped[str] = mapped_column(String(20))  # meeting, visit, phone, online, other
    participants: Mapped[str] = mapped_column(String(300))
    proposer_views: Mapped[str] = mapped_column(Text)
    recorded_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)


class Reply(Base):
    """答复: one round's reply, from draft through sign-off and the office's review."""

    __tablename__ = "reply"
    __table_args__ = (Index("ix_reply_item_round", "item_id", "round"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"))
    round: Mapped[int] = mapped_column(default=1)
    reply_class: Mapped[str] = mapped_column(String(2))  # A, B, C (D optional)
    final_class: Mapped[str | None] = mapped_column(String(2))  # set by the office's review
    text: Mapped[str] = mapped_column(Text)
    adopted: Mapped[str | None] = mapped_column(Text)
    promised: Mapped[str | None] = mapped_column(Text)
    promised_date: Mapped[date | None]
    disclosure: Mapped[str] = mapped_column(String(10))  # full, summary, none
    disclosure_summary: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="drafted")  # drafted, signed, revise, returned, approved
    drafted_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    drafted_at: Mapped[datetime] = mapped_column(default=utcnow)
    signed_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    signed_at: Mapped[datetime | None]
    reviewed_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    reviewed_at: Mapped[datetime | None]
    review_opinion: Mapped[str | None] = mapped_column(Text)
    # 答复函: the letter's document number (e.g. 交运函〔2026〕12号), drawn once from the unit's yearly counter.
    letter_number: Mapped[str | None] = mapped_column(String(80))


class LetterCounter(Base):
    """The per-unit, per-year counter of reply-letter document numbers (发文字号)."""

    __tablename__ = "letter_counter"
    __table_args__ = (UniqueConstraint("unit_id", "year"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"))
    year: Mapped[int]
    last: Mapped[int] = mapped_column(default=0)


class MergedLetter(Base):
    """答复函 of an item merged into another (并案): the lead item's approved reply, sent to this item's proposer
    as a letter of its own, under a document number of its own from the replying unit's counter (drawn with the
    reply's at the office's approval): two letters issued never share one number."""

    __tablename__ = "merged_letter"
    __table_args__ = (UniqueConstraint("reply_id", "item_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    reply_id: Mapped[int] = mapped_column(ForeignKey("reply.id"))
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id"), index=True)  # the merged item
    letter_number: Mapped[str] = mapped_column(String(80))


class Attachment(Base):
    """附件: a file attached to an item at a step (registration, pledge, consultation, reply, stamped letter).

    The bytes live behind `engine.items.attachments.Storage`; the default storage keeps them in `data`, so
    a file is written in the same transaction as its step and backed up with the database.
    """

    __tablename__ = "attachment"
    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # registration, pledge, consultation, reply, letter_scan
    round: Mapped[int] = mapped_column(default=1)
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    storage: Mapped[str] = mapped_column(String(20), default="database")
    data: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    uploaded_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)


class Rating(Base):
    """评价: the lead proposer's rating of one round's reply."""

    __tablename__ = "rating"
    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id"), index=True)
    # 分办: the separate unit whose own reply was rated; None for the item's reply (its lead unit's)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"))
    round: Mapped[int] = mapped_column(default=1)
    attitude: Mapped[str] = mapped_column(String(30))  # satisfied, basically_satisfied, unsatisfied, no_opinion
    result: Mapped[str] = mapped_column(String(30))
    reason: Mapped[str | None] = mapped_column(Text)
    rated_at: Mapped[datetime] = mapped_column(default=utcnow)


class RehandlingOrder(Base):
    """重新办理: the office's written decision on an unsatisfied rating."""

    __tablename__ = "rehandling_order"
    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id"), index=True)
    # 分办: the separate unit ordered to re-handle its own part; None for the item's (its lead unit's)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"))
    round: Mapped[int]
    decision: Mapped[str] = mapped_column(String(10))  # rehandle, close
    instructions: Mapped[str] = mapped_column(Text)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    decided_at: Mapped[datetime] = mapped_column(default=utcnow)


class Disclosure(Base):
    """公开: what is published of an item's final reply."""

    __tablename__ = "disclosure"
    __table_args__ = (Index("ix_disclosure_published", "published_at", "id"),)  # the public list, newest first
    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id"), unique=True)
    scope: Mapped[str] = mapped_column(String(10))  # full, summary, none
    text: Mapped[str | None] = mapped_column(Text)
    # What the public reads, redacted once at publication (engine.items.redaction) and stored: the public
    # pages and the public search read these columns only, never the internal text.
    public_title: Mapped[str | None] = mapped_column(String(300))
    public_text: Mapped[str | None] = mapped_column(Text)
    public_content: Mapped[str | None] = mapped_column(Text)
    published_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    published_at: Mapped[datetime] = mapped_column(default=utcnow)  # the public list's order: ix_disclosure_published
    # Where the public list files a published reply: the item's year and lead unit, stored at publication (the
    # last step: neither changes after it) and NULL for scope 'none'. The public page's year and unit choices
    # are read along these indexes, one step per year or unit shown, not by joining every published item.
    public_year: Mapped[int | None] = mapped_column(index=True)
    public_unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"), index=True)

