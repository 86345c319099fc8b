"""A resident with a current score and a wallet key, over the HTTP API (credential tests)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from fastapi.testclient import TestClient

from gateway.exchange import SigningKey, generate_signing_key
from gateway.exchange.key_proof import make_key_proof
from gateway.services.context import Gateway
from gateway.services.residents.dev_idp import DevIdentityProvider
from gateway.services.scores.ingestion import ingest_batch
from tests.support import basic_records, make_id, record


def enrol(gw: Gateway, idn: str, name: str, prefix: str) -> None:
    for unit_id, batch in basic_records(idn, name, prefix).items():
        unit = gw.partners.enabled(unit_id)
        assert unit is not None
        assert len(ingest_batch(gw, unit, batch).accepted) == 1


def withdraw_authorisation(gw: Gateway, idn: str, name: str, prefix: str) -> None:
    unit = gw.partners.enabled("sx-credit-center")
    assert unit is not None
    rec = record(
        "scoring_authorisation",
        {"decision": "withdrawn", "channel": "app"},
        ref=f"{prefix}-withdraw",
        id_number=idn,
        name=name,
        occurred_at="2026-06-01",
    )
    assert len(ingest_batch(gw, unit, [rec]).accepted) == 1


@dataclass
class Wallet:
    gw: Gateway
    client: TestClient
    seq: int = 801
    name: str = "张三"
    key: SigningKey = field(default_factory=generate_signing_key)

    @property
    def id_number(self) -> str:
        return make_id(seq=self.seq)

    def headers(self) -> dict[str, str]:
        token = DevIdentityProvider(self.gw.settings).issue_id_token(self.id_number, self.name)
        return {"Authorization": f"Bearer {token}"}

    def nonce(self) -> str:
        resp = self.client.post("/v1/credential-nonces")
        assert resp.status_code == 200 and resp.headers["cache-control"] == "no-store"
        return str(resp.json()["c_nonce"])

    def proof(self, *, nonce: str | None = None, aud: str | None = None, iat: float | None = None) -> str:
        return make_key_proof(
            self.key,
            aud=aud or self.gw.settings.issuer,
            nonce=nonce or self.nonce(),
            iat=int(time.time() if iat is None else iat),
        )

    def request_credential(self, proof: str | None = None, **extra: object) -> object:
        body = {"credential_configuration_id": "sx-credit-code", "proofs": {"jwt": [proof or self.proof()]}, **extra}
        return self.client.post("/v1/credentials", json=body, headers=self.headers())

    def credential(self, **extra: object) -> str:
        resp = self.request_credential(**extra)
        assert resp.status_code == 200, resp.text  # type: ignore[attr-defined]
        return str(resp.json()["credentials"][0]["credential"])  # type: ignore[attr-defined]
