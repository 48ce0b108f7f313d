"""The unit filter of lists and boards: a type-ahead's suggestions (JSON), and the unit a filter form asks for."""
from __future__ import annotations

from flask import Blueprint, jsonify, request
from flask_login import login_required

from engine.people import unit_search
from web.helpers import db

bp = Blueprint("units", __name__, url_prefix="/units")


@bp.get("/suggest")
@login_required
def suggest():
    """At most unit_search.SUGGESTIONS units whose name contains ?q=, for the filters' <datalist>."""
    with db().reading() as s:
        return suggestions(unit_search.suggest(s, request.args.get("q", "")))


def suggestions(units: list[tuple[int, str]]):
    return jsonify([{"id": unit_id, "name": name} for unit_id, name in units])


def unit_choice(session, args, within=None) -> unit_search.UnitChoice:
    """The unit asked for by a filter form's query string: `unit_name` (typed) and `unit` (the suggestion
    picked), or `unit` alone (links and bookmarks made before the type-ahead)."""
    return unit_search.choose(session, args.get("unit", type=int), args.get("unit_name"), within)
