"""并案: items on the same subject merged into one handled item (the lead item, chosen by the office).

A merged item keeps its number and proposer and shows "已并入 X"; its own process ends (cancelled, not
closed) and it leaves the statistics' denominators. Its proposer is told of the lead item's assignment,
reply and re-handling, reads the lead item's replies in the portal and rates them there: each proposer's
rating is kept on their own item (分别评价), while the figures count the lead item once. They rate within the
lead item's own rating window for that reply, reminded before it ends (`remind_raters`, at every tick):
past it, unrated reads as 未表态, as on the lead item.
"""
from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from engine.i18n import Msg, N_
from engine import clock
from engine.deadlines.calendar import current_calendar
from engine.deadlines.expressions import calendar_scope, remind_day
from engine.deadlines.ledger import LABELS
from engine.deadlines.rules import rules_for
from engine.models import AuditEvent, Deadline, Item, ProcessInstance, Rating, Reply, TaskRow, User
from engine.people.authz import NotAllowed
from engine.people.notifications import notify, role_users
from engine.workflow.forms import FieldError, FormInvalid
from engine.workflow.runtime import Directory, load_workflow, merged_unrated, rating_window, sync_derived

# Before a unit has the item (登记 or 交办), an item can still be merged into another.
MERGEABLE = ("registered", "assigning")
CLOSED = ("withdrawn", "merged", "closed")
# An item not yet replied takes others in: once its reply is approved, it was written without them, and their
# proposers would be asked at once to rate it. The status alone does not say so: re-handled, a replied item is
# 办理中 again (round 2), so NEVER_REPLIED also asks that no round of it has an approved reply (nor a 分办 part).
TAKES_IN = ("registered", "assigning", "signing", "handling", "replying")
NEVER_REPLIED = ~exists().where(Reply.item_id == Item.id, Reply.status == "approved")
# A rating window is weeks long (15 working days by default): the reminders look no further ahead.
RATER_HORIZON_DAYS = 62
VERDICTS = ("satisfied", "basically_satisfied", "unsatisfied")
VERDICT_NAMES = {"satisfied": N_("满意"), "basically_satisfied": N_("基本满意"), "unsatisfied": N_("不满意")}


def merge_candidates(session: Session, item: Item) -> list[Item]:
    """Items of the same year and type this one may be merged into (not itself, nor finished or merged ones):
    建议 are accounted for to the people's congress, 提案 to the CPPCC, each in its own figures."""
    if item.status not in MERGEABLE:
        return []
    return list(session.scalars(select(Item).where(Item.year == item.year, Item.item_type == item.item_type,
                                                   Item.id != item.id, Item.status.in_(TAKES_IN), NEVER_REPLIED)
                                .order_by(Item.number)))


def merge_item(session: Session, user: User, item_id: int, into_number: str) -> Item:
    """Merge item `item_id` into the item numbered `into_number` (same year); ends the merged item's process."""
    if user.role != "office":
        raise NotAllowed(N_("只有区府办可以并案"))
    item = session.get(Item, item_id)
    if item is None:
        raise _refused("reference")
    if item.status not in MERGEABLE:
        raise _refused("merge_state")
    targets = session.scalars(select(Item).where(Item.year == item.year,
                                                 Item.number == (into_number or "").strip())).all()
    target = next((t for t in targets if t.item_type == item.item_type), None)
    if target is None and targets:  # a number of the other type: 建议 and 提案 are not merged together
        raise _refused("merge_type")
    if target is None or target.id == item.id:
        raise _refused("merge_target")
    instance = _lock_both(session, item, target)
    if item.status not in MERGEABLE:  # read again under the locks: it may have been merged or assigned meanwhile
        raise _refused("merge_state")
    if target.status in CLOSED:
        raise _refused("merge_target")
    if target.status not in TAKES_IN or session.scalar(select(Item.id).where(Item.id == target.id,
                                                                           NEVER_REPLIED)) is None:
        raise _refused("merge_replied", target.number)
    item.merged_into_id = target.id
    # Items merged earlier into this one follow it into the lead item.
    for child in session.scalars(select(Item).where(Item.merged_into_id == item.id)):
        child.merged_into_id = target.id
    if instance is not None:
        wf, _ = load_workflow(session, instance)
        with calendar_scope(current_calendar(session)):
            wf.cancel()
            sync_derived(session, instance, item, wf, Directory.load(session))
        instance.status = "merged"
    item.status, item.current_step = "merged", None
    session.add(AuditEvent(item_id=item.id, actor_id=user.id, action="merged", title=N_("并案：并入 %(number)s", number=target.number),
                           data={"into": target.id}))
    session.add(AuditEvent(item_id=target.id, actor_id=user.id, action="merged_in", title=N_("并案：%(number)s 并入本件", number=item.number),
                           data={"from": item.id}))
    notify(session, [item.proposer_id], item, "proposer",
           N_("您的建议已并入 %(number)s 办理", number=target.number) if item.item_type == "suggestion"
           else N_("您的提案已并入 %(number)s 办理", number=target.number),
           f"merged:{item.id}", body=target.title, link=f"/portal/items/{item.id}")
    session.flush()
    return item


