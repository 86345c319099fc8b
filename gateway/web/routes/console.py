"""The console's dashboard and crosswalk pages (mapping administrators; auditors read).

Thin over the services the JSON API uses — ``mapping_admin`` (list, draft, publish, rollback, with
the same If-Match concurrency) and ``crosswalk_analysis.preview_impact`` — so a page can do nothing
the API would refuse. A change another person committed first (412) re-renders the form with this
person's rows kept and the fresh ETag, so neither person's work is lost.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response

from gateway.errors import GatewayError, ValidationFailed
from gateway.exchange.tiers import InvalidMapping
from gateway.services.admin import crosswalk_analysis, mapping_admin
from gateway.services.admin.preconditions import PreconditionFailed
from gateway.services.web.dashboard import dashboard
from gateway.services.web.sessions import WebSession
from gateway.web.charts import bar_chart, grouped_bar_chart
from gateway.web.i18n import translate
from gateway.web.sessions import csrf_form, gateway_of, menu_for, require_any, staff_session
from gateway.web.templating import language, render

router = APIRouter(prefix="/console", include_in_schema=False)

CrosswalkId = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")]
Version = Annotated[int, Path(ge=1, le=1_000_000)]
_DONE = {"saved": "cw.saved", "published": "cw.published_ok", "rolled_back": "cw.rolled_back"}


def staff_context(request: Request, session: WebSession, **extra: Any) -> dict[str, Any]:
    done = request.query_params.get("done")
    flash = translate(language(request), _DONE[done]) if done in _DONE else None
    return {"staff": session, "csrf": session.csrf_token, "menu": menu_for(session.roles), "flash": flash, **extra}


@router.get("")
async def home(request: Request) -> Response:
    session = await staff_session(request)
    gw = gateway_of(request)
    data = await run_in_threadpool(dashboard, gw)
    lang = language(request)

    def t(key: str) -> str:
        return translate(lang, key)

    charts = {
        "by_tier": bar_chart(t("dash.by_tier"), data["by_tier"]),
        "by_level": bar_chart(t("dash.by_level"), data["by_level"]),
        "per_partner": grouped_bar_chart(
            t("dash.by_partner"),
            [p["partner"] for p in data["per_partner"]],
            {
                t("col.assertions"): [p["assertions"] for p in data["per_partner"]],
                t("col.recognitions"): [p["recognitions"] for p in data["per_partner"]],
            },
        ),
        "not_scored": bar_chart(t("dash.refusals"), data["not_scored"]),
        "daily": _daily_chart(t("dash.daily"), data["daily"], t("col.recognitions"), t("dash.decisions")),
    }
    return render(request, "console/dashboard.html", staff_context(request, session, data=data, charts=charts))


def _daily_chart(title: str, daily: list[dict[str, Any]], recognitions: str, decisions: str) -> Any:
    days = sorted({d["day"] for d in daily})
    totals = {day: [0, 0] for day in days}
    for d in daily:
        totals[d["day"]][0] += d["recognitions"]
        totals[d["day"]][1] += d["decisions"]
    return grouped_bar_chart(
        title,
        [day[5:] for day in days],
        {recognitions: [totals[d][0] for d in days], decisions: [totals[d][1] for d in days]},
    )


# --- crosswalks ------------------------------------------------------------------------------


@router.get("/crosswalks")
async def crosswalks(request: Request) -> Response:
    session = await staff_session(request)
    require_any(session, "mapping_admin", "auditor")
    rows = await run_in_threadpool(mapping_admin.list_crosswalks, gateway_of(request))
    return render(request, "console/crosswalks.html", staff_context(request, session, crosswalks=rows))


def _rows_from_document(doc: dict[str, Any] | None) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    doc = doc or {}
    to_rows = [
        {
            "local": str(e.get("local", "")),
            "min": "" if e.get("min_score") is None else str(e["min_score"]),
            "max": "" if e.get("max_score") is None else str(e["max_score"]),
            "common": str(e.get("common", "")),
        }
        for e in doc.get("to_common", [])
    ]
    from_rows = [
        {"common": str(e.get("common", "")), "local": str(e.get("local", ""))} for e in doc.get("from_common", [])
    ]
    return to_rows, from_rows


def _common_levels(request: Request, common_scheme: str | None) -> list[str]:
    scheme = gateway_of(request).mappings.schemes.get(common_scheme or "")
    return [t.code for t in sorted(scheme.tiers, key=lambda t: t.rank) if t.code != "unrated"] if scheme else []


async def _crosswalk_page(
    request: Request,
    session: WebSession,
    crosswalk_id: str,
    *,
    to_rows: list[dict[str, str]] | None = None,
    from_rows: list[dict[str, str]] | None = None,
    form: dict[str, str] | None = None,
    error: str | None = None,
    bad_values: frozenset[str] = frozenset(),
    status_code: int = 200,
) -> Response:
    view = await run_in_threadpool(mapping_admin.show_crosswalk, gateway_of(request), crosswalk_id)
    published_to, published_from = _rows_from_document(view.get("document"))
    editing = to_rows is not None
    context = staff_context(
        request,
        session,
        cw=view,
        published_rows=published_to,
        to_rows=to_rows if editing else published_to,
        from_rows=from_rows if from_rows is not None else published_from,
        levels=_common_levels(request, view.get("common_scheme")),
        form=form or {"effective_from": view.get("effective_from") or "", "reason": ""},
        can_edit="mapping_admin" in session.roles,
        bad_values=bad_values,
    )
    context["error"] = error
    return render(request, "console/crosswalk.html", context, status_code=status_code)


@router.get("/crosswalks/{crosswalk_id}")
async def crosswalk(request: Request, crosswalk_id: CrosswalkId) -> Response:
    session = await staff_session(request)
    require_any(session, "mapping_admin", "auditor")
    return await _crosswalk_page(request, session, crosswalk_id)


def _column(values: list[Any], n: int) -> list[str]:
    out = [str(v).strip() for v in values[:n]]
    return out + [""] * (n - len(out))


def _document_from_form(
    base: dict[str, Any], form: Any
) -> tuple[dict[str, Any], list[dict[str, str]], list[dict[str, str]]]:
    locals_ = form.getlist("to_local")
    n = min(len(locals_), 200)
    to_rows = [
        {"local": a, "min": b, "max": c, "common": d}
        for a, b, c, d in zip(
            _column(locals_, n),
            _column(form.getlist("to_min"), n),
            _column(form.getlist("to_max"), n),
            _column(form.getlist("to_common"), n),
            strict=True,
        )
    ]
    m = min(len(form.getlist("from_common")), 200)
    from_rows = [
        {"common": a, "local": b}
        for a, b in zip(_column(form.getlist("from_common"), m), _column(form.getlist("from_local"), m), strict=True)
    ]
    to_common: list[dict[str, Any]] = []
    for row in to_rows:
        if not any(row.values()):
            continue  # an empty row added and left blank
        if row["min"] or row["max"]:
            try:
                to_common.append({"min_score": int(row["min"]), "max_score": int(row["max"]), "common": row["common"]})
            except ValueError:
                raise InvalidMapping(f"A score band needs whole numbers: {row['min']!r}–{row['max']!r}.") from None
        else:
            to_common.append({"local": row["local"], "common": row["common"]})
    document = {
        **{k: v for k, v in base.items() if k not in ("to_common", "from_common", "version", "effective_from")},
        "version": 1,
        "effective_from": str(form.get("effective_from") or base.get("effective_from", "")),
        "to_common": to_common,
        "from_common": [{"common": r["common"], "local": r["local"]} for r in from_rows if any(r.values())],
    }
    return document, to_rows, from_rows


def _quoted_values(detail: str, rows: list[dict[str, str]]) -> frozenset[str]:
    """The row values an InvalidMapping message names (it quotes them as Python reprs)."""
    values = {v for row in rows for v in row.values() if v}
    return frozenset(v for v in values if repr(v) in detail)


@router.post("/crosswalks/{crosswalk_id}/drafts")
async def save_draft(request: Request, crosswalk_id: CrosswalkId) -> Response:
    session = await staff_session(request)
    admin = require_any(session, "mapping_admin")
    fields = await csrf_form(request, session)
    form = await request.form()
    gw = gateway_of(request)
    view = await run_in_threadpool(mapping_admin.show_crosswalk, gw, crosswalk_id)
    to_rows: list[dict[str, str]] = []
    from_rows: list[dict[str, str]] = []
    try:
        document, to_rows, from_rows = _document_from_form(view.get("document") or {}, form)
        result = await run_in_threadpool(
            lambda: mapping_admin.create_draft(
                gw, admin.name, crosswalk_id, document, reason=fields.get("reason", ""), if_match=fields.get("etag")
            )
        )
    except PreconditionFailed:
        msg = translate(language(request), "cw.conflict")
        return await _crosswalk_page(
            request,
            session,
            crosswalk_id,
            to_rows=to_rows,
            from_rows=from_rows,
            form=fields,
            error=msg,
            status_code=412,
        )
    except (InvalidMapping, ValidationFailed) as exc:
        return await _crosswalk_page(
            request,
            session,
            crosswalk_id,
            to_rows=to_rows,
            from_rows=from_rows,
            form=fields,
            error=exc.detail,
            bad_values=_quoted_values(exc.detail, to_rows + from_rows),
            status_code=422,
        )
    version = result["drafts"][-1] if result.get("drafts") else result.get("version")
    return RedirectResponse(f"/console/crosswalks/{crosswalk_id}/versions/{version}?done=saved", status_code=303)


def _diff(old: list[dict[str, str]], new: list[dict[str, str]]) -> list[tuple[str, dict[str, str]]]:
    old_keys = {tuple(sorted(r.items())) for r in old}
    new_keys = {tuple(sorted(r.items())) for r in new}
    out: list[tuple[str, dict[str, str]]] = []
    for r in new:
        out.append(("same" if tuple(sorted(r.items())) in old_keys else "add", r))
    out.extend(("del", r) for r in old if tuple(sorted(r.items())) not in new_keys)
    return out


async def _version_page(
    request: Request,
    session: WebSession,
    crosswalk_id: str,
    version: int,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    gw = gateway_of(request)
    view = await run_in_threadpool(mapping_admin.show_crosswalk, gw, crosswalk_id)
    this = await run_in_threadpool(mapping_admin.show_version, gw, crosswalk_id, version)
    previous = None
    if version > 1:
        previous = await run_in_threadpool(mapping_admin.show_version, gw, crosswalk_id, version - 1)
    to_rows, _ = _rows_from_document(this["document"])
    prev_rows, _ = _rows_from_document(previous["document"] if previous else None)
    impact, chart = None, None
    if this["state"] == "draft":
        try:
            impact = await run_in_threadpool(
                lambda: crosswalk_analysis.preview_impact(gw, crosswalk_id, version=version)
            )
        except GatewayError as exc:
            impact = {"unavailable": exc.detail}
        if impact and "levels" in impact:
            lang = language(request)
            chart = grouped_bar_chart(
                translate(lang, "cw.impact"),
                [lvl["level"] for lvl in impact["levels"]],
                {
                    translate(lang, "col.before"): [lvl["current"] for lvl in impact["levels"]],
                    translate(lang, "col.after"): [lvl["proposed"] for lvl in impact["levels"]],
                },
            )
    context = staff_context(
        request,
        session,
        cw=view,
        v=this,
        previous=previous,
        diff=_diff(prev_rows, to_rows),
        impact=impact,
        chart=chart,
        can_edit="mapping_admin" in session.roles,
    )
    context["error"] = error
    return render(request, "console/crosswalk_version.html", context, status_code=status_code)


@router.get("/crosswalks/{crosswalk_id}/versions/{version}")
async def crosswalk_version(request: Request, crosswalk_id: CrosswalkId, version: Version) -> Response:
    session = await staff_session(request)
    require_any(session, "mapping_admin", "auditor")
    return await _version_page(request, session, crosswalk_id, version)


@router.post("/crosswalks/{crosswalk_id}/publish")
async def publish(request: Request, crosswalk_id: CrosswalkId) -> Response:
    session = await staff_session(request)
    admin = require_any(session, "mapping_admin")
    fields = await csrf_form(request, session)
    try:
        version = int(fields.get("version", ""))
    except ValueError:
        raise ValidationFailed("Which version?") from None
    gw = gateway_of(request)
    try:
        await run_in_threadpool(
            lambda: mapping_admin.publish(
                gw, admin.name, crosswalk_id, version, reason=fields.get("reason", ""), if_match=fields.get("etag")
            )
        )
    except PreconditionFailed:
        msg = translate(language(request), "cw.conflict")
        return await _version_page(request, session, crosswalk_id, version, error=msg, status_code=412)
    except GatewayError as exc:
        if exc.status >= 500 or exc.status in (401, 403, 404):
            raise
        return await _version_page(request, session, crosswalk_id, version, error=exc.detail, status_code=exc.status)
    return RedirectResponse(f"/console/crosswalks/{crosswalk_id}?done=published", status_code=303)


@router.post("/crosswalks/{crosswalk_id}/rollback")
async def rollback(request: Request, crosswalk_id: CrosswalkId) -> Response:
    session = await staff_session(request)
    admin = require_any(session, "mapping_admin")
    fields = await csrf_form(request, session)
    gw = gateway_of(request)
    try:
        await run_in_threadpool(
            lambda: mapping_admin.rollback(
                gw, admin.name, crosswalk_id, reason=fields.get("reason", ""), if_match=fields.get("etag")
            )
        )
    except PreconditionFailed:
        msg = translate(language(request), "cw.conflict")
        return await _crosswalk_page(request, session, crosswalk_id, error=msg, status_code=412)
    except GatewayError as exc:
        if exc.status >= 500 or exc.status in (401, 403, 404):
            raise
        return await _crosswalk_page(request, session, crosswalk_id, error=exc.detail, status_code=exc.status)
    return RedirectResponse(f"/console/crosswalks/{crosswalk_id}?done=rolled_back", status_code=303)
