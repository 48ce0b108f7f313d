"""Structured logs: one JSON object per line on stderr, for the web workers, the scheduler and the CLI.

A line carries the instant (UTC), level, logger and message, plus whatever the caller passed in
`extra={...}` (e.g. `log.info("request", extra={"path": "/tasks/", "status": 200})`), so a log shipper
can filter on fields instead of parsing prose. BANLI_LOG_LEVEL sets the level (default INFO).
"""
from __future__ import annotations

import json
import logging
import logging.config
import os
from datetime import datetime, timezone

# Attributes every LogRecord has; anything else on a record came from `extra` and is logged as a field.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "pid": record.process,
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def dict_config(level: str | None = None) -> dict:
    """The logging configuration (dictConfig form); gunicorn takes the same dict as `logconfig_dict`."""
    level = (level or os.environ.get("BANLI_LOG_LEVEL") or "INFO").upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json",
                                "stream": "ext://sys.stderr"}},
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": {
            # gunicorn's own loggers write through the root handler, in the same format.
            "gunicorn.error": {"level": level, "handlers": [], "propagate": True},
            "gunicorn.access": {"level": "WARNING", "handlers": [], "propagate": True},
            # Werkzeug's dev-server access lines duplicate the app's request log.
            "werkzeug": {"level": "WARNING"},
            # SpiffWorkflow logs every task state change at INFO; our audit events already say what matters.
            "spiff": {"level": "WARNING"},
            "alembic": {"level": "WARNING"},
        },
    }


def configure(level: str | None = None) -> None:
    """Send every log record to stderr as a JSON line. Safe to call more than once; handlers others
    installed (a test runner's capture, say) stay."""
    root = logging.getLogger()
    if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        return
    conf = dict_config(level)
    handler = logging.StreamHandler()  # sys.stderr at call time
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    root.setLevel(conf["root"]["level"])
    for name, settings in conf["loggers"].items():
        logging.getLogger(name).setLevel(settings["level"])
