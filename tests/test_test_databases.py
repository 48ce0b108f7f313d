"""The PostgreSQL run's clean-up drops only databases of test runs that are gone, never another live run's
(on this machine or any other sharing the server) nor databases named in another way."""
from __future__ import annotations

import uuid

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from tests import conftest
from tests.conftest import BACKEND, PG_URL, RUN_LOCK_CLASS, RUN_KEY

pytestmark = pytest.mark.skipif(BACKEND != "postgres", reason="PostgreSQL run only")


def _create(name: str) -> None:
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()


def _existing(names: list[str]) -> set[str]:
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as conn:
        found = set(conn.scalars(text("SELECT datname FROM pg_database WHERE datname = ANY(:n)"), {"n": names}))
    admin.dispose()
    return found


def test_clean_up_drops_only_runs_that_are_gone():
    live_key, dead_key = RUN_KEY % 1_000_000 + 7_000_001, RUN_KEY % 1_000_000 + 8_000_001
    suffix = lambda: uuid.uuid4().hex[:12]  # noqa: E731
    live = f"banli_run{live_key}_{suffix()}"  # another run, alive (maybe on another machine): holds its lock
    dead = f"banli_run{dead_key}_{suffix()}"  # a killed run: nobody holds its lock
    mine = conftest.PG_PREFIX + suffix()  # this run's own, still in use
    old_style = f"banli_t1_{suffix()}"  # the former naming (pid 1 is "not ours"): must be left alone
    other = f"banli_runx_{suffix()}"  # not of the form at all
    holder = create_engine(PG_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool).connect()
    holder.execute(text("SELECT pg_advisory_lock(:c, :k)"), {"c": RUN_LOCK_CLASS, "k": live_key})
    names = [live, dead, mine, old_style, other]
    try:
        for name in names:
            _create(name)
        conftest._drop_leftovers()
        assert _existing(names) == {live, mine, old_style, other}
    finally:
        holder.close()
        for name in names:
            conftest.drop_pg_database(PG_URL.rsplit("/", 1)[0] + "/" + name)


def test_every_import_of_the_fixtures_names_the_same_run():
    import sys

    assert sys.modules["conftest"].PG_PREFIX == conftest.PG_PREFIX
