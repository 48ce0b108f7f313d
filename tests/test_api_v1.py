"""REST API v1: a whole lifecycle through the API alone, tokens and scopes, problem details, idempotency."""
from __future__ import annotations

from datetime import timedelta

import time_machine
from sqlalchemy import func, select

from engine import clock
from engine.models import Item, OutboxEvent
from engine.people.tokens import SCOPES, create_token
from tests.conftest import user
from tests.test_portal import merged  # noqa: F401 - the fixture

ALL = list(SCOPES)


def token_for(db, username: str, scopes=ALL, days: int = 30) -> str:
    with db.transaction() as s:
        return create_token(s, user(s, username), "test", scopes, days)[1]


def auth(token: str, **extra) -> dict:
    return {"Authorization": f"Bearer {token}", **extra}


class Api:
    """A client per user, speaking only HTTP."""

    def __init__(self, client, db, username):
        self.client, self.headers = client, auth(token_for(db, username))

    def get(self, path, **kw):
        r = self.client.get("/api/v1" + path, headers=self.headers, **kw)
        assert r.status_code == 200, r.get_json()
        return r.get_json()

    def post(self, path, body, status=200, **headers):
        r = self.client.post("/api/v1" + path, json=body, headers={**self.headers, **headers})
        assert r.status_code == status, r.get_json()
        return r.get_json()

    def do(self, item_id, step, **form):
        tasks = [t for t in self.get(f"/items/{item_id}")["open_tasks"] if t["step"] == step] or \
            [t for t in self.get("/tasks")["tasks"] if t["item_id"] == item_id and t["step"] == step]  # the portal's
        assert tasks, f"no {step} for me on item {item_id}"
        task = self.get(f"/tasks/{tasks[0]['id']}")
        assert set(form) <= set(task["form"]["properties"]), (form, task["form"]["properties"])
        return self.post(f"/tasks/{tasks[0]['id']}/complete", form)


def test_a_whole_lifecycle_through_the_api_alone(app, client, demo_db):
    office, unit, head = Api(client, demo_db, "office"), Api(client, demo_db, "jtj_staff"), Api(client, demo_db, "jtj_head")
    deputy = Api(client, demo_db, "deputy_chen")
    item = office.post("/items", {"item_type": "suggestion", "title": "关于增设公交站的建议", "content": "站点太远。",
                                  "proposer": "deputy_chen", "year": 2026}, status=201)
    assert item["status"] == "assigning" and item["number"].startswith("JY2026-")
    office.do(item["id"], "assign_item", assign_decision="assign", lead_unit="jtj")
    assert office.get(f"/items/{item['id']}")["item"]["lead_unit"] == "jtj"
    mine = unit.get("/tasks")["tasks"]
    assert any(t["item_id"] == item["id"] and t["step"] == "sign_for" for t in mine)
    unit.do(item["id"], "sign_for", sign_decision="sign")
    head.do(item["id"], "pledge", responsible_leader="副局长", contact_person="郑", contact_phone="13812345678",
            plan="调研", target_date=(clock.today() + timedelta(days=30)).isoformat())
    unit.do(item["id"], "consult", consult_date=clock.today().isoformat(), consult_form="meeting", participants="陈代表",
            proposer_views="同意。", more_consultation=False)
    unit.do(item["id"], "draft_reply", reply_class="A", reply_text="已增设站点。", disclosure="full")
    head.do(item["id"], "signoff_reply", signoff_decision="approve")
    office.do(item["id"], "review_reply", review_decision="approve")
    portal = deputy.get(f"/items/{item['id']}")  # the proposer's view: the portal's sections only
    assert portal["open_tasks"] == [] and portal["deadlines"] == [] and portal["replies"][0]["status"] == "approved"
    deputy.do(item["id"], "rate", attitude="satisfied", result="satisfied")
    office.do(item["id"], "publish", publish_scope="full", published_text="已增设站点。")
    detail = office.get(f"/items/{item['id']}")
    assert detail["item"]["status"] == "closed"
    assert [r["status"] for r in detail["replies"]] == ["approved"]
    assert {d["key"] for d in detail["deadlines"]} >= {"reply", "return_window"}
    published = office.get(f"/replies/{item['id']}")
    assert published["text"] == "已增设站点。"
    # The events of this item went to the outbox with the changes.
    with demo_db.reading() as s:
        kinds = s.scalars(select(OutboxEvent.event_type).where(OutboxEvent.item_id == item["id"])).all()
    assert kinds == ["item.assigned", "reply.approved"]


