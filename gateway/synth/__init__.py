"""Synthetic population generator: realistic, deterministic test data for the gateway.

``generate(residents, seed, out_dir, as_of)`` writes, in ``out_dir``:

* ``<unit_id>.ndjson`` for each collaborating unit, one information record per line in the
  ingestion format (``source_ref``, ``item``, ``subject``, ``occurred_at``, ``attributes``);
* ``manifest.json`` (seed, residents, as_of, catalogue version, per-file record counts);
* ``residents.csv`` (``id_number,name``; synthetic people only).

The frequencies are this project's synthetic assumptions, listed in
:mod:`gateway.synth.assumptions`; they are not facts about Shaoxing. Run from the shell with
``python -m gateway.synth --residents N --seed S --as-of YYYY-MM-DD OUT_DIR``.
"""

from __future__ import annotations

from gateway.synth.generator import GENERATOR, SynthManifest, UnitFile, generate
from gateway.synth.records import PLAN, UNITS

__all__ = ["GENERATOR", "PLAN", "UNITS", "SynthManifest", "UnitFile", "generate"]
