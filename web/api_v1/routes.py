"""The API's views: each parses its input, calls the engine function the page calls, and shapes the answer."""
from __future__ import annotations

import base64
import binascii

from flask import abort, g, request
from flask.views import MethodView
from flask_smorest import abort as smorest_abort
from marshmallow import INCLUDE, Schema
from sqlalchemy import select

from engine.deadlines import board as overdue_board
from engine.deadlines.ledger import state as deadline_state
from engine.items import disclosure, merging, portal, queries
from engine.i18n import Msg
from engine.items.registration import NotWithdrawable, register_item, withdraw_item
from engine.models import Deadline, Item, ProcessDefinition, Reply, TaskRow, Unit, User
from engine.people import visibility
from engine.people.authz import NotAllowed, can_act
from engine.reports import statistics
from engine.workflow import forms, incidents, runtime, versions
from engine.workflow.incidents import ProcessFailed
from engine.workflow.validation import InvalidProcess, check_bpmn
from web.api_v1 import IDEMPOTENCY_PARAM, bp, field_problem, lang, problem, scope
from web.api_v1 import schemas as S
from web.helpers import db, error_text, tr
from web.reports import REPORT_ROLES

BOARD_ROLES = ("supervisor", "office", "admin", "leader")  # as /supervision/
IDEMPOTENT = {"parameters": [IDEMPOTENCY_PARAM]}
# OpenAPI links from a registered item to what can be done with it next (clients and stateful tests follow them).
ITEM_LINKS = {name: {"operationRef": "#/paths/" + path.replace("~", "~0").replace("/", "~1") + "/" + method,
                     "parameters": {"item_id": "$response.body#/id"}} for name, path, method in (
    ("GetItem", "/api/v1/items/{item_id}", "get"), ("GetDeadlines", "/api/v1/items/{item_id}/deadlines", "get"),
    ("Withdraw", "/api/v1/items/{item_id}/withdraw", "post"))}


def _me(s) -> User:
    return s.get(User, g.api_user_id)


def _units(s) -> dict[int, str]:
    return dict(s.execute(select(Unit.id, Unit.code)).all())


def _task(row: TaskRow, item: Item, units: dict[int, str]) -> dict:
    return {"id": row.id, "item_id": item.id, "item_number": item.number, "item_title": item.title,
            "step": row.spec_name, "title": row.title, "lane": row.lane, "unit": units.get(row.unit_id),
            "round": row.round, "due_at": row.due_at}


def _deadline(d: Deadline, units: dict[int, str]) -> dict:
    return {"key": d.key, "step": d.step, "round": d.round, "unit": units.get(d.unit_id), "due_date": d.due_date,
            "original_due_date": d.original_due_date, "extended": d.extended, "state": deadline_state(d),
            "warning": tr(Msg.from_json(d.warning_message), lang()) if d.warning_message else d.warning}


def _visible_item(s, item_id: int, field: str = "item", internal: bool = False) -> tuple[Item, frozenset]:
    """The item and the sections of it the token's user may see (the one visibility policy); 404 when the
    user may not see it (or not `field` of it), so ids do not tell what exists."""
    item = s.get(Item, item_id)
    view = visibility.view_of(s, _me(s), item) if item is not None else None
    fields = visibility.fields_for(view)
    if field not in fields or (internal and view != "internal"):
        abort(404, description="事项不存在或无权查看 (no such item, or not yours to see)")
    return item, fields


class _AsProposerReads:
    """An item as a proposer reads it: `current_step` says where it stands for them (portal.Stage, as the portal
    shows it), never the names of the ready steps, which are the staff's deliberations."""

    def __init__(self, item: Item, stage: portal.Stage):
        self._item, self.current_step, self.status = item, tr(stage.text, lang()), stage.status

    def __getattr__(self, name):
        return getattr(self._item, name)


def _shown(s, items: list[Item]) -> list:
    """The items as the token's user may read them: staff as they are, a proposer through _AsProposerReads."""
    if g.api_role != "proposer":
        return list(items)
    stages = portal.stages(s, list(items))
    return [_AsProposerReads(it, stages[it.id]) for it in items]


def _open_tasks(s, item: Item, units) -> list[dict]:
    me = _me(s)
    rows = s.scalars(select(TaskRow).where(TaskRow.item_id == item.id).order_by(TaskRow.created_at)).all()
    return [_task(r, item, units) for r in rows if can_act(me, r)]


