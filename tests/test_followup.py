"""The procedure's variants through the real BPMN and the web pages: 并案, the office's waiver of a co-unit's
opinion, 催办 and checks by hand, promises (跟踪落实) and the year-end carry-over, and what proposers are told."""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone

import pytest
import time_machine
from sqlalchemy import select

from engine import clock
from engine.items import merging, promises
from engine.items.registration import register_item
from engine.models import (Assignment, CarryOver, CoOpinion, Deadline, Item, Notification, ProcessInstance, Promise,
                           Rating, SupervisionCheck, TaskRow, Urge, User)
from engine.reports.statistics import year_statistics
from engine.workflow.forms import FormInvalid
from engine.workflow.runtime import WORKFLOWS
from tests.conftest import PledgeForm, csrf_token, login, user, shown_title
from tests.test_lifecycle import REPLY, do, ready

PLEDGE = PledgeForm(responsible_leader="副局长", contact_person="郑", contact_phone="13800000005", plan="调研、试点、推广")


def new_item(db, title, proposer="deputy_chen", item_type="suggestion", year="2026"):
    with db.transaction() as s:
        return register_item(s, {"item_type": item_type, "title": title, "content": f"{title}的内容。",
                                 "proposer": proposer, "year": year}, user(s, "office")).id


def post(client, path, page, **data):
    return client.post(path, data={"csrf_token": csrf_token(client, page), **data})


def as_user(client, username):
    client.get("/logout")
    with client.session_transaction() as sess:
        sess.clear()
    login(client, username)


def notes(db, username, item_id):
    with db.reading() as s:
        uid = user(s, username).id
        return [shown_title(n) for n in s.scalars(select(Notification).where(Notification.user_id == uid,
                                                                      Notification.item_id == item_id))]


def reply_approved(db, item_id, lead="zjj", **reply):
    do(db, item_id, f"{lead}_staff", "draft_reply", **{**REPLY, **reply})
    do(db, item_id, f"{lead}_head", "signoff_reply", signoff_decision="approve")
    do(db, item_id, "office", "review_reply", review_decision="approve")


def handle_to_reply(db, item_id, lead="zjj", co_units=()):
    do(db, item_id, "office", "assign_item", assign_decision="assign", lead_unit=lead, co_units=list(co_units))
    do(db, item_id, f"{lead}_staff", "sign_for", sign_decision="sign")
    do(db, item_id, f"{lead}_head", "pledge", **PLEDGE)
    do(db, item_id, f"{lead}_staff", "consult", consult_date=clock.today().isoformat(), consult_form="phone", participants="代表",
       proposer_views="同意。")


# --- 并案 -------------------------------------------------------------------------------------------------

def test_merged_item_keeps_its_number_its_proposer_receives_the_reply_and_rates_it(client, demo_db):
    db = demo_db
    lead = new_item(db, "关于增设夜间公交线路的建议")
    other = new_item(db, "关于延长公交末班车时间的建议", proposer="deputy_liu")
    login(client, "office")
    page = f"/items/{other}"
    assert "并入其他事项" in client.get(page).get_data(as_text=True)
    with db.reading() as s:
        lead_number, other_number = s.get(Item, lead).number, s.get(Item, other).number
    # A number that is no open item of the year is refused with a message, not a 500.
    r = post(client, f"/items/{other}/merge", page, into="JY2026-999")
    assert r.status_code == 303 and "同一年度、尚未办结" in client.get(page).get_data(as_text=True)
    post(client, f"/items/{other}/merge", page, into=lead_number)
    with db.reading() as s:
        merged = s.get(Item, other)
        assert (merged.status, merged.merged_into_id, merged.number) == ("merged", lead, other_number)
        assert s.scalars(select(ProcessInstance.status).where(ProcessInstance.item_id == other)).one() == "merged"
        assert s.scalars(select(TaskRow).where(TaskRow.item_id == other)).all() == []
    html = client.get(page).get_data(as_text=True)
    assert f"已并入" in html and lead_number in html and "已并案" in html
    assert other_number in client.get(f"/items/{lead}").get_data(as_text=True)
    assert any("并入" in t for t in notes(db, "deputy_liu", other))
    # Its diagram shows the steps it passed before it was merged (it was a 500 in any other process).
    WORKFLOWS.entries.clear()
    r = client.get(f"/diagram/items/{other}.json")
    assert r.status_code == 200 and "start" in r.get_json()["completed"] and r.get_json()["active"] == []

    # The lead item is handled; both proposers are told of the assignment and the reply.
    handle_to_reply(db, lead)
    reply_approved(db, lead)
    assert any("已交办" in t for t in notes(db, "deputy_liu", other))
    assert any("已答复" in t for t in notes(db, "deputy_liu", other))
    assert any("已答复" in t for t in notes(db, "deputy_chen", lead))
    with db.reading() as s:  # each about their own item: its page in the portal, its own event key
        told = s.execute(select(Notification.user_id, Notification.item_id, Notification.link, Notification.dedupe_key)
                         .where(Notification.kind == "proposer", Notification.dedupe_key.like("proposer:replied:%"),
                                Notification.item_id.in_((lead, other)))
                         .order_by(Notification.id)).all()
        assert [(n.user_id, n.item_id, n.link, n.dedupe_key.rsplit(":", 1)[1]) for n in told] == [
            (user(s, "deputy_chen").id, lead, f"/portal/items/{lead}", str(lead)),
            (user(s, "deputy_liu").id, other, f"/portal/items/{other}", str(other))]

    # The merged item's proposer reads the lead reply in the portal and rates it there.
    as_user(client, "deputy_liu")
    portal = f"/portal/items/{other}"
    html = client.get(portal).get_data(as_text=True)
    assert REPLY["reply_text"] in html and "已并入" in html and 'name="attitude"' in html
    r = post(client, f"/portal/items/{other}/rate", portal, attitude="satisfied", result="unsatisfied")
    assert "不满意的理由" in client.get(portal).get_data(as_text=True)  # the reason is required
    post(client, f"/portal/items/{other}/rate", portal, attitude="satisfied", result="basically_satisfied")
    with db.reading() as s:
        ratings = s.scalars(select(Rating).where(Rating.item_id == other)).all()
        assert [(r.round, r.attitude, r.result) for r in ratings] == [(1, "satisfied", "basically_satisfied")]
    assert 'name="attitude"' not in client.get(portal).get_data(as_text=True)  # rated once per round
    # The letter offered in the portal is theirs: addressed to them, about their own item, with the lead reply.
    r = client.get(f"/items/{other}/letter.docx")
    assert r.status_code == 200 and r.mimetype.endswith("wordprocessingml.document")
    from tests.test_letter import _texts
    letter = "\n".join(_texts(r.data)[1])
    assert "刘代表：" in letter and other_number in letter and REPLY["reply_text"].splitlines()[0] in letter
    # Another proposer cannot rate it.
    as_user(client, "deputy_chen")
    assert post(client, f"/portal/items/{other}/rate", "/portal/", attitude="satisfied",
                result="satisfied").status_code == 404
    # The merged item leaves the denominators.
    with db.reading() as s:
        d = year_statistics(s, 2026).as_dict()
        facts = {f.id: f for f in year_statistics(s, 2026).facts}
    assert d["merged"] >= 1 and facts[other].counted is False and facts[lead].counted is True


def test_a_suggestion_is_merged_only_into_a_suggestion_and_a_proposal_into_a_proposal(client, demo_db):
    """建议 are reported to the people's congress, 提案 to the CPPCC: a 建议 merged into a 提案 left the
    congress's figures without a trace of it."""
    from engine.items.merging import merge_candidates
    db = demo_db
    suggestion = new_item(db, "关于增设公交站的建议")
    proposal = new_item(db, "关于增设公交站的提案", proposer="member_zhao", item_type="proposal")
    with db.reading() as s:
        target = s.get(Item, proposal).number
        assert {i.item_type for i in merge_candidates(s, s.get(Item, suggestion))} == {"suggestion"}
    login(client, "office")
    page = f"/items/{suggestion}"
    assert target not in client.get(page).get_data(as_text=True).split('id="merge"')[-1].split("</form>")[0]
    post(client, f"/items/{suggestion}/merge", page, into=target)
    assert "建议只能并入建议，提案只能并入提案" in client.get(page).get_data(as_text=True)
    with db.reading() as s:
        assert s.get(Item, suggestion).merged_into_id is None


