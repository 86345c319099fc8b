"""Problems on pages: the same errors as the API, shown as a page instead of problem JSON.

``gateway.api.problems`` stays the one place errors are rendered; for a page path it hands over
here. A missing or ended session sends the browser to the sign-in page (no problem page to read);
everything else shows the error's fixed title and the gateway's own detail — never an exception
text, a token or a person's data.
"""

from __future__ import annotations

import re

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response

from gateway.errors import GatewayError
from gateway.services.web.page_access import record_forbidden_page
from gateway.web.security import PAGE_PREFIXES
from gateway.web.sessions import gateway_of, staff_session
from gateway.web.templating import render

__all__ = ["SAFE_NEXT", "audit_forced_page", "is_page", "page_problem"]

# The pages a sign-in may return to: a /me path of plain segments (no query, no other origin). The
# path holds no personal data (a consent request's id is a random token, already in its link).
SAFE_NEXT = re.compile(r"/me(/[A-Za-z0-9_-]{1,64}){1,3}")

# No session, or one that ended: go to the sign-in page. A failed sign-in is shown, not looped.
_SIGN_IN_AGAIN = frozenset({"unauthenticated", "session_expired"})


def is_page(request: Request) -> bool:
    path = request.url.path
    return any(path == p or path.startswith(p + "/") for p in PAGE_PREFIXES)


async def audit_forced_page(request: Request, exc: GatewayError) -> None:
    """A console page's role check refused a signed-in person (``require_any``): audit it, rate-bound
    (see :mod:`gateway.services.web.page_access`). A CSRF refusal or a missing session is not this."""
    required = exc.extensions.get("required_roles")
    if exc.status != 403 or not required or not request.url.path.startswith("/console"):
        return
    try:
        session = await staff_session(request)
    except GatewayError:
        return
    route = request.scope.get("route")
    page = str(getattr(route, "path", "") or request.url.path)
    await run_in_threadpool(
        lambda: record_forbidden_page(
            gateway_of(request),
            actor=session.subject,
            page=page,
            method=request.method,
            required=[str(r) for r in required],
            held=session.roles,
        )
    )


def page_problem(request: Request, exc: GatewayError) -> Response:
    path = request.url.path
    if exc.code in _SIGN_IN_AGAIN and request.method == "GET":
        target = "/me/sign-in" if path.startswith("/me") else "/console/sign-in"
        if path.startswith("/me/") and SAFE_NEXT.fullmatch(path):
            # Back to the page after sign-in (e.g. a partner's consent request opened from its QR code).
            target += "?next=" + path
        return RedirectResponse(target, status_code=303)
    return render(
        request,
        "error.html",
        {"title": exc.title, "detail": exc.detail, "code": exc.code, "status": exc.status},
        status_code=exc.status,
    )