def _task_command(run):
    """Run an engine command on a task; None when it went through, else the problem to answer with."""
    try:
        run()
    except forms.FormInvalid as exc:
        return field_problem(exc.errors)
    except NotAllowed as exc:
        abort(403, description=error_text(exc, lang()))
    except (runtime.StaleTask, runtime.TaskGone) as exc:
        return problem(409, "冲突 (conflict)", error_text(exc, lang()), "conflict")
    except ProcessFailed as exc:
        return problem(409, "流程故障 (process incident)", error_text(exc, lang()), "process-incident")
    return None


# --- items ------------------------------------------------------------------------------------------------

def _cursor(value: str | None) -> int | None:
    if not value:
        return None
    try:
        text = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
        kind, _, number = text.partition(":")
        if kind == "i" and number.isdigit():
            return int(number)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    smorest_abort(422, messages={"query": {"cursor": ["游标无效 (invalid cursor)"]}})


def _encode_cursor(item_id: int) -> str:
    return base64.urlsafe_b64encode(f"i:{item_id}".encode()).decode().rstrip("=")


@bp.route("/items")
class Items(MethodView):
    @scope("items:read")
    @bp.arguments(S.ItemQuery, location="query")
    @bp.response(200, S.ItemPage)
    def get(self, args):
        """事项列表: the items the token's user may see, newest first, with the list page's filters."""
        f = queries.ItemFilter(year=args.get("year"), item_type=args.get("type"), status=args.get("status"),
                               unit_id=args.get("unit"), key_only=bool(args.get("key_only")), q=args.get("q"))
        limit = args["limit"]
        with db().reading() as s:
            rows = queries.items_after(s, _me(s), f, _cursor(args.get("cursor")), limit + 1)
            more = len(rows) > limit
            rows = rows[:limit]
            return {"items": _shown(s, rows), "next_cursor": _encode_cursor(rows[-1].id) if more else None}

    @scope("items:write", roles=("office",))
    @bp.arguments(S.Registration)
    @bp.response(201, S.Item)
    @bp.doc(**IDEMPOTENT, responses={"201": {"links": ITEM_LINKS}})
    def post(self, data):
        """登记: register an item and start its process (the registration page's command)."""
        raw = {k: (str(v) if v is not None else "") for k, v in data.items()}
        try:
            with db().transaction() as s:
                item = register_item(s, raw, _me(s))
                item_id = item.id
        except forms.FormInvalid as exc:
            return field_problem(exc.errors)
        with db().reading() as s:
            return s.get(Item, item_id)


@bp.route("/items/<int(min=1, max=2147483647):item_id>")
class ItemView(MethodView):
    @scope("items:read")
    @bp.response(200, S.ItemDetail)
    def get(self, item_id: int):
        """One item with its deadlines, its replies and the open tasks the user may act on."""
        with db().reading() as s:
            item, fields = _visible_item(s, item_id)
            units = _units(s)
            deadlines = s.scalars(select(Deadline).where(Deadline.item_id == item.id).order_by(Deadline.id)).all() \
                if "deadlines" in fields else []
            replies = s.scalars(select(Reply).where(Reply.item_id == item.id).order_by(Reply.id)).all()
            if "replies" not in fields:  # the portal's view: the approved replies only
                replies = [r for r in replies if r.status == "approved" and "approved_replies" in fields]
                if item.merged_into_id and "approved_replies" in fields:  # 并案: the lead item's, as in the portal
                    replies = merging.lead_replies(s, item)
            internal = "replies" in fields  # the portal reads the class the office gave, not the unit's draft one
            return {"item": _shown(s, [item])[0], "deadlines": [_deadline(d, units) for d in deadlines],
                    "replies": [{"round": r.round, "reply_class": r.reply_class if internal else r.final_class or r.reply_class,
                                 "final_class": r.final_class if internal else r.final_class or r.reply_class,
                                 "text": r.text, "status": r.status, "disclosure": r.disclosure} for r in replies],
                    "open_tasks": _open_tasks(s, item, units) if "tasks" in fields else []}


