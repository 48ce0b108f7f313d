"""Throw-away benchmark databases: SQLite files in a temporary folder, PostgreSQL databases on the server
of BANLI_BENCH_PG_URL (default: the local `test` database's server), dropped at the end."""
from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from engine.cli import initialize
from engine.db import Database

PG_URL = os.environ.get("BANLI_BENCH_PG_URL") or os.environ.get(
    "BANLI_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


class Databases:
    def __init__(self):
        self.folder = Path(tempfile.mkdtemp(prefix="banli-bench-"))
        self.pg_created: list[str] = []
        self.opened: list[Database] = []
        self.pg_problem = self._pg_problem()

    @staticmethod
    def _pg_problem() -> str | None:
        engine = create_engine(PG_URL, connect_args={"connect_timeout": 3})
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return None
        except Exception as exc:  # noqa: BLE001 - reported as is
            return str(exc).strip().splitlines()[0]
        finally:
            engine.dispose()

    @property
    def has_postgres(self) -> bool:
        return self.pg_problem is None

    def new(self, backend: str, name: str) -> Database:
        """An initialised database (schema, calendar, processes deployed) with no organisation."""
        if backend == "sqlite":
            url = f"sqlite:///{self.folder / name}.db"
        else:
            db_name = f"banli_bench_{os.getpid()}_{name}_{uuid.uuid4().hex[:6]}"
            self._admin(f'CREATE DATABASE "{db_name}"')
            self.pg_created.append(db_name)
            url = make_url(PG_URL).set(database=db_name).render_as_string(hide_password=False)
        db = Database(url)
        initialize(db)
        self.opened.append(db)
        return db

    def _admin(self, sql: str) -> None:
        engine = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.execute(text(sql))
        finally:
            engine.dispose()

    def close(self) -> None:
        for db in self.opened:
            db.engine.dispose()
        for name in self.pg_created:
            self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        for path in self.folder.glob("*"):
            path.unlink()
        self.folder.rmdir()
