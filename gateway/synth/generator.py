"""Write a synthetic population: one NDJSON file per collaborating unit, a manifest, a resident list.

The run is a single pass over residents. Each resident's records go into per-unit buffers that are
flushed every :data:`_FLUSH_EVERY` residents, so memory stays bounded apart from the set of ID
numbers used (one integer per resident, to keep them unique).
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Final, TextIO

from gateway.synth.people import DayTable, PopulationMaker
from gateway.synth.records import PLAN, UNITS, Emitter, UnitSink

__all__ = ["CATALOGUE_PATH", "GENERATOR", "SynthManifest", "UnitFile", "check_plan", "generate"]

GENERATOR: Final = "gateway synth"
CATALOGUE_PATH: Final = Path(__file__).resolve().parents[1] / "catalogue" / "sx-catalogue-2026.1.json"
_FLUSH_EVERY: Final = 2000


@dataclass(frozen=True, slots=True)
class UnitFile:
    unit: str
    unit_kind: str
    path: str  # file name within the output directory
    records: int


@dataclass(frozen=True, slots=True)
class SynthManifest:
    seed: int
    residents: int
    as_of: date
    catalogue_version: str
    files: tuple[UnitFile, ...]
    records: int
    generator: str = GENERATOR

    def to_json(self) -> dict[str, Any]:
        return {
            "generator": self.generator,
            "seed": self.seed,
            "residents": self.residents,
            "as_of": self.as_of.isoformat(),
            "catalogue_version": self.catalogue_version,
            "files": [
                {"unit": f.unit, "unit_kind": f.unit_kind, "path": f.path, "records": f.records} for f in self.files
            ],
            "records": self.records,
        }


def check_plan(catalogue: Mapping[str, Any]) -> str:
    """Check that every unit emits only items the catalogue lets its kind supply; return the version.

    :raises ValueError: naming the unit and item that the catalogue does not grant.
    """
    suppliers = {item["code"]: {s["kind"] for s in item["suppliers"]} for item in catalogue["items"]}
    for unit, kind, _ in UNITS:
        for item in PLAN[unit]:
            if kind not in suppliers.get(item, set()):
                raise ValueError(f"catalogue does not let {unit} ({kind}) supply {item}")
    return str(catalogue["version"])


def _flush(sinks: Mapping[str, UnitSink], files: Mapping[str, TextIO]) -> None:
    for unit, sink in sinks.items():
        if sink.lines:
            files[unit].write("".join(sink.lines))
            sink.lines.clear()


def generate(residents: int, seed: int, out_dir: Path, as_of: date) -> SynthManifest:
    """Generate ``residents`` synthetic residents and their records into ``out_dir``.

    The same ``(residents, seed, as_of)`` always produces byte-identical files. ``out_dir`` is
    created if needed; the unit files, ``residents.csv`` and ``manifest.json`` in it are replaced.
    """
    if residents < 0:
        raise ValueError("residents must not be negative")
    version = check_plan(json.loads(CATALOGUE_PATH.read_text(encoding="utf-8")))
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)  # noqa: S311 - synthetic data, reproducible by design
    days = DayTable(as_of)
    people = PopulationMaker(rng, days)
    sinks = {unit: UnitSink(unit, kind, prefix) for unit, kind, prefix in UNITS}
    emitter = Emitter(rng, days, sinks)
    with ExitStack() as stack:

        def open_out(name: str) -> TextIO:
            return stack.enter_context(open(out_dir / name, "w", encoding="utf-8", newline="\n"))

        files = {unit: open_out(f"{unit}.ndjson") for unit, _, _ in UNITS}
        roster = open_out("residents.csv")
        roster.write("id_number,name\n")
        lines: list[str] = []
        for i in range(1, residents + 1):
            person = people.next()
            lines.append(f"{person.id_number},{person.name}\n")
            emitter.resident(person)
            if i % _FLUSH_EVERY == 0:
                roster.write("".join(lines))
                lines.clear()
                _flush(sinks, files)
        roster.write("".join(lines))
        _flush(sinks, files)
    unit_files = tuple(UnitFile(s.unit, s.kind, f"{s.unit}.ndjson", s.records) for s in sinks.values())
    manifest = SynthManifest(
        seed=seed,
        residents=residents,
        as_of=as_of,
        catalogue_version=version,
        files=unit_files,
        records=sum(f.records for f in unit_files),
    )
    text = json.dumps(manifest.to_json(), ensure_ascii=False, indent=2) + "\n"
    (out_dir / "manifest.json").write_text(text, encoding="utf-8")
    return manifest
