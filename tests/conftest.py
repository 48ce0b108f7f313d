"""Shared fixtures: a real database per test, initialised once and copied, and the Flask app.

BANLI_TEST_DB picks the database: `sqlite` (default) copies a prepared file per test; `postgres` creates a
fresh PostgreSQL database per test from a prepared template (`CREATE DATABASE ... TEMPLATE`) on the server
of BANLI_TEST_PG_URL and drops it afterwards. When that server is unreachable the PostgreSQL run stops
with a plain SKIPPED line, or fails when CI is set.
"""
from __future__ import annotations

from collections.abc import Mapping
from contextlib import contextmanager

import os
import queue
import re
import secrets
import shutil
import threading
import uuid

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool
from werkzeug.serving import make_server

# The processes' own conditions and scripts take microseconds; on a shared VM a stalled virtual CPU is still
# counted as the thread's CPU time, and once failed a one-line gateway condition against the 1 s limit. The
# limit itself is tested with its own values (tests/test_sandbox.py); the rest of the suite runs with headroom.
os.environ.setdefault("BANLI_SCRIPT_CPU_SECONDS", "5")  # read when the engine is imported, below

from engine import clock
from engine.cli import initialize
from engine.db import Database
from engine.demo import DEMO_PASSWORD, load_demo
from engine.models import TaskRow, User

