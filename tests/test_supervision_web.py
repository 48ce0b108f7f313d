"""Supervisors' board, the bell, deadlines and extensions on the item page, the calendar admin pages."""
from __future__ import annotations

import io
import re
from datetime import datetime, timedelta

import time_machine
from markupsafe import escape
from sqlalchemy import select

from engine import clock
from engine.models import CalendarDay, Deadline, DeadlineRule, ExtensionRequest, Item, Unit
from engine.workflow.sweep import sweep
from tests.conftest import csrf_token, form_html, login
from tests.test_timers import assign, at, do, register, to_reply


def item_by_title(db, fragment):
    with db.reading() as s:
        return s.scalars(select(Item).where(Item.title.contains(fragment), Item.year == 2026)).one()


def later(days):
    return time_machine.travel(clock.now() + timedelta(days=days), tick=False)


def test_board_shows_overdue_items_by_unit_and_step_key_items_first(client, demo_db):
    with later(40):
        sweep(demo_db)
        login(client, "supervisor")
        html = client.get("/supervision/?show=overdue").get_data(as_text=True)
        assert "课后服务" in html and "超期" in html  # sign-for of the education bureau is late
        assert "区教育局" in html and "签收/申请退回" in html
        rows = re.findall(r'<td data-label="编号">([^<]+)', html)
        keys = re.findall(r'<td data-label="编号">[^<]+<span class="tag key">', html)
        assert rows and keys and html.index(keys[0]) < html.index("课后服务")  # key items first
        filtered = client.get("/supervision/?show=overdue&deadline=reply").get_data(as_text=True)
        assert "课后服务" not in filtered
        assert "催办记录" in html


def test_board_is_for_supervisors_and_office(client):
    login(client, "jtj_staff")
    assert client.get("/supervision/").status_code == 403


def test_bell_counts_unread_and_marks_read(client, demo_db):
    login(client, "jyj_staff")  # the education bureau got the assignment of a demo item
    html = client.get("/tasks/").get_data(as_text=True)
    count = int(re.search(r'class="badge">(\d+)<', html).group(1))
    assert count >= 1
    page = client.get("/notifications/").get_data(as_text=True)
    assert "新任务" in page and "签收" in page
    token = csrf_token(client, "/notifications/")
    client.post("/notifications/read", data={"csrf_token": token})
    assert 'class="badge"' not in client.get("/tasks/").get_data(as_text=True)


def test_item_page_lists_deadlines_and_extension_round_trip(client, demo_db):
    item = item_by_title(demo_db, "加装电梯")  # in handling at the housing bureau: the reply deadline is open
    login(client, "zjj_staff")
    html = client.get(f"/items/{item.id}").get_data(as_text=True)
    assert "办理期限" in html and "答复" in html and "申请延期" in html
    with demo_db.reading() as s:
        reply = s.scalars(select(Deadline).where(Deadline.item_id == item.id, Deadline.key == "reply")).one()
    token = csrf_token(client, f"/items/{item.id}")
    r = client.post(f"/supervision/items/{item.id}/extension", data={"csrf_token": token, "new_date": "2020-01-01",
                                                                     "reason": "需协调规划审批，另附说明。"})
    # Refused with the reason beside its field, and what was typed is still there to correct.
    html = r.get_data(as_text=True)
    assert r.status_code == 400 and "须晚于当前期限" in html
    form = html.split('id="extension-form"')[1].split("</details>")[0]
    assert 'value="2020-01-01"' in form and "需协调规划审批，另附说明。" in form and 'role="alert"' in form
    assert re.search(r'<details[^>]*\bopen\b[^>]*>\s*<summary>申请延期', html)
    new_date = (reply.due_date + timedelta(days=30)).isoformat()
    client.post(f"/supervision/items/{item.id}/extension", data={"csrf_token": token, "new_date": new_date,
                                                                 "reason": "需协调规划审批。"})
    with demo_db.reading() as s:
        req = s.scalars(select(ExtensionRequest).where(ExtensionRequest.item_id == item.id)).one()
    client.post("/logout", data={"csrf_token": token})
    login(client, "office")
    html = client.get(f"/items/{item.id}").get_data(as_text=True)
    assert "待审批" in html and "同意延期" in html
    token = csrf_token(client, f"/items/{item.id}")
    client.post(f"/supervision/extensions/{req.id}", data={"csrf_token": token, "decision": "approve",
                                                           "opinion": "同意"})
    html = client.get(f"/items/{item.id}").get_data(as_text=True)
    assert new_date in html and f"原期限 {reply.due_date}" in html


