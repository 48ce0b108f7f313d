"""分办 (separate handling) through the real BPMN and the web pages: the office assigns an item to several units
that each sign for (or ask to return), pledge, reply (signed off by their head, reviewed by the office) and are
rated by the proposer on their own, each against its own deadlines; the item is replied when every unit has
replied and closes when every part is done."""
from __future__ import annotations

import re
from datetime import date, datetime
from urllib.parse import quote

import pytest
import time_machine
from sqlalchemy import select

from engine.people.authz import NotAllowed
from engine.models import Assignment, Deadline, Item, Rating, Reply, TaskRow, Unit
from engine.workflow.runtime import complete_task
from engine.workflow.sweep import sweep
from tests.conftest import csrf_token, login, user
from tests.test_followup import PLEDGE, as_user, new_item, notes, post
from tests.test_lifecycle import REPLY, do, ready

T0 = datetime(2026, 3, 2, 9, 0)  # a Monday; 5 working days later is 2026-03-09, 3 months later 2026-06-02


def csrf(client, page):
    return csrf_token(client, page)


def units(db):
    with db.reading() as s:
        return dict(s.execute(select(Unit.code, Unit.id)).all())


def do_part(db, item_id, username, spec_name, unit, **form):
    """Complete the `spec_name` task of the 分办 part of `unit` (office and proposer tasks name the part's unit)."""
    with db.transaction() as s:
        uid = s.scalar(select(Unit.id).where(Unit.code == unit))
        row = s.scalars(select(TaskRow).where(TaskRow.item_id == item_id, TaskRow.spec_name == spec_name,
                                              TaskRow.unit_id == uid)).first()
        assert row is not None, f"no ready {spec_name} of {unit}; ready: {ready(db, item_id)}"
        complete_task(s, row.id, user(s, username), form)


def part_reply(db, item_id, unit, **reply):
    do(db, item_id, f"{unit}_staff", "sep_draft_reply", **{**REPLY, **reply})
    do(db, item_id, f"{unit}_head", "sep_signoff", signoff_decision="approve")
    do_part(db, item_id, "office", "sep_review", unit, review_decision="approve")


def deadlines(db, item_id, key):
    with db.reading() as s:
        codes = {v: k for k, v in s.execute(select(Unit.code, Unit.id)).all()}
        return {(codes.get(d.unit_id), d.due_date, d.status) for d in s.scalars(
            select(Deadline).where(Deadline.item_id == item_id, Deadline.key == key))}


