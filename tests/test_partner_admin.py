"""Partner administration: enable, disable and key rotation, stored as overrides every process
reads, under optimistic concurrency, each change audited."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import insert, select

from gateway.clock import utcnow
from gateway.exchange import generate_signing_key
from gateway.partners import PartnerRegistry
from gateway.services.admin import partner_admin as pa
from gateway.services.admin.preconditions import PreconditionFailed, PreconditionRequired
from gateway.services.context import Gateway
from gateway.store.tables import audit_log, partner_overrides

BANK = "sx-example-bank"
HZ = "hangzhou-credit"


def _etag(gw: Gateway, partner_id: str = BANK) -> str:
    etag: str = pa.show_partner(gw, partner_id)["etag"]
    return etag


def _audit(gw: Gateway) -> list[Any]:
    with gw.engine.connect() as conn:
        return list(conn.execute(select(audit_log).order_by(audit_log.c.id)))


def _overrides(gw: Gateway) -> list[Any]:
    with gw.engine.connect() as conn:
        return list(conn.execute(select(partner_overrides)))


def test_disable_and_enable_reach_every_process(gw: Gateway) -> None:
    elsewhere = PartnerRegistry(gw.settings.partners_dir, gw.engine)  # another process, started earlier
    assert pa.show_partner(gw, BANK)["etag"] == '"r0"' and elsewhere.enabled(BANK) is not None
    view = pa.set_enabled(gw, "pat", BANK, False, reason="contract ended", if_match='"r0"')
    assert view["enabled"] is False and view["enabled_in_file"] is True and view["etag"] == '"r1"'
    assert gw.partners.enabled(BANK) is None and gw.partners.get(BANK).enabled is False  # type: ignore[union-attr]
    assert gw.partners.from_file(BANK).enabled is True  # type: ignore[union-attr]
    assert elsewhere.enabled(BANK) is not None  # until its refresher runs
    assert elsewhere.refresh_overrides() is True and elsewhere.enabled(BANK) is None
    assert elsewhere.refresh_overrides() is False  # nothing new: nothing re-read or re-parsed
    started_later = PartnerRegistry(gw.settings.partners_dir, gw.engine)
    assert started_later.enabled(BANK) is None

    pa.set_enabled(gw, "pat", BANK, True, reason="renewed", if_match=view["etag"])
    assert elsewhere.refresh_overrides() is True and elsewhere.enabled(BANK) is not None
    rows = [(r.actor_id, r.action, r.target_type, r.target_ref, r.details) for r in _audit(gw)]
    assert [r[:4] for r in rows] == [
        ("pat", "partner.disable", "partner", BANK),
        ("pat", "partner.enable", "partner", BANK),
    ]
    assert rows[0][4]["before"]["enabled"] is True and rows[0][4]["after"]["enabled"] is False
    assert rows[0][4]["reason"] == "contract ended" and rows[1][4]["reason"] == "renewed"


def test_a_reload_of_the_files_keeps_the_overrides(gw: Gateway) -> None:
    pa.set_enabled(gw, "pat", BANK, False, reason="paused", if_match=_etag(gw))
    gw.partners.reload()
    assert gw.partners.enabled(BANK) is None


def test_rotating_keys_replaces_the_partners_jwks(gw: Gateway) -> None:
    old_kids = set(gw.partners.get(BANK).keys)  # type: ignore[union-attr]
    new = generate_signing_key("ES256")
    unusable = {**generate_signing_key("ES256").public_jwk(), "use": "enc"}
    view = pa.replace_jwks(gw, "pat", BANK, {"keys": [new.public_jwk(), unusable]}, reason="yearly", if_match='"r0"')
    assert [k["kid"] for k in view["keys"]] == [new.kid] and view["jwks_source"] == "override"
    assert view["skipped_keys"] == [{"kid": unusable["kid"], "reason": "use_not_sig"}]
    assert set(gw.partners.get(BANK).keys) == {new.kid}  # type: ignore[union-attr]
    assert set(gw.partners.from_file(BANK).keys) == old_kids  # type: ignore[union-attr]
    # Disabling afterwards keeps the new keys: each change leaves the other member alone.
    pa.set_enabled(gw, "pat", BANK, False, reason="paused", if_match=view["etag"])
    assert set(gw.partners.get(BANK).keys) == {new.kid}  # type: ignore[union-attr]
    details = _audit(gw)[0].details
    assert set(details["before"]["kids"]) == old_kids
    assert details["after"]["kids"] == [new.kid] and _audit(gw)[0].action == "partner.rotate_keys"


@pytest.mark.parametrize(
    ("jwks", "reason"),
    [
        ({"keys": [{**generate_signing_key("ES256").public_jwk(), "d": "AAAA"}]}, "private_key_material"),
        ({"keys": [{**generate_signing_key("ES256").public_jwk(), "use": "enc"}]}, "no_usable_key"),
        ({"keys": []}, "no_usable_key"),
        ({"not": "a set"}, "not_a_jwk_set"),
    ],
)
def test_an_unusable_jwks_is_refused(gw: Gateway, jwks: dict[str, Any], reason: str) -> None:
    with pytest.raises(pa.JwksRejected) as err:
        pa.replace_jwks(gw, "pat", BANK, jwks, reason="r", if_match='"r0"')
    assert err.value.status == 422 and err.value.extensions["reason"] == reason
    assert _overrides(gw) == [] and _audit(gw) == []


def test_stale_and_missing_etags(gw: Gateway) -> None:
    with pytest.raises(PreconditionRequired):
        pa.set_enabled(gw, "pat", BANK, False, reason="r", if_match=None)
    pa.set_enabled(gw, "pat", BANK, False, reason="r", if_match='"r0"')
    with pytest.raises(PreconditionFailed) as err:
        pa.set_enabled(gw, "sam", BANK, True, reason="r", if_match='"r0"')
    assert err.value.extensions == {"current_etag": '"r1"', "enabled": False}
    with pytest.raises(pa.PartnerNotFound):
        pa.set_enabled(gw, "pat", "no-such-partner", False, reason="r", if_match='"r0"')
    with pytest.raises(pa.PartnerNotFound):
        pa.show_partner(gw, "no-such-partner")


@pytest.mark.parametrize("existing", [False, True])
def test_the_override_moves_only_from_the_version_read(
    gw: Gateway, monkeypatch: pytest.MonkeyPatch, existing: bool
) -> None:
    # Both changes passed the If-Match check before either wrote (a race on PostgreSQL): the
    # conditional UPDATE, or the INSERT that finds the row already there, refuses the second.
    if existing:
        pa.set_enabled(gw, "pat", BANK, True, reason="r", if_match='"r0"')
    with gw.engine.connect() as conn:
        read_before = pa._override_row(conn, BANK)
    stale = _etag(gw)
    pa.set_enabled(gw, "pat", BANK, False, reason="first", if_match=stale)
    monkeypatch.setattr(pa, "_override_row", lambda conn, partner_id: read_before)
    with pytest.raises(PreconditionFailed):
        pa.set_enabled(gw, "sam", BANK, True, reason="second", if_match=stale)
    assert gw.partners.enabled(BANK) is None


@pytest.mark.parametrize("existing", [False, True])
def test_concurrent_changes_one_wins(gw: Gateway, existing: bool) -> None:
    if existing:  # the race on the UPDATE of an override row, or on its first INSERT
        pa.set_enabled(gw, "pat", HZ, True, reason="r", if_match='"r0"')
    etag = _etag(gw, HZ)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def change(enabled: bool) -> None:
        barrier.wait()
        try:
            pa.set_enabled(gw, f"admin-{enabled}", HZ, enabled, reason="race", if_match=etag)
            outcomes.append("ok")
        except PreconditionFailed:
            outcomes.append("412")

    threads = [threading.Thread(target=change, args=(e,)) for e in (True, False)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["412", "ok"]
    assert len([r for r in _audit(gw) if r.details["reason"] == "race"]) == 1


def test_a_stored_jwks_that_cannot_be_parsed_trusts_no_key(gw: Gateway) -> None:
    with gw.engine.begin() as conn:
        conn.execute(
            insert(partner_overrides).values(
                partner_id=BANK, jwks={"keys": "garbage"}, row_version=1, updated_by="db", updated_at=utcnow()
            )
        )
    assert gw.partners.refresh_overrides() is True
    assert gw.partners.get(BANK).keys == {}  # type: ignore[union-attr]  # never the file's keys instead


def test_the_list_shows_every_partner_with_its_override(gw: Gateway) -> None:
    pa.set_enabled(gw, "pat", BANK, False, reason="r", if_match='"r0"')
    listed = {p["id"]: p for p in pa.list_partners(gw)}
    assert {p.id for p in gw.partners.all()} == set(listed)
    assert listed[BANK]["enabled"] is False and listed[BANK]["override"]["updated_by"] == "pat"
    assert listed[HZ]["override"] is None and listed[HZ]["etag"] == '"r0"' and listed[HZ]["keys"]
