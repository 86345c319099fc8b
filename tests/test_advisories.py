"""One regression test per known attack on JWT verification, named after the attack or advisory.

Each test forges what an attacker would send and asserts the exact error code we answer with,
so a regression shows up as a changed code, not just as "still raises something".
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.errors import ConfigurationError
from gateway.exchange import (
    TYP_CLIENT_ASSERTION,
    TYP_SCORE_ASSERTION,
    TYP_STATUS_LIST,
    ClientKeys,
    StatusList,
    TokenVerifier,
    VerificationKey,
    build_status_list_token_claims,
    jwks_document,
    parse_jwks,
    verify_client_assertion,
    verify_status_list_token,
)
from gateway.exchange._b64 import b64url_encode
from gateway.exchange.errors import InvalidToken, JwksInvalid
from tests.exchange.exchange_support import AUDIENCE, ISSUER, START, Clock, Tokens, load_test_keys

KEYS = load_test_keys()
AS_ISSUER = "https://score-gateway.shaoxing.example"
CLIENT = "bank-of-shaoxing"


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def tokens(clock: Clock) -> Tokens:
    return Tokens(KEYS, clock)


def score_verifier(clock: Clock, **overrides: Any) -> TokenVerifier:
    options: dict[str, Any] = {
        "typ": TYP_SCORE_ASSERTION,
        "audience": AUDIENCE,
        "algorithms": {"ES256", "EdDSA", "PS256"},
        "issuer": ISSUER,
        "required_claims": {"iss", "sub", "aud", "iat", "exp", "jti"},
        "now": clock,
    }
    options.update(overrides)
    return TokenVerifier(**options)


def partner_keys() -> dict[str, VerificationKey]:
    return {KEYS[n].kid: KEYS[n].verification_key() for n in ("issuer-es256", "partner-eddsa", "partner-ps256")}


def code_of(token: str, clock: Clock, keys: Mapping[str, VerificationKey] | None = None, **overrides: Any) -> str:
    with pytest.raises(InvalidToken) as caught:
        score_verifier(clock, **overrides).verify(token, partner_keys() if keys is None else keys)
    return caught.value.code


def hmac_token(header: dict[str, Any], claims: dict[str, Any], secret: bytes) -> str:
    signing_input = f"{b64url_encode(json.dumps(header).encode())}.{b64url_encode(json.dumps(claims).encode())}"
    digest = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url_encode(digest)}"


# --- algorithm attacks ------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
@pytest.mark.parametrize("signature", [b"", b"\x00" * 64])
def test_alg_none(tokens: Tokens, clock: Clock, alg: str, signature: bytes) -> None:
    kid = KEYS["issuer-es256"].kid
    header = {"alg": alg, "kid": kid, "typ": TYP_SCORE_ASSERTION}
    token = Tokens.raw(header, tokens.claims(), signature)
    # An unsecured JWS ("h.p.") is not even a signed compact JWS; with bytes appended it is the alg.
    assert code_of(token, clock) == ("algorithm_not_allowed" if signature else "token_malformed")


def _public_key_secrets() -> Iterator[tuple[str, str, bytes]]:
    for name in ("issuer-es256", "partner-ps256", "partner-eddsa"):
        public = KEYS[name].private_key.public_key()
        pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        yield name, "pem", pem
        yield name, "pem-stripped", pem.strip()
        yield name, "jwk", json.dumps(KEYS[name].public_jwk()).encode()
        yield name, "jwk-compact", json.dumps(KEYS[name].public_jwk(), separators=(",", ":")).encode()


@pytest.mark.parametrize(("name", "form", "secret"), list(_public_key_secrets()), ids=lambda v: str(v)[:20])
@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
def test_cve_2022_29217_hmac_with_the_public_key_as_secret(
    tokens: Tokens, clock: Clock, name: str, form: str, secret: bytes, alg: str
) -> None:
    header = {"alg": alg, "kid": KEYS[name].kid, "typ": TYP_SCORE_ASSERTION}
    token = hmac_token(header, tokens.claims(), secret)
    assert code_of(token, clock) == "algorithm_not_allowed"


@pytest.mark.parametrize("name", ["partner-ps256", "issuer-es256", "partner-eddsa"])
def test_rs_es_to_hs_confusion(tokens: Tokens, clock: Clock, name: str) -> None:
    # Even a verifier that (wrongly) trusted the header alg could only find an RSA/EC/OKP key.
    token = hmac_token({"alg": "HS256", "kid": KEYS[name].kid, "typ": TYP_SCORE_ASSERTION}, tokens.claims(), b"x" * 32)
    assert code_of(token, clock) == "algorithm_not_allowed"


def test_hs_algorithms_can_never_be_configured(clock: Clock) -> None:
    for algorithms in ({"HS256"}, {"ES256", "HS256"}, {"none"}, {"RS256"}):
        with pytest.raises(ConfigurationError):
            score_verifier(clock, algorithms=algorithms)


def test_rs256_pkcs1_with_a_ps256_key(tokens: Tokens, clock: Clock) -> None:
    token = tokens.forge({"alg": "RS256"}, tokens.claims(), "partner-ps256")
    assert code_of(token, clock) == "algorithm_not_allowed"


def test_alg_swapped_between_two_allowed_algorithms(tokens: Tokens, clock: Clock) -> None:
    # Signed by the EdDSA key, header names the ES256 key: the key's binding decides, not the header.
    token = tokens.forge({"alg": "EdDSA", "kid": KEYS["issuer-es256"].kid}, tokens.claims(), "partner-eddsa")
    assert code_of(token, clock) == "algorithm_not_allowed"


# --- key selection attacks --------------------------------------------------------------------


def test_kid_not_in_set(tokens: Tokens, clock: Clock) -> None:
    assert code_of(tokens.sign(tokens.claims(), "attacker-es256"), clock) == "unknown_key"


class RecordingKeys(Mapping[str, VerificationKey]):
    def __init__(self, keys: dict[str, VerificationKey]) -> None:
        self._inner = keys
        self.lookups: list[object] = []

    def __getitem__(self, kid: str) -> VerificationKey:
        self.lookups.append(kid)
        return self._inner[kid]

    def __iter__(self) -> Iterator[str]:
        return iter(self._inner)

    def __len__(self) -> int:
        return len(self._inner)


@pytest.mark.parametrize(
    "kid",
    [
        "../../../../../../dev/null",
        "/etc/passwd",
        "' OR '1'='1' --",
        "x'; DROP TABLE partner_keys; --",
        "https://evil.example/key.pem",
        "kid\u0000suffix",
        "${jndi:ldap://evil.example/a}",
    ],
)
def test_kid_injection_is_only_a_lookup_key(tokens: Tokens, clock: Clock, kid: str) -> None:
    keys = RecordingKeys(partner_keys())
    token = tokens.forge({"kid": kid}, tokens.claims(), "attacker-es256")
    with pytest.raises(InvalidToken) as caught:
        score_verifier(clock).verify(token, keys)
    assert caught.value.code == "unknown_key"
    assert keys.lookups == [kid]
    assert kid not in json.dumps([caught.value.detail, caught.value.extensions])


@pytest.mark.parametrize("header", ["jku", "x5u"])
def test_jku_and_x5u_are_never_followed(tokens: Tokens, clock: Clock, header: str) -> None:
    token = tokens.forge({header: "https://evil.example/jwks.json"}, tokens.claims(), "attacker-es256")
    assert code_of(token, clock) == "forbidden_header"


def test_embedded_jwk_header(tokens: Tokens, clock: Clock) -> None:
    attacker = KEYS["attacker-es256"]
    token = tokens.forge({"jwk": attacker.public_jwk(), "kid": attacker.kid}, tokens.claims(), "attacker-es256")
    assert code_of(token, clock) == "forbidden_header"


def test_embedded_x5c_header(tokens: Tokens, clock: Clock) -> None:
    token = tokens.forge({"x5c": ["MIIB..."]}, tokens.claims(), "attacker-es256")
    assert code_of(token, clock) == "forbidden_header"


@pytest.mark.parametrize("crit", [["urn:example:unknown"], ["b64"], ["exp"]])
def test_ghsa_752w_5fwx_jx9f_unknown_crit(tokens: Tokens, clock: Clock, crit: list[str]) -> None:
    token = tokens.forge({"crit": crit, "b64": True, "urn:example:unknown": 1}, tokens.claims())
    assert code_of(token, clock) == "unsupported_critical_header"


# --- token confusion --------------------------------------------------------------------------


def client_claims(clock: Clock, **overrides: Any) -> dict[str, Any]:
    now = int(clock())
    claims = {
        "iss": CLIENT,
        "sub": CLIENT,
        "aud": AS_ISSUER,
        "iat": now,
        "exp": now + 60,
        "jti": "jti-0123456789",
    }
    claims.update(overrides)
    return claims


def authenticate(token: str, clock: Clock, seen: set[str] | None = None) -> str:
    seen = set() if seen is None else seen

    def guard(client_id: str, jti: str, exp: int) -> bool:
        if jti in seen:
            return False
        seen.add(jti)
        return True

    def lookup(client_id: str) -> ClientKeys | None:
        keys = {KEYS[n].kid: KEYS[n].verification_key() for n in ("client-es256", "issuer-es256")}
        return ClientKeys(CLIENT, keys) if client_id == CLIENT else None

    with pytest.raises(InvalidToken) as caught:
        verify_client_assertion(
            token, client_id_lookup=lookup, token_endpoint_issuer=AS_ISSUER, replay_guard=guard, now=clock
        )
    return caught.value.code


def test_client_assertion_presented_as_score_assertion(tokens: Tokens, clock: Clock) -> None:
    token = tokens.sign(client_claims(clock, aud=AUDIENCE), "issuer-es256", TYP_CLIENT_ASSERTION)
    assert code_of(token, clock, required_claims={"exp"}, issuer=None) == "token_type_mismatch"


def test_score_assertion_presented_as_client_assertion(tokens: Tokens, clock: Clock) -> None:
    token = tokens.sign(client_claims(clock), "issuer-es256", TYP_SCORE_ASSERTION)
    assert authenticate(token, clock) == "token_type_mismatch"


def test_status_list_token_presented_as_score_assertion(tokens: Tokens, clock: Clock) -> None:
    token = tokens.sign(tokens.claims(), "issuer-es256", TYP_STATUS_LIST)
    assert code_of(token, clock) == "token_type_mismatch"


def test_audience_injection_score_assertion_aud_array(tokens: Tokens, clock: Clock) -> None:
    for aud in ([AUDIENCE], [AUDIENCE, "https://other.example"], ["https://other.example", AUDIENCE]):
        assert code_of(tokens.sign(tokens.claims(aud=aud)), clock) == "audience_mismatch"


def test_cve_2025_27370_client_assertion_aud_array_or_endpoint(tokens: Tokens, clock: Clock) -> None:
    for aud in ([AS_ISSUER], [AS_ISSUER, "https://par.example"], AS_ISSUER + "/token", AS_ISSUER + "/par"):
        token = tokens.sign(client_claims(clock, aud=aud), "client-es256", TYP_CLIENT_ASSERTION)
        assert authenticate(token, clock) == "audience_mismatch"


@pytest.mark.parametrize(
    "iss",
    ["https://a.example.evil", "https://a.exam", "a.example", "https://a.example/", "https://A.example"],
)
def test_ghsa_75c5_xw7c_p5pm_partial_issuer_match(tokens: Tokens, clock: Clock, iss: str) -> None:
    token = tokens.sign(tokens.claims(iss=iss))
    assert code_of(token, clock, issuer="https://a.example") == "issuer_mismatch"
    assert score_verifier(clock, issuer="https://a.example").verify(
        tokens.sign(tokens.claims(iss="https://a.example")), partner_keys()
    )


def test_issuer_as_a_list_containing_the_issuer(tokens: Tokens, clock: Clock) -> None:
    assert code_of(tokens.sign(tokens.claims(iss=[ISSUER])), clock) == "invalid_claim"


# --- time and replay --------------------------------------------------------------------------


def test_expired(tokens: Tokens, clock: Clock) -> None:
    now = int(clock())
    assert code_of(tokens.sign(tokens.claims(iat=now - 700, nbf=now - 700, exp=now - 100)), clock) == "token_expired"


@pytest.mark.parametrize(("claim", "code"), [("nbf", "token_not_yet_valid"), ("iat", "token_issued_in_future")])
def test_future_nbf_and_iat_beyond_skew_and_accepted_within_10s(
    tokens: Tokens, clock: Clock, claim: str, code: str
) -> None:
    now = int(clock())
    assert code_of(tokens.sign(tokens.claims(**{claim: now + 11})), clock) == code
    assert code_of(tokens.sign(tokens.claims(**{claim: now + 3600})), clock) == code
    assert score_verifier(clock).verify(tokens.sign(tokens.claims(**{claim: now + 10})), partner_keys())


def test_reused_jti(tokens: Tokens, clock: Clock) -> None:
    token = tokens.sign(client_claims(clock), "client-es256", TYP_CLIENT_ASSERTION)
    seen = {"jti-0123456789"}
    assert authenticate(token, clock, seen) == "jti_replayed"


# --- status lists -----------------------------------------------------------------------------

LIST_URI = "https://score-gateway.shaoxing.example/status-lists/1"


def status_list_token(tokens: Tokens, key: str = "issuer-es256", **overrides: Any) -> str:
    now = int(tokens.clock())
    claims = build_status_list_token_claims(LIST_URI, StatusList(2, 1024), now, now + 600, 300, iss=ISSUER)
    claims.update(overrides)
    return tokens.sign(claims, key, TYP_STATUS_LIST)


def status_code(token: str, clock: Clock, uri: str = LIST_URI) -> str:
    with pytest.raises(InvalidToken) as caught:
        verify_status_list_token(token, uri=uri, keys=partner_keys(), issuer=ISSUER, now=clock)
    return caught.value.code


def test_status_list_with_bad_signature(tokens: Tokens, clock: Clock) -> None:
    forged = tokens.forge({"typ": TYP_STATUS_LIST, "kid": KEYS["issuer-es256"].kid}, {}, "attacker-es256")
    header, _, signature = forged.split(".")
    _, payload, _ = status_list_token(tokens).split(".")
    assert status_code(f"{header}.{payload}.{signature}", clock) == "bad_signature"


def test_status_list_signed_by_an_unknown_key(tokens: Tokens, clock: Clock) -> None:
    assert status_code(status_list_token(tokens, "attacker-es256"), clock) == "unknown_key"


def test_status_list_with_wrong_sub(tokens: Tokens, clock: Clock) -> None:
    assert status_code(status_list_token(tokens, sub=LIST_URI + "0"), clock) == "subject_mismatch"
    assert status_code(status_list_token(tokens), clock, uri=LIST_URI + "0") == "subject_mismatch"


def test_status_list_expired(tokens: Tokens, clock: Clock) -> None:
    token = status_list_token(tokens)
    clock.advance(600)
    assert status_code(token, clock) == "token_expired"


def test_status_list_with_hmac(tokens: Tokens, clock: Clock) -> None:
    now = int(clock())
    claims = build_status_list_token_claims(LIST_URI, StatusList(1, 8), now, None, None, iss=ISSUER)
    header = {"alg": "HS256", "kid": KEYS["issuer-es256"].kid, "typ": TYP_STATUS_LIST}
    assert status_code(hmac_token(header, claims, b"k" * 32), clock) == "algorithm_not_allowed"


# --- JWK Sets ---------------------------------------------------------------------------------


def test_jwks_with_a_private_key_member_is_refused() -> None:
    document = jwks_document([KEYS["issuer-es256"], KEYS["partner-eddsa"]])
    private = KEYS["issuer-es256"].private_key
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    document["keys"][0]["d"] = b64url_encode(private.private_numbers().private_value.to_bytes(32, "big"))
    with pytest.raises(JwksInvalid) as caught:
        parse_jwks(document)
    assert caught.value.extensions["reason"] == "private_key_material"


def test_jwks_with_an_unknown_kty_still_yields_the_other_keys() -> None:
    document = jwks_document([KEYS["issuer-es256"], KEYS["partner-eddsa"]])
    document["keys"].insert(0, {"kty": "AKP", "kid": "ml-dsa", "alg": "ML-DSA-44", "pub": "AAAA"})
    parsed = parse_jwks(document)
    assert set(parsed.keys) == {KEYS["issuer-es256"].kid, KEYS["partner-eddsa"].kid}
    assert [(s.kid, s.reason) for s in parsed.skipped] == [("ml-dsa", "unsupported_kty")]


# --- ECDSA malleability (issue 15): high-S ES256 signatures ------------------------------------


def _high_s_twin(token: str) -> str:
    from gateway.exchange._b64 import b64url_decode
    from gateway.exchange.jws import P256_ORDER

    head, payload, sig = token.split(".")
    raw = b64url_decode(sig)
    s = P256_ORDER - int.from_bytes(raw[32:], "big")
    return f"{head}.{payload}.{b64url_encode(raw[:32] + s.to_bytes(32, 'big'))}"


def test_the_gateway_signs_es256_in_low_s_form_only(tokens: Tokens) -> None:
    from gateway.exchange._b64 import b64url_decode
    from gateway.exchange.jws import is_high_s

    signatures = [b64url_decode(tokens.sign(tokens.claims(jti=f"j{i}")).split(".")[2]) for i in range(40)]
    assert not any(is_high_s(s) for s in signatures)


def test_high_s_twin_of_a_gateway_token_is_refused(tokens: Tokens, clock: Clock) -> None:
    token = tokens.sign(tokens.claims())
    twin = _high_s_twin(token)
    assert twin != token
    strict = score_verifier(clock, refuse_high_s=True)
    assert strict.verify(token, partner_keys()).claims["jti"]
    with pytest.raises(InvalidToken) as caught:
        strict.verify(twin, partner_keys())
    assert caught.value.code == "bad_signature" and caught.value.extensions["check"] == "high_s"


def test_high_s_partner_token_is_accepted_as_the_same_token(tokens: Tokens, clock: Clock) -> None:
    # Partners' libraries do not normalise S; their twin verifies and carries the same jti, which
    # the replay cache consumes once whichever encoding arrives first.
    token = tokens.sign(tokens.claims())
    twin = _high_s_twin(token)
    lenient = score_verifier(clock)
    assert lenient.verify(twin, partner_keys()).claims["jti"] == lenient.verify(token, partner_keys()).claims["jti"]


def test_high_s_access_token_is_refused_over_http(gw: Any) -> None:
    from fastapi.testclient import TestClient

    from gateway.api.app import create_app
    from tests.support.partners import access_token

    with TestClient(create_app(gw)) as client:
        token = access_token(client, "sx-example-bank")
        if gw.keyring.signing_key().alg != "ES256":
            pytest.skip("the gateway signs with EdDSA here")
        for candidate, status in ((token, 422), (_high_s_twin(token), 401)):
            resp = client.post("/v1/assertions", json={}, headers={"Authorization": f"Bearer {candidate}"})
            assert resp.status_code == status, resp.text
