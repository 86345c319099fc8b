"""Verifying the audit log's hash chain and anchoring its head (issue 13; the measure's rule that
every use of a person's credit information leaves a trace the credit office can account for).

``verify_chain`` walks the chain in insertion order and names the first row that is missing, out of
place or changed. A rewriter who recomputes every hash after an edit would still pass that walk, so
``write_anchor`` periodically signs the head (sequence number and hash) with the gateway's own keys
and appends it to a file outside the database; ``verify_chain`` checks that every anchored head is
still in the chain.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import or_, select

from gateway.clock import utcnow
from gateway.errors import GatewayError
from gateway.exchange import TokenVerifier, parse_jwks, sign
from gateway.services.context import Gateway
from gateway.store.audit import AUDIT_CHAIN, GENESIS, row_hash
from gateway.store.engine import reader
from gateway.store.tables import audit_log
from gateway.store.tables_operations import audit_chain_heads

__all__ = ["TYP_AUDIT_ANCHOR", "ChainReport", "anchor_file", "start_anchoring", "verify_chain", "write_anchor"]

TYP_AUDIT_ANCHOR = "audit-anchor+jwt"
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ChainReport:
    rows: int
    legacy_rows: int  # written before the chain existed (migration 0007)
    anchors: int
    broken_row: int | None  # the audit_log id of the first row that fails, if any
    problem: str | None

    @property
    def ok(self) -> bool:
        return self.problem is None


def anchor_file(gw: Gateway) -> Path:
    return gw.settings.audit_anchor_file or gw.settings.data_dir / "audit-anchors.jwsl"


def _head(gw: Gateway) -> tuple[int, str]:
    with reader(gw.engine).connect() as conn:
        row = conn.execute(
            select(audit_chain_heads.c.seq, audit_chain_heads.c.head_hash).where(
                audit_chain_heads.c.chain == AUDIT_CHAIN
            )
        ).one()
        conn.rollback()
    return int(row.seq), str(row.head_hash)


def write_anchor(gw: Gateway) -> dict[str, Any]:
    """Sign the chain head and append it to the anchor file (one compact JWS a line)."""
    seq, head_hash = _head(gw)
    claims = {
        "iss": gw.settings.issuer,
        "iat": int(utcnow().timestamp()),
        "chain": AUDIT_CHAIN,
        "seq": seq,
        "head_hash": head_hash,
    }
    token = sign(claims, gw.keyring.signing_key(), TYP_AUDIT_ANCHOR)
    path = anchor_file(gw)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with path.open("a", encoding="ascii") as fh:  # O_APPEND: lines of several writers do not interleave
        fh.write(token + "\n")
    return claims


def _anchors(gw: Gateway) -> list[dict[str, Any]]:
    path = anchor_file(gw)
    if not path.exists():
        return []
    keys = parse_jwks({"keys": [dict(r.public_jwk) for r in gw.keyring.rows()]}).keys
    verifier = TokenVerifier(
        typ=TYP_AUDIT_ANCHOR,
        audience=None,
        algorithms=frozenset({"ES256", "EdDSA"}),
        issuer=gw.settings.issuer,
        required_claims=frozenset({"iat", "iss"}),
        kind="audit anchor",
    )
    out = []
    for number, line in enumerate(path.read_text(encoding="ascii").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            claims = verifier.verify(line.strip(), keys).claims
        except GatewayError:
            claims = {"invalid": number}
        out.append(dict(claims))
    return out


def verify_chain(gw: Gateway) -> ChainReport:
    """Walk the chain; the first failure wins (its row id and a sentence saying what is wrong)."""
    query = (
        select(
            audit_log.c.id,
            audit_log.c.at,
            audit_log.c.actor_type,
            audit_log.c.actor_id,
            audit_log.c.action,
            audit_log.c.target_type,
            audit_log.c.target_ref,
            audit_log.c.details,
            audit_log.c.chain,
            audit_log.c.seq,
            audit_log.c.prev_hash,
            audit_log.c.row_hash,
        )
        .where(or_(audit_log.c.chain == AUDIT_CHAIN, audit_log.c.chain.is_(None)))
        .order_by(audit_log.c.id)
    )
    anchors = _anchors(gw)
    head_seq, head_hash = _head(gw)
    rows = legacy = 0
    expected, prev = 1, GENESIS
    hashes: dict[int, str] = {}
    last_id: int | None = None

    def broken(row_id: int | None, problem: str) -> ChainReport:
        return ChainReport(rows, legacy, len(anchors), row_id, problem)

    with reader(gw.engine).connect() as conn:
        for row in conn.execution_options(yield_per=2000).execute(query):
            rows += 1
            if row.chain is None:
                if expected > 1:
                    return broken(row.id, "a row without a chain link follows chained rows (inserted or edited)")
                legacy += 1
                continue
            if row.seq != expected:
                what = "rows before it are missing" if row.seq > expected else "it is out of order or duplicated"
                return broken(row.id, f"sequence {row.seq} where {expected} was expected: {what}")
            if row.prev_hash != prev:
                return broken(row.id, "it does not link to the row before it (a row was removed or reordered)")
            fields = row._mapping
            digest = row_hash(
                chain=row.chain,
                seq=row.seq,
                prev_hash=row.prev_hash,
                **{k: fields[k] for k in ("at", "actor_type", "actor_id", "action", "target_type", "target_ref")},
                details=row.details,
            )
            if digest != row.row_hash:
                return broken(row.id, "its content does not match its hash (the row was edited)")
            hashes[row.seq] = digest
            prev, expected, last_id = digest, expected + 1, row.id
        conn.rollback()
    # The head was read first: rows appended since then may follow it, none may be missing before it.
    if head_seq > expected - 1:
        return broken(last_id, f"the chain ends at sequence {expected - 1}, its head is {head_seq}: rows were removed")
    if head_seq and hashes.get(head_seq) != head_hash:
        return broken(None, f"the chain head (sequence {head_seq}) does not match the rows")
    for anchor in anchors:
        if "invalid" in anchor:
            return broken(None, f"anchor line {anchor['invalid']} does not verify with the gateway's keys")
        seq = int(anchor["seq"])
        if seq and hashes.get(seq) != anchor["head_hash"]:
            return broken(None, f"the signed anchor of sequence {seq} no longer matches: the chain was rewritten")
    return ChainReport(rows, legacy, len(anchors), None, None)


def start_anchoring(gw: Gateway, interval: float) -> threading.Event:
    """Write an anchor every ``interval`` seconds in a daemon thread until the event is set."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(interval):
            try:
                write_anchor(gw)
            except Exception:  # the next round retries; serving goes on
                log.warning("writing the audit anchor failed")

    threading.Thread(target=loop, name="audit-anchor", daemon=True).start()
    return stop
