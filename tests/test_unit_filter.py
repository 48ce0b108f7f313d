"""The unit filter of the item list, the boards and the public list: a name typed resolves to a unit (or says
which units it could mean, or that none), `unit=<id>` links still work, and the type-ahead's suggestions are
a bounded read of the unit table; the public list's years are read one step per year shown."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import delete, event, func, select

from bench import bulk
from engine.items import disclosure
from engine.models import Disclosure, Item, Unit
from engine.people import unit_search
from tests.conftest import login

FILTERED_PAGES = [("/items/", "office"), ("/supervision/", "supervisor"), ("/supervision/promises", "supervisor"),
                  ("/public/", None)]


def _unit_id(db, code: str) -> int:
    with db.reading() as s:
        return s.scalars(select(Unit.id).where(Unit.code == code)).one()


def _typed_value(html: str) -> str:
    return re.search(r'<input name="unit_name" value="([^"]*)"', html).group(1)


def _hidden_unit(html: str) -> str:
    return re.search(r'<input type="hidden" name="unit" value="([^"]*)"', html).group(1)


def _notice(html: str) -> str:
    found = re.search(r'<div class="flash unit-notice".*?</div>', html, re.S)
    return found.group(0) if found else ""


# -- engine: unit_search -----------------------------------------------------------------------------

def test_a_typed_name_resolves_to_the_exact_unit_or_the_only_one_containing_it(demo_db):
    with demo_db.transaction() as s:
        s.add(Unit(code="jyj2", name="区教育局直属机关党委"))  # contains 区教育局: the exact name still wins
    edu = _unit_id(demo_db, "jyj")
    with demo_db.reading() as s:
        assert unit_search.choose(s, None, "区教育局").unit_id == edu
        assert unit_search.choose(s, None, " 交通 ").text == "区交通运输局"  # the only one containing it
        several = unit_search.choose(s, None, "教育")
        assert several.unit_id is None and several.typed and not several.not_found
        assert [name for _, name in several.matches] == ["区教育局", "区教育局直属机关党委"]
        nothing = unit_search.choose(s, None, "不存在的局")
        assert nothing.unit_id is None and nothing.not_found and nothing.text == "不存在的局"
        assert unit_search.choose(s, None, "   ").unit_id is None and not unit_search.choose(s, None, "").typed
        # a link or bookmark (no name typed): the id as it is, its name shown
        assert unit_search.choose(s, edu, None).text == "区教育局"
        # the suggestion picked is sent with its name; a name typed over it afterwards wins
        assert unit_search.choose(s, edu, "区教育局").unit_id == edu
        assert unit_search.choose(s, edu, "交通").text == "区交通运输局"
        assert unit_search.suggest(s, "%") == [] and unit_search.suggest(s, "_") == []  # LIKE wildcards are text


def test_suggestions_are_at_most_a_page_exact_name_first(demo_db):
    with demo_db.transaction() as s:
        s.add_all([Unit(code=f"p{i:02d}", name=f"第{i:02d}片区区教育局") for i in range(30)])
    with demo_db.reading() as s:
        found = unit_search.suggest(s, "区教育局")
        assert len(found) == unit_search.SUGGESTIONS and found[0][1] == "区教育局"
        assert [n for _, n in found[1:]] == sorted(n for _, n in found[1:])
        many = unit_search.choose(s, None, "片区")
        assert len(many.matches) == unit_search.SUGGESTIONS and many.more


# -- the pages ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("path, who", FILTERED_PAGES)
def test_each_filtered_page_resolves_a_typed_name_and_keeps_old_links(client, demo_db, path, who):
    if who:
        login(client, who)
    jtj = _unit_id(demo_db, "jtj")
    typed = client.get(path, query_string={"unit_name": "交通", "unit": ""}).get_data(as_text=True)
    by_link = client.get(path, query_string={"unit": jtj}).get_data(as_text=True)
    for html in (typed, by_link):
        assert _typed_value(html) == "区交通运输局" and _hidden_unit(html) == str(jtj) and not _notice(html)
    assert "<option value=\"" + str(jtj) not in typed  # no list of every unit any more

    several = client.get(path, query_string={"unit_name": "局", "unit": ""}).get_data(as_text=True)
    notice = _notice(several)
    assert "名称包含“局”的单位有多个" in notice and _typed_value(several) == "局" and _hidden_unit(several) == ""
    links = re.findall(r'<a href="([^"]*)">([^<]*)</a>', notice)
    assert len(links) >= 2 and all(f"unit={_unit_id(demo_db, 'jtj')}" in href for href, name in links
                                   if name == "区交通运输局")
    assert "unit_name" not in " ".join(href for href, _ in links)

    none = client.get(path, query_string={"unit_name": "不存在的局", "unit": ""}).get_data(as_text=True)
    assert "没有名称包含“不存在的局”的单位" in _notice(none) and _typed_value(none) == "不存在的局"


def test_the_item_list_filters_by_the_unit_typed(client, demo_db):
    login(client, "office")
    jtj, edu = _unit_id(demo_db, "jtj"), _unit_id(demo_db, "jyj")
    with demo_db.reading() as s:
        jtj_lead = set(s.scalars(select(Item.number).where(Item.lead_unit_id == jtj)))

    def numbers(**query):
        html = client.get("/items/", query_string=query).get_data(as_text=True)
        return set(re.findall(r'data-label="编号">([^<\s]+)', html))

    shown = numbers(unit_name="交通运输", unit="")
    assert shown == numbers(unit=jtj)  # the old link, the same list (the unit's items, as lead or co-unit)
    assert shown & jtj_lead and shown != numbers(unit=edu) and shown != numbers()
    assert numbers(unit_name="交通运输", unit=edu) == shown  # a stale id under a new name: the name decides
    html = client.get("/items/", query_string={"unit_name": "交通运输", "unit": ""}).get_data(as_text=True)
    export = re.search(r'href="(/reports/items\.xlsx[^"]*)"', html).group(1)
    assert f"unit={jtj}" in export and "unit_name" not in export  # the export filters by the unit resolved


def test_the_public_list_filters_by_a_typed_unit_with_published_replies(client, demo_db):
    with demo_db.transaction() as s:
        s.add(Unit(code="tjj", name="区统计局"))  # no published reply
    with demo_db.reading() as s:
        published = s.execute(select(Disclosure.public_unit_id, Unit.name)
                              .join(Unit, Unit.id == Disclosure.public_unit_id).limit(1)).one()
        units_published = set(s.scalars(select(Disclosure.public_unit_id)
                                        .where(Disclosure.public_unit_id.is_not(None))))
        silent = s.scalars(select(Unit.name).where(Unit.id.not_in(units_published))).one()
    html = client.get("/public/", query_string={"unit_name": published.name, "unit": ""}).get_data(as_text=True)
    assert _hidden_unit(html) == str(published.public_unit_id) and 'class="pub-hit"' in html
    assert set(re.findall(r'<span>([^<]+)</span>\s*<span class="tag">', html)) == {published.name}
    suggested = client.get("/public/units", query_string={"q": "区"}).get_json()
    assert suggested and {u["id"] for u in suggested} <= units_published
    assert client.get("/public/units", query_string={"q": silent}).get_json() == []
    nothing = client.get("/public/", query_string={"unit_name": silent, "unit": ""}).get_data(as_text=True)
    assert "没有名称包含“区统计局”的单位" in _notice(nothing)


def test_the_signed_in_suggestions_need_a_login_and_return_a_few_units(client, demo_db):
    assert client.get("/units/suggest?q=局").status_code in (302, 401)
    login(client, "office")
    got = client.get("/units/suggest?q=局").get_json()
    assert 2 <= len(got) <= unit_search.SUGGESTIONS and all("局" in u["name"] and u["id"] for u in got)
    assert client.get("/units/suggest?q=").get_json() == []


# -- the public list's years ---------------------------------------------------------------------------

def _joined_years(s) -> list[int]:
    """The years as the page read them before (every published item joined): the reference."""
    return list(s.scalars(select(Item.year).join(Disclosure, Disclosure.item_id == Item.id)
                          .where(Disclosure.scope.in_(disclosure.PUBLISHED_SCOPES)).distinct()
                          .order_by(Item.year.desc())))


def test_public_years_follow_publication(demo_db):
    from engine.demo import _do

    with demo_db.transaction() as s:  # no 2026 reply published yet
        s.execute(delete(Disclosure).where(Disclosure.public_year == 2026))
    with demo_db.reading() as s:
        before = disclosure.public_years(s)
        assert before == _joined_years(s) and 2026 not in before
    with demo_db.transaction() as s:
        item = s.scalars(select(Item).where(Item.title == "关于治理河道黑臭水体的建议", Item.year == 2026)).one()
        _do(s, item, "deputy_chen", attitude="satisfied", result="satisfied")
        _do(s, item, "office", publish_scope="full", published_text="已完成截污纳管。")
        lead = item.lead_unit_id
    with demo_db.reading() as s:
        assert disclosure.public_years(s) == [2026, *before] == _joined_years(s)
        row = s.scalars(select(Disclosure).where(Disclosure.item_id == item.id)).one()
        assert (row.public_year, row.public_unit_id) == (2026, lead)
        # a reply published with scope 'none' is not listed: no year, no unit
        assert not s.scalars(select(Disclosure).where(Disclosure.scope == "none",
                                                      Disclosure.public_year.is_not(None))).all()


def _work(db, fn, tables=("disclosure",)) -> int:
    """What a read costs, deterministically: SQLite's virtual-machine steps; PostgreSQL's rows read from
    `tables` (EXPLAIN ANALYZE: the rows each scan returned and those its filter removed, times its loops)."""
    with db.reading() as s:
        conn = s.connection()
        if not db.is_postgres:
            steps = [0]

            def count():
                steps[0] += 1
                return 0

            raw = conn.connection.driver_connection
            raw.set_progress_handler(count, 1)
            try:
                fn(s)
            finally:
                raw.set_progress_handler(None, 1)
            return steps[0]
        statements = []

        def record(_c, _cur, statement, parameters, *_a):
            statements.append((statement, parameters))

        event.listen(db.engine, "before_cursor_execute", record)
        try:
            fn(s)
        finally:
            event.remove(db.engine, "before_cursor_execute", record)
        rows = 0
        for statement, parameters in statements:
            plan = conn.exec_driver_sql("EXPLAIN (ANALYZE, FORMAT JSON) " + statement, parameters).scalar()
            stack = [plan[0]["Plan"]]
            while stack:
                node = stack.pop()
                if node.get("Relation Name") in tables:
                    rows += (node["Actual Rows"] + node.get("Rows Removed by Filter", 0)) * node["Actual Loops"]
                stack += node.get("Plans", [])
        return rows


def test_public_years_cost_the_years_not_the_published_replies(db):
    """Before: a DISTINCT over every published item joined to its disclosure, so the search form of the most
    visited page grew with all the replies ever published. Now one index step per year: the same work with
    one reply a year as with hundreds. (The reference query's growth shows the measure sees the difference.)"""
    bulk.populate(db, 1500)
    with db.reading() as s:
        years = disclosure.public_years(s)
        assert len(years) >= 2 and years == _joined_years(s)
        published = s.scalar(select(Disclosure.id).where(Disclosure.public_year.is_not(None)).order_by(Disclosure.id)
                             .limit(1))
    many = _work(db, disclosure.public_years), _work(db, _joined_years)
    with db.transaction() as s:  # one published reply a year left
        kept = list(s.scalars(select(func.min(Disclosure.id)).where(Disclosure.public_year.is_not(None))
                              .group_by(Disclosure.public_year)))
        assert published and len(kept) == len(years)
        s.execute(delete(Disclosure).where(Disclosure.id.not_in(kept)))
    with db.reading() as s:
        assert disclosure.public_years(s) == years == _joined_years(s)
    few = _work(db, disclosure.public_years), _work(db, _joined_years)
    assert many[1] > 2 * few[1], (many, few)  # the old query: work per published reply (and per item)
    assert many[0] <= few[0] + 20, (many, few)  # now: work per year shown


def test_suggestions_cost_the_units_shown_not_the_units_there_are(db):
    """A name typed is found through the index of the names' characters and pairs of characters, in name order,
    so the type-ahead reads about the units it suggests, however many units there are: the same work among
    3,000 units as among the 20 the text could mean. Before: LIKE '%交通%' was tried on every unit in name
    order until 20 matched, so a text few units contain (or none) read the whole unit table, on every key
    typed, and a province has tens of thousands of units."""
    from bench.scenario import create_org

    with db.transaction() as s:
        create_org(s)
    typed = [("交通", None), ("区交通运输局", None), ("局", None), ("交通", disclosure.HAS_PUBLISHED_REPLIES),
             ("不存在", None), ("x", None)]

    def suggestions(s):
        return [unit_search.suggest(s, text, within) for text, within in typed]

    with db.reading() as s:
        before = suggestions(s)
    assert [len(found) for found in before] == [1, 1, 19, 0, 0, 0]  # no unit has published a reply yet
    few = _work(db, suggestions, ("unit", "unit_name_gram", "disclosure"))
    with db.transaction() as s:  # units that none of these texts names, sorted before every unit that one does
        s.add_all([Unit(code=f"jd{k:04d}", name=f"一{k:04d}街道办事处") for k in range(3000)])
    if db.is_postgres:  # statistics, as a running database has them (autovacuum's ANALYZE)
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE unit")
            conn.exec_driver_sql("ANALYZE unit_name_gram")
    with db.reading() as s:
        assert suggestions(s) == before
    many = _work(db, suggestions, ("unit", "unit_name_gram", "disclosure"))
    assert many <= few * 1.2 + 50, (few, many)


def test_units_added_or_renamed_are_suggested_by_their_name_now(demo_db):
    """The type-ahead's index follows the directory: a unit added is found, a renamed one by its new name only."""
    from engine.people import directory

    with demo_db.transaction() as s:
        unit = directory.save_unit(s, {"code": "hwj", "name": "区环境卫生Office"})
        unit_id = unit.id
    with demo_db.reading() as s:
        assert (unit_id, "区环境卫生Office") in unit_search.suggest(s, "卫生")
        # as LIKE matches on each database: SQLite ignores the case of ASCII letters, PostgreSQL does not
        assert unit_search.suggest(s, "境卫生o") == ([] if demo_db.is_postgres else [(unit_id, "区环境卫生Office")])
        assert unit_search.suggest(s, "境卫生O") == [(unit_id, "区环境卫生Office")]
    with demo_db.transaction() as s:
        directory.save_unit(s, {"code": "hwj", "name": "区城市管理局"}, s.get(Unit, unit_id))
    with demo_db.reading() as s:
        assert unit_id not in [u for u, _ in unit_search.suggest(s, "环境卫生")]
        assert unit_search.suggest(s, "城市管理") == [(unit_id, "区城市管理局")]


def _analyze(db) -> None:
    if db.is_postgres:  # statistics, as a running database has them (autovacuum's ANALYZE)
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE unit")
            conn.exec_driver_sql("ANALYZE unit_name_gram")


def test_a_text_many_units_contain_costs_the_units_shown(db):
    """Twenty of 40 or of 3,040 units containing 统计局: the same work, the pair's rows walked in name order up
    to the limit, not all read and sorted. (What made PostgreSQL read them all in the bench, LIKE priced from
    the names' statistics where a few units in a hundred contain the text, takes more units than a test
    fills to show: at 100k items it read the 100 rows of 区交 for 区交通运输局 and sorted them, estimating
    6; asked with strpos() it walks 20.)"""
    from bench.scenario import create_org

    with db.transaction() as s:
        create_org(s)
        s.add_all([Unit(code=f"tj{k:04d}", name=f"一{k:04d}区统计局") for k in range(40)])
    _analyze(db)
    with db.reading() as s:
        shown = unit_search.suggest(s, "统计局")
    assert len(shown) == unit_search.SUGGESTIONS and shown[0][1] == "一0000区统计局"
    few = _work(db, lambda s: unit_search.suggest(s, "统计局"), ("unit", "unit_name_gram"))
    with db.transaction() as s:
        s.add_all([Unit(code=f"tk{k:04d}", name=f"丁{k:04d}片区统计局") for k in range(3000)])
    _analyze(db)
    with db.reading() as s:
        assert unit_search.suggest(s, "统计局") == shown  # 丁 (U+4E01) sorts after 一 (U+4E00)
    many = _work(db, lambda s: unit_search.suggest(s, "统计局"), ("unit", "unit_name_gram"))
    assert many <= few * 1.2 + 50, (few, many)
