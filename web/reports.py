"""统计: the year's figures with charts and definitions, Excel exports, and similar-item suggestions."""
from __future__ import annotations

from flask import Blueprint, Response, abort, render_template, request
from flask_login import current_user, login_required

from engine import clock
from engine.reports import excel
from engine.items import queries
from engine.items import similarity
from engine.reports import statistics
from engine.models import Item, User
from web.helpers import current_lang, db, item_filter, roles_required

bp = Blueprint("reports", __name__, url_prefix="/reports")

REPORT_ROLES = ("office", "supervisor", "leader", "admin")


def _year(years: list[int]) -> int:
    year = request.args.get("year", type=int)
    if year is None:
        return years[0] if years else clock.today().year
    if not 2000 <= year <= 2100:
        abort(404)
    return year


def _xlsx(data: bytes, filename: str) -> Response:
    return Response(data, mimetype=excel.XLSX_MIME,
                    headers={"Content-Disposition": f"attachment; filename*=UTF-8''{filename}"})


@bp.get("/")
@roles_required(*REPORT_ROLES)
def index():
    with db().reading() as s:
        years = statistics.available_years(s)
        stats = statistics.for_viewer(s, statistics.year_statistics(s, _year(years)), s.get(User, current_user.id))
    return render_template("reports/index.html", stats=stats, years=years, lang=current_lang(),
                           definitions=statistics.DEFINITIONS, figure_rows=statistics.figure_rows)


@bp.get("/statistics-<int:year>.xlsx")
@roles_required(*REPORT_ROLES)
def statistics_xlsx(year: int):
    with db().reading() as s:
        data = excel.statistics_workbook(statistics.for_viewer(s, statistics.year_statistics(s, year),
                                                               s.get(User, current_user.id)))
    return _xlsx(data, f"statistics-{year}.xlsx")


@bp.get("/items.xlsx")
@login_required
def items_xlsx():
    """The item list with the filters of /items/, every page, as the user may see it."""
    f = item_filter(request.args)
    with db().reading() as s:
        user, items, after = s.get(User, current_user.id), [], None
        while True:  # page after page along the list's index (the total is bounded: "1,000+")
            page, _ = queries.list_page(s, user, f, after)
            items += page.rows
            if page.next is None:
                break
            after = str(page.next)
        data = excel.items_workbook(items)
    return _xlsx(data, "items.xlsx")


@bp.post("/similar")
@roles_required("office")
def similar():
    """Similar assigned items and their units: for a registration being typed, or for an item being assigned."""
    item_id = request.form.get("item_id", type=int)
    with db().reading() as s:
        if item_id is not None:
            item = s.get(Item, item_id)
            if item is None:
                abort(404)
            title, content = item.title, item.content
        else:
            title, content = request.form.get("title", "")[:300], request.form.get("content", "")[:5000]
        found = similarity.similar_items(s, title, content, exclude_item_id=item_id)
    return render_template("reports/_similar_results.html", found=found, title=title,
                           can_apply=request.form.get("apply") == "assignment")