def test_an_item_is_merged_only_into_one_not_yet_replied(client, demo_db):
    """Merged into an item already replied, its proposer was at once asked to rate a reply written without a
    word of their item."""
    from engine.items.merging import merge_candidates
    db = demo_db
    other = new_item(db, "关于延长末班车的建议", proposer="deputy_liu")
    with db.reading() as s:
        replied = s.scalars(select(Item).where(Item.status == "rating", Item.item_type == "suggestion",
                                               Item.year == 2026)).first()
        assert replied is not None
        assert replied.id not in {i.id for i in merge_candidates(s, s.get(Item, other))}
        number = replied.number
    login(client, "office")
    post(client, f"/items/{other}/merge", f"/items/{other}", into=number)
    assert "只能并入尚未答复的事项" in client.get(f"/items/{other}").get_data(as_text=True)
    with db.reading() as s:
        assert s.get(Item, other).merged_into_id is None


def test_an_item_being_re_handled_takes_no_item_in(client, demo_db):
    """Re-handled (round 2, 办理中 again), the lead item had been replied to: an item merged into it then, its
    proposer was asked at once to rate the round-1 reply, written without a word of their item."""
    from engine.items.merging import merge_candidates
    db = demo_db
    lead, other = new_item(db, "关于公园开放时间的建议"), new_item(db, "关于延长公园开放时间的建议", proposer="deputy_liu")
    handle_to_reply(db, lead)
    reply_approved(db, lead)
    do(db, lead, "deputy_chen", "rate", attitude="satisfied", result="unsatisfied", rating_reason="太慢。")
    do(db, lead, "office", "order_rehandling", **REHANDLE)
    with db.reading() as s:
        target = s.get(Item, lead)
        assert target.round == 2 and target.status != "rating"
        assert lead not in {i.id for i in merge_candidates(s, s.get(Item, other))}
        number = target.number
    login(client, "office")
    post(client, f"/items/{other}/merge", f"/items/{other}", into=number)
    assert f"{number} 已答复：只能并入尚未答复的事项" in client.get(f"/items/{other}").get_data(as_text=True)
    with db.reading() as s:
        assert s.get(Item, other).merged_into_id is None
        assert not merging.may_rate_merged(s, user(s, "deputy_liu"), s.get(Item, other))


def test_an_item_others_were_merged_into_is_not_withdrawn_under_them(client, demo_db):
    """Withdrawing the lead item left the items merged into it 已并入…，已撤回: never answered, out of the figures."""
    from engine.items.registration import withdraw_item
    db = demo_db
    lead, other = new_item(db, "关于增设夜间公交线路的建议"), new_item(db, "关于延长末班车的建议", proposer="deputy_liu")
    login(client, "office")
    with db.reading() as s:
        lead_number, other_number = s.get(Item, lead).number, s.get(Item, other).number
        office_id = user(s, "office").id
    post(client, f"/items/{other}/merge", f"/items/{other}", into=lead_number)
    with pytest.raises(FormInvalid) as exc:
        withdraw_item(db, lead, office_id, "重复提交。")
    assert [(e.field, e.message()) for e in exc.value.errors] == [
        ("assign_decision", f"已有事项并入本件办理（{other_number}），不能撤回")]
    with db.reading() as s:
        assert (s.get(Item, lead).status, s.get(Item, other).status) == ("assigning", "merged")


def test_an_assigned_item_cannot_be_merged_and_only_the_office_merges(client, demo_db):
    db = demo_db
    a, b = new_item(db, "关于甲的建议"), new_item(db, "关于乙的建议")
    do(db, b, "office", "assign_item", assign_decision="assign", lead_unit="jtj")
    with db.reading() as s:
        number_a = s.get(Item, a).number
    login(client, "office")
    post(client, f"/items/{b}/merge", f"/items/{b}", into=number_a)
    assert "只有登记或待交办的事项可以并案" in client.get(f"/items/{b}").get_data(as_text=True)
    as_user(client, "supervisor")
    assert post(client, f"/items/{a}/merge", f"/items/{a}", into=number_a).status_code == 403
    with db.reading() as s:
        assert s.get(Item, b).status == "signing" and s.get(Item, a).merged_into_id is None



def _lead_rated_unsatisfied_before_the_merged_proposer(client, db, also=()):
    """Liu's item (and the items `also`) merged into Chen's; the reply approved, Chen rated it 不满意, Liu not
    yet: (lead, merged)."""
    lead, other = new_item(db, "关于增设夜间公交线路的建议"), new_item(db, "关于延长公交末班车时间的建议", proposer="deputy_liu")
    with db.reading() as s:
        lead_number = s.get(Item, lead).number
    login(client, "office")
    for item_id in (other, *also):
        post(client, f"/items/{item_id}/merge", f"/items/{item_id}", into=lead_number)
    handle_to_reply(db, lead)
    reply_approved(db, lead)
    do(db, lead, "deputy_chen", "rate", attitude="satisfied", result="unsatisfied", rating_reason="太慢。")
    return lead, other


REHANDLE = dict(rehandle_decision="rehandle", rehandle_instructions="一个月内重新答复。")


def test_rehandling_waits_for_the_rating_of_every_merged_items_proposer(client, demo_db):
    """并案: re-handling begins a new round, and each round keeps its own reply and ratings (分别评价). The office
    could order it on the lead proposer's 不满意 while the proposer of an item merged into it had not yet rated that
    reply: decided without their view, their rating of the reply came after the next round had begun, or never.
    The office waits for it (or for the end of its window, 未表态), and is told so beside the decision."""
    db = demo_db
    lead, other = _lead_rated_unsatisfied_before_the_merged_proposer(client, db)
    with db.reading() as s:
        other_number = s.get(Item, other).number
    with pytest.raises(FormInvalid) as refused:
        do(db, lead, "office", "order_rehandling", **REHANDLE)
    (error,) = refused.value.errors
    assert error.field == "rehandle_decision"
    assert error.message() == f"并入本件的 {other_number} 尚未评价：请待其评价或评价期满后再责成重新办理"
    with db.reading() as s:
        assert s.get(Item, lead).round == 1 and ready(db, lead) == ["order_rehandling"]
        task = s.scalars(select(TaskRow.id).where(TaskRow.item_id == lead)).one()
    login(client, "office")  # on the task page, beside the decision, in the office's words
    r = post(client, f"/tasks/{task}", f"/tasks/{task}", **REHANDLE)
    field = re.search(r'<div class="field has-error">(.*?)</div>', r.get_data(as_text=True), re.S).group(1)
    assert r.status_code == 400 and 'name="rehandle_decision"' in field and other_number in field
    # Liu rates: the office decides with both ratings before it.
    with db.transaction() as s:
        merging.rate_merged(s, user(s, "deputy_liu"), other, "unsatisfied", "unsatisfied", "末班车仍然太早。")
    do(db, lead, "office", "order_rehandling", **REHANDLE)
    with db.reading() as s:
        assert s.get(Item, lead).round == 2


