"""The console's objections queue (credit officers), partners and programmes (partner
administrators; auditors read) and the audit log (auditors), with CSV and JSON export.

Each page calls the service the JSON API calls — ``objections``, ``evidence``, ``partner_admin``,
``admin_audit`` — after the same role check, so the page can do nothing the API would refuse.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response

from gateway.clock import CHINA_STANDARD_TIME, utcnow
from gateway.errors import GatewayError, ValidationFailed
from gateway.services.admin import admin_audit, partner_admin
from gateway.services.publication.purposes import PURPOSE_LABELS
from gateway.services.rights import objections
from gateway.services.rights.evidence import read_evidence
from gateway.services.scores import officer as officer_service
from gateway.services.web.self_reports import pending_self_reports
from gateway.services.web.sessions import WebSession
from gateway.store.audit import append_audit
from gateway.web.routes.console import staff_context
from gateway.web.sessions import csrf_form, gateway_of, require_any, staff_session
from gateway.web.templating import render

router = APIRouter(prefix="/console", include_in_schema=False)

ObjectionId = Annotated[str, Path(min_length=1, max_length=64)]
PartnerId = Annotated[str, Path(min_length=1, max_length=64)]
Sha256 = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$")]
_DUE_SOON_HOURS = 72


def _urgency(item: dict[str, Any]) -> str:
    if item["overdue"]:
        return "overdue"
    if item["state"] in ("submitted", "under_review"):
        left = datetime.fromisoformat(item["deadline"]) - utcnow()
        if left.total_seconds() < _DUE_SOON_HOURS * 3600:
            return "due-soon"
    return "ok"


# --- objections -------------------------------------------------------------------------------


@router.get("/objections")
async def objection_queue(request: Request, state: Annotated[str, Query(max_length=16)] = "open") -> Response:
    session = await staff_session(request)
    require_any(session, "credit_officer")
    queue = await run_in_threadpool(lambda: objections.objection_queue(gateway_of(request), state=state))
    for item in queue["items"]:
        item["urgency"] = _urgency(item)
    return render(request, "console/objections.html", staff_context(request, session, queue=queue, state=state))


async def _objection_page(
    request: Request, session: WebSession, objection_id: str, *, error: str | None = None, status_code: int = 200
) -> Response:
    item = await run_in_threadpool(objections.get_objection, gateway_of(request), objection_id)
    item["urgency"] = _urgency(item)
    context = staff_context(request, session, o=item)
    context["error"] = error
    return render(request, "console/objection.html", context, status_code=status_code)


@router.get("/objections/{objection_id}")
async def objection(request: Request, objection_id: ObjectionId) -> Response:
    session = await staff_session(request)
    require_any(session, "credit_officer")
    return await _objection_page(request, session, objection_id)


@router.post("/objections/{objection_id}/review")
async def start_review(request: Request, objection_id: ObjectionId) -> Response:
    session = await staff_session(request)
    officer = require_any(session, "credit_officer")
    fields = await csrf_form(request, session)
    gw = gateway_of(request)
    try:
        await run_in_threadpool(
            lambda: objections.start_review(gw, officer.name, objection_id, if_match=fields.get("etag"))
        )
    except GatewayError as exc:
        if exc.status >= 500 or exc.status in (401, 403, 404):
            raise
        return await _objection_page(request, session, objection_id, error=exc.detail, status_code=exc.status)
    return RedirectResponse(f"/console/objections/{objection_id}", status_code=303)


@router.post("/objections/{objection_id}/decision")
async def decide(request: Request, objection_id: ObjectionId) -> Response:
    session = await staff_session(request)
    officer = require_any(session, "credit_officer")
    fields = await csrf_form(request, session)
    gw = gateway_of(request)
    outcome = fields.get("outcome", "")
    record_action = "correct" if outcome == "upheld" and fields.get("correct_record") == "1" else None
    try:
        await run_in_threadpool(
            lambda: objections.decide_objection(
                gw,
                officer.name,
                objection_id,
                outcome=outcome,
                answer=fields.get("answer", ""),
                record_action=record_action,
                if_match=fields.get("etag"),
            )
        )
    except GatewayError as exc:
        if exc.status >= 500 or exc.status in (401, 403, 404):
            raise
        return await _objection_page(request, session, objection_id, error=exc.detail, status_code=exc.status)
    return RedirectResponse(f"/console/objections/{objection_id}", status_code=303)


@router.get("/evidence/{sha256}")
async def evidence(request: Request, sha256: Sha256) -> Response:
    session = await staff_session(request)
    require_any(session, "credit_officer")
    body, media_type = await run_in_threadpool(read_evidence, gateway_of(request), sha256)
    # Served as an attachment with its checked type: never rendered inline as this origin's page.
    return Response(
        body,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="evidence-{sha256[:12]}"', "Cache-Control": "no-store"},
    )


# --- self-reports -----------------------------------------------------------------------------


@router.get("/self-reports")
async def self_reports(request: Request) -> Response:
    session = await staff_session(request)
    require_any(session, "credit_officer")
    items = await run_in_threadpool(pending_self_reports, gateway_of(request))
    return render(request, "console/self_reports.html", staff_context(request, session, items=items))


@router.post("/self-reports/{record_id}/decision")
async def decide_self_report(request: Request, record_id: Annotated[int, Path(ge=1)]) -> Response:
    session = await staff_session(request)
    officer = require_any(session, "credit_officer")
    fields = await csrf_form(request, session)
    raw = fields.get("decision")
    if raw not in ("verified", "rejected"):
        raise ValidationFailed("The decision is verified or rejected.")
    decision: Literal["verified", "rejected"] = "verified" if raw == "verified" else "rejected"
    reason = fields.get("reason", "").strip()
    if not reason or len(reason) > 1000:
        raise ValidationFailed("Give the reason (1 to 1000 characters).")
    gw = gateway_of(request)
    await run_in_threadpool(lambda: officer_service.decide_self_report(gw, officer.name, record_id, decision, reason))
    return RedirectResponse("/console/self-reports", status_code=303)


# --- partners and programmes ------------------------------------------------------------------


async def _partners_page(
    request: Request, session: WebSession, *, error: str | None = None, status_code: int = 200
) -> Response:
    gw = gateway_of(request)
    rows = await run_in_threadpool(partner_admin.list_partners, gw)
    context = staff_context(
        request, session, partners=rows, can_edit="partner_admin" in session.roles, all_purposes=PURPOSE_LABELS
    )
    context["error"] = error
    return render(request, "console/partners.html", context, status_code=status_code)


@router.get("/partners")
async def partners(request: Request) -> Response:
    session = await staff_session(request)
    require_any(session, "partner_admin", "auditor")
    return await _partners_page(request, session)


async def _partner_change(request: Request, session: WebSession, change: Any) -> Response:
    """Run a partner change; a refusal (412 when another change came first, 422) is shown on the list."""
    try:
        await run_in_threadpool(change)
    except GatewayError as exc:
        if exc.status >= 500 or exc.status in (401, 403, 404):
            raise
        return await _partners_page(request, session, error=exc.detail, status_code=exc.status)
    return RedirectResponse("/console/partners", status_code=303)


@router.post("/partners/{partner_id}/enabled")
async def set_enabled(request: Request, partner_id: PartnerId) -> Response:
    session = await staff_session(request)
    admin = require_any(session, "partner_admin")
    fields = await csrf_form(request, session)
    gw = gateway_of(request)
    enabled = fields.get("enabled") == "1"
    return await _partner_change(
        request,
        session,
        lambda: partner_admin.set_enabled(
            gw, admin.name, partner_id, enabled, reason=fields.get("reason", ""), if_match=fields.get("etag")
        ),
    )


@router.post("/partners/{partner_id}/jwks")
async def rotate_keys(request: Request, partner_id: PartnerId) -> Response:
    session = await staff_session(request)
    admin = require_any(session, "partner_admin")
    fields = await csrf_form(request, session)
    try:
        jwks = json.loads(fields.get("jwks", ""))
    except ValueError:
        return await _partners_page(request, session, error="The JWK Set is not JSON.", status_code=422)
    gw = gateway_of(request)
    return await _partner_change(
        request,
        session,
        lambda: partner_admin.replace_jwks(
            gw, admin.name, partner_id, jwks, reason=fields.get("reason", ""), if_match=fields.get("etag")
        ),
    )


@router.post("/partners/{partner_id}/purposes")
async def set_purposes(request: Request, partner_id: PartnerId) -> Response:
    """A partner's allowed purposes, ticked on the list: the service ``PUT …/purposes`` calls."""
    session = await staff_session(request)
    admin = require_any(session, "partner_admin")
    fields = await csrf_form(request, session)
    chosen = [str(p) for p in (await request.form()).getlist("purposes")][: len(PURPOSE_LABELS) + 1]
    gw = gateway_of(request)
    return await _partner_change(
        request,
        session,
        lambda: partner_admin.set_allowed_purposes(
            gw, admin.name, partner_id, chosen, reason=fields.get("reason", ""), if_match=fields.get("etag")
        ),
    )


