"""Residents' ID tokens: the development IdP, verification failures, JWKS from a file or a URL."""

from __future__ import annotations

import base64
import json
import logging
import stat
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.config import Settings
from gateway.errors import ConfigurationError, GatewayError, InvalidResidentId
from gateway.exchange import SigningKey, generate_signing_key, jwks_document, sign
from gateway.exchange._b64 import b64url_encode
from gateway.exchange.errors import (
    AlgorithmNotAllowed,
    AudienceMismatch,
    BadSignature,
    InvalidClaim,
    InvalidToken,
    IssuerMismatch,
    JwksUnavailable,
    LifetimeTooLong,
    MissingClaim,
    TokenExpired,
    TokenMalformed,
    TokenTypeMismatch,
    UnknownKey,
)
from gateway.privacy import Hasher
from gateway.services.residents.dev_idp import (
    DEV_IDP_AUDIENCE,
    DEV_IDP_ISSUER,
    DevIdentityProvider,
    dev_idp_token_command,
)
from gateway.services.residents.resident_identity import (
    InvalidIdNumberClaim,
    ResidentAuthenticator,
    ResidentIdpNotConfigured,
)
from tests.support import make_id

IDN = make_id(seq=771)
NAME = "欧阳娜娜"
HASHER = Hasher(bytes(range(1, 33)))
REAL_ISSUER = "https://idp.example.gov.cn"
REAL_AUDIENCE = "sx-gateway-client"


@pytest.fixture
def dev_settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data")


@pytest.fixture
def idp(dev_settings: Settings) -> DevIdentityProvider:
    return DevIdentityProvider(dev_settings)


@pytest.fixture
def auth(dev_settings: Settings) -> ResidentAuthenticator:
    return ResidentAuthenticator(dev_settings, HASHER)


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": DEV_IDP_ISSUER,
        "aud": DEV_IDP_AUDIENCE,
        "sub": "opaque-subject",
        "iat": now,
        "exp": now + 300,
        "id_number": IDN,
        "name": NAME,
    }
    for key, value in overrides.items():
        if value is None:
            claims.pop(key, None)
        else:
            claims[key] = value
    return claims


def _refused(auth: ResidentAuthenticator, token: str, error: type[GatewayError]) -> GatewayError:
    with pytest.raises(error) as info:
        auth.authenticate(token)
    exc = info.value
    text = exc.detail + json.dumps(exc.extensions, ensure_ascii=False)
    assert IDN not in text and NAME not in text
    return exc


