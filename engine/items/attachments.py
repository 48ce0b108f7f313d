"""附件: files attached to an item at registration, the pledge, a consultation, the reply, and the stamped
reply letter (盖章答复函扫描件).

Files are checked by their content, not their name (a renamed .exe is refused), and by size. The bytes
go through one `Storage` interface; the default keeps them in the database, so a file is written in the
same transaction as its step and backed up with everything else. Who may download a file is asked of
`queries.can_see_attachment`, the same rule as the item page (proposers only see what was sent to them).
"""
from __future__ import annotations

import hashlib
import os
import zipfile
from dataclasses import dataclass
from io import BytesIO
from typing import Iterable, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session, undefer

from engine.i18n import N_
from engine.items.queries import can_see_attachment
from engine.models import Attachment, AuditEvent, Item, Reply, User
from engine.text import safe_filename
from engine.workflow.forms import FieldError, FormInvalid

MAX_BYTES = int(os.environ.get("BANLI_ATTACHMENT_MAX_MB", "20")) * 1024 * 1024
MAX_FILES = 10  # per step

# What each task form's attachments are (the form key of the BPMN form names the kind of record).
KIND_BY_FORM = {"pledge": "pledge", "consultation": "consultation", "reply": "reply"}
KINDS = ("registration", "pledge", "consultation", "reply", "letter_scan")

_OOXML = {"word/": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx"),
          "xl/": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"),
          "ppt/": ("application/vnd.openxmlformats-officedocument.presentationml.presentation", "pptx")}


def sniff(data: bytes) -> tuple[str, str] | None:
    """(content type, extension) of the accepted formats, read from the bytes; None for anything else."""
    if data.startswith(b"%PDF-"):
        return "application/pdf", "pdf"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png", "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg", "jpg"
    if data.startswith(b"II*\x00") or data.startswith(b"MM\x00*"):
        return "image/tiff", "tif"  # scanners' default
    if data.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return "application/msword", "doc"  # OLE2: .doc / .xls of older offices
    if data.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(BytesIO(data)) as z:
                names = z.namelist()
        except (zipfile.BadZipFile, ValueError, OSError):
            return None
        if "[Content_Types].xml" in names:
            for prefix, found in _OOXML.items():
                if any(n.startswith(prefix) for n in names):
                    return found
        if "OFD.xml" in names:
            return "application/ofd", "ofd"  # 版式文件, the national format for official documents
    return None


@dataclass(frozen=True)
class Upload:
    filename: str
    data: bytes


class Storage(Protocol):
    """Where attachment bytes live. `put` runs inside the step's transaction."""

    name: str

    def put(self, session: Session, attachment: Attachment, data: bytes) -> None: ...

    def get(self, session: Session, attachment: Attachment) -> bytes: ...


class DatabaseStorage:
    """The default: the bytes in the attachment row itself (one transaction, one backup)."""

    name = "database"

    def put(self, session: Session, attachment: Attachment, data: bytes) -> None:
        attachment.data = data

    def get(self, session: Session, attachment: Attachment) -> bytes:
        return session.scalar(select(Attachment.data).where(Attachment.id == attachment.id)) or b""


STORAGES: dict[str, Storage] = {"database": DatabaseStorage()}


def storage() -> Storage:
    return STORAGES[os.environ.get("BANLI_ATTACHMENT_STORAGE", "database")]


def _clean_name(raw: str, ext: str) -> str:
    # The one file-name policy (engine.text): no path, no control or direction characters (a NUL is refused
    # by PostgreSQL, U+202E shows `gnp.exe` as `exe.png`).
    name = safe_filename(raw, default=f"附件.{ext}", max_length=400)
    stem = name.rsplit(".", 1)[0] if "." in name else name
    return f"{stem[:150]}.{ext}"  # the extension follows the content, whatever the name said


def check(uploads: Iterable[Upload]) -> list[tuple[Upload, str, str]]:
    """Every upload with its detected type, or FormInvalid naming each refused file (field `attachments`)."""
    uploads = [u for u in uploads if u.data]
    errors, ok = [], []
    if len(uploads) > MAX_FILES:
        errors.append(FieldError("attachments", N_("附件"), "file_count", str(MAX_FILES)))
    for u in uploads:
        if len(u.data) > MAX_BYTES:
            errors.append(FieldError("attachments", N_("附件"), "file_size", f"{u.filename}（{MAX_BYTES // 2**20} MB）"))
            continue
        found = sniff(u.data)
        if found is None:
            errors.append(FieldError("attachments", N_("附件"), "file_type", u.filename))
            continue
        ok.append((u, *found))
    if errors:
        raise FormInvalid(errors)
    return ok


def add(session: Session, item: Item, kind: str, uploads: Iterable[Upload], user: User | None,
        round_: int = 1) -> list[Attachment]:
    """Check and store the uploads of one step, in the caller's transaction, with a timeline entry each."""
    if kind not in KINDS:
        raise ValueError(f"unknown attachment kind {kind!r}")
    stored = []
    for upload, content_type, ext in check(uploads):
        a = Attachment(item_id=item.id, kind=kind, round=round_, filename=_clean_name(upload.filename, ext),
                       content_type=content_type, size=len(upload.data),
                       sha256=hashlib.sha256(upload.data).hexdigest(), storage=storage().name,
                       uploaded_by=user.id if user else None)
        session.add(a)
        storage().put(session, a, upload.data)
        session.flush()
        session.add(AuditEvent(item_id=item.id, actor_id=user.id if user else None, action="attached",
                               title=a.filename, unit_id=user.unit_id if user else None,
                               data={"kind": kind, "attachment_id": a.id, "size": a.size}))
        stored.append(a)
    return stored


def may_see(session: Session, user: User, attachment: Attachment) -> bool:
    item = session.get(Item, attachment.item_id)
    return item is not None and can_see_attachment(session, user, item, attachment)


def content(session: Session, user: User, attachment_id: int) -> tuple[Attachment, bytes] | None:
    """The attachment and its bytes if this user may see it; None otherwise (the caller answers 404)."""
    a = session.scalars(select(Attachment).where(Attachment.id == attachment_id).options(undefer(Attachment.data))
                        ).first()
    if a is None or not may_see(session, user, a):
        return None
    return a, STORAGES[a.storage].get(session, a)


def add_letter_scan(session: Session, user: User, item: Item, upload: Upload) -> Attachment:
    """The stamped reply letter, scanned, kept with the approved reply of the current round (lead unit or
    office); the proposer downloads it in the portal."""
    reply = session.scalars(select(Reply).where(Reply.item_id == item.id, Reply.status == "approved")
                            .order_by(Reply.round.desc(), Reply.id.desc()).limit(1)).first()
    if reply is None:
        raise FormInvalid([FieldError("attachments", N_("附件"), "no_approved_reply")])
    if not (user.role == "office" or (user.role in ("unit_handler", "unit_head") and user.unit_id == reply.unit_id)):
        raise PermissionError("only the replying unit or the office uploads the stamped letter")
    return add(session, item, "letter_scan", [upload], user, reply.round)[0]


def on_completion(uploads: list[Upload]):
    """The hook `runtime.complete` runs inside the step's transaction: the step's files, kind by its form."""
    def store(session: Session, item: Item, row, user: User) -> None:
        kind = KIND_BY_FORM.get(row.form_key or "")
        if kind is not None:
            add(session, item, kind, uploads, user, row.round)
    return store if any(u.data for u in uploads) else None
