"""The API's request and response shapes (marshmallow); the OpenAPI document is generated from them."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from engine.events.outbox import EVENT_TYPES
from engine.items.portal import STAGE_LABELS
from engine.models import ITEM_STATUSES, ITEM_TYPES
from engine.text import ITEM_NUMBER
from engine.workflow.forms import MESSAGES


class Problem(Schema):
    """RFC 9457 problem details."""

    type = fields.String(required=True, metadata={"description": "a URI naming the kind of problem"})
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String()
    instance = fields.String()
    errors = fields.List(fields.Dict(), metadata={"description": "per field: field, code, message"})


class Unit(Schema):
    id = fields.Integer(required=True)
    code = fields.String(required=True)
    name = fields.String(required=True)


CURRENT_STEP = (
    "Staff: the names of the ready steps (、-separated), null once the item has ended. A proposer (代表委员) reads "
    "where the item stands as the portal shows it, never the steps: "
    + " / ".join(STAGE_LABELS.values()) + "; an item merged into another (并案): 已并入 <number>，<stage>. "
    "In the language of Accept-Language.")


STATUS = (
    "Staff: the item's status. A proposer (代表委员) reads the portal's stage instead, never the staff's: "
    + ", ".join(STAGE_LABELS) + ", or merged (并案); and the filters `status` and `unit` do not apply to them.")
PROPOSER_STATUSES = tuple(STAGE_LABELS) + ("merged",)


class Item(Schema):
    id = fields.Integer(required=True)
    year = fields.Integer(required=True)
    type = fields.String(required=True, attribute="item_type", validate=validate.OneOf(ITEM_TYPES))
    number = fields.String(required=True)
    session = fields.String(allow_none=True)
    title = fields.String(required=True)
    content = fields.String(required=True)
    proposer = fields.Function(lambda i: i.proposer.username, required=True)
    proposer_name = fields.Function(lambda i: i.proposer.name, required=True)
    cosigners = fields.String(allow_none=True)
    category = fields.String(allow_none=True)
    suggested_units = fields.String(allow_none=True)
    status = fields.String(required=True, validate=validate.OneOf(sorted(set(ITEM_STATUSES) | set(PROPOSER_STATUSES))),
                           metadata={"description": STATUS})
    current_step = fields.String(allow_none=True, metadata={"description": CURRENT_STEP})
    lead_unit = fields.Function(lambda i: i.lead_unit.code if i.lead_unit else None, allow_none=True)
    is_key = fields.Boolean(required=True)
    is_complex = fields.Boolean(required=True)
    round = fields.Integer(required=True)
    registered_at = fields.DateTime(required=True)
    assigned_at = fields.DateTime(allow_none=True)
    replied_at = fields.DateTime(allow_none=True)
    reply_class = fields.String(allow_none=True)
    closed_at = fields.DateTime(allow_none=True)


class ItemPage(Schema):
    items = fields.List(fields.Nested(Item), required=True)
    next_cursor = fields.String(allow_none=True, required=True,
                                metadata={"description": "pass as `cursor` for the next page; null on the last"})


class Query(Schema):
    """A query string's parameters: one the operation does not know is refused (see api_v1.StrictParser)."""

    error_messages = {"unknown": "未知参数 (unknown parameter)"}


class ItemQuery(Query):
    year = fields.Integer(validate=validate.Range(2000, 2100))
    type = fields.String(validate=validate.OneOf(ITEM_TYPES))
    status = fields.String(validate=validate.OneOf(ITEM_STATUSES))
    unit = fields.Integer(validate=validate.Range(1, 2**31 - 1), metadata={"description": "a unit id"})
    key_only = fields.Boolean()
    q = fields.String(validate=validate.Length(max=100))
    cursor = fields.String(validate=validate.Length(max=40))
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 200))


class Registration(Schema):
    """登记: the fields of the registration page."""

    item_type = fields.String(required=True, validate=validate.OneOf(ITEM_TYPES))
    title = fields.String(required=True, validate=validate.Length(1, 300))
    content = fields.String(required=True, validate=validate.Length(min=1, max=20000))
    proposer = fields.String(required=True, validate=validate.Length(1, 80),
                             metadata={"description": "the lead proposer's username"})
    year = fields.Integer(validate=validate.Range(2000, 2100))
    number = fields.String(validate=[validate.Length(max=40), validate.Regexp(ITEM_NUMBER, error="{} ({})".format(
        *MESSAGES["item_number"]))], metadata={"description": "left out: the next number of the year and type"})
    session = fields.String(validate=validate.Length(max=80))
    cosigners = fields.String(validate=validate.Length(max=2000))
    category = fields.String(validate=validate.Length(max=80))
    suggested_units = fields.String(validate=validate.Length(max=300))


class Withdrawal(Schema):
    reason = fields.String(required=True, validate=validate.Length(1, 2000))


class Deadline(Schema):
    key = fields.String(required=True)
    step = fields.String(allow_none=True)
    round = fields.Integer(required=True)
    unit = fields.String(allow_none=True)
    due_date = fields.Date(required=True)
    original_due_date = fields.Date(required=True)
    extended = fields.Boolean(required=True)
    state = fields.String(required=True, validate=validate.OneOf(
        ("on_time", "due_soon", "overdue", "met", "met_late", "expired", "waived", "void")))
    warning = fields.String(allow_none=True)