def test_an_item_assigned_to_three_units_separately_each_handles_replies_and_is_rated_on_its_own(client, demo_db):
    db = demo_db
    u = units(db)
    with time_machine.travel(T0, tick=False):
        item_id = new_item(db, "关于老旧小区加装电梯的建议")
        do(db, item_id, "office", "assign_item", assign_decision="assign", lead_unit="zjj",
           separate_units=["jtj", "wjw", "hbj"])
        # Every unit's part opens at assignment beside the lead unit's sign-for, each with its own windows.
        assert ready(db, item_id) == ["sep_sign_for"] * 3 + ["sign_for"]
        assert deadlines(db, item_id, "return_window") == {(c, date(2026, 3, 9), "open") for c in ("zjj", "jtj", "wjw", "hbj")}
        assert deadlines(db, item_id, "sep_reply") == {(c, date(2026, 6, 2), "open") for c in ("jtj", "wjw", "hbj")}
        with db.reading() as s:
            assert {(a.unit_id, a.role) for a in s.scalars(select(Assignment).where(Assignment.item_id == item_id))} == \
                {(u["zjj"], "lead"), (u["jtj"], "separate"), (u["wjw"], "separate"), (u["hbj"], "separate")}
        # The proposer is told which units will reply.
        assert "已交办：由区住房和城乡建设局主办，区交通运输局、区卫生健康委员会、市生态环境局本区分局分办" in notes(db, "deputy_chen", item_id)
        # A part's tasks are its own unit's: another unit's staff cannot act on them.
        with db.transaction() as s:
            row = s.scalars(select(TaskRow).where(TaskRow.item_id == item_id, TaskRow.spec_name == "sep_sign_for",
                                                  TaskRow.unit_id == u["jtj"])).one()
            with pytest.raises(NotAllowed):
                complete_task(s, row.id, user(s, "wjw_staff"), {"sep_sign_decision": "sign"})

        # 环保局 asks to return its part; the office agrees: its part ends, what it owed is void.
        do(db, item_id, "hbj_staff", "sep_sign_for", sep_sign_decision="return", sep_return_reason="不属于本局职责。")
        do_part(db, item_id, "office", "decide_sep_return", "hbj", sep_return_decision="approve",
                sep_return_opinion="同意，由其余单位答复。")
        assert {(c, st) for c, _, st in deadlines(db, item_id, "sep_reply")} == {("jtj", "open"), ("wjw", "open"),
                                                                                 ("hbj", "void")}
        assert ready(db, item_id) == ["sep_sign_for"] * 2 + ["sign_for"]
        for unit in ("zjj", "jtj"):
            do(db, item_id, f"{unit}_staff", "sign_for" if unit == "zjj" else "sep_sign_for",
               **({"sign_decision": "sign"} if unit == "zjj" else {"sep_sign_decision": "sign"}))
        do(db, item_id, "jtj_head", "sep_pledge", **PLEDGE)
        do(db, item_id, "zjj_head", "pledge", **PLEDGE)

    # 交通局 replies first (its head signs, the office returns it once, then approves): the item is not replied yet.
    with time_machine.travel(datetime(2026, 4, 1, 10), tick=False):
        do(db, item_id, "jtj_staff", "sep_draft_reply", **REPLY)
        do(db, item_id, "jtj_head", "sep_signoff", signoff_decision="approve")
        do_part(db, item_id, "office", "sep_review", "jtj", review_decision="return", review_opinion="请补充时间表。")
        part_reply(db, item_id, "jtj", reply_class="A", reply_text="已完成加装规划。", promised="", promised_date="")
        with db.reading() as s:
            assert s.get(Item, item_id).replied_at is None
            r = s.scalars(select(Reply).where(Reply.item_id == item_id, Reply.status == "approved")).one()
            assert (r.unit_id, r.final_class) == (u["jtj"], "A")
        assert ("jtj", date(2026, 6, 2), "met") in deadlines(db, item_id, "sep_reply")
        assert "sep_rate" in ready(db, item_id)
        assert deadlines(db, item_id, "sep_rating") == {("jtj", date(2026, 4, 23), "open")}

    # The proposer rates 交通局's reply in the portal, on its own.
    with time_machine.travel(datetime(2026, 4, 3, 10), tick=False):
        as_user(client, "deputy_chen")
        page = f"/portal/items/{item_id}"
        html = client.get(page).get_data(as_text=True)
        assert "分办单位办理情况" in html and "评价分办答复 · 区交通运输局" in html
        # 环保局's part ended with its return: not named among the units that will reply, nor "not yet replied".
        listed = html.split("<dt>分办单位</dt>")[1].split("</dd>")[0]
        assert "区交通运输局" in listed and "市生态环境局本区分局" not in listed
        returned = [row for row in html.split('<tr class="part"')[1:] if 'data-unit="hbj"' in row][0]
        assert "已退回" in returned and "尚未答复" not in returned
        with db.reading() as s:
            task_id = s.scalars(select(TaskRow.id).where(TaskRow.item_id == item_id, TaskRow.spec_name == "sep_rate")).one()
        r = post(client, f"/portal/items/{item_id}/tasks/{task_id}", page, attitude="satisfied", result="basically_satisfied")
        assert r.status_code == 303
        with db.reading() as s:
            rating = s.scalars(select(Rating).where(Rating.item_id == item_id)).one()
            assert (rating.unit_id, rating.attitude, rating.result) == (u["jtj"], "satisfied", "basically_satisfied")
        assert ("jtj", date(2026, 4, 23), "met") in deadlines(db, item_id, "sep_rating")

    # The lead unit replies and is rated; the item is still not replied: 卫健委 has not replied.
    with time_machine.travel(datetime(2026, 5, 11, 10), tick=False):
        do(db, item_id, "zjj_staff", "consult", consult_date="2026-05-08", consult_form="phone", participants="代表",
           proposer_views="同意。")
        do(db, item_id, "zjj_staff", "draft_reply", **REPLY)
        do(db, item_id, "zjj_head", "signoff_reply", signoff_decision="approve")
        do(db, item_id, "office", "review_reply", review_decision="approve")
        do(db, item_id, "deputy_chen", "rate", attitude="satisfied", result="satisfied")
        with db.reading() as s:
            item = s.get(Item, item_id)
            assert (item.replied_at, item.reply_class) == (None, "B")
        assert "publish" not in ready(db, item_id)  # the item closes only when every part is done

    # 卫健委 misses its own reply deadline: its part is flagged on the board, the others' are not.
    with time_machine.travel(datetime(2026, 6, 3, 10), tick=False):
        sweep(db)
        assert ("wjw", date(2026, 6, 2), "overdue") in deadlines(db, item_id, "sep_reply")
        as_user(client, "office")
        with db.reading() as s:
            number = s.get(Item, item_id).number
        late = client.get(f"/supervision/?unit={u['wjw']}&deadline=sep_reply&show=overdue").get_data(as_text=True)
        assert number in late and "分办答复" in late
        on_time = client.get(f"/supervision/?unit={u['jtj']}&deadline=sep_reply&show=overdue").get_data(as_text=True)
        assert number not in on_time  # 交通局 replied in time: its part is not late
        item_page = client.get(f"/items/{item_id}").get_data(as_text=True)
        assert "分办单位办理情况" in item_page
    with time_machine.travel(datetime(2026, 6, 10, 10), tick=False):
        do(db, item_id, "wjw_staff", "sep_sign_for", sep_sign_decision="sign")
        do(db, item_id, "wjw_head", "sep_pledge", **PLEDGE)
        part_reply(db, item_id, "wjw")
        with db.reading() as s:  # now every unit still on the item has replied: the item is replied
            assert s.get(Item, item_id).replied_at.date() == date(2026, 6, 10)
        assert ("wjw", date(2026, 6, 2), "met_late") in deadlines(db, item_id, "sep_reply")
        assert "publish" not in ready(db, item_id)
    # Nobody rates 卫健委's reply: its window passes (未表态) and the item goes on to publication.
    with time_machine.travel(datetime(2026, 7, 10, 10), tick=False):
        sweep(db)
        with db.reading() as s:
            assert {(r.unit_id, r.attitude) for r in s.scalars(select(Rating).where(Rating.item_id == item_id))} == \
                {(u["jtj"], "satisfied"), (None, "satisfied"), (u["wjw"], "no_opinion")}
        assert ready(db, item_id) == ["publish"]
        # The publish form starts with every reply of the item, each under its unit, redacted; the lead unit's
        # first, and nothing of 环保局, which gave its part back.
        as_user(client, "office")
        with db.reading() as s:
            task_id = s.scalars(select(TaskRow.id).where(TaskRow.item_id == item_id, TaskRow.spec_name == "publish")).one()
        form = client.get(f"/tasks/{task_id}").get_data(as_text=True)
        text = re.search(r'<textarea[^>]*name="published_text"[^>]*>(.*?)</textarea>', form, re.S).group(1)
        assert [line for line in text.splitlines() if line.startswith("【")] == \
            ["【区住房和城乡建设局】", "【区交通运输局】", "【区卫生健康委员会】"]
        assert "已完成加装规划。" in text and text.count(REPLY["reply_text"]) == 2 and "环境" not in text


