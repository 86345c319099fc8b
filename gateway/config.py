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

__all__ = ["PROJECT_ROOT", "Secrets", "Settings", "bundled_path", "load_secrets"]

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# issue 13: the published files (schemas, mappings, partner registry and programmes, the development
# partners' keys) live once, at the top of the source tree; ``gateway/defaults/`` holds symlinks to
# them, which setuptools follows when it builds the wheel, so an installed gateway carries real copies.
_BUNDLED = Path(__file__).resolve().parent / "defaults"


def bundled_path(name: str) -> Path:
    """The packaged default of one published folder (``schemas``, ``mappings``, ``partners``,
    ``demo-partner-keys``): the checkout's top-level folder in a source tree, the wheel's copy once
    installed. Every ``GATEWAY_*_DIR`` setting overrides what this returns."""
    return _BUNDLED / name


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


def _bool(env: Mapping[str, str], name: str, *, default: bool) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if not raw:
        return default
    if raw not in ("true", "false", "1", "0", "yes", "no"):
        raise ConfigurationError(f"{name} must be true or false.")
    return raw in ("true", "1", "yes")


# issue 11
_STAFF_ROLES = ("mapping_admin", "partner_admin", "credit_officer", "auditor")


def _staff_issuer(env: Mapping[str, str]) -> str | None:
    raw = (env.get("GATEWAY_STAFF_IDP_ISSUER") or "").rstrip("/")
    if not raw:
        return None
    parts = urlsplit(raw)
    if parts.scheme != "https" or not parts.hostname or parts.query or parts.fragment:
        raise ConfigurationError("GATEWAY_STAFF_IDP_ISSUER must be an https URL without query or fragment.")
    if not env.get("GATEWAY_STAFF_IDP_CLIENT_ID"):
        raise ConfigurationError("GATEWAY_STAFF_IDP_ISSUER needs GATEWAY_STAFF_IDP_CLIENT_ID.")
    if not env.get("GATEWAY_STAFF_IDP_CLIENT_SECRET") and not env.get("GATEWAY_STAFF_IDP_PRIVATE_KEY"):
        raise ConfigurationError(
            "GATEWAY_STAFF_IDP_ISSUER needs GATEWAY_STAFF_IDP_CLIENT_SECRET or GATEWAY_STAFF_IDP_PRIVATE_KEY."
        )
    return raw


def _role_map(raw: str) -> tuple[tuple[str, str], ...]:
    """``GATEWAY_STAFF_IDP_ROLE_MAP``: ``idp-group=role,other-group=role``; empty maps names to themselves."""
    pairs: list[tuple[str, str]] = []
    for item in filter(None, (part.strip() for part in raw.split(","))):
        source, sep, role = item.rpartition("=")
        if not sep or not source.strip() or role.strip() not in _STAFF_ROLES:
            raise ConfigurationError(
                f"GATEWAY_STAFF_IDP_ROLE_MAP entries are VALUE=ROLE with ROLE among {', '.join(_STAFF_ROLES)}."
            )
        pairs.append((source.strip(), role.strip()))
    return tuple(pairs)


def _body_limits(raw: str) -> tuple[tuple[str, int], ...]:
    # issue 15: "PREFIX=BYTES,PREFIX=BYTES"
    out: list[tuple[str, int]] = []
    for entry in filter(None, (e.strip() for e in raw.split(","))):
        prefix, _, size = entry.partition("=")
        if not prefix.startswith("/") or not size.isdigit() or not 1 <= int(size) <= 1 << 30:
            raise ConfigurationError("GATEWAY_BODY_LIMITS is a list of /path/prefix=bytes entries.")
        out.append((prefix, int(size)))
    return tuple(out)


# issue 13
def _metrics_token(env: Mapping[str, str]) -> str | None:
    raw = env.get("GATEWAY_METRICS_TOKEN") or None
    if raw is not None and len(raw) < 32:
        raise ConfigurationError("GATEWAY_METRICS_TOKEN must be at least 32 characters (e.g. openssl rand -hex 32).")
    return raw


