"""Demo data: units, a user for every role, and items standing at different steps of the procedure.

Items are moved along by completing real tasks through the engine, exactly as users would.
"""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from engine.people.accounts import create_user
from engine.demo.history import load_history
from engine.demo.logins import DEMO_PASSWORD
from engine import clock
from engine.models import Item, Notification, TaskRow, Unit, User
from engine.items.registration import register_item
from engine.workflow.runtime import complete_task


UNITS = [("jtj", "区交通运输局"), ("jyj", "区教育局"), ("zjj", "区住房和城乡建设局"), ("wjw", "区卫生健康委员会"),
         ("hbj", "市生态环境局本区分局")]

# (username, name, role, unit code, proposer kind)
USERS = [
    ("office", "张敏（区府办）", "office", None, None),
    ("supervisor", "赵督查", "supervisor", None, None),
    ("admin", "流程管理员", "admin", None, None),
    ("jtj_staff", "李交通（经办人）", "unit_handler", "jtj", None),
    ("jtj_head", "周局长（交通）", "unit_head", "jtj", None),
    ("jyj_staff", "王教育（经办人）", "unit_handler", "jyj", None),
    ("jyj_head", "吴局长（教育）", "unit_head", "jyj", None),
    ("zjj_staff", "郑住建（经办人）", "unit_handler", "zjj", None),
    ("zjj_head", "冯局长（住建）", "unit_head", "zjj", None),
    ("wjw_staff", "陈卫健（经办人）", "unit_handler", "wjw", None),
    ("wjw_head", "褚主任（卫健）", "unit_head", "wjw", None),
    ("hbj_staff", "卫环保（经办人）", "unit_handler", "hbj", None),
    ("hbj_head", "蒋局长（环保）", "unit_head", "hbj", None),
    ("leader_wang", "王副区长", "leader", None, None),
    ("leader_li", "李副区长", "leader", None, None),
    ("deputy_chen", "陈代表", "proposer", None, "deputy"),
    ("deputy_liu", "刘代表", "proposer", None, "deputy"),
    ("member_zhao", "赵委员", "proposer", None, "member"),
    ("member_sun", "孙委员", "proposer", None, "member"),
]

ITEMS = [
    ("suggestion", "deputy_chen", "关于优化老城区公交线路的建议", "老城区公交线路重复、换乘不便，建议重新规划线路并增设社区微循环公交。", "交通"),
    ("proposal", "member_zhao", "关于加强中小学课后服务的提案", "建议统筹校内外资源，丰富课后服务内容，减轻家长接送负担。", "教育"),
    ("suggestion", "deputy_liu", "关于老旧小区加装电梯的建议", "老旧小区老年人多，上下楼困难，建议简化审批并给予资金补助。", "城建"),
    ("proposal", "member_sun", "关于完善社区医疗服务的提案", "建议加强社区卫生服务中心建设，推广家庭医生签约服务。", "卫生"),
    ("suggestion", "deputy_chen", "关于治理河道黑臭水体的建议", "部分河道存在黑臭现象，建议开展截污纳管和生态修复。", "环保"),
    ("proposal", "member_zhao", "关于增设学校周边停车泊位的提案", "学校周边上下学高峰拥堵，建议增设临时停车泊位。", "交通"),
    ("suggestion", "deputy_liu", "关于推进垃圾分类的建议", "建议完善分类设施，加强宣传引导，建立激励机制。", "环保"),
]


def _user(session: Session, username: str) -> User:
    return session.scalars(select(User).where(User.username == username)).one()


def _do(session: Session, item: Item, username: str, **form) -> None:
    """Complete the item's ready task that `username` may act on."""
    user = _user(session, username)
    from engine.items.queries import visible_tasks_clause

    row = session.scalars(select(TaskRow).where(TaskRow.item_id == item.id, visible_tasks_clause(user))).first()
    if row is None:
        raise RuntimeError(f"demo: no task for {username} on item {item.number}")
    complete_task(session, row.id, user, {k: ("true" if v is True else v) for k, v in form.items()})


def _days_from_today(days: int) -> str:
    """Plans and promises lie ahead of the day the demo is loaded (a past one is refused)."""
    return (clock.today() + timedelta(days=days)).isoformat()


