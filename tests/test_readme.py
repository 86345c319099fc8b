"""The README stays true: its PyJWT verification snippet runs against a live gateway."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from gateway.config import PROJECT_ROOT
from gateway.services.context import Gateway
from gateway.services.residents.dev_idp import DevIdentityProvider
from tests.support import basic_records, make_id
from tests.support.partners import access_token


def _snippet() -> str:
    text = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"<!-- verify-snippet -->\n```python\n(.*?)```", text, re.S)
    assert match, "the README lost its verification snippet"
    return match.group(1)


def test_readme_pyjwt_snippet_verifies_a_real_assertion(
    gw: Gateway, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from gateway.api.app import create_app

    with TestClient(create_app(gw)) as client:
        idn, name = make_id(seq=901), "郑一"
        for unit, batch in basic_records(idn, name, "readme").items():
            client.post(
                "/v1/ingest/records", json=batch, headers={"Authorization": f"Bearer {access_token(client, unit)}"}
            )
        id_token = DevIdentityProvider(gw.settings).issue_id_token(idn, name)
        client.post(
            "/v1/me/consents",
            json={"audience": "sx-example-bank", "purposes": ["loan_discount"], "valid_days": 7, "channel": "app"},
            headers={"Authorization": f"Bearer {id_token}"},
        ).raise_for_status()
        resp = client.post(
            "/v1/assertions",
            json={"subject": {"id_number": idn, "name": name}, "purpose": "loan_discount"},
            headers={"Authorization": f"Bearer {access_token(client, 'sx-example-bank')}"},
        )
        (tmp_path / "assertion.jwt").write_text(resp.json()["assertion"])

        def fake_get(url: str, **_: Any) -> httpx.Response:
            path = url.removeprefix(gw.settings.issuer)
            served = client.get(path)
            return httpx.Response(served.status_code, content=served.content, request=httpx.Request("GET", url))

        monkeypatch.setattr(httpx, "get", fake_get)
        monkeypatch.chdir(tmp_path)
        exec(compile(_snippet(), "README.md", "exec"), {})
    tier, level = capsys.readouterr().out.split()
    assert tier in {t.code for t in gw.model.tiers}
    assert level in {"outstanding", "good", "fair", "basic", "low"}
