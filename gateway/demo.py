"""``gateway demo``: the gateway's main job on the embedded default, end to end over real HTTP.

1. a synthetic population is generated; 2. the gateway starts on 127.0.0.1; 3. every
collaborating unit obtains an access token with its own key (private_key_jwt) and pushes its
records; 4. the tier distribution; 5. a credit officer looks up a score; 6. a resident signs in
with the development identity provider and consents to Hangzhou's platform; 7. Hangzhou obtains a
token, receives a signed assertion and verifies it offline with the published keys and schema;
8. the resident reads who received what; 9.–10. recognition and eligibility; 11. the example bank's
consent request, approved by the resident, brings the assertion without any ID number sent;
12. the resident's credit report; 13.–14. the credit code: a resident's wallet obtains it, a
Hangzhou scenic operator scans the offline code, and an online presentation request is answered
(``demo_credit_code``). Run it twice and ingestion reports duplicates only.

The partners' private keys come from ``tests/fixtures/partner-keys`` (bundled in the wheel as
``demo-partner-keys``) — development key pairs that protect nothing (see the README there).
"""

from __future__ import annotations

import base64
import csv
import json
import os
import secrets
import socket
import threading
import time
from collections import Counter
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import jwt
import uvicorn
from sqlalchemy import func, select

from gateway.api.app import create_app
from gateway.cli import render_score
from gateway.config import Settings, bundled_path
from gateway.demo_credit_code import credit_code_demo
from gateway.exchange import TYP_SCORE_ASSERTION, make_client_assertion, parse_jwks, read_signing_key, sign
from gateway.exchange.assertion import verify_score_assertion
from gateway.services.admin.credentials import create_api_key
from gateway.services.context import Gateway
from gateway.services.residents.dev_idp import DevIdentityProvider
from gateway.store.tables import current_scores
from gateway.synth import generate

__all__ = ["run_demo"]

_BATCH = 1000
PARTNER_KEYS = bundled_path("demo-partner-keys")
CITY = "hangzhou-credit"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Server:
    """uvicorn in a background thread, stopped cleanly at the end of the demo."""

    def __init__(self, app: Any, port: int) -> None:
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> _Server:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the gateway did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def _token(client: httpx.Client, gw: Gateway, partner_id: str) -> str:
    key = read_signing_key(PARTNER_KEYS / f"{partner_id}.pem")
    assertion = make_client_assertion(key, client_id=partner_id, audience=gw.settings.issuer)
    resp = client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion,
        },
    )
    resp.raise_for_status()
    return str(resp.json()["access_token"])


def _push_file(client: httpx.Client, token: str, path: Path) -> Counter[str]:
    counts: Counter[str] = Counter()
    lines = path.read_bytes().splitlines(keepends=True)
    for i in range(0, len(lines), _BATCH):
        resp = client.post(
            "/v1/ingest/records",
            content=b"".join(lines[i : i + _BATCH]),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"},
        )
        resp.raise_for_status()
        body = resp.json()
        for k in ("accepted", "duplicates", "rejected"):
            counts[k] += body[k]
    return counts


def _ingest(client: httpx.Client, gw: Gateway, population: Path, manifest: dict[str, Any]) -> None:
    print("3. each collaborating unit gets an access token with its own key and pushes its records:")
    started = time.perf_counter()
    total: Counter[str] = Counter()
    for f in manifest["files"]:
        counts = _push_file(client, _token(client, gw, f["unit"]), population / f["path"])
        total.update(counts)
        print(
            f"   {f['unit']:<24} {counts['accepted']:>7,} accepted {counts['duplicates']:>7,} duplicates "
            f"{counts['rejected']:>4,} rejected"
        )
    print(f"   {sum(total.values()):,} records in {time.perf_counter() - started:.1f} s")