def test_other_units_cannot_ask_for_an_extension(client, demo_db):
    item = item_by_title(demo_db, "加装电梯")
    login(client, "jtj_staff")  # a co-unit, not the lead unit
    token = csrf_token(client, "/tasks/")
    assert client.post(f"/supervision/items/{item.id}/extension",
                       data={"csrf_token": token, "new_date": "2027-05-01", "reason": "x"}).status_code == 403


def test_calendar_admin_year_view_day_edit_import_and_rules(client, demo_db):
    login(client, "admin")
    html = client.get("/admin/calendar/?year=2026").get_data(as_text=True)
    assert "国庆节" in html and "尚未载入" not in html
    assert "尚未载入" in client.get("/admin/calendar/?year=2027").get_data(as_text=True)
    token = csrf_token(client, "/admin/calendar/?year=2027")
    r = client.post("/admin/calendar/import", data={"csrf_token": token, "year": "2027",
                                                    "text": "2027-01-01,holiday,元旦\n2027-13-01,holiday,x"})
    assert r.status_code == 400 and "第 2 行（2027-13-01" in r.get_data(as_text=True)  # the bad line
    with demo_db.reading() as s:
        assert s.get(CalendarDay, datetime(2027, 1, 1).date()) is None  # nothing half-imported
    client.post("/admin/calendar/import", data={"csrf_token": token, "year": "2027",
                                                "text": "2027-01-01,holiday,元旦\n2027-02-07,workday,春节调休"})
    assert "尚未载入" not in client.get("/admin/calendar/?year=2027").get_data(as_text=True)
    client.post("/admin/calendar/day", data={"csrf_token": token, "day": "2027-05-06", "kind": "holiday",
                                             "name": "调整"})
    with demo_db.reading() as s:
        assert s.get(CalendarDay, datetime(2027, 5, 6).date()).is_working is False
    r = client.post("/admin/calendar/rules", data={"csrf_token": token, "year": "2027", "reply": "banana"})
    assert "无效" in client.get(r.headers["Location"].split("#")[0]).get_data(as_text=True)
    client.post("/admin/calendar/rules", data={"csrf_token": token, "year": "2027", "reply": "2M",
                                               "reply_fixed_date": "2027-06-30"})
    with demo_db.reading() as s:
        assert dict(s.execute(select(DeadlineRule.key, DeadlineRule.rule).where(DeadlineRule.year == 2027)).all()) \
            == {"reply": "2M", "reply_fixed_date": "2027-06-30"}


def test_a_refused_calendar_import_keeps_what_was_pasted_or_uploaded(client, demo_db):
    """One bad line in a year of holidays sent the admin back to an empty box: the whole year had to be pasted
    again. The page now shows the error beside the form with the text as sent; an uploaded file's text is put
    in the box, so the bad line can be mended there."""
    login(client, "admin")
    token = csrf_token(client, "/admin/calendar/?year=2027")
    pasted = "2027-01-01,holiday,元旦\n2027-13-01,holiday,x"
    r = client.post("/admin/calendar/import", data={"csrf_token": token, "year": "2027", "text": pasted})
    form = form_html(r.get_data(as_text=True), "import-form")
    assert r.status_code == 400 and "第 2 行（2027-13-01" in form and 'role="alert"' in form
    assert escape(pasted) in form and "已放入上面的文本框" not in form
    r = client.post("/admin/calendar/import", data={"csrf_token": token, "year": "2027",
                                                    "file": (io.BytesIO(pasted.encode("utf-8-sig")), "2027.csv")},
                    content_type="multipart/form-data")
    form = form_html(r.get_data(as_text=True), "import-form")
    assert r.status_code == 400 and escape(pasted) in form and "已放入上面的文本框" in form
    with demo_db.reading() as s:
        assert s.get(CalendarDay, datetime(2027, 1, 1).date()) is None  # nothing half-imported