@router.get("/programmes")
async def programmes(request: Request) -> Response:
    session = await staff_session(request)
    require_any(session, "partner_admin", "auditor", "mapping_admin")
    items = [p.summary() for p in gateway_of(request).programmes.by_id.values()]
    return render(request, "console/programmes.html", staff_context(request, session, programmes=items))


# --- audit ------------------------------------------------------------------------------------


def _local_time(raw: str | None) -> datetime | None:
    """A ``datetime-local`` field, read as Shaoxing time."""
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise ValidationFailed("A time is YYYY-MM-DDTHH:MM.") from None
    return value if value.tzinfo else value.replace(tzinfo=CHINA_STANDARD_TIME)


def _audit_filter(request: Request, *, limit: int = 100) -> admin_audit.AuditFilter:
    q = request.query_params

    def text(name: str, size: int) -> str | None:
        value = (q.get(name) or "").strip()
        return value[:size] or None

    before = q.get("before_id")
    return admin_audit.AuditFilter(
        actor_id=text("actor_id", 128),
        action=text("action", 64),
        target_type=text("target_type", 32),
        target_ref=text("target_ref", 128),
        since=_local_time(q.get("since")),
        until=_local_time(q.get("until")),
        before_id=int(before) if before and before.isdigit() else None,
        limit=limit,
    )


