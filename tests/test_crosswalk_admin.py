"""Crosswalk versions in the database: seeding, validation through the admin path, optimistic
concurrency, publish and rollback with history and audit, impact preview, every process serving
the published version."""

from __future__ import annotations

import copy
import json
import shutil
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, insert, select

from gateway.cli import main
from gateway.clock import utcnow
from gateway.config import PROJECT_ROOT, Settings
from gateway.exchange.tiers import InvalidMapping, canonical_digest
from gateway.services.admin import crosswalk_analysis as ca
from gateway.services.admin import mapping_admin as ma
from gateway.services.admin.preconditions import PreconditionFailed, PreconditionRequired
from gateway.services.context import Gateway
from gateway.services.operations.refresh import PeriodicRefresh
from gateway.services.recognition.crosswalks import read_head, seed_crosswalks
from gateway.store.engine import make_engine, migrate
from gateway.store.tables import audit_log, crosswalk_heads, crosswalk_versions, current_scores, people

SX = "sx-integrity-yrd-common"
TEST_CITY = "testcity-yrd-common"
SX_FILE = json.loads((PROJECT_ROOT / "mappings" / "crosswalks" / f"{SX}.json").read_text(encoding="utf-8"))


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    """The shipped mappings plus a local scheme of a made-up city that has no crosswalk yet."""
    mappings = tmp_path / "mappings"
    shutil.copytree(PROJECT_ROOT / "mappings", mappings)
    scheme = {
        "scheme": "testcity/1",
        "kind": "local",
        "name": {"zh": "测试市", "en": "Test city"},
        "score_range": {"min": 300, "max": 900},
        "provisional": True,
        "source": "A test fixture.",
        "tiers": [
            {"code": "hi", "rank": 1, "label": {"zh": "高", "en": "High"}, "min_score": 700, "max_score": 900},
            {"code": "lo", "rank": 2, "label": {"zh": "低", "en": "Low"}, "min_score": 300, "max_score": 699},
        ],
    }
    (mappings / "schemes" / "testcity-1.json").write_text(json.dumps(scheme), encoding="utf-8")
    return replace(settings, mappings_dir=mappings)


