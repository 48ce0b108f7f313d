"""My tasks (inbox) and the task page, which renders the task's BPMN form generically."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from engine.items import attachments, carryover, extensions, prefill, queries
from engine.workflow import runtime
from engine.people.authz import NotAllowed
from engine.workflow.forms import FieldError, FormInvalid
from engine.workflow.incidents import ProcessFailed
from engine.workflow.readmodel import event_title
from engine.models import Item, TaskRow, User
from web.helpers import current_lang, db, error_text, name_text, uploads

bp = Blueprint("tasks", __name__, url_prefix="/tasks")


@bp.get("/")
@login_required
def inbox():
    if current_user.role == "proposer":  # a proposer's tasks (the rating) wait in the portal
        return redirect(url_for("portal.index"))
    with db().reading() as s:
        me = s.get(User, current_user.id)
        page = queries.inbox_page(s, me, request.args.get("after"), request.args.get("before"))
        rows, total = page.rows, queries.inbox_count(s, me)
        office = me.role == "office"
        pending = extensions.waiting_for_office(s) if office else []
        year_end = carryover.year_end_due(s) if office else []
        return render_template("tasks/inbox.html", rows=rows, total=total, page=page, pending_extensions=pending,
                               year_end=year_end, deadlines=queries.step_deadlines(s, [task for task, _i, _u in rows]))


def _form_values(form: dict) -> dict:
    """Raw submitted values, lists kept for multi-value fields."""
    return {f["id"]: (request.form.getlist(f["id"]) if f["type"] == "unit_list" else request.form.get(f["id"]))
            for f in form["fields"]}


def _render(s, row, errors=None, values=None, status=200):
    item = s.get(Item, row.item_id)
    form = runtime.task_form(s, row)
    closed = {f: {o: FieldError(f, f, "window_closed", due).message(current_lang()) for o, due in opts.items()}
              for f, opts in runtime.closed_choices(s, row, form).items()}
    return render_template("tasks/task.html", row=row, item=item, form=form, closed=closed,
                           deadline=queries.step_deadlines(s, [row]).get(row.id),
                           detail=queries.item_detail(s, item, s.get(User, current_user.id)), choices=runtime.choices(s),
                           attachable=form.get("key") in attachments.KIND_BY_FORM,
                           errors={e.field: e.message(current_lang()) for e in errors or []},
                           values=values if values is not None else prefill.initial_values(s, row)), status


@bp.route("/<task_id>", methods=["GET", "POST"])
@login_required
def task(task_id: str):
    database = db()
    if current_user.role == "proposer":  # no internal task page: the portal's item page holds the form
        with database.reading() as s:
            row = s.get(TaskRow, task_id)
            return redirect(url_for("portal.item", item_id=row.item_id) if row else url_for("portal.index"))
    if request.method == "GET":
        with database.reading() as s:
            try:
                row = runtime.open_task(s, task_id, s.get(User, current_user.id))
            except NotAllowed:
                abort(403)
            except runtime.TaskGone as exc:
                flash(error_text(exc), "error")
                return redirect(url_for("tasks.inbox"))
            return _render(s, row)

    posted = {}  # what the command read of the form: the values, the item and the confirmation's title

    def submitted(form: dict, row) -> dict:  # read by the form the command holds (no read of the task before it)
        values = _form_values(form)
        posted.update(values=values, item_id=row.item_id, title=event_title(form.get("key"), values, row.title))
        return values

    try:
        runtime.complete(database, task_id, current_user.id, submitted,
                         attachments.on_completion(uploads(request.files.getlist("attachments"))))
    except NotAllowed:
        abort(403)
    except FormInvalid as exc:
        with database.reading() as s:
            return _render(s, runtime.open_task(s, task_id, s.get(User, current_user.id)),
                           errors=exc.errors, values=posted.get("values", {}), status=400)
    except (runtime.StaleTask, runtime.TaskGone) as exc:  # someone else was first: say so, lose nothing else
        flash(error_text(exc), "error")
        return redirect(url_for("tasks.inbox"), code=303)
    except ProcessFailed as exc:
        flash(error_text(exc), "error")
        return redirect(url_for("items.detail", item_id=exc.item_id))  # the incident's item: known however early
    flash(_("已完成：%(title)s", title=name_text(posted["title"])), "success")
    return redirect(url_for("items.detail", item_id=posted["item_id"]))
