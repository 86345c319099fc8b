"""Jinja2 for the pages: autoescaping always on, templates shipped as package data.

Every page is rendered through :func:`render`, which adds the language, the translation function,
the session's CSRF token and the menu the signed-in person may see.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from gateway.clock import CHINA_STANDARD_TIME
from gateway.web.i18n import LANGS, translate

__all__ = ["env", "language", "render"]

env = Environment(
    loader=PackageLoader("gateway.web", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)

LANG_COOKIE = "sx_lang"


def shaoxing_time(value: str | None) -> str:
    """An ISO time from a service, shown as Shaoxing wall-clock time (the office's and residents')."""
    if not value:
        return ""
    try:
        stamp = datetime.fromisoformat(value)
    except ValueError:
        return value
    if stamp.tzinfo is None:
        return value
    return stamp.astimezone(CHINA_STANDARD_TIME).strftime("%Y-%m-%d %H:%M")


env.filters["local"] = shaoxing_time


def language(request: Request) -> str:
    chosen = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE) or "zh"
    return chosen if chosen in LANGS else "zh"


def render(
    request: Request, template: str, context: Mapping[str, Any] | None = None, *, status_code: int = 200
) -> HTMLResponse:
    lang = language(request)
    ctx: dict[str, Any] = {
        "lang": lang,
        "t": lambda key: translate(lang, key),
        "path": request.url.path,
        "csrf": "",
        "menu": [],
        "staff": None,
        "flash": None,
        "error": None,
    }
    ctx.update(context or {})
    response = HTMLResponse(env.get_template(template).render(ctx), status_code=status_code)
    if request.query_params.get("lang") in LANGS:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax", httponly=True)
    return response
