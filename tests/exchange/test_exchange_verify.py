"""TokenVerifier: every check, its order, its error code, and what errors may contain."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import jwt
import pytest

from gateway.errors import ConfigurationError, GatewayError
from gateway.exchange import TYP_CLIENT_ASSERTION, TYP_SCORE_ASSERTION, TokenVerifier
from gateway.exchange import errors as exchange_errors
from gateway.exchange._b64 import b64url_encode
from gateway.exchange.errors import BadSignature, InvalidToken
from tests.exchange.exchange_support import AUDIENCE, ISSUER, Clock, Tokens


def verifier(clock: Clock, **overrides: Any) -> TokenVerifier:
    options: dict[str, Any] = {
        "typ": TYP_SCORE_ASSERTION,
        "audience": AUDIENCE,
        "algorithms": {"ES256", "EdDSA", "PS256"},
        "issuer": ISSUER,
        "required_claims": {"iss", "sub", "aud", "iat", "nbf", "exp", "jti"},
        "max_lifetime": 3600,
        "kind": "score_assertion",
        "now": clock,
    }
    options.update(overrides)
    return TokenVerifier(**options)


def rejects(call: Callable[[], object], code: str) -> InvalidToken:
    with pytest.raises(InvalidToken) as caught:
        call()
    assert caught.value.code == code, caught.value.extensions
    assert caught.value.status == 401
    return caught.value


@pytest.mark.parametrize("key", ["issuer-es256", "partner-eddsa", "partner-ps256"])
def test_accepts_a_good_token_with_each_algorithm(tokens: Tokens, clock: Clock, key: str) -> None:
    claims = tokens.claims()
    result = verifier(clock).verify(tokens.sign(claims, key), tokens.key_set(key))
    assert dict(result.claims) == claims
    assert result.header == {
        "alg": tokens.keys[key].alg,
        "kid": tokens.keys[key].kid,
        "typ": TYP_SCORE_ASSERTION,
    }


@pytest.mark.parametrize(
    "token",
    [
        "",
        "a.b",
        "a.b.c.d",
        "a..c",
        "e30.e30.",
        "e30=.e30.AAAA",
        "e30.e30.AA!A",
        "W10.e30.AAAA",  # header is a JSON array
        b64url_encode(b'{"alg":"ES256","alg":"none"}') + ".e30.AAAA",  # duplicate member
        b64url_encode(b"\xff\xfe") + ".e30.AAAA",
        "A.e30.AAAA",  # impossible base64url length
    ],
)
def test_malformed_tokens(tokens: Tokens, clock: Clock, token: str) -> None:
    rejects(lambda: verifier(clock).verify(token, tokens.key_set("issuer-es256")), "token_malformed")


def test_size_limit(tokens: Tokens, clock: Clock) -> None:
    big = tokens.sign(tokens.claims(padding="x" * 17000))
    error = rejects(lambda: verifier(clock).verify(big, tokens.key_set("issuer-es256")), "token_malformed")
    assert error.extensions["check"] == "size"
    assert verifier(clock, max_token_bytes=64 * 1024).verify(big, tokens.key_set("issuer-es256"))


def test_non_string_token(tokens: Tokens, clock: Clock) -> None:
    token: Any = tokens.sign(tokens.claims()).encode()
    rejects(lambda: verifier(clock).verify(token, tokens.key_set("issuer-es256")), "token_malformed")


def test_duplicate_claim_names_are_malformed(tokens: Tokens, clock: Clock) -> None:
    key = tokens.keys["issuer-es256"]
    header = {"alg": "ES256", "kid": key.kid, "typ": TYP_SCORE_ASSERTION}
    payload = json.dumps(tokens.claims())[:-1] + ', "aud": "https://other.example"}'
    token = jwt.PyJWS().encode(payload.encode(), key.private_key, algorithm="ES256", headers=header)
    rejects(lambda: verifier(clock).verify(token, tokens.key_set("issuer-es256")), "token_malformed")


@pytest.mark.parametrize("name", ["jku", "x5u", "jwk", "x5c"])
def test_forbidden_headers(tokens: Tokens, clock: Clock, name: str) -> None:
    token = tokens.forge({name: "https://evil.example/keys"}, tokens.claims())
    error = rejects(lambda: verifier(clock).verify(token, tokens.key_set("issuer-es256")), "forbidden_header")
    assert error.extensions["header"] == name


def test_forbidden_header_is_checked_before_crit_and_typ(tokens: Tokens, clock: Clock) -> None:
    token = tokens.forge({"jku": "https://evil.example", "crit": ["jku"], "typ": "JWT"}, tokens.claims())
    rejects(lambda: verifier(clock).verify(token, tokens.key_set("issuer-es256")), "forbidden_header")


@pytest.mark.parametrize("crit", [["exp"], ["b64"], [], "b64"])
def test_any_crit_is_unsupported(tokens: Tokens, clock: Clock, crit: Any) -> None:
    token = tokens.forge({"crit": crit, "exp": 1}, tokens.claims())
    rejects(lambda: verifier(clock).verify(token, tokens.key_set("issuer-es256")), "unsupported_critical_header")


@pytest.mark.parametrize("typ", ["score-assertion+jwt", "SCORE-Assertion+JWT", "application/score-assertion+jwt"])
def test_typ_comparison_is_case_insensitive_with_optional_prefix(tokens: Tokens, clock: Clock, typ: str) -> None:
    token = tokens.forge({"typ": typ}, tokens.claims())
    assert verifier(clock).verify(token, tokens.key_set("issuer-es256"))


@pytest.mark.parametrize("typ", [None, "JWT", "jwt", TYP_CLIENT_ASSERTION, "text/score-assertion+jwt", 7])
def test_typ_mismatch(tokens: Tokens, clock: Clock, typ: Any) -> None:
    token = tokens.forge({"typ": typ}, tokens.claims())
    error = rejects(lambda: verifier(clock).verify(token, tokens.key_set("issuer-es256")), "token_type_mismatch")
    assert error.extensions["expected_typ"] == TYP_SCORE_ASSERTION


def test_algorithm_allow_list(tokens: Tokens, clock: Clock) -> None:
    only_es256 = verifier(clock, algorithms={"ES256"})
    token = tokens.sign(tokens.claims(), "partner-eddsa")
    error = rejects(lambda: only_es256.verify(token, tokens.key_set("partner-eddsa")), "algorithm_not_allowed")
    assert error.extensions == {
        "token_kind": "score_assertion",
        "check": "allow_list",
        "allowed_algorithms": ["ES256"],
    }


def test_header_alg_must_equal_the_keys_bound_algorithm(tokens: Tokens, clock: Clock) -> None:
    # The EdDSA key signs, but the header claims ES256 and names the EdDSA key.
    token = tokens.forge({"alg": "EdDSA", "kid": tokens.keys["issuer-es256"].kid}, tokens.claims(), "partner-eddsa")
    error = rejects(lambda: verifier(clock).verify(token, tokens.key_set("issuer-es256")), "algorithm_not_allowed")
    assert error.extensions["check"] == "key_algorithm"


@pytest.mark.parametrize("kid", [None, "", 7, ["a"], {"a": 1}, "x" * 300, "not-in-set"])
def test_unknown_or_unusable_kid(tokens: Tokens, clock: Clock, kid: Any) -> None:
    token = tokens.forge({"kid": kid}, tokens.claims())
    rejects(lambda: verifier(clock).verify(token, tokens.key_set("issuer-es256")), "unknown_key")


def test_unknown_kid_is_distinguishable_for_a_jwks_refresh(tokens: Tokens, clock: Clock) -> None:
    token = tokens.sign(tokens.claims(), "client-es256")
    error = rejects(lambda: verifier(clock).verify(token, tokens.key_set("issuer-es256")), "unknown_key")
    assert error.extensions["check"] == "kid_unknown"
    token = tokens.forge({"kid": None}, tokens.claims())
    error = rejects(lambda: verifier(clock).verify(token, tokens.key_set("issuer-es256")), "unknown_key")
    assert error.extensions["check"] == "kid_missing"


def test_bad_signature(tokens: Tokens, clock: Clock) -> None:
    good = tokens.sign(tokens.claims())
    header, payload, signature = good.split(".")
    other_payload = b64url_encode(json.dumps(tokens.claims(sub="A" * 43)).encode())
    for token in (f"{header}.{other_payload}.{signature}", f"{header}.{payload}.{signature[:-4]}AAAA"):
        with pytest.raises(BadSignature):
            verifier(clock).verify(token, tokens.key_set("issuer-es256"))


def test_signature_by_another_key_under_the_same_kid(tokens: Tokens, clock: Clock) -> None:
    token = tokens.forge({"kid": tokens.keys["issuer-es256"].kid}, tokens.claims(), "attacker-es256")
    rejects(lambda: verifier(clock).verify(token, tokens.key_set("issuer-es256")), "bad_signature")


@pytest.mark.parametrize("claim", ["iss", "sub", "aud", "iat", "nbf", "exp", "jti"])
def test_missing_claim_is_named(tokens: Tokens, clock: Clock, claim: str) -> None:
    token = tokens.sign(tokens.claims(**{claim: None}))
    error = rejects(lambda: verifier(clock).verify(token, tokens.key_set("issuer-es256")), "missing_claim")
    assert error.extensions["claim"] == claim


@pytest.mark.parametrize(
    ("claim", "value"),
    [("exp", True), ("exp", "9999999999"), ("iat", None), ("nbf", [1]), ("sub", 5), ("jti", 1)],
)
def test_claims_of_the_wrong_type(tokens: Tokens, clock: Clock, claim: str, value: Any) -> None:
    claims = tokens.claims()
    claims[claim] = value
    error = rejects(
        lambda: verifier(clock).verify(tokens.sign(claims), tokens.key_set("issuer-es256")), "invalid_claim"
    )
    assert error.extensions["claim"] == claim


def test_expiry_has_no_leeway(tokens: Tokens, clock: Clock) -> None:
    token = tokens.sign(tokens.claims())
    keys = tokens.key_set("issuer-es256")
    clock.advance(599)
    assert verifier(clock).verify(token, keys)
    clock.advance(1)
    rejects(lambda: verifier(clock).verify(token, keys), "token_expired")


@pytest.mark.parametrize(("claim", "code"), [("nbf", "token_not_yet_valid"), ("iat", "token_issued_in_future")])
def test_future_nbf_and_iat_within_and_beyond_skew(tokens: Tokens, clock: Clock, claim: str, code: str) -> None:
    keys = tokens.key_set("issuer-es256")
    now = int(clock())
    within = tokens.sign(tokens.claims(**{claim: now + 10}))
    assert verifier(clock).verify(within, keys)
    beyond = tokens.sign(tokens.claims(**{claim: now + 11}))
    error = rejects(lambda: verifier(clock).verify(beyond, keys), code)
    assert error.extensions["max_skew"] == 10
    assert verifier(clock, max_skew=60).verify(beyond, keys)


def test_lifetime(tokens: Tokens, clock: Clock) -> None:
    now = int(clock())
    keys = tokens.key_set("issuer-es256")
    assert verifier(clock).verify(tokens.sign(tokens.claims(exp=now + 3600)), keys)
    long_lived = tokens.sign(tokens.claims(exp=now + 3601))
    rejects(lambda: verifier(clock).verify(long_lived, keys), "lifetime_too_long")
    assert verifier(clock, max_lifetime=None).verify(long_lived, keys)


@pytest.mark.parametrize(
    "iss",
    [
        "https://score-gateway.shaoxing.example/",
        "https://score-gateway.shaoxing",
        "HTTPS://score-gateway.shaoxing.example",
    ],
)
def test_issuer_is_an_exact_string_match(tokens: Tokens, clock: Clock, iss: str) -> None:
    token = tokens.sign(tokens.claims(iss=iss))
    rejects(lambda: verifier(clock).verify(token, tokens.key_set("issuer-es256")), "issuer_mismatch")


@pytest.mark.parametrize(
    ("aud", "check"),
    [
        ([AUDIENCE], "not_a_string"),
        ([AUDIENCE, "https://x.example"], "not_a_string"),
        (7, "not_a_string"),
        (AUDIENCE + "/", "value"),
    ],
)
def test_audience_must_be_the_one_string(tokens: Tokens, clock: Clock, aud: Any, check: str) -> None:
    token = tokens.sign(tokens.claims(aud=aud))
    error = rejects(lambda: verifier(clock).verify(token, tokens.key_set("issuer-es256")), "audience_mismatch")
    assert error.extensions["check"] == check


def test_a_verifier_without_audience_refuses_tokens_that_name_one(tokens: Tokens, clock: Clock) -> None:
    token = tokens.sign(tokens.claims())
    rejects(
        lambda: verifier(clock, audience=None).verify(token, tokens.key_set("issuer-es256")),
        "audience_mismatch",
    )
    token = tokens.sign(tokens.claims(aud=None))
    assert verifier(clock, audience=None, required_claims={"iss"}).verify(token, tokens.key_set("issuer-es256"))


def test_checks_run_in_the_documented_order(tokens: Tokens, clock: Clock) -> None:
    """A token failing several claim checks reports the earliest one."""
    now = int(clock())
    claims = tokens.claims(exp=now - 1, iat=now + 100, iss="https://evil.example", aud=[AUDIENCE])
    keys = tokens.key_set("issuer-es256")
    rejects(lambda: verifier(clock).verify(tokens.sign(claims), keys), "token_expired")
    claims.update(exp=now + 50)
    rejects(lambda: verifier(clock).verify(tokens.sign(claims), keys), "token_issued_in_future")
    claims.update(iat=now)
    rejects(lambda: verifier(clock).verify(tokens.sign(claims), keys), "issuer_mismatch")
    claims.update(iss=ISSUER)
    rejects(lambda: verifier(clock).verify(tokens.sign(claims), keys), "audience_mismatch")


def test_errors_carry_no_token_or_claim_values(tokens: Tokens, clock: Clock) -> None:
    secretish = "PERSONAL-" + "Q" * 34
    cases = [
        tokens.sign(tokens.claims(sub=secretish, aud=secretish)),
        tokens.sign(tokens.claims(sub=secretish, iss=secretish)),
        tokens.sign(tokens.claims(sub=secretish, exp=secretish)),
        tokens.forge({"typ": secretish}, tokens.claims(sub=secretish)),
        tokens.forge({"kid": secretish}, tokens.claims(sub=secretish)),
    ]
    for token in cases:
        with pytest.raises(InvalidToken) as caught:
            verifier(clock).verify(token, tokens.key_set("issuer-es256"))
        rendered = json.dumps([caught.value.detail, caught.value.extensions, str(caught.value)])
        assert secretish not in rendered and token not in rendered


def test_inspect_checks_the_header_but_not_the_signature(tokens: Tokens, clock: Clock) -> None:
    token = tokens.sign(tokens.claims(), "attacker-es256")
    unverified = verifier(clock).inspect(token)
    assert unverified.claims["iss"] == ISSUER
    rejects(lambda: verifier(clock).inspect(tokens.forge({"typ": "JWT"}, tokens.claims())), "token_type_mismatch")


@pytest.mark.parametrize(
    "overrides",
    [
        {"algorithms": {"HS256"}},
        {"algorithms": {"ES256", "none"}},
        {"algorithms": {"RS256"}},
        {"algorithms": set()},
        {"max_skew": 61},
        {"max_skew": -1},
        {"max_lifetime": 0},
        {"typ": ""},
        {"audience": ""},
        {"max_token_bytes": 0},
    ],
)
def test_unsafe_configuration_is_refused(clock: Clock, overrides: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        verifier(clock, **overrides)


def test_every_error_class_is_a_gateway_error_with_a_unique_code() -> None:
    classes = [getattr(exchange_errors, name) for name in exchange_errors.__all__]
    assert all(issubclass(cls, GatewayError) for cls in classes)
    codes = [cls.code for cls in classes]
    assert len(codes) == len(set(codes))
    assert all(cls.status == 401 for cls in classes if issubclass(cls, InvalidToken))
