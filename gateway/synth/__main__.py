"""``python -m gateway.synth``: write a synthetic population and print a one-line summary."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from gateway.synth.generator import generate


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gateway.synth", description=__doc__)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--residents", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--as-of", type=date.fromisoformat, default=date.today())
    args = parser.parse_args(argv)
    started = time.perf_counter()
    manifest = generate(args.residents, args.seed, args.out_dir, args.as_of)
    elapsed = max(time.perf_counter() - started, 1e-9)
    print(
        f"{manifest.residents} residents, {manifest.records} records in {elapsed:.1f} s "
        f"({manifest.residents / elapsed:,.0f} residents/s, {manifest.records / elapsed:,.0f} records/s)",
        file=sys.stdout,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
