"""The benchmark's population: generated with ``gateway.synth``, ingested (over HTTP, timed, or in
process when only the recompute is measured), and a pool of eligible residents who consent to the
partners the benchmark issues to, so that every issuance request succeeds."""

from __future__ import annotations

import csv
import json
import queue
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import httpx

from gateway.config import PROJECT_ROOT, Settings
from gateway.exchange import make_client_assertion, read_signing_key
from gateway.exchange.keys import SigningKey

__all__ = [
    "PARTNER_KEYS",
    "IngestReport",
    "Subject",
    "TokenSource",
    "eligible_subjects",
    "generate_population",
    "grant_consents",
    "ingest_in_process",
    "ingest_over_http",
]

PARTNER_KEYS = PROJECT_ROOT / "tests" / "fixtures" / "partner-keys"  # development keys, protect nothing
CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
BATCH = 1000  # the unit of ingestion: batches of 1,000 records
_TOKEN_REFRESH_AFTER = 200.0  # seconds; access tokens live at least 300 s (the bench asks for 600)


@dataclass(frozen=True, slots=True, repr=False)
class Subject:
    """A synthetic resident the partner asks about (ID number and name, for matching only)."""

    id_number: str
    name: str

    def __repr__(self) -> str:
        return "Subject(<synthetic>)"


def generate_population(residents: int, seed: int, out_dir: Path) -> dict[str, Any]:
    from gateway.synth import generate

    manifest_path = out_dir / "manifest.json"
    if manifest_path.exists():
        existing = json.loads(manifest_path.read_text(encoding="utf-8"))
        if existing.get("residents") == residents and existing.get("seed") == seed:
            existing["reused"] = True
            return dict(existing)
    started = time.perf_counter()
    generate(residents, seed, out_dir, date.today())
    manifest: dict[str, Any] = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["generate_s"] = round(time.perf_counter() - started, 3)
    return manifest


class TokenSource:
    """Partner access tokens from ``/oauth/token`` (private_key_jwt), renewed before they expire."""

    def __init__(self, base_url: str, issuer: str) -> None:
        self._base = base_url
        self._issuer = issuer
        self._keys: dict[str, SigningKey] = {}
        self._tokens: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def token(self, partner_id: str) -> str:
        with self._lock:
            cached = self._tokens.get(partner_id)
            if cached and time.monotonic() - cached[1] < _TOKEN_REFRESH_AFTER:
                return cached[0]
            key = self._keys.get(partner_id) or read_signing_key(PARTNER_KEYS / f"{partner_id}.pem")
            self._keys[partner_id] = key
            assertion = make_client_assertion(key, client_id=partner_id, audience=self._issuer)
            resp = httpx.post(
                self._base + "/oauth/token",
                data={
                    "grant_type": "client_credentials",
                    "client_assertion_type": CLIENT_ASSERTION_TYPE,
                    "client_assertion": assertion,
                },
                timeout=30,
                trust_env=False,
            )
            resp.raise_for_status()
            token = str(resp.json()["access_token"])
            self._tokens[partner_id] = (token, time.monotonic())
            return token


def _batches(population: Path, manifest: Mapping[str, Any]) -> Iterator[tuple[str, bytes, int]]:
    for f in manifest["files"]:
        lines = (population / f["path"]).read_bytes().splitlines(keepends=True)
        for i in range(0, len(lines), BATCH):
            chunk = lines[i : i + BATCH]
            yield f["unit"], b"".join(chunk), len(chunk)


@dataclass(slots=True)
class IngestReport:
    records: int = 0
    batches: int = 0
    seconds: float = 0.0
    counts: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    def as_dict(self, **extra: Any) -> dict[str, Any]:
        return {
            "records": self.records,
            "batches": self.batches,
            "batch_records": BATCH,
            "seconds": round(self.seconds, 3),
            "records_per_s": round(self.records / self.seconds, 1) if self.seconds else None,
            "accepted": self.counts["accepted"],
            "duplicates": self.counts["duplicates"],
            "rejected": self.counts["rejected"],
            "failed_batches": self.failures[:5],
            **extra,
        }


