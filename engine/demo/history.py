"""A finished past year for the demo (2025): 46 suggestions and 58 proposals, all replied, rated and published.

Shaped like the seed speech (104 items, satisfaction 100%, consultation 100%), with what a real year also
has: a few key items led by district leaders, co-handling units, complex items with the 6-month period,
two replies after the deadline, and one item re-handled after an unsatisfied first rating. Every item is
registered and moved through its process by completing its ready tasks, exactly as users would, with the
engine clock set to realistic 2025 dates: registration in March, the assignment meeting (交办会) on 20 March,
replies in May to July, ratings and publication after.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import clock
from engine.demo.logins import DEMO_PASSWORD
from engine.people.accounts import create_user
from engine.people.authz import LANES
from engine.deadlines.calendar import current_calendar
from engine.models import Item, TaskRow, Unit, User
from engine.items.registration import register_item
from engine.workflow.runtime import complete_task

YEAR = 2025
SUGGESTIONS, PROPOSALS = 46, 58
ASSIGNMENT_MEETING = date(2025, 3, 20)
SESSIONS = {"suggestion": "区十八届人大四次会议", "proposal": "区政协十五届四次会议"}

# Units and people the past year needs beside those of engine.demo (created when missing).
EXTRA_UNITS = [("mzj", "区民政局"), ("nyj", "区农业农村局"), ("cgj", "区综合行政执法局")]
EXTRA_USERS = [
    ("mzj_staff", "钱民政（经办人）", "unit_handler", "mzj", None), ("mzj_head", "孙局长（民政）", "unit_head", "mzj", None),
    ("nyj_staff", "何农业（经办人）", "unit_handler", "nyj", None), ("nyj_head", "韩局长（农业）", "unit_head", "nyj", None),
    ("cgj_staff", "杨执法（经办人）", "unit_handler", "cgj", None), ("cgj_head", "朱局长（执法）", "unit_head", "cgj", None),
    ("deputy_huang", "黄代表", "proposer", None, "deputy"), ("deputy_zhou", "周代表", "proposer", None, "deputy"),
    ("member_qian", "钱委员", "proposer", None, "member"), ("member_he", "何委员", "proposer", None, "member"),
]
DEPUTIES = ("deputy_chen", "deputy_liu", "deputy_huang", "deputy_zhou")
MEMBERS = ("member_zhao", "member_sun", "member_qian", "member_he")
LEADERS = ("leader_wang", "leader_li")

# (unit, subject of the title, what the proposer asks for). Titles read 关于{place}{subject}的建议/提案.
TOPICS = [
    ("jtj", "优化公交线路", "公交线路重复、换乘不便，建议重新规划线路，增设社区微循环公交。"),
    ("jtj", "增设公交候车亭", "部分站点没有候车亭，雨天候车困难，建议增设候车亭和实时到站信息屏。"),
    ("jtj", "缓解学校周边交通拥堵", "上下学高峰学校周边拥堵，建议错峰放学并增设临时停车泊位。"),
    ("jtj", "规范共享单车停放", "共享单车乱停乱放占用人行道，建议划定停放区并加强企业监管。"),
    ("jtj", "改善农村公路养护", "农村公路破损较多，建议落实养护资金，建立路长制。"),
    ("jyj", "加强中小学课后服务", "建议统筹校内外资源，丰富课后服务内容，减轻家长接送负担。"),
    ("jyj", "扩大普惠性幼儿园供给", "入园难问题仍然存在，建议新建和改扩建一批普惠性幼儿园。"),
    ("jyj", "加强学生心理健康教育", "学生心理问题增多，建议配齐心理教师，建立家校社协同机制。"),
    ("jyj", "改善学校食堂管理", "建议推行明厨亮灶，加强食材采购监管，邀请家长参与陪餐。"),
    ("jyj", "推进集团化办学", "优质教育资源分布不均，建议以名校带新校推进集团化办学。"),
    ("zjj", "推进老旧小区改造", "老旧小区管网老化、设施陈旧，建议加快综合改造并完善长效管理。"),
    ("zjj", "推动老旧小区加装电梯", "老年人上下楼困难，建议简化加装电梯审批并给予资金补助。"),
    ("zjj", "加强住宅小区物业管理", "部分小区物业服务不到位，建议建立物业服务质量评价和退出机制。"),
    ("zjj", "推进海绵城市建设", "暴雨时部分路段积水严重，建议结合道路改造推进海绵城市建设。"),
    ("zjj", "增加保障性租赁住房", "新市民、青年人住房困难，建议多渠道筹集保障性租赁住房。"),
    ("wjw", "完善社区医疗服务", "建议加强社区卫生服务中心建设，推广家庭医生签约服务。"),
    ("wjw", "加强基层医疗人才队伍建设", "基层医生引不进、留不住，建议完善薪酬激励和职称评聘政策。"),
    ("wjw", "推进医养结合", "失能老人照护需求大，建议推动医疗机构与养老机构签约合作。"),
    ("wjw", "提升院前急救能力", "急救站点覆盖不足，建议增设急救站点，普及公众急救培训。"),
    ("wjw", "加强慢性病健康管理", "建议将高血压、糖尿病患者纳入网格化健康管理。"),
    ("hbj", "治理河道黑臭水体", "部分河道存在黑臭现象，建议开展截污纳管和生态修复。"),
    ("hbj", "加强建筑工地扬尘管控", "工地扬尘影响周边居民，建议落实围挡、喷淋和在线监测。"),
    ("hbj", "整治餐饮油烟扰民", "沿街餐饮油烟扰民，建议强制安装油烟净化设施并定期清洗。"),
    ("hbj", "加强噪声污染防治", "夜间施工和商业噪声扰民，建议加强执法并设置噪声监测点。"),
    ("hbj", "推进工业园区废气治理", "园区异味投诉较多，建议开展废气排查并推行清洁生产。"),
    ("mzj", "发展社区居家养老服务", "居家养老服务供给不足，建议建设嵌入式养老服务中心。"),
    ("mzj", "完善老年助餐服务", "建议扩大老年食堂覆盖，给予高龄和困难老人就餐补贴。"),
    ("mzj", "加强困境儿童关爱保护", "建议建立困境儿童信息台账，落实基本生活保障和心理关爱。"),
    ("mzj", "规范社区社会组织发展", "建议加大社区社会组织培育扶持，购买社会工作服务。"),
    ("nyj", "推进美丽乡村建设", "建议统筹村庄规划，整治农村人居环境，打造特色精品村。"),
    ("nyj", "发展特色农业产业", "建议扶持特色种养业，培育农产品区域公用品牌。"),
    ("nyj", "加强农田水利设施建设", "部分农田灌溉设施老化，建议加大高标准农田建设投入。"),
    ("nyj", "培育新型农业经营主体", "建议扶持家庭农场和农民合作社，完善农业社会化服务。"),
    ("cgj", "推进生活垃圾分类", "建议完善分类设施，加强宣传引导，建立积分激励机制。"),
    ("cgj", "规范占道经营", "部分路段占道经营影响通行，建议设置疏导点，规范管理。"),
    ("cgj", "增设公共厕所", "商业街区和公园公共厕所不足，建议增设并推动机关单位厕所对外开放。"),
    ("cgj", "加强市容环境整治", "背街小巷环境脏乱，建议建立常态化保洁和巡查机制。"),
]
PLACES = ["", "城东片区", "老城区", "滨江街道", "开发区", "北部乡镇"]

REPLIES = {
    "A": ("经研究，该建议提出的问题已纳入年度重点工作并已落实，相关设施已建成投用。",
          "建议的主要内容已全部采纳。", ""),
    "B": ("经研究，该事项已列入本年度工作计划，正在分步推进，部分措施已先行实施。",
          "建议的主要内容已采纳，正在实施。", "年底前完成全部建设内容。"),
    "C": ("经研究，受用地和资金条件限制，该事项暂时难以实施，已作为今后工作的参考。",
          "建议中关于加强管理的内容已采纳。", "待条件成熟时纳入规划。"),
}


@dataclass
class _Plan:
    """What happens to one past item, and when."""

    item_type: str
    proposer: str
    title: str
    content: str
    unit: str
    co_unit: str | None
    leader: str | None
    is_complex: bool
    registered: date
    reviewed: date  # the office approves the reply: 办复
    reply_class: str
    disclosure: str
    rating: tuple[str, str]
    cosigners: str
    rehandled: bool


def _plans() -> list[_Plan]:
    """104 items, deterministic: the same year every time the demo is loaded."""
    plans, total = [], SUGGESTIONS + PROPOSALS
    names = {"deputy_chen": "陈代表", "deputy_liu": "刘代表", "deputy_huang": "黄代表", "deputy_zhou": "周代表",
             "member_zhao": "赵委员", "member_sun": "孙委员", "member_qian": "钱委员", "member_he": "何委员"}
    for i in range(total):
        # Suggestions spread evenly among the proposals: exactly SUGGESTIONS of them.
        kind = "suggestion" if (i + 1) * SUGGESTIONS // total > i * SUGGESTIONS // total else "proposal"
        people = DEPUTIES if kind == "suggestion" else MEMBERS
        proposer = people[i % len(people)]
        others = [names[p] for p in people if p != proposer]
        unit, subject, ask = TOPICS[i % len(TOPICS)]
        place = PLACES[(i // len(TOPICS)) % len(PLACES)]
        co = TOPICS[(i + 5) % len(TOPICS)][0] if i % 5 == 2 else None
        complex_ = i % 17 == 8
        review = ASSIGNMENT_MEETING + timedelta(days=(115 if complex_ else 50 + (i * 3) % 38))
        if i in (23, 61):  # two replies approved after the 3-month deadline
            review = date(2025, 6, 27)
        plans.append(_Plan(
            item_type=kind, proposer=proposer, title=f"关于{place}{subject}的{'建议' if kind == 'suggestion' else '提案'}",
            content=f"{place or '我区'}{ask}", unit=unit, co_unit=co if co != unit else None,
            leader=LEADERS[i % 2] if i % 13 == 4 else None, is_complex=complex_,
            registered=date(2025, 3, 3) + timedelta(days=i % 10), reviewed=review,
            reply_class="A" if i % 10 < 6 else ("B" if i % 10 < 9 else "C"),
            disclosure="summary" if i % 8 == 3 else ("none" if i % 25 == 11 else "full"),
            rating=("satisfied", "basically_satisfied") if i % 7 == 3 else ("satisfied", "satisfied"),
            cosigners=others[i % len(others)] if i % 4 == 1 else "", rehandled=i == 40))
    return plans


def _ensure_people(session: Session) -> None:
    for code, name in EXTRA_UNITS:
        if not session.scalar(select(Unit.id).where(Unit.code == code)):
            session.add(Unit(code=code, name=name))
    session.flush()
    existing = set(session.scalars(select(User.username)))
    for username, name, role, unit, kind in EXTRA_USERS:
        if username not in existing:
            create_user(session, username, name, role, DEMO_PASSWORD, unit_code=unit, proposer_kind=kind)


class Actors:
    """Who acts on a task row: the office, the unit's staff or head, the named leader or proposer."""

    def __init__(self, session: Session):
        users = session.scalars(select(User).where(User.active)).all()
        self.by_id = {u.id: u for u in users}
        self.by_role_unit = {}
        for u in sorted(users, key=lambda u: u.id):
            self.by_role_unit.setdefault((u.role, u.unit_id), u)

    def for_row(self, row: TaskRow) -> User:
        lane = LANES[row.lane]
        if lane.person_var:
            return self.by_id[row.assignee_id]
        return self.by_role_unit[(lane.role, row.unit_id if lane.unit_var else None)]


