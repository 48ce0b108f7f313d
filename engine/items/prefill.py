"""What a task form starts with, so nobody retypes what the record already holds.

- 拟写答复 returned by the head (退回修改) or the office (驳回): the last draft of the round, to be corrected;
- 答复公开: the scope the unit proposed and the approved reply (or its summary) already redacted
  (`disclosure.redact`), for the office to review rather than paste; for a 分办 item every unit's reply, each
  under its unit's name.
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.items import separate
from engine.items.disclosure import redact
from engine.models import Item, Reply, TaskRow


def _latest_reply(session: Session, item_id: int, *where) -> Reply | None:
    return session.scalars(select(Reply).where(Reply.item_id == item_id, *where)
                           .order_by(Reply.round.desc(), Reply.id.desc()).limit(1)).first()


def initial_values(session: Session, row: TaskRow) -> dict:
    """The form values a task page opens with (empty when there is nothing to carry over)."""
    if row.form_key == "reply":
        mine = (Reply.unit_id == row.unit_id,) if row.unit_id is not None else ()  # a 分办 unit's own draft
        r = _latest_reply(session, row.item_id, Reply.round == row.round, Reply.status.in_(("revise", "returned")), *mine)
        if r is None:
            return {}
        return {"reply_class": r.reply_class, "reply_text": r.text, "adopted": r.adopted or "",
                "promised": r.promised or "", "promised_date": r.promised_date.isoformat() if r.promised_date else "",
                "disclosure": r.disclosure, "disclosure_summary": r.disclosure_summary or ""}
    if row.form_key == "disclosure":
        return _disclosure_values(session, session.get(Item, row.item_id))
    return {}


def _public_text(r: Reply) -> str:
    """What a reply offers to the public, redacted: its summary when the unit proposed one, else its text."""
    if r.disclosure == "none":
        return ""
    return redact(r.disclosure_summary if r.disclosure == "summary" and r.disclosure_summary else r.text)


def _disclosure_values(session: Session, item: Item) -> dict:
    """The lead unit's reply; for a 分办 item every unit's reply under its name, the lead unit's first (each
    unit's own scope decides whether its text is offered)."""
    parts = [p for p in separate.parts(session, item) if p.reply is not None]
    lead = _latest_reply(session, item.id, Reply.status == "approved", Reply.unit_id.notin_([p.unit.id for p in parts]))
    if lead is None:
        return {}
    if not parts:
        return {"publish_scope": lead.disclosure, "published_text": _public_text(lead)}
    shown = [(item.lead_unit.name if item.lead_unit else "", lead)] + [(p.unit.name, p.reply) for p in parts]
    text = "\n\n".join(f"【{name}】\n{_public_text(r)}" for name, r in shown if r.disclosure != "none")
    return {"publish_scope": lead.disclosure, "published_text": text if lead.disclosure != "none" else ""}