def _assign(s, item, lead, co=(), key=False, leader=""):
    _do(s, item, "office", assign_decision="assign", lead_unit=lead, co_units=list(co), is_key=key, leader=leader)


def _reply(s, item, unit, cls="A"):
    _do(s, item, f"{unit}_staff", reply_class=cls, reply_text="经研究，我单位已将该事项列入年度重点工作并组织实施。",
        adopted="建议的主要内容已采纳。", promised="年底前完成。" if cls != "A" else "", disclosure="full",
        promised_date=f"{clock.today().year}-12-31" if cls != "A" else "")  # a promise names its date
    _do(s, item, f"{unit}_head", signoff_decision="approve")
    _do(s, item, "office", review_decision="approve")


def _handle(s, item, unit):
    _do(s, item, f"{unit}_staff", sign_decision="sign")
    _do(s, item, f"{unit}_head", responsible_leader="分管副局长", contact_person="联系人", contact_phone="0571-8888",
        plan="成立专班，制定方案，分步实施。", target_date=_days_from_today(60))
    _do(s, item, f"{unit}_staff", consult_date=clock.today().isoformat(), consult_form="meeting", participants="代表、经办人",
        proposer_views="认可办理方向，希望加快进度。", more_consultation=False)


def load_demo(session: Session) -> bool:
    """Create the demo organisation and items. Returns False when demo data is already there."""
    if session.scalar(select(User.id).where(User.username == "office")):
        return False
    for code, name in UNITS:
        session.add(Unit(code=code, name=name))
    session.flush()
    for username, name, role, unit, kind in USERS:
        create_user(session, username, name, role, DEMO_PASSWORD, unit_code=unit, proposer_kind=kind)
    office = _user(session, "office")
    items = [register_item(session, {"item_type": t, "proposer": p, "title": title, "content": content,
                                     "category": cat, "year": "2026", "session": "区十八届人大五次会议"
                                     if t == "suggestion" else "区政协十五届五次会议"}, office)
             for t, p, title, content, cat in ITEMS]
    # 0 waits for assignment. 1: assigned, waits for sign-for.
    _assign(session, items[1], "jyj")
    # 2: key item with a co-unit, in handling.
    _assign(session, items[2], "zjj", co=["jtj"], key=True, leader="leader_wang")
    _do(session, items[2], "zjj_staff", sign_decision="sign")
    _do(session, items[2], "zjj_head", responsible_leader="分管副局长", contact_person="郑住建",
        contact_phone="0571-6666", plan="摸排需求，试点先行。", target_date=_days_from_today(75))
    # 3: reply waits for the office's review.
    _assign(session, items[3], "wjw")
    _handle(session, items[3], "wjw")
    _do(session, items[3], "wjw_staff", reply_class="B", reply_text="正在推进社区卫生服务中心标准化建设。",
        promised="年内新增两个服务站。", promised_date=_days_from_today(30), disclosure="summary",
        disclosure_summary="社区卫生服务中心标准化建设正在推进。")
    _do(session, items[3], "wjw_head", signoff_decision="approve")
    # 4: replied, waits for the proposer's rating.
    _assign(session, items[4], "hbj")
    _handle(session, items[4], "hbj")
    _reply(session, items[4], "hbj")
    # 5: closed.
    _assign(session, items[5], "jtj")
    _handle(session, items[5], "jtj")
    _reply(session, items[5], "jtj")
    _do(session, items[5], "member_zhao", attitude="satisfied", result="satisfied")
    _do(session, items[5], "office", publish_scope="full", published_text="已增设学校周边临时停车泊位120个。")
    # 6: the unit asked to return it; the office decides.
    _assign(session, items[6], "jtj")
    _do(session, items[6], "jtj_staff", sign_decision="return", return_reason="垃圾分类不属于我局职责，建议由城管部门办理。")
    load_history(session)  # the finished year 2025, so the statistics show real figures on first start
    # Last year's messages were read long ago; only this year's should ring the bell.
    session.execute(update(Notification).where(Notification.item_id.in_(select(Item.id).where(Item.year < 2026)))
                    .values(read_at=clock.now()))
    return True
