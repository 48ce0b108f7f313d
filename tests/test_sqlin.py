"""List parameters: the right rows for any length, and one statement text whatever the length (psycopg runs its
prepared statement instead of parsing and planning each length anew; engine.direct sends it as compiled)."""
from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from sqlalchemy import BigInteger, Boolean, Date, DateTime, String, bindparam, cast, delete, event, select, text
from sqlalchemy.dialects.postgresql import ARRAY

from engine.models import Unit
from engine.sqlin import one_of
from tests.conftest import BACKEND

CODES = select(Unit.code).where(one_of(Unit.code, "codes")).order_by(Unit.code)


def _texts(db, run) -> set[str]:
    seen: list[str] = []

    def record(_conn, _cursor, statement, *_args):
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        run()
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    return set(seen)


def test_one_of_finds_the_rows_of_each_value_and_none_for_an_empty_list(db):
    with db.transaction() as s:
        s.add_all([Unit(code=c, name=f"测试单位{c}") for c in ("u1", "u2", "u3")])
    with db.reading() as s:
        assert s.scalars(CODES, {"codes": ["u3", "u1", "no-such-unit"]}).all() == ["u1", "u3"]
        assert s.scalars(CODES, {"codes": ["u2"]}).all() == ["u2"]
        assert s.scalars(CODES, {"codes": []}).all() == []


def test_one_of_in_a_delete_removes_only_the_listed_rows(db):
    with db.transaction() as s:
        s.add_all([Unit(code=c, name=f"测试单位{c}") for c in ("t-sqlin-1", "t-sqlin-2", "t-sqlin-3")])
    with db.transaction() as s:
        gone = delete(Unit).where(one_of(Unit.code, "codes"))
        assert s.execute(gone, {"codes": ["t-sqlin-1", "t-sqlin-3"]}).rowcount == 2
        assert s.execute(gone, {"codes": []}).rowcount == 0
    with db.reading() as s:
        assert s.scalars(select(Unit.code).where(Unit.code.like("t-sqlin-%"))).all() == ["t-sqlin-2"]


def test_the_text_does_not_depend_on_the_lists_length(db):
    def run():
        with db.reading() as s:
            for codes in ([], ["a"], ["a", "b", "c"], ["a"] * 7):
                s.scalars(CODES, {"codes": codes}).all()

    texts = [t for t in _texts(db, run) if "unit.code" in t]
    assert len(texts) == 1


def test_the_lookup_searches_the_columns_index(db):
    """On SQLite a predicate compared to 1 (`code IN (...) = 1`) is searched row by row: the timer sweep on a
    large database took half as long again as on a small one before this held."""
    from sqlalchemy import text

    with db.reading() as s:
        conn = s.connection()
        sql = str(CODES.compile(dialect=conn.dialect))
        assert "= 1" not in sql
        if db.is_postgres:
            return  # the plan on a small table says nothing there; the text is the point (see above)
        plan = " ".join(str(r[-1]) for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", ('["a", "b"]',)))
        assert "USING" in plan and "INDEX" in plan, plan


def test_array_text_writes_each_kind_as_postgresqls_array_input_reads_it():
    from datetime import date, datetime

    from engine.sqlin import array_text

    assert array_text([]) == "{}"
    assert array_text([1, -2, 0, None]) == "{1,-2,0,NULL}"
    assert array_text([True, False]) == "{t,f}"
    assert array_text([date(2026, 12, 6)]) == "{2026-12-06}"
    assert array_text(['a "b"', "c\\d", "", "NULL", "{x,y}", "交通局"]) == \
        '{"a \\"b\\"","c\\\\d","","NULL","{x,y}","交通局"}'
    assert array_text([datetime(2026, 12, 6, 8, 0)]) is None  # another kind: psycopg's own adaptation
    assert array_text([1.5]) is None


_PG_ONLY = pytest.mark.skipif(BACKEND != "postgres", reason="PostgreSQL only: runs in the BANLI_TEST_DB=postgres "
                                                            "pass of `make test`")


@_PG_ONLY
@settings(max_examples=int(os.environ.get("BANLI_ARRAY_EXAMPLES", "60")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(st.none() | st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"))),
       numbers=st.lists(st.none() | st.integers(-2**63, 2**63 - 1)), flags=st.lists(st.booleans()),
       days=st.lists(st.dates()))
def test_every_list_reaches_postgresql_as_it_was_given(db, texts, numbers, flags, days):
    """Strings with quotes, backslashes, braces, commas, spaces or the word NULL, the widest integers, NULLs
    between values: each array comes back from the server element for element."""
    stmt = select(*(cast(bindparam(name, type_=ARRAY(kind)), ARRAY(kind)).label(name) for name, kind in
                    (("texts", String), ("numbers", BigInteger), ("flags", Boolean), ("days", Date))))
    with db.reading() as s:
        row = s.execute(stmt, {"texts": texts, "numbers": numbers, "flags": flags, "days": days}).one()
    assert (row.texts, row.numbers, row.flags, row.days) == (texts, numbers, flags, days)


@_PG_ONLY
def test_a_list_of_another_kind_goes_psycopgs_way(db):
    from datetime import datetime, timezone

    instants = [datetime(2026, 12, 6, 8, 30, tzinfo=timezone.utc), None]
    stmt = select(cast(bindparam("a", type_=ARRAY(DateTime(timezone=True))), ARRAY(DateTime(timezone=True))))
    with db.reading() as s:
        assert s.scalar(stmt, {"a": instants}) == instants


@_PG_ONLY
def test_a_list_parameter_still_searches_the_columns_index(db):
    """The array goes as text of no declared type, typed by the statement's cast: the plan is the same."""
    with db.transaction() as s:
        s.add_all([Unit(code=f"ix{i:04d}", name=f"测试单位{i}") for i in range(2000)])
        s.execute(text("ANALYZE unit"))
    with db.reading() as s:
        compiled = CODES.compile(dialect=s.get_bind().dialect)
        sql = str(compiled).replace("%(codes)s", "%(codes)s")
        plan = "\n".join(r[0] for r in s.connection().exec_driver_sql(
            "EXPLAIN " + sql, {"codes": ["ix0007", "ix1234"]}).all())
        assert s.scalars(CODES, {"codes": ["ix0007", "ix1234", 'no "such" unit']}).all() == ["ix0007", "ix1234"]
    assert "Index" in plan and "Seq Scan" not in plan, plan


@_PG_ONLY
def test_the_connections_send_lists_as_array_text(db):
    from psycopg.adapt import PyFormat

    with db.reading() as s:
        adapters = s.connection().connection.dbapi_connection.adapters
        assert adapters.get_dumper(list, PyFormat.AUTO).__name__ == "ArrayText"
