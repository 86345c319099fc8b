"""What a partner city does with a published document: check the digest, the detached JWS with
nothing but the published JWKS, and the schema (its $refs resolved from schemas/)."""

from __future__ import annotations

import base64
import hashlib
import json
from functools import cache
from typing import Any

import jwt
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from gateway.config import PROJECT_ROOT


@cache
def registry() -> Registry:
    resources = []
    for path in sorted((PROJECT_ROOT / "schemas").glob("*.schema.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        resources.append((doc["$id"], Resource.from_contents(doc)))
    return Registry().with_resources(resources)  # type: ignore[no-any-return]


def schema_errors(document: Any, schema_url: str) -> list[str]:
    schema = registry().contents(schema_url)
    validator = Draft202012Validator(schema, registry=registry(), format_checker=Draft202012Validator.FORMAT_CHECKER)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]


def verify_detached(client: TestClient, body: bytes, token: str) -> dict[str, Any]:
    """Put base64url(body) back into ``header..signature`` (RFC 7515 Appendix F) and verify."""
    header_b64, empty, signature = token.split(".")
    assert empty == ""
    header = json.loads(base64.urlsafe_b64decode(header_b64 + "=" * (-len(header_b64) % 4)))
    assert header["typ"] == "published-document+jws" and set(header) == {"alg", "kid", "typ"}
    jwks = client.get("/.well-known/jwks.json").json()
    jwk = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
    payload = base64.urlsafe_b64encode(body).rstrip(b"=").decode()
    verified = jwt.PyJWS().decode_complete(
        f"{header_b64}.{payload}.{signature}", jwt.PyJWK(jwk).key, algorithms=["ES256", "EdDSA"]
    )
    assert verified["payload"] == body
    return header


def digest_of(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()
