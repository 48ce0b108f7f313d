"""`column IN (a list given at execution)` whose SQL text does not depend on the list's length.

SQLAlchemy's expanding IN renders one placeholder per element at every execution: each list length is another
statement text, which the driver parses again and PostgreSQL plans again instead of running its prepared
statement, and the rendering itself costs every execution (engine.direct cannot send such a statement as
compiled). So the list goes as one parameter: on PostgreSQL an array (`column = ANY(:name)`), on SQLite a JSON
array read by json_each (`column IN (SELECT value FROM json_each(:name))`); both search the column's index.
"""
from __future__ import annotations

import json
from datetime import date

from sqlalchemy import Boolean, String, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal
from sqlalchemy.types import TypeDecorator


class OneOf(ColumnElement[bool]):
    """`column` is one of the values of the list parameter `name` (an empty list matches nothing)."""

    inherit_cache = True
    type = Boolean()
    # A predicate itself: where booleans are not native (SQLite), SQLAlchemy would otherwise compare it to 1
    # (`code IN (...) = 1`), which no index serves.
    _is_implicitly_boolean = True
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement), ("name", InternalTraversal.dp_string)]

    def __init__(self, column, name: str):
        self.column = column
        self.name = name


class JSONList(TypeDecorator):
    """A list bound as its JSON text (json_each reads it)."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return None if value is None else json.dumps(list(value), ensure_ascii=False)


@compiles(OneOf)
def _expanding(element: OneOf, compiler, **kw) -> str:
    return compiler.process(element.column.in_(bindparam(element.name, expanding=True)), **kw)


@compiles(OneOf, "sqlite")
def _json_each(element: OneOf, compiler, **kw) -> str:
    column = compiler.process(element.column, **kw)
    return f"{column} IN (SELECT value FROM json_each({compiler.process(bindparam(element.name, type_=JSONList()), **kw)}))"


@compiles(OneOf, "postgresql")
def _array(element: OneOf, compiler, **kw) -> str:
    return compiler.process(element.column == any_(bindparam(element.name, type_=ARRAY(element.column.type))), **kw)


def one_of(column, name: str) -> OneOf:
    return OneOf(column, name)


def array_text(values: list) -> str | None:
    """PostgreSQL's text form of a one-dimensional array of str, int, bool or date values (None: NULL), or None
    when an element is of any other kind. A string is double-quoted, its double quotes and backslashes escaped:
    the array input routine reads it back as written, whatever it holds (commas, braces, spaces, the word NULL)."""
    parts = []
    for v in values:
        kind = v.__class__
        if kind is str:
            parts.append('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"')
        elif kind is int:
            parts.append(str(v))
        elif v is None:
            parts.append("NULL")
        elif kind is bool:
            parts.append("t" if v else "f")
        elif kind is date:
            parts.append(v.isoformat())
        else:
            return None
    return "{" + ",".join(parts) + "}"


def send_arrays_as_text(adapters) -> None:
    """Lists go to PostgreSQL as array text of no declared type: the statement's cast names it (SQLAlchemy casts
    every parameter, `= ANY($1::VARCHAR[])`, `unnest($1::INTEGER[], ...)`). psycopg's own list adaptation is
    Python that inspects every element to choose the array's type, then dumps it with the element type's
    adapter, at every execution: a completion's summary upserts send fifteen arrays, and it cost more of the
    client's time than the rest of psycopg's work on their statements. Another kind of element goes psycopg's
    way. A list in a place with no type (`SELECT %s` sent by hand) reads back as its text: give it a cast."""
    from psycopg.adapt import Dumper, PyFormat
    from psycopg.types.array import ListDumper

    class ArrayText(Dumper):
        oid = 0  # unknown: typed by the statement's cast

        def dump(self, obj: list):
            text = array_text(obj)
            if text is None:
                return ListDumper(list, self.connection).upgrade(obj, PyFormat.TEXT).dump(obj)
            return text.encode("utf-8")

    adapters.register_dumper(list, ArrayText)
