"""The scoring model and the catalogue governed like crosswalks: a draft's impact preview against a
hand-computed distribution, publishing rescores everyone and supersedes assertions whose tier
changed, rollback restores the previous version's scores; ETags, audit, the CLI and the API."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from gateway.api.app import create_app
from gateway.cli import main
from gateway.config import PROJECT_ROOT, Settings
from gateway.errors import DocumentRejected, ValidationFailed
from gateway.exchange import Status
from gateway.privacy import mask_name
from gateway.scoring import parse_resident_id
from gateway.scoring.model import DEFAULT_MODEL_PATH
from gateway.services.admin.preconditions import PreconditionFailed, PreconditionRequired
from gateway.services.context import Gateway
from gateway.services.exchange.issuance import issue_assertion
from gateway.services.exchange.oauth import PartnerPrincipal, partner_scopes
from gateway.services.publication import model_admin as ma
from gateway.services.publication.governance import NothingToRollBack
from gateway.services.residents.consents import grant_consent
from gateway.services.residents.resident_identity import Resident
from gateway.store.tables import audit_log, current_scores, people, status_slots
from tests.publication.support import POPULATION, enrol_population
from tests.support import NAMES

NEXT = "2026.2"


def _draft_model() -> dict[str, Any]:
    """The default model with the provincial evaluation's 800 and 850 points raised by 40 and 20:
    820 → 676 (C instead of D, 644); 1000 → 750, 900 → 720, 850 → 700, 700 → 500 unchanged tiers."""
    doc: dict[str, Any] = json.loads(DEFAULT_MODEL_PATH.read_text(encoding="utf-8"))
    doc["version"] = NEXT
    evaluation = next(i for i in doc["indicators"] if i["code"] == "provincial_evaluation")
    evaluation["scale"] = [[x, {800: 660, 850: 700}.get(x, y)] for x, y in evaluation["scale"]]
    return doc


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Iterator[Settings]:
    """The shipped mappings plus the tier scheme and crosswalk of the next model version."""
    mappings = tmp_path / "mappings"
    shutil.copytree(PROJECT_ROOT / "mappings", mappings)
    scheme = json.loads((mappings / "schemes" / "sx-integrity-2026.1.json").read_text(encoding="utf-8"))
    scheme["scheme"] = f"sx-integrity/{NEXT}"
    (mappings / "schemes" / f"sx-integrity-{NEXT}.json").write_text(json.dumps(scheme), encoding="utf-8")
    crosswalk = json.loads((mappings / "crosswalks" / "sx-integrity-yrd-common.json").read_text(encoding="utf-8"))
    crosswalk.update(id="sx-integrity-2026-2-yrd-common", local_scheme=f"sx-integrity/{NEXT}")
    (mappings / "crosswalks" / "sx-integrity-2026-2-yrd-common.json").write_text(
        json.dumps(crosswalk), encoding="utf-8"
    )
    yield replace(settings, mappings_dir=mappings)


def _resident(gw: Gateway, idn: str, name: str) -> Resident:
    rid = parse_resident_id(idn)
    return Resident(gw.hasher.id_hash(rid.normalised), gw.hasher.name_hash(name), mask_name(name), rid.birth_date)


def _tier_assertion(gw: Gateway, idn: str, name: str) -> str:
    grant_consent(
        gw,
        _resident(gw, idn, name),
        audience="sx-example-bank",
        purposes=["loan_discount"],
        disclosure="tier",
        channel="app",
    )
    partner = gw.partners.enabled("sx-example-bank")
    assert partner is not None
    principal = PartnerPrincipal(partner, partner_scopes(partner), "test")
    return issue_assertion(gw, principal, id_number=idn, name=name, purpose="loan_discount", disclosure="tier").jti


def _scores(gw: Gateway) -> dict[int, tuple[int | None, str | None, str]]:
    with gw.engine.connect() as conn:
        rows = conn.execute(
            select(
                current_scores.c.person_id,
                current_scores.c.score,
                current_scores.c.tier,
                current_scores.c.model_version,
            )
        ).all()
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def test_the_seed_is_the_file_and_the_database_is_in_force(gw: Gateway) -> None:
    view = ma.show(gw, "model")
    assert view["published_version"] == 1 and view["history"][0]["created_by"] == "seed:files"
    assert view["document"]["version"] == gw.model.version == "2026.1"
    assert ma.show(gw, "catalogue")["document"]["version"] == gw.catalogue.version


def test_a_draft_preview_matches_a_hand_computed_distribution(gw: Gateway) -> None:
    enrol_population(gw)
    result = ma.preview_model(gw, document=_draft_model())
    assert (result["population"], result["scored"], result["sampled"]) == (5, 5, False)
    tiers = {row["tier"]: (row["live"], row["draft"]) for row in result["tiers"]}
    # Live: 750 B, 720 C, 680 C, 644 D, 500 E.  Draft: 750 B, 720 C, 700 C, 676 C, 500 E.
    assert tiers == {"A": (0, 0), "B": (1, 1), "C": (2, 3), "D": (1, 0), "E": (1, 1)}
    assert result["changed"] == 1 and result["moves"] == [{"from": "D", "to": "C", "residents": 1}]
    # Beyond the bound, a systematic sample of stated size.
    sampled = ma.preview_model(gw, document=_draft_model(), max_people=2)
    assert sampled["sampled"] is True and sampled["sample_every"] == 3 and sampled["scored"] == 2
    assert sum(row["live"] for row in sampled["tiers"]) == 2


def test_drafts_are_checked_like_the_model_file(gw: Gateway) -> None:
    broken = _draft_model()
    broken["tiers"][0]["min"] = 900  # leaves a gap
    with pytest.raises(DocumentRejected, match="gap"):
        ma.validate(gw, "model", broken)
    unknown = {**_draft_model(), "version": "2027.9"}  # no published tier scheme for it
    with pytest.raises(DocumentRejected, match="tier scheme"):
        ma.validate(gw, "model", unknown)
    etag = ma.show(gw, "model")["etag"]
    with pytest.raises(NothingToRollBack):  # only the seed was ever published
        ma.rollback(gw, "model", "office", reason="x", if_match=etag)
    with pytest.raises(PreconditionRequired):
        ma.create_draft(gw, "model", "office", _draft_model(), reason="x", if_match=None)
    ma.create_draft(gw, "model", "office", _draft_model(), reason="x", if_match=etag)
    with pytest.raises(PreconditionFailed):
        ma.create_draft(gw, "model", "office", _draft_model(), reason="x", if_match=etag)
    same_version_other_content = _draft_model()
    same_version_other_content["notice"] = "changed"
    with pytest.raises(DocumentRejected, match="already names"):
        ma.validate(gw, "model", same_version_other_content)
    catalogue = ma.show(gw, "catalogue")["document"]
    catalogue["items"] = [i for i in catalogue["items"] if i["code"] != "pledge_kept"]
    with pytest.raises(DocumentRejected, match="pledge_kept"):
        ma.validate(gw, "catalogue", catalogue)


def test_publishing_supersedes_changed_assertions_and_rollback_restores_scores(gw: Gateway) -> None:
    enrol_population(gw)
    from datetime import date

    from tests.support import make_id

    ids = [make_id(born=date(1980 + i, 3, 1), seq=100 + i) for i in range(len(POPULATION))]
    changes = _tier_assertion(gw, ids[3], NAMES[3])  # D → C under the draft
    stays = _tier_assertion(gw, ids[0], NAMES[0])  # B either way
    before = _scores(gw)
    draft = ma.create_draft(
        gw, "model", "office", _draft_model(), reason="raise the middle", if_match=ma.show(gw, "model")["etag"]
    )
    with pytest.raises(ValidationFailed):
        ma.publish(
            gw, "model", "office", draft["version"], reason="x", if_match=draft["etag"], effective_from=date(2999, 1, 1)
        )
    view = ma.publish(gw, "model", "office", draft["version"], reason="approved by the office", if_match=draft["etag"])
    assert view["published_version"] == 2 and view["recompute"]["people"] == 5 and gw.model.version == NEXT
    after = _scores(gw)
    assert all(v[2] == NEXT for v in after.values())
    with gw.engine.connect() as conn:
        statuses = dict(conn.execute(select(status_slots.c.jti, status_slots.c.status)).all())
        d_person = conn.execute(select(people.c.id).order_by(people.c.id).offset(3).limit(1)).scalar_one()
    assert statuses[changes] == Status.SUPERSEDED and statuses[stays] == Status.VALID
    assert (before[d_person][0], before[d_person][1]) == (644, "D") and (after[d_person][0], after[d_person][1]) == (
        676,
        "C",
    )

    back = ma.rollback(gw, "model", "office", reason="reconsidered", if_match=view["etag"])
    assert back["published_version"] == 3 and gw.model.version == "2026.1"
    assert _scores(gw) == before
    with gw.engine.connect() as conn:
        actions = [
            r.action
            for r in conn.execute(select(audit_log).where(audit_log.c.target_type == "model").order_by(audit_log.c.id))
        ]
    assert actions == ["model.draft", "model.publish", "model.rollback"]


def test_every_process_serves_the_published_model(gw: Gateway, settings: Settings) -> None:
    other = Gateway.build(settings, background_refresh=False)
    try:
        draft = ma.create_draft(
            gw, "model", "office", _draft_model(), reason="x", if_match=ma.show(gw, "model")["etag"]
        )
        ma.publish(gw, "model", "office", draft["version"], reason="x", if_match=draft["etag"])
        assert other.model.version == "2026.1"
        assert ma.refresh(other) is True and other.model.version == NEXT
    finally:
        other.close()


def test_the_admin_api_and_the_cli(
    gw: Gateway, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    enrol_population(gw)
    with TestClient(create_app(gw)) as client:
        admin = {"Authorization": f"Bearer {gw.admins.issue('office-1', ['model_admin'])}"}
        auditor = {"Authorization": f"Bearer {gw.admins.issue('audit-1', ['auditor'])}"}
        shown = client.get("/v1/admin/model", headers=auditor)
        assert shown.status_code == 200
        assert (
            client.post(
                "/v1/admin/model/drafts", json={"document": _draft_model(), "reason": "x"}, headers=auditor
            ).status_code
            == 403
        )
        assert (
            client.post(
                "/v1/admin/model/drafts", json={"document": _draft_model(), "reason": "x"}, headers=admin
            ).status_code
            == 428
        )
        created = client.post(
            "/v1/admin/model/drafts",
            json={"document": _draft_model(), "reason": "x"},
            headers={**admin, "If-Match": shown.headers["ETag"]},
        )
        assert created.status_code == 201, created.text
        impact = client.post("/v1/admin/model/impact", json={"version": created.json()["version"]}, headers=auditor)
        assert impact.status_code == 200 and impact.json()["changed"] == 1
        bad = client.post("/v1/admin/catalogue/validate", json={"document": {"catalogue": "x"}}, headers=admin)
        assert bad.status_code == 422 and bad.json()["code"] == "document_invalid"

    # The CLI, as the README tells an operator: the same database, the same services.
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("GATEWAY_MAPPINGS_DIR", str(settings.mappings_dir))
    if settings.database_url:
        monkeypatch.setenv("GATEWAY_DATABASE_URL", settings.database_url)
    path = tmp_path / "model.json"
    path.write_text(json.dumps(_draft_model()), encoding="utf-8")
    assert main(["model", "validate", str(path)]) == 0
    assert main(["model", "preview", str(path)]) == 0
    assert "1 change tier" in capsys.readouterr().out
    assert main(["model", "publish", "2", "--reason", "approved"]) == 0
    out = capsys.readouterr().out
    assert "v2 is in force" in out and "rescored 5 residents" in out
    assert main(["model", "rollback", "--reason", "back"]) == 0
    assert main(["catalogue", "show"]) == 0
