"""What a health check reports: the database answers, which process versions are deployed, and how long
ago the scheduler last beat. Nothing secret: no URLs, no credentials."""
from __future__ import annotations

import logging
from importlib.metadata import PackageNotFoundError, version

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from engine import clock
from engine.db import Database
from engine.models import SchedulerHeartbeat
from engine.workflow.deployment import newest_versions

log = logging.getLogger("banli.health")


def _deployed(session: Session) -> list[dict]:
    return [{"process_id": d.process_id, "name": d.name, "version": d.version,
             "deployed_at": d.deployed_at.isoformat()} for d in newest_versions(session)]


def _scheduler(session: Session) -> dict:
    newest = session.scalars(select(SchedulerHeartbeat).order_by(SchedulerHeartbeat.beat_at.desc()).limit(1)).first()
    if newest is None:
        return {"heartbeat_age_seconds": None, "holder": None}
    return {"heartbeat_age_seconds": round((clock.now() - newest.beat_at).total_seconds(), 1),
            "holder": newest.holder}


def _release() -> str | None:
    try:
        return version("banli")
    except PackageNotFoundError:
        return None


def report(database: Database) -> dict:
    """status 'ok', or 'error' when the database does not answer (the one failure workers cannot serve)."""
    out: dict = {"status": "ok", "release": _release(), "database": {"backend": database.engine.dialect.name}}
    try:
        with database.reading() as s:
            s.execute(text("SELECT 1"))
            out["database"]["reachable"] = True
            out["processes"] = _deployed(s)
            out["scheduler"] = _scheduler(s)
    except Exception as exc:  # noqa: BLE001 - any failure to reach the database is the answer
        log.error("health check: database unreachable", exc_info=exc)
        out.update(status="error")
        out["database"].update(reachable=False, error=type(exc).__name__)
    return out
