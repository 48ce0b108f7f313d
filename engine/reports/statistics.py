"""统计: a year's figures per type and per unit, computed from the read model (never from workflow state).

Every figure is first settled per item (`ItemFacts`: was it replied, on time, consulted, how was it rated),
then counted; the item list exported to Excel is the same facts, so a figure can always be traced back to
the items behind it. The definitions follow DOMAIN.md and are listed in DEFINITIONS for every page and
report that shows them.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine import clock
from engine.people import visibility
from engine.models import (Assignment, CoOpinion, Consultation, Deadline, Item, ITEM_TYPES, Rating,
                           RehandlingOrder, Reply, Unit, User)
from engine.deadlines.ledger import reply_deadlines
from engine.items import carryover, promises
from engine.items.supervision import urges_per_unit

# Items that leave every denominator. 'merged' is the status a merged item (并案) will carry.
EXCLUDED_STATUSES = ("withdrawn", "merged")
# Reply deadline from assignment (DOMAIN.md default; complex items get the longer period).
# A rating's two dimensions, from best to worst; 'no_opinion' (未表态) is not a verdict and is counted apart.
VERDICTS = ("satisfied", "basically_satisfied", "unsatisfied")
NO_OPINION = "no_opinion"
CLASSES = ("A", "B", "C", "D")

DEFINITIONS = [  # (figure, zh, en): shown beside the figures on every page and report
    ("items", "件数：本年度登记的建议、提案，撤回和并案的不计入任何分母。",
     "Items: registered this year; withdrawn and merged items leave every denominator."),
    ("reply_rate", "办复率 = 已办复件数 ÷ 已交办件数。办复以区府办审核通过第一份答复为准。",
     "Reply rate = items replied ÷ items assigned; an item is replied when the office approves its first reply."),
    ("on_time_rate", "按时办复率 = 在有效期限（含经批准的延期）内办复的件数 ÷ 已到期件数。已到期指已办复或期限已过；"
     "期限为交办之日起3个月（复杂事项6个月），经延期的单独标注。",
     "On-time reply rate = items replied by the effective deadline (after approved extensions) ÷ items due "
     "(replied, or past the deadline); the deadline is 3 months from assignment (6 for complex items); "
     "extended items are flagged."),
    ("satisfaction", "满意率 = （满意 + 基本满意）件数 ÷ 已评价件数，首轮与最终分列；办理态度和办理结果取较低者；"
     "未表态的单列，不计入分母。",
     "Satisfaction = (satisfied + basically satisfied) ÷ rated items, first round and final apart; the lower of "
     "attitude and result counts; no opinion (未表态) is listed apart and leaves the denominator."),
    ("consultation_rate", "面商率 = 主办单位有面商记录的件数 ÷ 已交办主办单位的件数。",
     "Consultation rate = items whose lead unit recorded a consultation ÷ items handled by a lead unit."),
    ("rehandled", "重办：责成重新办理的件数和轮次。", "Re-handled: items ordered to be re-handled, and rounds."),
    ("classes", "答复类别：A 已解决或基本采纳、B 正在解决或列入计划、C 因条件限制留作参考，占已办复件数的比例。",
     "Reply classes A (solved/adopted), B (in progress/planned), C (kept for reference), as shares of replied items."),
    ("units", "单位统计：主办（含分办，分办单列为“其中分办”）与协办分列；协办只计件数、已提出协办意见的件数和经区府办免除意见的件数（计入该协办单位）和协办意见逾期的件数（按该协办单位自己的期限）；"
     "催办为区府办、督查人员人工催办该单位的次数。",
     "Per unit: lead items (separate parts included, shown apart as 'of which separate') and co-handled items apart; co-handling counts items, opinions sent and opinions the office "
     "waived (counted against the co-unit) and opinions late against the co-unit's own deadline; urged is how often the office or supervisors urged the unit by hand."),
    ("separate", "分办：交由主办单位和一个或多个分办单位分别答复的事项。事项在全区、分类统计中只计一次，全部单位（退回的除外）答复后方为办复；"
     "每个分办单位的答复在该单位的统计中与主办一样计算（件数、办复率、按时办复率按其自己的答复期限、满意率按对其答复的评价），"
     "单列为“其中分办”；分办单位答复为分办单位（主办单位以外）已答复的份数。",
     "Separate handling (分办): items replied separately by the lead unit and one or more separate units. The item counts "
     "once in the district and type figures and is replied when every unit still on it has replied; each separate unit's "
     "reply counts in that unit's row like a lead unit's (items, reply rate, on-time rate against its own deadline, "
     "satisfaction with its own reply) and is shown apart as 'of which separate'; unit replies are the replies sent by "
     "separate units (other than the lead unit)."),
    ("merged", "并案：并入其他事项办理的件数，不计入任何分母，主办事项只计一次。",
     "Merged: items merged into another handled item; they leave every denominator and the handled item counts once."),
    ("promises", "承诺事项：B、C类答复中的承诺事项（本年度事项的），未办结、已办结分列，逾期指未办结且已过承诺日期。",
     "Promises: the promised measures of this year's B and C replies, open and done; overdue = open and past the "
     "promised date."),
    ("carried_over", "结转：上一年度转入本年度的未办结事项和未落实承诺事项，保留原年度和编号，单列，不计入本年度分母；"
     "结转转出为本年度转入下一年度的。",
     "Carried over: unfinished items and open promises carried into this year from the previous one; they keep "
     "their year and number, are listed apart and stay out of this year's denominators; carried out: those this "
     "year passed on to the next."),
]


# --- per-item facts ------------------------------------------------------------------------------------

def rating_verdict(attitude: str, result: str) -> str:
    """The lower of the two dimensions; 'no_opinion' when either is 未表态."""
    if NO_OPINION in (attitude, result):
        return NO_OPINION
    return max((attitude, result), key=lambda v: VERDICTS.index(v) if v in VERDICTS else len(VERDICTS))


@dataclass
class ItemFacts:
    id: int
    number: str
    item_type: str
    title: str
    proposer: str
    status: str
    counted: bool  # False for withdrawn and merged items
    lead_unit_id: int | None
    lead_unit: str | None
    co_unit_ids: tuple[int, ...]
    assigned_on: date | None
    replied_on: date | None
    due: date | None
    original_due: date | None
    extended: bool
    on_time: bool | None  # None: not due yet (not replied and the deadline not passed) or not assigned
    consulted: bool
    first_rating: str | None  # verdict of round 1, or None when not rated
    final_rating: str | None  # verdict of the item's current round, or None when that round is not rated
    rehandle_rounds: int
    reply_class: str | None
    co_opinions_sent: tuple[int, ...] = ()  # co-units that sent their opinion
    co_opinions_waived: tuple[int, ...] = ()  # co-units whose opinion the office waived
    separate_unit_ids: tuple[int, ...] = ()  # 分办 units still on the item (each replies on its own part)
    separate: bool = False  # these are the facts of one 分办 unit's part (lead_unit_id is that unit), not an item

    @property
    def handled(self) -> bool:  # assigned to a lead unit that kept it (a 分办 part holds no consultation step)
        return self.counted and self.assigned_on is not None and self.lead_unit_id is not None and not self.separate


def item_facts(session: Session, year: int, as_of: date | None = None) -> list[ItemFacts]:
    """The facts behind every figure, one per item of `year`, in type and number order."""
    as_of = as_of or clock.today()
    items = session.scalars(select(Item).where(Item.year == year).order_by(Item.item_type, Item.number)).all()
    ids = select(Item.id).where(Item.year == year).scalar_subquery()
    units = dict(session.execute(select(Unit.id, Unit.name)).all())
    co_units: dict[int, list[int]] = defaultdict(list)
    separate_units: dict[int, list[int]] = defaultdict(list)
    for item_id, unit_id, role in session.execute(select(Assignment.item_id, Assignment.unit_id, Assignment.role).where(
            Assignment.item_id.in_(ids), Assignment.role.in_(("co", "separate")), Assignment.ended_at.is_(None))
            .order_by(Assignment.unit_id)):
        (co_units if role == "co" else separate_units)[item_id].append(unit_id)
    opinions: dict[int, set[int]] = defaultdict(set)
    waived: dict[int, set[int]] = defaultdict(set)
    for item_id, unit_id, was_waived in session.execute(select(CoOpinion.item_id, CoOpinion.unit_id, CoOpinion.waived)
                                                        .where(CoOpinion.item_id.in_(ids))):
        (waived if was_waived else opinions)[item_id].add(unit_id)
    consulted = set(session.execute(select(Consultation.item_id, Consultation.unit_id)
                                    .where(Consultation.item_id.in_(ids)).distinct()).all())
    ratings: dict[int, dict[int, str]] = defaultdict(dict)  # item -> round -> verdict (the latest rating wins)
    for r in session.execute(select(Rating.item_id, Rating.round, Rating.attitude, Rating.result)
                             .where(Rating.item_id.in_(ids), Rating.unit_id.is_(None)).order_by(Rating.id)):
        ratings[r.item_id][r.round] = rating_verdict(r.attitude, r.result)
    rehandled = dict(session.execute(select(RehandlingOrder.item_id, func.count()).where(
        RehandlingOrder.item_id.in_(ids), RehandlingOrder.decision == "rehandle", RehandlingOrder.unit_id.is_(None))
        .group_by(RehandlingOrder.item_id)).all())
    deadlines = reply_deadlines(session, items)

    facts = []
    for it in items:
        dl = deadlines.get(it.id)
        replied_on = clock.local_day(it.replied_at)
        on_time = None
        if dl is not None:
            if replied_on is not None:
                on_time = replied_on <= dl.due
            elif dl.due < as_of:
                on_time = False
        rounds = ratings.get(it.id, {})
        facts.append(ItemFacts(
            id=it.id, number=it.number, item_type=it.item_type, title=it.title, proposer=it.proposer.name,
            status=it.status, counted=it.status not in EXCLUDED_STATUSES, lead_unit_id=it.lead_unit_id,
            lead_unit=units.get(it.lead_unit_id), co_unit_ids=tuple(co_units.get(it.id, ())),
            assigned_on=clock.local_day(it.assigned_at), replied_on=replied_on,
            due=dl.due if dl else None, original_due=dl.original if dl else None, extended=bool(dl and dl.extended),
            on_time=on_time, consulted=(it.id, it.lead_unit_id) in consulted,
            first_rating=rounds.get(1), final_rating=rounds.get(it.round), rehandle_rounds=rehandled.get(it.id, 0),
            reply_class=it.reply_class if replied_on else None, co_opinions_sent=tuple(sorted(opinions.get(it.id, ()))),
            co_opinions_waived=tuple(sorted(waived.get(it.id, ()))),
            separate_unit_ids=tuple(separate_units.get(it.id, ()))))
    return facts


def part_facts(session: Session, facts: list[ItemFacts], as_of: date | None = None) -> list[ItemFacts]:
    """分办: one set of facts per separate unit's part of a counted item, settled like an item's for that unit:
    replied when its own reply was approved, on time against its own reply deadline (`sep_reply`), rated by the
    proposer's rating of its own reply. The lead unit of such an item is a reply unit like the others: its facts
    (separate=False) take its own reply's date, not the item's, which waits for the last unit."""
    as_of = as_of or clock.today()
    with_parts = [f for f in facts if f.counted and f.separate_unit_ids]
    if not with_parts:
        return []
    ids = [f.id for f in with_parts]
    units = dict(session.execute(select(Unit.id, Unit.name)).all())
    replied: dict[tuple[int, int], tuple[date, str | None]] = {}
    for item_id, unit_id, at, cls in session.execute(
            select(Reply.item_id, Reply.unit_id, Reply.reviewed_at, Reply.final_class)
            .where(Reply.item_id.in_(ids), Reply.status == "approved").order_by(Reply.id)):
        first = replied.get((item_id, unit_id), (clock.local_day(at), cls))[0]  # the first approved reply counts,
        replied[(item_id, unit_id)] = (first, cls)  # its class is the latest round's (as the item's)
    due = {(d.item_id, d.unit_id): d for d in session.scalars(  # after approved extensions, as the lead's
        select(Deadline).where(Deadline.item_id.in_(ids), Deadline.key == "sep_reply", Deadline.round == 1,
                                   Deadline.status != "void")
        .order_by(Deadline.id))}
    verdicts: dict[tuple[int, int], dict[int, str]] = defaultdict(dict)  # (item, unit) -> round -> verdict
    for r in session.execute(select(Rating.item_id, Rating.unit_id, Rating.round, Rating.attitude, Rating.result)
                             .where(Rating.item_id.in_(ids), Rating.unit_id.is_not(None)).order_by(Rating.id)):
        verdicts[(r.item_id, r.unit_id)][r.round] = rating_verdict(r.attitude, r.result)
    rehandled = Counter((o.item_id, o.unit_id) for o in session.execute(
        select(RehandlingOrder.item_id, RehandlingOrder.unit_id).where(
            RehandlingOrder.item_id.in_(ids), RehandlingOrder.unit_id.is_not(None),
            RehandlingOrder.decision == "rehandle")))
    out = []
    for f in with_parts:
        if f.lead_unit_id is not None:
            own_on, _cls = replied.get((f.id, f.lead_unit_id), (None, None))
            on_time = f.on_time if f.due is None else (
                own_on <= f.due if own_on is not None else (False if f.due < as_of else None))
            out.append(replace(f, replied_on=own_on, on_time=on_time))
        for unit_id in f.separate_unit_ids:
            key = (f.id, unit_id)
            replied_on, cls = replied.get(key, (None, None))
            row = due.get(key)
            day = row.due_date if row is not None else None
            on_time = None
            if day is not None:
                on_time = replied_on <= day if replied_on is not None else (False if day < as_of else None)
            rounds, again = verdicts.get(key, {}), rehandled.get(key, 0)
            out.append(replace(f, lead_unit_id=unit_id, lead_unit=units.get(unit_id), co_unit_ids=(),
                               replied_on=replied_on, due=day, original_due=row.original_due_date if row is not None else None,
                               extended=bool(row is not None and row.extended), on_time=on_time,
                               consulted=False, first_rating=rounds.get(1), final_rating=rounds.get(1 + again),
                               rehandle_rounds=again, reply_class=cls, co_opinions_sent=(), co_opinions_waived=(),
                               separate_unit_ids=(), separate=True))
    return out


# --- figures -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Ratio:
    numerator: int
    denominator: int

    @property
    def rate(self) -> float | None:
        return round(self.numerator / self.denominator, 4) if self.denominator else None

    def as_dict(self) -> dict:
        return {"numerator": self.numerator, "denominator": self.denominator, "rate": self.rate}


@dataclass(frozen=True)
class Satisfaction:
    ratio: Ratio  # (satisfied + basically satisfied) ÷ rated
    counts: dict[str, int]  # verdict -> items
    no_opinion: int  # 未表态, outside the denominator

    def as_dict(self) -> dict:
        return {**self.ratio.as_dict(), "counts": self.counts, "no_opinion": self.no_opinion}


@dataclass
class Figures:
    items: int
    excluded: int
    reply_rate: Ratio
    on_time_rate: Ratio
    extended: int
    overdue_open: int  # not replied and past the deadline
    satisfaction_first: Satisfaction
    satisfaction_final: Satisfaction
    consultation_rate: Ratio
    rehandled_items: int
    rehandled_rounds: int
    classes: dict[str, int]

    def class_shares(self) -> dict[str, Ratio]:
        replied = sum(self.classes.values())
        return {c: Ratio(n, replied) for c, n in self.classes.items()}

    def as_dict(self) -> dict:
        return {
            "items": self.items, "excluded": self.excluded, "reply_rate": self.reply_rate.as_dict(),
            "on_time_rate": {**self.on_time_rate.as_dict(), "extended": self.extended, "overdue_open": self.overdue_open},
            "satisfaction_first": self.satisfaction_first.as_dict(),
            "satisfaction_final": self.satisfaction_final.as_dict(),
            "consultation_rate": self.consultation_rate.as_dict(),
            "rehandled": {"items": self.rehandled_items, "rounds": self.rehandled_rounds},
            "classes": {c: {"count": r.numerator, "share": r.rate} for c, r in self.class_shares().items()},
        }


def _satisfaction(verdicts: list[str | None]) -> Satisfaction:
    given = [v for v in verdicts if v is not None]
    counts = Counter(v for v in given if v != NO_OPINION)
    rated = sum(counts.values())
    return Satisfaction(Ratio(counts["satisfied"] + counts["basically_satisfied"], rated),
                        {v: counts[v] for v in VERDICTS}, len(given) - rated)


def figures(facts: list[ItemFacts]) -> Figures:
    """The figures of DEFINITIONS over a set of items (a year, a type, a unit's lead items)."""
    counted = [f for f in facts if f.counted]
    assigned = [f for f in counted if f.assigned_on is not None]
    due = [f for f in assigned if f.on_time is not None]
    handled = [f for f in counted if f.handled]
    classes = Counter(f.reply_class for f in counted if f.reply_class)
    return Figures(
        items=len(counted), excluded=len(facts) - len(counted),
        reply_rate=Ratio(sum(1 for f in assigned if f.replied_on), len(assigned)),
        on_time_rate=Ratio(sum(1 for f in due if f.on_time), len(due)),
        extended=sum(1 for f in assigned if f.extended),
        overdue_open=sum(1 for f in due if f.on_time is False and f.replied_on is None),
        satisfaction_first=_satisfaction([f.first_rating for f in counted]),
        satisfaction_final=_satisfaction([f.final_rating for f in counted]),
        consultation_rate=Ratio(sum(1 for f in handled if f.consulted), len(handled)),
        rehandled_items=sum(1 for f in counted if f.rehandle_rounds), rehandled_rounds=sum(f.rehandle_rounds for f in counted),
        classes={c: classes[c] for c in CLASSES if classes[c] or c != "D"},
    )


@dataclass
class UnitRow:
    unit_id: int
    code: str
    name: str
    lead: Figures
    co_items: int
    co_opinions: int
    co_waived: int = 0
    co_late: int = 0  # items whose co-opinion deadline (the unit's own) passed before it answered
    urged: int = 0
    separate_items: int = 0  # 分办 parts among the `lead` figures (the unit replies on its own part)
    separate_replied: int = 0

    def as_dict(self) -> dict:
        return {"unit": self.name, "code": self.code, "lead": self.lead.as_dict(),
                "separate": {"items": self.separate_items, "replied": self.separate_replied},
                "co": {"items": self.co_items, "opinions_sent": self.co_opinions, "waived": self.co_waived,
                       "late": self.co_late},
                "urged": self.urged}


@dataclass
class YearStatistics:
    year: int
    as_of: date
    total: Figures
    by_type: dict[str, Figures]
    units: list[UnitRow]
    facts: list[ItemFacts] = field(repr=False, default_factory=list)
    merged: int = 0
    waived_opinions: int = 0
    carried_over: dict[str, int] = field(default_factory=lambda: {"items": 0, "promises": 0})
    carried_out: dict[str, int] = field(default_factory=lambda: {"items": 0, "promises": 0})
    promises: dict[str, int] = field(default_factory=lambda: {"open": 0, "done": 0, "overdue": 0})
    separate: dict[str, int] = field(default_factory=lambda: {"items": 0, "unit_replies": 0})

    def as_dict(self) -> dict:
        return {"year": self.year, "as_of": self.as_of.isoformat(), **self.total.as_dict(),
                "suggestions": self.by_type["suggestion"].items, "proposals": self.by_type["proposal"].items,
                "by_type": {t: f.as_dict() for t, f in self.by_type.items()},
                "merged": self.merged, "separate": dict(self.separate), "waived_opinions": self.waived_opinions,
                "carried_over": dict(self.carried_over), "carried_out": dict(self.carried_out),
                "promises": dict(self.promises),
                "units": [u.as_dict() for u in self.units]}

    def follow_up_rows(self) -> list[tuple[str, str]]:
        """(label, value) of the variant and follow-up figures, for the page and the Excel export."""
        return [("并案（并入他件）", str(self.merged)), ("分办事项", str(self.separate["items"])),
                ("分办单位答复", str(self.separate["unit_replies"])), ("免除协办意见", str(self.waived_opinions)),
                ("结转转入事项", str(self.carried_over["items"])), ("结转转入承诺事项", str(self.carried_over["promises"])),
                ("结转转出事项", str(self.carried_out["items"])), ("结转转出承诺事项", str(self.carried_out["promises"])),
                ("承诺事项（未办结）", str(self.promises["open"])), ("承诺事项（已办结）", str(self.promises["done"])),
                ("承诺事项（逾期）", str(self.promises["overdue"]))]


def percent(r: Ratio) -> str:
    return f"{r.rate * 100:.1f}%（{r.numerator}/{r.denominator}）" if r.rate is not None else "—"


def figure_rows(f: Figures) -> list[tuple[str, str]]:
    """(label, value) of every figure, in the order of the statistics table."""
    rows = [("件数", str(f.items)), ("撤回、并案（不计入）", str(f.excluded)), ("办复率", percent(f.reply_rate)),
            ("按时办复率", percent(f.on_time_rate)), ("其中经延期", str(f.extended)), ("逾期未办复", str(f.overdue_open)),
            ("满意率（首轮）", percent(f.satisfaction_first.ratio)), ("未表态（首轮）", str(f.satisfaction_first.no_opinion)),
            ("满意率（最终）", percent(f.satisfaction_final.ratio)), ("未表态（最终）", str(f.satisfaction_final.no_opinion)),
            ("面商率", percent(f.consultation_rate)), ("重新办理件数", str(f.rehandled_items)),
            ("重新办理轮次", str(f.rehandled_rounds))]
    rows += [(f"{c} 类占比", percent(r)) for c, r in f.class_shares().items()]
    return rows


def unit_rows(session: Session, facts: list[ItemFacts], parts: list[ItemFacts] = ()) -> list[UnitRow]:
    """Per unit: its lead items and its 分办 parts (`parts`, from part_facts) as reply figures, co-handling apart."""
    counted = [f for f in facts if f.counted]
    unit_ids = {f.lead_unit_id for f in counted if f.lead_unit_id} | {u for f in counted for u in f.co_unit_ids} \
        | {p.lead_unit_id for p in parts if p.lead_unit_id}
    if not unit_ids:
        return []
    urged = urges_per_unit(session, [f.id for f in counted])
    late: Counter = Counter()  # a co-opinion answered (or waived) after the unit's own deadline, or still overdue
    for unit_id, status, due, met_at in session.execute(
            select(Deadline.unit_id, Deadline.status, Deadline.due_date, Deadline.met_at)
            .where(Deadline.item_id.in_([f.id for f in counted]), Deadline.key == "co_opinion")):
        if status in ("overdue", "met_late") or (met_at is not None and clock.local_day(met_at) > due):
            late[unit_id] += 1
    rows = []
    for unit in session.scalars(select(Unit).where(Unit.id.in_(unit_ids)).order_by(Unit.code)):
        co = [f for f in counted if unit.id in f.co_unit_ids]
        replies = [f for f in counted if f.lead_unit_id == unit.id and not f.separate_unit_ids] + \
            [p for p in parts if p.lead_unit_id == unit.id]  # a 分办 item's lead unit by its own reply
        own = [p for p in parts if p.lead_unit_id == unit.id and p.separate]
        rows.append(UnitRow(unit.id, unit.code, unit.name, figures(replies),
                            len(co), sum(1 for f in co if unit.id in f.co_opinions_sent),
                            sum(1 for f in co if unit.id in f.co_opinions_waived), late.get(unit.id, 0),
                            urged.get(unit.id, 0), len(own), sum(1 for p in own if p.replied_on)))
    rows.sort(key=lambda r: (-r.lead.items, -r.co_items, r.code))
    return rows


def year_statistics(session: Session, year: int, as_of: date | None = None) -> YearStatistics:
    """All figures of `year` as of a date (today by default): totals, per type and per unit."""
    as_of = as_of or clock.today()
    facts = item_facts(session, year, as_of)
    parts = part_facts(session, facts, as_of)
    counted = [f for f in facts if f.counted]
    return YearStatistics(year, as_of, figures(facts), {t: figures([f for f in facts if f.item_type == t])
                                                         for t in ITEM_TYPES}, unit_rows(session, facts, parts), facts,
                          merged=sum(1 for f in facts if f.status == "merged"),
                          waived_opinions=sum(len(f.co_opinions_waived) for f in counted),
                          carried_over=carryover.carried_counts(session, year),
                          carried_out=carryover.carried_counts(session, year + 1),
                          promises=promises.counts(session, year, as_of),
                          separate={"items": sum(1 for f in counted if f.separate_unit_ids),
                                    "unit_replies": sum(1 for p in parts if p.separate and p.replied_on)})


def available_years(session: Session) -> list[int]:
    """Years that have items, newest first."""
    return list(session.scalars(select(Item.year).distinct().order_by(Item.year.desc())))




def for_viewer(session: Session, stats: YearStatistics, user: User) -> YearStatistics:
    """The figures as they are (district-wide counts and rates), but the items behind them (明细) only as
    far as this user may see items: a leader sees the year's figures and the list of their own items."""
    if user.role in visibility.ALL_ITEMS_ROLES:
        return stats
    visible = set(session.scalars(select(Item.id).where(Item.year == stats.year,
                                                        visibility.internal_items_clause(user))))
    return replace(stats, facts=[f for f in stats.facts if f.id in visible])
