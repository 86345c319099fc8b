"""Webhook delivery logs and manual re-sends, for partners (their own events) and partner
administrators (everyone's) — issue 13."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from fastapi.concurrency import run_in_threadpool

from gateway.api.deps import GatewayDep, PartnerDep, require_role
from gateway.api.schemas import PROBLEMS
from gateway.services.admin.admins import AdminPrincipal
from gateway.services.operations import webhooks

router = APIRouter()
PartnerAdminDep = Annotated[AdminPrincipal, Depends(require_role("partner_admin"))]
EventId = Annotated[str, Path(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


@router.get(
    "/v1/webhooks/deliveries",
    tags=["webhooks"],
    summary="Your webhook events and every delivery attempt (newest first)",
    description=(
        "Events are POSTed to the `webhook.url` of your partner file as `gateway-event+jwt` (signed with the "
        "gateway's keys, `aud` = you, `jti` = the event id, fixed across retries). Failed deliveries are retried "
        f"with exponential back-off and dead-lettered after {webhooks.MAX_ATTEMPTS} attempts."
    ),
    responses=PROBLEMS(401),
)
async def my_deliveries(gw: GatewayDep, principal: PartnerDep) -> list[dict[str, Any]]:
    return await run_in_threadpool(webhooks.deliveries, gw, principal.partner.id)


@router.post(
    "/v1/webhooks/events/{event_id}/resend",
    tags=["webhooks"],
    summary="Queue one of your events again (a dead-lettered one included)",
    status_code=202,
    responses=PROBLEMS(401, 404),
)
async def resend_mine(event_id: EventId, gw: GatewayDep, principal: PartnerDep) -> dict[str, str]:
    await run_in_threadpool(webhooks.resend, gw, event_id, principal.partner.id)
    return {"event_id": event_id, "state": "pending"}


@router.get(
    "/v1/admin/webhooks/deliveries",
    tags=["admin"],
    summary="Every partner's webhook events and delivery attempts (partner_admin)",
    responses=PROBLEMS(401, 403),
)
async def all_deliveries(gw: GatewayDep, admin: PartnerAdminDep) -> list[dict[str, Any]]:
    return await run_in_threadpool(webhooks.deliveries, gw, None)


@router.post(
    "/v1/admin/webhooks/events/{event_id}/resend",
    tags=["admin"],
    summary="Queue an event again (partner_admin)",
    status_code=202,
    responses=PROBLEMS(401, 403, 404),
)
async def resend_any(event_id: EventId, gw: GatewayDep, admin: PartnerAdminDep) -> dict[str, str]:
    await run_in_threadpool(webhooks.resend, gw, event_id, None)
    return {"event_id": event_id, "state": "pending"}
