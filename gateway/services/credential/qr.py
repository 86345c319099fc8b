"""QR codes for presentation requests and offline presentations (segno: pure Python, no Pillow).

Error correction M (15 % of the code may be damaged) while that keeps the version at 25 or below;
above, L (7 %): a code shown on a phone screen is not torn or stained, and every version saved is
larger modules at the same screen size. :func:`qr_facts` reports what was chosen, with the
encoding mode segno picked: the offline credit code's compact form (``SXCC1:`` + Base45) is made
only of characters QR alphanumeric mode stores at 5.5 bits each, and must get that mode.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import segno

from gateway.errors import OfflineCodeRejected
from gateway.exchange.credit_code_offline import OfflineRejected, encode_offline

__all__ = ["QrFacts", "offline_code", "png", "qr_facts", "svg", "terminal"]


@dataclass(frozen=True, slots=True)
class QrFacts:
    version: int
    error: str
    modules: int  # per side, without the quiet zone
    characters: int
    mode: str  # "alphanumeric", "byte", … as segno chose it


_MAX_VERSION_AT_M = 25


def _make(content: str) -> segno.QRCode:
    try:
        code = segno.make_qr(content, error="m", boost_error=False)
        if int(code.version) <= _MAX_VERSION_AT_M:
            return code
    except segno.DataOverflowError:
        pass
    return segno.make_qr(content, error="l", boost_error=False)


def qr_facts(content: str) -> QrFacts:
    code = _make(content)
    size = int(code.symbol_size(border=0)[0])
    return QrFacts(int(code.version), str(code.error), size, len(content), str(code.mode))


def svg(content: str, *, scale: int = 4, fluid: bool = False) -> str:
    """``fluid``: a viewBox and no fixed size, for a page whose style sheet sizes the code."""
    out = io.BytesIO()
    _make(content).save(out, kind="svg", scale=scale, xmldecl=False, svgns=True, omitsize=fluid)
    return out.getvalue().decode("utf-8")


def png(content: str, *, scale: int = 4) -> bytes:
    out = io.BytesIO()
    _make(content).save(out, kind="png", scale=scale)
    return out.getvalue()


def terminal(content: str) -> str:
    out = io.StringIO()
    _make(content).terminal(out=out, compact=True)
    return out.getvalue()


def offline_code(presentation: str) -> dict[str, object]:
    """The residents' page's offline credit code (issue 11): the presentation its script made and
    signed in the browser, in the compact form the counters scan, as an SVG with the QR facts.

    The gateway sees a presentation it could have made itself (it issued the credential): it does
    not store or log it. :raises OfflineCodeRejected: not an SD-JWT presentation with a KB-JWT.
    """
    parts = presentation.split("~")
    if len(parts) < 3 or not parts[-1] or parts[-1].count(".") != 2:
        raise OfflineCodeRejected("Send an SD-JWT presentation ending in its KB-JWT.")
    try:
        text = encode_offline(presentation)
    except OfflineRejected as exc:
        raise OfflineCodeRejected("Send an SD-JWT presentation ending in its KB-JWT.", check=exc.code) from None
    facts = qr_facts(text)
    return {
        "svg": svg(text, fluid=True),
        "characters": facts.characters,
        "version": facts.version,
        "error": facts.error,
        "mode": facts.mode,
    }