def test_the_office_assigns_separately_on_the_assignment_page_and_units_work_their_part_on_task_pages(client, demo_db):
    db = demo_db
    item_id = new_item(db, "关于农贸市场改造的建议")
    with db.reading() as s:
        row = s.scalars(select(TaskRow).where(TaskRow.item_id == item_id, TaskRow.spec_name == "assign_item")).one()
    login(client, "office")
    page = f"/tasks/{row.id}"
    html = client.get(page).get_data(as_text=True)
    assert "分办单位" in html and 'name="separate_units"' in html
    # 分办 and 协办 exclude each other, and the lead unit is not also a separate unit: refused with the reason.
    r = client.post(page, data={"csrf_token": csrf(client, page), "assign_decision": "assign", "lead_unit": "zjj",
                                "co_units": ["jyj"], "separate_units": ["jtj"]})
    assert r.status_code == 400 and "分办与协办不能同时选择" in r.get_data(as_text=True)
    r = client.post(page, data={"csrf_token": csrf(client, page), "assign_decision": "assign", "lead_unit": "zjj",
                                "separate_units": ["zjj", "jtj"]})
    assert r.status_code == 400 and "主办单位不能同时作为分办单位" in r.get_data(as_text=True)
    assert ready(db, item_id) == ["assign_item"]
    r = client.post(page, data={"csrf_token": csrf(client, page), "assign_decision": "assign", "lead_unit": "zjj",
                                "separate_units": ["jtj", "wjw"]})
    assert r.status_code == 302
    assert ready(db, item_id) == ["sep_sign_for", "sep_sign_for", "sign_for"]
    u = units(db)
    with db.reading() as s:
        rows = {t.unit_id: t.id for t in s.scalars(select(TaskRow).where(TaskRow.item_id == item_id,
                                                                       TaskRow.spec_name == "sep_sign_for"))}
    # Each unit sees its own part's task in its inbox and completes it on the task page; not the other's.
    as_user(client, "jtj_staff")
    assert client.get(f"/tasks/{rows[u['wjw']]}").status_code == 403
    page = f"/tasks/{rows[u['jtj']]}"
    assert 'name="sep_sign_decision"' in client.get(page).get_data(as_text=True)
    r = client.post(page, data={"csrf_token": csrf(client, page), "sep_sign_decision": "sign"})
    assert r.status_code == 302
    with db.reading() as s:
        pledge = s.scalars(select(TaskRow).where(TaskRow.item_id == item_id, TaskRow.spec_name == "sep_pledge")).one()
        assert (pledge.unit_id, pledge.lane) == (u["jtj"], "sep_unit_head")
    as_user(client, "jtj_head")
    assert "关于农贸市场改造的建议" in client.get("/tasks/").get_data(as_text=True)
    # The item page shows each unit's part with its own state and deadlines.
    as_user(client, "office")
    html = client.get(f"/items/{item_id}").get_data(as_text=True)
    part = re.search(r'<tr class="part" data-unit="jtj">(.*?)</tr>', html, re.S).group(1)
    assert "已签收" in part and "分办答复" in part
    part = re.search(r'<tr class="part" data-unit="wjw">(.*?)</tr>', html, re.S).group(1)
    assert "待签收" in part


