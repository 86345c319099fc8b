"""Tables of the credit code (信用码, issue 10): issued SD-JWT VCs, single-use nonces, presentation
requests and the presentations answered to them.

No column holds the credential itself, a disclosure or a holder key: a credential row keeps what
supersession needs (person, tier, score row, status slot) and the holder key's thumbprint only.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, ForeignKey, Index, Integer, String, Table

from gateway.store.tables import Id, Json, Stamp, metadata

__all__ = ["credential_nonces", "credentials", "presentation_requests"]

# Nonces for OpenID4VCI key proofs: deleted when used, so a second use finds nothing, in any process.
credential_nonces = Table(
    "credential_nonces",
    metadata,
    Column("nonce", String(64), primary_key=True),
    Column("expires_at", Stamp, nullable=False, index=True),
)

credentials = Table(
    "credentials",
    metadata,
    Column("id", String(64), primary_key=True),  # the status slot's jti
    Column("person_id", Id, ForeignKey("people.id"), nullable=False, index=True),
    Column("vct", String(256), nullable=False),
    Column("tier", String(16), nullable=False),
    Column("score_id", Id, nullable=False),
    Column("with_score", Boolean, nullable=False),
    Column("holder_thumbprint", String(64), nullable=False),
    Column("kid", String(64), nullable=False),
    Column("issued_at", Stamp, nullable=False),
    Column("expires_at", Stamp, nullable=False),
    Column("status_list", Integer, nullable=False),
    Column("status_idx", Integer, nullable=False),
)

presentation_requests = Table(
    "presentation_requests",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("verifier", String(64), nullable=False),
    Column("purpose", String(32), nullable=False),
    Column("claims", Json, nullable=False),  # the claim paths asked for
    Column("programme_id", String(128)),
    Column("nonce", String(64), nullable=False, unique=True),
    Column("created_at", Stamp, nullable=False),
    Column("expires_at", Stamp, nullable=False),
    Column("state", String(16), nullable=False),  # pending | verified | declined | failed
    Column("result", Json),  # the verified disclosed claims (and decision), or the failure code
    Column("credential_id", String(64)),
    Column("person_id", Id, ForeignKey("people.id")),  # so the resident's report lists it
    Column("answered_at", Stamp),
)
Index("ix_presentation_requests_person_id", presentation_requests.c.person_id)
