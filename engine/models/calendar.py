"""The working-day calendar (工作日历): exceptions to the weekend rule and the years they cover."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, utcnow

# Where a row came from: the chinesecalendar package (re-seedable) or an admin edit (never overwritten).
CALENDAR_SOURCES = ("chinesecalendar", "admin")


class CalendarDay(Base):
    """One day that breaks the plain weekend rule: a holiday on a weekday (节假日) or a weekend day
    that is a working day (调休). Every other day is a working day Monday to Friday."""

    __tablename__ = "calendar_day"
    day: Mapped[date] = mapped_column(primary_key=True)
    is_working: Mapped[bool]
    name: Mapped[str | None] = mapped_column(String(100))  # e.g. 国庆节, 国庆节调休
    source: Mapped[str] = mapped_column(String(20), default="chinesecalendar")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class CalendarYear(Base):
    """A year whose official holiday arrangement is loaded; deadlines outside these years warn."""

    __tablename__ = "calendar_year"
    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    source: Mapped[str] = mapped_column(String(20), default="chinesecalendar")
    loaded_at: Mapped[datetime] = mapped_column(default=utcnow)
