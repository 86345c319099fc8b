"""The server-rendered web layer (issue 11): the staff console ``/console`` and residents' pages ``/me``.

Pages are thin: each calls the same services the JSON API calls, inside the same transactions, and
renders Jinja2 templates (autoescaped) with a strict CSP. :func:`install` adds them to the app.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from gateway.web.security import SecurityHeaders

__all__ = ["install"]

STATIC_DIR = Path(__file__).resolve().parent / "static"


def install(app: FastAPI) -> None:
    from gateway.web.routes import console, console_admin, me_pages, me_self_service, staff_auth

    app.add_middleware(SecurityHeaders)
    app.mount("/web-static", StaticFiles(directory=STATIC_DIR), name="web-static")
    app.include_router(staff_auth.router)
    app.include_router(console.router)
    app.include_router(console_admin.router)
    app.include_router(me_pages.router)
    app.include_router(me_self_service.router)
