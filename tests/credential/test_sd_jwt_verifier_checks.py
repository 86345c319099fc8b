"""Every check of the SD-JWT VC verifier fails with its own stable code (one test each)."""

from __future__ import annotations

import json

import pytest

from gateway.exchange import generate_signing_key, sign
from gateway.exchange._b64 import b64url_decode, b64url_encode
from gateway.exchange.errors import InvalidToken
from gateway.exchange.kb_jwt import make_kb_jwt
from gateway.exchange.sd_jwt import make_disclosure, parse_sd_jwt, select_disclosures
from gateway.exchange.sd_jwt_vc import TYP_SD_JWT_VC
from tests.credential.credential_support import NOW, VERIFIER, World
from tests.support.jose import forge, unsigned

ASK = ["level_at_least.good"]


def code_of(world: World, presentation: str, *, nonce: str | None = "n-1", requested: list[str] | None = ASK) -> str:
    with pytest.raises(InvalidToken) as info:
        world.verifier().verify(presentation, audience=VERIFIER, nonce=nonce, requested=requested)
    return info.value.code


def payload_of(issued: str) -> dict:
    return json.loads(b64url_decode(issued.split("~")[0].split(".")[1]))


def resign(world: World, issued: str, payload: dict, **header: str) -> str:
    """A presentation of ASK whose issuer-signed JWT is replaced by one over ``payload``."""
    presented = select_disclosures(issued, ASK)
    jwt_ = (
        forge({"typ": TYP_SD_JWT_VC, **header}, payload, world.issuer_key)
        if header
        else sign(payload, world.issuer_key, TYP_SD_JWT_VC)
    )
    presented = jwt_ + presented[presented.index("~") :]
    return presented + make_kb_jwt(presented, world.holder_key, aud=VERIFIER, nonce="n-1", iat=NOW)


def test_a_proper_presentation_verifies_and_shows_only_what_was_asked() -> None:
    w = World()
    result = w.verifier().verify(w.present(w.issue(), ASK), audience=VERIFIER, nonce="n-1", requested=ASK)
    assert result.disclosed_claims() == {"level_at_least.good": True}
    assert "name_masked" not in result.claims and "tier" not in result.claims


def test_wrong_typ_of_the_issuer_signed_jwt() -> None:
    w = World()
    assert code_of(w, w.present(w.issue(typ="example+sd-jwt"), ASK)) == "token_type_mismatch"


def test_bad_issuer_signature() -> None:
    w = World()
    issued = w.issue()
    head, body, sig = issued.split("~")[0].split(".")
    flipped = b64url_encode(bytes(b ^ 1 for b in b64url_decode(sig)))
    tampered = issued.replace(f"{head}.{body}.{sig}", f"{head}.{body}.{flipped}")
    assert code_of(w, w.present(tampered, ASK)) == "bad_signature"


def test_signed_by_an_unknown_key() -> None:
    w, other = World(), World()
    other.holder_key = w.holder_key
    assert code_of(w, w.present(other.issue(), ASK)) == "unknown_key"


def test_issuer_not_trusted() -> None:
    w = World()
    assert code_of(w, w.present(w.issue(iss="https://elsewhere.test"), ASK)) == "credential_issuer_not_trusted"


def test_expired() -> None:
    w = World()
    assert code_of(w, w.present(w.issue(exp=NOW - 1), ASK)) == "token_expired"


def test_not_yet_valid() -> None:
    w = World()
    assert code_of(w, w.present(w.issue(nbf=NOW + 3600), ASK)) == "token_not_yet_valid"


def test_lifetime_beyond_90_days() -> None:
    w = World()
    assert code_of(w, w.present(w.issue(exp=NOW + 91 * 86400), ASK)) == "lifetime_too_long"


def test_unknown_vct() -> None:
    w = World()
    assert code_of(w, w.present(w.issue(vct="https://score-gateway.test/other"), ASK)) == "credential_type_unknown"


def test_revoked_or_superseded_status() -> None:
    w = World()
    w.statuses[7] = 3
    assert code_of(w, w.present(w.issue(), ASK)) == "credential_revoked"


def test_sd_alg_other_than_sha256() -> None:
    w = World()
    issued = w.issue()
    payload = payload_of(issued) | {"_sd_alg": "md5"}
    assert code_of(w, resign(w, issued, payload)) == "sd_alg_not_allowed"


def test_a_digest_listed_twice_in_the_credential() -> None:
    w = World()
    issued = w.issue()
    payload = payload_of(issued)
    payload["_sd"] = payload["_sd"] + payload["_sd"][:1]
    assert code_of(w, resign(w, issued, payload)) == "disclosure_duplicated"


def test_the_same_disclosure_presented_twice() -> None:
    w = World()
    presented = select_disclosures(w.issue(), ASK)
    doubled = presented + presented.split("~")[1] + "~"
    kb = make_kb_jwt(doubled, w.holder_key, aud=VERIFIER, nonce="n-1", iat=NOW)
    assert code_of(w, doubled + kb) == "disclosure_duplicated"


