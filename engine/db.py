"""Database engine and sessions (SQLAlchemy 2.0). SQLite by default, PostgreSQL through DATABASE_URL."""
from __future__ import annotations

import json
import time
import weakref
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

from engine.direct import install as install_direct
from engine.sqlin import send_arrays_as_text


def _json(value) -> str:
    # Chinese text as itself, not as \uXXXX escapes: audit data is mostly Chinese and halves in size.
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("sqlite:///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, json_serializer=_json)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # WAL lets readers run beside the one writer
            # pysqlite's own transaction handling begins late and breaks SAVEPOINTs; SQLAlchemy's does it.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn):
            # A command takes the write lock at its start (as a row lock would): two commands that read,
            # then both try to write, would otherwise fail at once with "database is locked".
            conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("banli_write") else "BEGIN")

        install_direct(engine)
        return engine
    engine = create_engine(url, json_serializer=_json)

    @event.listens_for(engine, "connect")
    def _arrays(dbapi_conn, _record):
        send_arrays_as_text(dbapi_conn.adapters)

    install_direct(engine)
    _ping_when_idle(engine)
    _lost_connections_detected(engine)
    _pipelined(engine)
    return engine


_PIPELINE = "banli_pipeline"  # the connection's open pipeline (its context manager, itself), in its pool record's info
_UNANSWERED = ("SAVEPOINT ", "RELEASE SAVEPOINT ")  # SQLAlchemy's statements whose answer nothing reads


def _pipelined(engine: Engine) -> None:
    """A command's transaction on PostgreSQL runs in libpq's pipeline mode (`Database.transaction`): a write
    marked `banli_later` (engine.writes.later: its rows and row count are not read) is only queued, and goes
    out with the next statement whose answer the command awaits, or with the COMMIT; every other statement is
    answered at once, as outside a pipeline. The server runs them in order, so a read still sees every write
    before it. A completion's dozen writes cost one round trip where they cost one each, and BEGIN rides with
    the first statement. A queued write that fails fails the statement it went out with, and the transaction.

    A commit ends the pipeline: COMMIT is queued behind the last writes and goes out with the pipeline's end,
    one wait for both (psycopg's own commit, which finds the transaction over, sends nothing). Otherwise the
    pipeline ends when the connection goes back to the pool (before the pool's rollback), whether the
    transaction failed or was left: a connection is never handed out in pipeline mode.

    A savepoint's begin and release answer nothing either: they go out with the statement they guard (a
    failure of the guarded statement is still raised by it, and rolls back to the savepoint)."""
    @event.listens_for(engine, "after_cursor_execute")
    def _answer_now(conn, _cursor, statement, _parameters, context, _many):
        opened = conn.info.get(_PIPELINE)
        if opened is not None and not (context is not None and context.execution_options.get("banli_later")) \
                and not statement.startswith(_UNANSWERED):
            opened[1].sync()

    @event.listens_for(engine, "commit")
    def _commit_with_the_pipeline(conn):
        opened = conn.info.pop(_PIPELINE, None)
        if opened is None:
            return
        try:
            conn.connection.dbapi_connection.execute("COMMIT")
            opened[0].__exit__(None, None, None)  # its Sync carries the COMMIT; a failure is raised here
        except BaseException as exc:  # as SQLAlchemy raises a failed commit (a queued write's failure included)
            conn._handle_dbapi_exception(exc, "COMMIT", None, None, None)

    @event.listens_for(engine, "reset")
    def _end_before_reset(_dbapi_conn, record, _state):
        _end_pipeline(record.info)


def _end_pipeline(info: dict, failed: bool = False) -> None:
    """Leave pipeline mode. After a failure, first collect what the failed pipeline still holds: a failure raised
    already, or the answers to statements the server skipped once one had failed, which would otherwise fail
    the rollback in its turn (psycopg raises "pipeline aborted" for them at the rollback's sync)."""
    opened = info.pop(_PIPELINE, None)
    if opened is None:
        return
    from psycopg import Error as errors  # only PostgreSQL's connections are pipelined

    manager, pipeline = opened
    if failed:
        try:
            pipeline.sync()
        except errors:  # the command's failure, raised already (or about to be)
            pass
    try:
        manager.__exit__(None, None, None)
    except errors:  # the rollback that follows ends the transaction
        pass


def _begin_pipeline(session: Session) -> dict:
    """Put the session's connection in pipeline mode; returns the pool record's info that holds it."""
    conn = session.connection()
    manager = conn.connection.dbapi_connection.pipeline()
    conn.info[_PIPELINE] = (manager, manager.__enter__())
    return conn.info


