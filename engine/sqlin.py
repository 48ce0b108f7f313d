"""`column IN (a list given at execution)` whose SQL text does not depend on the list's length.

SQLAlchemy's expanding IN renders one placeholder per element at every execution: on PostgreSQL each list
length is another statement text, which psycopg parses again and the server plans again instead of running
its prepared statement. There the list goes as one array parameter (`column = ANY(:name)`); SQLite, which
has no arrays, keeps the expanding IN.
"""
from __future__ import annotations

from sqlalchemy import Boolean, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal


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


@compiles(OneOf)
def _expanding(element: OneOf, compiler, **kw) -> str:
    return compiler.process(element.column.in_(bindparam(element.name, expanding=True)), **kw)


@compiles(OneOf, "postgresql")
def _array(element: OneOf, compiler, **kw) -> str:
    return compiler.process(element.column == any_(bindparam(element.name, type_=ARRAY(element.column.type))), **kw)


def one_of(column, name: str) -> OneOf:
    return OneOf(column, name)