@bp.route("/items/<int(min=1, max=2147483647):item_id>/withdraw")
class Withdraw(MethodView):
    @scope("items:write", roles=("office",))
    @bp.arguments(S.Withdrawal)
    @bp.response(200, S.Item)
    @bp.doc(**IDEMPOTENT)
    def post(self, data, item_id: int):
        """撤回: withdraw an item before it is assigned (completes its assignment task with 'withdraw')."""
        with db().reading() as s:
            _visible_item(s, item_id, internal=True)
        try:
            failed = _task_command(lambda: withdraw_item(db(), item_id, g.api_user_id, data["reason"]))
        except NotWithdrawable as exc:
            return problem(409, "不能撤回 (cannot withdraw)", error_text(exc, lang()), "not-withdrawable")
        if failed is not None:
            return failed
        with db().reading() as s:
            return s.get(Item, item_id)


@bp.route("/items/<int(min=1, max=2147483647):item_id>/deadlines")
class ItemDeadlines(MethodView):
    @scope("items:read")
    @bp.response(200, S.Deadline(many=True))
    def get(self, item_id: int):
        """The item's deadlines (期限) with their state, as on the item page."""
        with db().reading() as s:
            item, _fields = _visible_item(s, item_id, "deadlines")
            units = _units(s)
            rows = s.scalars(select(Deadline).where(Deadline.item_id == item.id).order_by(Deadline.id)).all()
            return [_deadline(d, units) for d in rows]


# --- tasks ------------------------------------------------------------------------------------------------

@bp.route("/tasks")
class Tasks(MethodView):
    @scope("tasks:read")
    @bp.arguments(S.PageQuery, location="query")
    @bp.response(200, S.TaskPage)
    def get(self, args):
        """我的待办: the tasks the user may act on, the soonest due first (the inbox)."""
        with db().reading() as s:
            me, units = _me(s), _units(s)
            rows = queries.inbox(s, me, args["page"])
            return {"tasks": [_task(r, item, units) for r, item, _unit in rows],
                    "total": queries.inbox_count(s, me), "page": args["page"]}


def _open(s, task_id: str) -> TaskRow:
    try:
        return runtime.open_task(s, task_id, _me(s))
    except runtime.TaskGone as exc:
        abort(404, description=error_text(exc, lang()))
    except NotAllowed as exc:
        abort(403, description=error_text(exc, lang()))


@bp.route("/tasks/<task_id>")
class TaskView(MethodView):
    @scope("tasks:read")
    @bp.response(200, S.Task)
    def get(self, task_id: str):
        """One task with its BPMN form as a JSON Schema: the body `complete` takes."""
        with db().reading() as s:
            row = _open(s, task_id)
            form = runtime.task_form(s, row)
            return {**_task(row, s.get(Item, row.item_id), _units(s)), "form_key": form.get("key"),
                    "form": forms.json_schema(form, runtime.choices(s))}


class TaskInput(Schema):
    """The form's fields by id (see the task's `form`)."""

    class Meta:
        unknown = INCLUDE


@bp.route("/tasks/<task_id>/complete")
class Complete(MethodView):
    @scope("tasks:write")
    @bp.arguments(TaskInput)
    @bp.response(200, S.Completed)
    @bp.doc(**IDEMPOTENT)
    def post(self, data, task_id: str):
        """办理: complete the task with its form, the task page's command (validated against the BPMN form)."""
        with db().reading() as s:
            _open(s, task_id)
        raw = {k: v for k, v in data.items() if isinstance(v, (str, int, float, bool, list)) or v is None}
        done: list[int] = []
        failed = _task_command(lambda: done.append(runtime.complete(db(), task_id, g.api_user_id, raw)))
        if failed is not None:
            return failed
        item_id = done[0]
        with db().reading() as s:
            item = s.get(Item, item_id)
            return {"item": _shown(s, [item])[0], "open_tasks": _open_tasks(s, item, _units(s))}


# --- supervision and reports --------------------------------------------------------------------------------

@bp.route("/board")
class BoardView(MethodView):
    @scope("reports:read", roles=BOARD_ROLES)
    @bp.arguments(S.BoardQuery, location="query")
    @bp.response(200, S.Board)
    def get(self, args):
        """督查看板: overdue and due-soon deadlines, key items first."""
        f = overdue_board.BoardFilter(unit_id=args.get("unit"), key=args.get("deadline"),
                                      item_type=args.get("type"), key_only=bool(args.get("key_only")),
                                      show=args["show"])
        with db().reading() as s:
            f.viewer = _me(s)
            units = _units(s)
            return {"rows": [{"item": r.item, "deadline": _deadline(r.deadline, units), "days_late": r.days_late}
                             for r in overdue_board.board(s, f)]}


