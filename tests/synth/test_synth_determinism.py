"""Same (residents, seed, as_of) gives the same bytes; any change gives different ones."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from gateway.synth import generate

AS_OF = date(2026, 3, 31)


def _snapshot(out_dir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out_dir.iterdir())}


def test_same_seed_gives_identical_bytes(tmp_path: Path) -> None:
    first = generate(400, 7, tmp_path / "a", AS_OF)
    second = generate(400, 7, tmp_path / "b", AS_OF)
    assert first == second
    a, b = _snapshot(tmp_path / "a"), _snapshot(tmp_path / "b")
    assert len(a) == 13 and a == b


def test_regenerating_into_the_same_directory_replaces_the_files(tmp_path: Path) -> None:
    generate(300, 7, tmp_path, AS_OF)
    before = _snapshot(tmp_path)
    generate(200, 8, tmp_path, AS_OF)
    generate(300, 7, tmp_path, AS_OF)
    assert _snapshot(tmp_path) == before


def test_another_seed_gives_different_files(tmp_path: Path) -> None:
    generate(400, 7, tmp_path / "a", AS_OF)
    generate(400, 8, tmp_path / "b", AS_OF)
    a, b = _snapshot(tmp_path / "a"), _snapshot(tmp_path / "b")
    assert a["residents.csv"] != b["residents.csv"]
    assert a["sx-public-security.ndjson"] != b["sx-public-security.ndjson"]


def test_another_as_of_gives_different_files(tmp_path: Path) -> None:
    generate(400, 7, tmp_path / "a", AS_OF)
    generate(400, 7, tmp_path / "b", date(2025, 12, 31))
    assert (
        _snapshot(tmp_path / "a")["zj-credit-platform.ndjson"] != _snapshot(tmp_path / "b")["zj-credit-platform.ndjson"]
    )


def test_a_larger_run_starts_with_the_smaller_one(tmp_path: Path) -> None:
    generate(100, 7, tmp_path / "a", AS_OF)
    generate(300, 7, tmp_path / "b", AS_OF)
    small = (tmp_path / "a" / "residents.csv").read_text(encoding="utf-8")
    large = (tmp_path / "b" / "residents.csv").read_text(encoding="utf-8")
    assert large.startswith(small) and len(large) > len(small)