def test_items_running_on_the_version_before_separate_parts_migrate_when_not_yet_assigned(demo_db):
    """The rule for items running on the version before 分办: an item not yet assigned moves to the new version
    (and may then be assigned separately); an item already assigned stays on its version (the steps after its
    assignment changed: the parts would never open) and goes on there as before."""
    from pathlib import Path
    from engine.models import ProcessInstance
    from engine.workflow.versions import deploy_checked, migrate_version
    db = demo_db
    old_xml = (Path(__file__).parent / "data" / "item_handling_before_separate.bpmn").read_bytes()
    new_xml = (Path(__file__).parent.parent / "processes" / "item_handling.bpmn").read_bytes()
    with db.transaction() as s:
        old_id = deploy_checked(s, old_xml, "item_handling.bpmn", "admin")[0].id
    waiting = new_item(db, "关于公厕改造的建议")
    assigned = new_item(db, "关于路灯维修的建议")
    do(db, assigned, "office", "assign_item", assign_decision="assign", lead_unit="zjj")
    with db.transaction() as s:
        new_id, admin_id = deploy_checked(s, new_xml, "item_handling.bpmn", "admin")[0].id, user(s, "admin").id
    results = {r.item_id: r for r in migrate_version(db, old_id, new_id, admin_id, [waiting, assigned])}
    assert results[waiting].ok, results[waiting].message
    assert not results[assigned].ok and "assign_split" in results[assigned].message  # its parts would never open
    with db.reading() as s:
        on = {i: s.scalar(select(ProcessInstance.definition_id).where(ProcessInstance.item_id == i))
              for i in (waiting, assigned)}
    assert on == {waiting: new_id, assigned: old_id}
    do(db, waiting, "office", "assign_item", assign_decision="assign", lead_unit="zjj", separate_units=["jtj"])
    assert ready(db, waiting) == ["sep_sign_for", "sign_for"]
    do(db, assigned, "zjj_staff", "sign_for", sign_decision="sign")
    assert ready(db, assigned) == ["pledge"]


def test_each_separate_unit_sends_its_own_reply_letter(client, demo_db):
    db = demo_db
    u = units(db)
    item_id = new_item(db, "关于菜市场噪音治理的建议")
    do(db, item_id, "office", "assign_item", assign_decision="assign", lead_unit="zjj", separate_units=["jtj"])
    do(db, item_id, "jtj_staff", "sep_sign_for", sep_sign_decision="sign")
    do(db, item_id, "jtj_head", "sep_pledge", **PLEDGE)
    part_reply(db, item_id, "jtj", reply_class="A", promised="", promised_date="")
    login(client, "office")
    html = client.get(f"/items/{item_id}").get_data(as_text=True)
    assert f"/items/{item_id}/letter.docx?unit={u['jtj']}" in html.replace("&amp;", "&")
    r = client.get(f"/items/{item_id}/letter.docx?unit={u['jtj']}")
    assert r.status_code == 200 and quote("区交通运输局") in r.headers["Content-Disposition"]
    with db.reading() as s:
        reply = s.scalars(select(Reply).where(Reply.item_id == item_id)).one()
        assert reply.unit_id == u["jtj"] and reply.letter_number.startswith("区交通运输局〔")
        from engine.models import OutboxEvent  # partners learn whose reply it is
        event = s.scalars(select(OutboxEvent).where(OutboxEvent.item_id == item_id,
                                                    OutboxEvent.event_type == "reply.approved")).one()
        assert event.payload["data"]["separate_unit"] == "jtj"
    # The lead unit has not replied: the item's own letter (the lead unit's) is not there yet.
    r = client.get(f"/items/{item_id}/letter.docx")
    assert r.status_code == 302


