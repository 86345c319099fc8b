"""Time, in one place: UTC instants for storage and tokens, the Shaoxing calendar day for scoring."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

__all__ = ["CHINA_STANDARD_TIME", "today_in_shaoxing", "utcnow"]

# China has one time zone and no daylight saving: a fixed offset needs no tz database.
CHINA_STANDARD_TIME = timezone(timedelta(hours=8), "CST")


def utcnow() -> datetime:
    return datetime.now(UTC)


def today_in_shaoxing() -> date:
    """Ages, ageing of records and score dates follow the calendar day in Shaoxing."""
    return datetime.now(CHINA_STANDARD_TIME).date()
