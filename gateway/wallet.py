"""``gateway wallet``: a reference holder of the credit code, for development, the demo and tests.

It does what a resident's app does, over HTTP against a gateway: keeps a holder key (P-256, a
0600 PEM file), obtains a credential (OpenID4VCI: nonce, key proof, ID token as bearer), answers a
verifier's presentation request with exactly the claims asked, and makes the offline QR code.
In development mode the ID token comes from the development identity provider. It is not a
product: a real wallet keeps its key in the phone's secure element.
"""

from __future__ import annotations

import secrets
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from gateway.exchange import SigningKey, generate_signing_key, read_signing_key, write_signing_key
from gateway.exchange.credit_code_offline import encode_offline
from gateway.exchange.key_proof import make_key_proof
from gateway.exchange.sd_jwt_vc import present
from gateway.services.credential.qr import qr_facts, terminal

__all__ = ["DEFAULT_OFFLINE_CLAIMS", "HolderWallet", "run_wallet"]

DEFAULT_OFFLINE_CLAIMS = ("level_at_least.good",)


@dataclass
class HolderWallet:
    directory: Path
    client: httpx.Client
    issuer: str

    @property
    def key_path(self) -> Path:
        return self.directory / "holder-key.pem"

    @property
    def credential_path(self) -> Path:
        return self.directory / "credential.sd-jwt"

    def key(self) -> SigningKey:
        """The holder key, created on first use."""
        if not self.key_path.exists():
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            write_signing_key(generate_signing_key("ES256"), self.key_path)
        return read_signing_key(self.key_path)

    def obtain(self, id_token: str, *, include_score: bool = False) -> str:
        nonce = self.client.post("/v1/credential-nonces").raise_for_status().json()["c_nonce"]
        proof = make_key_proof(self.key(), aud=self.issuer, nonce=nonce, iat=int(time.time()))
        resp = self.client.post(
            "/v1/credentials",
            json={
                "credential_configuration_id": "sx-credit-code",
                "proofs": {"jwt": [proof]},
                "include_score": include_score,
            },
            headers={"Authorization": f"Bearer {id_token}"},
        )
        _raise_problem(resp)
        credential = str(resp.json()["credentials"][0]["credential"])
        self.credential_path.write_text(credential, encoding="utf-8")
        self.credential_path.chmod(0o600)
        return credential

    def credential(self) -> str:
        return self.credential_path.read_text(encoding="utf-8").strip()

    def answer(self, request_uri: str) -> dict[str, Any]:
        """Fetch a request (after scanning its QR code), present exactly what it asks, post it."""
        request = self.client.get(_path(request_uri, self.issuer))
        _raise_problem(request)
        view = request.json()
        vp = present(self.credential(), self.key(), view["claims"], aud=view["client_id"], nonce=view["nonce"])
        resp = self.client.post(_path(view["response_uri"], self.issuer), json={"vp_token": vp})
        _raise_problem(resp)
        return {"verifier": view["client_id"], "purpose": view["purpose"], "claims": view["claims"]}

    def offline(self, verifier_kind: str, claims: Sequence[str] = DEFAULT_OFFLINE_CLAIMS) -> str:
        """The QR code's text: the presentation (KB-JWT aud = the verifier's kind, a fresh iat) in its
        compact form, ``SXCC1:`` + Base45 of the compressed bytes, for a smaller QR code."""
        nonce = secrets.token_urlsafe(12)
        presentation = present(self.credential(), self.key(), claims, aud=verifier_kind, nonce=nonce)
        return encode_offline(presentation)


def _path(uri: str, issuer: str) -> str:
    """Requests name URLs under the issuer; the wallet talks to the gateway at its own base URL."""
    return uri[len(issuer) :] if uri.startswith(issuer + "/") else uri


def _raise_problem(resp: httpx.Response) -> None:
    if resp.status_code >= 400:
        try:
            code = resp.json().get("code", "?")
        except ValueError:
            code = "?"
        raise RuntimeError(f"the gateway refused: {resp.status_code} {code}")


def run_wallet(args: Any) -> int:
    """The ``gateway wallet`` subcommands (see ``gateway wallet --help``)."""
    from gateway.config import Settings
    from gateway.services.residents.dev_idp import DevIdentityProvider

    settings = Settings.from_env()
    if not settings.development:
        print("error: gateway wallet is a development tool; it refuses to run in production mode", file=sys.stderr)
        return 2
    directory = Path(args.dir) if args.dir else settings.data_dir / "wallet"
    with httpx.Client(base_url=args.url, timeout=30) as client:
        wallet = HolderWallet(directory, client, settings.issuer)
        try:
            if args.action == "init":
                print(f"holder key: {wallet.key_path} (thumbprint {wallet.key().kid})")
            elif args.action == "obtain":
                token = DevIdentityProvider(settings).issue_id_token(args.id_number, args.name)
                credential = wallet.obtain(token, include_score=args.include_score)
                print(f"credential: {wallet.credential_path} ({len(credential)} bytes, typ dc+sd-jwt)")
            elif args.action == "answer":
                done = wallet.answer(args.request_uri)
                print(f"presented {', '.join(done['claims'])} to {done['verifier']} for {done['purpose']}")
            else:
                text = wallet.offline(args.verifier_kind, args.claim or DEFAULT_OFFLINE_CLAIMS)
                facts = qr_facts(text)
                print(terminal(text))
                print(
                    f"offline QR code: {facts.characters} characters ({facts.mode} mode), version {facts.version}, "
                    f"error correction {facts.error}, {facts.modules}×{facts.modules} modules; valid 120 s"
                )
        except (RuntimeError, OSError, httpx.HTTPError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    return 0