def test_calendar_admin_is_for_admins(client):
    login(client, "office")
    assert client.get("/admin/calendar/").status_code == 403


def test_engine_errors_are_flashed_in_the_readers_language(client):
    """An engine error (a catalog message with parameters) reads in English in the English UI, with no
    Chinese left in it, and in Chinese in the Chinese UI."""
    login(client, "admin")
    client.get("/lang/en")
    token = csrf_token(client, "/admin/calendar/?year=2027")
    r = client.post("/admin/calendar/import", data={"csrf_token": token, "year": "2027",
                                                    "text": "2027-01-01,holiday,元旦\n2027-13-01,holiday,x"})
    page = r.get_data(as_text=True)
    assert "line 2 (2027-13-01,holiday,x): 2027-13-01 is not a date YYYY-MM-DD" in page and "不是" not in page
    r = client.post("/admin/calendar/rules", data={"csrf_token": token, "year": "2027", "reply": "banana"})
    page = client.get(r.headers["Location"].split("#")[0]).get_data(as_text=True)
    assert "invalid rule BANANA" in page and "无效" not in page
    client.get("/lang/zh")
    r = client.post("/admin/calendar/rules", data={"csrf_token": token, "year": "2027", "reply": "banana"})
    assert "规则“BANANA”无效" in client.get(r.headers["Location"].split("#")[0]).get_data(as_text=True)


def test_a_form_error_flashed_on_its_own_names_its_field_in_the_readers_language(client, demo_db):
    """Commands outside a task form flash "label：message"; the label is catalog text, so the English UI
    shows no Chinese field name."""
    from sqlalchemy import select

    from engine.models import Item

    with demo_db.reading() as s:
        item_id = s.scalars(select(Item.id).where(Item.status == "assigning")).first()
    login(client, "office")
    client.get("/lang/en")
    token = csrf_token(client, f"/items/{item_id}")
    r = client.post(f"/items/{item_id}/merge", data={"csrf_token": token, "into": "XX-0000"})
    page = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "Merge into: Enter the number of another open item of the same year" in page and "并入" not in page
    client.get("/lang/zh")
    r = client.post(f"/items/{item_id}/merge", data={"csrf_token": token, "into": "XX-0000"})
    assert "并入：请填写同一年度、尚未办结的另一事项编号" in client.get(r.headers["Location"]).get_data(as_text=True)


def test_board_reminder_history_reads_in_the_readers_language(client, demo_db):
    """The board's 催办记录 column showed each reminder's and flag's stored title (the timer's BPMN name, in
    Chinese) to English readers too; the item page translated the same entries."""
    with later(40):
        sweep(demo_db)
        login(client, "supervisor")
        client.get("/lang/en")
        html = client.get("/supervision/?show=overdue").get_data(as_text=True)
        cells = re.findall(r'<td data-label="[^"]*">((?:<div class="muted small">[^<]*</div>)+)</td>', html)
        assert cells, "no reminder history on the board"
        shown = re.findall(r'<div class="muted small">([^<]*)</div>', "".join(cells))
        assert [t for t in shown if re.search(r"[\u4e00-\u9fff]", t)] == []
        client.get("/lang/zh")
        html = client.get("/supervision/?show=overdue").get_data(as_text=True)
        assert re.search(r'<div class="muted small">[^<]*[\u4e00-\u9fff][^<]*</div>', html)


