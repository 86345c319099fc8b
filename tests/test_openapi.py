"""The committed OpenAPI document is what the code serves, and it documents security and problems."""

from __future__ import annotations

from gateway.api.openapi import OPENAPI_PATH, openapi_document, render

PUBLIC = {
    "/healthz",
    "/readyz",
    "/schemas/{name}",
    "/problems/{code}",
    "/.well-known/jwks.json",
    "/.well-known/score-issuer",
    "/.well-known/jwt-vc-issuer",
    "/oauth/token",  # authenticates by the client assertion in its body
    "/status-lists/{list_id}",  # public by design (draft-ietf-oauth-status-list)
    "/v1/published",  # issue 16: the signed public documents and the incentive catalogue
    "/v1/published/{name}",
    "/v1/programmes",
    # issue 9: privacy notices are public; a consent request's QR codes and landing page carry only its
    # unguessable link (the answer needs the resident's ID token).
    "/notices/{notice_id}",
    "/consent-requests/{request_id}",
    "/v1/consent-requests/{request_id}/qr.svg",
    "/v1/consent-requests/{request_id}/qr.png",
    # issue 10: the wallet's side of OpenID4VCI / presentations (the KB-JWT or key proof authenticates)
    "/.well-known/openid-credential-issuer",
    "/credentials/credit-code/v1",
    "/v1/credential-nonces",
    "/v1/presentation-requests/{request_id}/request",
    "/v1/presentation-requests/{request_id}/response",
}


def test_committed_openapi_matches_the_code() -> None:
    committed = OPENAPI_PATH.read_text(encoding="utf-8")
    assert committed == render(openapi_document()), "openapi/openapi.json drifted: run `gateway openapi`"


def test_every_protected_operation_names_its_security_scheme_and_problems() -> None:
    doc = openapi_document()
    schemes = set(doc["components"]["securitySchemes"])
    assert {"partnerAccessToken", "adminToken", "residentIdToken"} <= schemes
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if path in PUBLIC:
                continue
            assert op.get("security"), f"{method.upper()} {path} documents no security scheme"
            assert "401" in op["responses"], f"{method.upper()} {path} documents no 401 problem"
            problem = op["responses"]["401"]["content"]
            assert "application/problem+json" in problem