# Server errors that end the session (class 08: connection exception; 57P01-03: terminated by an admin, a
# crash, a shutdown): the connection is gone whatever the client has noticed yet.
_SESSION_ENDED_SQLSTATES = ("08", "57P01", "57P02", "57P03")


def _lost_connections_detected(engine: Engine) -> None:
    """SQLAlchemy's psycopg dialect counts an error as a lost connection only once psycopg has marked the
    connection closed or broken. A command that meets a socket the server closed a moment ago fails before
    that (libpq: "sending query failed", "consuming input failed", psycopg: "connection socket closed"), and
    the pool would hand the dead connection to the next command, and every connection as old to the ones after.
    An error psycopg raises itself (no SQLSTATE) or one the server sends as it ends the session is a lost
    connection too; any other server error fails its command and keeps the connection."""
    operational = engine.dialect.loaded_dbapi.OperationalError
    aborted = engine.dialect.loaded_dbapi.errors.PipelineAborted  # a pipeline's skipped statement: the connection lives

    @event.listens_for(engine, "handle_error")
    def _lost(ctx):
        error = ctx.original_exception
        if ctx.is_disconnect or not isinstance(error, operational) or isinstance(error, aborted):
            return
        sqlstate = getattr(error, "sqlstate", None)
        if sqlstate is None or sqlstate.startswith(_SESSION_ENDED_SQLSTATES):
            ctx.is_disconnect = True


IDLE_PING_SECONDS = 30.0


def _ping_when_idle(engine: Engine) -> None:
    """A pooled connection idle for a while may have been closed under it (the server restarted, a firewall
    dropped it): it is tried before use and replaced if dead. One used a moment ago is not: pinging at every
    checkout (`pool_pre_ping`) cost every command a round trip. A connection that dies while in use fails its
    command, and the pool then replaces every connection older than the failure."""
    @event.listens_for(engine, "checkin")
    def _used(_dbapi_conn, record):
        record.info["banli_used"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _alive(dbapi_conn, record, _proxy):
        used = record.info.get("banli_used")
        if used is None or time.monotonic() - used < IDLE_PING_SECONDS:  # just opened, or just used
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except engine.dialect.loaded_dbapi.Error as exc:
            raise DisconnectionError(f"pooled connection lost while idle: {exc}") from exc


class Database:
    """One engine and its session factory; every command runs in `transaction()`."""

    def __init__(self, url: str):
        self.url = url
        self.engine = make_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def create_all(self) -> None:
        from engine.models import Base

        Base.metadata.create_all(self.engine)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One command, one transaction: commit on success, roll back on any error.

        An error that must leave a trace once its command is undone (a process failure: its incident) says so
        with an `after_rollback(db)` method; it runs after the rollback, and what it returns is raised instead."""
        session = self.sessions()
        pipelined = None
        try:
            if self.engine.dialect.name == "sqlite":
                session.connection(execution_options={"banli_write": True})
            elif self.is_postgres:
                pipelined = _begin_pipeline(session)
            yield session
            session.commit()
        except BaseException as exc:
            if pipelined is not None:
                _end_pipeline(pipelined, failed=True)
            session.rollback()
            session.close()
            after = getattr(exc, "after_rollback", None)
            if after is not None:
                raise after(self) from exc
            raise
        finally:
            session.close()

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A session that only reads (a page, a report). On PostgreSQL its transaction is read-only and ends with
        COMMIT, not the pool's rollback: psycopg discards every statement the connection has prepared at a
        rollback (DEALLOCATE ALL), so one page read made the next commands on its connection parse and plan their
        statements anew. Read-only, the COMMIT cannot keep anything a read did by mistake: a write fails."""
        session = self.sessions()
        try:
            if self.is_postgres:
                session.connection(execution_options={"postgresql_readonly": True})
            yield session
            if self.is_postgres:
                session.commit()
        finally:
            session.close()


_KEYS: "weakref.WeakKeyDictionary[Engine, str]" = weakref.WeakKeyDictionary()


def database_key(session: Session) -> str:
    """Which database the session works on, for caches kept per database (tests and benchmarks open many in one
    process): its URL, rendered once per engine (rendering it at every command cost more than the cache saved)."""
    bind = session.get_bind()
    key = _KEYS.get(bind)
    if key is None:
        key = _KEYS[bind] = str(bind.url)
    return key


def escape_like(text: str) -> str:
    """`text` for a LIKE pattern with escape '\\': its % and _ match themselves, not any character
    (a search for 1381_34_678 must not confirm a phone number digit by digit)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