def test_the_office_is_told_when_a_merged_proposers_rating_unblocks_the_rehandling_decision(client, demo_db):
    """Re-handling waits for every merged proposer's rating, but their rating told the office nothing: the decision
    sat waiting, unblocked, with no word to the office. Told once per rating, on the lead item, naming the merged
    item and its rating, and which merged items it still waits for; a rating given while no decision waits (the
    lead proposer has not rated yet) tells no one."""
    db = demo_db
    lead = new_item(db, "关于增设夜间公交线路的建议")
    early, second, last = (new_item(db, title, proposer="deputy_liu")
                           for title in ("关于延长公交末班车时间的建议", "关于夜间公交加密班次的建议", "关于公交站台照明的建议"))
    with db.reading() as s:
        number = {i: s.get(Item, i).number for i in (lead, early, second, last)}
    login(client, "office")
    for i in (early, second, last):
        post(client, f"/items/{i}/merge", f"/items/{i}", into=number[lead])
    handle_to_reply(db, lead)
    reply_approved(db, lead)

    def rate(item_id, attitude, result):
        before = notes(db, "office", lead)
        with db.transaction() as s:
            merging.rate_merged(s, user(s, "deputy_liu"), item_id, attitude, result, "末班车仍然太早。")
        return [t for t in notes(db, "office", lead) if t not in before]

    assert rate(early, "satisfied", "satisfied") == []  # the lead proposer has not rated: nothing waits on it
    do(db, lead, "deputy_chen", "rate", attitude="satisfied", result="unsatisfied", rating_reason="太慢。")
    assert rate(second, "basically_satisfied", "unsatisfied") == [
        f"并入本件的 {number[second]} 已评价（办理态度基本满意，办理结果不满意），尚待 {number[last]} 评价"]
    assert rate(last, "unsatisfied", "unsatisfied") == [
        f"并入本件的 {number[last]} 已评价（办理态度不满意，办理结果不满意）：可研究是否重新办理"]
    with db.reading() as s:  # every office user, once per rating
        office = s.scalars(select(User.id).where(User.role == "office", User.active)).all()
        rows = s.scalars(select(Notification).where(Notification.item_id == lead,
                                                    Notification.dedupe_key.like("merged_rated:%"))).all()
        assert sorted(n.user_id for n in rows) == sorted(office * 2)
    do(db, lead, "office", "order_rehandling", **REHANDLE)


def test_a_merged_proposers_unsatisfied_rating_tells_the_office_when_no_decision_waits_on_it(client, demo_db):
    """DOMAIN: on 不满意 the office studies it. The lead proposer rated 满意, so no re-handling decision opened; a
    merged item's proposer then rated 不满意 and no one was told: the rating sat on their own item unseen. The
    office is told on the lead item; a satisfied rating still tells no one."""
    db = demo_db
    lead = new_item(db, "关于增设夜间公交线路的建议")
    pleased, unhappy = (new_item(db, title, proposer="deputy_liu")
                        for title in ("关于延长公交末班车时间的建议", "关于夜间公交加密班次的建议"))
    with db.reading() as s:
        number = {i: s.get(Item, i).number for i in (lead, pleased, unhappy)}
    login(client, "office")
    for i in (pleased, unhappy):
        post(client, f"/items/{i}/merge", f"/items/{i}", into=number[lead])
    handle_to_reply(db, lead)
    reply_approved(db, lead)
    do(db, lead, "deputy_chen", "rate", attitude="satisfied", result="satisfied")

    def rate(item_id, attitude, result):
        before = notes(db, "office", lead)
        with db.transaction() as s:
            merging.rate_merged(s, user(s, "deputy_liu"), item_id, attitude, result, "末班车仍然太早。")
        return [t for t in notes(db, "office", lead) if t not in before]

    assert rate(pleased, "satisfied", "basically_satisfied") == []
    assert rate(unhappy, "basically_satisfied", "unsatisfied") == [
        f"并入本件的 {number[unhappy]} 评价为不满意（办理态度基本满意，办理结果不满意），本件没有待作出的重新办理决定：请研究处理"]
    with db.reading() as s:  # every office user, linked to the lead item
        office = s.scalars(select(User.id).where(User.role == "office", User.active)).all()
        rows = s.scalars(select(Notification).where(Notification.item_id == lead,
                                                    Notification.dedupe_key.like("merged_rated:%"))).all()
        assert sorted(n.user_id for n in rows) == sorted(office) and {n.link for n in rows} == {f"/items/{lead}"}


def test_rehandling_is_not_held_up_past_a_merged_proposers_rating_window(client, demo_db):
    """Unrated when its window ends, the merged item's rating is 未表态, as the lead proposer's would be: the office
    orders re-handling then without it; closing the item instead (不再重办) was never held up."""
    db = demo_db
    lead, _other = _lead_rated_unsatisfied_before_the_merged_proposer(client, db)
    with db.reading() as s:
        due = s.scalars(select(Deadline.due_date).where(Deadline.item_id == lead, Deadline.key == "rating")).one()
    with time_machine.travel(datetime.combine(due + timedelta(days=1), datetime.min.time(), timezone.utc), tick=False):
        do(db, lead, "office", "order_rehandling", **REHANDLE)
    with db.reading() as s:
        assert s.get(Item, lead).round == 2


def test_a_merged_items_proposer_is_reminded_to_rate_though_the_lead_proposer_rated_first(client, demo_db):
    """DOMAIN: unrated after a reminder counts as 未表态. The rating reminder is a timer on the lead proposer's own
    rating step, gone once they rate: the proposer of an item merged into it, who rates the same reply in the same
    window, was never reminded, and their silence became 未表态 all the same."""
    from engine.scheduler import tick
    db = demo_db
    rated = new_item(db, "关于优化公交线网的建议", proposer="deputy_zhou")
    lead, other = _lead_rated_unsatisfied_before_the_merged_proposer(client, db, also=[rated])
    as_user(client, "deputy_zhou")
    post(client, f"/portal/items/{rated}/rate", f"/portal/items/{rated}", attitude="satisfied", result="satisfied")
    with db.reading() as s:
        due = s.scalars(select(Deadline.due_date).where(Deadline.item_id == lead, Deadline.key == "rating")).one()
        assert s.scalar(select(Rating.id).where(Rating.item_id == rated)) is not None

    def reminders(username, item_id):
        with db.reading() as s:
            return s.execute(select(Notification.link, Notification.message).where(
                Notification.user_id == user(s, username).id, Notification.item_id == item_id,
                Notification.kind == "reminder")).all()

    def tick_on(day):
        with time_machine.travel(datetime.combine(day, datetime.min.time(), timezone.utc), tick=False):
            tick(db)

    remind_day = due - timedelta(days=3)  # the rating reminder's lead: the last of the rules' 15D,3D
    tick_on(remind_day - timedelta(days=1))
    assert reminders("deputy_liu", other) == []
    tick_on(remind_day)
    tick_on(remind_day + timedelta(days=1))  # once, not at every tick
    sent = reminders("deputy_liu", other)
    assert [link for link, _ in sent] == [f"/portal/items/{other}"]
    assert any(f"评价将于 {due.isoformat()} 到期" in t for t in notes(db, "deputy_liu", other))
    assert reminders("deputy_zhou", rated) == []  # rated already: nothing to remind of
    tick_on(due + timedelta(days=1))  # past the window: unrated is 未表态, no more reminders
    assert len(reminders("deputy_liu", other)) == 1


def test_the_merged_proposers_reminders_read_a_years_rules_once_however_many_items_wait(client, demo_db, monkeypatch):
    """The scheduler runs remind_raters at every tick: the year's rules (their reminder lead) are read once per
    year, not once per merged item waiting for a rating."""
    from engine.items import merging
    db = demo_db
    waiting = new_item(db, "关于优化公交线网的建议", proposer="deputy_zhou")
    lead, _other = _lead_rated_unsatisfied_before_the_merged_proposer(client, db, also=[waiting])
    reads = []
    real = merging.rules_for
    monkeypatch.setattr(merging, "rules_for", lambda session, year: reads.append(year) or real(session, year))
    with db.reading() as s:
        due = s.scalars(select(Deadline.due_date).where(Deadline.item_id == lead, Deadline.key == "rating")).one()
    with time_machine.travel(datetime.combine(due - timedelta(days=3), datetime.min.time(), timezone.utc),
                             tick=False):
        with db.transaction() as s:
            assert merging.remind_raters(s) == 2  # both merged items' proposers
    assert len(reads) == 1


