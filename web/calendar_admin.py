"""Process admins keep the working-day calendar and the year's deadline rules."""
from __future__ import annotations

import calendar as monthly
from datetime import date

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from engine.deadlines import calendar as workcal
from engine import clock
from engine.deadlines import rules
from web.helpers import db, roles_required

bp = Blueprint("calendar_admin", __name__, url_prefix="/admin/calendar")


def _year() -> int:
    year = request.values.get("year", type=int) or clock.today().year
    return min(max(year, 2000), 2100)


@bp.get("/")
@roles_required("admin")
def year():
    y = _year()
    with db().reading() as s:
        cal = workcal.current_calendar(s)
        days = {d.day: d for d in workcal.year_view(cal, y)}
        year_rules = rules.rules_for(s, y)
    months = [(m, monthly.Calendar().monthdatescalendar(y, m)) for m in range(1, 13)]
    return render_template("admin/calendar.html", year=y, days=days, months=months, covered=cal.covers(y),
                           rules=year_rules, labels=rules.LABELS, defaults=rules.DEFAULT_RULES)


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
        if request.form.get("kind") == "rule":
            workcal.delete_day(s, day)
        else:
            workcal.set_day(s, day, request.form.get("kind") == "workday", request.form.get("name") or None)
    flash(_("%(day)s 已更新。", day=day.isoformat()), "success")
    return redirect(url_for("calendar_admin.year", year=day.year))


@bp.post("/import")
@roles_required("admin")
def import_year():
    y = _year()
    upload = request.files.get("file")
    text = upload.read().decode("utf-8-sig", errors="replace") if upload and upload.filename else request.form.get("text", "")
    try:
        with db().transaction() as s:
            count = workcal.import_year_csv(s, y, text)
    except ValueError as exc:
        flash(str(exc), "error")
        return redirect(url_for("calendar_admin.year", year=y))
    flash(_("已载入 %(year)s 年节假日安排（%(n)s 条）。", year=y, n=count), "success")
    return redirect(url_for("calendar_admin.year", year=y))


@bp.post("/rules")
@roles_required("admin")
def save_rules():
    y = _year()
    try:
        with db().transaction() as s:
            for key in rules.DEFAULT_RULES:
                if key in request.form:
                    rules.set_rule(s, y, key, request.form[key])
    except rules.RuleError as exc:
        flash(str(exc), "error")
        return redirect(url_for("calendar_admin.year", year=y) + "#rules")
    flash(_("%(year)s 年期限规则已保存，新登记的事项按新规则计算。", year=y), "success")
    return redirect(url_for("calendar_admin.year", year=y) + "#rules")
