"""Request helpers shared by the blueprints: the database, labels and template filters."""
from __future__ import annotations

from functools import wraps
from urllib.parse import urlsplit

from flask import abort, current_app, render_template, request
from flask_babel import get_locale, gettext as _, lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup

from engine import clock
from engine.db import Database


def db() -> Database:
    return current_app.extensions["banli_db"]


STATUS_LABELS = {
    "registered": _l("已登记"), "assigning": _l("待交办"), "signing": _l("待签收"), "handling": _l("办理中"),
    "replying": _l("答复中"), "rating": _l("待评价"), "rehandling": _l("研究重办"), "publishing": _l("待公开"),
    "closed": _l("已办结"), "withdrawn": _l("已撤回"), "merged": _l("已并案"),
}
TYPE_LABELS = {"suggestion": _l("建议"), "proposal": _l("提案")}
ROLE_LABELS = {
    "office": _l("区府办"), "unit_handler": _l("承办单位经办人"), "unit_head": _l("单位负责人"),
    "leader": _l("区领导"), "proposer": _l("代表委员"), "supervisor": _l("督查"), "admin": _l("流程管理员"),
}
LANE_LABELS = {
    "office": _l("区府办"), "lead_unit": _l("主办单位"), "co_unit": _l("协办单位"), "unit_head": _l("单位负责人"),
    "leader": _l("区领导"), "proposer": _l("代表委员"),
    "sep_unit": _l("分办单位"), "sep_unit_head": _l("分办单位负责人"),
}
ACTION_LABELS = {"registered": _l("登记"), "started": _l("启动流程"), "completed": _l("办理"), "attached": _l("上传附件")}
ATTACHMENT_KINDS = {"registration": _l("登记材料"), "pledge": _l("责任状"), "consultation": _l("面商材料"),
                    "reply": _l("答复材料"), "letter_scan": _l("盖章答复函")}
ASSIGNMENT_STATES = {"assigned": _l("待签收"), "signed": _l("已签收"), "return_requested": _l("申请退回中"),
                     "returned": _l("已退回"), "reassigned": _l("已改派"), "done": _l("已提出意见"),
                     "waived": _l("已免除意见"), "replied": _l("已答复")}
URGE_CHANNELS = {"system": _l("系统催办"), "phone": _l("电话催办"), "notice": _l("书面督办通知")}
CHECK_KINDS = {"phone": _l("电话督查"), "visit": _l("实地督查"), "notice": _l("督办通知")}
REPLY_STATES = {"drafted": _l("待签发"), "signed": _l("待审核"), "revise": _l("负责人退回修改"),
                "returned": _l("区府办驳回"), "approved": _l("已审核通过")}
DEADLINE_STATES = {"on_time": _l("正常"), "due_soon": _l("即将到期"), "overdue": _l("已超期"), "met": _l("按期完成"),
                   "met_late": _l("超期完成"), "expired": _l("期满未表态"), "waived": _l("区府办已免除"),
                   "void": _l("已作废")}
# A reply's disclosure as the unit proposes it: the names of the reply form's options, shown through |bpmn
# (Publish a summary ...), not CHOICE_LABELS' names of what was published (Summary published ...).
PROPOSED_DISCLOSURE = {"full": "全文公开", "summary": "摘要公开", "none": "不公开"}
CHOICE_LABELS = {
    "satisfied": _l("满意"), "basically_satisfied": _l("基本满意"), "unsatisfied": _l("不满意"), "no_opinion": _l("未表态"),
    "meeting": _l("座谈会"), "visit": _l("上门走访"), "phone": _l("电话"), "online": _l("线上"), "other": _l("其他"),
    "full": _l("全文公开"), "summary": _l("摘要公开"), "none": _l("不公开"),
}


# Punctuation between values (a label and its value, a note after what it qualifies, the items of a list) in the
# reader's language: the full-width marks in Chinese, ASCII ones with their spaces in English. A template writes
# these, never a full-width mark outside a msgid, which would show on the English pages as it is
# (tests/test_template_punctuation.py); punctuation that belongs to words goes into their msgid.
COLON = _l("：")  # "label：value"; English ": "
LIST_SEP = _l("、")  # between the items of a list; English ", "
FULL_STOP = _l("。")  # between two sentences; English ". "


