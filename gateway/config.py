"""Typed settings from ``GATEWAY_*`` environment variables.

Development mode (the default) generates missing secrets into the data directory so that a fresh
checkout runs; production mode refuses to start without real ones. Nothing here reads a secret
into a log line or an error message.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, overload
from urllib.parse import urlsplit

from gateway.errors import ConfigurationError

__all__ = ["PROJECT_ROOT", "Secrets", "Settings", "load_secrets"]

PROJECT_ROOT = Path(__file__).resolve().parent.parent
Mode = Literal["development", "production"]

DEFAULT_ISSUER = "https://score-gateway.shaoxing.example"
_MIN_SECRET_BYTES = 32


def _int(env: Mapping[str, str], name: str, default: int, *, low: int, high: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be an integer.") from None
    if not low <= value <= high:
        raise ConfigurationError(f"{name} must be between {low} and {high}.")
    return value


@overload
def _path(env: Mapping[str, str], name: str, default: Path) -> Path: ...
@overload
def _path(env: Mapping[str, str], name: str, default: None) -> Path | None: ...
def _path(env: Mapping[str, str], name: str, default: Path | None) -> Path | None:
    raw = env.get(name)
    return Path(raw).expanduser().resolve() if raw else default


def _choice(env: Mapping[str, str], name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = env.get(name) or default
    if value not in allowed:
        raise ConfigurationError(f"{name} must be one of {', '.join(allowed)}.")
    return value


@dataclass(frozen=True, slots=True)
class Settings:
    mode: Mode = "development"
    data_dir: Path = field(default_factory=lambda: Path.cwd() / "gateway-data")
    database_url: str | None = None
    partners_dir: Path = PROJECT_ROOT / "partners"
    mappings_dir: Path = PROJECT_ROOT / "mappings"
    schemas_dir: Path = PROJECT_ROOT / "schemas"
    scoring_model_path: Path | None = None
    catalogue_path: Path | None = None
    issuer: str = DEFAULT_ISSUER
    max_batch_records: int = 5000
    max_body_bytes: int = 16 * 1024 * 1024
    recompute_chunk: int = 5000
    log_level: str = "INFO"
    signing_alg: str = "ES256"
    signing_keys_dir: Path | None = None
    assertion_lifetime: int = 24 * 3600
    access_token_lifetime: int = 300
    resident_idp_issuer: str | None = None
    resident_idp_jwks: str | None = None
    resident_idp_audience: str | None = None
    resident_idp_id_claim: str = "id_number"
    resident_idp_name_claim: str = "name"
    resident_idp_typ: str = "JWT"
    # Residents' rights (measure 四): objection time limit, evidence limits, token status lists.
    objection_days: int = 15
    evidence_max_bytes: int = 5 * 1024 * 1024
    evidence_types: tuple[str, ...] = ("application/pdf", "image/jpeg", "image/png")
    status_list_size: int = 1 << 20
    status_list_max_age: int = 60
    # issue 10: the credit code (SD-JWT VC): credential lifetime (≤ 90 d), presentation windows.
    credential_lifetime: int = 30 * 86400
    presentation_request_lifetime: int = 300

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        mode = env.get("GATEWAY_MODE", "development")
        if mode not in ("development", "production"):
            raise ConfigurationError("GATEWAY_MODE must be 'development' or 'production'.")
        issuer = env.get("GATEWAY_ISSUER", DEFAULT_ISSUER).rstrip("/")
        parts = urlsplit(issuer)
        if parts.scheme != "https" or not parts.hostname or parts.query or parts.fragment:
            raise ConfigurationError("GATEWAY_ISSUER must be an https URL without query or fragment.")
        if mode == "production" and issuer == DEFAULT_ISSUER:
            raise ConfigurationError("GATEWAY_ISSUER must name this deployment in production mode.")
        if mode == "production":
            missing = [
                n
                for n in (
                    "GATEWAY_SIGNING_KEYS_DIR",
                    "GATEWAY_RESIDENT_IDP_ISSUER",
                    "GATEWAY_RESIDENT_IDP_JWKS",
                    "GATEWAY_RESIDENT_IDP_AUDIENCE",
                )
                if not env.get(n)
            ]
            if missing:
                # Production never generates keys and never falls back to the development IdP.
                raise ConfigurationError(f"Production mode needs {', '.join(missing)}.")
        model = env.get("GATEWAY_SCORING_MODEL")
        catalogue = env.get("GATEWAY_CATALOGUE")
        return cls(
            mode=mode,  # type: ignore[arg-type]  # checked above
            data_dir=_path(env, "GATEWAY_DATA_DIR", Path.cwd() / "gateway-data"),
            database_url=env.get("GATEWAY_DATABASE_URL") or None,
            partners_dir=_path(env, "GATEWAY_PARTNERS_DIR", PROJECT_ROOT / "partners"),
            mappings_dir=_path(env, "GATEWAY_MAPPINGS_DIR", PROJECT_ROOT / "mappings"),
            schemas_dir=_path(env, "GATEWAY_SCHEMAS_DIR", PROJECT_ROOT / "schemas"),
            scoring_model_path=Path(model).resolve() if model else None,
            catalogue_path=Path(catalogue).resolve() if catalogue else None,
            issuer=issuer,
            max_batch_records=_int(env, "GATEWAY_MAX_BATCH_RECORDS", 5000, low=1, high=100_000),
            max_body_bytes=_int(env, "GATEWAY_MAX_BODY_BYTES", 16 * 1024 * 1024, low=1024, high=1 << 30),
            recompute_chunk=_int(env, "GATEWAY_RECOMPUTE_CHUNK", 5000, low=100, high=100_000),
            log_level=env.get("GATEWAY_LOG_LEVEL", "INFO").upper(),
            signing_alg=_choice(env, "GATEWAY_SIGNING_ALG", "ES256", ("ES256", "EdDSA")),
            signing_keys_dir=_path(env, "GATEWAY_SIGNING_KEYS_DIR", None),
            # RFC 8725 asks for short lives; the issue caps assertions at 7 days, tokens at 10 min.
            assertion_lifetime=_int(env, "GATEWAY_ASSERTION_LIFETIME", 24 * 3600, low=60, high=7 * 24 * 3600),
            access_token_lifetime=_int(env, "GATEWAY_ACCESS_TOKEN_LIFETIME", 300, low=30, high=600),
            resident_idp_issuer=env.get("GATEWAY_RESIDENT_IDP_ISSUER") or None,
            resident_idp_jwks=env.get("GATEWAY_RESIDENT_IDP_JWKS") or None,
            resident_idp_audience=env.get("GATEWAY_RESIDENT_IDP_AUDIENCE") or None,
            resident_idp_id_claim=env.get("GATEWAY_RESIDENT_IDP_ID_CLAIM", "id_number"),
            resident_idp_name_claim=env.get("GATEWAY_RESIDENT_IDP_NAME_CLAIM", "name"),
            resident_idp_typ=env.get("GATEWAY_RESIDENT_IDP_TYP", "JWT"),
            objection_days=_int(env, "GATEWAY_OBJECTION_DAYS", 15, low=1, high=365),
            evidence_max_bytes=_int(env, "GATEWAY_EVIDENCE_MAX_BYTES", 5 * 1024 * 1024, low=1024, high=64 << 20),
            # Large lists give herd privacy; 2 bits per entry, so 2**20 entries are 256 KiB uncompressed.
            status_list_size=_int(env, "GATEWAY_STATUS_LIST_SIZE", 1 << 20, low=16, high=1 << 26),
            status_list_max_age=_int(env, "GATEWAY_STATUS_LIST_MAX_AGE", 60, low=1, high=3600),
            # issue 10
            credential_lifetime=_int(env, "GATEWAY_CREDENTIAL_LIFETIME", 30 * 86400, low=3600, high=90 * 86400),
            presentation_request_lifetime=_int(env, "GATEWAY_PRESENTATION_REQUEST_LIFETIME", 300, low=30, high=300),
        )

    @property
    def development(self) -> bool:
        return self.mode == "development"

    @property
    def effective_database_url(self) -> str:
        """The configured URL, or the embedded SQLite file in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'gateway.sqlite3'}"

    @property
    def secrets_dir(self) -> Path:
        return self.data_dir / "secrets"

    @property
    def keys_dir(self) -> Path:
        """Where the gateway's private signing keys live (0600 PEM files)."""
        return self.signing_keys_dir or self.data_dir / "keys"

    @property
    def dev_idp_enabled(self) -> bool:
        """The development identity provider stands in when no real one is configured; never in
        production (``Settings.from_env`` and ``check_production`` refuse that)."""
        return self.development and self.resident_idp_issuer is None


