"""Everything a gateway process builds once at start: settings, database engine, catalogue,
scoring model, keyed hasher and partner registry. Routes, the CLI and tests share one instance."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import Engine

from gateway.catalogue import Catalogue, load_catalogue
from gateway.clock import today_in_shaoxing, utcnow
from gateway.config import Secrets, Settings, load_secrets
from gateway.partners import PartnerRegistry
from gateway.privacy import Hasher
from gateway.scoring import ScoringModel, load_default_model, load_model
from gateway.services.admin.admins import AdminTokens
from gateway.services.exchange.keyring import Keyring
from gateway.services.exchange.oauth import OAuthServer
from gateway.services.exchange.status_lists import StatusListService
from gateway.services.operations.refresh import REFRESH_SECONDS, PeriodicRefresh
from gateway.services.publication.programme_registry import ProgrammeRegistry
from gateway.services.recognition.crosswalks import CrosswalkRegistry, MappingsView
from gateway.services.recognition.partner_keys import PartnerKeys
from gateway.services.residents.resident_identity import ResidentAuthenticator
from gateway.services.rights.evidence import import_evidence_files
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
    mappings: MappingsView  # published crosswalks from the database, schemes from mappings/
    keyring: Keyring
    residents: ResidentAuthenticator
    oauth: OAuthServer
    admins: AdminTokens
    programmes: ProgrammeRegistry  # published programmes from the database, seeded from partners/programmes
    partner_keys: PartnerKeys
    status_lists: StatusListService
    refresher: PeriodicRefresh | None = None

    @classmethod
    def build(
        cls, settings: Settings | None = None, *, run_migrations: bool | None = None, background_refresh: bool = True
    ) -> Gateway:
        """Build the process's context. The embedded SQLite default migrates itself; PostgreSQL
        deployments run ``gateway migrate`` explicitly unless ``run_migrations`` says otherwise."""
        settings = settings or Settings.from_env()
        secrets = load_secrets(settings)
        engine = make_engine(settings.effective_database_url)
        if run_migrations if run_migrations is not None else settings.database_url is None:
            migrate(engine)
        import_evidence_files(engine, settings.data_dir)  # files of the former on-disk store, once
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
        partners = PartnerRegistry(settings.partners_dir, engine)
        # Crosswalk files are seeded into the database once; every process then serves what is published there.
        mappings = CrosswalkRegistry.seeded(engine, settings.mappings_dir)
        gateway = cls(
            settings=settings,
            secrets=secrets,
            engine=engine,
            catalogue=catalogue,
            model=model,
            hasher=hasher,
            partners=partners,
            mappings=mappings,
            keyring=keyring,
            residents=ResidentAuthenticator(settings, hasher),
            oauth=OAuthServer(settings, engine, keyring, partners),
            admins=AdminTokens(settings, keyring),
            programmes=ProgrammeRegistry.seeded(
                engine, settings.partners_dir / "programmes", schemes=mappings.schemes, partners=partners
            ),
            partner_keys=PartnerKeys(),
            status_lists=StatusListService(settings, engine, keyring),
        )
        # Issue 16: the model and catalogue files are the seed; the versions published in the
        # database are in force in every process (imported here: the module uses this one).
        from gateway.services.publication import model_admin, model_governance

        model_governance.seed(engine, settings.scoring_model_path, settings.catalogue_path)
        model_admin.refresh(gateway)
        if background_refresh:  # one-shot CLI commands need no refresher
            gateway.refresher = PeriodicRefresh(
                REFRESH_SECONDS,
                partners.reload_if_changed,
                partners.refresh_overrides,
                mappings.refresh,
                gateway.programmes.refresh,
                lambda: model_admin.refresh(gateway),
            )
            gateway.refresher.start()
        return gateway

    def close(self) -> None:
        if self.refresher is not None:
            self.refresher.stop()
        self.engine.dispose()