def _tiers(gw: Gateway) -> None:
    with gw.engine.connect() as conn:
        counted = select(current_scores.c.tier, func.count()).group_by(current_scores.c.tier)
        tiers: dict[str | None, int] = {tier: n for tier, n in conn.execute(counted)}
    labels = {t.code: t.label_zh for t in gw.model.tiers}
    shown = ", ".join(
        f"{c} {labels.get(c, '')}: {n:,}" for c, n in sorted(tiers.items(), key=lambda kv: str(kv[0])) if c
    )
    print(f"4. scores by tier (model {gw.model.version}): {shown}; no score (ineligible): {tiers.get(None, 0):,}")


def _first_scored(client: httpx.Client, officer_key: str, population: Path) -> dict[str, str] | None:
    print("5. a credit officer looks up synthetic residents until one has a score (POST /v1/officer/score-lookups):")
    with (population / "residents.csv").open(encoding="utf-8") as fh:
        for n, resident in enumerate(csv.DictReader(fh)):
            resp = client.post(
                "/v1/officer/score-lookups",
                json={
                    "id_number": resident["id_number"],
                    "purpose": "demo: checking the first scores",
                    "case_reference": f"DEMO-{n + 1:03d}",
                },
                headers={"Authorization": f"Bearer {officer_key}"},
            )
            view = resp.json()
            if resp.status_code != 200:
                print(f"   {resp.status_code} {view.get('code')}: {view.get('detail')}")
                continue
            print("   " + render_score(view).replace("\n", "\n   "))
            if view["eligible"]:
                return dict(resident)
            if n >= 30:
                break
    return None


def _exchange(client: httpx.Client, gw: Gateway, resident: dict[str, str]) -> None:
    idp = DevIdentityProvider(gw.settings)
    id_token = idp.issue_id_token(resident["id_number"], resident["name"])
    me = {"Authorization": f"Bearer {id_token}"}
    resp = client.post(
        "/v1/me/consents",
        json={
            "audience": CITY,
            "purposes": ["cross_city_recognition"],
            "disclosure": "tier",
            "valid_days": 90,
            "channel": "app",
        },
        headers=me,
    )
    resp.raise_for_status()
    consent = resp.json()
    print(
        f"6. the resident signs in (development IdP) and consents: {CITY}, cross_city_recognition, tier only, "
        f"until {consent.get('expires_at')} ({consent['id']})"
    )

    token = _token(client, gw, CITY)
    resp = client.post(
        "/v1/assertions",
        json={
            "subject": {"id_number": resident["id_number"], "name": resident["name"]},
            "purpose": "cross_city_recognition",
        },
        headers={"Authorization": f"Bearer {token}"},
    )
    resp.raise_for_status()
    assertion = resp.json()["assertion"]
    print(f"7. {CITY} obtained a token (private_key_jwt) and received a {len(assertion)}-byte assertion;")
    # Offline verification: the partner fetched the JWKS once; nothing else is asked of the gateway.
    jwks = client.get("/.well-known/jwks.json").json()
    keys = parse_jwks(jwks).keys
    verified = verify_score_assertion(assertion, keys, issuer=gw.settings.issuer, audience=CITY)
    c = verified.claims
    print(
        f"   verified offline with the published JWKS ({len(keys)} keys) and the schema: "
        f"typ {verified.header['typ']}, kid {verified.header['kid'][:12]}…"
    )
    print(
        f"   tier {c['tier']['code']} {c['tier']['label']['zh']} → {c['regional_tier']['scheme']} "
        f"level {c['regional_tier']['level']} (crosswalk {c['regional_tier']['crosswalk']['id']} "
        f"v{c['regional_tier']['crosswalk']['version']}); pairwise sub {c['sub'][:10]}…; no score disclosed: "
        f"{'score' not in c}"
    )
    log = client.get("/v1/me/disclosures", headers=me).json()
    rows = log if isinstance(log, list) else log.get("disclosures", [])
    print(
        f"8. the resident's disclosure log (GET /v1/me/disclosures): {len(rows)} entries, "
        f"latest to {rows[0]['audience'] if rows else '-'} for {rows[0]['purpose'] if rows else '-'}"
    )


