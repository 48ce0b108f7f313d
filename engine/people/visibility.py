"""可见范围: the one visibility policy. Every page, export and API route asks it what a user may see.

Two worlds, by design:
- **internal** (内部办理): the office, supervisors and process admins see every item; a handling unit's
  handlers and head see the items their unit is *currently* assigned (an approved return or a
  re-assignment ends the assignment, and with it the access); a district leader sees the key items they
  lead (领导领办).
- **portal** (代表委员): the lead proposer (领衔人) and the co-signers (联名/附议, the people picked at
  registration: ItemCosigner, not the names shown) see their own items through
  the portal only: the item as registered, its consultations, approved replies, ratings and what was
  published. Drafts, opinions, instructions, the pledge and the staff timeline never reach them; a
  co-signer reads only. A proposer has no internal view of any item.

Callers ask `view_of` (which world, if any), `may_see_item` / `may_see_internal`, `may_see_field`
(a section of the item, names in FIELDS), or take the SQL conditions `visible_items_clause` and
`internal_items_clause` into their own queries. Anyone the policy does not name sees nothing.
"""
from __future__ import annotations

from sqlalchemy import false, or_, select, true
from sqlalchemy.orm import Session

from engine.models import Assignment, Item, ItemCosigner, User

# The sections of an item, as pages, exports and the API show them.
FIELDS = frozenset({
    "item",              # number, title, content, proposer, co-signers, status, reply deadline
    "assignments",       # 交办: units and their parts
    "return_requests",   # 申请退回 and the office's decision
    "pledges",           # 责任状 and the handling plan (办理方案)
    "co_opinions",       # 协办意见
    "instructions",      # 领导批示
    "consultations",     # 面商 records
    "replies",           # every reply of every round: drafts, sign-off and review opinions
    "approved_replies",  # the replies the office approved (what the proposer receives)
    "ratings",           # 评价
    "rehandling",        # 重新办理 decisions
    "disclosure",        # 公开: what was published
    "timeline",          # the staff's audit trail
    "tasks",             # open tasks and who holds them
    "deadlines",         # the deadline ledger
    "extensions",        # 延期 requests and decisions
    "urges",             # 催办 by hand
    "checks",            # 督办 checks (phone call, site visit, written notice)
    "promises",          # 承诺事项 and their follow-up (跟踪落实)
    "merge",             # 并案: the item this one was merged into, and the items merged into it
})
PORTAL_FIELDS = frozenset({"item", "consultations", "approved_replies", "ratings", "disclosure", "merge"})
INTERNAL_FIELDS = FIELDS

ALL_ITEMS_ROLES = ("office", "supervisor", "admin")
UNIT_ROLES = ("unit_handler", "unit_head")

def proposer_role(user: User, item: Item) -> str | None:
    """'lead', 'cosigner', or None when the item is not this proposer's."""
    if user is None or user.role != "proposer" or not user.active:
        return None
    if item.proposer_id == user.id:
        return "lead"
    return "cosigner" if any(link.user_id == user.id for link in item.cosigner_links) else None


def internal_items_clause(user: User):
    """SQL condition: the items this user may open internally (item page, item list, exports, board)."""
    if user is None or not user.active:
        return false()
    if user.role in ALL_ITEMS_ROLES:
        return true()
    if user.role in UNIT_ROLES and user.unit_id is not None:
        return Item.id.in_(select(Assignment.item_id).where(Assignment.unit_id == user.unit_id,
                                                            Assignment.ended_at.is_(None)))
    if user.role == "leader":
        return Item.leader_id == user.id
    return false()


def portal_items_clause(session: Session, user: User):
    """SQL condition: the items a proposer leads or co-signed (their portal): the people picked at
    registration, not a name (a namesake added later is somebody else)."""
    if user is None or user.role != "proposer" or not user.active:
        return false()
    return or_(Item.proposer_id == user.id,
               Item.id.in_(select(ItemCosigner.item_id).where(ItemCosigner.user_id == user.id)))


def visible_items_clause(session: Session, user: User):
    """SQL condition: every item this user may see in any world (internal or portal)."""
    if user is not None and user.role == "proposer":
        return portal_items_clause(session, user)
    return internal_items_clause(user)


def view_of(session: Session, user: User, item: Item) -> str | None:
    """How this user sees this item: 'internal', 'lead' or 'cosigner' (the portal), or None."""
    if user is None or item is None or not user.active:
        return None
    if user.role == "proposer":
        return proposer_role(user, item)
    clause = internal_items_clause(user)
    if user.role in ALL_ITEMS_ROLES:
        return "internal"
    found = session.scalar(select(Item.id).where(Item.id == item.id, clause))
    return "internal" if found is not None else None


def may_see_item(session: Session, user: User, item: Item) -> bool:
    return view_of(session, user, item) is not None


def may_see_internal(session: Session, user: User, item: Item) -> bool:
    """May this user open the item's internal page (and its tasks' pages, exports, board rows)?"""
    return view_of(session, user, item) == "internal"


def fields_for(view: str | None) -> frozenset[str]:
    """The sections of an item a view shows."""
    if view == "internal":
        return INTERNAL_FIELDS
    if view in ("lead", "cosigner"):
        return PORTAL_FIELDS
    return frozenset()


def may_see_field(session: Session, user: User, item: Item, field: str) -> bool:
    if field not in FIELDS:
        raise ValueError(f"unknown item field {field!r}; fields are {', '.join(sorted(FIELDS))}")
    return field in fields_for(view_of(session, user, item))


def may_rate(user: User, item: Item) -> bool:
    """Only the lead proposer rates (评价); co-signers read only."""
    return proposer_role(user, item) == "lead"
