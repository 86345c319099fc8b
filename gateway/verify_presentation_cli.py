"""``gateway verify --presentation``: check a credit code shown offline (the QR code's text).

With ``--jwks`` and ``--status-list`` files it runs without a network, as a kiosk would with
cached copies; otherwise it fetches both from ``--issuer`` once. The checks are those of the
copyable module :mod:`gateway.exchange.credit_code_offline`, so a partner's copy and this command
always agree.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import httpx

from gateway.config import DEFAULT_ISSUER
from gateway.exchange.credit_code_offline import OfflineRejected, verify_offline

__all__ = ["run_verify_presentation"]


def run_verify_presentation(
    text: str, *, verifier_kind: str | None, jwks_file: str | None, status_file: str | None, issuer: str | None
) -> int:
    if not verifier_kind:
        print("error: --verifier-kind is required (the KB-JWT's aud names the kind of verifier)", file=sys.stderr)
        return 2
    expected = (issuer or DEFAULT_ISSUER).rstrip("/")
    try:
        if jwks_file:
            jwks: Any = json.loads(Path(jwks_file).read_text(encoding="utf-8"))
            status = Path(status_file).read_text(encoding="utf-8").strip() if status_file else None
        else:
            with httpx.Client(timeout=10, follow_redirects=False) as client:
                jwks = client.get(f"{expected}/.well-known/jwks.json").raise_for_status().json()
                status = client.get(f"{expected}/status-lists/1").raise_for_status().text.strip()
    except (OSError, ValueError, httpx.HTTPError) as exc:
        print(f"error: cannot obtain the issuer's keys or status list ({type(exc).__name__})", file=sys.stderr)
        return 2
    try:
        claims = verify_offline(
            text.strip(), jwks=jwks, issuer=expected, verifier_kind=verifier_kind, status_list_jwt=status
        )
    except OfflineRejected as exc:
        print(f"INVALID [{exc.code}]")
        return 1
    except (KeyError, TypeError, ValueError):
        print("INVALID [presentation_malformed]")
        return 1
    print(f"VALID (status: {'checked against the cached list' if status else 'not checked: no --status-list'})")
    print(json.dumps(claims, ensure_ascii=False, indent=2))
    return 0