def _consent_request(client: httpx.Client, gw: Gateway, resident: dict[str, str]) -> None:
    """The bank asks; the resident approves in the app; the assertion arrives — no ID number sent."""
    bank = {"Authorization": f"Bearer {_token(client, gw, 'sx-example-bank')}"}
    request_body = {"purpose": "loan_discount", "disclosure": "tier", "valid_days": 30, "state": "loan-application-1"}
    resp = client.post("/v1/consent-requests", json=request_body, headers=bank)
    resp.raise_for_status()
    req = resp.json()
    rid = req["request_id"]
    print(f"11. the example bank asks for consent (POST /v1/consent-requests, body {json.dumps(request_body)}):")
    print(f"   request {rid[:12]}…, expires {req['expires_at']}; the resident opens {req['links']['web']}")
    print(f"   (QR: {req['links']['qr']['svg']})")
    id_token = DevIdentityProvider(gw.settings).issue_id_token(resident["id_number"], resident["name"])
    me = {"Authorization": f"Bearer {id_token}"}
    shown = client.get(f"/v1/me/consent-requests/{rid}", headers=me).json()
    print(
        f"   the resident reads it: {shown['partner']['name']['zh']} asks for {shown['purpose']}, "
        f"{shown['disclosure']} only, {shown['valid_days']} days; "
        f"notice {shown['notice']['id']} v{shown['notice']['version']}"
    )
    answer = client.post(f"/v1/me/consent-requests/{rid}/approve", json={"channel": "app"}, headers=me)
    answer.raise_for_status()
    polled = client.get(f"/v1/consent-requests/{rid}", headers=bank).json()
    keys = parse_jwks(client.get("/.well-known/jwks.json").json()).keys
    verified = verify_score_assertion(polled["assertion"], keys, issuer=gw.settings.issuer, audience="sx-example-bank")
    c = verified.claims
    sent = json.dumps(request_body) + rid
    print(
        f"   approved ({answer.json()['consent']}); the bank polls and receives a verified assertion: tier "
        f"{c['tier']['code']} {c['tier']['label']['zh']}, pairwise sub {c['sub'][:10]}…, state {polled['state']}; "
        f"ID number sent by the bank: {'yes' if resident['id_number'] in sent else 'none'}"
    )
    report = client.get("/v1/me/report", headers=me).json()
    looks = report["lookups"]
    explained = report["score"].get("what_would_change_my_tier") or {}
    print(
        f"12. the resident's credit report (GET /v1/me/report): {len(report['records'])} records, "
        f"{len(report['score_history'])} computations, {len(looks['officer_lookups'])} officer look-ups, "
        f"{len(looks['assertions_issued'])} assertions issued, {len(looks['consent_requests'])} consent requests; "
        f"{explained.get('points_to_next_tier')} points to tier {explained.get('next_tier')}"
    )


def _hangzhou_assertion(audience: str, purpose: str, tier: str, label: str) -> str:
    """What Hangzhou's platform would send: a score assertion in the published format, signed with
    its own (development) key, addressed to one Shaoxing partner."""
    now = int(time.time())
    claims = {
        "iss": "https://credit.hangzhou.example",
        "sub": secrets.token_urlsafe(32)[:43],
        "aud": audience,
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
        "jti": secrets.token_urlsafe(18),
        "purpose": purpose,
        "tier": {"scheme": "hangzhou-credit/1", "code": tier, "label": {"zh": label, "en": tier}},
        "regional_tier": {
            "scheme": "yrd-common/1",
            "level": "good",
            "crosswalk": {"id": "hangzhou-own", "version": "1"},
        },
        "score_as_of": now - 3600,
        "consent": "cns_" + secrets.token_urlsafe(12),
        "jurisdiction": {"city": "330100", "province": "330000", "name": {"zh": "杭州市", "en": "Hangzhou"}},
    }
    return sign(claims, read_signing_key(PARTNER_KEYS / f"{CITY}.pem"), TYP_SCORE_ASSERTION)


