"""Process admins keep the working-day calendar and the year's deadline rules."""
from __future__ import annotations

import calendar as monthly
from dataclasses import dataclass
from datetime import date

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from engine.deadlines import calendar as workcal
from engine import clock
from engine.models import User
from engine.deadlines import rules
from engine.workflow import recompute
from web.helpers import db, error_text, roles_required

bp = Blueprint("calendar_admin", __name__, url_prefix="/admin/calendar")


def _year() -> int:
    year = request.values.get("year", type=int) or clock.today().year
    return min(max(year, 2000), 2100)


def _moved(report) -> str:
    text = _("已重算在办事项的期限：%(n)s 个期限调整（涉及 %(items)s 个事项）。", n=report.moved,
             items=len(report.changed_items))
    if report.failed:  # their processes failed on the new calendar: each is an incident for the process admins
        text += " " + _("%(n)s 个事项的流程重算出错，已记为流程故障，请到“流程故障”处理。", n=len(report.failed))
    return text


@bp.get("/")
@roles_required("admin")
def year():
    return _page(_year())


@dataclass(frozen=True)
class RefusedImport:
    """A year's arrangement sent back refused: the text as sent (an uploaded file's text too, so the bad line can
    be mended in the box rather than the year pasted again) and the error."""
    text: str
    error: str
    from_file: bool


def _page(y: int, refused: RefusedImport | None = None, status: int = 200):
    with db().reading() as s:
        cal = workcal.current_calendar(s)
        days = {d.day: d for d in workcal.year_view(cal, y)}
        year_rules = rules.rules_for(s, y)
    months = [(m, monthly.Calendar().monthdatescalendar(y, m)) for m in range(1, 13)]
    return render_template("admin/calendar.html", year=y, days=days, months=months, covered=cal.covers(y),
                           rules=year_rules, labels=rules.LABELS, defaults=rules.DEFAULT_RULES,
                           refused=refused), status


@bp.post("/day")
@roles_required("admin")
def set_day():
    y = _year()
    try:
        day = date.fromisoformat(request.form.get("day", ""))
    except ValueError:
        flash(_("请输入有效日期（年-月-日）。"), "error")
        return redirect(url_for("calendar_admin.year", year=y))
    with db().transaction() as s:
        report = recompute.change_day(s, day, request.form.get("kind", ""), request.form.get("name") or None,
                                      s.get(User, current_user.id))
    flash(_("%(day)s 已更新。", day=day.isoformat()) + " " + _moved(report), "success")
    return redirect(url_for("calendar_admin.year", year=day.year))


@bp.post("/import")
@roles_required("admin")
def import_year():
    y = _year()
    upload = request.files.get("file")
    from_file = bool(upload and upload.filename)
    text = upload.read().decode("utf-8-sig", errors="replace") if from_file else request.form.get("text", "")
    try:
        with db().transaction() as s:
            count, report = recompute.load_holidays(s, y, text, s.get(User, current_user.id))
    except ValueError as exc:  # the page again with what was sent, nothing to paste or choose again
        return _page(y, RefusedImport(text, error_text(exc), from_file), 400)
    flash(_("已载入 %(year)s 年节假日安排（%(n)s 条）。", year=y, n=count) + " " + _moved(report), "success")
    return redirect(url_for("calendar_admin.year", year=y))


@bp.post("/rules")
@roles_required("admin")
def save_rules():
    y = _year()
    try:
        with db().transaction() as s:
            report = recompute.change_rules(s, y, {k: request.form[k] for k in rules.DEFAULT_RULES if k in request.form},
                                            s.get(User, current_user.id))
    except rules.RuleError as exc:
        flash(error_text(exc), "error")
        return redirect(url_for("calendar_admin.year", year=y) + "#rules")
    flash(_("%(year)s 年期限规则已保存。", year=y) + " " + _moved(report), "success")
    return redirect(url_for("calendar_admin.year", year=y) + "#rules")
