"""Defect 6 of issue 15: text no database can store is refused per record (ingestion) or per
request, before the driver, on whichever database the suite runs on."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from gateway.services.context import Gateway
from gateway.services.residents.dev_idp import DevIdentityProvider
from gateway.store.tables import provincial_evaluations
from gateway.text import name_fault, text_fault, tree_fault
from tests.support import make_id, record

URL = "/v1/ingest/records"


def _pe(ref: str, seq: int, name: str = "张三", edition: str = "2026") -> dict[str, object]:
    return record(
        "provincial_evaluation", {"score": 800, "edition": edition}, ref=ref, id_number=make_id(seq=seq), name=name
    )


@pytest.mark.parametrize("ctype", ["application/json", "application/x-ndjson"])
def test_bad_text_rejects_its_record_only(client: TestClient, keys: dict[str, str], gw: Gateway, ctype: str) -> None:
    batch = [
        _pe("ok-1", 11),
        _pe("surrogate", 12, name="张\ud800"),
        _pe("nul", 13, edition="20\x0026"),
        _pe("bidi", 14, name="张\u202e三"),
        _pe("blank", 15, name=" \u3000 "),
        _pe("ctl", 16, name="张\n三"),
        _pe("ok-2", 17, name="李四"),
    ]
    if ctype == "application/json":
        body = json.dumps(batch).encode()
    else:
        body = "\n".join(json.dumps(r) for r in batch).encode()
    headers = {"Authorization": f"Bearer {keys['zj-credit-platform']}", "Content-Type": ctype}
    resp = client.post(URL, content=body, headers=headers)
    assert resp.status_code == 200, resp.text
    data = resp.json()
    assert data["accepted_indexes"] == [0, 6]
    codes = {r["index"]: r["code"] for r in data["rejections"]}
    assert codes == {1: "invalid_text", 2: "invalid_text", 3: "invalid_name", 4: "invalid_name", 5: "invalid_name"}
    assert "\ud800" not in resp.text and "张" not in resp.text
    with gw.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(provincial_evaluations)).scalar_one() == 2
    # The unit's retry of the same batch is not stuck: the good records are duplicates now.
    again = client.post(URL, content=body, headers=headers).json()
    assert again["duplicate_indexes"] == [0, 6]


def test_bad_text_in_other_json_bodies_is_a_422(client: TestClient, gw: Gateway) -> None:
    token = DevIdentityProvider(gw.settings).issue_id_token(make_id(seq=21), "张三")
    me = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    for statement in ('"paid\\u0000"', '"paid\\ud800"', '"\\u0007"'):
        body = f'{{"target": "score", "statement": {statement}}}'.encode()
        resp = client.post("/v1/me/objections", content=body, headers=me)
        assert resp.status_code == 422, resp.text
        assert resp.json()["code"] == "invalid_text"
    # A key is text too.
    resp = client.post("/v1/me/objections", content=b'{"\\u0000": 1}', headers=me)
    assert resp.json()["code"] == "invalid_text"


def test_the_checks() -> None:
    assert text_fault("line one\nline two\ttab") is None
    assert text_fault("a\x00") == "control_character"
    assert text_fault("a\x9b") == "control_character"
    assert text_fault("\udc80") == "lone_surrogate"
    assert text_fault("𠀀 emoji 😀") is None  # astral characters are pairs in JSON, one code point here
    assert name_fault("欧阳 娜娜") is None
    assert name_fault("\u200b") == "blank"
    assert name_fault("a\u2066b") == "bidi_control"
    assert tree_fault({"a": [1, {"b\x01": 2}]}) == "control_character"
    assert tree_fault({"a": [1, {"b": "ok"}]}) is None
