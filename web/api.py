"""Machine-facing endpoints (/api): the health check for load balancers and monitoring, and the request log.

/api/health answers without login and names nothing secret: whether the database answers, which process
versions are deployed, and how long ago the scheduler last beat. It returns 503 only when the database
is unreachable, the one failure a web worker cannot serve through; a stale scheduler is reported for
monitoring but does not take web workers out of rotation.
"""
from __future__ import annotations

import logging
import time
from flask import Blueprint, g, jsonify, request
from flask_login import current_user
from engine import health as health_check
from web.helpers import db

bp = Blueprint("api", __name__, url_prefix="/api")
request_log = logging.getLogger("banli.request")


@bp.get("/health")
def health():
    report = health_check.report(db())
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