def _refused(code: str, param: str = "") -> FormInvalid:
    return FormInvalid([FieldError("into", N_("并入"), code, param)])


def _lock_both(session: Session, item: Item, target: Item) -> ProcessInstance | None:
    """Lock both items' running instances (PostgreSQL; in id order, as any two merges take them) and read both
    items again: what the checks read must be what was committed last. A command on either item locks its
    instance first, so a reply approved meanwhile on the lead item is seen (merge_replied), and of two items
    merged into each other at once the second merge finds the first gone (merge_target), where each had seen
    the other still open. The merged item's running instance, or None."""
    instances = session.scalars(select(ProcessInstance)
                                .where(ProcessInstance.item_id.in_((item.id, target.id)),
                                       ProcessInstance.status == "running")
                                .order_by(ProcessInstance.id).with_for_update()
                                .execution_options(populate_existing=True)).all()
    session.scalars(select(Item).where(Item.id.in_((item.id, target.id)))
                    .execution_options(populate_existing=True)).all()
    return next((i for i in instances if i.item_id == item.id), None)


def remind_raters(session: Session) -> int:
    """Remind the proposer of each item merged into another to rate the lead item's latest reply before its
    rating window ends, at the lead the processes' rating reminder takes (the last of the year's
    `reminder_leads`); once per item, round and window. The lead proposer's reminder is a timer on their own
    rating step, gone once they rate: the others rate the same reply in the same window, and unrated after a
    reminder counts as 未表态 (DOMAIN.md). Returns how many were sent."""
    today = clock.today()
    latest = (select(func.max(Reply.round)).where(Reply.item_id == Item.merged_into_id, Reply.status == "approved")
              .scalar_subquery())
    windows = session.execute(
        select(Item.id, Item.year, Item.proposer_id, Deadline.round, func.min(Deadline.due_date))
        .join(Deadline, Deadline.item_id == Item.merged_into_id)
        .where(Item.status == "merged", Deadline.key == "rating", Deadline.round == latest,
               Deadline.due_date >= today, Deadline.due_date <= today + timedelta(days=RATER_HORIZON_DAYS),
               ~exists().where(Rating.item_id == Item.id, Rating.round == Deadline.round))
        .group_by(Item.id, Item.year, Item.proposer_id, Deadline.round)).all()
    calendar, leads, sent = current_calendar(session), {}, 0
    for item_id, year, proposer_id, rnd, due in windows:
        if year not in leads:  # the year's rules, read once a tick
            leads[year] = rules_for(session, year)["reminder_leads"][-1]
        lead = leads[year]
        if today < remind_day(calendar, due, lead):
            continue
        sent += notify(session, [proposer_id], item_id, "reminder",
                       N_("催办提醒：%(deadline)s将于 %(date)s 到期", deadline=Msg(LABELS["rating"]), date=due.isoformat()),
                       f"remind:merged_rating:{item_id}:{rnd}:{due}", link=f"/portal/items/{item_id}")
    return sent


def merged_items(session: Session, item: Item) -> list[Item]:
    return list(session.scalars(select(Item).where(Item.merged_into_id == item.id).order_by(Item.number)))


