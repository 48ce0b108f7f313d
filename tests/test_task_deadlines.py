"""The deadline a task shows (inbox, task page) is its own step's, owed by whoever acts on the task; never the
deadline of another party whose step happens to enclose it. And the item page's deadline table reads in order."""
from __future__ import annotations

import re
from datetime import date, datetime

import time_machine
from sqlalchemy import select

from engine import clock
from engine.models import Item, TaskRow, Unit
from tests.test_followup import PLEDGE, as_user, new_item
from tests.test_lifecycle import REPLY, do
from tests.test_separate import do_part

T0 = datetime(2026, 3, 2, 9, 0)  # a Monday: the return window ends 2026-03-09, the reply is due 2026-06-02


def task_due(db, item_id, spec_name, unit=None):
    with db.reading() as s:
        q = select(TaskRow).where(TaskRow.item_id == item_id, TaskRow.spec_name == spec_name)
        if unit:
            q = q.where(TaskRow.unit_id == s.scalar(select(Unit.id).where(Unit.code == unit)))
        row = s.scalars(q).one()
        return row.id, (clock.local(row.due_at).date() if row.due_at else None)


def test_office_tasks_of_a_separate_part_show_no_deadline_of_the_unit(client, demo_db):
    """审核分办单位退回申请 and 审核分办答复 are the office's: the part's reply deadline is the unit's, not theirs
    (the office's review of the lead unit's reply shows none either)."""
    db = demo_db
    with time_machine.travel(T0, tick=False):
        item_id = new_item(db, "关于社区食堂建设的建议")
        do(db, item_id, "office", "assign_item", assign_decision="assign", lead_unit="zjj", separate_units=["jtj"])
        assert task_due(db, item_id, "sep_sign_for", "jtj")[1] == date(2026, 3, 9)  # its own return window
        do(db, item_id, "jtj_staff", "sep_sign_for", sep_sign_decision="return", sep_return_reason="不属于本局职责。")
        task_id, due = task_due(db, item_id, "decide_sep_return", "jtj")
        assert due is None
        as_user(client, "office")
        with db.reading() as s:
            number = s.get(Item, item_id).number
        html = client.get("/tasks/").get_data(as_text=True)
        row = next(tr for tr in re.findall(r"<tr>(.*?)</tr>", html, re.S)
                   if number in tr and "审核分办单位退回申请" in tr)
        assert re.search(r'data-label="期限">(.*?)</td>', row, re.S).group(1).strip() == "—"
        page = client.get(f"/tasks/{task_id}").get_data(as_text=True)
        assert "本环节无期限" in page and "2026-06-02" not in page.split('class="step-state"')[1].split("</p>")[0]

        do_part(db, item_id, "office", "decide_sep_return", "jtj", sep_return_decision="refuse",
                sep_return_opinion="属于本局职责，请继续办理。")
        do(db, item_id, "jtj_head", "sep_pledge", **PLEDGE)
        do(db, item_id, "jtj_staff", "sep_draft_reply", **REPLY)
        assert task_due(db, item_id, "sep_signoff", "jtj")[1] == date(2026, 6, 2)  # the unit's own reply step
        do(db, item_id, "jtj_head", "sep_signoff", signoff_decision="approve")
        assert task_due(db, item_id, "sep_review", "jtj")[1] is None


def test_the_pledge_shows_no_deadline_for_the_lead_unit_nor_for_a_separate_unit(demo_db):
    """DOMAIN.md gives 签订责任状 no deadline of its own (the reply's runs from assignment and is the reply
    step's): the lead unit's pledge, outside 办理与答复, shows none, and a 分办 unit's, inside its part, neither."""
    db = demo_db
    with time_machine.travel(T0, tick=False):
        item_id = new_item(db, "关于口袋公园建设的建议")
        do(db, item_id, "office", "assign_item", assign_decision="assign", lead_unit="zjj", separate_units=["jtj"])
        do(db, item_id, "zjj_staff", "sign_for", sign_decision="sign")
        do(db, item_id, "jtj_staff", "sep_sign_for", sep_sign_decision="sign")
        assert task_due(db, item_id, "pledge")[1] is None
        assert task_due(db, item_id, "sep_pledge", "jtj")[1] is None
        do(db, item_id, "jtj_head", "sep_pledge", **PLEDGE)
        assert task_due(db, item_id, "sep_draft_reply", "jtj")[1] == date(2026, 6, 2)


def deadline_table(client, item_id):
    """The live rows of the item page's deadline table, as (step, unit, date) read off the page."""
    table = client.get(f"/items/{item_id}").get_data(as_text=True).split('id="deadlines"')[1].split("</table>")[0]
    rows = []
    for tr in re.findall(r"<tr>(.*?)</tr>", table, re.S)[1:]:
        cells = [re.sub(r"<[^>]+>|\s+", " ", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", tr, re.S)]
        rows.append((cells[0], cells[1], cells[2][:10]))
    return rows


def test_the_deadline_table_reads_by_round_then_date_then_unit(client, demo_db):
    """Rows arose in the order their timers started (the first contact after the reply, a 分办 unit's part
    between the lead unit's rows): the table lists them by round, due date, then unit (the lead unit first, the
    others as the 分办 parts are listed), void rows still apart."""
    db = demo_db
    with time_machine.travel(T0, tick=False):
        item_id = new_item(db, "关于街区微更新的建议")
        do(db, item_id, "office", "assign_item", assign_decision="assign", lead_unit="zjj",
           separate_units=["wjw", "jtj"])
        do(db, item_id, "zjj_staff", "sign_for", sign_decision="sign")
        do(db, item_id, "zjj_head", "pledge", **PLEDGE)
        do(db, item_id, "wjw_staff", "sep_sign_for", sep_sign_decision="return", sep_return_reason="不属于本委职责。")
        do_part(db, item_id, "office", "decide_sep_return", "wjw", sep_return_decision="approve",
                sep_return_opinion="同意。")
        as_user(client, "office")
        rows = deadline_table(client, item_id)
        page = client.get(f"/items/{item_id}").get_data(as_text=True)
    with db.reading() as s:
        names = dict(s.execute(select(Unit.code, Unit.name)).all())
        ids = dict(s.execute(select(Unit.code, Unit.id)).all())
    # 卫健委 asked in time (its return window met) and gave its part back (its reply deadline void).
    assert rows == [("签收/申请退回", names["zjj"], "2026-03-09"),
                    *[("签收/申请退回", names[c], "2026-03-09") for c in sorted(["wjw", "jtj"], key=ids.get)],
                    ("首次联系代表委员", names["zjj"], "2026-03-30"),
                    ("答复", names["zjj"], "2026-06-02"),
                    ("分办答复", names["jtj"], "2026-06-02")], rows
    assert names["wjw"] in page.split('id="void-deadlines"')[1].split("</details>")[0]
