"""Property-based tests (hypothesis) of issue 15: the parsers that meet hostile input never fail
with anything but their own problem, and the status-list codec round-trips."""

from __future__ import annotations

import contextlib
import json
import string
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway import jsonparse
from gateway.config import PROJECT_ROOT
from gateway.errors import GatewayError, MalformedBody
from gateway.exchange import TYP_CLIENT_ASSERTION, StatusList, TokenVerifier
from gateway.exchange._b64 import b64url_encode
from gateway.exchange.errors import InvalidToken, StatusListInvalid
from gateway.exchange.tiers import InvalidMapping, load_mappings
from gateway.services.recognition.crosswalks import check_document
from gateway.services.scores.ingestion import parse_batch
from tests.exchange.exchange_support import load_test_keys
from tests.hardening.conftest import suite_on_postgres

pytestmark = pytest.mark.skipif(suite_on_postgres(), reason="no database involved: runs in the SQLite run")

KEYS = load_test_keys()
SCHEMES = load_mappings(PROJECT_ROOT / "mappings").schemes
SX_CROSSWALK = json.loads((PROJECT_ROOT / "mappings" / "crosswalks" / "sx-integrity-yrd-common.json").read_text())
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=30,
)


def _depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    return 0


# --- the bounded JSON parser ---------------------------------------------------------------------


@FAST
@given(json_values, st.integers(min_value=1, max_value=8))
def test_depth_check_agrees_with_the_structure(value: Any, limit: int) -> None:
    text = json.dumps(value).encode()
    assert jsonparse.depth_exceeds(text, limit) == (_depth(value) > limit)
    if _depth(value) <= limit:
        assert jsonparse.loads(text, max_depth=limit) == json.loads(text)


@FAST
@given(st.binary(max_size=300) | st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_the_parser_only_ever_raises_its_problem(data: bytes) -> None:
    with contextlib.suppress(MalformedBody):
        jsonparse.loads(data, max_depth=4)


@FAST
@given(st.integers(min_value=1, max_value=3000), st.sampled_from(["[", '{"a":']))
def test_deep_nesting_never_recurses(depth: int, opener: str) -> None:
    closer = "]" if opener == "[" else "}"
    body = (opener * depth + "1" + closer * depth).encode()
    if depth > jsonparse.DEFAULT_MAX_DEPTH:
        try:
            jsonparse.loads(body)
        except jsonparse.JsonTooDeep:
            return
        raise AssertionError("a deep document was accepted")
    assert jsonparse.loads(body) is not None


# --- token parsers -------------------------------------------------------------------------------

_VERIFIER = TokenVerifier(typ=TYP_CLIENT_ASSERTION, audience="https://as.example", algorithms={"ES256", "EdDSA"})
_KEYS = {k.kid: k.verification_key() for k in KEYS.values()}
segments = st.one_of(
    st.text(alphabet=string.ascii_letters + string.digits + "-_", max_size=40),
    json_values.map(lambda v: b64url_encode(json.dumps(v).encode())),
    st.builds(lambda d: b64url_encode(("[" * d + "]" * d).encode()), st.integers(0, 2000)),
)


@FAST
@given(st.lists(segments, min_size=1, max_size=4).map(".".join) | st.text(max_size=200))
def test_token_parsing_only_raises_invalid_token(token: str) -> None:
    for action in (lambda: _VERIFIER.inspect(token), lambda: _VERIFIER.verify(token, _KEYS)):
        with contextlib.suppress(InvalidToken):
            action()


# --- the status-list codec -----------------------------------------------------------------------


@FAST
@given(st.sampled_from([1, 2, 4, 8]), st.data())
def test_status_list_round_trips(bits: int, data: st.DataObject) -> None:
    size = data.draw(st.integers(min_value=1, max_value=512))
    lst = StatusList(bits, size)
    values = data.draw(st.dictionaries(st.integers(0, size - 1), st.integers(0, (1 << bits) - 1), max_size=64))
    for idx, value in values.items():
        lst.set(idx, value)
    decoded = StatusList.decode(json.loads(json.dumps(lst.encode())))
    assert all(decoded.get(i) == values.get(i, 0) for i in range(size))


@FAST
@given(json_values)
def test_status_list_decoding_only_raises_its_problem(obj: Any) -> None:
    with contextlib.suppress(StatusListInvalid):
        StatusList.decode(obj)


# --- the crosswalk validator ---------------------------------------------------------------------


def _mutations() -> st.SearchStrategy[dict[str, Any]]:
    keys = sorted(SX_CROSSWALK)
    return st.builds(
        lambda drop, key, value: {
            **{k: v for k, v in SX_CROSSWALK.items() if k not in drop},
            **({key: value} if key else {}),
        },
        st.sets(st.sampled_from(keys), max_size=3),
        st.sampled_from([None, *keys]),
        json_values,
    )


@FAST
@given(_mutations() | st.dictionaries(st.text(max_size=12), json_values, max_size=6))
def test_the_crosswalk_validator_only_raises_invalid_mapping(doc: dict[str, Any]) -> None:
    with contextlib.suppress(InvalidMapping):
        check_document(doc, SCHEMES)


def test_the_published_crosswalk_is_valid() -> None:
    assert check_document(SX_CROSSWALK, SCHEMES).id == "sx-integrity-yrd-common"


# --- the ingestion parser ------------------------------------------------------------------------


@FAST
@given(st.binary(max_size=400), st.sampled_from(["application/json", "application/x-ndjson", "text/plain"]))
def test_the_ingestion_parser_only_raises_problems(body: bytes, ctype: str) -> None:
    try:
        records = parse_batch(body, ctype, max_records=50, max_depth=8)
    except GatewayError as exc:
        assert exc.status in (400, 413, 415)
        return
    assert isinstance(records, list)


@FAST
@given(st.lists(json_values, max_size=20))
def test_ndjson_gives_one_record_per_line(values: list[Any]) -> None:
    lines = [json.dumps(v) for v in values]
    records = parse_batch("\n".join(lines).encode(), "application/x-ndjson", max_records=50, max_depth=64)
    assert len(records) == len(values)