# --- co-units: the office's waiver ----------------------------------------------------------------------

def test_office_waives_a_silent_co_units_opinion_with_a_reason(client, demo_db):
    db = demo_db
    item_id = new_item(db, "关于校园周边交通的建议")
    handle_to_reply(db, item_id, co_units=["jyj", "wjw"])
    do(db, item_id, "jyj_staff", "co_sign_for", co_sign_decision="sign")
    do(db, item_id, "wjw_staff", "co_sign_for", co_sign_decision="sign")
    do(db, item_id, "jyj_staff", "cohandle", co_opinion="教育局同意。")
    assert ready(db, item_id) == ["cohandle"]  # the reply waits for the silent co-unit
    login(client, "office")
    page = f"/items/{item_id}"
    html = client.get(page).get_data(as_text=True)
    assert "免除协办意见" in html
    # Without a reason, or for a unit that already gave its opinion: a message, nothing changes.
    post(client, f"/items/{item_id}/waive", page, unit="wjw", reason="")
    assert "免除理由：此项为必填项" in client.get(page).get_data(as_text=True)
    post(client, f"/items/{item_id}/waive", page, unit="jyj", reason="不需要")
    assert "该协办单位没有待提出的协办意见" in client.get(page).get_data(as_text=True)
    assert "cohandle" in ready(db, item_id)
    post(client, f"/items/{item_id}/waive", page, unit="wjw", reason="卫健委逾期未复，经电话确认无意见。")
    assert "cohandle" not in ready(db, item_id)
    with db.reading() as s:
        wjw = s.scalars(select(CoOpinion).where(CoOpinion.item_id == item_id, CoOpinion.waived)).one()
        assert wjw.unit.code == "wjw" and wjw.text.startswith("卫健委逾期未复")
        statuses = {a.unit.code: a.status for a in s.scalars(select(Assignment).where(Assignment.item_id == item_id))}
        assert statuses == {"zjj": "signed", "jyj": "done", "wjw": "waived"}
    html = client.get(page).get_data(as_text=True)
    assert "区府办免除协办意见" in html and "区府办已免除" in html  # the opinion and the unit's own deadline
    with db.reading() as s:
        from engine.models import Deadline
        co = {d.unit_id: d.status for d in s.scalars(select(Deadline).where(Deadline.item_id == item_id,
                                                                            Deadline.key == "co_opinion"))}
        units = {u.code: u.id for u in s.scalars(select(Assignment).where(Assignment.item_id == item_id))
                 for u in [u.unit]}
    assert co[units["wjw"]] == "waived" and co[units["jyj"]] == "met"
    assert any("免除" in t for t in notes(db, "wjw_staff", item_id))
    reply_approved(db, item_id, reply_class="A", promised="")  # the reply is no longer blocked
    with db.reading() as s:
        d = year_statistics(s, 2026).as_dict()
    wjw_row = next(u for u in d["units"] if u["code"] == "wjw")
    assert d["waived_opinions"] == 1 and wjw_row["co"]["waived"] == 1


# --- 催办 and checks by hand ----------------------------------------------------------------------------

def test_supervisor_urges_a_unit_and_records_a_check(client, demo_db):
    db = demo_db
    item_id = new_item(db, "关于背街小巷照明的建议")
    do(db, item_id, "office", "assign_item", assign_decision="assign", lead_unit="jtj", co_units=["zjj"])
    login(client, "supervisor")
    page = f"/items/{item_id}"
    assert "发送催办" in client.get(page).get_data(as_text=True)
    future = (clock.today() + timedelta(days=3)).isoformat()
    r = post(client, f"/items/{item_id}/urge", page, unit="jtj", channel="phone", urged_on=future, text="请尽快签收。")
    # Refused: the form opens again as typed, the reason beside the date.
    form = r.get_data(as_text=True).split('id="urge-form"')[1].split("</form>")[0]
    assert r.status_code == 400 and f"不能晚于今天（{clock.today().isoformat()}）" in form and "六个月" not in form
    assert f'value="{future}"' in form and "请尽快签收。" in form and '<option value="phone" selected' in form
    # Nor before the unit had the item, nor a check before the item was registered.
    before = (clock.today() - timedelta(days=1)).isoformat()
    r = post(client, f"/items/{item_id}/urge", page, unit="jtj", channel="phone", urged_on=before, text="请尽快签收。")
    assert f"不能早于交办日期（{clock.today().isoformat()}）" in r.get_data(as_text=True)
    r = post(client, f"/items/{item_id}/checks", page, kind="visit", held_on=before, note="现场查看。")
    form = r.get_data(as_text=True).split('id="check-form"')[1].split("</form>")[0]
    assert f"不能早于登记日期（{clock.today().isoformat()}）" in form and "现场查看。" in form
    r = post(client, f"/items/{item_id}/urge", page, unit="hbj", channel="phone", urged_on="", text="x")
    assert "所选项目不存在" in r.get_data(as_text=True)  # a unit without a part in the item
    post(client, f"/items/{item_id}/urge", page, unit="jtj", channel="phone", urged_on="", text="请尽快签收并办理。")
    post(client, f"/items/{item_id}/checks", page, kind="visit", held_on=clock.today().isoformat(), note="现场查看路灯安装进度。")
    post(client, f"/items/{item_id}/checks", page, kind="nonsense", held_on=clock.today().isoformat(), note="x")
    html = client.get(page).get_data(as_text=True)
    assert "请尽快签收并办理。" in html and "实地督查" in html and "现场查看路灯安装进度。" in html
    with db.reading() as s:
        urges = s.scalars(select(Urge).where(Urge.item_id == item_id)).all()
        assert [(u.unit.code, u.channel, u.source, u.urged_on) for u in urges] == [
            ("jtj", "phone", "supervisor", clock.today())]
        assert len(s.scalars(select(SupervisionCheck).where(SupervisionCheck.item_id == item_id)).all()) == 1
    assert any("催办" in t for t in notes(db, "jtj_staff", item_id))
    assert any("催办" in t for t in notes(db, "jtj_head", item_id))
    assert not notes(db, "zjj_staff", item_id) or not any("催办" in t for t in notes(db, "zjj_staff", item_id))
    # A unit cannot urge, and the figures count the urge against the unit.
    as_user(client, "zjj_staff")
    assert post(client, f"/items/{item_id}/urge", page, unit="jtj", channel="phone", text="x").status_code == 403
    with db.reading() as s:
        units = {u["code"]: u for u in year_statistics(s, 2026).as_dict()["units"]}
    assert units["jtj"]["urged"] >= 1


def test_extension_requests_wait_in_the_office_inbox_and_the_proposer_is_told(client, demo_db):
    db = demo_db
    item_id = new_item(db, "关于社区食堂的建议")
    handle_to_reply(db, item_id)
    login(client, "zjj_staff")
    with db.reading() as s:
        from engine.items.extensions import open_reply_deadline
        due = open_reply_deadline(s, s.get(Item, item_id)).due_date
    post(client, f"/supervision/items/{item_id}/extension", f"/items/{item_id}",
         new_date=(due + timedelta(days=20)).isoformat(), reason="需要协调用地。")
    as_user(client, "office")
    html = client.get("/tasks/").get_data(as_text=True)
    assert "审批延期申请" in html and f"/items/{item_id}#deadlines" in html
    with db.reading() as s:
        from engine.models import ExtensionRequest
        req = s.scalars(select(ExtensionRequest).where(ExtensionRequest.item_id == item_id)).one()
    post(client, f"/supervision/extensions/{req.id}", f"/items/{item_id}", decision="approve", opinion="同意")
    assert f"/items/{item_id}#deadlines" not in client.get("/tasks/").get_data(as_text=True)
    assert any("延至" in t for t in notes(db, "deputy_chen", item_id))