def test_a_separate_unit_rated_unsatisfied_re_handles_its_own_part(demo_db):
    """重新办理 of one 分办 unit's part: the office orders it after a 不满意 rating; that unit replies again within
    1 month of the order (its own round-2 deadline) and is rated again; the item's own round does not move."""
    db = demo_db
    u = units(db)
    with time_machine.travel(T0, tick=False):
        item_id = new_item(db, "关于小区停车位的建议")
        do(db, item_id, "office", "assign_item", assign_decision="assign", lead_unit="zjj", separate_units=["jtj"])
        do(db, item_id, "jtj_staff", "sep_sign_for", sep_sign_decision="sign")
        do(db, item_id, "jtj_head", "sep_pledge", **PLEDGE)
    with time_machine.travel(datetime(2026, 4, 1, 10), tick=False):
        part_reply(db, item_id, "jtj", reply_class="C", promised="列入明年计划。", promised_date="2027-06-30")
        do_part(db, item_id, "deputy_chen", "sep_rate", "jtj", attitude="satisfied", result="unsatisfied",
                rating_reason="没有解决。")
        assert "sep_order_rehandling" in ready(db, item_id)
        do_part(db, item_id, "office", "sep_order_rehandling", "jtj", rehandle_decision="rehandle",
                rehandle_instructions="请重新研究。")
        assert "sep_redraft" in ready(db, item_id)
        # Its own round-2 reply deadline: 1 month from the order (2026-04-01 + 1 month = 2026-05-01, a holiday:
        # the next working day is 2026-05-06).
        with db.reading() as s:
            row = s.scalars(select(Deadline).where(Deadline.item_id == item_id, Deadline.key == "sep_reply",
                                                   Deadline.round == 2)).one()
            assert (row.unit_id, row.status, row.due_date) == (u["jtj"], "open", date(2026, 5, 6))
            assert s.get(Item, item_id).round == 1  # the item's (lead unit's) round is its own
        assert any("重新办理（分办，第2轮）" in t for t in notes(db, "deputy_chen", item_id))
    with time_machine.travel(datetime(2026, 4, 20, 10), tick=False):
        do(db, item_id, "jtj_staff", "sep_redraft", **REPLY)
        do(db, item_id, "jtj_head", "sep_resignoff", signoff_decision="approve")
        do_part(db, item_id, "office", "sep_rereview", "jtj", review_decision="approve")
        assert ("jtj", row.due_date, "met") in {(c, d, st) for c, d, st in deadlines(db, item_id, "sep_reply")}
        do_part(db, item_id, "deputy_chen", "sep_rate", "jtj", attitude="satisfied", result="basically_satisfied")
        assert "sep_rate" not in ready(db, item_id) and "sep_order_rehandling" not in ready(db, item_id)
        with db.reading() as s:
            assert [(r.round, r.unit_id) for r in s.scalars(select(Rating).where(Rating.item_id == item_id)
                                                            .order_by(Rating.id))] == [(1, u["jtj"]), (2, u["jtj"])]
            from engine.reports.statistics import year_statistics
            stats = year_statistics(s, 2026, as_of=date(2026, 4, 20))
    jtj = next(r for r in stats.units if r.code == "jtj")
    mine = [f for f in stats.facts if f.id == item_id]
    assert mine[0].rehandle_rounds == 0  # the item was not re-handled: one unit's part was
    # 交通局's part: first round 不满意, final 基本满意, re-handled once (its row counts it like a lead unit's)
    with db.reading() as s:
        from engine.reports.statistics import item_facts, part_facts
        [part] = [p for p in part_facts(s, item_facts(s, 2026, date(2026, 4, 20)), date(2026, 4, 20))
                  if p.id == item_id and p.separate]
    assert (part.first_rating, part.final_rating, part.rehandle_rounds, part.reply_class) == (
        "unsatisfied", "basically_satisfied", 1, "B")
    assert jtj.separate_items >= 1 and jtj.lead.rehandled_items >= 1
