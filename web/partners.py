"""对接平台 (admin): partner platforms with their machine users, and the webhook deliveries of the outbox."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from engine.events import partners as partner_registry
from engine.events import webhooks
from engine.events.outbox import EVENT_TYPES
from engine.models import ROLES
from web.helpers import db, error_text, roles_required

bp = Blueprint("partners", __name__, url_prefix="/admin/partners")
STATES = ("pending", "delivered", "dead")


def _page(created=None, error=None, status=200):
    state = request.args.get("state") if request.args.get("state") in STATES else None
    with db().reading() as s:
        rows = partner_registry.partners(s)
        sent = webhooks.deliveries(s, state)
    return render_template("admin/partners.html", rows=rows, deliveries=sent, state=state, states=STATES,
                           event_types=EVENT_TYPES, roles=ROLES, created=created, error=error,
                           values=request.form), status


@bp.get("/")
@roles_required("admin")
def index():
    return _page()


@bp.post("/")
@roles_required("admin")
def create():
    f = request.form
    try:
        with db().transaction() as s:
            p = partner_registry.create_partner(s, f.get("name", ""), f.get("role", ""), f.get("webhook_url"),
                                                f.getlist("events"), f.get("unit") or None)
            created = {"name": p.name, "username": f"partner:{p.name}", "secret": p.secret}
    except ValueError as exc:
        return _page(error=error_text(exc), status=400)
    return _page(created=created)


@bp.post("/deliveries/<int:delivery_id>/retry")
@roles_required("admin")
def retry(delivery_id: int):
    try:
        with db().transaction() as s:
            webhooks.retry(s, delivery_id)
    except LookupError:
        abort(404)
    except ValueError as exc:
        flash(error_text(exc), "error")
        return redirect(url_for("partners.index"))
    flash(_("已安排重新投递。"), "success")
    return redirect(url_for("partners.index"))