def test_proposer_is_told_of_assignment_reply_and_rehandling(demo_db):
    db = demo_db
    item_id = new_item(db, "关于公园开放时间的建议")
    handle_to_reply(db, item_id)
    reply_approved(db, item_id, reply_class="A", promised="")
    do(db, item_id, "deputy_chen", "rate", attitude="satisfied", result="unsatisfied", rating_reason="太慢。")
    do(db, item_id, "office", "order_rehandling", rehandle_decision="rehandle",
       rehandle_instructions="一个月内重办，内部口径：先稳住代表。")
    titles = notes(db, "deputy_chen", item_id)
    assert any(t.startswith("已交办") for t in titles)
    assert any(t.startswith("已答复") for t in titles)
    assert any(t.startswith("已责成重新办理") for t in titles)
    # The office's instructions to the unit are an internal deliberation: never in what the proposer reads.
    with db.reading() as s:
        told = s.scalars(select(Notification).where(Notification.user_id == user(s, "deputy_chen").id,
                                                    Notification.item_id == item_id)).all()
        assert not [n for n in told if "内部口径" in f"{n.body} {n.message}"]


# --- 跟踪落实 and the year-end carry-over ---------------------------------------------------------------

def test_b_reply_promises_are_tracked_reminded_reported_and_closed(client, demo_db):
    db = demo_db
    item_id = new_item(db, "关于菜市场改造的建议")
    handle_to_reply(db, item_id)
    reply_approved(db, item_id, reply_class="B", promised="年底前完成两处菜市场改造\n明年开通便民服务点",
                   promised_date="2027-03-31")
    with db.reading() as s:
        rows = s.scalars(select(Promise).where(Promise.item_id == item_id).order_by(Promise.id)).all()
        assert [(p.text, p.unit.code, p.due_date, p.status) for p in rows] == [
            ("年底前完成两处菜市场改造", "zjj", date(2027, 3, 31), "open"),
            ("明年开通便民服务点", "zjj", date(2027, 3, 31), "open")]
        first = rows[0].id
    # Reminders: 15 days before the promised date, then overdue (to the unit and the office), each once.
    with time_machine.travel(datetime(2027, 3, 15, 10, tzinfo=clock.LOCAL_TZ), tick=False):
        with db.transaction() as s:
            promises.remind(s)
    assert not any("到期" in t for t in notes(db, "zjj_staff", item_id))
    with time_machine.travel(datetime(2027, 3, 16, 10, tzinfo=clock.LOCAL_TZ), tick=False):
        with db.transaction() as s:
            promises.remind(s)
        with db.transaction() as s:
            promises.remind(s)
    assert sum("将于 2027-03-31 到期" in t for t in notes(db, "zjj_staff", item_id)) == 2
    with time_machine.travel(datetime(2027, 4, 1, 10, tzinfo=clock.LOCAL_TZ), tick=False):
        with db.transaction() as s:
            promises.remind(s)
    assert sum("逾期未落实" in t for t in notes(db, "office", item_id)) == 2

    # The unit reports progress, the office closes one with evidence; the board and the figures follow.
    login(client, "zjj_staff")
    page = f"/items/{item_id}"
    post(client, f"/items/promises/{first}/progress", page, text="一处已完工。")
    post(client, f"/items/promises/{first}/close", page, evidence="x")  # not the office's: refused
    as_user(client, "office")
    post(client, f"/items/promises/{first}/close", page, evidence="")
    assert "办结依据：此项为必填项" in client.get(page).get_data(as_text=True)
    post(client, f"/items/promises/{first}/close", page, evidence="验收报告（2026-12-20）")
    html = client.get(page).get_data(as_text=True)
    assert "一处已完工。" in html and "验收报告（2026-12-20）" in html and "已落实" in html
    board = client.get("/supervision/promises").get_data(as_text=True)
    assert "明年开通便民服务点" in board and "年底前完成两处菜市场改造" not in board
    assert "年底前完成两处菜市场改造" in client.get("/supervision/promises?show=all").get_data(as_text=True)
    as_user(client, "jtj_staff")
    assert client.get("/supervision/promises").status_code == 403
    # A district leader sees the promises of the key items they lead, and no other item's.
    as_user(client, "leader_li")
    for show in ("open", "overdue", "all"):
        assert "明年开通便民服务点" not in client.get(f"/supervision/promises?show={show}").get_data(as_text=True)
    with db.transaction() as s:
        s.get(Item, item_id).leader_id = user(s, "leader_li").id
    assert "明年开通便民服务点" in client.get("/supervision/promises?show=all").get_data(as_text=True)
    with db.reading() as s:
        done = s.get(Promise, first)
        assert (done.status, done.evidence) == ("done", "验收报告（2026-12-20）")


def test_year_end_carries_unfinished_items_and_open_promises_into_the_new_year(client, demo_db):
    db = demo_db
    unfinished = new_item(db, "关于老旧小区停车的建议")
    promised = new_item(db, "关于垃圾分类的建议")
    handle_to_reply(db, promised)
    reply_approved(db, promised, reply_class="C", promised="条件成熟时试点", promised_date="2026-12-31")
    with time_machine.travel(datetime(2026, 12, 28, 10, tzinfo=clock.LOCAL_TZ), tick=False):
        login(client, "office")
        assert "2026年度未办结事项和承诺事项结转" in client.get("/tasks/").get_data(as_text=True)
        page = "/supervision/year-end/2026"
        html = client.get(page).get_data(as_text=True)
        assert "关于老旧小区停车的建议" in html and "条件成熟时试点" in html
        r = post(client, page, page)
        assert r.status_code == 303
        assert "2026年度未办结事项和承诺事项结转" not in client.get("/tasks/").get_data(as_text=True)
        post(client, page, page)  # twice carries nothing twice
    with db.reading() as s:
        rows = s.scalars(select(CarryOver).where(CarryOver.year == 2027)).all()
        kinds = sorted((c.kind, c.item_id) for c in rows)
        assert ("item", unfinished) in kinds and ("promise", promised) in kinds
        assert len(kinds) == len(set(kinds))
        assert s.get(Item, unfinished).year == 2026  # keeps its year and number
        d2027 = year_statistics(s, 2027, as_of=date(2027, 1, 5)).as_dict()
    assert d2027["carried_over"]["items"] >= 1 and d2027["carried_over"]["promises"] >= 1
    as_user(client, "supervisor")
    assert client.get("/supervision/year-end/2026").status_code == 403


# --- a constructed year that uses every variant, its figures computed by hand -------------------------

def on(day: str):
    return time_machine.travel(datetime.combine(date.fromisoformat(day), datetime.min.time().replace(hour=10),
                                                clock.LOCAL_TZ), tick=False)


