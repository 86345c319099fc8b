"""Request and response bodies of the HTTP API (pydantic models used only at the edge)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["PROBLEMS", "BatchResultOut", "Problem", "ScoreLookupIn", "SelfReportDecisionIn"]


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


class SelfReportDecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decision: Literal["verified", "rejected"]
    reason: str = Field(min_length=1, max_length=256)
