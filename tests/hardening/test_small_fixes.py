"""Item 13 of issue 15: no-store on personal data, private SQLite files, no userinfo in status
list URLs (high-S signatures and booleans-as-integers are tested in test_advisories.py and
test_hostile_parameters.py)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gateway.services.context import Gateway
from gateway.services.recognition.partner_keys import StatusListUntrusted, TrustAnchor, check_status_list_uri
from gateway.services.residents.dev_idp import DevIdentityProvider
from gateway.store.engine import make_engine
from tests.support import make_id


def test_personal_data_answers_are_not_stored(client: TestClient, gw: Gateway) -> None:
    token = DevIdentityProvider(gw.settings).issue_id_token(make_id(seq=31), "张三")
    me = {"Authorization": f"Bearer {token}"}
    for path in ("/v1/me/score", "/v1/me/consents", "/v1/me/disclosures"):
        resp = client.get(path, headers=me)
        assert resp.headers["cache-control"] == "no-store", path
    problem = client.post("/v1/assertions", json={})
    assert problem.status_code == 401 and problem.headers["cache-control"] == "no-store"
    officer = {"Authorization": f"Bearer {gw.admins.issue('o-1', ['credit_officer'])}"}
    lookup = client.post("/v1/officer/score-lookups", json={"id_number": make_id(seq=32)}, headers=officer)
    assert lookup.headers["cache-control"] == "no-store"
    # Public documents keep their own caching.
    assert client.get("/.well-known/jwks.json").headers["cache-control"].startswith("public")


def test_sqlite_files_are_private(tmp_path: Path) -> None:
    db = tmp_path / "data" / "gateway.sqlite3"
    engine = make_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
        conn.exec_driver_sql("INSERT INTO t VALUES (1)")
        for path in (db, db.with_name(db.name + "-wal")):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    engine.dispose()
    db.chmod(0o644)  # a file left by an older version is narrowed
    make_engine(f"sqlite:///{db}").dispose()
    assert stat.S_IMODE(db.stat().st_mode) == 0o600


@pytest.mark.parametrize(
    "uri",
    [
        "https://a%2f@credit.wenzhou.example/status/1",
        "https://user:pw@credit.wenzhou.example/status/1",
        "https://evil.example\\@credit.wenzhou.example/status/1",
    ],
)
def test_status_list_urls_with_userinfo_are_refused(uri: str) -> None:
    anchor = TrustAnchor("https://credit.wenzhou.example", "wenzhou", keys={})
    check_status_list_uri(anchor, "https://credit.wenzhou.example/status/1")
    with pytest.raises(StatusListUntrusted):
        check_status_list_uri(anchor, uri)