def test_a_constructed_year_with_merging_waivers_urges_promises_and_carry_over(client, demo_db):
    """2024, through the real BPMN at 2024 dates (every variant: merged, separate, waived, carried over):
    Y1 建议 (deputy_chen): lead zjj, co-units jyj (opinion) and wjw (waived); reply B on 05-10 with two
       promises due 10-31; one closed in September, the other still open at year end (overdue, carried over).
    Y2 建议 (deputy_liu): merged into Y1 before assignment; its proposer rates the reply (not counted).
    Y3 提案 (member_zhao): lead jtj, urged three times by hand, never replied: carried into 2025.
    Y4 提案 (member_sun): lead jtj, reply A on 04-20, 基本满意.
    Y5 提案 (member_sun), 分办: lead zjj replies A on 04-25 (满意); separate jtj replies A on 05-20 (rated 不满意,
       the office closes its part without re-handling);
       separate wjw replies on 06-20, after its own deadline (3 months from 03-01: 06-01 is a Saturday, so
       06-03), and is never rated (未表态 when its window passes). The item is replied on 06-20, late.
    """
    from click.testing import CliRunner
    from engine.cli import main
    from engine.items import carryover, merging, supervision

    db = demo_db
    with on("2024-02-20"):
        y1 = new_item(db, "关于城区积水点治理的建议", year="2024")
        y2 = new_item(db, "关于解决雨天道路积水的建议", proposer="deputy_liu", year="2024")
        y3 = new_item(db, "关于建设城市绿道的提案", proposer="member_zhao", item_type="proposal", year="2024")
        y4 = new_item(db, "关于增加公共自行车的提案", proposer="member_sun", item_type="proposal", year="2024")
        y5 = new_item(db, "关于背街小巷整治的提案", proposer="member_sun", item_type="proposal", year="2024")
    with on("2024-02-28"), db.transaction() as s:
        merging.merge_item(s, user(s, "office"), y2, s.get(Item, y1).number)
    with on("2024-03-01"):
        do(db, y1, "office", "assign_item", assign_decision="assign", lead_unit="zjj", co_units=["jyj", "wjw"])
        do(db, y3, "office", "assign_item", assign_decision="assign", lead_unit="jtj")
        do(db, y4, "office", "assign_item", assign_decision="assign", lead_unit="jtj")
        do(db, y5, "office", "assign_item", assign_decision="assign", lead_unit="zjj", separate_units=["jtj", "wjw"])
    with on("2024-03-04"):
        do(db, y1, "jyj_staff", "co_sign_for", co_sign_decision="sign")  # wjw stays silent, even on its sign-for
        for item_id, lead in ((y1, "zjj"), (y3, "jtj"), (y4, "jtj"), (y5, "zjj")):
            do(db, item_id, f"{lead}_staff", "sign_for", sign_decision="sign")
            do(db, item_id, f"{lead}_head", "pledge", **{**PLEDGE, "target_date": "2024-05-31"})
        for unit in ("jtj", "wjw"):  # each 分办 unit signs for its own part and pledges
            do(db, y5, f"{unit}_staff", "sep_sign_for", sep_sign_decision="sign")
            do(db, y5, f"{unit}_head", "sep_pledge", **{**PLEDGE, "target_date": "2024-05-31"})
    with on("2024-03-20"):
        for item_id, lead in ((y1, "zjj"), (y4, "jtj"), (y5, "zjj")):
            do(db, item_id, f"{lead}_staff", "consult", consult_date="2024-03-20", consult_form="meeting",
               participants="代表", proposer_views="同意。")
        do(db, y1, "jyj_staff", "cohandle", co_opinion="教育局配合。")
    with on("2024-04-10"), db.transaction() as s:
        from engine.items.cohandling import waive_opinion
        waive_opinion(s, user(s, "office"), s.get(Item, y1), "wjw", "逾期未复，电话确认无意见。")
    with on("2024-04-20"):
        reply_approved(db, y4, lead="jtj", reply_class="A", promised="", promised_date="")
        do(db, y4, "member_sun", "rate", attitude="basically_satisfied", result="satisfied")
        do(db, y4, "office", "publish", publish_scope="full", published_text="已增加。")
    with on("2024-04-25"):
        reply_approved(db, y5, reply_class="A", promised="", promised_date="")
        do(db, y5, "member_sun", "rate", attitude="satisfied", result="satisfied")
        assert "publish" not in ready(db, y5)  # the 分办 units have not all replied and been rated
    with on("2024-05-10"):
        reply_approved(db, y1, reply_class="B", promised="汛期前完成三处积水点改造\n年内完成排水管网普查",
                       promised_date="2024-10-31")
        do(db, y1, "deputy_chen", "rate", attitude="satisfied", result="satisfied")
        do(db, y1, "office", "publish", publish_scope="summary", published_text="正在治理。")
    with on("2024-05-12"), db.transaction() as s:
        merging.rate_merged(s, user(s, "deputy_liu"), y2, "unsatisfied", "unsatisfied", "进度慢")
    with on("2024-05-20"):
        from tests.test_separate import part_reply, do_part
        part_reply(db, y5, "jtj", reply_class="A", promised="", promised_date="")
        do_part(db, y5, "member_sun", "sep_rate", "jtj", attitude="unsatisfied", result="unsatisfied",
                rating_reason="只整治了一条小巷。")
        # the office studies it and closes that part without re-handling (不再重办): the rating stands
        do_part(db, y5, "office", "sep_order_rehandling", "jtj", rehandle_decision="close",
                rehandle_instructions="已尽力，予以办结。")
    with on("2024-06-20"):
        part_reply(db, y5, "wjw", reply_class="A", promised="", promised_date="")
    for day, who in (("2024-06-10", "supervisor"), ("2024-07-10", "supervisor"), ("2024-08-10", "office")):
        with on(day), db.transaction() as s:
            supervision.urge(s, user(s, who), s.get(Item, y3), "jtj", "system", "", "请抓紧答复。")
    with on("2024-08-20"):  # long after 15 working days from 06-20: 卫健委's reply stays unrated (未表态)
        from engine.workflow.sweep import sweep
        sweep(db)
        assert ready(db, y5) == ["publish"]  # every part is done: the item may be published and closed
        do(db, y5, "office", "publish", publish_scope="full", published_text="已整治。")
    with on("2024-09-15"), db.transaction() as s:
        first = s.scalars(select(Promise).where(Promise.item_id == y1).order_by(Promise.id)).first()
        promises.close_promise(s, user(s, "office"), first.id, "改造验收单")
    with on("2024-12-30"), db.transaction() as s:
        carried = carryover.carry_over(s, user(s, "office"), 2024)
        assert sorted(it.id for it in carried.items) == [y3] and len(carried.promises) == 1

    with on("2024-12-31"):
        result = CliRunner().invoke(main, ["stats", "--year", "2024", "--json"], env={"DATABASE_URL": db.url})
        assert result.exit_code == 0, result.output
        import json
        d = json.loads(result.output[result.output.index("{"):])
        login(client, "office")
        page = client.get("/reports/?year=2024").get_data(as_text=True)
    # By hand: Y2 is merged, so 4 items count (1 suggestion, 3 proposals), 1 is excluded.
    assert (d["items"], d["suggestions"], d["proposals"], d["excluded"], d["merged"]) == (4, 1, 3, 1, 1)
    # Replied: Y1, Y4 and Y5 of the 4 assigned; Y1 and Y4 before their deadline (3 months from 03-01: 06-03),
    # Y3 never, Y5 only on 06-20 when its last unit replied: the item counts once, late.
    assert d["reply_rate"] == {"numerator": 3, "denominator": 4, "rate": 0.75}
    assert (d["on_time_rate"]["numerator"], d["on_time_rate"]["denominator"]) == (2, 4)
    # Rated: Y1 满意, Y4 基本满意, Y5 (its lead unit's reply) 满意; the merged item's rating is its proposer's,
    # and the ratings of the 分办 units' replies are those units', not the item's.
    assert (d["satisfaction_final"]["numerator"], d["satisfaction_final"]["denominator"]) == (3, 3)
    assert d["consultation_rate"]["numerator"] == 3 and d["consultation_rate"]["denominator"] == 4
    # 分办: one item, two replies by its separate units (the lead unit's is the item's own).
    assert d["separate"] == {"items": 1, "unit_replies": 2}
    assert d["waived_opinions"] == 1
    # Promises of 2024: one done, one open and past its date; carried into 2025, not into 2024.
    assert d["promises"] == {"open": 1, "done": 1, "overdue": 1}
    assert d["carried_over"] == {"items": 0, "promises": 0} and d["carried_out"] == {"items": 1, "promises": 1}
    units = {u["code"]: u for u in d["units"]}
    assert units["jtj"]["urged"] == 3 and units["zjj"]["urged"] == 0
    # jtj: Y3, Y4 and its part of Y5; replied Y4 (on time) and its part on 05-20 (on time, 不满意); Y3 late.
    assert units["jtj"]["lead"]["items"] == 3 and units["jtj"]["separate"] == {"items": 1, "replied": 1}
    assert (units["jtj"]["lead"]["reply_rate"]["numerator"], units["jtj"]["lead"]["reply_rate"]["denominator"]) == (2, 3)
    assert (units["jtj"]["lead"]["on_time_rate"]["numerator"], units["jtj"]["lead"]["on_time_rate"]["denominator"]) == (2, 3)
    assert (units["jtj"]["lead"]["satisfaction_final"]["numerator"],
            units["jtj"]["lead"]["satisfaction_final"]["denominator"]) == (1, 2)
    # zjj: Y1 and Y5 by its own replies (05-10 and 04-25), both on time, both 满意, both consulted.
    assert units["zjj"]["lead"]["items"] == 2 and units["zjj"]["separate"] == {"items": 0, "replied": 0}
    assert units["zjj"]["lead"]["on_time_rate"]["numerator"] == 2 and units["zjj"]["lead"]["consultation_rate"]["rate"] == 1.0
    # wjw: its part of Y5, replied after its own deadline, not rated (未表态).
    wjw = units["wjw"]["lead"]
    assert (wjw["items"], wjw["reply_rate"]["numerator"], wjw["on_time_rate"]["numerator"], wjw["on_time_rate"]["denominator"],
            wjw["satisfaction_final"]["denominator"], wjw["satisfaction_final"]["no_opinion"]) == (1, 1, 0, 1, 0, 1)
    assert units["wjw"]["separate"] == {"items": 1, "replied": 1}
    # jyj answered on 03-20, within its own month from 03-01; wjw was waived on 04-10, after its 04-01.
    assert units["jyj"]["co"] == {"items": 1, "opinions_sent": 1, "waived": 0, "late": 0}
    assert units["wjw"]["co"] == {"items": 1, "opinions_sent": 0, "waived": 1, "late": 1}
    # The page shows the same.
    assert "并案（并入他件）" in page and "被催办" in page and "承诺事项（逾期）" in page
    assert re.search(r"分办事项</th><td>1<", page) and re.search(r"分办单位答复</th><td>2<", page)
    with db.reading() as s:
        d2025 = year_statistics(s, 2025, as_of=date(2025, 1, 10)).as_dict()
    assert d2025["carried_over"] == {"items": 1, "promises": 1}
    with on("2024-12-31"):
        from openpyxl import load_workbook
        import io
        wb = load_workbook(io.BytesIO(client.get("/reports/statistics-2024.xlsx").data))
        excel_rows = dict(wb["跟踪落实"].iter_rows(min_row=2, values_only=True))
        unit_sheet = {r[0]: r for r in wb["单位"].iter_rows(min_row=2, values_only=True)}
    assert excel_rows["并案（并入他件）"] == "1" and excel_rows["免除协办意见"] == "1"
    assert excel_rows["承诺事项（逾期）"] == "1"
    assert excel_rows["分办事项"] == "1" and excel_rows["分办单位答复"] == "2"
    assert unit_sheet["区交通运输局"][1:4] == (3, 1, 1)  # 主办件数（含分办）, 其中分办, 分办已答复
    assert unit_sheet["区交通运输局"][-1] == 3 and unit_sheet["区卫生健康委员会"][-3:-1] == (1, 1)  # 被催办; 免除, 逾期


