"""Settings read from the environment, with defaults that run on one machine."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROCESSES_DIR = ROOT / "processes"


def _default_db_url() -> str:
    path = Path(os.environ.get("BANLI_INSTANCE", ROOT / "instance")) / "banli.db"
    return f"sqlite:///{path}"


@dataclass(frozen=True)
class Settings:
    database_url: str = field(default_factory=lambda: os.environ.get("DATABASE_URL") or _default_db_url())
    secret_key: str = field(default_factory=lambda: os.environ.get("SECRET_KEY", "dev-only-change-me"))
    timezone: str = "Asia/Shanghai"
    smtp_host: str | None = field(default_factory=lambda: os.environ.get("SMTP_HOST"))
    smtp_port: int = field(default_factory=lambda: int(os.environ.get("SMTP_PORT", "25")))
    smtp_sender: str = field(default_factory=lambda: os.environ.get("SMTP_SENDER", "banli@localhost"))


def settings() -> Settings:
    return Settings()