def _recognition(client: httpx.Client, gw: Gateway) -> None:
    scenic = _token(client, gw, "sx-scenic-example")
    resp = client.post(
        "/v1/recognitions",
        json={
            "assertion": _hangzhou_assertion("sx-scenic-example", "tourism", "700-750", "信用优秀"),
            "purpose": "tourism",
        },
        headers={"Authorization": f"Bearer {scenic}"},
    )
    resp.raise_for_status()
    r = resp.json()
    print(
        "9. a Hangzhou-issued assertion (钱江分 700–750 信用优秀) presented to a Shaoxing scenic operator "
        "(POST /v1/recognitions):"
    )
    used = ", ".join(f"{c['id']} v{c['version']}" for c in r.get("crosswalks", []))
    print(
        f"   {r['partner_tier']['scheme']} {r['partner_tier']['code']} → {r['common_level']['scheme']} "
        f"{r['common_level']['level']} → {r['local_equivalent']['scheme']} {r['local_equivalent']['code']} "
        f"{r['local_equivalent']['label']['zh']} (crosswalks {used}; provisional: {r.get('provisional')})"
    )

    bank = _token(client, gw, "sx-example-bank")
    resp = client.post(
        "/v1/eligibility",
        json={
            "assertion": _hangzhou_assertion("sx-example-bank", "loan_discount", "700-750", "信用优秀"),
            "programme_id": "sx-example-bank-loan-rate-discount",
        },
        headers={"Authorization": f"Bearer {bank}"},
    )
    resp.raise_for_status()
    decision_token = resp.json()["decision"]
    keys = parse_jwks(client.get("/.well-known/jwks.json").json()).keys
    header = json.loads(base64.urlsafe_b64decode(decision_token.split(".")[0] + "=="))
    decision = jwt.decode(
        decision_token,
        keys[header["kid"]].key,
        algorithms=[keys[header["kid"]].alg],
        audience="sx-example-bank",
        issuer=gw.settings.issuer,
    )
    print(
        f"10. the bank's eligibility decision for a loan discount, a signed {header['typ']} it verified with the JWKS:"
    )
    shown = {k: decision[k] for k in ("eligible", "benefit", "level", "reasons") if k in decision}
    print(f"   {json.dumps(shown, ensure_ascii=False)}")


def run_demo(*, residents: int, seed: int, serve: bool, port: int) -> int:
    settings = Settings.from_env()
    if "GATEWAY_LOG_LEVEL" not in os.environ:
        # The demo's own lines tell the story; the gateway's request logs would drown them.
        settings = replace(settings, log_level="WARNING")
    gw = Gateway.build(settings)
    population = gw.settings.data_dir / "demo-population"
    print(f"data directory: {gw.settings.data_dir}  (database: {gw.engine.url.render_as_string(hide_password=True)})")
    manifest_path = population / "manifest.json"
    if manifest_path.exists() and json.loads(manifest_path.read_text())["residents"] == residents:
        print(f"1. synthetic population of {residents:,} residents already in {population}")
    else:
        print(f"1. generating {residents:,} synthetic residents (seed {seed}) into {population}")
        generate(residents, seed, population, date.today())
    manifest = json.loads(manifest_path.read_text())
    with gw.engine.begin() as conn:
        officer_key = create_api_key(conn, gw, "officer", "demo-officer")
    port = port or _free_port()
    with (
        _Server(create_app(gw), port),
        httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as client,
    ):
        print(f"2. gateway listening on http://127.0.0.1:{port} (ready: {client.get('/readyz').json()['status']})")
        _ingest(client, gw, population, manifest)
        _tiers(gw)
        resident = _first_scored(client, officer_key, population)
        if resident is not None:
            _exchange(client, gw, resident)
        _recognition(client, gw)
        if resident is not None:
            _consent_request(client, gw, resident)
        credit_code_demo(client, gw, population, _token(client, gw, "sx-scenic-example"))  # issue 10
        if serve:
            print(f"serving on http://127.0.0.1:{port} — Ctrl-C to stop")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
    gw.close()
    return 0
