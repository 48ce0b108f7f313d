"""Shared fixtures: a real SQLite database per test, initialised once and copied, and the Flask app."""
from __future__ import annotations

import shutil

import pytest
from sqlalchemy import select

from engine.cli import initialize
from engine.db import Database
from engine.demo import DEMO_PASSWORD, load_demo
from engine.models import TaskRow, User


@pytest.fixture(scope="session")
def _template_dbs(tmp_path_factory):
    """Two database files built once per run: initialised (calendar, processes) and with demo data."""
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
    return plain, demo


def _copy(src, tmp_path) -> Database:
    dst = tmp_path / "banli.db"
    shutil.copy(src, dst)
    return Database(f"sqlite:///{dst}")


@pytest.fixture
def db(_template_dbs, tmp_path) -> Database:
    """An initialised database with the processes deployed and no users."""
    return _copy(_template_dbs[0], tmp_path)


@pytest.fixture
def demo_db(_template_dbs, tmp_path) -> Database:
    """An initialised database with the demo organisation and items."""
    return _copy(_template_dbs[1], tmp_path)


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


def task_for(session, item_id: int, spec_name: str) -> TaskRow:
    return session.scalars(select(TaskRow).where(TaskRow.item_id == item_id, TaskRow.spec_name == spec_name)).first()


def csrf_token(client, path="/login") -> str:
    import re

    html = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def login(client, username: str, password: str = DEMO_PASSWORD):
    token = csrf_token(client)
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token})