def paren(text) -> Markup:
    """A note in brackets after what it qualifies: "（text）" in Chinese, " (text)" in English. The text is
    escaped unless it is markup already (a translated message)."""
    return Markup(_("（%(text)s）")) % {"text": text}


def roles_required(*roles):
    """Only users of these roles reach the view (403 otherwise)."""
    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                return current_app.login_manager.unauthorized()
            if current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)
        return wrapped
    return decorator


def item_filter(args, page: int = 1):
    """The item-list filters of a query string (/items/ and its Excel export read the same ones)."""
    from engine.items.queries import ItemFilter

    return ItemFilter(year=args.get("year", type=int), item_type=args.get("type") or None,
                      status=args.get("status") or None, unit_id=args.get("unit", type=int),
                      key_only=args.get("key") == "1", q=args.get("q") or None, page=page)


def uploads(files) -> list:
    """Uploaded files as the engine takes them (read up to one byte past the limit: the engine refuses)."""
    from engine.items.attachments import MAX_BYTES, Upload

    return [Upload(f.filename or "", f.read(MAX_BYTES + 1)) for f in files if f and f.filename]


def safe_redirect_target(target: str | None) -> str | None:
    """`target` when it is a path on this site, else None: the one check every redirect taken from a request
    (next=, the referrer) goes through. Refused: other hosts (//evil, /\\evil, scheme:), and any control
    character or backslash, since browsers drop tabs and line breaks and read \\ as / (/\t/evil is //evil)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return None
    if any(ord(c) < 0x20 or ord(c) == 0x7F or c == "\\" for c in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/") or parts.path.startswith("//"):
        return None
    return target


def current_lang() -> str:
    """'zh' or 'en': the language engine messages are rendered in."""
    return "en" if str(get_locale() or "zh").startswith("en") else "zh"


def tr(text, lang: str | None = None) -> str:
    """Engine text (a catalog msgid, or an `engine.i18n.Msg` with its parameters) in the reader's language,
    or in `lang` where no Flask-Babel locale applies (the API picks its own)."""
    from engine.i18n import render, translator

    return render(text, translator(lang) if lang else _)


def process_text(text: str | None) -> str:
    """A text of a BPMN file (a step's name, a form label, an enum value's name) in the reader's language,
    from the catalog's process content; a name the catalog lacks shows as written."""
    from engine.workflow.process_text import translate_name

    return translate_name(_, text) if text else (text or "")


def required_clause(words: dict) -> str:
    """One clause of a field's `required_when`, as its form says it: “field” is “value”."""
    return _("“%(field)s”为“%(value)s”", field=process_text(words["field"]), value=name_text(words["value"]))


def name_text(text: str | None) -> str:
    """A name that is a step's BPMN name or else catalog text (a timeline title, a confirmation), in the
    reader's language."""
    step = process_text(text)
    return step if step != text else tr(text)


def steps(text: str | None) -> str:
    """An item's current steps (BPMN names joined with 、, as the engine stores them) in the reader's language."""
    return str(LIST_SEP).join(process_text(name) for name in text.split("、")) if text else ""


def step_label(text: str | None) -> str:
    """A failed step as incidents name it, "name (bpmn_id)", with the name in the reader's language."""
    import re

    found = re.fullmatch(r"(.*) \(([^()]*)\)", text or "", re.S)
    return f"{process_text(found.group(1))} ({found.group(2)})" if found else process_text(text)


def diagram_xml(xml: str) -> str:
    """A deployed BPMN file for a diagram viewer: its step, flow and lane names in the reader's language."""
    from engine.workflow.process_text import translated_xml

    return translated_xml(xml, _) if current_lang() != "zh" else xml


