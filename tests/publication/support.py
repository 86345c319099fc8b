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


def enrol(gw: Any, id_number: str, name: str, prefix: str, evaluation: int) -> None:
    """Make one eligible resident whose score comes from a provincial evaluation of ``evaluation``
    (default model: 1000 → 750 B, 900 → 720 C, 850 → 680 C, 820 → 644 D, 700 → 500 E)."""
    from gateway.services.scores.ingestion import ingest_batch
    from tests.support import basic_records

    for unit_id, batch in basic_records(id_number, name, prefix).items():
        for rec in batch:
            if rec["item"] == "provincial_evaluation":
                rec["attributes"]["score"] = evaluation
        unit = gw.partners.enabled(unit_id)
        assert unit is not None
        assert len(ingest_batch(gw, unit, batch).accepted) == 1


POPULATION = [(1000, "B"), (900, "C"), (850, "C"), (820, "D"), (700, "E")]


def enrol_population(gw: Any) -> list[str]:
    from datetime import date

    from tests.support import NAMES, make_id

    ids = []
    for i, (evaluation, _) in enumerate(POPULATION):
        idn = make_id(born=date(1980 + i, 3, 1), seq=100 + i)
        enrol(gw, idn, NAMES[i], f"pop{i}", evaluation)
        ids.append(idn)
    return ids