def _sx(**changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(SX_FILE)
    doc.update(changes)
    return doc


def _levels(pairs: str) -> list[dict[str, str]]:
    """ "A:outstanding B:good …" → to_common entries by tier."""
    return [{"local": p.split(":")[0], "common": p.split(":")[1]} for p in pairs.split()]


def _bands(*bands: tuple[int, int, str]) -> list[dict[str, Any]]:
    return [{"min_score": lo, "max_score": hi, "common": level} for lo, hi, level in bands]


BANDS_OK = _bands(
    (0, 549, "low"), (550, 649, "basic"), (650, 749, "fair"), (750, 849, "good"), (850, 1000, "outstanding")
)


def _testcity(**changes: Any) -> dict[str, Any]:
    levels = ("outstanding", "good", "fair", "basic", "low")
    doc = _sx(
        id=TEST_CITY,
        local_scheme="testcity/1",
        to_common=_bands((300, 699, "fair"), (700, 900, "good")),
        from_common=[{"common": lvl, "local": "hi" if lvl in levels[:2] else "lo"} for lvl in levels],
    )
    return {**doc, **changes}


def _etag(gw: Gateway, crosswalk_id: str = SX) -> str:
    etag: str = ma.show_crosswalk(gw, crosswalk_id)["etag"]
    return etag


def _draft(gw: Gateway, doc: dict[str, Any], who: str = "alice", etag: str | None = None) -> dict[str, Any]:
    return ma.create_draft(gw, who, doc["id"], doc, reason="test", if_match=etag or _etag(gw, doc["id"]))


def _count(gw: Gateway, table: Any) -> int:
    with gw.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def _audit(gw: Gateway) -> list[Any]:
    with gw.engine.connect() as conn:
        return list(conn.execute(select(audit_log).order_by(audit_log.c.id)))


# --- seeding and serving ---------------------------------------------------------------------


def test_each_file_is_seeded_once_as_its_published_version(gw: Gateway, settings: Settings) -> None:
    listed = {c["id"]: c for c in ma.list_crosswalks(gw)}
    files = sorted(p.stem for p in (settings.mappings_dir / "crosswalks").glob("*.json"))
    assert sorted(listed) == files
    assert listed[SX]["published_version"] == 1 and listed[SX]["drafts"] == []
    assert listed[SX]["published_digest"] == canonical_digest(SX_FILE)
    Gateway.build(settings, background_refresh=False).close()  # a second start changes nothing
    assert _count(gw, crosswalk_versions) == len(files) and _count(gw, crosswalk_heads) == len(files)
    assert _audit(gw) == []  # seeding is not an administrator's change


def test_seeding_from_many_processes_at_once_is_safe(settings: Settings) -> None:
    engine = make_engine(str(settings.database_url))
    migrate(engine)
    barrier = threading.Barrier(6)
    errors: list[BaseException] = []

    def seed() -> None:
        barrier.wait()
        try:
            seed_crosswalks(engine, settings.mappings_dir)
        except BaseException as exc:  # collected: an exception in a thread would go unseen
            errors.append(exc)

    threads = [threading.Thread(target=seed) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    files = len(list((settings.mappings_dir / "crosswalks").glob("*.json")))
    with engine.connect() as conn:
        heads = conn.execute(select(func.count()).select_from(crosswalk_heads)).scalar_one()
        versions = conn.execute(select(func.count()).select_from(crosswalk_versions)).scalar_one()
    engine.dispose()
    assert errors == [] and heads == files and versions == files


def test_every_process_serves_the_published_version(gw: Gateway, settings: Settings) -> None:
    other = Gateway.build(settings, background_refresh=False)  # another process on the same database
    try:
        draft = _draft(gw, _sx(to_common=_levels("A:outstanding B:outstanding C:fair D:basic E:low")))
        assert gw.mappings.crosswalk_for("sx-integrity/2026.1").version == 1  # type: ignore[union-attr]
        ma.publish(gw, "alice", SX, draft["version"], reason="go", if_match=draft["etag"])
        mine = gw.mappings.crosswalk_for("sx-integrity/2026.1")
        assert mine is not None and mine.version == 2 and mine.common_level("B") == "outstanding"
        theirs = other.mappings.crosswalk_for("sx-integrity/2026.1")
        assert theirs is not None and theirs.version == 1  # until its refresher runs
        other.refresher = PeriodicRefresh(60, other.partners.refresh_overrides, other.mappings.refresh)  # type: ignore[attr-defined]
        other.refresher.run_once()
        theirs = other.mappings.crosswalk_for("sx-integrity/2026.1")
        assert theirs is not None and theirs.version == 2 and theirs.digest == mine.digest
    finally:
        other.close()


def test_the_refresher_keeps_running_through_failures() -> None:
    ran = threading.Event()
    calls: list[str] = []

    def broken() -> None:
        calls.append("broken")
        raise RuntimeError("database away")

    def fine() -> None:
        calls.append("fine")
        if calls.count("fine") >= 2:
            ran.set()

    refresher = PeriodicRefresh(0.01, broken, fine)
    refresher.start()
    try:
        assert ran.wait(timeout=30)
    finally:
        refresher.stop()
    assert calls.count("broken") >= 2  # a failing task neither stops the thread nor the other tasks


def test_a_gateway_starts_its_refresher_and_stops_it_on_close(gw: Gateway, settings: Settings) -> None:
    gateway = Gateway.build(settings)
    assert gateway.refresher is not None
    thread = gateway.refresher._thread
    assert thread is not None and thread.is_alive()
    gateway.close()
    assert not thread.is_alive()


# --- validation through the admin path -------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"to_common": _bands((0, 549, "low"), (560, 1000, "good"))}, "a gap between 549 and 560"),
        ({"to_common": _bands((0, 600, "low"), (590, 1000, "good"))}, "two bands overlap"),
        ({"to_common": _bands((0, 499, "good"), (500, 1000, "low"))}, "not monotonic"),
        ({"to_common": _bands((0, 499, "low"), (500, 999, "good"))}, "do not cover 0–1000"),
        ({"to_common": _levels("A:low B:good C:fair D:basic E:outstanding")}, "not monotonic"),
        ({"to_common": _levels("A:outstanding B:good C:fair D:basic Z:low")}, "'Z' is not a tier"),
        ({"to_common": _levels("A:outstanding B:good C:fair D:basic")}, "do not map (not total)"),
        ({"to_common": _levels("A:best B:good C:fair D:basic E:low")}, "'best' is not a level"),
        ({"from_common": [{"common": "good", "local": "B"}]}, "have no local equivalent"),
        ({"local_scheme": "nowhere/1"}, "published local tier scheme"),
        ({"effective_from": "2026-02-30"}, "not a date"),
        ({"basis": ""}, "crosswalk.schema.json"),
    ],
)
def test_an_invalid_draft_is_refused_naming_the_rule(gw: Gateway, changes: dict[str, Any], fragment: str) -> None:
    with pytest.raises(InvalidMapping) as err:
        _draft(gw, _sx(**changes))
    assert fragment in err.value.detail and err.value.status == 422
    assert _count(gw, crosswalk_versions) == len(ma.list_crosswalks(gw)) and _audit(gw) == []
    with pytest.raises(InvalidMapping):
        ma.validate_document(gw, _sx(**changes))