def event_title(event) -> str:
    """A timeline entry's title in the reader's language: its stored message, or (rows written before
    titles kept one) the title as a catalog msgid."""
    from engine.i18n import Msg

    if event.message:
        return Msg.from_json(event.message).render(_)
    return name_text(event.title)  # a completed step's entry is titled with its BPMN name


def field_error_text(e) -> str:
    """A form error flashed on its own: the field's label (catalog text) and what is wrong with it."""
    # a BPMN form's label, or another form's (catalog text of its own)
    return _("%(label)s：%(message)s", label=name_text(e.label), message=e.message(current_lang()))


def error_text(exc: BaseException, lang: str | None = None) -> str:
    """An engine exception's message (its first argument, catalog text) in the reader's language."""
    return tr(exc.args[0], lang) if exc.args and isinstance(exc.args[0], str) else str(exc)


def local_dt(value, fmt="%Y-%m-%d %H:%M"):
    return clock.local(value).strftime(fmt) if value else ""


def deadline_warning(deadline) -> str:
    """A deadline's calendar warning in the reader's language: its stored catalog message, or (rows written
    before warnings kept one) the Chinese text as it was stored."""
    from engine.i18n import Msg

    if deadline.warning_message:
        return Msg.from_json(deadline.warning_message).render(_)
    return deadline.warning or ""


def incident_error(incident) -> str:
    """What an incident's failure says, in the reader's language when it is a catalog message (a sandbox
    refusal); otherwise the engine's text as written (a Python error names the code)."""
    from engine.i18n import Msg

    return Msg.from_json(incident.error_message).render(_) if incident.error_message else incident.message


def file_chosen(name: str) -> bool:
    """Whether this request sent a file under `name`. A refused form shown again keeps what was typed, but no
    page can put a file back into a file input: the template asks for that file again."""
    return request.method == "POST" and any(f.filename for f in request.files.getlist(name))


def register_template_helpers(app) -> None:
    app.jinja_env.filters["deadline_warning"] = deadline_warning
    app.jinja_env.filters["incident_error"] = incident_error
    app.jinja_env.filters["steps"] = steps
    app.jinja_env.filters["bpmn"] = process_text
    app.jinja_env.filters["required_clause"] = required_clause
    app.jinja_env.filters["step_name"] = name_text  # a deadline's step: the BPMN step's name first (答复公开: Publish the reply)
    app.jinja_env.filters["step_label"] = step_label
    app.jinja_env.filters["tr"] = tr
    app.jinja_env.filters["event_title"] = event_title
    app.jinja_env.filters["local"] = local_dt
    app.jinja_env.filters["localdate"] = lambda v: local_dt(v, "%Y-%m-%d")
    app.jinja_env.filters["reject_key"] = lambda d, key: {k: v for k, v in d.items() if k != key}
    app.jinja_env.globals.update(colon=COLON, list_sep=LIST_SEP, full_stop=FULL_STOP, paren=paren,
                                 file_chosen=file_chosen)

    @app.context_processor
    def labels():
        from web.notifications import unread_count

        return dict(current_lang=current_lang(), unread_notifications=unread_count(), STATUS_LABELS=STATUS_LABELS, TYPE_LABELS=TYPE_LABELS, ROLE_LABELS=ROLE_LABELS,
                    LANE_LABELS=LANE_LABELS, ACTION_LABELS=ACTION_LABELS, DEADLINE_STATES=DEADLINE_STATES, ASSIGNMENT_STATES=ASSIGNMENT_STATES, URGE_CHANNELS=URGE_CHANNELS, CHECK_KINDS=CHECK_KINDS, REPLY_STATES=REPLY_STATES, CHOICE_LABELS=CHOICE_LABELS, PROPOSED_DISCLOSURE=PROPOSED_DISCLOSURE,
                    ATTACHMENT_KINDS=ATTACHMENT_KINDS)

    @app.errorhandler(403)
    def forbidden(_e):
        return render_template("error.html", code=403, message=_l("您无权访问此页面或办理此任务。")), 403

    @app.errorhandler(404)
    def not_found(_e):
        return render_template("error.html", code=404, message=_l("页面不存在。")), 404
