"""private_key_jwt client assertions (RFC 7523 + RFC 7523bis)."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.exchange import TYP_CLIENT_ASSERTION, TYP_SCORE_ASSERTION, AuthenticatedClient, ClientKeys
from gateway.exchange import verify_client_assertion as verify
from gateway.exchange.errors import InvalidToken, ReplayGuardUnavailable
from tests.exchange.exchange_support import Clock, Tokens

AS_ISSUER = "https://score-gateway.shaoxing.example"
CLIENT_ID = "bank-of-shaoxing"


class Registry:
    def __init__(self, tokens: Tokens) -> None:
        self.clients = {
            CLIENT_ID: ClientKeys(CLIENT_ID, tokens.key_set("client-es256", "partner-ps256")),
            "disabled-bank": ClientKeys("disabled-bank", tokens.key_set("client-es256"), enabled=False),
            "other-city": ClientKeys("other-city", tokens.key_set("partner-eddsa")),
        }
        self.lookups: list[str] = []

    def __call__(self, client_id: str) -> ClientKeys | None:
        self.lookups.append(client_id)
        return self.clients.get(client_id)


class ReplayGuard:
    def __init__(self) -> None:
        self.seen: set[tuple[str, str]] = set()
        self.calls: list[tuple[str, str, int]] = []

    def __call__(self, client_id: str, jti: str, exp: int) -> bool:
        self.calls.append((client_id, jti, exp))
        if (client_id, jti) in self.seen:
            return False
        self.seen.add((client_id, jti))
        return True


@pytest.fixture
def registry(tokens: Tokens) -> Registry:
    return Registry(tokens)


@pytest.fixture
def guard() -> ReplayGuard:
    return ReplayGuard()


def assertion_claims(clock: Clock, **overrides: Any) -> dict[str, Any]:
    now = int(clock())
    claims: dict[str, Any] = {
        "iss": CLIENT_ID,
        "sub": CLIENT_ID,
        "aud": AS_ISSUER,
        "iat": now,
        "exp": now + 60,
        "jti": "3f1d6a0c-5f65-4f0a-9d0e-2b8f6c1f7a11",
    }
    for name, value in overrides.items():
        if value is None:
            claims.pop(name)
        else:
            claims[name] = value
    return claims


def run(token: str, registry: Registry, guard: ReplayGuard, clock: Clock) -> AuthenticatedClient:
    return verify(token, client_id_lookup=registry, token_endpoint_issuer=AS_ISSUER, replay_guard=guard, now=clock)


def rejected(token: str, registry: Registry, guard: ReplayGuard, clock: Clock, code: str) -> InvalidToken:
    with pytest.raises(InvalidToken) as caught:
        run(token, registry, guard, clock)
    assert caught.value.code == code, caught.value.extensions
    assert caught.value.extensions.get("token_kind") == "client_assertion"
    return caught.value


@pytest.mark.parametrize("key", ["client-es256", "partner-ps256"])
def test_accepts_a_valid_assertion(
    tokens: Tokens, registry: Registry, guard: ReplayGuard, clock: Clock, key: str
) -> None:
    token = tokens.sign(assertion_claims(clock), key, TYP_CLIENT_ASSERTION)
    client = run(token, registry, guard, clock)
    assert client == AuthenticatedClient(
        CLIENT_ID, tokens.keys[key].kid, assertion_claims(clock)["jti"], int(clock()) + 60
    )
    assert guard.calls == [(CLIENT_ID, client.jti, int(clock()) + 60)]


def test_jti_is_single_use(tokens: Tokens, registry: Registry, guard: ReplayGuard, clock: Clock) -> None:
    token = tokens.sign(assertion_claims(clock), "client-es256", TYP_CLIENT_ASSERTION)
    run(token, registry, guard, clock)
    rejected(token, registry, guard, clock, "jti_replayed")


def test_a_failing_replay_guard_fails_closed(tokens: Tokens, registry: Registry, clock: Clock) -> None:
    def broken(client_id: str, jti: str, exp: int) -> bool:
        raise OSError("database is down")

    token = tokens.sign(assertion_claims(clock), "client-es256", TYP_CLIENT_ASSERTION)
    with pytest.raises(ReplayGuardUnavailable):
        verify(token, client_id_lookup=registry, token_endpoint_issuer=AS_ISSUER, replay_guard=broken, now=clock)


def test_rejected_assertions_never_reach_the_replay_guard(
    tokens: Tokens, registry: Registry, guard: ReplayGuard, clock: Clock
) -> None:
    token = tokens.sign(assertion_claims(clock, aud=[AS_ISSUER]), "client-es256", TYP_CLIENT_ASSERTION)
    rejected(token, registry, guard, clock, "audience_mismatch")
    assert guard.calls == []


@pytest.mark.parametrize("iss", ["unknown-bank", "disabled-bank"])
def test_unknown_or_disabled_client(
    tokens: Tokens, registry: Registry, guard: ReplayGuard, clock: Clock, iss: str
) -> None:
    token = tokens.sign(assertion_claims(clock, iss=iss, sub=iss), "client-es256", TYP_CLIENT_ASSERTION)
    error = rejected(token, registry, guard, clock, "unknown_client")
    assert error.oauth_error == "invalid_client"


def test_iss_selects_keys_but_every_claim_is_then_verified(
    tokens: Tokens, registry: Registry, guard: ReplayGuard, clock: Clock
) -> None:
    # Claims to be other-city, signed with the bank's key: other-city has no such kid.
    token = tokens.sign(
        assertion_claims(clock, iss="other-city", sub="other-city"), "client-es256", TYP_CLIENT_ASSERTION
    )
    rejected(token, registry, guard, clock, "unknown_key")
    # Same kid as the bank's key, signature by an attacker's key.
    forged = tokens.forge(
        {"typ": TYP_CLIENT_ASSERTION, "kid": tokens.keys["client-es256"].kid},
        assertion_claims(clock),
        "attacker-es256",
    )
    rejected(forged, registry, guard, clock, "bad_signature")


def test_sub_must_equal_iss(tokens: Tokens, registry: Registry, guard: ReplayGuard, clock: Clock) -> None:
    token = tokens.sign(assertion_claims(clock, sub="other-city"), "client-es256", TYP_CLIENT_ASSERTION)
    rejected(token, registry, guard, clock, "subject_mismatch")


@pytest.mark.parametrize(
    "aud",
    [
        [AS_ISSUER],
        [AS_ISSUER, "https://other.example"],
        AS_ISSUER + "/token",
        "https://other.example",
        AS_ISSUER + "/",
    ],
)
def test_audience_must_be_exactly_our_issuer_string(
    tokens: Tokens, registry: Registry, guard: ReplayGuard, clock: Clock, aud: Any
) -> None:
    token = tokens.sign(assertion_claims(clock, aud=aud), "client-es256", TYP_CLIENT_ASSERTION)
    rejected(token, registry, guard, clock, "audience_mismatch")


def test_exp_at_most_300_seconds_ahead(tokens: Tokens, registry: Registry, guard: ReplayGuard, clock: Clock) -> None:
    now = int(clock())
    ok = tokens.sign(assertion_claims(clock, exp=now + 300), "client-es256", TYP_CLIENT_ASSERTION)
    assert run(ok, registry, guard, clock)
    # iat backdated so exp − iat stays at 300, but exp is 301 s ahead of our clock.
    far = tokens.sign(
        assertion_claims(clock, iat=now + 1, exp=now + 301, jti="j2-abcdefgh"),
        "client-es256",
        TYP_CLIENT_ASSERTION,
    )
    error = rejected(far, registry, guard, clock, "lifetime_too_long")
    long_lived = tokens.sign(
        assertion_claims(clock, iat=now - 200, exp=now + 150, jti="j3-abcdefgh"),
        "client-es256",
        TYP_CLIENT_ASSERTION,
    )
    rejected(long_lived, registry, guard, clock, "lifetime_too_long")
    assert error.extensions["check"] == "exp_horizon"


@pytest.mark.parametrize("claim", ["exp", "iat", "jti", "sub", "aud"])
def test_required_claims(tokens: Tokens, registry: Registry, guard: ReplayGuard, clock: Clock, claim: str) -> None:
    token = tokens.sign(assertion_claims(clock, **{claim: None}), "client-es256", TYP_CLIENT_ASSERTION)
    error = rejected(token, registry, guard, clock, "missing_claim")
    assert error.extensions["claim"] == claim


def test_missing_or_odd_iss(tokens: Tokens, registry: Registry, guard: ReplayGuard, clock: Clock) -> None:
    token = tokens.sign(assertion_claims(clock, iss=None), "client-es256", TYP_CLIENT_ASSERTION)
    rejected(token, registry, guard, clock, "missing_claim")
    token = tokens.sign(assertion_claims(clock, iss=["x"]), "client-es256", TYP_CLIENT_ASSERTION)
    rejected(token, registry, guard, clock, "invalid_claim")
    assert registry.lookups == []


@pytest.mark.parametrize("typ", [None, "JWT", TYP_SCORE_ASSERTION, "statuslist+jwt"])
def test_typ_must_be_client_authentication_jwt(
    tokens: Tokens, registry: Registry, guard: ReplayGuard, clock: Clock, typ: str | None
) -> None:
    token = tokens.forge({"typ": typ}, assertion_claims(clock), "client-es256")
    rejected(token, registry, guard, clock, "token_type_mismatch")
    assert registry.lookups == []


def test_typ_with_application_prefix_is_accepted(
    tokens: Tokens, registry: Registry, guard: ReplayGuard, clock: Clock
) -> None:
    token = tokens.forge({"typ": "application/client-authentication+jwt"}, assertion_claims(clock), "client-es256")
    assert run(token, registry, guard, clock).client_id == CLIENT_ID


def test_expired_and_future_assertions(tokens: Tokens, registry: Registry, guard: ReplayGuard, clock: Clock) -> None:
    token = tokens.sign(assertion_claims(clock), "client-es256", TYP_CLIENT_ASSERTION)
    clock.advance(60)
    rejected(token, registry, guard, clock, "token_expired")
    now = int(clock())
    future = tokens.sign(assertion_claims(clock, iat=now + 30, exp=now + 90), "client-es256", TYP_CLIENT_ASSERTION)
    rejected(future, registry, guard, clock, "token_issued_in_future")
