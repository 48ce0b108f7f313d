"""Settings read from the environment, with defaults that run on one machine."""
from __future__ import annotations

import os
import secrets
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
    secret_key: str | None = field(default_factory=lambda: os.environ.get("SECRET_KEY") or None)
    timezone: str = "Asia/Shanghai"
    smtp_host: str | None = field(default_factory=lambda: os.environ.get("SMTP_HOST"))
    smtp_port: int = field(default_factory=lambda: int(os.environ.get("SMTP_PORT", "25")))
    smtp_sender: str = field(default_factory=lambda: os.environ.get("SMTP_SENDER", "banli@localhost"))


def settings() -> Settings:
    return Settings()


def script_cpu_seconds() -> float:
    """BANLI_SCRIPT_CPU_SECONDS: the CPU time a BPMN script or condition may take (default 1 s)."""
    raw = os.environ.get("BANLI_SCRIPT_CPU_SECONDS") or "1"
    try:
        seconds = float(raw)
    except ValueError:
        seconds = float("nan")
    if not 0 < seconds < float("inf"):
        raise ValueError(f"BANLI_SCRIPT_CPU_SECONDS must be a positive number of seconds, not {raw!r}")
    return seconds


def key_file(database_url: str) -> Path:
    """Where this installation's generated secret key lives: beside the SQLite file, else in the instance
    folder (BANLI_INSTANCE)."""
    if database_url.startswith("sqlite:///") and database_url != "sqlite:///:memory:":
        return Path(database_url[len("sqlite:///"):]).resolve().parent / "secret_key"
    return Path(os.environ.get("BANLI_INSTANCE", ROOT / "instance")) / "secret_key"


def installation_secret(database_url: str) -> str:
    """The secret key that signs sessions and CSRF tokens when SECRET_KEY is not given: generated once per
    installation (64 random hex digits), kept in a file only its owner reads, the same for every worker.
    There is no fixed fallback: a published key would let anyone forge a session."""
    path = key_file(database_url)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:  # O_EXCL: of several workers starting at once exactly one writes the key; the others read it
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        key = path.read_text(encoding="ascii").strip()
        if len(key) < 32:
            raise RuntimeError(f"{path} holds no usable secret key: delete it to generate a new one") from None
        return key
    key = secrets.token_hex(32)
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(key + "\n")
    return key
