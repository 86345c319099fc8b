"""Residents' rights to the national standard (issue 14): checks by the supplying unit (协查), the
officers' rights dashboard, and residents' credit repair applications (信用修复申请)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from gateway.api.deps import GatewayDep, OfficerDep, ResidentDep, UnitDep
from gateway.api.routes.rights import EvidenceOut, IfMatch, ObjectionPersonOut, OfficerObjectionOut
from gateway.api.schemas import PROBLEMS
from gateway.services.rights import repair_applications as repair_service
from gateway.services.rights import verification as verification_service

router = APIRouter()

_ID = Path(min_length=1, max_length=64)


class ForwardIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: str = Field(min_length=1, max_length=2000, description="What the unit is asked to check.")


class UnitRequestOut(BaseModel):
    id: str
    unit: str
    source_ref: str = Field(description="Your own reference of the record, as you supplied it.")
    item: str
    question: str
    state: Literal["open", "answered", "withdrawn"]
    requested_at: str
    due_at: str
    overdue: bool
    answer: Literal["confirm", "correct", "cannot_confirm"] | None
    answer_ref: str | None
    answer_note: str | None
    answered_at: str | None


class UnitQueueOut(BaseModel):
    overdue: int
    items: list[UnitRequestOut]


class UnitAnswerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    answer: Literal["confirm", "correct", "cannot_confirm"]
    reference: str = Field(min_length=1, max_length=64, description="Your reference for this check.")
    note: str = Field(min_length=1, max_length=2000, description="What you found.")


class QueueCounts(BaseModel):
    open: int
    overdue: int


class DashboardOut(BaseModel):
    objections: QueueCounts
    verification_requests: QueueCounts
    repair_applications: QueueCounts


class RepairApplicationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    record: str = Field(pattern=r"^[rp]:[1-9][0-9]{0,17}$", description="The record, as the score breakdown names it.")
    statement: str = Field(min_length=1, max_length=2000, description="How the breach was corrected.")
    evidence: list[Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]] = Field(
        default_factory=list, max_length=5, description="SHA-256 references of files uploaded to POST /v1/me/evidence."
    )


class RepairApplicationOut(BaseModel):
    id: str
    record: str
    statement: str
    evidence: list[EvidenceOut]
    state: Literal["submitted", "approved", "refused"]
    deadline: str
    overdue: bool
    created_at: str
    updated_at: str
    answer: str | None
    decision_ref: str | None


class OfficerRepairApplicationOut(RepairApplicationOut):
    person: ObjectionPersonOut
    officer_id: str | None
    row_version: int
    etag: str


class RepairQueueOut(BaseModel):
    overdue: int
    items: list[OfficerRepairApplicationOut]


class DecidedRepairApplicationOut(OfficerRepairApplicationOut):
    result: dict[str, Any]


class RepairDecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decision: Literal["approved", "refused"]
    answer: str = Field(min_length=1, max_length=2000, description="The written answer the resident reads.")
    decision_ref: str | None = Field(None, max_length=64, description="Required to approve: the repair decision.")


# --- credit officers -------------------------------------------------------------------------


@router.post(
    "/v1/officer/objections/{objection_id}/verification-requests",
    tags=["credit officers"],
    status_code=201,
    response_model=OfficerObjectionOut,
    summary="Forward an objection under review to the unit that supplied the record (协查)",
    responses=PROBLEMS(401, 403, 404, 409, 422, 503),
)
async def forward(objection_id: Annotated[str, _ID], body: ForwardIn, gw: GatewayDep, officer: OfficerDep) -> Any:
    return await run_in_threadpool(
        lambda: verification_service.forward_objection(gw, officer.name, objection_id, question=body.question)
    )


@router.get(
    "/v1/officer/rights/dashboard",
    tags=["credit officers"],
    response_model=DashboardOut,
    summary="Open and overdue items of every rights queue",
    responses=PROBLEMS(401, 403),
)
async def dashboard(gw: GatewayDep, officer: OfficerDep) -> Any:
    return await run_in_threadpool(verification_service.dashboard, gw)


@router.get(
    "/v1/officer/repair-applications",
    tags=["credit officers"],
    response_model=RepairQueueOut,
    summary="Residents' repair applications: overdue first, then by deadline",
    responses=PROBLEMS(401, 403, 422),
)
async def repair_queue(
    gw: GatewayDep,
    officer: OfficerDep,
    state: Annotated[Literal["submitted", "approved", "refused", "all"], Query()] = "submitted",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Any:
    return await run_in_threadpool(lambda: repair_service.repair_queue(gw, state=state, limit=limit))


@router.post(
    "/v1/officer/repair-applications/{application_id}/decision",
    tags=["credit officers"],
    response_model=DecidedRepairApplicationOut,
    summary="Approve (repair, rescore, supersede) or refuse a repair application",
    responses=PROBLEMS(401, 403, 404, 409, 412, 422),
)
async def decide_repair(
    application_id: Annotated[str, _ID],
    body: RepairDecisionIn,
    gw: GatewayDep,
    officer: OfficerDep,
    response: Response,
    if_match: IfMatch = None,
) -> Any:
    view = await run_in_threadpool(
        lambda: repair_service.decide_application(
            gw,
            officer.name,
            application_id,
            decision=body.decision,
            answer=body.answer,
            decision_ref=body.decision_ref,
            if_match=if_match,
        )
    )
    response.headers["ETag"] = view["etag"]
    return view


# --- collaborating units ---------------------------------------------------------------------


@router.get(
    "/v1/units/verification-requests",
    tags=["ingestion"],
    response_model=UnitQueueOut,
    summary="Your verification requests (协查): overdue first, then by due date",
    description="Only requests about records you supplied; they name your own source_ref, never the person.",
    responses=PROBLEMS(401, 403),
)
async def unit_requests(
    gw: GatewayDep,
    unit: UnitDep,
    state: Annotated[Literal["open", "answered", "withdrawn", "all"], Query()] = "open",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Any:
    return await run_in_threadpool(lambda: verification_service.unit_requests(gw, unit, state=state, limit=limit))


@router.post(
    "/v1/units/verification-requests/{request_id}/answer",
    tags=["ingestion"],
    response_model=UnitRequestOut,
    summary="Answer a verification request: confirm, correct or cannot_confirm",
    responses=PROBLEMS(401, 403, 404, 409, 422),
)
async def unit_answer(request_id: Annotated[str, _ID], body: UnitAnswerIn, gw: GatewayDep, unit: UnitDep) -> Any:
    return await run_in_threadpool(
        lambda: verification_service.answer_request(
            gw, unit, request_id, answer=body.answer, reference=body.reference, note=body.note
        )
    )


# --- residents -------------------------------------------------------------------------------


@router.post(
    "/v1/me/repair-applications",
    tags=["residents' rights"],
    status_code=201,
    response_model=RepairApplicationOut,
    summary="Apply for credit repair of one of my negative records (信用修复, 四(一))",
    description=(
        "Only for a record whose catalogue item allows repair, once the item's minimum time since the event "
        "has passed. A credit officer decides; the answer shows in GET /v1/me/repair-applications."
    ),
    responses=PROBLEMS(401, 404, 409, 422, 503),
)
async def apply_for_repair(body: RepairApplicationIn, gw: GatewayDep, resident: ResidentDep) -> Any:
    return await run_in_threadpool(
        lambda: repair_service.apply_for_repair(
            gw, resident, record=body.record, statement=body.statement, evidence=body.evidence
        )
    )


@router.get(
    "/v1/me/repair-applications",
    tags=["residents' rights"],
    response_model=list[RepairApplicationOut],
    summary="My repair applications with their state, deadline and answer",
    responses=PROBLEMS(401),
)
async def my_repair_applications(gw: GatewayDep, resident: ResidentDep) -> Any:
    return await run_in_threadpool(repair_service.my_applications, gw, resident)
