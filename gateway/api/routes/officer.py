"""The credit office's officers: a person's score with its breakdown; self-report decisions."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.concurrency import run_in_threadpool

from gateway.api.deps import GatewayDep, OfficerDep
from gateway.api.schemas import DB_INT_MAX, PROBLEMS, ScoreLookupIn, SelfReportDecisionIn
from gateway.services.scores import officer as officer_service

router = APIRouter(prefix="/v1/officer", tags=["credit officers"])


@router.post(
    "/score-lookups",
    summary="A person's current score, tier and breakdown",
    description=(
        "The ID number travels in the body, never in the URL, so that it cannot reach access logs. "
        "A stated purpose and a case reference are required; the lookup, both of them and the answer are "
        "audited and shown in the person's credit report. A person who never authorised scoring is not shown."
    ),
    responses=PROBLEMS(401, 403, 404, 422),
)
async def score_lookup(body: ScoreLookupIn, gw: GatewayDep, officer: OfficerDep) -> Any:
    return await run_in_threadpool(
        lambda: officer_service.score_view(
            gw, officer.name, body.id_number, purpose=body.purpose, case_ref=body.case_reference
        )
    )


@router.post(
    "/self-reports/{record_id}/decision",
    summary="Verify or reject a resident's self-reported record",
    responses=PROBLEMS(401, 403, 404, 409, 422),
)
async def decide(
    record_id: Annotated[int, Path(ge=1, le=DB_INT_MAX)],
    body: SelfReportDecisionIn,
    gw: GatewayDep,
    officer: OfficerDep,
) -> Any:
    return await run_in_threadpool(
        officer_service.decide_self_report, gw, officer.name, record_id, body.decision, body.reason
    )
