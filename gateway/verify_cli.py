"""``gateway verify``: what a partner runs to check an assertion it received, with public keys only.

Keys come from a JWKS file or from the issuer's metadata (``/.well-known/score-issuer`` →
``jwks_uri``), fetched once over https. The verifier, not the token, chooses algorithms, ``typ``,
issuer and audience.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from gateway.config import DEFAULT_ISSUER
from gateway.errors import GatewayError
from gateway.exchange import StatusReference, VerificationKey, parse_jwks, verify_status_list_token
from gateway.exchange.assertion import ASSERTION_ALGORITHMS, verify_score_assertion

__all__ = ["check_status", "fetch_issuer_keys", "run_verify"]


def fetch_issuer_keys(issuer: str, client: httpx.Client) -> dict[str, VerificationKey]:
    """Discover the issuer's JWKS through its metadata, refusing metadata for another issuer."""
    meta = client.get(f"{issuer.rstrip('/')}/.well-known/score-issuer").raise_for_status().json()
    if meta.get("issuer") != issuer.rstrip("/"):
        # SD-JWT VC issuer metadata rule: metadata naming another issuer must not be used.
        raise ValueError("the issuer metadata names a different issuer")
    jwks_uri = meta.get("jwks_uri", "")
    if not isinstance(jwks_uri, str) or not jwks_uri.startswith("https://"):
        raise ValueError("the issuer metadata has no https jwks_uri")
    return dict(parse_jwks(client.get(jwks_uri).raise_for_status().json(), ASSERTION_ALGORITHMS).keys)


_STATUS_NAMES = {1: "assertion_revoked", 2: "assertion_suspended", 3: "assertion_superseded"}


def check_status(
    claims: Mapping[str, Any], keys: Mapping[str, VerificationKey], issuer: str, client: httpx.Client
) -> str:
    """Online only: the assertion's status from the issuer's own status list.

    The list must live on the issuer's origin (a token cannot send the verifier anywhere else),
    and it is verified like the assertion: same keys, typ statuslist+jwt, sub = uri, iat/exp.
    Returns "valid", "no_status" or the refusal code.
    """
    reference = StatusReference.from_claims(claims)
    if reference is None:
        return "no_status"
    if urlsplit(reference.uri)[:2] != urlsplit(issuer)[:2]:
        return "status_list_untrusted"
    resp = client.get(reference.uri, headers={"Accept": "application/statuslist+jwt"}).raise_for_status()
    listed = verify_status_list_token(resp.text.strip(), uri=reference.uri, keys=keys, issuer=issuer)
    status = listed.status(reference.idx)
    return "valid" if status == 0 else _STATUS_NAMES.get(int(status), "assertion_status_unknown")


def run_verify(token: str, *, jwks_file: str | None, issuer: str | None, audience: str | None) -> int:
    if not audience:
        print(
            "error: --audience is required: an assertion is only valid for the partner it names",
            file=sys.stderr,
        )
        return 2
    expected_issuer = (issuer or DEFAULT_ISSUER).rstrip("/")
    try:
        if jwks_file:
            keys: dict[str, VerificationKey] = dict(
                parse_jwks(json.loads(Path(jwks_file).read_text(encoding="utf-8")), ASSERTION_ALGORITHMS).keys
            )
        else:
            with httpx.Client(timeout=10, follow_redirects=False) as client:
                keys = fetch_issuer_keys(expected_issuer, client)
    except (OSError, ValueError, httpx.HTTPError) as exc:
        print(f"error: cannot obtain the issuer's keys ({type(exc).__name__})", file=sys.stderr)
        return 2
    try:
        verified = verify_score_assertion(token.strip(), keys, issuer=expected_issuer, audience=audience)
    except GatewayError as exc:
        extras: dict[str, Any] = {k: v for k, v in exc.extensions.items() if k in ("check", "claim", "errors")}
        print(f"INVALID [{exc.code}] {exc.detail} {json.dumps(extras, ensure_ascii=False) if extras else ''}")
        return 1
    status = "not checked (offline: --jwks)"
    if not jwks_file:
        try:
            with httpx.Client(timeout=10, follow_redirects=False) as client:
                status = check_status(verified.claims, keys, expected_issuer, client)
        except GatewayError as exc:
            print(f"INVALID [{exc.code}] the status list failed a check")
            return 1
        except (OSError, ValueError, httpx.HTTPError) as exc:
            print(f"error: cannot check the status list ({type(exc).__name__})", file=sys.stderr)
            return 2
        if status not in ("valid", "no_status"):
            print(f"INVALID [{status}] the issuer's status list says so")
            return 1
    print(f"VALID (status: {status})")
    print(json.dumps({"header": verified.header, "claims": verified.claims}, ensure_ascii=False, indent=2))
    return 0
