"""代表委员: a proposer's own items on a phone: where each stands, deadlines, consultations, replies, rating.

The proposer's whole world is here: the rating (评价) is filled in on the portal's item page, never on an
internal task page.
"""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from engine.items import merging, portal
from engine.models import User
from engine.people.authz import NotAllowed
from engine.workflow import runtime
from engine.workflow.forms import FormInvalid
from engine.workflow.incidents import ProcessFailed
from web.helpers import current_lang, db, error_text, name_text, roles_required

bp = Blueprint("portal", __name__, url_prefix="/portal")


@bp.get("/")
@roles_required("proposer")
def index():
    with db().reading() as s:
        entries = portal.my_items(s, s.get(User, current_user.id))
        return render_template("portal/index.html", entries=entries)


def _render(s, item_id: int, errors=None, values=None, status=200):
    detail = portal.portal_item(s, s.get(User, current_user.id), item_id)
    if detail is None:  # another proposer's item looks exactly like a missing one
        abort(404)
    return render_template("portal/item.html", d=detail, choices=runtime.choices(s), values=values or {},
                           errors={e.field: e.message(current_lang()) for e in errors or []}), status


@bp.get("/items/<int:item_id>")
@roles_required("proposer")
def item(item_id: int):
    with db().reading() as s:
        return _render(s, item_id)


@bp.post("/items/<int:item_id>/tasks/<task_id>")
@roles_required("proposer")
def complete(item_id: int, task_id: str):
    """The lead proposer's rating (or any task the process gives the proposer), sent from the portal."""
    database = db()
    with database.reading() as s:
        row = portal.portal_task(s, s.get(User, current_user.id), item_id, task_id)
        if row is None:
            flash(_("此任务已办理或已不存在。"), "error")
            return redirect(url_for("portal.item", item_id=item_id), code=303)
        title = row.title
        values = {f["id"]: request.form.get(f["id"]) for f in runtime.task_form(s, row)["fields"]}
    try:
        runtime.complete(database, task_id, current_user.id, values)
    except NotAllowed:
        abort(403)
    except FormInvalid as exc:
        with database.reading() as s:
            return _render(s, item_id, errors=exc.errors, values=values, status=400)
    except (runtime.StaleTask, runtime.TaskGone, ProcessFailed) as exc:
        flash(error_text(exc), "error")
        return redirect(url_for("portal.item", item_id=item_id), code=303)
    flash(_("已完成：%(title)s", title=name_text(title)), "success")
    return redirect(url_for("portal.item", item_id=item_id), code=303)


@bp.post("/items/<int:item_id>/rate")
@roles_required("proposer")
def rate_merged(item_id: int):
    """评价 of the lead item's reply by the proposer of an item merged into it (并案)."""
    values = {k: request.form.get(k, "") for k in ("attitude", "result", "rating_reason")}
    try:
        with db().transaction() as s:
            merging.rate_merged(s, s.get(User, current_user.id), item_id, values["attitude"], values["result"],
                                values["rating_reason"])
    except NotAllowed:
        abort(404)
    except FormInvalid as exc:  # the form again, as it was filled in, each error by its field
        with db().reading() as s:
            return _render(s, item_id, errors=exc.errors, values=values, status=400)
    flash(_("评价已提交，谢谢！"), "success")
    return redirect(url_for("portal.item", item_id=item_id), code=303)