def _at(day: date, hour: int = 10) -> datetime:
    return datetime.combine(day, time(hour, 0), clock.LOCAL_TZ)


def _steps(plan: _Plan, workday) -> dict[tuple[str, int], tuple[datetime, dict]]:
    """(form key, round) -> (when, form data) for every task the item will meet."""
    cls = plan.reply_class
    text, adopted, promised = REPLIES[cls]
    contact = "如有疑问，请联系承办科室，电话 0571-86012345。" if plan.disclosure == "full" and plan.reviewed.day % 4 == 0 else ""
    reply = dict(reply_class=cls, reply_text=f"{plan.title.removeprefix('关于').rsplit('的', 1)[0]}：{text}{contact}",
                 adopted=adopted, promised=promised, disclosure=plan.disclosure,
                 promised_date="2025-12-31" if cls != "A" else "",
                 disclosure_summary=f"{text[:24]}……" if plan.disclosure == "summary" else "")
    drafted = workday(plan.reviewed - timedelta(days=4))
    consulted = workday(min(ASSIGNMENT_MEETING + timedelta(days=25 + len(plan.title) % 20), drafted - timedelta(days=3)))
    rated = workday(plan.reviewed + timedelta(days=8))
    steps = {
        ("assignment", 1): (_at(ASSIGNMENT_MEETING, 15), dict(
            assign_decision="assign", lead_unit=plan.unit, co_units=[plan.co_unit] if plan.co_unit else [],
            is_key=bool(plan.leader), leader=plan.leader or "", is_complex=plan.is_complex,
            assign_note="2025年建议提案交办会集中交办。")),
        ("sign_for", 1): (_at(workday(ASSIGNMENT_MEETING + timedelta(days=1))), dict(sign_decision="sign")),
        ("pledge", 1): (_at(workday(ASSIGNMENT_MEETING + timedelta(days=6))), dict(
            responsible_leader="分管副局长", contact_person="办公室主任", contact_phone="0571-86012345",
            plan="成立工作专班，对照建议逐条研究，制定办理方案并分步实施。",
            # the day of the reply, by the reply deadline (3 months from the meeting) at the latest
            target_date=min(plan.reviewed, ASSIGNMENT_MEETING + timedelta(days=90)).isoformat())),
        ("co_sign_for", 1): (_at(workday(ASSIGNMENT_MEETING + timedelta(days=2))), dict(co_sign_decision="sign")),
        ("co_opinion", 1): (_at(workday(ASSIGNMENT_MEETING + timedelta(days=20))), dict(
            co_opinion="我单位同意主办单位的办理思路，将在职责范围内做好配合。")),
        ("leader_instruction", 1): (_at(workday(ASSIGNMENT_MEETING + timedelta(days=14))), dict(
            instruction="请主办单位高度重视，加强与代表委员沟通，确保办理实效。", report_heard=True)),
        ("reply_signoff", 1): (_at(workday(drafted + timedelta(days=1))), dict(signoff_decision="approve")),
        ("reply_review", 1): (_at(workday(plan.reviewed), 16), dict(review_decision="approve")),
        ("disclosure", 1): (_at(workday(rated + timedelta(days=3))), dict(
            publish_scope=plan.disclosure,
            published_text="" if plan.disclosure == "none" else (reply["disclosure_summary"] or reply["reply_text"]))),
    }
    for rnd, day in ((1, consulted),) + (((2, workday(rated + timedelta(days=10))),) if plan.rehandled else ()):
        steps[("consultation", rnd)] = (_at(day), dict(
            consult_date=day.isoformat(), consult_form="meeting" if rnd == 1 else "visit",
            participants="代表委员、承办单位分管领导和经办人", more_consultation=False,
            proposer_views="认可办理方向，希望加快推进并及时反馈进展。" if rnd == 1 else "对重新办理的措施表示认可。"))
    steps[("reply", 1)] = (_at(drafted), reply)
    if plan.rehandled:  # first round judged unsatisfied, re-handled within a month, then satisfied
        steps[("rating", 1)] = (_at(rated), dict(attitude="satisfied", result="unsatisfied",
                                                 rating_reason="答复未提出具体措施和时间表。"))
        steps[("rehandling_order", 1)] = (_at(workday(rated + timedelta(days=3))), dict(
            rehandle_decision="rehandle", rehandle_instructions="请承办单位重新研究，提出具体措施和时间表，一个月内再次答复。"))
        second = workday(rated + timedelta(days=24))
        steps[("reply", 2)] = (_at(second), {**reply, "reply_class": "B", "promised": "2025年12月底前完成整改。",
                                             "promised_date": "2025-12-31"})
        steps[("reply_signoff", 2)] = (_at(workday(second + timedelta(days=1))), dict(signoff_decision="approve"))
        steps[("reply_review", 2)] = (_at(workday(second + timedelta(days=2)), 16), dict(review_decision="approve"))
        rated2 = workday(second + timedelta(days=8))
        steps[("rating", 2)] = (_at(rated2), dict(attitude="satisfied", result="satisfied"))
        steps[("disclosure", 2)] = (_at(workday(rated2 + timedelta(days=3))), steps.pop(("disclosure", 1))[1])
    else:
        steps[("rating", 1)] = (_at(rated), dict(attitude=plan.rating[0], result=plan.rating[1]))
    return steps


