"""Everything a gateway process builds once at start: settings, database engine, catalogue,
scoring model, keyed hasher and partner registry. Routes, the CLI and tests share one instance."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import Engine

from gateway.catalogue import Catalogue, load_catalogue
from gateway.clock import today_in_shaoxing, utcnow
from gateway.config import Secrets, Settings, load_secrets
from gateway.exchange.tiers import Mappings, load_mappings
from gateway.partners import PartnerRegistry
from gateway.privacy import Hasher
from gateway.scoring import ScoringModel, load_default_model, load_model
from gateway.services.admins import AdminTokens
from gateway.services.keyring import Keyring
from gateway.services.oauth import OAuthServer
from gateway.services.resident_identity import ResidentAuthenticator
from gateway.store.engine import make_engine, migrate

__all__ = ["Gateway", "today_in_shaoxing", "utcnow"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Gateway:
    settings: Settings
    secrets: Secrets
    engine: Engine
    catalogue: Catalogue
    model: ScoringModel
    hasher: Hasher
    partners: PartnerRegistry
    mappings: Mappings
    keyring: Keyring
    residents: ResidentAuthenticator
    oauth: OAuthServer
    admins: AdminTokens

    @classmethod
    def build(cls, settings: Settings | None = None, *, run_migrations: bool | None = None) -> Gateway:
        """Build the process's context. The embedded SQLite default migrates itself; PostgreSQL
        deployments run ``gateway migrate`` explicitly unless ``run_migrations`` says otherwise."""
        settings = settings or Settings.from_env()
        secrets = load_secrets(settings)
        engine = make_engine(settings.effective_database_url)
        if run_migrations if run_migrations is not None else settings.database_url is None:
            migrate(engine)
        catalogue = load_catalogue(settings.catalogue_path)
        known = set(catalogue.indicator_items)
        model = (
            load_model(settings.scoring_model_path, known_items=known)
            if settings.scoring_model_path
            else load_default_model(known_items=known)
        )
        hasher = Hasher(secrets.id_pepper)
        keyring = Keyring(settings, engine)
        keyring.ensure()
        partners = PartnerRegistry(settings.partners_dir)
        return cls(
            settings=settings,
            secrets=secrets,
            engine=engine,
            catalogue=catalogue,
            model=model,
            hasher=hasher,
            partners=partners,
            mappings=load_mappings(settings.mappings_dir),
            keyring=keyring,
            residents=ResidentAuthenticator(settings, hasher),
            oauth=OAuthServer(settings, engine, keyring, partners),
            admins=AdminTokens(settings, keyring),
        )

    def close(self) -> None:
        self.engine.dispose()
