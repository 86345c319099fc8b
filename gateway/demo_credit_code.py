"""The credit code in ``gateway demo`` (steps 11–12): a Shaoxing resident's wallet obtains the
credential; a Hangzhou scenic operator scans the resident's offline QR code and learns
"tourism: good, qualifies" — with public keys and a cached status list only, never the name or
the ID number; then a Shaoxing scenic operator asks online, verifier first, for its programme.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import httpx

from gateway.exchange.credit_code_offline import decode_offline, verify_offline
from gateway.scoring import parse_resident_id
from gateway.services.context import Gateway
from gateway.services.credential.qr import qr_facts
from gateway.services.residents.dev_idp import DevIdentityProvider
from gateway.store import people as people_store
from gateway.store import scores as scores_store
from gateway.wallet import HolderWallet

__all__ = ["credit_code_demo"]

HANGZHOU_SCENIC_KIND = "incentive_provider"  # the KB-JWT aud of an offline code: the verifier's kind


def _resident_at_least_good(gw: Gateway, population: Path) -> dict[str, str] | None:
    """A synthetic resident whose tier maps to yrd-common/1 good or better (tiers A and B by default)."""
    crosswalk = gw.mappings.crosswalk_for(f"sx-integrity/{gw.model.version}")
    good = {t.code for t in gw.model.tiers if crosswalk and crosswalk.common_level(t.code) in ("good", "outstanding")}
    with (population / "residents.csv").open(encoding="utf-8") as fh, gw.engine.connect() as conn:
        for resident in csv.DictReader(fh):
            person = people_store.find_person(
                conn, gw.hasher.id_hash(parse_resident_id(resident["id_number"]).normalised)
            )
            current = scores_store.get_current(conn, person.id) if person else None
            if current is not None and current.tier in good:
                return dict(resident)
    return None


def credit_code_demo(client: httpx.Client, gw: Gateway, population: Path, scenic_token: str) -> None:
    resident = _resident_at_least_good(gw, population)
    if resident is None:
        print("13. no synthetic resident at level good or better: the credit code step is skipped")
        return
    wallet = HolderWallet(gw.settings.data_dir / "demo-wallet", client, gw.settings.issuer)
    id_token = DevIdentityProvider(gw.settings).issue_id_token(resident["id_number"], resident["name"])
    credential = wallet.obtain(id_token)
    print(
        f"13. a Shaoxing resident's wallet obtains the credit code (OpenID4VCI: nonce, key proof, ID token): "
        f"a {len(credential)}-byte SD-JWT VC (typ dc+sd-jwt), holder key {wallet.key().kid[:12]}…"
    )
    # The Hangzhou operator refreshed the JWKS and status list while online; scanning needs neither.
    jwks = client.get("/.well-known/jwks.json").json()
    status_list = client.get("/status-lists/1").text
    qr_text = wallet.offline(HANGZHOU_SCENIC_KIND, ["level_at_least.good"])
    facts = qr_facts(qr_text)
    claims = verify_offline(
        qr_text, jwks=jwks, issuer=gw.settings.issuer, verifier_kind=HANGZHOU_SCENIC_KIND, status_list_jwt=status_list
    )
    seen = json.dumps(claims, ensure_ascii=False)
    presentation = decode_offline(qr_text)
    leaked = resident["name"] in presentation or resident["id_number"] in presentation
    verdict = "qualifies" if claims.get("level_at_least.good") is True else "does not qualify"
    print(
        f"    a Hangzhou scenic operator scans the offline QR code (version {facts.version}, error correction "
        f"{facts.error}, {facts.characters} characters in {facts.mode} mode: the compact SXCC1 form of a "
        f"{len(presentation)}-character presentation) and checks it with cached public keys and status list:"
    )
    print(f"    tourism: good, {verdict} — it saw {seen}; name or ID number in the code: {'yes' if leaked else 'no'}")

    headers = {"Authorization": f"Bearer {scenic_token}"}
    req: dict[str, Any] = client.post(
        "/v1/presentation-requests", json={"programme_id": "sx-scenic-example-tickets"}, headers=headers
    ).json()
    wallet.answer(req["request_uri"])
    result = client.get(f"/v1/presentation-requests/{req['request_id']}", headers=headers).json()["result"]
    decision = result["decision"]
    print(
        f"14. online, verifier first: sx-scenic-example asks for its ticket programme (claims {req['claims']}, "
        f"QR {len(req['qr_svg'])}-byte SVG); the wallet answers; the poll returns {json.dumps(result['claims'])} "
        f"and a signed decision: eligible {decision['eligible']}, benefit "
        f"{(decision['benefit'] or {}).get('label', {}).get('en')}"
    )