def test_a_document_must_belong_to_its_crosswalk(gw: Gateway) -> None:
    with pytest.raises(InvalidMapping, match="filed under"):
        ma.create_draft(gw, "alice", "other-id", _sx(), reason="x", if_match=_etag(gw))
    with pytest.raises(InvalidMapping, match="names another"):
        _draft(gw, _testcity(id=SX))


# --- publishing, history, audit, concurrency -------------------------------------------------


def test_draft_publish_and_rollback_keep_history_and_audit(gw: Gateway) -> None:
    assert ma.validate_document(gw, _sx(to_common=BANDS_OK))["valid"] is True
    first = _draft(gw, _sx(to_common=BANDS_OK, version=99), who="alice")
    assert first["version"] == 2 and first["state"] == "draft"  # the server numbers versions
    assert ma.show_version(gw, SX, 2)["document"]["version"] == 2
    shown = ma.publish(gw, "bob", SX, 2, reason="bands instead of tiers", if_match=first["etag"])
    assert shown["published_version"] == 2 and shown["drafts"] == []
    states = {h["version"]: h["state"] for h in shown["history"]}
    assert states == {1: "retired", 2: "published"}
    rolled = ma.rollback(gw, "carol", SX, reason="bands were wrong", if_match=shown["etag"])
    assert rolled["published_version"] == 3
    assert {h["version"]: h["state"] for h in rolled["history"]} == {1: "retired", 2: "retired", 3: "published"}
    v3 = ma.show_version(gw, SX, 3)
    assert {**v3["document"], "version": 1} == SX_FILE  # the content of v1, as a new version
    assert v3["digest"] == canonical_digest({**SX_FILE, "version": 3})
    assert gw.mappings.crosswalk_for("sx-integrity/2026.1").version == 3  # type: ignore[union-attr]

    rows = [(r.actor_id, r.action, r.target_type, r.target_ref, r.details) for r in _audit(gw)]
    assert [r[:4] for r in rows] == [
        ("alice", "crosswalk.draft", "crosswalk", SX),
        ("bob", "crosswalk.publish", "crosswalk", SX),
        ("carol", "crosswalk.rollback", "crosswalk", SX),
    ]
    publish_details = rows[1][4]
    assert publish_details["before"] == {"version": 1, "digest": canonical_digest(SX_FILE)}
    assert publish_details["after"]["version"] == 2 and publish_details["reason"] == "bands instead of tiers"
    assert rows[2][4]["after"]["restored_from"] == 1 and rows[2][4]["before"]["version"] == 2


