"""公开: published replies, searchable by anyone without logging in; nothing unpublished is reachable."""
from __future__ import annotations

from flask import Blueprint, abort, render_template, request

from engine.items import disclosure
from engine.models import ITEM_TYPES
from engine.people import unit_search
from web.helpers import db
from web.units import suggestions, unit_choice

bp = Blueprint("public", __name__, url_prefix="/public")


@bp.get("/")
def index():
    item_type = request.args.get("type") or None
    with db().reading() as s:
        unit = unit_choice(s, request.args, disclosure.HAS_PUBLISHED_REPLIES)
        f = disclosure.PublicFilter(year=request.args.get("year", type=int),
                                    item_type=item_type if item_type in ITEM_TYPES else None,
                                    unit_id=unit.unit_id, q=(request.args.get("q") or "")[:100] or None)
        page, total = disclosure.search_page(s, f, request.args.get("after"), request.args.get("before"))
        years = disclosure.public_years(s)
    return render_template("public/index.html", replies=page.rows, page=page, total=total, f=f, years=years,
                           unit=unit)


@bp.get("/units")
def units():
    """The public unit filter's suggestions: units with published replies whose name contains ?q=."""
    with db().reading() as s:
        return suggestions(unit_search.suggest(s, request.args.get("q", ""), disclosure.HAS_PUBLISHED_REPLIES))


@bp.get("/<int:item_id>")
def reply(item_id: int):
    with db().reading() as s:
        published = disclosure.published_reply(s, item_id)
    if published is None:
        abort(404)
    return render_template("public/reply.html", r=published)
