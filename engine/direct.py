"""Prebuilt Core statements run straight on the driver's cursor, past SQLAlchemy's execution machinery.

A completion sends some fifteen to twenty statements, each built once at import. SQLAlchemy spends more of
the client's time on each than the driver and the database together (a cache lookup by the statement's key,
its parameters constructed and processed, an execution context, a result's metadata, events): 35 µs a
statement on SQLite, where the database takes 3 µs, and 120 µs on PostgreSQL, where psycopg takes 50. A
statement marked `direct` is compiled once per dialect and set of parameter keys and then sent with its
parameters processed as SQLAlchemy would (bind processors, Python column defaults), so the rows in the
database are the same. What a direct statement cannot be sent as is (an expanding IN, a parameter whose
name must be escaped, a default that is not a constant or a plain function) goes the ordinary way.

Listeners of `before_cursor_execute` and `after_cursor_execute` still see every statement (the statement
counts of the tests and the bench, the pipeline of engine.db), given an execution context that holds only
the statement's execution options; a driver error is raised as SQLAlchemy raises it (wrapped, a lost
connection detected).
"""
from __future__ import annotations

from collections import namedtuple
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.engine.interfaces import CacheStats

_DIRECT = "banli_direct"
_CURSOR = "banli_cursor"  # the connection's cursor for direct statements, in its pool record's info


def direct(stmt):
    """`stmt` marked to be run straight on the driver (see the module's docstring)."""
    return stmt.execution_options(**{_DIRECT: True})


class _Plan:
    """A statement compiled for one dialect and one set of parameter keys."""

    __slots__ = ("sql", "names", "fixed", "processors", "defaults", "context", "keys", "row", "returns", "results")

    def __init__(self, stmt, compiled, dialect, keys: tuple):
        self.sql = compiled.string
        processors = compiled._bind_processors
        # positional drivers (SQLite): (name, its processor or None) in the statement's order
        self.names = [(n, processors.get(n)) for n in compiled.positiontup] if compiled.positional else None
        # values bound in the statement itself (a literal, a constant in an expression)
        self.fixed = {name: bind.effective_value for bind, name in compiled.bind_names.items()
                      if name not in keys and not bind.required and bind.callable is None}
        self.processors = list(processors.items())
        self.defaults = [(c.key, d.arg, d.is_callable) for c, d in _defaults(compiled)]
        self.context = _Context(compiled, stmt._execution_options)
        self.returns = bool(compiled._result_columns)
        self.keys = tuple(c[0] for c in compiled._result_columns)
        self.row = namedtuple("Row", self.keys, rename=True) if self.returns else None
        # (position, function) of the columns whose values SQLAlchemy converts (an instant on SQLite, JSON text)
        self.results = [(i, p) for i, p in ((i, c[3]._cached_result_processor(dialect, None))
                                            for i, c in enumerate(compiled._result_columns)) if p is not None]

    @staticmethod
    def possible(compiled, many: bool) -> bool:
        """Whether the compiled statement can be sent as it is, its parameters processed here."""
        if compiled.literal_execute_params or compiled.post_compile_params or compiled.escaped_bind_names \
                or compiled.has_out_parameters or any(b.expanding or b.callable is not None
                                                      for b in compiled.bind_names):
            return False
        if any(d is None or not (d.is_scalar or d.is_callable) for _c, d in _defaults(compiled)):
            return False
        return not (many and compiled._result_columns)

    def parameters(self, given: dict):
        """The driver's parameters for one row of `given` values (a tuple in the statement's order, or a dict)."""
        if self.fixed or self.defaults:
            values = {**self.fixed, **given}
            for key, default, call in self.defaults:
                if key not in given:
                    values[key] = default(None) if call else default  # SQLAlchemy's wrapper of a plain function
        else:
            values = given
        if self.names is not None:
            return tuple([values[n] if process is None else process(values[n]) for n, process in self.names])
        if self.processors:
            values = dict(values)
            for name, process in self.processors:
                if name in values:
                    values[name] = process(values[name])
        return values


def _defaults(compiled):
    """(column, its default) of the columns whose Python-side default the statement leaves to the client."""
    return [*((c, c.default) for c in compiled.insert_prefetch), *((c, c.onupdate) for c in compiled.update_prefetch)]


class _Context:
    """What listeners of the cursor events are given of a direct statement: its compiled form and execution
    options, and whether it was compiled for this execution (only its first)."""

    __slots__ = ("compiled", "execution_options", "cache_hit", "_sent")

    def __init__(self, compiled, execution_options):
        self.compiled, self.execution_options, self.cache_hit = compiled, execution_options, CacheStats.CACHE_MISS
        self._sent = None

    def sent(self) -> "_Context":
        """The context of the statement sent ahead (`send`): its answer is not awaited now (engine.db's pipeline)."""
        if self._sent is None:
            self._sent = _Context(self.compiled, self.execution_options.union({"banli_later": True}))
        return self._sent


class _Listed(list):
    """Values or mappings of rows, read as SQLAlchemy's ScalarResult and MappingResult are."""

    def all(self) -> list:
        return list(self)

    def first(self):
        return self[0] if self else None


class Rows:
    """What a direct SELECT or RETURNING gives back: rows as named tuples, processed as SQLAlchemy's are, read
    as SQLAlchemy's Result is (iteration, all, first, scalar, scalars, mappings, rowcount)."""

    def __init__(self, rows: list, rowcount: int, keys: tuple = ()):
        self._rows, self.rowcount, self._keys = rows, rowcount, keys

    def __iter__(self):
        return iter(self._rows)

    def all(self) -> list:
        return self._rows

    def first(self):
        return self._rows[0] if self._rows else None

    def scalar(self):
        return self._rows[0][0] if self._rows else None

    def scalars(self) -> _Listed:
        return _Listed(r[0] for r in self._rows)

    def mappings(self) -> _Listed:
        return _Listed(dict(zip(self._keys, r)) for r in self._rows)


