"""Alembic environment: runs on the connection the caller passes (engine.migrations), or on the URL."""
from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from engine.models import Base
from engine.models.base import UTCDateTime

config = context.config
target_metadata = Base.metadata


def render_item(kind, obj, autogen_context):
    """Write UTC instants as plain timezone-aware DateTime: migrations must not import model code."""
    if kind == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def run(connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, compare_type=True,
                      render_item=render_item,
                      # SQLite cannot ALTER most things: batch mode copies the table, PostgreSQL ALTERs.
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata,
                      literal_binds=True, render_item=render_item)
    with context.begin_transaction():
        context.run_migrations()
elif config.attributes.get("connection") is not None:
    run(config.attributes["connection"])
else:
    engine = create_engine(config.get_main_option("sqlalchemy.url"))
    try:
        with engine.begin() as conn:
            run(conn)
    finally:
        engine.dispose()
