"""The working-day calendar: official public holidays and adjusted working days (调休).

Objection and repair time limits run in working days, as in the procedures the issue follows
(信用广州: accept in 2, the supplying unit answers in 10; 征信业管理条例 Art. 25: answer in 20).
A working day is a Monday to Friday that is not a public holiday, or a weekend day the State
Council's notice turns into a working day. Each year comes from that year's notice, transcribed
into a data file (``gateway/workdays/cn-working-days.json`` by default, validated by
``schemas/working-calendar.schema.json``, replaceable with ``GATEWAY_WORKING_CALENDAR``).

A year without a notice is never guessed: counting working days into such a year raises
:class:`WorkingCalendarYearMissing`. A resident's objection or repair application is still
accepted then — a right must not wait for a data file — under a *provisional* limit of the same
number of calendar days (:func:`limit_after`). A working-day limit is never shorter than the same
count of calendar days, so the provisional limit is never later than the true one would be; the
limit says which basis it used, and a warning names the missing year once per process.

A deadline of N working days after an event is the end (24:00 in Shaoxing) of the N-th working
day after the event's calendar day; counting only working days means a deadline can never fall on
a holiday — it moves to the next working day by construction.
"""

from __future__ import annotations

import functools
import json
import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Final

from jsonschema import Draft202012Validator, FormatChecker

from gateway.catalogue import safe_messages
from gateway.clock import CHINA_STANDARD_TIME, as_utc
from gateway.config import Settings, bundled_path
from gateway.errors import InvalidWorkingCalendar, WorkingCalendarYearMissing

__all__ = [
    "DEFAULT_CALENDAR_PATH",
    "WorkingCalendar",
    "deadline_after",
    "limit_after",
    "load_calendar",
    "working_calendar",
]

DEFAULT_CALENDAR_PATH: Final = Path(__file__).resolve().parents[2] / "workdays" / "cn-working-days.json"
_SCHEMA_PATH: Final = bundled_path("schemas") / "working-calendar.schema.json"
_log = logging.getLogger(__name__)
_MAX_SPAN: Final = 400  # calendar days one computation may walk: far beyond any configured limit


@dataclass(frozen=True, slots=True)
class WorkingCalendar:
    years: frozenset[int]
    holidays: frozenset[date]
    adjusted_working_days: frozenset[date]
    sources: dict[int, dict[str, Any]]

    def is_working_day(self, day: date) -> bool:
        """:raises WorkingCalendarYearMissing: no official notice for ``day``'s year."""
        if day.year not in self.years:
            raise WorkingCalendarYearMissing(
                "No official holiday notice is loaded for this year; the credit office must add it.", year=day.year
            )
        if day in self.adjusted_working_days:
            return True
        return day.weekday() < 5 and day not in self.holidays

    def add_working_days(self, start: date, days: int) -> date:
        """The ``days``-th working day after ``start`` (``start`` itself never counts); with
        ``days == 0``, ``start`` if it is a working day, else the next one."""
        if days < 0:
            raise ValueError("days must not be negative")
        day, counted = start, 0
        if days == 0:
            while not self.is_working_day(day):
                day += timedelta(days=1)
            return day
        for _ in range(_MAX_SPAN):
            day += timedelta(days=1)
            if self.is_working_day(day):
                counted += 1
                if counted == days:
                    return day
        raise ValueError("the working-day limit is too far away")

    def next_working_day(self, day: date) -> date:
        """``day`` itself when it is a working day, else the next working day (a calendar-day
        deadline falling on a holiday moves there)."""
        return self.add_working_days(day, 0)


def deadline_after(calendar: WorkingCalendar, event: datetime, working_days: int) -> datetime:
    """The UTC instant ``working_days`` working days after ``event``: 24:00 Shaoxing time of that day."""
    local_day = as_utc(event).astimezone(CHINA_STANDARD_TIME).date()
    due_day = calendar.add_working_days(local_day, working_days)
    return as_utc(datetime.combine(due_day + timedelta(days=1), time(0), tzinfo=CHINA_STANDARD_TIME))


def limit_after(calendar: WorkingCalendar, event: datetime, working_days: int) -> tuple[datetime, str]:
    """``(deadline, basis)``: ``working_days`` working days after ``event``, or, when that needs a
    year the calendar does not have, the same number of calendar days (``basis`` is then
    ``"calendar_days_provisional"``: never later than the working-day limit, never a guessed date)."""
    try:
        return deadline_after(calendar, event, working_days), "working_days"
    except WorkingCalendarYearMissing as missing:
        year = missing.extensions.get("year")
        if year not in _warned:
            _warned.add(year)
            _log.warning("working calendar has no year %s: limits into it count calendar days until it is added", year)
    local_day = as_utc(event).astimezone(CHINA_STANDARD_TIME).date()
    due_day = local_day + timedelta(days=working_days)
    return as_utc(datetime.combine(due_day + timedelta(days=1), time(0), tzinfo=CHINA_STANDARD_TIME)), (
        "calendar_days_provisional"
    )


_warned: set[object] = set()


def _validator() -> Draft202012Validator:
    schema = json.loads(_SCHEMA_PATH.read_text(encoding="utf-8"))
    return Draft202012Validator(schema, format_checker=FormatChecker(formats=["date"]))


def load_calendar(path: Path | None = None) -> WorkingCalendar:
    """Load and check a calendar file: the schema, then that every date lies in its year, each
    holiday's span matches the notice's own day count, and adjusted working days are weekend days.

    :raises InvalidWorkingCalendar: naming the first problems found.
    """
    path = path or DEFAULT_CALENDAR_PATH
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise InvalidWorkingCalendar("The working-day calendar file cannot be read as JSON.") from None
    problems = safe_messages(_validator().iter_errors(doc))
    if problems:
        raise InvalidWorkingCalendar("; ".join(problems[:5]))
    holidays: set[date] = set()
    adjusted: set[date] = set()
    sources: dict[int, dict[str, Any]] = {}
    for key, year in doc["years"].items():
        number = int(key)
        sources[number] = dict(year["source"])
        for h in year["holidays"]:
            first, last = date.fromisoformat(h["from"]), date.fromisoformat(h["to"])
            span = (last - first).days + 1
            if span != h["days"] or first.year != number or last.year != number:
                raise InvalidWorkingCalendar(f"Year {number}: holiday {h['name']['en']} does not match its day count.")
            holidays.update(first + timedelta(days=i) for i in range(span))
        for a in year["adjusted_working_days"]:
            day = date.fromisoformat(a["date"])
            if day.year != number or day.weekday() < 5 or day in holidays:
                raise InvalidWorkingCalendar(f"Year {number}: {day.isoformat()} is not a weekend day outside holidays.")
            adjusted.add(day)
    return WorkingCalendar(frozenset(sources), frozenset(holidays), frozenset(adjusted), sources)


@functools.lru_cache(maxsize=8)
def _cached(path: Path | None) -> WorkingCalendar:
    return load_calendar(path)


def working_calendar(settings: Settings) -> WorkingCalendar:
    """The calendar the settings name, loaded once per process and path."""
    return _cached(settings.working_calendar_path)
