"""Partner administration: enable, disable, replace a partner's keys, change its allowed purposes.

The files in ``partners/`` stay as shipped; an administrator's change is a row in
``partner_overrides`` laid over them by every process's registry (within the background refresh
bound; at once in the process that made it). Changes use the same optimistic concurrency as
crosswalks (the override's ``row_version`` is the ETag; a partner never changed has ETag ``"r0"``)
and each one writes an audit row with the state before and after and the reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, select, update

from gateway.clock import utcnow
from gateway.errors import GatewayError, NotFound, ValidationFailed
from gateway.exchange import VerificationKey, parse_jwks
from gateway.partners import Partner
from gateway.services.admin.preconditions import PreconditionFailed, check_if_match, etag, require_reason
from gateway.services.context import Gateway
from gateway.services.publication.purposes import PURPOSE_CODES
from gateway.services.recognition.crosswalks import aware
from gateway.store.audit import append_audit
from gateway.store.dialect import insert_ignoring_conflicts
from gateway.store.engine import reader
from gateway.store.tables import partner_overrides

__all__ = [
    "JwksRejected",
    "PartnerNotFound",
    "PurposesRejected",
    "list_partners",
    "replace_jwks",
    "set_allowed_purposes",
    "set_enabled",
    "show_partner",
]


class PartnerNotFound(NotFound):
    code = "partner_not_found"
    title = "No such partner"


class JwksRejected(ValidationFailed):
    code = "jwks_rejected"
    title = "The JWK Set cannot be used as the partner's keys"


class PurposesRejected(ValidationFailed):
    code = "purposes_rejected"
    title = "These purposes cannot be a partner's allowed purposes"


def _file_partner(gw: Gateway, partner_id: str) -> Partner:
    partner = gw.partners.from_file(partner_id)
    if partner is None:
        raise PartnerNotFound(f"There is no partner {partner_id} in the registry.")
    return partner


def _override_row(conn: Connection, partner_id: str) -> Any:
    t = partner_overrides
    return conn.execute(select(t).where(t.c.partner_id == partner_id)).first()


def _keys(jwks: Any) -> dict[str, VerificationKey]:
    return dict(parse_jwks(jwks).keys) if jwks is not None else {}


def _view(partner: Partner, row: Any) -> dict[str, Any]:
    enabled = partner.enabled if row is None or row.enabled is None else bool(row.enabled)
    override_jwks = row.jwks if row is not None else None
    keys = _keys(override_jwks) if override_jwks is not None else dict(partner.keys)
    source = "override" if override_jwks is not None else "file" if partner.jwks is not None else None
    purposes = row.allowed_purposes if row is not None and row.allowed_purposes is not None else None
    return {
        "id": partner.id,
        "kind": partner.kind,
        "name": {"zh": partner.name_zh, "en": partner.name_en},
        "enabled": enabled,
        "enabled_in_file": partner.enabled,
        "keys": [{"kid": k.kid, "alg": k.alg} for k in keys.values()],
        "allowed_purposes": sorted(purposes if purposes is not None else partner.allowed_purposes),
        "allowed_purposes_in_file": sorted(partner.allowed_purposes),
        "jwks_source": source or ("jwks_uri" if partner.jwks_uri else None),
        "jwks_uri": partner.jwks_uri,
        "override": None
        if row is None
        else {
            "enabled": row.enabled,
            "jwks": override_jwks is not None,
            "allowed_purposes": purposes is not None,
            "updated_by": row.updated_by,
            "updated_at": aware(row.updated_at).isoformat(),
        },
        "etag": etag(row.row_version if row is not None else 0),
    }


def list_partners(gw: Gateway) -> list[dict[str, Any]]:
    t = partner_overrides
    with reader(gw.engine).connect() as conn:
        rows = {r.partner_id: r for r in conn.execute(select(t))}
        conn.rollback()
    return [_view(p, rows.get(p.id)) for p in sorted(gw.partners.files(), key=lambda p: p.id)]


def show_partner(gw: Gateway, partner_id: str) -> dict[str, Any]:
    partner = _file_partner(gw, partner_id)
    with reader(gw.engine).connect() as conn:
        row = _override_row(conn, partner_id)
        conn.rollback()
    return _view(partner, row)


def _audited(view: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "enabled": view["enabled"],
        "kids": [k["kid"] for k in view["keys"]],
        "allowed_purposes": view["allowed_purposes"],
    }


def _change(
    gw: Gateway, actor: str, partner_id: str, action: str, values: Mapping[str, Any], reason: str, if_match: str | None
) -> dict[str, Any]:
    """Write one override change under optimistic concurrency, audit it, apply it in this process."""
    why = require_reason(reason)
    partner = _file_partner(gw, partner_id)
    t = partner_overrides
    with gw.engine.begin() as conn:
        row = _override_row(conn, partner_id)
        current = row.row_version if row is not None else 0
        before = _view(partner, row)
        check_if_match(if_match, current, enabled=before["enabled"])
        now = utcnow()
        if row is None:
            stmt: Any = insert_ignoring_conflicts(conn, t, ["partner_id"]).values(
                partner_id=partner_id, row_version=1, updated_by=actor, updated_at=now, **values
            )
        else:
            stmt = (
                update(t)
                .where(t.c.partner_id == partner_id, t.c.row_version == current)
                .values(row_version=current + 1, updated_by=actor, updated_at=now, **values)
            )
        # RETURNING, not rowcount: the PostgreSQL driver does not count an INSERT … ON CONFLICT.
        if conn.execute(stmt.returning(t.c.row_version)).first() is None:
            raise PreconditionFailed("Another change to this partner committed first; re-read it and retry.")
        after = _view(partner, _override_row(conn, partner_id))
        append_audit(
            conn,
            actor_type="admin",
            actor_id=actor,
            action=action,
            target_type="partner",
            target_ref=partner_id,
            details={
                "before": _audited(before),
                "after": _audited(after),
                "reason": why,
            },
        )
    gw.partners.refresh_overrides()
    return after


def set_enabled(
    gw: Gateway, actor: str, partner_id: str, enabled: bool, *, reason: str, if_match: str | None
) -> dict[str, Any]:
    """Enable or disable a partner: a disabled partner gets no token, and its tokens stop working."""
    return _change(
        gw,
        actor,
        partner_id,
        "partner.enable" if enabled else "partner.disable",
        {"enabled": enabled},
        reason,
        if_match,
    )


def replace_jwks(
    gw: Gateway, actor: str, partner_id: str, jwks: Any, *, reason: str, if_match: str | None
) -> dict[str, Any]:
    """Rotate a partner's keys: its JWK Set is replaced by ``jwks`` (public keys only, at least
    one usable; keys that cannot be used are listed in the answer as skipped).

    :raises JwksRejected: not a JWK Set, private key members, or no usable key.
    """
    try:
        parsed = parse_jwks(jwks)
    except GatewayError as exc:
        # parse_jwks reports a partner's bad set as 502; an administrator's input is a 422.
        raise JwksRejected(exc.detail, reason=exc.extensions.get("reason", "invalid")) from None
    if not parsed.keys:
        raise JwksRejected("The JWK Set has no usable signing key.", reason="no_usable_key")
    view = _change(gw, actor, partner_id, "partner.rotate_keys", {"jwks": jwks}, reason, if_match)
    view["skipped_keys"] = [{"kid": s.kid, "reason": s.reason} for s in parsed.skipped]
    return view


def set_allowed_purposes(
    gw: Gateway, actor: str, partner_id: str, purposes: Sequence[str], *, reason: str, if_match: str | None
) -> dict[str, Any]:
    """Change what a partner may ask for: each purpose from the closed list of measure 三(三).

    A purpose taken away stops at once for the partner's live tokens too (their scopes are
    intersected with the registry's purposes at every request) — in this process immediately, in
    the others within the registry's refresh bound. A collaborating unit has no purposes.

    :raises PurposesRejected: a purpose not on the list, or a collaborating unit.
    """
    partner = _file_partner(gw, partner_id)
    if partner.kind == "collaborating_unit":
        raise PurposesRejected("A collaborating unit sends records; it asks for no purpose.")
    chosen = sorted(set(purposes))
    unknown = [p for p in chosen if p not in PURPOSE_CODES]
    if unknown or len(chosen) > len(PURPOSE_CODES):
        raise PurposesRejected("Choose purposes from the published list.", purposes=unknown[:20])
    return _change(gw, actor, partner_id, "partner.set_purposes", {"allowed_purposes": chosen}, reason, if_match)