def test_withdraw_before_assignment_and_not_after(client, demo_db):
    office = Api(client, demo_db, "office")
    item = office.post("/items", {"item_type": "proposal", "title": "撤回测试", "content": "内容",
                                  "proposer": "member_qian"}, status=201)
    assert office.post(f"/items/{item['id']}/withdraw", {"reason": "领衔人要求撤回。"})["status"] == "withdrawn"
    r = client.post(f"/api/v1/items/{item['id']}/withdraw", json={"reason": "again"}, headers=office.headers)
    assert r.status_code == 409 and r.content_type == "application/problem+json"
    assert r.get_json()["type"].endswith("#not-withdrawable")


def test_cursor_pagination_walks_every_visible_item_once(client, demo_db):
    office = Api(client, demo_db, "office")
    seen, cursor = [], None
    while True:
        page = office.get("/items", query_string={"limit": 3, **({"cursor": cursor} if cursor else {})})
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    with demo_db.reading() as s:
        assert sorted(seen, reverse=True) == seen == sorted(s.scalars(select(Item.id)).all(), reverse=True)
    # A unit handler sees only its unit's items: the same policy as the list page.
    unit = Api(client, demo_db, "jtj_staff")
    theirs = unit.get("/items", query_string={"limit": 200})["items"]
    assert 0 < len(theirs) < len(seen)
    hidden = next(i for i in seen if i not in {t["id"] for t in theirs})
    r = client.get(f"/api/v1/items/{hidden}", headers=unit.headers)
    assert r.status_code == 404 and r.get_json()["status"] == 404
    r = client.get("/api/v1/items?cursor=%%%", headers=unit.headers)
    assert r.status_code == 422 and r.get_json()["errors"][0]["field"] == "cursor"


def test_an_unknown_query_parameter_is_refused_not_ignored(client, demo_db):
    """A misspelt filter (`stauts`) listed every item as if unfiltered; a nameless one (`?=x`) too."""
    office = auth(token_for(demo_db, "office"))
    for query, field in (("stauts=closed", "stauts"), ("cursor=&=null", ""), ("pgae=2", "pgae")):
        path = "/api/v1/tasks" if field == "pgae" else "/api/v1/items"
        r = client.get(f"{path}?{query}", headers=office)
        body = r.get_json()
        assert r.status_code == 422 and r.content_type == "application/problem+json", (query, body)
        assert [(e["field"], e["message"]) for e in body["errors"]] == [(field, "未知参数 (unknown parameter)")]
    assert client.get("/api/v1/items?status=closed&limit=2", headers=office).status_code == 200
    assert client.get("/api/v1/board?show=overdue&key_only=true", headers=office).status_code == 200
    # A body's unknown field too, as the document's description says: nothing is registered.
    before = client.get("/api/v1/items?limit=1", headers=office).get_json()["items"]
    r = client.post("/api/v1/items", headers=office, json={
        "item_type": "suggestion", "title": "关于字段拼错的建议", "content": "内容", "proposer": "deputy_liu", "titel": "x"})
    assert r.status_code == 422 and [e["field"] for e in r.get_json()["errors"]] == ["titel"]
    assert client.get("/api/v1/items?limit=1", headers=office).get_json()["items"] == before
    described = client.get("/api/v1/openapi.json").get_json()["info"]["description"]
    assert "Idempotency-Key" in described and "next_cursor" in described and "flask-smorest" not in described