@router.get("/audit")
async def audit(request: Request) -> Response:
    session = await staff_session(request)
    require_any(session, "auditor")
    page = await run_in_threadpool(admin_audit.read_audit, gateway_of(request), _audit_filter(request))
    query = {k: v for k, v in request.query_params.items() if k not in ("before_id", "lang")}
    return render(request, "console/audit.html", staff_context(request, session, page=page, q=query))


_EXPORT_MAX_PAGES = 20  # 10 000 rows; a larger export is a database extract, not a page


@router.get("/audit/export.{fmt}")
async def audit_export(request: Request, fmt: Annotated[str, Path(pattern=r"^(csv|json)$")]) -> Response:
    session = await staff_session(request)
    auditor = require_any(session, "auditor")
    gw = gateway_of(request)
    base = _audit_filter(request, limit=admin_audit.MAX_LIMIT)

    def collect() -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        f = base
        for _ in range(_EXPORT_MAX_PAGES):
            page = admin_audit.read_audit(gw, f)
            rows.extend(page["items"])
            if page["next_before_id"] is None:
                break
            f = replace(f, before_id=page["next_before_id"])
        with gw.engine.begin() as conn:  # exporting the log is itself recorded
            append_audit(
                conn,
                actor_type="admin",
                actor_id=auditor.name,
                action="audit.export",
                target_type="audit_log",
                target_ref=fmt,
                details={"rows": len(rows)},
            )
        return rows

    rows = await run_in_threadpool(collect)
    stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
    if fmt == "json":
        body = json.dumps({"items": rows}, ensure_ascii=False, indent=1)
        media = "application/json"
    else:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["id", "at", "actor_type", "actor_id", "action", "target_type", "target_ref", "details"])
        for r in rows:
            cells = [r["id"], r["at"], r["actor_type"], r["actor_id"], r["action"], r["target_type"], r["target_ref"]]
            # A leading = + - @ would be a formula in a spreadsheet (CSV injection): quote it away.
            safe = [f"'{c}" if isinstance(c, str) and c[:1] in "=+-@" else c for c in cells]
            writer.writerow([*safe, json.dumps(r["details"], ensure_ascii=False)])
        body, media = out.getvalue(), "text/csv; charset=utf-8"
    return Response(
        body, media_type=media, headers={"Content-Disposition": f'attachment; filename="audit-{stamp}.{fmt}"'}
    )
