"""Request and response bodies of the HTTP API (pydantic models used only at the edge)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field

__all__ = [
    "DB_INT_MAX",
    "PROBLEMS",
    "BatchResultOut",
    "DateTimeParam",
    "Problem",
    "ScoreLookupIn",
    "SelfReportDecisionIn",
]


# The largest integer both databases store (BIGINT); integer parameters are bounded by it so that a
# 20-digit id is a 422, not an OverflowError in the driver.
DB_INT_MAX = 2**63 - 1


def _date_time_text(value: Any) -> Any:
    # pydantic reads "1700000000" as a Unix time; the document says RFC 3339 date-time, so only that.
    if isinstance(value, str) and "T" not in value.upper():
        raise ValueError("an RFC 3339 date-time is expected")
    return value


DateTimeParam = Annotated[AwareDatetime, BeforeValidator(_date_time_text)]


class JwkSetResponse(JSONResponse):
    media_type = "application/jwk-set+json"


class SchemaResponse(JSONResponse):
    media_type = "application/schema+json"


class Problem(BaseModel):
    """RFC 9457 problem details; ``code`` is the stable machine-readable code."""

    type: str
    title: str
    status: int
    detail: str
    code: str


_DESCRIPTIONS = {
    400: "Malformed request",
    401: "Missing or invalid credentials",
    403: "Not permitted",
    404: "Not found",
    409: "Conflict with the current state",
    410: "Gone (expired)",
    412: "Precondition failed",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Validation failed",
    503: "Unavailable",
}


def PROBLEMS(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for the problem statuses an endpoint can return."""
    return {
        s: {"description": _DESCRIPTIONS[s], "model": Problem, "content": {"application/problem+json": {}}}
        for s in statuses
    }


class Rejection(BaseModel):
    index: int
    code: str
    reason: str


class BatchResultOut(BaseModel):
    batch_id: str
    unit: str
    received: int
    accepted: int
    duplicates: int
    rejected: int
    accepted_indexes: list[int]
    duplicate_indexes: list[int]
    rejections: list[Rejection]
    people_rescored: int


class ScoreLookupIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id_number: str = Field(min_length=1, max_length=32, description="18-character resident ID number")
    purpose: str = Field(
        min_length=3, max_length=256, description="Why the person is looked up (audited, shown in their credit report)."
    )
    case_reference: str = Field(min_length=1, max_length=64, description="The case reference (audited, shown too).")


class SelfReportDecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decision: Literal["verified", "rejected"]
    reason: str = Field(min_length=1, max_length=256)