def test_a_disclosure_the_credential_does_not_reference() -> None:
    w = World()
    presented = select_disclosures(w.issue(), ASK) + make_disclosure("score", 900).encoded + "~"
    kb = make_kb_jwt(presented, w.holder_key, aud=VERIFIER, nonce="n-1", iat=NOW)
    assert code_of(w, presented + kb) == "disclosure_unreferenced"


def test_a_malformed_disclosure() -> None:
    w = World()
    presented = select_disclosures(w.issue(), ASK) + b64url_encode(b'{"not":"an array"}') + "~"
    kb = make_kb_jwt(presented, w.holder_key, aud=VERIFIER, nonce="n-1", iat=NOW)
    assert code_of(w, presented + kb) == "disclosure_malformed"


def test_key_binding_missing_when_cnf_is_present() -> None:
    w = World()
    assert code_of(w, select_disclosures(w.issue(), ASK)) == "key_binding_missing"


def test_key_binding_signed_by_another_key() -> None:
    w = World()
    assert code_of(w, w.present(w.issue(), ASK, key=generate_signing_key())) == "key_binding_signature_invalid"


def test_key_binding_typ() -> None:
    w = World()
    presented = select_disclosures(w.issue(), ASK)
    kb = make_kb_jwt(presented, w.holder_key, aud=VERIFIER, nonce="n-1", iat=NOW)
    head, body, _ = kb.split(".")
    header = json.loads(b64url_decode(head)) | {"typ": "JWT"}
    claims = json.loads(b64url_decode(body))
    forged = forge(header, claims, w.holder_key)
    assert code_of(w, presented + forged) == "key_binding_type_mismatch"


def test_key_binding_audience() -> None:
    w = World()
    assert code_of(w, w.present(w.issue(), ASK, aud="someone-else")) == "key_binding_audience_mismatch"


def test_key_binding_nonce() -> None:
    w = World()
    assert code_of(w, w.present(w.issue(), ASK, nonce="n-2")) == "key_binding_nonce_mismatch"


def test_key_binding_iat_outside_the_window() -> None:
    w = World()
    assert code_of(w, w.present(w.issue(), ASK, iat=NOW - 301)) == "key_binding_stale"
    assert code_of(w, w.present(w.issue(), ASK, iat=NOW + 60)) == "key_binding_stale"


def test_sd_hash_over_a_different_presentation() -> None:
    w = World()
    issued = w.issue()
    kb = w.present(issued, ASK).rsplit("~", 1)[1]
    # The same KB-JWT glued to a presentation that shows more than it was made for.
    more = select_disclosures(issued, [*ASK, "name_masked"])
    assert code_of(w, more + kb, requested=None) == "sd_hash_mismatch"


def test_disclosures_not_requested_are_refused() -> None:
    w = World()
    assert code_of(w, w.present(w.issue(), [*ASK, "name_masked"])) == "disclosure_not_requested"


def test_requested_claim_missing() -> None:
    w = World()
    assert code_of(w, w.present(w.issue(), ASK), requested=[*ASK, "tier"]) == "requested_claim_missing"


def test_size_bounded() -> None:
    w = World()
    assert code_of(w, "a" * 20_000 + "~") == "presentation_too_large"
    assert code_of(w, "a.b.c~" + "x~" * 70) == "presentation_too_large"


def test_not_an_sd_jwt_at_all() -> None:
    w = World()
    assert code_of(w, w.issue().split("~")[0]) == "presentation_malformed"


def test_alg_none_issuer_jwt_is_refused() -> None:
    w = World()
    issued = w.issue()
    parts = parse_sd_jwt(issued)
    token = unsigned({"typ": TYP_SD_JWT_VC, "kid": w.issuer_key.kid}, payload_of(issued))
    bad = "~".join([token, *parts.disclosures]) + "~"
    # The empty signature segment already fails the shape check; with a fake one, the allow-list.
    assert code_of(w, w.present(bad, ASK)) == "token_malformed"
    faked = "~".join([token + "AAAA", *parts.disclosures]) + "~"
    assert code_of(w, w.present(faked, ASK)) == "algorithm_not_allowed"


def test_issuer_jwt_naming_its_own_key_is_refused() -> None:
    w = World()
    issued = w.issue()
    assert code_of(w, resign(w, issued, payload_of(issued), jku="https://evil.test/jwks")) == "forbidden_header"


def test_offline_mode_accepts_any_nonce_but_bounds_iat() -> None:
    w = World()
    p = w.present(w.issue(), ASK, nonce="whatever", iat=NOW - 100)
    ok = w.verifier().verify(p, audience=VERIFIER, nonce=None, requested=None, kb_max_age=120)
    assert ok.disclosed == {"level_at_least.good"}
    old = w.present(w.issue(), ASK, iat=NOW - 121)
    with pytest.raises(InvalidToken) as info:
        w.verifier().verify(old, audience=VERIFIER, nonce=None, requested=None, kb_max_age=120)
    assert info.value.code == "key_binding_stale"
