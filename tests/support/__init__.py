"""Builders for test data: synthetic ID numbers and ingestion records."""

from __future__ import annotations

from datetime import date
from typing import Any

from gateway.scoring.resident_id import check_character


def make_id(born: date = date(1990, 5, 17), seq: int = 123, region: str = "330602") -> str:
    """A synthetic, valid-checksum ID number (never a real person's on purpose)."""
    body = f"{region}{born:%Y%m%d}{seq:03d}"
    return body + check_character(body)


NAMES = ["张三", "李四", "王五", "赵六", "钱七", "孙八", "周九", "吴十"]


def record(
    item: str,
    attributes: dict[str, Any],
    *,
    ref: str,
    id_number: str | None = None,
    name: str = "张三",
    occurred_at: str = "2026-03-01",
) -> dict[str, Any]:
    return {
        "source_ref": ref,
        "item": item,
        "subject": {"id_number": id_number or make_id(), "name": name},
        "occurred_at": occurred_at,
        "attributes": attributes,
    }


def basic_records(id_number: str, name: str, prefix: str) -> dict[str, list[dict[str, Any]]]:
    """The records, per unit, that make an adult eligible with a typical provincial evaluation."""
    return {
        "sx-credit-center": [
            record(
                "scoring_authorisation",
                {"decision": "granted", "channel": "app"},
                ref=f"{prefix}-auth",
                id_number=id_number,
                name=name,
            ),
        ],
        "sx-public-security": [
            record(
                "residency",
                {"status": "household_registration"},
                ref=f"{prefix}-res",
                id_number=id_number,
                name=name,
            ),
        ],
        "zj-credit-platform": [
            record(
                "provincial_evaluation",
                {"score": 820, "edition": "2026"},
                ref=f"{prefix}-pe",
                id_number=id_number,
                name=name,
            ),
        ],
    }


def authorise(gw: Any, resident: Any, channel: str = "app") -> dict[str, Any]:
    """The resident authorises scoring (issue 9): needed before any disclosure consent."""
    from gateway.services.residents.authorisation import grant_authorisation

    return grant_authorisation(gw, resident, channel=channel)