class Reply(Schema):
    round = fields.Integer(required=True)
    reply_class = fields.String(required=True)
    final_class = fields.String(allow_none=True)
    text = fields.String(required=True)
    status = fields.String(required=True)
    disclosure = fields.String(required=True)


class TaskSummary(Schema):
    id = fields.String(required=True)
    item_id = fields.Integer(required=True)
    item_number = fields.String(required=True)
    item_title = fields.String(required=True)
    step = fields.String(required=True, metadata={"description": "the BPMN id of the user task"})
    title = fields.String(required=True)
    lane = fields.String(allow_none=True)
    unit = fields.String(allow_none=True)
    round = fields.Integer(required=True)
    due_at = fields.DateTime(allow_none=True)


class TaskPage(Schema):
    tasks = fields.List(fields.Nested(TaskSummary), required=True)
    total = fields.Integer(required=True)
    page = fields.Integer(required=True)


class Task(TaskSummary):
    form_key = fields.String(allow_none=True)
    form = fields.Dict(required=True, metadata={"description": "the BPMN form as a JSON Schema (2020-12)"})


class ItemDetail(Schema):
    item = fields.Nested(Item, required=True)
    deadlines = fields.List(fields.Nested(Deadline), required=True)
    replies = fields.List(fields.Nested(Reply), required=True)
    open_tasks = fields.List(fields.Nested(TaskSummary), required=True)


class Completed(Schema):
    item = fields.Nested(Item, required=True)
    open_tasks = fields.List(fields.Nested(TaskSummary), required=True)


class PageQuery(Query):
    page = fields.Integer(load_default=1, validate=validate.Range(1, 100000))


class BoardQuery(Query):
    unit = fields.Integer(validate=validate.Range(1, 2**31 - 1))
    deadline = fields.String(validate=validate.Length(max=40))
    type = fields.String(validate=validate.OneOf(ITEM_TYPES))
    key_only = fields.Boolean()
    show = fields.String(load_default="all", validate=validate.OneOf(("all", "overdue", "due_soon")))


class BoardRow(Schema):
    item = fields.Nested(Item, required=True)
    deadline = fields.Nested(Deadline, required=True)
    days_late = fields.Integer(required=True)


class Board(Schema):
    rows = fields.List(fields.Nested(BoardRow), required=True)


class Statistics(Schema):
    year = fields.Integer(required=True)
    figures = fields.Dict(required=True, metadata={"description": "the figures of `banli stats --json`"})


class ReplyQuery(Query):
    year = fields.Integer(validate=validate.Range(2000, 2100))
    type = fields.String(validate=validate.OneOf(ITEM_TYPES))
    unit = fields.Integer(validate=validate.Range(1, 2**31 - 1))
    q = fields.String(validate=validate.Length(max=100))
    page = fields.Integer(load_default=1, validate=validate.Range(1, 100000))


class PublishedReply(Schema):
    item_id = fields.Integer(required=True)
    year = fields.Integer(required=True)
    item_type = fields.String(required=True)
    number = fields.String(required=True)
    title = fields.String(required=True)
    proposer = fields.String(required=True)
    unit = fields.String(allow_none=True)
    scope = fields.String(required=True)
    reply_class = fields.String(allow_none=True)
    text = fields.String(required=True)
    content = fields.String(allow_none=True)
    published_at = fields.DateTime(required=True)


class PublishedReplyPage(Schema):
    replies = fields.List(fields.Nested(PublishedReply), required=True)
    total = fields.Integer(required=True)
    page = fields.Integer(required=True)


class ProcessVersion(Schema):
    id = fields.Integer(required=True)
    process_id = fields.String(required=True)
    name = fields.String(required=True)
    version = fields.Integer(required=True)
    sha256 = fields.String(required=True)
    filename = fields.String(required=True)
    deployed_by = fields.String(required=True)
    deployed_at = fields.DateTime(required=True)
    running = fields.Integer()
    total = fields.Integer()


class ProcessList(Schema):
    versions = fields.List(fields.Nested(ProcessVersion), required=True)


class BpmnUpload(Schema):
    xml = fields.String(required=True, validate=validate.Length(1, 2_000_000),
                        metadata={"description": "the BPMN 2.0 XML"})
    filename = fields.String(load_default="upload.bpmn", validate=validate.Length(1, 200))


class CheckProblem(Schema):
    message = fields.String(required=True)
    element_id = fields.String(allow_none=True)
    line = fields.Integer(allow_none=True)


class CheckResult(Schema):
    ok = fields.Boolean(required=True)
    problems = fields.List(fields.Nested(CheckProblem), required=True)


class Deployed(Schema):
    created = fields.Boolean(required=True, metadata={"description": "false when identical bytes were deployed"})
    version = fields.Nested(ProcessVersion, required=True)


class Incident(Schema):
    id = fields.Integer(required=True)
    item_id = fields.Integer(required=True)
    action = fields.String(required=True)
    failed_step = fields.String(allow_none=True)
    error_type = fields.String(required=True)
    message = fields.String(required=True)
    status = fields.String(required=True)
    created_at = fields.DateTime(required=True)


class IncidentList(Schema):
    incidents = fields.List(fields.Nested(Incident), required=True)


class EventTypes(Schema):
    types = fields.Dict(keys=fields.String(validate=validate.OneOf(list(EVENT_TYPES))), values=fields.String(),
                        required=True)
