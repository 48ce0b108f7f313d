"""Realistic items and the form data of their whole lifecycle, for the engine and for raw SpiffWorkflow.

A plan says what happens to one item: who proposed it, which units handle it, whether it is a key item
led by a district leader, how the reply is classed and rated. `forms(plan)` turns it into the raw form
data (what a browser posts) for each form key of the process; the lifecycle drivers complete whatever
task is ready with the data of its form key, so they follow any BPMN whose forms keep these keys.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import bindparam, insert, select
from sqlalchemy.orm import Session
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from engine import clock
from engine.workflow import forms as formlib
from engine.people import unit_search
from engine.people.accounts import hash_password
from engine.demo.history import Actors  # who acts on a task row, as the demo year does
from engine.models import TaskRow, Unit, User
from engine.items.registration import register_item
from engine.workflow.runtime import complete_task, form_of, script_engine

YEAR = 2026
DAY = datetime(YEAR, 4, 1, 9, tzinfo=clock.LOCAL_TZ)  # when (a) and (d) run: the session's items are being handled
UNIT_NAMES = [
    ("jtj", "区交通运输局"), ("jyj", "区教育局"), ("zjj", "区住房和城乡建设局"), ("wjw", "区卫生健康委员会"),
    ("hbj", "市生态环境局本区分局"), ("mzj", "区民政局"), ("nyj", "区农业农村局"), ("cgj", "区综合行政执法局"),
    ("fgw", "区发展和改革局"), ("czj", "区财政局"), ("rsj", "区人力资源和社会保障局"), ("scj", "区市场监督管理局"),
    ("wlj", "区文化和广电旅游体育局"), ("gaj", "公安分局"), ("slj", "区水利局"), ("zrj", "区自然资源规划分局"),
    ("yjj", "区应急管理局"), ("sqj", "区商务局"), ("tjj", "区统计局"), ("xfj", "区信访局"),
]
SUBJECTS = [
    ("优化公交线路", "公交线路重复、换乘不便，建议重新规划线路，增设社区微循环公交。"),
    ("加强中小学课后服务", "建议统筹校内外资源，丰富课后服务内容，减轻家长接送负担。"),
    ("推动老旧小区加装电梯", "老年人上下楼困难，建议简化加装电梯审批并给予资金补助。"),
    ("完善社区医疗服务", "建议加强社区卫生服务中心建设，推广家庭医生签约服务。"),
    ("治理河道黑臭水体", "部分河道存在黑臭现象，建议开展截污纳管和生态修复。"),
    ("发展社区居家养老服务", "居家养老服务供给不足，建议建设嵌入式养老服务中心。"),
    ("推进美丽乡村建设", "建议统筹村庄规划，整治农村人居环境，打造特色精品村。"),
    ("推进生活垃圾分类", "建议完善分类设施，加强宣传引导，建立积分激励机制。"),
    ("规范校外培训机构", "部分培训机构收费不透明，建议加强资金监管和日常检查。"),
    ("加强食品安全监管", "建议加大对校园周边和农贸市场的抽检频次，公开抽检结果。"),
]
PLACES = ["", "城东片区", "老城区", "滨江街道", "开发区", "北部乡镇", "高铁新城"]
SURNAMES = "陈刘黄周赵孙钱何王李张杨吴郑冯褚卫蒋沈韩朱秦许吕施"


@dataclass
class Org:
    """Unit codes and the usernames of every role, as created by `create_org`."""

    units: list[str]
    proposers: list[str]
    leaders: list[str]
    deputies: list[str] = field(default_factory=list)


def create_org(session: Session, n_units: int = len(UNIT_NAMES), n_proposers: int = 40) -> Org:
    """Units, a handler and a head per unit, the office, two leaders and proposers, in bulk inserts.

    Every user shares one password hash (nobody logs in during a benchmark; scrypt per user would
    dominate the setup of 100k items).
    """
    secret = hash_password("bench")
    units = [(code if i < len(UNIT_NAMES) else f"u{i:04d}",
              name if i < len(UNIT_NAMES) else f"第{i // len(UNIT_NAMES)}片区{name}")
             for i, (code, name) in ((i, UNIT_NAMES[i % len(UNIT_NAMES)]) for i in range(n_units))]
    session.execute(insert(Unit), [{"code": c, "name": n} for c, n in units])
    unit_search.index_all(session)  # a Core insert: the ORM's hooks did not index the names for the type-ahead
    unit_ids = dict(session.execute(select(Unit.code, Unit.id)).all())
    users = [dict(username="office", name="张敏（区府办）", role="office"),
             dict(username="supervisor", name="赵督查", role="supervisor"),
             dict(username="leader_wang", name="王副区长", role="leader"),
             dict(username="leader_li", name="李副区长", role="leader")]
    for code, name in units:
        users.append(dict(username=f"{code}_staff", name=f"{name}经办人", role="unit_handler", unit_id=unit_ids[code]))
        users.append(dict(username=f"{code}_head", name=f"{name}负责人", role="unit_head", unit_id=unit_ids[code]))
    proposers = []
    for i in range(n_proposers):
        kind = "deputy" if i % 2 == 0 else "member"
        username = f"{kind}_{i:03d}"
        proposers.append(username)
        users.append(dict(username=username, name=f"{SURNAMES[i % len(SURNAMES)]}{'代表' if kind == 'deputy' else '委员'}",
                          role="proposer", proposer_kind=kind, phone=f"1390571{i:04d}"))
    session.execute(insert(User), [{"password_hash": secret, **u} for u in users])
    return Org([c for c, _ in units], proposers, ["leader_wang", "leader_li"])


@dataclass
class Plan:
    item_type: str
    proposer: str
    title: str
    content: str
    lead: str
    co_units: list[str]
    leader: str | None
    reply_class: str
    disclosure: str


def plans(org: Org, n: int, seed: int = 2026) -> list[Plan]:
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        subject, ask = SUBJECTS[i % len(SUBJECTS)]
        place = rnd.choice(PLACES)
        item_type = "suggestion" if i % 9 < 4 else "proposal"  # about 46 : 58, like a real year
        lead = rnd.choice(org.units)
        others = [u for u in org.units[:20] if u != lead]
        out.append(Plan(
            item_type=item_type,  # a 建议 is a deputy's, a 提案 a CPPCC member's
            proposer=rnd.choice([p for p in org.proposers if p.startswith("deputy" if item_type == "suggestion" else "member")]),
            title=f"关于{place}{subject}的{'建议' if item_type == 'suggestion' else '提案'}",
            content=f"{place or '我区'}{ask}" * 3,  # a few hundred characters, like a real text
            lead=lead, co_units=rnd.sample(others, k=rnd.choice((0, 0, 1, 1, 2))),
            leader=rnd.choice(org.leaders) if rnd.random() < 0.15 else None,
            reply_class=rnd.choices("ABC", weights=(6, 3, 1))[0],
            disclosure=rnd.choices(("full", "summary", "none"), weights=(8, 1, 1))[0]))
    return out


def forms(plan: Plan) -> dict[str, dict]:
    """Raw form data per form key: a signed, pledged, co-handled, consulted, replied, rated, published item.

    Dates are relative to today, as a handler would enter them (a plan within the reply deadline, a
    consultation held today, a promise ahead): the form checks refuse a past plan, one after the reply deadline
    (3 months from assignment) or a future consultation.
    """
    today = clock.today()
    promised = plan.reply_class != "A"
    return {
        "assignment": dict(assign_decision="assign", lead_unit=plan.lead, co_units=plan.co_units,
                           is_key="true" if plan.leader else "false", leader=plan.leader or "",
                           is_complex="false", assign_note=""),
        "sign_for": dict(sign_decision="sign"),
        "co_sign_for": dict(co_sign_decision="sign"),
        "pledge": dict(responsible_leader="分管副局长", contact_person="办公室主任", contact_phone="0571-86012345",
                       plan="成立工作专班，对照建议逐条研究，制定办理方案并分步实施，按月报告进展。",
                       target_date=(today + timedelta(days=60)).isoformat()),
        "co_opinion": dict(co_opinion="我单位同意主办单位的办理思路，将在职责范围内做好配合，并提供相关数据。"),
        "leader_instruction": dict(instruction="请主办单位高度重视，加强与代表委员沟通，确保办理实效。", report_heard="true"),
        "consultation": dict(consult_date=today.isoformat(), consult_form="meeting",
                             participants="代表委员、承办单位分管领导和经办人", more_consultation="false",
                             proposer_views="认可办理方向，希望加快推进并及时反馈进展。"),
        "reply": dict(reply_class=plan.reply_class,
                      reply_text=f"{plan.title}的答复：经研究，我单位已将该事项列入年度重点工作，"
                                 "制定了具体实施方案，相关措施正在落实中。感谢对我区工作的关心和支持。" * 2,
                      adopted="建议的主要内容已采纳。", promised="年底前完成全部建设内容。" if promised else "",
                      promised_date=(today + timedelta(days=240)).isoformat() if promised else "", disclosure=plan.disclosure,
                      disclosure_summary="已列入年度重点工作，正在实施。" if plan.disclosure == "summary" else ""),
        "reply_signoff": dict(signoff_decision="approve"),
        "reply_review": dict(review_decision="approve", final_class=plan.reply_class),
        "rating": dict(attitude="satisfied", result="satisfied" if plan.reply_class == "A" else "basically_satisfied"),
        "disclosure": dict(publish_scope=plan.disclosure,
                           published_text="" if plan.disclosure == "none" else "答复全文（已删除联系方式）。"),
    }


def register(db, plan: Plan) -> int:
    with db.transaction() as s:
        office = s.scalars(select(User).where(User.username == "office")).one()
        return register_item(s, {"item_type": plan.item_type, "year": str(YEAR), "title": plan.title,
                                 "content": plan.content, "proposer": plan.proposer,
                                 "session": "区十八届人大五次会议" if plan.item_type == "suggestion"
                                 else "区政协十五届五次会议"}, office).id


# What a user picks from the inbox (the item's oldest ready task), built once as the web's statements are.
_NEXT_TASK = (select(TaskRow.id, TaskRow.form_key, TaskRow.title, TaskRow.lane, TaskRow.unit_id, TaskRow.assignee_id)
              .where(TaskRow.item_id == bindparam("item_id")).order_by(TaskRow.created_at, TaskRow.id).limit(1))


def complete_next(db, item_id: int, data: dict[str, dict], actors: Actors) -> bool:
    """Complete the item's oldest ready task in one transaction, as its user would (named by id, as the web's
    runtime.complete does); False when none is left."""
    with db.transaction() as s:
        row = s.connection().execute(_NEXT_TASK, {"item_id": item_id}).first()
        if row is None:
            return False
        if row.form_key not in data:
            raise RuntimeError(f"bench: no form data for form key {row.form_key!r} ({row.title})")
        complete_task(s, row.id, actors.for_row(row).id, data[row.form_key])
        return True


def run_to_end(db, item_id: int, data: dict[str, dict], actors: Actors, max_steps: int = 60) -> int:
    """Complete the item's tasks until its process ends; returns how many were completed."""
    for done in range(max_steps + 1):
        if not complete_next(db, item_id, data, actors):
            return done
    raise RuntimeError(f"bench: item {item_id} did not finish in {max_steps} steps")


