"""POST /v1/recognitions also takes an SD-JWT VC presentation from a registered city's credential
(its vct listed in its partner file), with the checks and crosswalks of assertions."""

from __future__ import annotations

import json
import secrets
import shutil
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gateway.api.app import create_app
from gateway.config import Settings
from gateway.exchange import generate_signing_key
from gateway.exchange.sd_jwt import issue_sd_jwt
from gateway.exchange.sd_jwt_vc import TYP_SD_JWT_VC, present
from gateway.services.context import Gateway
from tests.support.partners import access_token, partner_key

HZ_ISSUER = "https://credit.hangzhou.example"
HZ_VCT = f"{HZ_ISSUER}/credentials/qianjiang/v1"
CALLER = "sx-scenic-example"


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    partners = tmp_path / "partners"
    shutil.copytree(settings.partners_dir, partners)
    doc = json.loads((partners / "hangzhou-credit.json").read_text(encoding="utf-8"))
    doc["credential_vcts"] = [HZ_VCT]
    (partners / "hangzhou-credit.json").write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return replace(settings, partners_dir=partners)


@pytest.fixture
def client(gw: Gateway) -> Iterator[TestClient]:
    with TestClient(create_app(gw), raise_server_exceptions=False) as c:
        yield c


HOLDER = generate_signing_key()


def hangzhou_credential(tier: str = "750plus", *, vct: str = HZ_VCT, scheme: str = "hangzhou-credit/1") -> str:
    now = int(time.time())
    visible = {"iss": HZ_ISSUER, "iat": now, "exp": now + 86400, "vct": vct, "cnf": {"jwk": HOLDER.public_jwk()}}
    issued, _ = issue_sd_jwt(
        visible,
        {"tier": {"scheme": scheme, "code": tier, "label": {"zh": "钱江分", "en": tier}}, "name_masked": "王*"},
        partner_key("hangzhou-credit"),
        TYP_SD_JWT_VC,
        decoys=2,
    )
    return issued


def recognise(client: TestClient, credential: str, *, paths: list[str] | None = None, aud: str = CALLER):
    nonce = secrets.token_urlsafe(8)
    presentation = present(credential, HOLDER, paths or ["tier"], aud=aud, nonce=nonce)
    body = {"assertion": presentation, "purpose": "tourism", "nonce": nonce}
    return client.post(
        "/v1/recognitions", json=body, headers={"Authorization": f"Bearer {access_token(client, CALLER)}"}
    )


def test_a_hangzhou_credential_is_recognised_in_shaoxing_tiers(client: TestClient) -> None:
    resp = recognise(client, hangzhou_credential())
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["issuer_partner"] == "hangzhou-credit" and body["partner_tier"]["code"] == "750plus"
    assert body["common_level"]["scheme"] == "yrd-common/1" and body["jti"].startswith("sd-jwt:")
    assert any(p["id"] == "sx-scenic-example-tickets" for p in body["programmes"])


def test_an_unlisted_vct_is_refused(client: TestClient) -> None:
    resp = recognise(client, hangzhou_credential(vct=f"{HZ_ISSUER}/other"))
    assert resp.status_code == 401 and resp.json()["code"] == "credential_type_unknown"


def test_the_tier_must_be_the_issuers_own_scheme(client: TestClient) -> None:
    resp = recognise(client, hangzhou_credential(scheme="sx-integrity/2026.1"))
    assert resp.status_code == 403 and resp.json()["code"] == "tier_scheme_not_allowed"


def test_a_presentation_needs_purpose_and_nonce(client: TestClient) -> None:
    presentation = present(hangzhou_credential(), HOLDER, ["tier"], aud=CALLER, nonce="n")
    headers = {"Authorization": f"Bearer {access_token(client, CALLER)}"}
    resp = client.post("/v1/recognitions", json={"assertion": presentation, "purpose": "tourism"}, headers=headers)
    assert resp.status_code == 422 and resp.json()["code"] == "validation_failed"


def test_the_tier_must_be_disclosed(client: TestClient) -> None:
    resp = recognise(client, hangzhou_credential(), paths=["name_masked"])
    assert resp.status_code == 403 and resp.json()["code"] == "requested_claim_missing"


def test_a_presentation_made_for_someone_else_is_refused(client: TestClient) -> None:
    resp = recognise(client, hangzhou_credential(), aud="sx-example-bank")
    assert resp.status_code == 401 and resp.json()["code"] == "key_binding_audience_mismatch"


def test_an_unregistered_issuer_is_refused(client: TestClient) -> None:
    now = int(time.time())
    issued, _ = issue_sd_jwt(
        {
            "iss": "https://rogue.example",
            "iat": now,
            "exp": now + 60,
            "vct": HZ_VCT,
            "cnf": {"jwk": HOLDER.public_jwk()},
        },
        {"tier": {"scheme": "hangzhou-credit/1", "code": "750plus"}},
        generate_signing_key(),
        TYP_SD_JWT_VC,
    )
    resp = recognise(client, issued)
    assert resp.status_code == 403 and resp.json()["code"] == "issuer_not_trusted"
