"""Reference endpoints: the bare minimum of the gateway's work, in plain FastAPI.

Served by uvicorn beside the gateway, with the same number of workers, the same event loop and
HTTP implementation, the same signing key and the same request bodies:

- ``POST /sign``: parse the issuance body with a pydantic model, sign the same claim set the
  gateway issued (fresh ``iat``/``nbf``/``exp``/``jti``) with the gateway's key object;
- ``POST /verify``: parse ``{"assertion": …}`` and verify a real gateway assertion with PyJWT
  (signature, ``typ``, algorithm, ``iss``, ``aud``, time claims);
- ``GET /jwks``: the gateway's JWK Set, precomputed.

No access token, no database, no consent, no disclosure log: the gap between these and the
gateway is what those cost. FastAPI's built-in telemetry is switched off exactly as the gateway
switches it off, so the comparison does not flatter the gateway. The configuration comes from
the JSON file named by ``BENCH_REFERENCE_CONFIG`` (written by the harness).
"""

from __future__ import annotations

import inspect
import json
import os
import secrets
import time
from pathlib import Path
from typing import Any, Literal

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

__all__ = ["CONFIG_ENV", "create_app"]

CONFIG_ENV = "BENCH_REFERENCE_CONFIG"
_REQUIRED = ["exp", "iat", "nbf", "iss", "aud", "sub", "jti"]


class _Subject(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id_number: str = Field(min_length=1, max_length=32)
    name: str = Field(min_length=1, max_length=64)


class SignRequest(BaseModel):
    """The issuance body, with the same constraints as the gateway's model."""

    model_config = ConfigDict(extra="forbid")
    subject: _Subject
    purpose: Literal[
        "cross_city_recognition",
        "loan_discount",
        "deposit_waiver",
        "public_transport",
        "tourism",
        "rental",
        "medical_pay_later",
    ]
    disclosure: Literal["tier", "score"] = "tier"


class VerifyRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    assertion: str = Field(min_length=1, max_length=8192)


def _fastapi() -> FastAPI:
    kwargs: dict[str, Any] = {}
    if "telemetry" in inspect.signature(FastAPI.__init__).parameters:
        kwargs["telemetry"] = {"tracing": False, "metrics": False, "logs": False, "operation_spans": False}
    return FastAPI(title="bench reference", **kwargs)


def create_app() -> FastAPI:
    config = json.loads(Path(os.environ[CONFIG_ENV]).read_text(encoding="utf-8"))
    # The key is parsed once per process, as the gateway does.
    private_key = serialization.load_pem_private_key(Path(config["key_file"]).read_bytes(), password=None)
    if not isinstance(private_key, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
        raise ValueError("the reference signs with ES256 or EdDSA keys only")
    public_key = private_key.public_key()
    alg = "ES256" if isinstance(private_key, ec.EllipticCurvePrivateKey) else "EdDSA"
    headers = {"kid": config["kid"], "typ": config["typ"]}
    template: dict[str, Any] = config["claims"]
    lifetime = int(template["exp"]) - int(template["iat"])
    issuer, audience, typ = config["issuer"], config["audience"], config["typ"]
    jwks_doc: dict[str, Any] = config["jwks"]

    app = _fastapi()

    @app.post("/sign", status_code=201)
    async def sign(body: SignRequest) -> dict[str, Any]:
        now = int(time.time())
        jti = secrets.token_urlsafe(18)
        claims = {**template, "iat": now, "nbf": now, "exp": now + lifetime, "jti": jti}
        token = jwt.encode(claims, private_key, algorithm=alg, headers=headers)
        return {"assertion": token, "token_type": typ, "jti": jti, "issued_at": now, "expires_at": now + lifetime}

    @app.post("/verify")
    async def verify(body: VerifyRequest) -> dict[str, Any]:
        if jwt.get_unverified_header(body.assertion).get("typ") != typ:
            return JSONResponse({"valid": False}, status_code=401)  # type: ignore[return-value]
        claims = jwt.decode(
            body.assertion,
            public_key,
            algorithms=[alg],
            audience=audience,
            issuer=issuer,
            leeway=10,
            options={"require": _REQUIRED},
        )
        return {"valid": True, "tier": claims["tier"]["code"], "level": claims["regional_tier"]["level"]}

    @app.get("/jwks")
    async def jwks() -> JSONResponse:
        return JSONResponse(
            jwks_doc,
            media_type="application/jwk-set+json",
            headers={"Cache-Control": "public, max-age=300"},
        )

    return app