@bp.route("/statistics/<int(min=2000, max=2100):year>")
class StatisticsView(MethodView):
    @scope("reports:read", roles=REPORT_ROLES)
    @bp.response(200, S.Statistics)
    def get(self, year: int):
        """统计: the year's figures, as `banli stats --year YEAR --json` prints them."""
        if not 2000 <= year <= 2100:
            abort(404, description="年度须在 2000-2100 之间 (the year must be 2000-2100)")
        with db().reading() as s:
            return {"year": year, "figures": statistics.year_statistics(s, year).as_dict()}


@bp.route("/replies")
class Replies(MethodView):
    @bp.arguments(S.ReplyQuery, location="query")
    @bp.response(200, S.PublishedReplyPage)
    def get(self, args):
        """答复公开: published replies, redacted as on the public pages (any valid token)."""
        f = disclosure.PublicFilter(year=args.get("year"), item_type=args.get("type"), unit_id=args.get("unit"),
                                    q=args.get("q"), page=args["page"])
        with db().reading() as s:
            rows, total = disclosure.search(s, f)
        return {"replies": rows, "total": total, "page": args["page"]}


@bp.route("/replies/<int(min=1, max=2147483647):item_id>")
class ReplyView(MethodView):
    @bp.response(200, S.PublishedReply)
    def get(self, item_id: int):
        """One published reply; 404 when the item is not published."""
        with db().reading() as s:
            reply = disclosure.published_reply(s, item_id)
        if reply is None:
            abort(404, description="答复未公开 (no published reply)")
        return reply


# --- processes and incidents --------------------------------------------------------------------------------

def _version(d: ProcessDefinition, running: int | None = None, total: int | None = None) -> dict:
    out = {k: getattr(d, k) for k in ("id", "process_id", "name", "version", "sha256", "filename", "deployed_by",
                                       "deployed_at")}
    if running is not None:
        out.update(running=running, total=total)
    return out


@bp.route("/processes")
class Processes(MethodView):
    @scope("processes:read", roles=("admin", "office", "supervisor"))
    @bp.response(200, S.ProcessList)
    def get(self):
        """流程版本: every deployed version with how many items run on it."""
        with db().reading() as s:
            return {"versions": [_version(v.definition, v.running, v.total)
                                 for p in versions.version_overview(s) for v in p.versions]}

    @scope("processes:write", roles=("admin",))
    @bp.arguments(S.BpmnUpload)
    @bp.response(201, S.Deployed)
    @bp.alt_response(200, schema=S.Deployed, description="identical bytes: nothing new was deployed")
    @bp.doc(**IDEMPOTENT)
    def post(self, data):
        """部署: check and deploy a BPMN file as the next version (422 with the problems when it fails)."""
        try:
            with db().transaction() as s:
                definition, created = versions.deploy_checked(s, data["xml"].encode(), data["filename"],
                                                              _me(s).username)
                body = {"created": created, "version": _version(definition)}
        except InvalidProcess as exc:
            return problem(422, "流程未通过检查 (the process failed its checks)", str(exc), "invalid-process",
                           errors=[{"field": p.element_id or "xml", "code": "bpmn", "message": tr(p.message, lang()),
                                    "line": p.line} for p in exc.problems])
        return body, (201 if created else 200)


@bp.route("/processes/check")
class ProcessCheck(MethodView):
    @scope("processes:read", roles=("admin",))
    @bp.arguments(S.BpmnUpload)
    @bp.response(200, S.CheckResult)
    def post(self, data):
        """检查: validate a BPMN file as a deploy would, deploying nothing."""
        problems = check_bpmn(data["xml"].encode(), data["filename"])
        return {"ok": not problems, "problems": [{"message": tr(p.message, lang()), "element_id": p.element_id,
                                                  "line": p.line} for p in problems]}


@bp.route("/incidents")
class Incidents(MethodView):
    @scope("processes:read", roles=("admin",))
    @bp.response(200, S.IncidentList)
    def get(self):
        """流程故障: open incidents."""
        with db().reading() as s:
            return {"incidents": incidents.open_incidents(s)}
