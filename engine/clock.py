"""The one source of 'now' for the engine (UTC), so tests can move time with time-machine."""
from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

LOCAL_TZ = ZoneInfo("Asia/Shanghai")


def now() -> datetime:
    return datetime.now(timezone.utc)


def today() -> date:
    """Today's date in Asia/Shanghai, the zone every deadline is computed in."""
    return now().astimezone(LOCAL_TZ).date()


def local(instant: datetime | None) -> datetime | None:
    return instant.astimezone(LOCAL_TZ) if instant is not None else None
