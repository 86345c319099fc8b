"""Everything a gateway process builds once at start: settings, database engine, catalogue,
scoring model, keyed hasher and partner registry. Routes, the CLI and tests share one instance."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone

from sqlalchemy import Engine

from gateway.catalogue import Catalogue, load_catalogue
from gateway.config import Secrets, Settings, load_secrets
from gateway.partners import PartnerRegistry
from gateway.privacy import Hasher
from gateway.scoring import ScoringModel, load_default_model, load_model
from gateway.store.engine import make_engine, migrate

__all__ = ["CHINA_STANDARD_TIME", "Gateway", "today_in_shaoxing", "utcnow"]

log = logging.getLogger(__name__)
# China has one time zone and no daylight saving: a fixed offset needs no tz database.
CHINA_STANDARD_TIME = timezone(timedelta(hours=8), "CST")


def utcnow() -> datetime:
    return datetime.now(UTC)


def today_in_shaoxing() -> date:
    """Ages, ageing of records and score dates follow the calendar day in Shaoxing."""
    return datetime.now(CHINA_STANDARD_TIME).date()


@dataclass(slots=True)
class Gateway:
    settings: Settings
    secrets: Secrets
    engine: Engine
    catalogue: Catalogue
    model: ScoringModel
    hasher: Hasher
    partners: PartnerRegistry

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
        return cls(
            settings=settings,
            secrets=secrets,
            engine=engine,
            catalogue=catalogue,
            model=model,
            hasher=Hasher(secrets.id_pepper),
            partners=PartnerRegistry(settings.partners_dir),
        )

    def close(self) -> None:
        self.engine.dispose()