BACKEND = os.environ.get("BANLI_TEST_DB", "sqlite")
PG_URL = os.environ.get("BANLI_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
# Every database this run creates starts with this prefix, made of a random run key. While the run lives it
# holds a PostgreSQL advisory lock on that key (on the server, whatever machine it runs on): a later run drops
# only databases whose run's lock is gone, so a clean-up never touches another live run's databases, nor
# databases named in any other way.
RUN_LOCK_CLASS = 0x62616E6C  # "banl": the advisory-lock namespace of test runs
# Kept in the environment: pytest imports this file as `conftest` and tests import it as `tests.conftest`,
# two module objects that must name the same run.
RUN_KEY = int(os.environ.setdefault("BANLI_TEST_RUN_KEY", str(secrets.randbelow(2**31 - 1) + 1)))
PG_PREFIX = f"banli_run{RUN_KEY}_"
_run_lock = None  # the connection holding this run's advisory lock (session scope)
_prepared: "_Prepared | None" = None  # the PostgreSQL run's database preparer (session scope)


def pytest_report_header(config):
    return f"banli test database: {BACKEND}" + (f" ({make_url(PG_URL).render_as_string(hide_password=True)})"
                                                 if BACKEND == "postgres" else "")


def pytest_sessionstart(session):
    if BACKEND not in ("sqlite", "postgres"):
        raise pytest.UsageError(f"BANLI_TEST_DB must be sqlite or postgres, not {BACKEND!r}")
    if BACKEND != "postgres":
        return
    problem = _pg_unreachable()
    if problem is None:
        _hold_run_lock()
        _drop_leftovers()
        return
    where = make_url(PG_URL).render_as_string(hide_password=True)
    if os.environ.get("CI"):
        pytest.exit(f"PostgreSQL run FAILED: CI is set but {where} is unreachable: {problem}", returncode=1)
    pytest.exit(f"PostgreSQL run SKIPPED: {where} is unreachable ({problem}). "
                "Start PostgreSQL or set BANLI_TEST_PG_URL to run the suite on it.", returncode=0)


def pytest_sessionfinish(session, exitstatus):
    if _run_lock is not None:
        _run_lock.close()  # releases the run's advisory lock


def _admin():
    return create_engine(PG_URL, isolation_level="AUTOCOMMIT", pool_size=1)


def _pg_unreachable() -> str | None:
    engine = create_engine(PG_URL, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return None
    except Exception as exc:  # noqa: BLE001 - any reason is reported as is
        return str(exc).strip().splitlines()[0]
    finally:
        engine.dispose()


def _hold_run_lock() -> None:
    """Take this run's advisory lock on a connection kept open for the whole run (released when the run
    ends or dies, since the server ends a dead client's session)."""
    global _run_lock
    _run_lock = create_engine(PG_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool).connect()
    _run_lock.execute(text("SELECT pg_advisory_lock(:c, :k)"), {"c": RUN_LOCK_CLASS, "k": RUN_KEY})


def _drop_leftovers() -> None:
    """Drop the databases of test runs that ended without cleaning up (killed): only names of the form
    banli_run<key>_... whose run no longer holds its advisory lock anywhere on the server."""
    admin = _admin()
    with admin.connect() as conn:
        names = conn.scalars(text("SELECT datname FROM pg_database WHERE datname LIKE 'banli\\_run%'")).all()
        held = set(conn.scalars(text("SELECT objid FROM pg_locks WHERE locktype = 'advisory' AND classid = :c "
                                     "AND objsubid = 2"), {"c": RUN_LOCK_CLASS}).all())
        for name in names:
            m = re.fullmatch(r"banli_run(\d+)_[0-9a-f]{12}", name)
            if m and int(m.group(1)) != RUN_KEY and int(m.group(1)) not in held:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def pg_database(template: str | None = None) -> str:
    """Create an empty (or `template`-copied) PostgreSQL database for this run; returns its URL."""
    name = PG_PREFIX + uuid.uuid4().hex[:12]
    admin = _admin()
    with admin.connect() as conn:
        sql = f'CREATE DATABASE "{name}"'
        if template:
            sql += f' TEMPLATE "{template}"'
            # PostgreSQL 15+ copies through the WAL by default: for a small template the file copy is
            # about three times faster, which is most of a test's setup.
            if conn.dialect.server_version_info >= (15,):
                sql += " STRATEGY FILE_COPY"
        conn.execute(text(sql))
    admin.dispose()
    return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)


def drop_pg_database(url: str) -> None:
    admin = _admin()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    admin.dispose()


class _Prepared:
    """Test databases copied from the templates one step ahead, and dropped behind, by one background
    thread: PostgreSQL's copy waits on the disk, so it overlaps with the previous test instead of
    adding its time to every test."""

    def __init__(self, templates: list[str]):
        self.ready = {t: queue.Queue() for t in templates}
        self.jobs: queue.Queue = queue.Queue()
        self.thread = threading.Thread(target=self._work, name="pg-test-databases", daemon=True)
        self.thread.start()
        for t in templates:
            self.jobs.put(("create", t))

    def _work(self) -> None:
        while True:
            kind, arg = self.jobs.get()
            if kind == "stop":
                return
            try:
                if kind == "create":
                    self.ready[arg].put(pg_database(template=arg))
                else:
                    drop_pg_database(arg)
            except Exception as exc:  # noqa: BLE001 - handed to the test that needed the database
                if kind == "create":
                    self.ready[arg].put(exc)

    def take(self, template: str) -> str:
        url = self.ready[template].get(timeout=300)
        if isinstance(url, Exception):
            raise url
        self.jobs.put(("create", template))
        return url

    def give_back(self, url: str) -> None:
        self.jobs.put(("drop", url))

    def close(self) -> None:
        self.jobs.put(("stop", None))
        self.thread.join()
        for q in self.ready.values():
            while not q.empty():
                url = q.get()
                if isinstance(url, str):
                    drop_pg_database(url)


@pytest.fixture(scope="session")
def _template_dbs(tmp_path_factory):
    """Two databases built once per run: initialised (calendar, processes) and with demo data.
    SQLite: two files. PostgreSQL: two template databases, dropped at the end of the run."""
    if BACKEND == "postgres":
        plain = pg_database()
        db = Database(plain)
        initialize(db)
        db.engine.dispose()  # PostgreSQL copies no template that has sessions
        demo = pg_database(template=make_url(plain).database)
        db = Database(demo)
        with db.transaction() as s:
            load_demo(s)
        db.engine.dispose()
        global _prepared
        _prepared = _Prepared([make_url(plain).database, make_url(demo).database])
        yield plain, demo
        _prepared.close()
        drop_pg_database(demo)
        drop_pg_database(plain)
        return
    base = tmp_path_factory.mktemp("templates")
    plain = base / "plain.db"
    db = Database(f"sqlite:///{plain}")
    initialize(db)
    db.engine.dispose()
    demo = base / "demo.db"
    shutil.copy(plain, demo)
    db = Database(f"sqlite:///{demo}")
    with db.transaction() as s:
        load_demo(s)
    db.engine.dispose()
    yield plain, demo


def _fresh(template, tmp_path):
    """A database of its own for one test, copied from a template; closed and dropped afterwards."""
    if BACKEND == "postgres":
        db = Database(_prepared.take(make_url(template).database))
        yield db
        db.engine.dispose()
        _prepared.give_back(db.url)
        return
    dst = tmp_path / "banli.db"
    shutil.copy(template, dst)
    db = Database(f"sqlite:///{dst}")
    yield db
    db.engine.dispose()


@pytest.fixture(scope="session")
def fresh_demo_db(_template_dbs, tmp_path_factory):
    """Fresh copies of the demo database within one test: a property-based test needs one per example."""
    @contextmanager
    def fresh():
        gen = _fresh(_template_dbs[1], tmp_path_factory.mktemp("demo"))
        db = next(gen)
        try:
            yield db
        finally:
            next(gen, None)
    return fresh


@pytest.fixture
def db(_template_dbs, tmp_path):
    """An initialised database with the processes deployed and no users."""
    yield from _fresh(_template_dbs[0], tmp_path)


@pytest.fixture
def demo_db(_template_dbs, tmp_path):
    """An initialised database with the demo organisation and items."""
    yield from _fresh(_template_dbs[1], tmp_path)


@pytest.fixture
def app(demo_db):
    from web import create_app

    app = create_app({"DATABASE_URL": demo_db.url, "TESTING": True, "SECRET_KEY": "test"})
    app.extensions["banli_db"] = demo_db
    return app


@pytest.fixture
def client(app):
    return app.test_client()


def user(session, username: str) -> User:
    return session.scalars(select(User).where(User.username == username)).one()


def shown_title(notification) -> str:
    """A notification's title as its reader sees it (in Chinese): new rows store only its catalog message."""
    from engine.people.notifications import text

    return text(notification)[0]


class PledgeForm(Mapping):
    """A responsibility pledge's fields, its target date the day it is read: signed under time_machine or not,
    always within the form's bounds (not before today, not after the reply deadline: engine.workflow.formrules)."""

    def __init__(self, **fields):
        self._fields = fields

    def __getitem__(self, key):
        return clock.today().isoformat() if key == "target_date" else self._fields[key]

    def __iter__(self):
        return iter((*self._fields, "target_date"))

    def __len__(self):
        return len(self._fields) + 1


def task_for(session, item_id: int, spec_name: str) -> TaskRow:
    return session.scalars(select(TaskRow).where(TaskRow.item_id == item_id, TaskRow.spec_name == spec_name)).first()


def form_html(html: str, form_id: str) -> str:
    """The markup of the page's form `id="form_id"`, up to its end: what a refused form shows beside its inputs."""
    form = html[html.index(f'id="{form_id}"'):]
    return form[:form.index("</form>")]


def csrf_token(client, path="/login") -> str:
    import re

    html = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def login(client, username: str, password: str = DEMO_PASSWORD):
    token = csrf_token(client)
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token})


# --- a real browser against the real app (the browser tests) -------------------------------------------

CHROMIUM = os.environ.get("BANLI_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


@pytest.fixture
def server(app):
    """The app served on a free local port, in a thread."""
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()


@pytest.fixture
def browser():
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(f"chromium not found at {CHROMIUM}; `make test` installs Debian's chromium")
        pytest.skip(f"SKIPPED browser test: chromium not found at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