def ingest_over_http(
    base_url: str, issuer: str, population: Path, concurrency: int, *, reference: bool = False
) -> IngestReport:
    """Push every unit file in batches of 1,000 records to ``POST /v1/ingest/records``.

    The files are split and every unit's token obtained before the clock starts, so the figure is
    the gateway's: ``concurrency`` clients take the next batch from one queue until it is empty.
    With ``reference``, the same batches go to the ingestion reference's ``POST /ingest``
    (``bench/ingest_reference.py``), the unit named in a header instead of a token.
    """
    manifest = json.loads((population / "manifest.json").read_text(encoding="utf-8"))
    tokens = TokenSource(base_url, issuer)
    path = "/ingest" if reference else "/v1/ingest/records"

    def unit_header(unit: str) -> dict[str, str]:
        return {"X-Unit": unit} if reference else {"Authorization": f"Bearer {tokens.token(unit)}"}

    jobs: queue.Queue[tuple[str, bytes, int]] = queue.Queue()
    report = IngestReport()
    for unit, body, n in _batches(population, manifest):
        jobs.put((unit, body, n))
        report.records += n
        report.batches += 1
    for f in manifest["files"]:
        unit_header(f["unit"])
    lock = threading.Lock()

    def worker() -> None:
        with httpx.Client(base_url=base_url, timeout=600, trust_env=False) as client:
            while True:
                try:
                    unit, body, _n = jobs.get_nowait()
                except queue.Empty:
                    return
                resp = client.post(
                    path, content=body, headers={**unit_header(unit), "Content-Type": "application/x-ndjson"}
                )
                with lock:
                    if resp.status_code != 200:
                        report.failures.append(f"{unit}: {resp.status_code} {resp.text[:200]}")
                        continue
                    answer = resp.json()
                    for k in ("accepted", "duplicates", "rejected"):
                        report.counts[k] += int(answer[k])

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(max(1, concurrency))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    report.seconds = time.perf_counter() - started
    return report


def ingest_in_process(settings: Settings, population: Path, *, batch: int = 5000) -> IngestReport:
    """Load a population straight through the ingestion service, without rescoring (a full
    recompute follows): for recompute-only runs, where pushing millions of records over HTTP
    would take most of the run and is not what is measured."""
    from gateway.services.context import Gateway
    from gateway.services.scores.ingestion import ingest_batch, parse_batch

    gw = Gateway.build(settings)
    manifest = json.loads((population / "manifest.json").read_text(encoding="utf-8"))
    report = IngestReport()
    started = time.perf_counter()
    try:
        for f in manifest["files"]:
            unit = gw.partners.enabled(f["unit"])
            if unit is None:
                report.failures.append(f"{f['unit']}: not an enabled unit")
                continue
            lines = (population / f["path"]).read_bytes().splitlines(keepends=True)
            for i in range(0, len(lines), batch):
                records = parse_batch(b"".join(lines[i : i + batch]), "application/x-ndjson", max_records=batch)
                res = ingest_batch(gw, unit, records, recompute=False)
                report.records += len(records)
                report.batches += 1
                report.counts["accepted"] += len(res.accepted)
                report.counts["duplicates"] += len(res.duplicates)
                report.counts["rejected"] += len(res.rejected)
    finally:
        gw.close()
    report.seconds = time.perf_counter() - started
    return report


def eligible_subjects(settings: Settings, population: Path, limit: int) -> list[Subject]:
    """Up to ``limit`` residents of the population with a current, eligible score."""
    from sqlalchemy import bindparam, select

    from gateway.scoring import parse_resident_id
    from gateway.services.context import Gateway
    from gateway.store.tables import current_scores, people

    gw = Gateway.build(settings)
    out: list[Subject] = []
    try:
        with (population / "residents.csv").open(encoding="utf-8") as fh, gw.engine.connect() as conn:
            stmt = (
                select(current_scores.c.eligible)
                .select_from(people.join(current_scores, current_scores.c.person_id == people.c.id))
                .where(people.c.id_hash == bindparam("h"))
            )
            for row in csv.DictReader(fh):
                h = gw.hasher.id_hash(parse_resident_id(row["id_number"]).normalised)
                if conn.execute(stmt, {"h": h}).scalar():
                    out.append(Subject(row["id_number"], row["name"]))
                    if len(out) >= limit:
                        break
    finally:
        gw.close()
    return out


def grant_consents(
    base_url: str, settings: Settings, subjects: Sequence[Subject], audience: str, purpose: str
) -> tuple[int, list[str]]:
    """Each subject signs in with the development IdP and consents (tier level) to ``audience``."""
    from gateway.services.residents.dev_idp import DevIdentityProvider

    idp = DevIdentityProvider(settings)
    granted, failures = 0, []
    with httpx.Client(base_url=base_url, timeout=30, trust_env=False) as client:
        for s in subjects:
            resp = client.post(
                "/v1/me/consents",
                json={
                    "audience": audience,
                    "purposes": [purpose],
                    "disclosure": "tier",
                    "valid_days": 30,
                    "channel": "app",
                },
                headers={"Authorization": f"Bearer {idp.issue_id_token(s.id_number, s.name)}"},
            )
            if resp.status_code in (200, 201):
                granted += 1
            else:
                failures.append(f"{resp.status_code} {resp.text[:200]}")
    return granted, failures