def _inbox_state(html: str, fragment: str, table: str = "") -> str | None:
    """The deadline state tagged on the inbox row of the item whose title holds `fragment` (None: no tag);
    `table`: the id of the table to look in (the office's approvals)."""
    if table:
        html = html[html.index(f'id="{table}"'):]
        html = html[:html.index("</table>")]
    row = next(r for r in re.findall(r"<tr>.*?</tr>", html, re.S) if fragment in r)
    found = re.search(r'<span class="status s-(\w+)">', row)
    return found.group(1) if found else None


def _task_page_state(client, html: str, fragment: str) -> str:
    row = next(r for r in re.findall(r"<tr>.*?</tr>", html, re.S) if fragment in r)
    page = client.get(re.search(r'href="(/tasks/[^"]+)"', row).group(1)).get_data(as_text=True)
    return re.search(r'<span class="dl-(\w+)">', page).group(1)


def test_the_inbox_tags_a_late_or_near_deadline_as_the_task_page_and_the_ledger_say(client, demo_db):
    item = item_by_title(demo_db, "课后服务")  # waits for the education bureau's sign-for
    with demo_db.reading() as s:
        sign_for = s.scalars(select(Deadline).where(Deadline.item_id == item.id, Deadline.key == "return_window")).one()
    days_left = (sign_for.due_date - clock.today()).days

    def inbox() -> str:
        login(client, "jyj_staff")  # signed in at the travelled time (a session from the future is refused)
        return client.get("/tasks/").get_data(as_text=True)

    with later(days_left - 8):  # more than a week ahead: on time, nothing to flag
        html = inbox()
        assert _inbox_state(html, "课后服务") is None and _task_page_state(client, html, "课后服务") == "on_time"
    with later(days_left - 3):  # due in three days
        html = inbox()
        assert _inbox_state(html, "课后服务") == "due_soon" == _task_page_state(client, html, "课后服务")
        assert "即将到期" in html
    with later(days_left + 2):  # two days late: the sweep flags it
        sweep(demo_db)
        html = inbox()
        assert _inbox_state(html, "课后服务") == "overdue" == _task_page_state(client, html, "课后服务")
        assert "已超期" in html


def test_the_office_sees_a_request_whose_date_passed_undecided_can_only_be_refused(client, demo_db):
    with time_machine.travel(at("2026-03-02"), tick=False):
        item_id = register(demo_db)
        assign(demo_db, item_id)
        to_reply(demo_db, item_id)  # the traffic bureau drafts its reply: due 2026-06-02
    with time_machine.travel(at("2026-05-28"), tick=False):
        login(client, "jtj_staff")
        client.post(f"/supervision/items/{item_id}/extension",
                    data={"csrf_token": csrf_token(client, f"/items/{item_id}"), "new_date": "2026-08-31",
                          "reason": "需协调规划审批。"})
        login(client, "office")
        page = client.get(f"/items/{item_id}").get_data(as_text=True)
        assert "同意延期" in page and "只能不同意" not in page
        inbox = client.get("/tasks/").get_data(as_text=True)
        assert _inbox_state(inbox, "公园绿地", "office-tasks") == "due_soon"  # the office's decision is due with the deadline
        assert inbox.index('id="office-tasks"') < inbox.index('<h2 id="item-tasks">建议提案待办')  # headed apart on a phone
    with demo_db.reading() as s:
        req = s.scalars(select(ExtensionRequest).where(ExtensionRequest.item_id == item_id)).one()
    with time_machine.travel(at("2026-06-04"), tick=False):
        sweep(demo_db)
        login(client, "office")
        inbox = client.get("/tasks/").get_data(as_text=True)
        assert _inbox_state(inbox, "公园绿地", "office-tasks") == "overdue"
        page = client.get(f"/items/{item_id}").get_data(as_text=True)
        assert "期限 2026-06-02 已过，延期申请不能再同意，只能不同意。" in page and 'value="approve"' not in page
        r = client.post(f"/supervision/extensions/{req.id}", headers={"Referer": f"/items/{item_id}"},
                        data={"csrf_token": csrf_token(client, f"/items/{item_id}"), "decision": "approve"},
                        follow_redirects=True)  # a form kept open from before the date
        assert "答复期限 2026-06-02 已过，延期申请不能再同意，只能不同意" in r.get_data(as_text=True)
        with demo_db.reading() as s:
            assert s.get(ExtensionRequest, req.id).status == "pending"
            assert s.get(Deadline, req.deadline_id).due_date.isoformat() == "2026-06-02"