# --- the raw engine ------------------------------------------------------------------------------

def typed(session: Session, proc, data: dict[str, dict]) -> dict[str, dict]:
    """The form data as the engine stores it in task data (validated and typed), per form key."""
    from engine.workflow.runtime import choices

    lookup = choices(session)
    by_key = {}
    specs = dict(proc.spec.task_specs)
    for sub in proc.subprocess_specs.values():
        specs.update(sub.task_specs)
    for spec in specs.values():
        form = getattr(spec, "extensions", {}).get("form")
        if form and form["key"] in data:
            by_key[form["key"]] = formlib.validate(form, data[form["key"]], lookup)
    return by_key


def start_data(session: Session, plan: Plan, item_id: int) -> dict:
    """What `engine.runtime.start_item` puts into a new instance (kept in step with it)."""
    from engine.deadlines.rules import rules_for

    return dict(item_id=item_id, item_type=plan.item_type, year=YEAR, title=plan.title, proposer=plan.proposer,
                round=1, rules=rules_for(session, YEAR))


def plain_script_engine():
    """SpiffWorkflow's own script engine (no sandbox) with the same calendar functions."""
    from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment

    from engine.deadlines.expressions import FUNCTIONS

    return PythonScriptEngine(environment=TaskDataEnvironment(dict(FUNCTIONS)))


def raw_lifecycle(proc, start: dict, data: dict[str, dict], calendar, plain: bool = False) -> int:
    """One item through raw SpiffWorkflow in memory: the same BPMN, the same data, no database.

    The BPMN's deadline expressions call the calendar functions, so the working calendar is in scope as
    in the engine; the script engine is the engine's sandbox, or SpiffWorkflow's own with `plain`.
    Nothing is persisted, projected or audited.
    """
    from engine.deadlines.expressions import calendar_scope

    with calendar_scope(calendar):
        wf = BpmnWorkflow(proc.spec, proc.subprocess_specs,
                          script_engine=plain_script_engine() if plain else script_engine())
        wf.get_next_task(state=TaskState.READY).data.update(start)
        wf.do_engine_steps()
        done = 0
        while not wf.is_completed():
            ready = wf.get_tasks(state=TaskState.READY, manual=True)
            if not ready:
                raise RuntimeError("raw lifecycle: the workflow waits with no ready user task")
            task = ready[0]
            task.set_data(**data[form_of(task)["key"]])
            task.run()
            wf.do_engine_steps()
            done += 1
    return done