def test_problem_details_for_bad_input_bad_tokens_scopes_and_roles(client, demo_db):
    r = client.get("/api/v1/items")
    assert r.status_code == 401 and r.content_type == "application/problem+json"
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/api/v1/items", headers=auth("banli_nonsense")).status_code == 401
    reader = token_for(demo_db, "office", ["items:read"])
    r = client.post("/api/v1/items", json={}, headers=auth(reader))
    assert r.status_code == 403 and "items:write" in r.get_json()["detail"]
    writer = token_for(demo_db, "jtj_staff", ["items:write"])
    assert client.post("/api/v1/items", json={}, headers=auth(writer)).status_code == 403  # not the office
    office = token_for(demo_db, "office")
    r = client.post("/api/v1/items", json={"item_type": "x", "title": ""}, headers=auth(office))
    body = r.get_json()
    assert r.status_code == 422 and body["title"] and {"item_type", "title", "content", "proposer"} <= {
        e["field"] for e in body["errors"]}
    r = client.post("/api/v1/items", json={"item_type": "suggestion", "title": "t", "content": "c",
                                           "proposer": "nobody"}, headers=auth(office))
    assert r.status_code == 422 and r.get_json()["errors"][0]["field"] == "proposer"
    assert client.get("/api/v1/tasks/not-a-task", headers=auth(office)).status_code == 404


def test_expired_and_revoked_tokens_are_refused(client, demo_db):
    token = token_for(demo_db, "office", days=1)
    assert client.get("/api/v1/tasks", headers=auth(token)).status_code == 200
    with time_machine.travel(clock.now() + timedelta(days=2), tick=False):
        assert client.get("/api/v1/tasks", headers=auth(token)).status_code == 401


def test_idempotency_key_registers_once_and_replays(client, demo_db):
    office = token_for(demo_db, "office")
    body = {"item_type": "suggestion", "title": "幂等登记", "content": "内容", "proposer": "deputy_chen"}
    first = client.post("/api/v1/items", json=body, headers=auth(office, **{"Idempotency-Key": "k-1"}))
    again = client.post("/api/v1/items", json=body, headers=auth(office, **{"Idempotency-Key": "k-1"}))
    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json() and again.headers["Idempotent-Replayed"] == "true"
    with demo_db.reading() as s:
        assert s.scalar(select(func.count()).select_from(Item).where(Item.title == "幂等登记")) == 1
    other = client.post("/api/v1/items", json={**body, "title": "另一个"}, headers=auth(office, **{"Idempotency-Key": "k-1"}))
    assert other.status_code == 422 and other.get_json()["type"].endswith("#idempotency-key-reused")
    # Without a key, the same body registers again (a second item is what the caller asked for).
    assert client.post("/api/v1/items", json=body, headers=auth(office)).status_code == 201


