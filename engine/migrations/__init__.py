"""Schema migrations (Alembic), driven from code: no alembic.ini, the URL comes from the caller.

`upgrade(url)` brings any database (SQLite or PostgreSQL) to the newest schema; `revision(message)`
writes a new migration by comparing the models with a scratch database at the newest schema.
"""
from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Connection, Engine

HERE = Path(__file__).resolve().parent
log = logging.getLogger(__name__)


def alembic_config(url: str, connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.set_main_option("version_locations", str(HERE / "versions"))
    cfg.set_main_option("path_separator", "os")
    # Dated names sort in the order migrations were written.
    cfg.set_main_option("file_template", "%%(year)d_%%(month).2d_%%(day).2d_%%(rev)s_%%(slug)s")
    # Percent signs in passwords would otherwise be read as interpolation.
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["connection"] = connection
    cfg.attributes["configure_logging"] = False
    return cfg


def head() -> str:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def baseline() -> str:
    """The first revision: the schema that `create_all` made before migrations existed."""
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_base()


def current(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database to `revision`. A database made by `create_all` before migrations existed
    (tables but no alembic_version) is stamped at the baseline first, then upgraded."""
    with engine.begin() as conn:
        cfg = alembic_config(str(engine.url), conn)
        tables = set(inspect(conn).get_table_names())
        if tables and "alembic_version" not in tables and "item" in tables:
            log.warning("database has tables but no migration history; stamping baseline %s", baseline())
            command.stamp(cfg, baseline())
        command.upgrade(cfg, revision)


def downgrade(engine: Engine, revision: str = "base") -> None:
    with engine.begin() as conn:
        command.downgrade(alembic_config(str(engine.url), conn), revision)


def revision(message: str) -> str:
    """Write a new migration for what the models have and the newest migration lacks; returns its path.

    The comparison runs against a scratch SQLite database upgraded to head, so no server is needed.
    The generated operations use batch mode, which SQLite needs and PostgreSQL runs as plain ALTERs.
    """
    from sqlalchemy import create_engine

    with tempfile.TemporaryDirectory() as tmp:
        engine = create_engine(f"sqlite:///{tmp}/scratch.db")
        try:
            upgrade(engine)
            with engine.begin() as conn:
                script = command.revision(alembic_config(str(engine.url), conn), message=message, autogenerate=True)
        finally:
            engine.dispose()
    scripts = script if isinstance(script, list) else [script]
    return ", ".join(s.path for s in scripts if s is not None)


def differences(connection: Connection) -> list:
    """What the models declare and the database lacks (or has extra): empty when they agree."""
    from alembic.autogenerate import compare_metadata

    from engine.models import Base

    ctx = MigrationContext.configure(connection, opts={"compare_type": True, "render_as_batch": True})
    return compare_metadata(ctx, Base.metadata)