_PLANS: dict = {}  # (statement, dialect name, parameter keys, several rows): its _Plan, or None: not direct


class DirectConnection(Connection):
    """A connection that runs statements marked `direct` on the driver's cursor."""

    def _execute_clauseelement(self, elem, distilled_parameters, execution_options):
        many = len(distilled_parameters) > 1
        plan = None if execution_options else self._plan(elem, distilled_parameters, many)
        if plan is None:
            return super()._execute_clauseelement(elem, distilled_parameters, execution_options)
        return self._run(plan, distilled_parameters, many)

    def _plan(self, elem, distilled_parameters, many: bool) -> _Plan | None:
        """The plan to send `elem` direct, or None: not marked, not possible, or not inside a transaction begun
        and alive (beginning one, or finding the connection gone, is SQLAlchemy's)."""
        trans, nested = self._transaction, self._nested_transaction
        if not elem._execution_options.get(_DIRECT) or trans is None or not trans.is_active \
                or (nested is not None and not nested.is_active) or self._dbapi_connection is None:
            return None
        keys = tuple(sorted(distilled_parameters[0])) if distilled_parameters else ()
        key = (elem, self.dialect.name, keys, many)
        plan = _PLANS.get(key)
        if plan is None and key not in _PLANS:
            compiled = elem.compile(dialect=self.dialect, column_keys=list(keys), for_executemany=many)
            plan = _PLANS[key] = _Plan(elem, compiled, self.dialect, keys) if _Plan.possible(compiled, many) else None
        return plan

    def _execute_plan(self, cursor, plan: _Plan, parameters, context: _Context, many: bool) -> None:
        """Run the plan on `cursor`, the cursor-event listeners told before and after."""
        events = self._has_events or self.engine._has_events
        if events:
            self.dispatch.before_cursor_execute(self, cursor, plan.sql, parameters, context, many)
        if many:
            cursor.executemany(plan.sql, parameters)
        else:
            cursor.execute(plan.sql, parameters)
        if events:
            self.dispatch.after_cursor_execute(self, cursor, plan.sql, parameters, context, many)
        context.cache_hit = CacheStats.CACHE_HIT  # compiled once, for its first execution

    def send(self, elem, parameters: dict) -> "Sent":
        """Send the direct SELECT `elem` now and read its rows later (`Sent.rows`): in PostgreSQL's pipeline
        (engine.db) it goes out with the next statement whose answer is awaited, and its answer comes with that
        one's, one wait for both. Elsewhere, or when it cannot go direct, it runs now."""
        plan = self._plan(elem, [parameters], False) if self.dialect.name == "postgresql" else None
        if plan is None or not plan.returns:
            return Sent(rows=self.execute(elem, parameters))
        values = plan.parameters(parameters)
        cursor = None
        try:
            cursor = self._dbapi_connection.dbapi_connection.cursor()  # its own: the kept one serves what follows
            self._execute_plan(cursor, plan, values, plan.context.sent(), False)
        except BaseException as e:
            self._handle_dbapi_exception(e, plan.sql, values, cursor, None)
        return Sent(connection=self, plan=plan, cursor=cursor, values=values)

    def _cursor(self):
        """The connection's cursor for direct statements, kept with it: a new cursor starts with empty caches
        of how to convert each parameter and column type (psycopg's adapters), which cost more than the
        statement."""
        proxied = self._dbapi_connection
        cursor = proxied.info.get(_CURSOR)
        if cursor is None:
            cursor = proxied.info[_CURSOR] = proxied.dbapi_connection.cursor()
        return cursor

    def _run(self, plan: _Plan, distilled_parameters, many: bool):
        if many:
            parameters = [plan.parameters(p) for p in distilled_parameters]
        else:
            parameters = plan.parameters(distilled_parameters[0] if distilled_parameters else {})
        cursor = None
        try:
            cursor = self._cursor()
            self._execute_plan(cursor, plan, parameters, plan.context, many)
            if not plan.returns:
                return Rows([], cursor.rowcount)
            rows = cursor.fetchall()
            rowcount = cursor.rowcount
        except BaseException as e:
            self._dbapi_connection.info.pop(_CURSOR, None)  # SQLAlchemy closes it
            self._handle_dbapi_exception(e, plan.sql, parameters, cursor, None)
        return _rows(plan, rows, rowcount)


def _rows(plan: _Plan, rows: list, rowcount: int) -> Rows:
    """The driver's rows as named tuples, their values converted as SQLAlchemy converts them."""
    make = plan.row._make
    if plan.results:
        out = []
        for r in rows:
            r = list(r)
            for i, process in plan.results:
                r[i] = process(r[i])
            out.append(make(r))
        return Rows(out, rowcount, plan.keys)
    return Rows([make(r) for r in rows], rowcount, plan.keys)


class Sent:
    """A SELECT sent ahead (DirectConnection.send); `rows()` reads its answer (waiting for it if nothing has
    brought it yet)."""

    def __init__(self, rows: Rows | None = None, connection=None, plan=None, cursor=None, values=None):
        self._rows, self._connection, self._plan, self._cursor, self._values = rows, connection, plan, cursor, values

    def rows(self) -> Rows:
        if self._rows is None:
            try:
                fetched = self._cursor.fetchall()
            except BaseException as e:
                self._connection._handle_dbapi_exception(e, self._plan.sql, self._values, self._cursor, None)
            self._rows = _rows(self._plan, fetched, self._cursor.rowcount)
        return self._rows


def install(engine: Engine) -> None:
    """Let `engine`'s connections run direct statements."""
    engine._connection_cls = DirectConnection