# --- co-units sign for their part or ask to return it ---------------------------------------------------

def test_co_unit_signs_for_or_asks_to_return_its_part_and_the_office_decides(client, demo_db):
    db = demo_db
    item_id = new_item(db, "关于学校周边停车的建议")
    do(db, item_id, "office", "assign_item", assign_decision="assign", lead_unit="zjj", co_units=["jyj", "wjw"])
    page = f"/items/{item_id}"
    # At assignment, before the lead unit's pledge, each co-unit answers for its part.
    login(client, "jyj_staff")
    assert 'id="co-part"' in client.get(page).get_data(as_text=True)
    post(client, f"/items/{item_id}/co-part", page, action="sign")
    assert 'id="co-part"' not in client.get(page).get_data(as_text=True)
    as_user(client, "wjw_staff")
    post(client, f"/items/{item_id}/co-part", page, action="return", reason="")
    assert "退回理由：此项为必填项" in client.get(page).get_data(as_text=True)
    post(client, f"/items/{item_id}/co-part", page, action="return", reason="不属于卫健委职责。")
    as_user(client, "office")
    assert "审核协办单位退回申请" in client.get("/tasks/").get_data(as_text=True)
    with db.reading() as s:
        from engine.models import ReturnRequest
        req = s.scalars(select(ReturnRequest).where(ReturnRequest.item_id == item_id)).one()
    post(client, f"/items/co-returns/{req.id}", page, decision="approve", opinion="同意。")
    assert "审核协办单位退回申请" not in client.get("/tasks/").get_data(as_text=True)
    with db.reading() as s:
        parts = {a.unit.code: (a.status, a.ended_at is not None)
                 for a in s.scalars(select(Assignment).where(Assignment.item_id == item_id, Assignment.role == "co"))}
    assert parts == {"jyj": ("signed", False), "wjw": ("returned", True)}
    # The lead unit goes on; only the remaining co-unit's opinion is asked for.
    do(db, item_id, "zjj_staff", "sign_for", sign_decision="sign")
    # The lead unit's own return decision is not confused with the co-unit's request.
    do(db, item_id, "zjj_head", "pledge", **PLEDGE)
    assert sorted(ready(db, item_id)) == ["cohandle", "consult"]
    with db.reading() as s:
        row = s.scalars(select(TaskRow).where(TaskRow.item_id == item_id, TaskRow.spec_name == "cohandle")).one()
        assert row.unit_id == s.scalars(select(Assignment.unit_id).where(Assignment.item_id == item_id,
                                                                         Assignment.role == "co")).first()
    do(db, item_id, "jyj_staff", "cohandle", co_opinion="同意。")
    do(db, item_id, "zjj_staff", "consult", consult_date=clock.today().isoformat(), consult_form="phone", participants="代表",
       proposer_views="同意。")
    assert ready(db, item_id) == ["draft_reply"]
    assert any("已同意" in t for t in notes(db, "wjw_staff", item_id))


def test_co_unit_return_after_the_window_is_refused_and_an_approved_return_lets_the_reply_go_on(client, demo_db):
    db = demo_db
    item_id = new_item(db, "关于口袋公园建设的建议")
    handle_to_reply(db, item_id, co_units=["wjw"])
    assert ready(db, item_id) == ["co_sign_for"]  # the lead unit's reply waits for the co-unit's part
    with time_machine.travel(clock.now() + timedelta(days=30), tick=False):
        login(client, "wjw_staff")
        post(client, f"/items/{item_id}/co-part", f"/items/{item_id}", action="return", reason="不属于本委。")
        assert "申请退回的期限已于" in client.get(f"/items/{item_id}").get_data(as_text=True)
    assert ready(db, item_id) == ["co_sign_for"]
    # Within the window the request goes through; its approval ends the co-unit's part.
    with db.transaction() as s:
        from engine.items import cohandling
        req = cohandling.ask_return_part(s, user(s, "wjw_staff"), s.get(Item, item_id), "不属于本委。")
        req_id = req.id
    assert ready(db, item_id) == ["decide_co_return"]
    with db.transaction() as s:
        cohandling.decide_co_return(s, user(s, "office"), req_id, True, "同意")
    assert ready(db, item_id) == ["draft_reply"]
    with db.reading() as s:
        part = s.scalars(select(Assignment).where(Assignment.item_id == item_id, Assignment.role == "co")).one()
        assert (part.status, part.ended_at is not None) == ("returned", True)