def _bind(env: Mapping[str, str], name: str) -> tuple[str, int] | None:
    raw = env.get(name)
    if not raw:
        return None
    host, _, port = raw.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigurationError(f"{name} must be host:port, e.g. 127.0.0.1:9100.")
    return host.strip("[]"), int(port)


def _redis_url(env: Mapping[str, str]) -> str | None:
    raw = env.get("GATEWAY_REDIS_URL") or None
    if raw is not None and urlsplit(raw).scheme not in ("redis", "rediss", "unix"):
        raise ConfigurationError("GATEWAY_REDIS_URL must be a redis://, rediss:// or unix:// URL.")
    return raw


@dataclass(frozen=True, slots=True)
class Settings:
    mode: Mode = "development"
    data_dir: Path = field(default_factory=lambda: Path.cwd() / "gateway-data")
    database_url: str | None = None
    partners_dir: Path = field(default_factory=lambda: bundled_path("partners"))
    mappings_dir: Path = field(default_factory=lambda: bundled_path("mappings"))
    schemas_dir: Path = field(default_factory=lambda: bundled_path("schemas"))
    scoring_model_path: Path | None = None
    catalogue_path: Path | None = None
    issuer: str = DEFAULT_ISSUER
    max_batch_records: int = 5000
    max_body_bytes: int = 16 * 1024 * 1024
    recompute_chunk: int = 5000
    recompute_workers: int = 2  # processes scoring a full recompute's chunks; the caller writes (issue 12)
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
    # Residents' rights (measure 四): evidence limits, token status lists (time limits: issue 14 below).
    evidence_max_bytes: int = 5 * 1024 * 1024
    evidence_types: tuple[str, ...] = ("application/pdf", "image/jpeg", "image/png")
    status_list_size: int = 1 << 20
    status_list_max_age: int = 60
    # issue 14: objections and repair to the national standard. Limits are in working days of the
    # calendar file (official holidays and 调休); a cannot-confirm record stops counting by default.
    working_calendar_path: Path | None = None
    objection_accept_working_days: int = 2
    objection_forward_working_days: int = 2
    unit_answer_working_days: int = 10
    objection_final_working_days: int = 20
    repair_decision_working_days: int = 20
    cannot_confirm_counts: bool = False
    # issue 16: whether the published scoring-model summary shows weights and point values (the
    # office decides, measure 三(一)); off by default, as 钱江分 publishes its dimensions only.
    publish_model_weights: bool = False
    # issue 11: staff sign-in (OIDC code flow + PKCE) and the web pages' sessions.
    staff_idp_issuer: str | None = None
    staff_idp_client_id: str | None = None
    staff_idp_client_secret: str | None = field(default=None, repr=False)
    staff_idp_private_key: Path | None = None  # PEM for private_key_jwt, instead of a secret
    staff_idp_roles_claim: str = "roles"
    staff_idp_role_map: tuple[tuple[str, str], ...] = ()  # (IdP value, gateway role); empty: identity
    session_idle_seconds: int = 30 * 60
    session_absolute_seconds: int = 8 * 3600
    kiosk_idle_seconds: int = 120
    # issue 11: residents' page sign-in at the real-name IdP (code flow + PKCE); unset: not configured.
    resident_idp_client_id: str | None = None
    resident_idp_client_secret: str | None = field(default=None, repr=False)
    resident_idp_private_key: Path | None = None  # PEM for private_key_jwt, instead of a secret
    # issue 15: every request body is bounded as it streams in (gateway.api.body_limit); routes not
    # named in ``body_limits()`` get ``max_request_bytes``; JSON nests at most ``json_max_depth``.
    max_request_bytes: int = 64 * 1024
    token_max_bytes: int = 16 * 1024
    admin_max_bytes: int = 1024 * 1024
    extra_body_limits: tuple[tuple[str, int], ...] = ()
    json_max_depth: int = 32
    # issue 9: residents' scoring authorisation — how long records are kept after a withdrawal (so a
    # pending objection can finish) and how long records about never-authorised people are kept.
    retention_after_withdrawal_days: int = 30
    unauthorised_retention_days: int = 180
    # issue 13: operations (logs, metrics, rate limits, audit anchors).
    log_format: str = "text"
    metrics_token: str | None = field(default=None, repr=False)
    metrics_loopback: bool = False
    metrics_bind: tuple[str, int] | None = None
    redis_url: str | None = field(default=None, repr=False)
    audit_anchor_file: Path | None = None
    audit_anchor_interval: int = 3600
    webhook_worker: bool = False
    # Finished webhook events (delivered, dead, no endpoint) and their attempt log are deleted by the
    # retention run after this many days; pending events are kept until they finish.
    webhook_retention_days: int = 90
    otel: bool = False
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
            partners_dir=_path(env, "GATEWAY_PARTNERS_DIR", bundled_path("partners")),
            mappings_dir=_path(env, "GATEWAY_MAPPINGS_DIR", bundled_path("mappings")),
            schemas_dir=_path(env, "GATEWAY_SCHEMAS_DIR", bundled_path("schemas")),
            scoring_model_path=Path(model).resolve() if model else None,
            catalogue_path=Path(catalogue).resolve() if catalogue else None,
            issuer=issuer,
            max_batch_records=_int(env, "GATEWAY_MAX_BATCH_RECORDS", 5000, low=1, high=100_000),
            max_body_bytes=_int(env, "GATEWAY_MAX_BODY_BYTES", 16 * 1024 * 1024, low=1024, high=1 << 30),
            recompute_chunk=_int(env, "GATEWAY_RECOMPUTE_CHUNK", 5000, low=100, high=100_000),
            recompute_workers=_int(env, "GATEWAY_RECOMPUTE_WORKERS", 2, low=1, high=64),
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
            evidence_max_bytes=_int(env, "GATEWAY_EVIDENCE_MAX_BYTES", 5 * 1024 * 1024, low=1024, high=64 << 20),
            # Large lists give herd privacy; 2 bits per entry, so 2**20 entries are 256 KiB uncompressed.
            status_list_size=_int(env, "GATEWAY_STATUS_LIST_SIZE", 1 << 20, low=16, high=1 << 26),
            status_list_max_age=_int(env, "GATEWAY_STATUS_LIST_MAX_AGE", 60, low=1, high=3600),
            # issue 14
            working_calendar_path=_path(env, "GATEWAY_WORKING_CALENDAR", None),
            objection_accept_working_days=_int(env, "GATEWAY_OBJECTION_ACCEPT_WORKING_DAYS", 2, low=1, high=60),
            objection_forward_working_days=_int(env, "GATEWAY_OBJECTION_FORWARD_WORKING_DAYS", 2, low=1, high=60),
            unit_answer_working_days=_int(env, "GATEWAY_UNIT_ANSWER_WORKING_DAYS", 10, low=1, high=60),
            objection_final_working_days=_int(env, "GATEWAY_OBJECTION_FINAL_WORKING_DAYS", 20, low=1, high=120),
            repair_decision_working_days=_int(env, "GATEWAY_REPAIR_DECISION_WORKING_DAYS", 20, low=1, high=120),
            cannot_confirm_counts=_bool(env, "GATEWAY_CANNOT_CONFIRM_COUNTS", default=False),
            # issue 16
            publish_model_weights=_choice(env, "GATEWAY_PUBLISH_MODEL_WEIGHTS", "false", ("true", "false")) == "true",
            # issue 11
            staff_idp_issuer=_staff_issuer(env),
            staff_idp_client_id=env.get("GATEWAY_STAFF_IDP_CLIENT_ID") or None,
            staff_idp_client_secret=env.get("GATEWAY_STAFF_IDP_CLIENT_SECRET") or None,
            staff_idp_private_key=_path(env, "GATEWAY_STAFF_IDP_PRIVATE_KEY", None),
            staff_idp_roles_claim=env.get("GATEWAY_STAFF_IDP_ROLES_CLAIM") or "roles",
            staff_idp_role_map=_role_map(env.get("GATEWAY_STAFF_IDP_ROLE_MAP", "")),
            resident_idp_client_id=env.get("GATEWAY_RESIDENT_IDP_CLIENT_ID") or None,
            resident_idp_client_secret=env.get("GATEWAY_RESIDENT_IDP_CLIENT_SECRET") or None,
            resident_idp_private_key=_path(env, "GATEWAY_RESIDENT_IDP_PRIVATE_KEY", None),
            session_idle_seconds=_int(env, "GATEWAY_SESSION_IDLE_SECONDS", 30 * 60, low=60, high=24 * 3600),
            session_absolute_seconds=_int(env, "GATEWAY_SESSION_ABSOLUTE_SECONDS", 8 * 3600, low=300, high=7 * 86400),
            kiosk_idle_seconds=_int(env, "GATEWAY_KIOSK_IDLE_SECONDS", 120, low=15, high=3600),
            # issue 15
            max_request_bytes=_int(env, "GATEWAY_MAX_REQUEST_BYTES", 64 * 1024, low=1024, high=64 << 20),
            token_max_bytes=_int(env, "GATEWAY_TOKEN_MAX_BYTES", 16 * 1024, low=1024, high=1 << 20),
            admin_max_bytes=_int(env, "GATEWAY_ADMIN_MAX_BYTES", 1024 * 1024, low=1024, high=64 << 20),
            extra_body_limits=_body_limits(env.get("GATEWAY_BODY_LIMITS", "")),
            json_max_depth=_int(env, "GATEWAY_JSON_MAX_DEPTH", 32, low=4, high=256),
            # issue 9
            retention_after_withdrawal_days=_int(env, "GATEWAY_RETENTION_AFTER_WITHDRAWAL_DAYS", 30, low=0, high=3650),
            unauthorised_retention_days=_int(env, "GATEWAY_UNAUTHORISED_RETENTION_DAYS", 180, low=0, high=3650),
            # issue 13
            log_format=_choice(
                env, "GATEWAY_LOG_FORMAT", "text" if mode == "development" else "json", ("json", "text")
            ),
            metrics_token=_metrics_token(env),
            metrics_loopback=_choice(env, "GATEWAY_METRICS_LOOPBACK", "0", ("0", "1")) == "1",
            metrics_bind=_bind(env, "GATEWAY_METRICS_BIND"),
            redis_url=_redis_url(env),
            audit_anchor_file=_path(env, "GATEWAY_AUDIT_ANCHOR_FILE", None),
            otel=_choice(env, "GATEWAY_OTEL", "0", ("0", "1")) == "1",
            webhook_worker=_choice(env, "GATEWAY_WEBHOOK_WORKER", "0", ("0", "1")) == "1",
            webhook_retention_days=_int(env, "GATEWAY_WEBHOOK_RETENTION_DAYS", 90, low=1, high=3650),
            audit_anchor_interval=_int(env, "GATEWAY_AUDIT_ANCHOR_SECONDS", 3600, low=0, high=7 * 24 * 3600),
            # issue 10
            credential_lifetime=_int(env, "GATEWAY_CREDENTIAL_LIFETIME", 30 * 86400, low=3600, high=90 * 86400),
            presentation_request_lifetime=_int(env, "GATEWAY_PRESENTATION_REQUEST_LIFETIME", 300, low=30, high=300),
        )

    def body_limits(self) -> tuple[tuple[str, int], ...]:
        """(path prefix, bytes) pairs, longest prefix first; the first that matches a request's
        path bounds its body, else ``max_request_bytes``. ``GATEWAY_BODY_LIMITS`` adds or overrides
        entries (``/v1/some/route=1048576,/v1/other=2048``) for routes that need more."""
        table = dict(
            (
                ("/oauth/token", self.token_max_bytes),
                ("/v1/ingest/records", self.max_body_bytes),
                # The route answers its own ``evidence_too_large`` at the exact limit; this is the ceiling.
                ("/v1/me/evidence", self.evidence_max_bytes + 64 * 1024),
                ("/v1/admin/", self.admin_max_bytes),
                # The residents' objection form carries up to three evidence files (web pages).
                ("/me/objections", 3 * self.evidence_max_bytes + 64 * 1024),
            )
        )
        table.update(dict(self.extra_body_limits))
        return tuple(sorted(table.items(), key=lambda kv: -len(kv[0])))

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

    @property
    def dev_staff_idp_enabled(self) -> bool:
        """issue 11: the development staff IdP signs staff in when no real one is configured; never in
        production (there the console's sign-in answers that no identity provider is configured)."""
        return self.development and self.staff_idp_issuer is None


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