def _run_item(session: Session, item: Item, steps: dict, actors: Actors) -> None:
    """Complete the item's ready tasks in the order of their planned time until its process ends."""
    for _ in range(60):
        rows = session.scalars(select(TaskRow).where(TaskRow.item_id == item.id)).all()
        if not rows:
            return
        planned = []
        for row in rows:
            key = (row.form_key, row.round)
            if key not in steps:
                raise RuntimeError(f"demo history: no plan for task {row.title} ({row.form_key}, round {row.round}) "
                                   f"of {item.number}")
            planned.append((steps[key][0], row))
        when, row = min(planned, key=lambda p: p[0])
        with clock.travel(when):
            complete_task(session, row.id, actors.for_row(row), steps[(row.form_key, row.round)][1])
    raise RuntimeError(f"demo history: {item.number} did not finish")


def load_history(session: Session) -> int:
    """Add the finished year 2025 (once). Returns the number of items created (0 when already there)."""
    if session.scalar(select(Item.id).where(Item.year == YEAR).limit(1)):
        return 0
    _ensure_people(session)
    office = session.scalars(select(User).where(User.username == "office")).one()
    actors = Actors(session)
    workday = current_calendar(session).next_working_day
    plans = _plans()
    for plan in plans:
        with clock.travel(_at(workday(plan.registered), 9)):
            item = register_item(session, {
                "item_type": plan.item_type, "year": str(YEAR), "session": SESSIONS[plan.item_type],
                "title": plan.title, "content": plan.content, "proposer": plan.proposer,
                "cosigners": plan.cosigners, "category": None}, office)
        _run_item(session, item, _steps(plan, workday), actors)
    return len(plans)