@dataclass(frozen=True, slots=True, repr=False)
class Secrets:
    """Key material for keyed hashes; ``repr`` never shows it."""

    id_pepper: bytes

    def __repr__(self) -> str:
        return "Secrets(<redacted>)"


def _read_or_create_secret(path: Path, *, create: bool) -> bytes | None:
    if path.exists():
        return bytes.fromhex(path.read_text().strip())
    if not create:
        return None
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    value = secrets.token_bytes(32)
    # O_EXCL: two processes starting at once must not overwrite each other's pepper.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return bytes.fromhex(path.read_text().strip())
    with os.fdopen(fd, "w") as fh:
        fh.write(value.hex())
    return value


def load_secrets(settings: Settings, env: Mapping[str, str] | None = None) -> Secrets:
    """Resolve the ID pepper: ``GATEWAY_ID_PEPPER`` (hex, ≥ 32 bytes), else in development a
    generated file in the data directory; production refuses to start without the variable."""
    env = os.environ if env is None else env
    raw = env.get("GATEWAY_ID_PEPPER")
    if raw:
        try:
            pepper = bytes.fromhex(raw)
        except ValueError:
            raise ConfigurationError("GATEWAY_ID_PEPPER must be hex-encoded.") from None
        if len(pepper) < _MIN_SECRET_BYTES or len(set(pepper)) < 8:
            raise ConfigurationError("GATEWAY_ID_PEPPER must hold at least 32 random bytes.")
        return Secrets(id_pepper=pepper)
    if not settings.development:
        raise ConfigurationError("GATEWAY_ID_PEPPER is required in production mode.")
    generated = _read_or_create_secret(settings.secrets_dir / "id-pepper.hex", create=True)
    assert generated is not None
    return Secrets(id_pepper=generated)
