"""Time, in one place: UTC instants for storage and tokens, the Shaoxing calendar day for scoring."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

__all__ = ["CHINA_STANDARD_TIME", "as_utc", "today_in_shaoxing", "utcnow"]

# China has one time zone and no daylight saving: a fixed offset needs no tz database.
CHINA_STANDARD_TIME = timezone(timedelta(hours=8), "CST")


def utcnow() -> datetime:
    return datetime.now(UTC)


def today_in_shaoxing() -> date:
    """Ages, ageing of records and score dates follow the calendar day in Shaoxing."""
    return datetime.now(CHINA_STANDARD_TIME).date()


def as_utc(value: datetime) -> datetime:
    """An aware UTC datetime. SQLite returns naive datetimes from timezone-aware columns (everything
    is written in UTC); PostgreSQL returns aware ones."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