def test_openapi_document_is_3_1_and_names_the_problem_type(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    assert doc["openapi"] == "3.1.0"
    assert "bearer" in doc["components"]["securitySchemes"]
    op = doc["paths"]["/api/v1/items"]["post"]
    assert any(p["name"] == "Idempotency-Key" for p in op["parameters"])
    assert "application/problem+json" in doc["components"]["responses"]["DEFAULT_ERROR"]["content"]


def test_tokens_on_the_settings_page_shown_once_and_revocable(client, demo_db):
    from tests.conftest import csrf_token, login

    login(client, "jtj_staff")
    token = csrf_token(client, "/settings/tokens")
    r = client.post("/settings/tokens", data={"name": "", "scopes": [], "days": "30", "csrf_token": token})
    assert r.status_code == 400 and "名称" in r.get_data(as_text=True)
    r = client.post("/settings/tokens", data={"name": "代表履职平台对接", "scopes": ["tasks:read"], "days": "30",
                                              "csrf_token": token})
    import re

    text = re.search(r'<pre id="new-token">(banli_[^<]+)</pre>', r.get_data(as_text=True)).group(1)
    assert client.get("/api/v1/tasks", headers=auth(text)).status_code == 200
    assert client.get("/api/v1/items", headers=auth(text)).status_code == 403  # no items:read scope
    page = client.get("/settings/tokens").get_data(as_text=True)
    assert text not in page and text[:12] in page  # shown once; the list shows the prefix only
    with demo_db.reading() as s:
        from engine.models import ApiToken

        row = s.scalars(select(ApiToken).where(ApiToken.name == "代表履职平台对接")).one()
        assert row.token_hash != text and text not in str(row.token_hash)
    client.post(f"/settings/tokens/{row.id}/revoke", data={"csrf_token": token})
    assert client.get("/api/v1/tasks", headers=auth(text)).status_code == 401


def test_banli_token_create_and_a_partner_machine_user(demo_db, monkeypatch):
    from click.testing import CliRunner

    from engine import cli

    monkeypatch.setattr(cli, "database", lambda: demo_db)
    runner = CliRunner()
    out = runner.invoke(cli.main, ["partner", "add", "提案系统", "--role", "office", "--url", "https://ta.example/hook"])
    assert out.exit_code == 0 and "whsec_" in out.output
    out = runner.invoke(cli.main, ["token", "create", "--user", "partner:提案系统", "--name", "sync",
                                   "--scope", "items:write", "--scope", "items:read", "--days", "7"])
    assert out.exit_code == 0, out.output
    token = out.stdout.strip().splitlines()[0]
    assert token.startswith("banli_")
    bad = runner.invoke(cli.main, ["token", "create", "--user", "office", "--name", "x", "--scope", "everything"])
    assert bad.exit_code != 0 and "everything" in bad.output
    from engine.people.accounts import authenticate

    with demo_db.reading() as s:
        assert authenticate(s, "partner:提案系统", "!") is None  # a machine user has no password


def test_the_reference_page_is_served_locally(client):
    page = client.get("/api/v1/docs").get_data(as_text=True)
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in page and "/api/v1/openapi.json" in page
    assert "http" not in page.split("<body>")[1].split("openapi.json")[0].replace("http://localhost", "")  # no CDN
    assert client.get("/static/vendor/swagger-ui/swagger-ui-bundle.js").status_code == 200


def test_a_void_deadline_keeps_the_api_contract(client, demo_db):
    """A unit gives an item back before handling: its reply deadline is void, a state the document lists."""
    from web.api_v1.schemas import Deadline as DeadlineSchema
    from tests.test_timers import assign, do, register
    item_id = register(demo_db)
    assign(demo_db, item_id)
    do(demo_db, item_id, "jtj_staff", "sign_for", sign_decision="return", return_reason="不属于本单位职责")
    do(demo_db, item_id, "office", "decide_return", return_decision="approve", return_opinion="同意")
    deadlines = Api(client, demo_db, "office").get(f"/items/{item_id}/deadlines")
    assert "void" in {d["state"] for d in deadlines}
    assert all(DeadlineSchema().validate(d) == {} for d in deadlines)


def test_a_deadlines_calendar_warning_comes_in_the_clients_language(client, demo_db):
    import time_machine

    from tests.test_timers import assign, at, register

    with time_machine.travel(at("2026-12-28"), tick=False):  # the return window ends in 2027 (no holidays loaded)
        item_id = register(demo_db)
        assign(demo_db, item_id)
    office = Api(client, demo_db, "office")

    def warnings(language):
        r = client.get(f"/api/v1/items/{item_id}/deadlines", headers={**office.headers, "Accept-Language": language})
        return {d["key"]: d["warning"] for d in r.get_json()}

    assert warnings("en")["return_window"] == "No holiday data for 2027: computed on weekends only"
    assert warnings("zh")["return_window"] == "2027年节假日数据未载入，按周末计算"


def test_a_proposer_reads_the_proposer_facing_status_and_staff_the_step(client, demo_db):
    """`current_step` names the ready steps (审核退回申请, 领导领办批示 ...) for staff; a proposer reads where the
    item stands as the portal says it, in every answer that carries the item."""
    office, liu, chen = (Api(client, demo_db, name) for name in ("office", "deputy_liu", "deputy_chen"))
    with demo_db.reading() as s:
        ids = {title: s.scalars(select(Item.id).where(Item.title == title, Item.year == 2026)).one()
               for title in ("关于推进垃圾分类的建议", "关于老旧小区加装电梯的建议", "关于治理河道黑臭水体的建议")}
    returned, handled, rated = ids.values()
    assert office.get(f"/items/{returned}")["item"]["current_step"] == "审核退回申请"
    assert liu.get(f"/items/{returned}")["item"]["current_step"] == "交办中"
    assert liu.get(f"/items/{handled}")["item"]["current_step"] == "办理中"
    english = client.get(f"/api/v1/items/{returned}", headers={**liu.headers, "Accept-Language": "en"}).get_json()
    assert english["item"]["current_step"] == "Being assigned"
    # The rating sent through the API: the answer's item waits for the office's publication, read as 已评价.
    done = chen.do(rated, "rate", attitude="satisfied", result="satisfied")
    assert done["item"]["current_step"] == "已评价" and office.get(f"/items/{rated}")["item"]["current_step"] == "答复公开"
    # The document says so.
    doc = client.get("/api/v1/openapi.json").get_json()
    described = doc["components"]["schemas"]["Item"]["properties"]["current_step"]["description"]
    assert "proposer" in described and "已答复，待评价" in described


def test_a_merged_items_proposer_reads_the_lead_items_reply_and_their_own_rating_state(client, demo_db, merged):
    """并案: as in the portal, the proposer of the merged item receives the lead item's approved reply and reads
    that it waits for their rating, in their language."""
    from tests.test_lifecycle import REPLY

    lead, other = merged
    liu = Api(client, demo_db, "deputy_liu")
    with demo_db.reading() as s:
        number = s.get(Item, lead).number
    mine = liu.get(f"/items/{other}")
    assert [r["text"] for r in mine["replies"]] == [REPLY["reply_text"]] and mine["replies"][0]["status"] == "approved"
    assert mine["item"]["current_step"] == f"已并入 {number}，已答复，待评价"
    english = client.get(f"/api/v1/items/{other}", headers={**liu.headers, "Accept-Language": "en"}).get_json()
    assert english["item"]["current_step"] == f"Merged into {number}: Replied, awaiting the rating"


def test_a_proposer_lists_the_items_they_lead_or_co_signed_and_no_others(client, demo_db):
    """GET /items gave a proposer an empty list (the staff's visibility), while each item could be read."""
    from engine.items.registration import register_item
    from engine.models import ItemCosigner

    with demo_db.transaction() as s:
        office = user(s, "office")
        cosigned = register_item(s, {"item_type": "suggestion", "proposer": "deputy_liu", "title": "关于增设路灯的建议",
                                     "content": "背街小巷照明不足。", "cosigners": "陈代表"}, office).id
        chen = user(s, "deputy_chen").id
        led = set(s.scalars(select(Item.id).where(Item.proposer_id == chen)))
        signed = set(s.scalars(select(ItemCosigner.item_id).where(ItemCosigner.user_id == chen)))
        assert cosigned in signed and led and not led & signed
    listed = {i["id"] for i in Api(client, demo_db, "deputy_chen").get("/items", query_string={"limit": 200})["items"]}
    assert listed == led | signed


def test_a_proposer_reads_no_internal_state_through_the_fields_or_the_filters(client, demo_db):
    """`status` said replying (a draft waits for the office's review) or rehandling (the office deliberates), a
    reply showed the unit's class beside the office's, and `?status=` / `?unit=` filters told the same and which
    units help: none of it is the portal's."""
    from engine.models import Reply as ReplyRow
    from tests.test_lifecycle import do
    with demo_db.reading() as s:
        waiting = s.scalars(select(Item.id).where(Item.status == "rating", Item.year == 2026)).first()
        rater = s.get(Item, waiting).proposer.username
    do(demo_db, waiting, rater, "rate", attitude="unsatisfied", result="unsatisfied", rating_reason="没有落实。")
    with demo_db.transaction() as s:
        rows = {st: s.scalars(select(Item).where(Item.status == st, Item.year == 2026)).first()
                for st in ("replying", "rehandling")}
        assert all(rows.values()), rows
        replied = s.scalars(select(ReplyRow).where(ReplyRow.status == "approved")).first()
        replied.reply_class, replied.final_class = "B", "C"  # the office reclassified the unit's reply
        who = {st: (it.id, it.proposer.username) for st, it in rows.items()}
        reclassified = (replied.item_id, s.get(Item, replied.item_id).proposer.username)
    for st, (item_id, username) in who.items():
        seen = Api(client, demo_db, username).get(f"/items/{item_id}")["item"]
        assert seen["status"] not in ("replying", "rehandling"), (st, seen["status"])
    item_id, username = reclassified
    replies = Api(client, demo_db, username).get(f"/items/{item_id}")["replies"]
    assert replies and all(r["reply_class"] == "C" and r["final_class"] == "C" for r in replies)
    chen = Api(client, demo_db, "deputy_chen")
    everything = {i["id"] for i in chen.get("/items", query_string={"limit": 200})["items"]}
    for query in ({"status": "replying"}, {"status": "rehandling"}, {"unit": 1}):
        assert {i["id"] for i in chen.get("/items", query_string={"limit": 200, **query})["items"]} == everything
