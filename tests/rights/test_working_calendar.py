"""The working-day calendar: the shipped 2026 data against the cited State Council notice, deadline
arithmetic across Spring Festival, Labour Day and National Day with their adjusted working days,
refusal in a year without data, and the file's own checks."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from gateway.errors import InvalidWorkingCalendar, WorkingCalendarYearMissing
from gateway.services.context import Gateway
from gateway.services.rights.calendar import DEFAULT_CALENDAR_PATH, deadline_after, limit_after, load_calendar
from gateway.services.rights.objections import file_objection
from gateway.store.tables import objections
from tests.test_objections import _enrol

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "rights" / "working-days-2026.json").read_text("utf-8"))
CALENDAR = load_calendar()  # the shipped, official file


def _days(first: str, last: str) -> set[date]:
    a, b = date.fromisoformat(first), date.fromisoformat(last)
    return {a + timedelta(days=i) for i in range((b - a).days + 1)}


def test_the_shipped_2026_year_is_the_notice_transcribed() -> None:
    doc = json.loads(DEFAULT_CALENDAR_PATH.read_text("utf-8"))
    source = doc["years"]["2026"]["source"]
    assert source["title"] == "国务院办公厅关于2026年部分节假日安排的通知" and source["date"] == "2025-11-04"
    assert source["url"].startswith("https://www.gov.cn/")
    expected_holidays = (
        _days("2026-01-01", "2026-01-03")
        | _days("2026-02-15", "2026-02-23")
        | _days("2026-04-04", "2026-04-06")
        | _days("2026-05-01", "2026-05-05")
        | _days("2026-06-19", "2026-06-21")
        | _days("2026-09-25", "2026-09-27")
        | _days("2026-10-01", "2026-10-07")
    )
    assert expected_holidays == CALENDAR.holidays
    adjusted = {"2026-01-04", "2026-02-14", "2026-02-28", "2026-05-09", "2026-09-20", "2026-10-10"}
    assert {d.isoformat() for d in CALENDAR.adjusted_working_days} == adjusted
    # No notice for 2027 was found: the year is left out, not guessed.
    assert CALENDAR.years == frozenset({2026})


@pytest.mark.parametrize("case", VECTORS["cases"], ids=lambda c: f"{c['start']}+{c['days']}")
def test_working_day_arithmetic_across_the_2026_holidays(case: dict[str, Any]) -> None:
    due = CALENDAR.add_working_days(date.fromisoformat(case["start"]), case["days"])
    assert due.isoformat() == case["due"], case["why"]


@pytest.mark.parametrize("case", VECTORS["next_working_day"], ids=lambda c: c["day"])
def test_a_deadline_on_a_holiday_moves_to_the_next_working_day(case: dict[str, str]) -> None:
    assert CALENDAR.next_working_day(date.fromisoformat(case["day"])).isoformat() == case["is"]


def test_a_deadline_is_the_end_of_the_shaoxing_working_day() -> None:
    # 13 Feb 10:00 and 01:00 in Shaoxing (02:00 and 12 Feb 17:00 UTC) are the same local day.
    for event in (datetime(2026, 2, 13, 2, 0, tzinfo=UTC), datetime(2026, 2, 12, 17, 0, tzinfo=UTC)):
        assert deadline_after(CALENDAR, event, 2) == datetime(2026, 2, 24, 16, 0, tzinfo=UTC)
    # 12 Feb 15:59 UTC is still 12 Feb in Shaoxing: two working days are 13 and 14 Feb.
    assert deadline_after(CALENDAR, datetime(2026, 2, 12, 15, 59, tzinfo=UTC), 2) == datetime(
        2026, 2, 14, 16, 0, tzinfo=UTC
    )


def test_a_year_without_a_notice_is_refused_not_guessed() -> None:
    with pytest.raises(WorkingCalendarYearMissing) as caught:
        CALENDAR.add_working_days(date(2026, 12, 28), 5)
    assert caught.value.status == 503 and caught.value.extensions["year"] == 2027
    with pytest.raises(WorkingCalendarYearMissing):
        CALENDAR.next_working_day(date(2027, 1, 1))


def test_a_limit_into_a_missing_year_counts_calendar_days_never_later() -> None:
    # 28 Dec 2026 + 5: the working-day count needs 2027, which has no notice.
    event = datetime(2026, 12, 28, 2, 0, tzinfo=UTC)
    assert limit_after(CALENDAR, event, 5) == (datetime(2027, 1, 2, 16, 0, tzinfo=UTC), "calendar_days_provisional")
    # Inside the notice's year the working-day basis is used as before.
    inside = datetime(2026, 2, 13, 2, 0, tzinfo=UTC)
    assert limit_after(CALENDAR, inside, 2) == (deadline_after(CALENDAR, inside, 2), "working_days")


def test_filing_is_accepted_when_the_limit_needs_a_missing_year(gw: Gateway, tmp_path: Path) -> None:
    me, ref = _enrol(gw, 461)
    empty = tmp_path / "calendar.json"
    empty.write_text(json.dumps({"calendar": "empty", "description": "no year", "years": {}}), "utf-8")
    gw.settings = replace(gw.settings, working_calendar_path=empty)
    filed = file_objection(gw, me, target=ref, statement="x", evidence=[])
    days = gw.settings.objection_final_working_days
    created = datetime.fromisoformat(filed["created_at"])
    assert datetime.fromisoformat(filed["deadline"]) <= created + timedelta(days=days + 1)
    with gw.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(objections)).scalar_one() == 1


def _broken(tmp_path: Path, edit: Any) -> Path:
    doc = json.loads(DEFAULT_CALENDAR_PATH.read_text("utf-8"))
    edit(doc["years"]["2026"])
    path = tmp_path / "cal.json"
    path.write_text(json.dumps(doc, ensure_ascii=False), "utf-8")
    return path


@pytest.mark.parametrize(
    "edit",
    [
        lambda y: y["holidays"][1].update(days=8),  # Spring Festival is 9 days in the notice
        lambda y: y["adjusted_working_days"].append({"date": "2026-03-02"}),  # a Monday
        lambda y: y["adjusted_working_days"].append({"date": "2026-02-15"}),  # inside the holiday
        lambda y: y["holidays"][0].update(to="2027-01-01"),  # another year
        lambda y: y.pop("source"),  # every year cites its notice
    ],
    ids=["day_count", "weekday", "inside_holiday", "other_year", "no_source"],
)
def test_the_file_is_checked(tmp_path: Path, edit: Any) -> None:
    with pytest.raises(InvalidWorkingCalendar):
        load_calendar(_broken(tmp_path, edit))