def test_a_good_token_gives_hashes_only(
    auth: ResidentAuthenticator, idp: DevIdentityProvider, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    resident = auth.authenticate(idp.issue_id_token(IDN, NAME))
    assert resident.id_hash == HASHER.id_hash(IDN)
    assert resident.name_hash == HASHER.name_hash(NAME)
    assert resident.name_masked == "欧***"
    assert resident.birth_date.isoformat() == "1990-05-17"
    # A lower-case check character is the same person.
    lower = make_id(seq=7)  # its check character is X
    assert lower.endswith("X")
    assert auth.authenticate(idp.issue_id_token(lower.lower(), NAME)).id_hash == HASHER.id_hash(lower)
    for text in (repr(resident), str(resident), repr(auth), repr(idp), caplog.text):
        assert IDN not in text and NAME not in text


def test_expired_token(auth: ResidentAuthenticator, idp: DevIdentityProvider) -> None:
    token = idp.issue_id_token(IDN, NAME, lifetime=600, now=time.time() - 3600)
    assert _refused(auth, token, TokenExpired).status == 401


def test_a_token_valid_for_too_long(auth: ResidentAuthenticator, idp: DevIdentityProvider) -> None:
    _refused(auth, idp.issue_id_token(IDN, NAME, lifetime=4 * 3600), LifetimeTooLong)


def test_wrong_audience(auth: ResidentAuthenticator, idp: DevIdentityProvider) -> None:
    _refused(auth, sign(_claims(aud="another-relying-party"), idp.signing_key(), "JWT"), AudienceMismatch)
    _refused(auth, sign(_claims(aud=[DEV_IDP_AUDIENCE]), idp.signing_key(), "JWT"), AudienceMismatch)


def test_wrong_issuer(auth: ResidentAuthenticator, idp: DevIdentityProvider) -> None:
    _refused(auth, sign(_claims(iss="https://evil.example"), idp.signing_key(), "JWT"), IssuerMismatch)


def test_wrong_type(auth: ResidentAuthenticator, idp: DevIdentityProvider) -> None:
    _refused(auth, sign(_claims(), idp.signing_key(), "score-assertion+jwt"), TokenTypeMismatch)


def test_alg_none(auth: ResidentAuthenticator, idp: DevIdentityProvider) -> None:
    header = {"alg": "none", "typ": "JWT", "kid": idp.signing_key().kid}
    head = b64url_encode(json.dumps(header).encode())
    body = b64url_encode(json.dumps(_claims()).encode())
    assert _refused(auth, f"{head}.{body}.AAAA", AlgorithmNotAllowed).status == 401
    _refused(auth, f"{head}.{body}.", TokenMalformed)


def test_bad_signature(auth: ResidentAuthenticator, idp: DevIdentityProvider) -> None:
    genuine = idp.signing_key()
    impostor = SigningKey(genuine.kid, "ES256", generate_signing_key("ES256").private_key)
    _refused(auth, sign(_claims(), impostor, "JWT"), BadSignature)
    # A genuine signature over other claims.
    head, _, signature = idp.issue_id_token(IDN, NAME).split(".")
    other = b64url_encode(json.dumps(_claims(id_number=make_id(seq=772))).encode())
    _refused(auth, f"{head}.{other}.{signature}", BadSignature)


def test_missing_claims(auth: ResidentAuthenticator, idp: DevIdentityProvider) -> None:
    key = idp.signing_key()
    for claim in ("id_number", "name", "sub", "iat", "exp"):
        exc = _refused(auth, sign(_claims(**{claim: None}), key, "JWT"), MissingClaim)
        assert exc.extensions["claim"] == claim


def test_invalid_id_number_in_a_signed_token(auth: ResidentAuthenticator, idp: DevIdentityProvider) -> None:
    bad = IDN[:17] + ("0" if IDN[17] != "0" else "1")
    exc = _refused(auth, idp.issue_id_token(bad, NAME), InvalidIdNumberClaim)
    assert isinstance(exc, InvalidToken) and exc.status == 401
    assert exc.code == "invalid_id_number_claim" and exc.extensions["reason"] == "check_digit"
    assert bad not in exc.detail + json.dumps(exc.extensions)
    _refused(auth, sign(_claims(id_number=330602199005171234), idp.signing_key(), "JWT"), InvalidClaim)
    _refused(auth, sign(_claims(name="  "), idp.signing_key(), "JWT"), InvalidClaim)


def test_the_development_idp_is_refused_in_production(dev_settings: Settings) -> None:
    production = replace(dev_settings, mode="production")
    with pytest.raises(ConfigurationError, match="refused in production"):
        DevIdentityProvider(production)
    with pytest.raises(ConfigurationError):
        dev_idp_token_command(production, IDN, NAME)
    assert not (dev_settings.data_dir / "dev-idp").exists()


def test_dev_idp_key_is_private_reused_and_created_once(dev_settings: Settings) -> None:
    results: list[str] = []
    barrier = threading.Barrier(6)

    def start() -> None:
        provider = DevIdentityProvider(dev_settings)
        barrier.wait()
        results.append(provider.signing_key().kid)

    threads = [threading.Thread(target=start) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 6 and len(set(results)) == 1
    files = list((dev_settings.data_dir / "dev-idp").iterdir())
    assert [f.name for f in files] == ["signing-key.pem"]
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    assert DevIdentityProvider(dev_settings).jwks()["keys"][0]["kid"] == results[0]
    assert "d" not in DevIdentityProvider(dev_settings).jwks()["keys"][0]


def _payload(token: str) -> dict[str, Any]:
    part = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))))


def test_dev_tokens_carry_an_opaque_stable_subject(idp: DevIdentityProvider) -> None:
    first, second = idp.issue_id_token(IDN, NAME), idp.issue_id_token(IDN, NAME)
    other = idp.issue_id_token(make_id(seq=773), NAME)
    claims = _payload(first)
    assert claims["iss"] == DEV_IDP_ISSUER and claims["aud"] == DEV_IDP_AUDIENCE
    assert claims["id_number"] == IDN and claims["name"] == NAME
    subjects = [_payload(t)["sub"] for t in (first, second, other)]
    assert subjects[0] == subjects[1] != subjects[2]
    assert IDN not in subjects[0] and IDN[6:14] not in subjects[0]


def test_dev_idp_token_command(dev_settings: Settings, auth: ResidentAuthenticator) -> None:
    token = dev_idp_token_command(dev_settings, IDN, NAME)
    assert auth.authenticate(token).id_hash == HASHER.id_hash(IDN)
    with pytest.raises(InvalidResidentId):
        dev_idp_token_command(dev_settings, IDN[:17] + "Y", NAME)
    configured = replace(
        dev_settings,
        resident_idp_issuer=REAL_ISSUER,
        resident_idp_jwks="/nonexistent",
        resident_idp_audience=REAL_AUDIENCE,
    )
    with pytest.raises(ConfigurationError):
        dev_idp_token_command(configured, IDN, NAME)


# --- a configured identity provider ------------------------------------------------------------


def _real_settings(base: Settings, jwks: str, **changes: Any) -> Settings:
    return replace(
        base,
        mode="production",
        resident_idp_issuer=REAL_ISSUER,
        resident_idp_jwks=jwks,
        resident_idp_audience=REAL_AUDIENCE,
        resident_idp_id_claim="cert_no",
        resident_idp_name_claim="real_name",
        **changes,
    )