def test_the_year_end_carry_over_is_tagged_by_its_last_day(client, demo_db):
    login(client, "office")
    html = client.get("/tasks/").get_data(as_text=True)
    html = html[html.index('id="office-tasks"'):]
    rows = re.findall(r"<tr>.*?</tr>", html[:html.index("</table>")], re.S)
    year_end = [r for r in rows if "年终结转" in r]
    assert year_end  # the demo leaves last year's items unfinished
    today = clock.today()
    for row in year_end:
        last_day = datetime.strptime(re.search(r"(\d{4}-12-31)", row).group(1), "%Y-%m-%d").date()
        want = "overdue" if last_day < today else "due_soon" if (last_day - today).days <= 7 else None
        found = re.search(r'<span class="status s-(\w+)">', row)
        assert (found.group(1) if found else None) == want, row


def test_a_co_units_task_shows_its_own_deadline_not_its_partners_of_the_same_date(client, demo_db):
    """Two co-units owe their opinions on the same date, each in its own row: the one that answered has met
    its row; the silent one's task is late, on its inbox row as on its task page."""
    from tests.test_deadline_ledger import with_two_co_units
    item_id = with_two_co_units(demo_db)
    with demo_db.reading() as s:
        rows = s.scalars(select(Deadline).where(Deadline.item_id == item_id, Deadline.key == "co_opinion")
                         .order_by(Deadline.id)).all()
        assert len({r.due_date for r in rows}) == 1
        codes = {u.id: u.code for u in s.scalars(select(Unit))}
        silent, answering = codes[rows[0].unit_id], codes[rows[1].unit_id]  # the later row answers
    with time_machine.travel(at("2026-03-20"), tick=False):
        do(demo_db, item_id, f"{answering}_staff", "cohandle", co_opinion="同意主办意见。")
    with time_machine.travel(datetime.combine(rows[0].due_date + timedelta(days=2), datetime.min.time())
                             .replace(hour=10, tzinfo=clock.LOCAL_TZ), tick=False):
        sweep(demo_db)
        login(client, f"{silent}_staff")
        html = client.get("/tasks/").get_data(as_text=True)
        assert _inbox_state(html, "公园绿地") == "overdue" == _task_page_state(client, html, "公园绿地")


def test_the_office_sees_a_request_whose_deadline_was_met_meanwhile_can_only_be_refused(client, demo_db):
    from tests.test_timers import reply
    with time_machine.travel(at("2026-03-02"), tick=False):
        item_id = register(demo_db)
        assign(demo_db, item_id)
        to_reply(demo_db, item_id)
        login(client, "jtj_staff")
        client.post(f"/supervision/items/{item_id}/extension",
                    data={"csrf_token": csrf_token(client, f"/items/{item_id}"), "new_date": "2026-08-31",
                          "reason": "需协调。"})
        reply(demo_db, item_id)  # the reply goes out while the request waits
        login(client, "office")
        page = client.get(f"/items/{item_id}").get_data(as_text=True)
        assert "该期限已结束（按期完成），延期申请只能不同意。" in page and 'value="approve"' not in page
        assert 'value="refuse"' in page
