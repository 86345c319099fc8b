"""``gateway doctor``: what an operator needs to know before starting the gateway.

Each check reads the configuration the way ``gateway serve`` would and reports one line; a failing
check says which setting to change. Nothing here prints a secret, a URL's password or a key.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, select, text

from gateway.config import Settings, load_secrets
from gateway.errors import GatewayError

__all__ = ["Check", "run_doctor"]


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str


def _configuration(env: Mapping[str, str]) -> tuple[Check, Settings | None]:
    try:
        settings = Settings.from_env(env)
        load_secrets(settings, env)
    except GatewayError as exc:
        return Check("configuration", False, exc.detail), None
    return Check("configuration", True, f"{settings.mode} mode, data directory {settings.data_dir}"), settings


def _database(settings: Settings) -> tuple[Check, Engine | None]:
    from gateway.store.engine import make_engine

    try:
        engine = make_engine(settings.effective_database_url)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except GatewayError as exc:
        return Check("database", False, exc.detail), None
    except Exception:
        return Check(
            "database", False, "cannot connect: check GATEWAY_DATABASE_URL and that the server is running"
        ), None
    return Check("database", True, f"{engine.dialect.name} reachable"), engine


def _migrations(engine: Engine) -> Check:
    from gateway.store.engine import alembic_config

    heads = set(ScriptDirectory.from_config(alembic_config()).get_heads())
    with engine.connect() as conn:
        current = set(MigrationContext.configure(conn).get_current_heads())
    if current == heads:
        return Check("migrations", True, f"at {', '.join(sorted(heads))}")
    shown = ", ".join(sorted(current)) or "empty"
    return Check(
        "migrations", False, f"schema at {shown}, code expects {', '.join(sorted(heads))}: run gateway migrate"
    )


def _keys(settings: Settings, engine: Engine) -> Check:
    from gateway.exchange import read_signing_key
    from gateway.store.tables import signing_keys

    try:
        with engine.connect() as conn:
            rows = conn.execute(select(signing_keys.c.kid, signing_keys.c.state, signing_keys.c.key_file)).all()
    except Exception:
        return Check("keys", False, "no signing_keys table: run gateway migrate")
    active = [r for r in rows if r.state == "active"]
    if not active:
        hint = "put PEM files in GATEWAY_SIGNING_KEYS_DIR" if not settings.development else "start the gateway once"
        return Check("keys", not rows and settings.development, f"no active signing key yet: {hint}")
    for row in active:
        path = settings.keys_dir / os.path.basename(row.key_file)
        try:
            read_signing_key(path)
        except GatewayError:
            return Check("keys", False, f"the active key's file {path.name} cannot be read in {settings.keys_dir}")
    return Check("keys", True, f"{len(active)} active, {len(rows)} known, directory {settings.keys_dir}")


def _partners(settings: Settings) -> Check:
    from gateway.exchange.tiers import load_mappings
    from gateway.partners import load_partner_documents

    try:
        partners = load_partner_documents(settings.partners_dir)
        mappings = load_mappings(settings.mappings_dir)
    except GatewayError as exc:
        return Check("partner files", False, exc.detail)
    return Check(
        "partner files",
        True,
        f"{len(partners)} partners in {settings.partners_dir}, {len(mappings.schemes)} tier schemes",
    )


def run_doctor(env: Mapping[str, str] | None = None, report: Callable[[Check], None] | None = None) -> list[Check]:
    """Run every check that can run (a later one needs the earlier ones to pass)."""
    env = os.environ if env is None else env
    checks: list[Check] = []

    def add(check: Check) -> None:
        checks.append(check)
        if report is not None:
            report(check)

    check, settings = _configuration(env)
    add(check)
    if settings is None:
        return checks
    add(_partners(settings))
    check, engine = _database(settings)
    add(check)
    if engine is None:
        return checks
    try:
        add(_migrations(engine))
        add(_keys(settings, engine))
    finally:
        engine.dispose()
    return checks
