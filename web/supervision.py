"""督查: the supervisors' board, the promises' board, extension requests and decisions, year-end carry-over."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from engine.items import carryover, extensions, promises, reassignment
from engine.deadlines import board as overdue_board
from engine.people.authz import NotAllowed
from engine.deadlines.ledger import LABELS as DEADLINE_LABELS
from engine.workflow.forms import FormInvalid
from engine.models import Item, User
from engine.people.unit_search import UnitChoice
from web.helpers import current_lang, db, field_error_text, roles_required, safe_redirect_target
from web.items import refused_side_form
from web.units import unit_choice

bp = Blueprint("supervision", __name__, url_prefix="/supervision")


def _board_filter(s) -> tuple[overdue_board.BoardFilter, UnitChoice]:
    """The board's filters from the query string, for the signed-in reader (whose role narrows what counts),
    and its unit filter as the form shows it."""
    unit = unit_choice(s, request.args)
    f = overdue_board.BoardFilter(unit_id=unit.unit_id,
                                  key=request.args.get("deadline") or None,
                                  item_type=request.args.get("type") or None,
                                  key_only=request.args.get("key") == "1", show=request.args.get("show") or "all")
    f.viewer = s.get(User, current_user.id)
    return f, unit


@bp.get("/")
@roles_required("supervisor", "office", "admin", "leader")
def board():
    with db().reading() as s:
        f, unit = _board_filter(s)
        page = overdue_board.board_page(s, f, after=overdue_board.parse_cursor(request.args.get("after"), f),
                                        before=overdue_board.parse_cursor(request.args.get("before"), f))
        history = overdue_board.reminder_history(s, [r.item.id for r in page.rows])
        by_unit, by_step = overdue_board.unit_page(s, f), overdue_board.summary(s, f, "step")
    return render_template("supervision/board.html", rows=page.rows, page=page, history=history, by_unit=by_unit,
                           total=overdue_board.shown(by_step, f.show),
                           by_step=by_step, unit=unit, f=f, deadline_labels=DEADLINE_LABELS)


@bp.get("/units")
@roles_required("supervisor", "office", "admin", "leader")
def units():
    """The board's per-unit table, every unit page by page (the board shows its first rows)."""
    with db().reading() as s:
        f, _unit = _board_filter(s)
        page = overdue_board.unit_page(s, f, after=overdue_board.parse_unit_cursor(request.args.get("after")),
                                       before=overdue_board.parse_unit_cursor(request.args.get("before")),
                                       limit=overdue_board.UNIT_PAGE)
    return render_template("supervision/units.html", page=page, by_unit=page, f=f)


def _flash_errors(exc: FormInvalid) -> None:
    for e in exc.errors:
        flash(field_error_text(e), "error")


@bp.post("/items/<int:item_id>/extension")
@login_required
def request_extension(item_id: int):
    try:
        with db().transaction() as s:
            item = s.get(Item, item_id) or abort(404)
            extensions.request_extension(s, item, s.get(User, current_user.id), request.form.get("new_date", ""),
                                         request.form.get("reason", ""))
        flash(_("延期申请已提交，等待区府办审批。"), "success")
    except NotAllowed:
        abort(403)
    except FormInvalid as exc:
        return refused_side_form(item_id, "extension", exc)
    return redirect(url_for("items.detail", item_id=item_id))


@bp.post("/items/<int:item_id>/take-back")
@roles_required("office")
def take_back(item_id: int):
    try:
        with db().transaction() as s:
            item = s.get(Item, item_id) or abort(404)
            reassignment.take_back(s, item, s.get(User, current_user.id), request.form.get("reason", ""))
        flash(_("已收回，请重新交办。"), "success")
    except FormInvalid as exc:
        return refused_side_form(item_id, "take_back", exc)
    return redirect(url_for("items.detail", item_id=item_id))


@bp.post("/extensions/<int:request_id>")
@roles_required("office")
def decide_extension(request_id: int):
    approve = request.form.get("decision") == "approve"
    try:
        with db().transaction() as s:
            req = extensions.decide_extension(s, request_id, s.get(User, current_user.id), approve,
                                              request.form.get("opinion", ""))
            item_id = req.item_id
        flash(_("已同意延期，期限与提醒已顺延。") if approve else _("已不同意延期。"), "success")
    except FormInvalid as exc:
        _flash_errors(exc)
        return redirect(safe_redirect_target(request.referrer and urlsplit(request.referrer).path)
                        or url_for("supervision.board"))
    return redirect(url_for("items.detail", item_id=item_id))


@bp.get("/promises")
@roles_required("supervisor", "office", "admin", "leader")
def promise_board():
    """承诺事项看板: open promises (or only overdue ones, or all), by unit."""
    show = request.args.get("show") if request.args.get("show") in ("open", "overdue", "all") else "open"
    with db().reading() as s:
        unit = unit_choice(s, request.args)
        rows = promises.board(s, s.get(User, current_user.id), unit_id=unit.unit_id, show=show)
        return render_template("supervision/promises.html", rows=rows, unit=unit, show=show)


@bp.route("/year-end/<int:year>", methods=["GET", "POST"])
@roles_required("office")
def year_end(year: int):
    """年终结转: the office carries the year's unfinished items and open promises into the next year."""
    if not 2000 <= year <= 2100:
        abort(404)
    if request.method == "POST":
        try:
            with db().transaction() as s:
                done = carryover.carry_over(s, s.get(User, current_user.id), year)
                n_items, n_promises = len(done.items), len(done.promises)
            flash(_("已结转至%(y)s年度：事项 %(i)s 件，承诺事项 %(p)s 项。", y=year + 1, i=n_items, p=n_promises), "success")
        except FormInvalid as exc:
            _flash_errors(exc)
        return redirect(url_for("supervision.year_end", year=year), code=303)
    with db().reading() as s:
        todo = carryover.pending(s, year)
        carried = carryover.carried_into(s, year + 1)
        return render_template("supervision/year_end.html", year=year, todo=todo, carried=carried)