def test_two_administrators_cannot_overwrite_each_other(gw: Gateway) -> None:
    seen_by_alice = seen_by_bob = _etag(gw)
    alice = _draft(gw, _sx(to_common=BANDS_OK), who="alice", etag=seen_by_alice)
    with pytest.raises(PreconditionFailed) as err:
        _draft(gw, _sx(basis="Bob's idea."), who="bob", etag=seen_by_bob)
    assert err.value.status == 412
    assert err.value.extensions == {"current_etag": alice["etag"], "published_version": 1}
    bob = _draft(gw, _sx(basis="Bob's idea."), who="bob")  # re-read, then it goes through
    ma.publish(gw, "alice", SX, alice["version"], reason="mine", if_match=bob["etag"])
    with pytest.raises(PreconditionFailed):
        ma.publish(gw, "bob", SX, bob["version"], reason="mine", if_match=bob["etag"])
    shown = ma.show_crosswalk(gw, SX)
    assert shown["published_version"] == alice["version"] and shown["drafts"] == [bob["version"]]  # nothing lost


def test_concurrent_publishes_one_wins_one_gets_412(gw: Gateway) -> None:
    a = _draft(gw, _sx(to_common=BANDS_OK))
    b = _draft(gw, _sx(basis="Another draft."))
    etag = b["etag"]
    barrier = threading.Barrier(2)
    outcomes: dict[int, str] = {}

    def publish(version: int) -> None:
        barrier.wait()
        try:
            ma.publish(gw, f"admin-{version}", SX, version, reason="race", if_match=etag)
            outcomes[version] = "published"
        except PreconditionFailed:
            outcomes[version] = "412"

    threads = [threading.Thread(target=publish, args=(v,)) for v in (a["version"], b["version"])]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes.values()) == ["412", "published"]
    winner = next(v for v, o in outcomes.items() if o == "published")
    shown = ma.show_crosswalk(gw, SX)
    assert shown["published_version"] == winner
    assert sorted(h["version"] for h in shown["history"]) == [1, 2, 3]
    assert [r.action for r in _audit(gw)].count("crosswalk.publish") == 1


