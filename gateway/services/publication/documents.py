"""Public, signed, versioned documents at stable URLs: what other cities, banks and residents may
read (issue 16; measure 三(一) and 三(三) — the office publishes its tiering standard and the
incentives; the recognition of 五 needs a partner to check our translation of its tiers).

Each document is plain JSON — an envelope (``type``, ``name``, ``issuer``, ``version``,
``published_at``, ``previous_digest``) around its ``content`` — shaped by its own schema under
``schemas/published-*.schema.json``. Its digest is the SHA-256 of the exact bytes served, and
doubles as the ETag.

Signature: a **detached JWS** (RFC 7515 Appendix F) beside the JSON, at ``….jws``, over those
exact bytes, header ``{alg, kid, typ: "published-document+jws"}`` with our active key (the JWKS
verifies it). Why detached rather than the JSON inside a JWT: the document stays plain JSON that
a browser, a cache or ``jq`` reads as is and that validates against its schema directly, the
digest a partner pins is the digest of what it reads, and the signature can be checked (or
ignored) without changing how the document is parsed.

Versions: the content is built from what is in force (the published crosswalks, programmes,
model and catalogue of this process's snapshot). When its canonical hash is new, a new version is
appended to ``published_documents`` — append-only and shared by every process, so a version once
served can always be fetched again by its digest (``?digest=``), whichever process answers.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import jwt
from sqlalchemy import Connection, func, select

from gateway.clock import utcnow
from gateway.errors import NotFound
from gateway.exchange.tiers import canonical_digest
from gateway.services.context import Gateway
from gateway.services.exchange.issuance import COMMON_SCHEME, JURISDICTION, local_scheme_id
from gateway.services.publication.incentives import programme_catalogue
from gateway.services.publication.trust_list import trust_list
from gateway.services.publication.views import catalogue_content, model_summary
from gateway.services.recognition.crosswalks import aware
from gateway.store.dialect import insert_ignoring_conflicts
from gateway.store.engine import reader
from gateway.store.tables import crosswalk_versions
from gateway.store.tables_publication import published_documents

__all__ = [
    "TYP_PUBLISHED_DOCUMENT",
    "DocumentNotPublished",
    "PublishedDocument",
    "by_digest",
    "current",
    "document_index",
    "names",
    "sign_detached",
]

TYP_PUBLISHED_DOCUMENT: Final = "published-document+jws"
_SIGNATURES: dict[tuple[str, str], str] = {}  # (digest, kid) → detached JWS; bounded by the documents served
_SIG_LOCK = threading.Lock()
_JWS: Final = jwt.PyJWS(options={"enforce_minimum_key_length": True})


class DocumentNotPublished(NotFound):
    code = "published_document_not_found"
    title = "No published document has this name or digest"


@dataclass(frozen=True, slots=True)
class PublishedDocument:
    name: str
    version: int
    digest: str  # "sha256:<hex>" of ``body``
    body: bytes
    published_at: datetime

    @property
    def etag(self) -> str:
        return f'"{self.digest}"'


Builder = Callable[[Gateway], Mapping[str, Any]]


def _scheme(scheme_id: str) -> Builder:
    def build(gw: Gateway) -> Mapping[str, Any]:
        scheme = gw.mappings.schemes.get(scheme_id)
        if scheme is None:
            raise DocumentNotPublished("This tier scheme is not published.")
        return {k: v for k, v in scheme.document.items() if k != "$schema"}

    return build


def _local_scheme(gw: Gateway) -> Mapping[str, Any]:
    return _scheme(local_scheme_id(gw.model.version))(gw)


def _crosswalk(crosswalk_id: str) -> Builder:
    def build(gw: Gateway) -> Mapping[str, Any]:
        published = next((c for c in gw.mappings.crosswalks.values() if c.id == crosswalk_id), None)
        if published is None:
            raise DocumentNotPublished("This crosswalk is not published.")
        v = crosswalk_versions
        with reader(gw.engine).connect() as conn:
            rows = conn.execute(
                select(v.c.version, v.c.digest, v.c.document, v.c.effective_from, v.c.published_at, v.c.state)
                .where(
                    v.c.crosswalk_id == crosswalk_id, v.c.published_at.is_not(None), v.c.version <= published.version
                )
                .order_by(v.c.version)
            ).all()
            conn.rollback()
        history = [
            {
                "version": r.version,
                "digest": r.digest,
                "effective_from": r.effective_from.isoformat(),
                "published_at": aware(r.published_at).isoformat(),
                "in_force": r.version == published.version,
                "document": {k: val for k, val in r.document.items() if k != "$schema"},
            }
            for r in rows
        ]
        return {
            "id": crosswalk_id,
            "published_version": published.version,
            "digest": published.digest,
            "history": history,
        }

    return build


def _builders(gw: Gateway) -> dict[str, tuple[str, Builder]]:
    out: dict[str, tuple[str, Builder]] = {
        "tier-schemes/yrd-common": ("tier_scheme", _scheme(COMMON_SCHEME)),
        "tier-schemes/sx-integrity": ("tier_scheme", _local_scheme),
    }
    for cw in sorted(gw.mappings.crosswalks.values(), key=lambda c: c.id):
        out[f"crosswalks/{cw.id}"] = ("crosswalk", _crosswalk(cw.id))
    out["catalogue"] = ("catalogue", catalogue_content)
    out["scoring-model"] = ("scoring_model", model_summary)
    out["programmes"] = ("programmes", programme_catalogue)
    out["trust-list"] = ("trust_list", trust_list)
    return out


def names(gw: Gateway) -> list[str]:
    return list(_builders(gw))


def _row(r: Any) -> PublishedDocument:
    return PublishedDocument(r.name, r.version, r.digest, r.body.encode("utf-8"), aware(r.published_at))


def _find(conn: Connection, name: str, **match: Any) -> PublishedDocument | None:
    t = published_documents
    stmt = select(t).where(t.c.name == name)
    for column, value in match.items():
        stmt = stmt.where(t.c[column] == value)
    row = conn.execute(stmt).first()
    return _row(row) if row is not None else None


def current(gw: Gateway, name: str) -> PublishedDocument:
    """The document ``name`` as in force now, stored as a new version when its content is new.

    :raises DocumentNotPublished: no such document.
    """
    builders = _builders(gw)
    if name not in builders:
        raise DocumentNotPublished("No published document has this name.")
    doc_type, build = builders[name]
    content = build(gw)
    content_digest = canonical_digest(content)
    with reader(gw.engine).connect() as conn:
        found = _find(conn, name, content_digest=content_digest)
        conn.rollback()
    if found is not None:
        return found
    t = published_documents
    for _ in range(3):  # another process may take the version number first; then count on
        with gw.engine.begin() as conn:
            found = _find(conn, name, content_digest=content_digest)
            if found is not None:
                return found
            latest = conn.execute(select(func.max(t.c.version)).where(t.c.name == name)).scalar()
            previous = _find(conn, name, version=latest) if latest is not None else None
            now = utcnow()
            number = (latest or 0) + 1
            envelope = {
                "$schema": f"{gw.settings.issuer}/schemas/published-{doc_type.replace('_', '-')}.schema.json",
                "type": doc_type,
                "name": name,
                "issuer": gw.settings.issuer,
                "jurisdiction": JURISDICTION,
                "version": number,
                "published_at": now.isoformat(),
                "previous_digest": previous.digest if previous else None,
                "content": content,
            }
            body = json.dumps(envelope, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
            digest = "sha256:" + hashlib.sha256(body.encode("utf-8")).hexdigest()
            conn.execute(
                insert_ignoring_conflicts(conn, t, ["name", "version"]).values(
                    name=name, version=number, digest=digest, content_digest=content_digest, body=body, published_at=now
                )
            )
            found = _find(conn, name, content_digest=content_digest)
            if found is not None:
                return found
    raise DocumentNotPublished("The document is changing; retry.")


def by_digest(gw: Gateway, name: str, digest: str) -> PublishedDocument:
    """A version pinned by its digest (``sha256:<hex>``), whether or not it is still in force."""
    with reader(gw.engine).connect() as conn:
        found = _find(conn, name, digest=digest)
        conn.rollback()
    if found is None:
        raise DocumentNotPublished("No version of this document has this digest.")
    return found


def versions(gw: Gateway, name: str) -> list[dict[str, Any]]:
    t = published_documents
    with reader(gw.engine).connect() as conn:
        rows = conn.execute(
            select(t.c.version, t.c.digest, t.c.published_at).where(t.c.name == name).order_by(t.c.version.desc())
        ).all()
        conn.rollback()
    if not rows:
        raise DocumentNotPublished("No published document has this name.")
    return [{"version": r[0], "digest": r[1], "published_at": aware(r[2]).isoformat()} for r in rows]


def sign_detached(gw: Gateway, doc: PublishedDocument) -> str:
    """A compact JWS with a detached payload (``header..signature``) over ``doc.body``."""
    key = gw.keyring.signing_key()
    cache_key = (doc.digest, key.kid)
    with _SIG_LOCK:
        cached = _SIGNATURES.get(cache_key)
    if cached is not None:
        return cached
    # RFC 7515 Appendix F: sign as usual (base64url payload, no ``b64``/``crit`` extension) and
    # leave the payload part empty; a verifier puts base64url(body) back and checks as usual.
    compact = _JWS.encode(
        doc.body, key.private_key, algorithm=key.alg, headers={"kid": key.kid, "typ": TYP_PUBLISHED_DOCUMENT}
    )
    header, _, signature = compact.split(".")
    token = f"{header}..{signature}"
    with _SIG_LOCK:
        _SIGNATURES[cache_key] = token
    return token


def url_of(gw: Gateway, name: str) -> str:
    return f"{gw.settings.issuer}/v1/published/{name}"


def document_index(gw: Gateway) -> list[dict[str, Any]]:
    """Every published document with its URL, signature URL, schema, version and digest."""
    out = []
    for name in names(gw):
        try:
            doc = current(gw, name)
        except DocumentNotPublished:
            continue  # e.g. a model version whose tier scheme file is missing
        envelope = json.loads(doc.body)
        out.append(
            {
                "name": name,
                "type": envelope["type"],
                "url": url_of(gw, name),
                "signature_url": f"{url_of(gw, name)}.jws",
                "schema": envelope["$schema"],
                "version": doc.version,
                "digest": doc.digest,
            }
        )
    return out
