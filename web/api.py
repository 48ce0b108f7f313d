"""Machine-facing endpoints (/api): the health check for load balancers and monitoring, and the request log.

/api/health answers without login and names nothing secret: whether the database answers, which process
versions are deployed, and how long ago the scheduler last beat. It returns 503 only when the database
is unreachable, the one failure a web worker cannot serve through; a stale scheduler is reported for
monitoring but does not take web workers out of rotation.
"""
from __future__ import annotations

import logging
import time
from importlib.metadata import PackageNotFoundError, version

from flask import Blueprint, g, jsonify, request
from flask_login import current_user
from sqlalchemy import func, inspect, select, text
from sqlalchemy.orm import Session

from engine import clock
from engine.db import Database
from engine.models import ProcessDefinition
from web.helpers import db

bp = Blueprint("api", __name__, url_prefix="/api")
log = logging.getLogger("banli.web")
request_log = logging.getLogger("banli.request")


def _deployed(session: Session) -> list[dict]:
    newest = (select(ProcessDefinition.process_id, func.max(ProcessDefinition.version).label("version"))
              .group_by(ProcessDefinition.process_id).subquery())
    rows = session.scalars(select(ProcessDefinition).join(
        newest, (ProcessDefinition.process_id == newest.c.process_id) & (ProcessDefinition.version == newest.c.version))
        .order_by(ProcessDefinition.process_id)).all()
    return [{"process_id": d.process_id, "name": d.name, "version": d.version,
             "deployed_at": d.deployed_at.isoformat()} for d in rows]


def _scheduler(session: Session) -> dict | None:
    """The newest heartbeat, when this installation has a scheduler table (None otherwise)."""
    if not inspect(session.connection()).has_table("scheduler_heartbeat"):
        return None
    from engine import models

    beat = getattr(models, "SchedulerHeartbeat", None)
    if beat is None:
        return None
    newest = session.scalars(select(beat).order_by(beat.beat_at.desc()).limit(1)).first()
    if newest is None:
        return {"heartbeat_age_seconds": None, "holder": None}
    return {"heartbeat_age_seconds": round((clock.now() - newest.beat_at).total_seconds(), 1),
            "holder": newest.holder}


def _release() -> str | None:
    try:
        return version("banli")
    except PackageNotFoundError:
        return None


def health_report(database: Database) -> dict:
    report: dict = {"status": "ok", "release": _release(), "database": {"backend": database.engine.dialect.name}}
    try:
        with database.reading() as s:
            s.execute(text("SELECT 1"))
            report["database"]["reachable"] = True
            report["processes"] = _deployed(s)
            scheduler = _scheduler(s)
            if scheduler is not None:
                report["scheduler"] = scheduler
    except Exception as exc:  # noqa: BLE001 - any failure to reach the database is the answer
        log.error("health check: database unreachable", exc_info=exc)
        report.update(status="error")
        report["database"].update(reachable=False, error=type(exc).__name__)
    return report


@bp.get("/health")
def health():
    report = health_report(db())
    return jsonify(report), 200 if report["status"] == "ok" else 503


# One JSON line per request, for the whole app (registered here because it is the machine-facing side).
@bp.before_app_request
def _start_timer():
    g.request_started = time.perf_counter()


@bp.after_app_request
def _log_request(response):
    started = g.pop("request_started", None)
    user = getattr(current_user, "id", None) if current_user else None
    request_log.info("request", extra={
        "method": request.method, "path": request.path, "status": response.status_code,
        "ms": round((time.perf_counter() - started) * 1000, 1) if started is not None else None,
        "user_id": user, "remote": request.remote_addr})
    return response
