"""The one source of 'now' for the engine (UTC), and the one way to move it.

SpiffWorkflow's timer events read `datetime.now` inside their own module; `install()` points that module at
this clock too, so a timer and the code that stored its due instant always agree on the time. `travel()`
moves both, for the demo's past year and for tests that must not sleep.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone
from typing import Iterator
from zoneinfo import ZoneInfo

LOCAL_TZ = ZoneInfo("Asia/Shanghai")
_state = threading.local()


def _offset() -> timedelta:
    return getattr(_state, "offset", None) or timedelta(0)


def now() -> datetime:
    return datetime.now(timezone.utc) + _offset()


def today() -> date:
    """Today's date in Asia/Shanghai, the zone every deadline is computed in."""
    return now().astimezone(LOCAL_TZ).date()


def local(instant: datetime | None) -> datetime | None:
    return instant.astimezone(LOCAL_TZ) if instant is not None else None


def local_day(instant: datetime | None) -> date | None:
    """The Asia/Shanghai day of a stored instant (a UTC instant's own date is the wrong day after 16:00 UTC)."""
    return instant.astimezone(LOCAL_TZ).date() if instant is not None else None


@contextmanager
def travel(to: datetime) -> Iterator[None]:
    """Run the block (in this thread) as if it were `to` (an aware datetime); time keeps ticking."""
    if to.tzinfo is None:
        raise ValueError("travel() needs an aware datetime")
    previous = getattr(_state, "offset", None)
    _state.offset = to - datetime.now(timezone.utc)
    try:
        yield
    finally:
        _state.offset = previous


class _IsDatetime(type):
    def __instancecheck__(cls, obj):  # the timer module also uses `datetime` in isinstance checks
        return isinstance(obj, datetime)


class _SpiffClock(datetime, metaclass=_IsDatetime):
    """Stands in for `datetime` inside SpiffWorkflow's timer module."""

    @classmethod
    def now(cls, tz=None):
        value = now()
        return value.astimezone(tz) if tz is not None else value.astimezone(LOCAL_TZ).replace(tzinfo=None)


def install() -> None:
    import SpiffWorkflow.bpmn.specs.event_definitions.timer as timer_module

    timer_module.datetime = _SpiffClock


install()
