"""Residents' rights (measure 四) and revocation: evidence, objections, credit repair, status lists.

Residents upload evidence and file objections; credit officers work the objection queue and repair
records; the collaborating unit that supplied a record may repair it too; anyone may fetch the
gateway's status lists (they reveal nothing about a person: indexes are random in large lists).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from gateway.api.deps import GatewayDep, OfficerDep, ResidentDep, UnitDep
from gateway.api.schemas import PROBLEMS
from gateway.errors import MalformedBody
from gateway.services.exchange.status_lists import STATUS_LIST_MEDIA_TYPE
from gateway.services.rights import evidence as evidence_service
from gateway.services.rights import objections as objection_service
from gateway.services.rights import repair as repair_service

router = APIRouter()

_OBJECTION_ID = Path(min_length=1, max_length=64, description="The objection's id (`obj_…`).")
_SHA256 = Path(pattern=r"^[0-9a-f]{64}$", description="The file's SHA-256, lower-case hex.")
_IF_MATCH = Header(
    alias="If-Match",
    description="Optional: the ETag last read. When it is no longer current the change is refused with 412.",
)
IfMatch = Annotated[str | None, _IF_MATCH]
_EVIDENCE_BODY = {"schema": {"type": "string", "format": "binary"}}


class ObjectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    target: str = Field(
        pattern=r"^(score|[rp]:[1-9][0-9]{0,17})$",
        description="`score`, or a record reference from the score breakdown (`r:123`, `p:45`).",
    )
    statement: str = Field(min_length=1, max_length=objection_service.MAX_STATEMENT)
    evidence: list[Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]] = Field(
        default_factory=list,
        max_length=objection_service.MAX_EVIDENCE,
        description="SHA-256 references of files uploaded to POST /v1/me/evidence.",
    )


class DeadlineOut(BaseModel):
    due_at: str
    met_at: str | None
    overdue: bool


class EvidenceOut(BaseModel):
    sha256: str
    media_type: str
    size: int


class ObjectionOut(BaseModel):
    id: str
    target: str
    statement: str
    evidence: list[EvidenceOut]
    state: Literal["submitted", "under_review", "upheld", "rejected", "cannot_confirm"]
    deadline: str = Field(
        description="The final answer's limit (working days, `GATEWAY_OBJECTION_FINAL_WORKING_DAYS`)."
    )
    overdue: bool = Field(description="Open and past the final limit or any unmet phase's limit.")
    deadlines: dict[str, DeadlineOut] = Field(
        description="Each phase's working-day limit: accept, forward, unit_answer, final (as far as reached)."
    )
    created_at: str
    updated_at: str
    answer: str | None = Field(description="The credit office's written answer, once decided.")


class VerificationRequestOut(BaseModel):
    id: str
    objection_id: str
    unit: str
    record: str
    source_ref: str
    item: str
    question: str
    state: Literal["open", "answered", "withdrawn"]
    requested_by: str
    requested_at: str
    due_at: str
    overdue: bool
    answer: Literal["confirm", "correct", "cannot_confirm"] | None
    answer_ref: str | None
    answer_note: str | None
    answered_at: str | None


class ObjectionPersonOut(BaseModel):
    ref: str
    name_masked: str


class OfficerObjectionOut(ObjectionOut):
    person: ObjectionPersonOut
    officer_id: str | None
    row_version: int
    etag: str
    verification_requests: list[VerificationRequestOut] = Field(
        description="Checks by the unit that supplied the record (协查), with its answers."
    )


class DecidedObjectionOut(OfficerObjectionOut):
    result: dict[str, Any] = Field(
        description="The record change and the new score when the outcome changed what counts, and what became of "
        "the assertions the dispute suspended."
    )


class ObjectionQueueOut(BaseModel):
    overdue: int = Field(description="Open objections past their deadline.")
    items: list[OfficerObjectionOut]


class ObjectionReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str | None = Field(None, max_length=500)


class ObjectionDecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    outcome: Literal["upheld", "rejected", "cannot_confirm"] = Field(
        description="`cannot_confirm`: the check could not confirm the record; it is noted with the record and, "
        "unless GATEWAY_CANNOT_CONFIRM_COUNTS is set, stops counting."
    )
    answer: str = Field(min_length=1, max_length=4000, description="The written explanation sent to the resident.")
    record_action: Literal["correct"] | None = Field(
        None, description="Required when upholding an objection against a record: the record no longer counts."
    )


class RecordRepairIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decision_ref: str = Field(min_length=1, max_length=64, description="The reference of the repair decision.")


class UnitRecordRepairIn(RecordRepairIn):
    source_ref: str = Field(min_length=1, max_length=128, description="Your own reference of the record.")


async def _read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise MalformedBody("The Content-Length header is not a number.")
        if int(declared) > limit:
            raise evidence_service.EvidenceTooLarge(f"An evidence file holds at most {limit} bytes.", max_bytes=limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise evidence_service.EvidenceTooLarge(f"An evidence file holds at most {limit} bytes.", max_bytes=limit)
        chunks.append(chunk)
    return b"".join(chunks)


# --- residents -------------------------------------------------------------------------------


@router.post(
    "/v1/me/evidence",
    tags=["residents' rights"],
    status_code=201,
    response_model=EvidenceOut,
    summary="Upload an evidence file for an objection",
    description=(
        "The raw file is the request body, with its Content-Type: `application/pdf`, `image/jpeg` or "
        "`image/png` (5 MiB at most by default). Files are stored by SHA-256; name them in an objection."
    ),
    responses=PROBLEMS(400, 401, 413, 415),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {t: _EVIDENCE_BODY for t in ("application/pdf", "image/jpeg", "image/png")},
        }
    },
)
async def upload_evidence(request: Request, gw: GatewayDep, resident: ResidentDep) -> Any:
    content_type = request.headers.get("content-type")
    evidence_service.accepted_media_type(gw.settings, content_type)  # refuse before reading the body
    body = await _read_limited(request, gw.settings.evidence_max_bytes)
    stored = await run_in_threadpool(
        lambda: evidence_service.store_evidence(gw, body, content_type, owner=resident.id_hash)
    )
    return stored.as_dict()


@router.post(
    "/v1/me/objections",
    tags=["residents' rights"],
    status_code=201,
    response_model=ObjectionOut,
    summary="Object to my score or to one of my records (四(二))",
    description="The credit office answers by the deadline; the state and the answer show in GET /v1/me/objections.",
    responses=PROBLEMS(401, 404, 409, 422, 503),
)
async def file_objection(body: ObjectionIn, gw: GatewayDep, resident: ResidentDep) -> Any:
    return await run_in_threadpool(
        lambda: objection_service.file_objection(
            gw, resident, target=body.target, statement=body.statement, evidence=body.evidence
        )
    )


@router.get(
    "/v1/me/objections",
    tags=["residents' rights"],
    response_model=list[ObjectionOut],
    summary="My objections with their state, deadline and answer",
    responses=PROBLEMS(401),
)
async def my_objections(gw: GatewayDep, resident: ResidentDep) -> Any:
    return await run_in_threadpool(objection_service.my_objections, gw, resident)


# --- credit officers -------------------------------------------------------------------------


@router.get(
    "/v1/officer/objections",
    tags=["credit officers"],
    response_model=ObjectionQueueOut,
    summary="The objection queue: overdue first, then by deadline",
    responses=PROBLEMS(401, 403, 422),
)
async def objection_queue(
    gw: GatewayDep,
    officer: OfficerDep,
    state: Annotated[
        Literal["open", "submitted", "under_review", "upheld", "rejected", "cannot_confirm", "all"], Query()
    ] = "open",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Any:
    return await run_in_threadpool(lambda: objection_service.objection_queue(gw, state=state, limit=limit))


@router.get(
    "/v1/officer/objections/{objection_id}",
    tags=["credit officers"],
    response_model=OfficerObjectionOut,
    summary="One objection, with its ETag",
    responses=PROBLEMS(401, 403, 404),
)
async def get_objection(
    objection_id: Annotated[str, _OBJECTION_ID], gw: GatewayDep, officer: OfficerDep, response: Response
) -> Any:
    view = await run_in_threadpool(objection_service.get_objection, gw, objection_id)
    response.headers["ETag"] = view["etag"]
    return view


@router.post(
    "/v1/officer/objections/{objection_id}/review",
    tags=["credit officers"],
    response_model=OfficerObjectionOut,
    summary="Take a submitted objection under review",
    responses=PROBLEMS(401, 403, 404, 409, 412, 422, 503),
)
async def start_review(
    objection_id: Annotated[str, _OBJECTION_ID],
    gw: GatewayDep,
    officer: OfficerDep,
    response: Response,
    if_match: IfMatch = None,
    body: ObjectionReviewIn | None = None,
) -> Any:
    view = await run_in_threadpool(
        lambda: objection_service.start_review(
            gw, officer.name, objection_id, if_match=if_match, reason=body.reason if body else None
        )
    )
    response.headers["ETag"] = view["etag"]
    return view


@router.post(
    "/v1/officer/objections/{objection_id}/decision",
    tags=["credit officers"],
    response_model=DecidedObjectionOut,
    summary="Decide an objection under review: upheld, rejected or cannot_confirm, with the written answer",
    description=(
        "Upholding an objection against a record marks it corrected (`record_action: correct`); either way an "
        "upheld objection rescores the person and supersedes their assertions that are no longer true."
    ),
    responses=PROBLEMS(401, 403, 404, 409, 412, 422),
)
async def decide(
    objection_id: Annotated[str, _OBJECTION_ID],
    body: ObjectionDecisionIn,
    gw: GatewayDep,
    officer: OfficerDep,
    response: Response,
    if_match: IfMatch = None,
) -> Any:
    view = await run_in_threadpool(
        lambda: objection_service.decide_objection(
            gw,
            officer.name,
            objection_id,
            outcome=body.outcome,
            answer=body.answer,
            record_action=body.record_action,
            if_match=if_match,
        )
    )
    response.headers["ETag"] = view["etag"]
    return view


@router.get(
    "/v1/officer/evidence/{sha256}",
    tags=["credit officers"],
    summary="An evidence file",
    response_class=Response,
    responses={
        200: {"content": {t: _EVIDENCE_BODY for t in ("application/pdf", "image/jpeg", "image/png")}},
        **PROBLEMS(401, 403, 404),
    },
)
async def get_evidence(sha256: Annotated[str, _SHA256], gw: GatewayDep, officer: OfficerDep) -> Response:
    content, media_type = await run_in_threadpool(evidence_service.read_evidence, gw, sha256)
    headers = {
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
        "Content-Disposition": f'attachment; filename="{sha256[:16]}"',
    }
    return Response(content, media_type=media_type, headers=headers)


@router.post(
    "/v1/officer/records/{ref}/repair",
    tags=["credit officers"],
    summary="Mark a negative record repaired (信用修复, 四(一))",
    description="The record stops counting; the person is rescored and their outdated assertions superseded.",
    responses=PROBLEMS(401, 403, 404, 409, 422),
)
async def officer_repair(
    ref: Annotated[str, Path(pattern=r"^[rp]:[1-9][0-9]{0,17}$", description="`r:123` from a score breakdown.")],
    body: RecordRepairIn,
    gw: GatewayDep,
    officer: OfficerDep,
) -> Any:
    return await run_in_threadpool(repair_service.repair_by_officer, gw, officer.name, ref, body.decision_ref)


# --- collaborating units ---------------------------------------------------------------------


@router.post(
    "/v1/ingest/repairs",
    tags=["ingestion"],
    summary="Mark one of your negative records repaired (信用修复, 四(一))",
    description="Only the unit that supplied the record may repair it. The answer carries no score.",
    responses=PROBLEMS(401, 403, 404, 409, 422),
)
async def unit_repair(body: UnitRecordRepairIn, gw: GatewayDep, unit: UnitDep) -> Any:
    return await run_in_threadpool(repair_service.repair_by_unit, gw, unit, body.source_ref, body.decision_ref)


# --- status lists ----------------------------------------------------------------------------


@router.get(
    "/status-lists/{list_id}",
    tags=["exchange format"],
    summary="A Token Status List (statuslist+jwt, draft-ietf-oauth-status-list)",
    description=(
        "Signed with the gateway's keys; `sub` is this URL. 2-bit entries: 0 valid, 1 invalid (revoked), "
        "2 suspended, 3 superseded by a newer score. A change shows here within the configured bound "
        "(60 s by default); `ttl` and Cache-Control never let a copy live longer."
    ),
    response_class=Response,
    responses={200: {"content": {STATUS_LIST_MEDIA_TYPE: {"schema": {"type": "string"}}}}, **PROBLEMS(404)},
)
async def status_list(list_id: Annotated[int, Path(ge=1, le=2**31 - 1)], gw: GatewayDep) -> Response:
    service = gw.status_lists
    served = await run_in_threadpool(service.served, list_id)
    max_age = served.max_age(service.now(), service.max_age)
    return Response(
        served.token,
        media_type=STATUS_LIST_MEDIA_TYPE,
        headers={"Cache-Control": f"public, max-age={max_age}"},
    )