def test_the_head_moves_only_from_the_version_read(gw: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    # The interleaving a race produces on PostgreSQL: both changes passed the If-Match check before
    # either wrote. The conditional UPDATE of the head must still refuse the second.
    with gw.engine.connect() as conn:
        read_before = read_head(conn, SX)
    stale = _etag(gw)
    draft = _draft(gw, _sx(to_common=BANDS_OK))
    monkeypatch.setattr(ma, "_head", lambda conn, crosswalk_id: read_before)
    with pytest.raises(PreconditionFailed) as err:
        ma.publish(gw, "bob", SX, draft["version"], reason="race", if_match=stale)
    assert err.value.extensions == {"current_etag": draft["etag"], "published_version": 1}
    assert ma.show_crosswalk(gw, SX)["published_version"] == 1


@pytest.mark.parametrize("header", [None, "", "*", 'W/"r1"'])
def test_a_change_without_a_usable_etag_is_refused(gw: Gateway, header: str | None) -> None:
    expected: type[Exception] = PreconditionFailed if header == 'W/"r1"' else PreconditionRequired
    with pytest.raises(expected) as err:
        ma.create_draft(gw, "alice", SX, _sx(), reason="x", if_match=header)
    assert err.value.extensions["current_etag"] == '"r1"'


def test_publish_and_rollback_rules(gw: Gateway) -> None:
    with pytest.raises(ma.NotADraft):
        ma.publish(gw, "alice", SX, 1, reason="again", if_match=_etag(gw))
    with pytest.raises(ma.CrosswalkNotFound):
        ma.publish(gw, "alice", SX, 9, reason="x", if_match=_etag(gw))
    with pytest.raises(ma.CrosswalkNotFound):
        ma.show_crosswalk(gw, "no-such-crosswalk")
    with pytest.raises(ma.NothingToRollBack):
        ma.rollback(gw, "alice", SX, reason="x", if_match=_etag(gw))
    with pytest.raises(Exception, match="reason"):
        ma.rollback(gw, "alice", SX, reason="  ", if_match=_etag(gw))


def test_a_new_crosswalk_is_created_with_if_none_match(gw: Gateway) -> None:
    doc = _testcity()
    with pytest.raises(PreconditionRequired):
        ma.create_draft(gw, "alice", TEST_CITY, doc, reason="new", if_match=None)
    with pytest.raises(PreconditionFailed):
        ma.create_draft(gw, "alice", TEST_CITY, doc, reason="new", if_match='"r0"')  # nothing exists to match
    made = ma.create_draft(gw, "alice", TEST_CITY, doc, reason="new", if_match=None, if_none_match="*")
    assert made["version"] == 1 and made["etag"] == '"r1"'
    assert ma.show_crosswalk(gw, TEST_CITY)["published_version"] is None
    assert gw.mappings.crosswalk_for("testcity/1") is None  # a draft is not in force
    with pytest.raises(PreconditionFailed):
        ma.create_draft(gw, "bob", TEST_CITY, doc, reason="new", if_match=None, if_none_match="*")
    ma.publish(gw, "alice", TEST_CITY, 1, reason="agreed", if_match=made["etag"])
    assert gw.mappings.crosswalk_for("testcity/1").common_level(score=750) == "good"  # type: ignore[union-attr]
    with pytest.raises(ma.LocalSchemeTaken):
        ma.create_draft(gw, "alice", "sx-second", _sx(id="sx-second"), reason="x", if_match=None, if_none_match="*")


# --- impact preview --------------------------------------------------------------------------


def _population(gw: Gateway, rows: list[tuple[str | None, int | None, bool, str]]) -> None:
    """People with current scores: (tier, score, eligible, model_version) each."""
    now = utcnow()
    with gw.engine.begin() as conn:
        for i, (tier, score, eligible, model) in enumerate(rows, start=1):
            pid = conn.execute(
                insert(people)
                .values(
                    id_hash=f"{i:064x}",
                    name_hash="0" * 64,
                    name_masked="张*",
                    birth_date=date(1990, 1, 1),
                    created_at=now,
                )
                .returning(people.c.id)
            ).scalar_one()
            conn.execute(
                insert(current_scores).values(
                    person_id=pid,
                    score_id=i,
                    eligible=eligible,
                    reason=None if eligible else "no_authorisation",
                    score=score,
                    tier=tier,
                    model_version=model,
                    as_of=date(2026, 3, 1),
                    computed_at=now,
                )
            )


POPULATION: list[tuple[str | None, int | None, bool, str]] = [
    ("A", 900, True, "2026.1"),
    ("A", 860, True, "2026.1"),
    ("B", 840, True, "2026.1"),
    ("B", 800, True, "2026.1"),
    ("B", 760, True, "2026.1"),
    ("C", 740, True, "2026.1"),
    ("C", 700, True, "2026.1"),
    ("C", 700, True, "2026.1"),
    ("C", 690, True, "2026.1"),
    ("C", 650, True, "2026.1"),
    ("D", 600, True, "2026.1"),
    ("E", 400, True, "2026.1"),
    (None, None, False, "2026.1"),
    (None, None, False, "2026.1"),  # ineligible: no level either way
    ("A", 950, True, "2025.9"),  # another model's scheme: another crosswalk
]


def test_impact_preview_matches_a_hand_count(gw: Gateway) -> None:
    _population(gw, POPULATION)
    draft = _draft(gw, _sx(to_common=_levels("A:outstanding B:outstanding C:fair D:fair E:low")))
    impact = ca.preview_impact(gw, SX, version=draft["version"])
    # By hand: 12 scored residents under 2026.1; the 3 B move good → outstanding, the 1 D basic → fair.
    assert impact["population"] == 12 and impact["changed"] == 4
    assert impact["current"]["version"] == 1 and impact["proposed"]["version"] == draft["version"]
    by_level = {lvl["level"]: lvl for lvl in impact["levels"]}
    assert by_level["outstanding"] == {"level": "outstanding", "current": 2, "proposed": 5, "leaving": 0, "joining": 3}
    assert by_level["good"] == {"level": "good", "current": 3, "proposed": 0, "leaving": 3, "joining": 0}
    assert by_level["fair"] == {"level": "fair", "current": 5, "proposed": 6, "leaving": 0, "joining": 1}
    assert by_level["basic"] == {"level": "basic", "current": 1, "proposed": 0, "leaving": 1, "joining": 0}
    assert by_level["low"] == {"level": "low", "current": 1, "proposed": 1, "leaving": 0, "joining": 0}
    assert impact["moves"] == [
        {"from": "good", "to": "outstanding", "count": 3},
        {"from": "basic", "to": "fair", "count": 1},
    ]


def test_impact_preview_of_score_bands_counts_by_score(gw: Gateway) -> None:
    _population(gw, POPULATION)
    bands = _bands(
        (0, 549, "low"), (550, 699, "basic"), (700, 799, "fair"), (800, 879, "good"), (880, 1000, "outstanding")
    )
    impact = ca.preview_impact(gw, SX, document=_sx(to_common=bands))
    # By hand: A 860 → good; B 840, 800 stay good, B 760 → fair; C 740/700/700 stay fair, C 690/650 → basic;
    # D 600 stays basic; E 400 stays low.
    moves = {(m["from"], m["to"]): m["count"] for m in impact["moves"]}
    assert moves == {("outstanding", "good"): 1, ("good", "fair"): 1, ("fair", "basic"): 2}
    assert impact["changed"] == 4 and impact["proposed"]["version"] is None
    by_level = {lvl["level"]: (lvl["current"], lvl["proposed"]) for lvl in impact["levels"]}
    assert by_level == {
        "outstanding": (2, 1),
        "good": (3, 3),
        "fair": (5, 4),
        "basic": (1, 3),
        "low": (1, 1),
        "unrated": (0, 0),
    }


def test_impact_is_only_previewed_for_shaoxings_scheme(gw: Gateway) -> None:
    with pytest.raises(ca.PreviewUnavailable):
        ca.preview_impact(gw, TEST_CITY, document=_testcity())


# --- the CLI ---------------------------------------------------------------------------------


@pytest.fixture
def cli_env(gw: Gateway, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Callable[..., tuple[int, str]]:
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("GATEWAY_DATABASE_URL", str(settings.database_url))
    monkeypatch.setenv("GATEWAY_MAPPINGS_DIR", str(settings.mappings_dir))

    def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
        code = main(list(args))
        captured = capsys.readouterr()
        return code, captured.out + captured.err

    return run


def test_the_mappings_cli(
    cli_env: Callable[..., tuple[int, str]], gw: Gateway, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _population(gw, POPULATION)
    draft = tmp_path / "draft.json"
    draft.write_text(
        json.dumps(_sx(to_common=_levels("A:outstanding B:outstanding C:fair D:fair E:low"))), encoding="utf-8"
    )
    code, out = cli_env(capsys, "mappings", "list")
    assert code == 0 and SX in out and 'etag "r1"' in out
    code, out = cli_env(capsys, "mappings", "preview", SX, str(draft))
    assert code == 0 and "4 of 12 scored residents would change common level" in out
    code, out = cli_env(capsys, "mappings", "draft", str(draft), "--reason", "proposal", "--actor", "ops-1")
    assert code == 0 and f"stored {SX} v2 as a draft" in out
    code, out = cli_env(capsys, "mappings", "publish", SX, "2", "--reason", "agreed", "--if-match", '"r1"')
    assert code == 1 and "precondition_failed" in out  # the operator's ETag is stale
    code, out = cli_env(capsys, "mappings", "publish", SX, "2", "--reason", "agreed", "--actor", "ops-1")
    assert code == 0 and f"{SX}: v2 is in force" in out
    code, out = cli_env(capsys, "mappings", "rollback", SX, "--reason", "undo", "--actor", "ops-2")
    assert code == 0 and f"{SX}: v3 is in force" in out
    code, out = cli_env(capsys, "mappings", "show", SX)
    assert code == 0 and json.loads(out)["published_version"] == 3
    actions = [(r.actor_id, r.action) for r in _audit(gw)]
    assert actions == [("ops-1", "crosswalk.draft"), ("ops-1", "crosswalk.publish"), ("ops-2", "crosswalk.rollback")]
    with pytest.raises(SystemExit):  # --reason is required
        cli_env(capsys, "mappings", "draft", str(draft))


def test_the_cli_validates_a_file(
    cli_env: Callable[..., tuple[int, str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(_sx(to_common=_bands((0, 549, "low"), (560, 1000, "good")))), encoding="utf-8")
    code, out = cli_env(capsys, "mappings", "validate", str(bad))
    assert code == 1 and "invalid_mapping" in out and "gap" in out