def _real_token(key: SigningKey, **overrides: Any) -> str:
    claims = _claims(iss=REAL_ISSUER, aud=REAL_AUDIENCE, id_number=None, name=None)
    claims.update(cert_no=IDN, real_name=NAME)
    for name, value in overrides.items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    return sign(claims, key, "JWT")


def test_configured_idp_with_a_jwks_file(dev_settings: Settings, tmp_path: Path) -> None:
    key = generate_signing_key("EdDSA")
    path = tmp_path / "idp-jwks.json"
    path.write_text(json.dumps(jwks_document([key])))
    settings = _real_settings(dev_settings, str(path))
    assert not settings.dev_idp_enabled
    auth = ResidentAuthenticator(settings, HASHER)
    assert auth.authenticate(_real_token(key)).id_hash == HASHER.id_hash(IDN)
    # The development IdP means nothing to a configured gateway (its key is not in the set).
    dev_token = DevIdentityProvider(dev_settings).issue_id_token(IDN, NAME)
    _refused(auth, dev_token, UnknownKey)
    # The claim names come from the settings: the default names mean nothing here.
    exc = _refused(auth, _real_token(key, cert_no=None, id_number=IDN), MissingClaim)
    assert exc.extensions["claim"] == "cert_no"


def test_incomplete_or_unusable_idp_configuration(dev_settings: Settings, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError):
        ResidentAuthenticator(replace(dev_settings, mode="production", resident_idp_issuer=REAL_ISSUER), HASHER)
    with pytest.raises(ConfigurationError):
        ResidentAuthenticator(_real_settings(dev_settings, "http://idp.example/jwks"), HASHER)
    with pytest.raises(ConfigurationError):
        ResidentAuthenticator(_real_settings(dev_settings, str(tmp_path / "absent.json")), HASHER)
    (tmp_path / "private.json").write_text(json.dumps({"keys": [{**generate_signing_key().public_jwk(), "d": "AAAA"}]}))
    with pytest.raises(ConfigurationError):
        ResidentAuthenticator(_real_settings(dev_settings, str(tmp_path / "private.json")), HASHER)
    unconfigured = ResidentAuthenticator(replace(dev_settings, mode="production"), HASHER)
    with pytest.raises(ResidentIdpNotConfigured) as info:
        unconfigured.authenticate("x.y.z")
    assert info.value.status == 503


class _Idp:
    """An https JWKS endpoint over httpx.MockTransport that counts its fetches."""

    def __init__(self, *keys: SigningKey) -> None:
        self.keys = list(keys)
        self.fetches = 0
        self.down = False

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.fetches += 1
        if self.down:
            return httpx.Response(503)
        return httpx.Response(200, json=jwks_document(self.keys))


class _Monotonic:
    def __init__(self) -> None:
        self.at = 1000.0

    def __call__(self) -> float:
        return self.at


def test_jwks_url_is_fetched_once_and_refreshed_on_a_new_kid(dev_settings: Settings) -> None:
    old, new = generate_signing_key(), generate_signing_key()
    endpoint, clock = _Idp(old), _Monotonic()
    settings = _real_settings(dev_settings, "https://idp.example.gov.cn/jwks")
    auth = ResidentAuthenticator(settings, HASHER, transport=httpx.MockTransport(endpoint), monotonic=clock)
    for _ in range(3):
        auth.authenticate(_real_token(old))
    assert endpoint.fetches == 1
    # The IdP rotates: the first token with the new kid triggers one refresh.
    clock.at += 31
    endpoint.keys = [old, new]
    assert auth.authenticate(_real_token(new)).id_hash == HASHER.id_hash(IDN)
    assert endpoint.fetches == 2
    # Unknown kids within the cool-down fetch nothing more.
    stranger = generate_signing_key()
    for _ in range(5):
        _refused(auth, _real_token(stranger), UnknownKey)
    assert endpoint.fetches == 2
    # A failed refresh keeps the keys we had.
    clock.at += 31
    endpoint.down = True
    _refused(auth, _real_token(stranger), UnknownKey)
    assert auth.authenticate(_real_token(new)).id_hash == HASHER.id_hash(IDN)


def test_jwks_url_down_at_start(dev_settings: Settings) -> None:
    key = generate_signing_key()
    endpoint, clock = _Idp(key), _Monotonic()
    endpoint.down = True
    settings = _real_settings(dev_settings, "https://idp.example.gov.cn/jwks")
    auth = ResidentAuthenticator(settings, HASHER, transport=httpx.MockTransport(endpoint), monotonic=clock)
    assert _refused(auth, _real_token(key), JwksUnavailable).status == 503
    endpoint.down = False
    _refused(auth, _real_token(key), JwksUnavailable)  # within the cool-down: not refetched
    clock.at += 31
    assert auth.authenticate(_real_token(key)).id_hash == HASHER.id_hash(IDN)
