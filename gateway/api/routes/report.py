"""The resident's credit report (and its signed export) and personal statements (本人声明)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from gateway.api.deps import GatewayDep, ResidentDep
from gateway.api.schemas import PROBLEMS
from gateway.services.residents import lookups as lookup_service
from gateway.services.residents import report as report_service

router = APIRouter(prefix="/v1/me", tags=["residents"])


class StatementIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    record: str = Field(min_length=3, max_length=24, description="The record's reference (`r:<id>` or `p:<id>`).")
    statement: str = Field(
        min_length=1,
        max_length=lookup_service.MAX_STATEMENT_CHARS,
        description="The personal statement, at most 500 characters; shown to officers and in the report.",
    )


@router.get(
    "/report",
    summary="My credit report: every record held, the score history, every look-up and its answer",
    description=(
        "Free of charge. With `format=export` the same report comes back signed by the gateway as a "
        "`credit-report+jwt` (verify it with `/.well-known/jwks.json`), to download and keep."
    ),
    responses=PROBLEMS(401, 404, 503),
)
async def report(
    gw: GatewayDep,
    resident: ResidentDep,
    format: Annotated[Literal["json", "export"], Query(description="`export` for the signed copy")] = "json",
) -> Any:
    if format == "export":
        signed = await run_in_threadpool(report_service.export_report, gw, resident)
        return JSONResponse(
            signed,
            headers={"Content-Disposition": 'attachment; filename="credit-report.json"', "Cache-Control": "no-store"},
        )
    return await run_in_threadpool(report_service.credit_report, gw, resident)


@router.post(
    "/statements",
    status_code=201,
    summary="Attach a personal statement (本人声明) to one of my records",
    responses=PROBLEMS(401, 404, 422, 503),
)
async def add_statement(body: StatementIn, gw: GatewayDep, resident: ResidentDep) -> Any:
    return await run_in_threadpool(
        lambda: lookup_service.add_statement(gw, resident, record=body.record, statement=body.statement)
    )
