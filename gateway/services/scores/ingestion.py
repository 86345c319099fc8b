"""Ingesting batches of information records from collaborating units (measure 二(三)).

Each record is checked on its own (envelope, catalogue item, the unit's grant, attributes, ID
number, date); the valid ones of a batch are written even when others fail; a record already
received from the same unit under the same source reference is reported as a duplicate and
changes nothing. Everything a batch writes — people, records, the audit entry and the scores of
the people it touched — commits in one transaction, so a failure leaves nothing half-written.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

from gateway import jsonparse
from gateway.catalogue import safe_messages
from gateway.catalogue.fastcheck import compile_check
from gateway.config import bundled_path
from gateway.errors import InvalidResidentId, MalformedBody, PayloadTooLarge, UnsupportedMediaType
from gateway.partners import Partner
from gateway.privacy import mask_name
from gateway.scoring import Ineligibility, parse_resident_id
from gateway.services.context import Gateway, today_in_shaoxing, utcnow
from gateway.services.operations.metrics import record_ingestion
from gateway.services.residents.authorisation import end_disclosures
from gateway.services.scores.scoring import recompute_people
from gateway.store import people as people_store
from gateway.store import records as records_store
from gateway.store.audit import append_audit
from gateway.store.tables import information_records, provincial_evaluations
from gateway.text import describe, name_fault, tree_fault

__all__ = ["Batch", "BatchResult", "Rejection", "ingest_batch", "parse_batch"]

log = logging.getLogger(__name__)

_ENVELOPE_SCHEMA = json.loads((bundled_path("schemas") / "ingest-record.schema.json").read_text(encoding="utf-8"))
_ENVELOPE = Draft202012Validator(_ENVELOPE_SCHEMA, format_checker=FormatChecker(formats=["date"]))
# Compiled from the same schema; jsonschema is asked only when this says no.
_ENVELOPE_FAST = compile_check(_ENVELOPE_SCHEMA) or _ENVELOPE.is_valid
_NDJSON_TYPES = ("application/x-ndjson", "application/ndjson", "application/jsonl")


class _Unparseable:
    """A batch element that was not JSON (one bad NDJSON line); rejected with its index."""


_UNPARSEABLE = _Unparseable()
_TOO_DEEP = _Unparseable()
_NOT_PARSED: Any = object()
# Only an escape can put a lone surrogate or a refused C0 control into parsed JSON text — \u, and
# \b and \f (U+0008, U+000C; \t \n \r are allowed in free text) — since raw C0 controls fail to
# parse and raw surrogates fail to decode; DEL and the C1 controls can also come raw. A body without
# any of these holds no text that tree_fault would refuse, so its records skip that walk.
_MAYBE_FAULTY = re.compile(rb"\\[ubf]|\x7f|\xc2[\x80-\x9f]")


class Batch(list[Any]):
    """A parsed batch; ``clean`` when its body cannot hold text that :func:`tree_fault` refuses."""

    clean: bool = False


def parse_batch(
    body: bytes,
    content_type: str | None,
    *,
    max_records: int,
    max_depth: int = jsonparse.DEFAULT_MAX_DEPTH,
    parsed: Any = _NOT_PARSED,
) -> list[Any]:
    """Split a request body into records: a JSON array, or NDJSON (one object per line).

    Both go through the bounded parser (``gateway.jsonparse``); an NDJSON line that is not JSON
    or nests too deeply is rejected on its own, the other lines still count. ``parsed`` is the
    JSON body the HTTP edge already parsed, when it did.

    :raises UnsupportedMediaType: for other media types.
    :raises MalformedBody: when a JSON body is not an array of JSON values.
    :raises PayloadTooLarge: when the batch has more than ``max_records`` records.
    """
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media == "application/json":
        if parsed is _NOT_PARSED:
            parsed = jsonparse.loads(body, max_depth=max_depth)
        if not isinstance(parsed, list):
            raise MalformedBody("A JSON batch is an array of records.")
        records: list[Any] = parsed
    elif media in _NDJSON_TYPES:
        records = []
        for line in body.splitlines():
            if not line.strip():
                continue
            try:
                records.append(jsonparse.loads(line, max_depth=max_depth))
            except jsonparse.JsonTooDeep:
                records.append(_TOO_DEEP)
            except MalformedBody:
                records.append(_UNPARSEABLE)
            if len(records) > max_records:
                break
    else:
        raise UnsupportedMediaType("Send application/json (an array) or application/x-ndjson.")
    if len(records) > max_records:
        raise PayloadTooLarge(f"A batch holds at most {max_records} records.", max_records=max_records)
    batch = Batch(records)
    batch.clean = _MAYBE_FAULTY.search(body) is None
    return batch


@dataclass(frozen=True, slots=True)
class Rejection:
    index: int
    code: str
    reason: str


@dataclass(slots=True)
class BatchResult:
    batch_id: str
    unit: str
    received: int
    accepted: list[int] = field(default_factory=list)
    duplicates: list[int] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    people_rescored: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "batch_id": self.batch_id,
            "unit": self.unit,
            "received": self.received,
            "accepted": len(self.accepted),
            "duplicates": len(self.duplicates),
            "rejected": len(self.rejected),
            "accepted_indexes": self.accepted,
            "duplicate_indexes": self.duplicates,
            "rejections": [{"index": r.index, "code": r.code, "reason": r.reason} for r in self.rejected],
            "people_rescored": self.people_rescored,
        }


@dataclass(slots=True)
class _Checked:
    index: int
    table_is_provincial: bool
    row: dict[str, Any]
    id_hash: str
    name_hash: str
    name_masked: str
    birth_date: date


def _check(gw: Gateway, unit: Partner, index: int, raw: Any, latest_day: date, clean: bool) -> _Checked | Rejection:
    if raw is _UNPARSEABLE:
        return Rejection(index, "malformed_json", "The line is not valid JSON.")
    if raw is _TOO_DEEP:
        return Rejection(index, "json_too_deep", "The line nests too deeply.")
    if not isinstance(raw, dict):
        return Rejection(index, "invalid_record", "A record is a JSON object.")
    fault = None if clean else tree_fault(raw)  # before anything else: the driver cannot store such text
    if fault:
        return Rejection(index, "invalid_text", describe(fault))
    if not _ENVELOPE_FAST(raw):
        problems = safe_messages(_ENVELOPE.iter_errors(raw))
        if problems:
            return Rejection(index, "invalid_record", "; ".join(problems))
    item = gw.catalogue.item(raw["item"])
    if item is None:
        return Rejection(index, "unknown_item", "The catalogue has no such item.")
    status = item.initial_status_for(unit.unit_kind or "")
    if status is None:
        return Rejection(index, "item_not_granted", "The catalogue does not grant this item to this unit.")
    problems = item.attribute_errors(raw["attributes"])
    if problems:
        return Rejection(index, "invalid_attributes", "; ".join(problems))
    occurred = date.fromisoformat(raw["occurred_at"])
    if occurred > latest_day:
        return Rejection(index, "future_date", "occurred_at lies in the future.")
    try:
        rid = parse_resident_id(raw["subject"]["id_number"])
    except InvalidResidentId as exc:
        return Rejection(index, "invalid_id_number", exc.detail)
    name = raw["subject"]["name"]
    fault = name_fault(name)
    if fault:
        return Rejection(index, "invalid_name", describe(fault, "The subject's name"))
    hasher = gw.hasher
    attrs = raw["attributes"]
    if item.code == records_store.PROVINCIAL_ITEM:
        row: dict[str, Any] = {
            "unit_id": unit.id,
            "source_ref": raw["source_ref"],
            "score": int(attrs["score"]),
            "evaluated_on": occurred,
            "edition": attrs.get("edition"),
            "status": status,
        }
    else:
        number, code, until = item.scoring_values(attrs)
        row = {
            "unit_id": unit.id,
            "source_ref": raw["source_ref"],
            "item_code": item.code,
            "catalogue_version": gw.catalogue.version,
            "status": status,
            "occurred_at": occurred,
            "value_number": number,
            "value_code": code,
            "valid_until": until,
            "attributes": attrs,
        }
    return _Checked(
        index=index,
        table_is_provincial=item.code == records_store.PROVINCIAL_ITEM,
        row=row,
        id_hash=hasher.id_hash(rid.normalised),
        name_hash=hasher.name_hash(name),
        name_masked=mask_name(name),
        birth_date=rid.birth_date,
    )


def ingest_batch(
    gw: Gateway,
    unit: Partner,
    records: Sequence[Any],
    *,
    recompute: bool = True,
    as_of: date | None = None,
) -> BatchResult:
    """Validate and store one batch from ``unit``; recompute the scores of the people it touched."""
    result = BatchResult(batch_id=str(uuid.uuid4()), unit=unit.id, received=len(records))
    # A unit's clock may run a little ahead of ours around midnight; a day's grace, no more.
    latest_day = (as_of or today_in_shaoxing()) + timedelta(days=1)
    checked: list[_Checked] = []
    seen_refs: set[str] = set()
    clean = isinstance(records, Batch) and records.clean
    for index, raw in enumerate(records):
        outcome = _check(gw, unit, index, raw, latest_day, clean)
        if isinstance(outcome, Rejection):
            result.rejected.append(outcome)
        elif outcome.row["source_ref"] in seen_refs:
            result.duplicates.append(index)  # the same reference twice in one batch: the first counts
        else:
            seen_refs.add(outcome.row["source_ref"])
            checked.append(outcome)

    with gw.engine.begin() as conn:
        persons = people_store.ensure_people(
            conn,
            (people_store.NewPerson(c.id_hash, c.name_hash, c.name_masked, c.birth_date) for c in checked),
        )
        people_store.lock_people(conn, (p.id for p in persons.values()))
        matched: list[_Checked] = []
        received_at = utcnow()  # one moment for the batch: one stamp to convert, not a thousand
        for c in checked:
            person = persons[c.id_hash]
            if person.name_hash != c.name_hash:
                # Same wording whatever the cause: the answer must not confirm who is registered.
                result.rejected.append(Rejection(c.index, "subject_mismatch", "The subject could not be matched."))
                continue
            c.row["person_id"] = person.id
            c.row["received_at"] = received_at
            matched.append(c)
        inserted = {
            True: records_store.insert_new(
                conn, provincial_evaluations, [c.row for c in matched if c.table_is_provincial]
            ),
            False: records_store.insert_new(
                conn, information_records, [c.row for c in matched if not c.table_is_provincial]
            ),
        }
        touched: set[int] = set()
        for c in matched:
            if c.row["source_ref"] in inserted[c.table_is_provincial]:
                result.accepted.append(c.index)
                touched.add(c.row["person_id"])
            else:
                result.duplicates.append(c.index)
        if recompute and touched:
            births = {p.id: p.birth_date for p in persons.values() if p.id in touched}
            rescored = recompute_people(conn, gw, touched, trigger="ingest", as_of=as_of, births=births)
            result.people_rescored = len(rescored)
            # A withdrawal recorded at the credit centre's counter cascades as one given in the app.
            withdrawn = [pid for pid, r in rescored if r.reason == Ineligibility.AUTHORISATION_WITHDRAWN]
            end_disclosures(conn, withdrawn, now=utcnow())
        append_audit(
            conn,
            actor_type="unit",
            actor_id=unit.id,
            action="ingest.batch",
            target_type="batch",
            target_ref=result.batch_id,
            details={
                "received": result.received,
                "accepted": len(result.accepted),
                "duplicates": len(result.duplicates),
                "rejected": len(result.rejected),
                "catalogue_version": gw.catalogue.version,
            },
        )
    record_ingestion(unit.id, len(result.accepted), len(result.duplicates), len(result.rejected))  # issue 13
    result.accepted.sort()
    result.duplicates.sort()
    result.rejected.sort(key=lambda r: r.index)
    log.info(
        "batch %s from %s: %d accepted, %d duplicates, %d rejected",
        result.batch_id,
        unit.id,
        len(result.accepted),
        len(result.duplicates),
        len(result.rejected),
    )
    return result