def lead_replies(session: Session, item: Item) -> list[Reply]:
    """The approved replies a merged item's proposer receives: those of the lead item."""
    if item.merged_into_id is None:
        return []
    return list(session.scalars(select(Reply).where(Reply.item_id == item.merged_into_id,
                                                    Reply.status == "approved").order_by(Reply.id)))


def window_passed(due: date | None) -> bool:
    return due is not None and due < clock.today()


def may_rate_merged(session: Session, user: User, item: Item) -> bool:
    """The merged item's own proposer rates the lead item's latest approved reply, once per round, within its
    window: the lead proposer's rating task ends with it (未表态), and so does theirs."""
    replies = lead_replies(session, item)
    if user.role != "proposer" or item.proposer_id != user.id or not replies:
        return False
    if window_passed(rating_window(session, item.merged_into_id, replies[-1].round)):
        return False
    return session.scalar(select(Rating.id).where(Rating.item_id == item.id,
                                                  Rating.round == replies[-1].round)) is None


def rate_merged(session: Session, user: User, item_id: int, attitude: str, result: str, reason: str) -> Rating:
    """评价 by the proposer of a merged item, kept on their own item for the lead reply's round."""
    item = session.get(Item, item_id)
    if item is None or not may_rate_merged(session, user, item):
        raise NotAllowed(N_("此件无需您评价"))
    errors = []
    if attitude not in VERDICTS:
        errors.append(FieldError("attitude", N_("办理态度"), "enum"))
    if result not in VERDICTS:
        errors.append(FieldError("result", N_("办理结果"), "enum"))
    if "unsatisfied" in (attitude, result) and not (reason or "").strip():
        errors.append(FieldError("rating_reason", N_("不满意的理由"), "required"))
    if errors:
        raise FormInvalid(errors)
    rnd = lead_replies(session, item)[-1].round
    rating = Rating(item_id=item.id, round=rnd, attitude=attitude, result=result,
                    reason=(reason or "").strip() or None, rated_at=clock.now())
    session.add(rating)
    session.add(AuditEvent(item_id=item.id, actor_id=user.id, action="rated", title=N_("评价（并案答复）"),
                           data={"attitude": attitude, "result": result, "round": rnd}))
    _tell_deciding_office(session, item, rating)
    return rating


def _tell_deciding_office(session: Session, item: Item, rating: Rating) -> None:
    """The office's re-handling decision on the lead item waits for this rating (formrules.rehandling_order):
    nothing else tells it that the decision is open now (or which merged items it still waits for). With no
    decision waiting (the lead proposer rated 满意, or has not rated yet), a 不满意 is told all the same: on
    不满意 the office studies it (DOMAIN.md), and it sat on the merged item unseen."""
    lead = session.get(Item, item.merged_into_id)
    deciding = session.scalar(select(TaskRow.id).where(
        TaskRow.item_id == lead.id, TaskRow.form_key == "rehandling_order", TaskRow.round == rating.round,
        TaskRow.unit_id.is_(None)).limit(1))  # a 分办 unit's part (unit_id set) is not rated by merged items
    verdicts = dict(number=item.number, attitude=Msg(VERDICT_NAMES[rating.attitude]),
                    result=Msg(VERDICT_NAMES[rating.result]))
    if deciding is None:
        if "unsatisfied" in (rating.attitude, rating.result):
            _tell_office(session, lead, item, rating, N_(
                "并入本件的 %(number)s 评价为不满意（办理态度%(attitude)s，办理结果%(result)s），本件没有待作出的重新办理决定：请研究处理",
                **verdicts))
        return
    waiting = merged_unrated(session, lead, rating.round, False)
    title = (N_("并入本件的 %(number)s 已评价（办理态度%(attitude)s，办理结果%(result)s）：可研究是否重新办理", **verdicts)
             if not waiting else
             N_("并入本件的 %(number)s 已评价（办理态度%(attitude)s，办理结果%(result)s），尚待 %(waiting)s 评价",
                waiting="、".join(waiting), **verdicts))
    _tell_office(session, lead, item, rating, title)


def _tell_office(session: Session, lead: Item, item: Item, rating: Rating, title) -> None:
    notify(session, role_users(session, "office"), lead, "rating", title, f"merged_rated:{item.id}:{rating.round}",
           link=f"/items/{lead.id}")
