"""The role × page × field matrix: every GET page of the app's URL map, every demo role, a marker string
planted in each field of one item; each role must see exactly its fields (who must, and who must not).

Routes are taken from `app.url_map`, so a new page is checked as soon as it exists: a route with a
parameter this test cannot fill fails the test until PARAMS learns it.
"""
from __future__ import annotations

import io
import re
import zipfile
from datetime import date

import pytest
from sqlalchemy import select

from engine.models import (Attachment, AuditEvent, CoOpinion, Consultation, Item, ItemCosigner, LeaderInstruction, Pledge, ProcessDefinition,
                           Rating, RehandlingOrder, Reply, ReturnRequest, TaskRow, Unit, User)
from tests.conftest import login, user

ELEVATOR = "关于老旧小区加装电梯的建议"  # key item: lead 住建 (zjj), co-unit 交通 (jtj), leader_wang, deputy_liu leads

# field -> marker planted in it
MARKERS = {
    "title": "MKTITLE7Q",
    "content": "MKCONTENT7Q",
    "return_reason": "MKRETURN7Q",
    "pledge_plan": "MKPLEDGE7Q",
    "co_opinion": "MKCOOP7Q",
    "instruction": "MKINSTR7Q",
    "draft_reply": "MKDRAFT7Q",
    "head_opinion": "MKHEADOPN7Q",
    "rehandling": "MKREHANDLE7Q",
    "timeline": "MKTIMELINE7Q",
    "consultation": "MKCONSULT7Q",
    "approved_reply": "MKAPPROVED7Q",
    "rating_reason": "MKRATING7Q",
}
PORTAL = {"title", "content", "consultation", "approved_reply", "rating_reason"}
INTERNAL = set(MARKERS)

# username -> (fields the user must see somewhere, the page where all of them must appear)
ROLES = {
    "office": (INTERNAL, "/items/{item}"),
    "supervisor": (INTERNAL, "/items/{item}"),
    "admin": (INTERNAL, "/items/{item}"),
    "zjj_staff": (INTERNAL, "/items/{item}"),  # lead unit
    "zjj_head": (INTERNAL, "/items/{item}"),
    "jtj_staff": (INTERNAL, "/items/{item}"),  # co-unit
    "leader_wang": (INTERNAL, "/items/{item}"),  # the item's leader
    "deputy_liu": (PORTAL, "/portal/items/{item}"),  # lead proposer
    "deputy_chen": (PORTAL, "/portal/items/{item}"),  # co-signer
    "jyj_staff": (set(), None),  # a unit not assigned
    "jyj_head": (set(), None),
    "leader_li": (set(), None),  # another leader
    "member_zhao": (set(), None),  # another proposer
    None: (set(), None),  # not logged in
}


@pytest.fixture
def planted(demo_db):
    """The key item with a marker in each of its fields (rows as the engine writes them)."""
    with demo_db.transaction() as s:
        item = s.scalars(select(Item).where(Item.title == ELEVATOR, Item.year == 2026)).one()
        zjj = s.scalars(select(Unit).where(Unit.code == "zjj")).one()
        jtj = s.scalars(select(Unit).where(Unit.code == "jtj")).one()
        item.title += MARKERS["title"]
        item.content += MARKERS["content"]
        item.cosigners = "陈代表"  # as registration writes it: the name shown and the person picked
        s.add(ItemCosigner(item_id=item.id, user_id=user(s, "deputy_chen").id))
        s.add_all([
            ReturnRequest(item_id=item.id, unit_id=jtj.id, reason=MARKERS["return_reason"], decision="refuse",
                          opinion="由原单位办理"),
            CoOpinion(item_id=item.id, unit_id=jtj.id, text=MARKERS["co_opinion"]),
            LeaderInstruction(item_id=item.id, leader_id=user(s, "leader_wang").id, instruction=MARKERS["instruction"]),
            Consultation(item_id=item.id, unit_id=zjj.id, held_on=date(2026, 4, 10), form="visit", participants="代表",
                         proposer_views=MARKERS["consultation"]),
            Reply(item_id=item.id, unit_id=zjj.id, round=1, reply_class="A", text=MARKERS["approved_reply"],
                  disclosure="none", status="approved"),
            Reply(item_id=item.id, unit_id=zjj.id, round=2, reply_class="B", text=MARKERS["draft_reply"],
                  disclosure="full", status="revise", review_opinion=MARKERS["head_opinion"]),
            Rating(item_id=item.id, round=1, attitude="satisfied", result="unsatisfied",
                   reason=MARKERS["rating_reason"]),
            RehandlingOrder(item_id=item.id, round=1, decision="rehandle", instructions=MARKERS["rehandling"]),
            AuditEvent(item_id=item.id, action="completed", title=MARKERS["timeline"]),
        ])
        pledge = s.scalars(select(Pledge).where(Pledge.item_id == item.id)).one()
        pledge.plan = MARKERS["pledge_plan"]
        return item.id