def test_co_units_parts_open_at_assignment_with_their_own_deadlines_and_end_with_a_reassignment(client, demo_db):
    """Each co-unit's part is a branch of the process from assignment: its sign-for (within the lead unit's
    window) and its opinion (1 month from assignment) are its own deadlines, on the board under its name; a
    co-unit may answer before the lead unit's pledge; re-assigning the item withdraws the open parts."""
    from engine.deadlines import board
    from engine.models import Deadline, Unit
    db = demo_db
    item_id = new_item(db, "关于老旧小区加装电梯的建议")
    with time_machine.travel(datetime(2026, 3, 2, 10, tzinfo=clock.LOCAL_TZ), tick=False):
        do(db, item_id, "office", "assign_item", assign_decision="assign", lead_unit="zjj", co_units=["jyj", "wjw"])
    assert ready(db, item_id) == ["co_sign_for", "co_sign_for", "sign_for"]
    with db.reading() as s:
        units = dict(s.execute(select(Unit.code, Unit.id)).all())
        rows = {(d.key, d.unit_id): d for d in s.scalars(select(Deadline).where(Deadline.item_id == item_id))}
        assert {k for k in rows} == {("return_window", units[u]) for u in ("zjj", "jyj", "wjw")} | \
            {("co_opinion", units[u]) for u in ("jyj", "wjw")} | {("reply", units["zjj"])}  # the reply's, from assignment
        assert rows[("return_window", units["wjw"])].due_date == rows[("return_window", units["zjj"])].due_date \
            == date(2026, 3, 9)
        assert rows[("co_opinion", units["wjw"])].due_date == date(2026, 4, 2)  # 1 month from assignment
        mine = board.board(s, board.BoardFilter(unit_id=units["wjw"]))
        assert {r.deadline.key for r in mine} == {"return_window", "co_opinion"}
    # The co-unit answers before the lead unit has even signed for the item.
    with time_machine.travel(datetime(2026, 3, 4, 10, tzinfo=clock.LOCAL_TZ), tick=False):
        do(db, item_id, "jyj_staff", "co_sign_for", co_sign_decision="sign")
        do(db, item_id, "jyj_staff", "cohandle", co_opinion="教育局同意。")
    with db.reading() as s:
        status = {(d.key, d.unit_id): d.status for d in s.scalars(select(Deadline).where(Deadline.item_id == item_id))}
    assert status[("return_window", units["jyj"])] == status[("co_opinion", units["jyj"])] == "met"
    # The lead unit's return approved: the item is re-assigned; the silent co-unit's part is withdrawn, its
    # deadlines void (not met, not late), and the new assignment opens new parts.
    with time_machine.travel(datetime(2026, 3, 5, 10, tzinfo=clock.LOCAL_TZ), tick=False):
        do(db, item_id, "zjj_staff", "sign_for", sign_decision="return", return_reason="应由交通局办理。")
        do(db, item_id, "office", "decide_return", return_decision="approve", return_opinion="改由交通局办理。")
    assert ready(db, item_id) == ["assign_item"]
    with db.reading() as s:
        wjw = {d.key: d.status for d in s.scalars(select(Deadline).where(Deadline.item_id == item_id,
                                                                           Deadline.unit_id == units["wjw"]))}
    assert wjw == {"return_window": "void", "co_opinion": "void"}
    with time_machine.travel(datetime(2026, 3, 6, 10, tzinfo=clock.LOCAL_TZ), tick=False):
        do(db, item_id, "office", "assign_item", assign_decision="assign", lead_unit="jtj", co_units=["wjw"])
    assert ready(db, item_id) == ["co_sign_for", "sign_for"]
    with db.reading() as s:
        open_ = {(d.key, d.due_date) for d in s.scalars(select(Deadline).where(
            Deadline.item_id == item_id, Deadline.unit_id == units["wjw"], Deadline.status == "open"))}
    assert open_ == {("return_window", date(2026, 3, 13)), ("co_opinion", date(2026, 4, 7))}
    # The item page says whose each deadline is, and keeps the void ones apart from the live ones.
    with time_machine.travel(datetime(2026, 3, 6, 11, tzinfo=clock.LOCAL_TZ), tick=False):
        login(client, "office")
        html = client.get(f"/items/{item_id}").get_data(as_text=True)
    table = html.split('id="deadlines"')[1].split("</table>")[0]
    live = [re.sub(r"<[^>]+>|\s+", " ", row) for row in table.split("<tr")[2:]]
    assert live and all("已作废" not in row for row in live)
    assert any("区卫生健康委员会" in row and "2026-04-07" in row for row in live)
    assert any("区交通运输局" in row and "2026-03-13" in row for row in live)
    void = html.split('id="void-deadlines"')[1].split("</details>")[0]
    assert "已作废" in void and "区住房和城乡建设局" in void


def test_items_running_on_the_version_before_co_parts_migrate_or_are_refused_with_the_reason(demo_db):
    """The version before co-units' parts (their opinion task inside the lead unit's handling) stays deployed
    for the items running on it; moving them to the new version works for items not yet in handling, and an
    item whose co-unit's opinion already waits in handling is refused with the reason (its step moved)."""
    from pathlib import Path
    from engine.models import ProcessDefinition
    from engine.workflow.versions import deploy_checked, migrate_version
    db = demo_db
    old_xml = (Path(__file__).parent / "data" / "item_handling_before_co_parts.bpmn").read_bytes()
    new_xml = (Path(__file__).parent.parent / "processes" / "item_handling.bpmn").read_bytes()
    with db.transaction() as s:
        old, _ = deploy_checked(s, old_xml, "item_handling.bpmn", "admin")
        old_id = old.id
    waiting = new_item(db, "关于社区食堂的建议")  # registered, not yet assigned
    signing = new_item(db, "关于社区养老的建议")
    do(db, signing, "office", "assign_item", assign_decision="assign", lead_unit="zjj", co_units=["jyj"])
    handling = new_item(db, "关于社区医院的建议")
    do(db, handling, "office", "assign_item", assign_decision="assign", lead_unit="zjj", co_units=["jyj"])
    do(db, handling, "zjj_staff", "sign_for", sign_decision="sign")
    do(db, handling, "zjj_head", "pledge", **PLEDGE)
    assert "cohandle" in ready(db, handling)  # the old shape: the opinion opens after the pledge
    with db.transaction() as s:
        new, _ = deploy_checked(s, new_xml, "item_handling.bpmn", "admin")
        new_id, admin_id = new.id, user(s, "admin").id
    results = {r.item_id: r for r in migrate_version(db, old_id, new_id, admin_id, [waiting, signing, handling])}
    assert results[waiting].ok, results[waiting].message
    # Assigned under the old version: the co-unit's part would never open, so the item stays where it is.
    assert not results[signing].ok and "mark_assigned" in results[signing].message
    assert not results[handling].ok
    with db.reading() as s:
        on = {i: s.scalar(select(ProcessInstance.definition_id).where(ProcessInstance.item_id == i))
              for i in (waiting, signing, handling)}
    assert on == {waiting: new_id, signing: old_id, handling: old_id}
    # The migrated unassigned item runs the new procedure: the co-unit's part opens at assignment.
    do(db, waiting, "office", "assign_item", assign_decision="assign", lead_unit="zjj", co_units=["jyj"])
    assert ready(db, waiting) == ["co_sign_for", "sign_for"]
    do(db, waiting, "jyj_staff", "co_sign_for", co_sign_decision="sign")
    do(db, waiting, "jyj_staff", "cohandle", co_opinion="同意。")
    handle = [("zjj_staff", "sign_for", dict(sign_decision="sign")), ("zjj_head", "pledge", PLEDGE),
              ("zjj_staff", "consult", dict(consult_date=clock.today().isoformat(), consult_form="phone", participants="代表",
                                            proposer_views="同意。"))]
    for who, step, form in handle:
        do(db, waiting, who, step, **form)
    assert ready(db, waiting) == ["draft_reply"]
    # The refused items go on on their own version, as before.
    do(db, handling, "jyj_staff", "cohandle", co_opinion="同意。")
    do(db, handling, *handle[2][:2], **handle[2][2])
    assert ready(db, handling) == ["draft_reply"]
