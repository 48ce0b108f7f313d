"""`column IN (a list given at execution)` whose SQL text does not depend on the list's length.

SQLAlchemy's expanding IN renders one placeholder per element at every execution: each list length is another
statement text, which the driver parses again and PostgreSQL plans again instead of running its prepared
statement, and the rendering itself costs every execution (engine.direct cannot send such a statement as
compiled). So the list goes as one parameter: on PostgreSQL an array (`column = ANY(:name)`), on SQLite a JSON
array read by json_each (`column IN (SELECT value FROM json_each(:name))`); both search the column's index.
"""
from __future__ import annotations

import json

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