def params(s, item_id: int) -> dict[str, list[str]]:
    """A value (or several) for every URL parameter of the app's GET routes."""
    tasks = s.scalars(select(TaskRow.id).where(TaskRow.item_id == item_id)).all()
    definition = s.scalars(select(ProcessDefinition.id).order_by(ProcessDefinition.id.desc())).first()
    attachment = s.scalars(select(Attachment.id).where(Attachment.item_id == item_id)).first()
    return {"item_id": [str(item_id)], "task_id": list(tasks), "definition_id": [str(definition)],
            "process_id": ["item_handling"], "year": ["2026"], "code": ["zh"],
            "attachment_id": [str(attachment or 0)],  # the directory's people and units hold no item data
            "user_id": [str(s.scalars(select(User.id).order_by(User.id)).first())],
            "unit_id": [str(s.scalars(select(Unit.id).order_by(Unit.id)).first())]}


SKIP = {"static"}  # files on disk, no item data


def urls(app, values: dict[str, list[str]]) -> list[str]:
    out, unknown = [], []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in SKIP or "GET" not in rule.methods:
            continue
        missing = [a for a in rule.arguments if a not in values]
        if missing:
            unknown.append(f"{rule.rule} ({', '.join(missing)})")
            continue
        combos = [{}]
        for arg in rule.arguments:
            combos = [{**c, arg: v} for c in combos for v in values[arg]]
        for combo in combos:
            url = rule.rule
            for arg, v in combo.items():
                url = re.sub(rf"<(?:[^:<>]+:)?{arg}>", v, url)
            out.append(url)
    assert not unknown, f"teach PARAMS these routes' parameters: {unknown}"
    # the item lists and exports with the item's year, as a user filters them
    return out + ["/items/?year=2026", "/reports/items.xlsx?year=2026", "/reports/?year=2026",
                  "/supervision/?show=all", "/public/?year=2026"]


def text_of(response) -> str:
    if response.data[:2] == b"PK":  # an .xlsx: its XML parts
        with zipfile.ZipFile(io.BytesIO(response.data)) as z:
            return " ".join(z.read(n).decode("utf-8", "replace") for n in z.namelist() if n.endswith(".xml"))
    return response.get_data(as_text=True)


def seen(client, url: str) -> set[str]:
    body = text_of(client.get(url))
    return {field for field, marker in MARKERS.items() if marker in body}


@pytest.mark.parametrize("username", list(ROLES), ids=lambda u: u or "anonymous")
def test_each_role_sees_exactly_its_fields(app, client, demo_db, planted, username):
    allowed, home = ROLES[username]
    with demo_db.reading() as s:
        pages = urls(app, params(s, planted))
    if username:
        login(client, username)
    leaks = {}
    for url in pages:
        extra = seen(client, url) - allowed
        if extra:
            leaks[url] = sorted(extra)
    assert not leaks, f"{username or 'anonymous'} sees fields not theirs: {leaks}"
    if home:
        page = home.format(item=planted)
        assert seen(client, page) == allowed, f"{username} misses fields on {page}"
