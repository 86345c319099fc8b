"""QR codes for presentation requests and offline presentations (segno: pure Python, no Pillow).

Error correction M by default (15 % of the code may be damaged); an offline presentation is long,
so it gets L when M would need a version above 40 — the report of :func:`qr_facts` says which.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import segno

__all__ = ["QrFacts", "png", "qr_facts", "svg", "terminal"]


@dataclass(frozen=True, slots=True)
class QrFacts:
    version: int
    error: str
    modules: int  # per side, without the quiet zone
    characters: int


def _make(content: str) -> segno.QRCode:
    try:
        return segno.make_qr(content, error="m", boost_error=False)
    except segno.DataOverflowError:
        return segno.make_qr(content, error="l", boost_error=False)


def qr_facts(content: str) -> QrFacts:
    code = _make(content)
    return QrFacts(int(code.version), str(code.error), int(code.symbol_size(border=0)[0]), len(content))


def svg(content: str, *, scale: int = 4) -> str:
    out = io.BytesIO()
    _make(content).save(out, kind="svg", scale=scale, xmldecl=False, svgns=True)
    return out.getvalue().decode("utf-8")


def png(content: str, *, scale: int = 4) -> bytes:
    out = io.BytesIO()
    _make(content).save(out, kind="png", scale=scale)
    return out.getvalue()


def terminal(content: str) -> str:
    out = io.StringIO()
    _make(content).terminal(out=out, compact=True)
    return out.getvalue()
