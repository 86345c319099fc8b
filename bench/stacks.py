"""``gateway serve``'s absolute throughput with and without the ``[speed]`` extra (issue 12).

The main HTTP phase runs on whatever ``--loop``/``--http`` resolve to (``auto``: uvloop and httptools
when installed). This adds one more 1-worker gateway on the other stack — asyncio + h11 after a
uvloop + httptools run, or the reverse when the extra is installed but was not chosen — and drives
issuance and the JWKS on it exactly as the main phase did, so the report holds both stacks' req/s
side by side (``serving_stacks``). When uvloop or httptools is not installed, it says so instead.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.driver import Request
from bench.population import TokenSource
from bench.servers import start_gateway
from gateway.serving import resolve_implementation

__all__ = ["PLAIN", "SPEED", "measure_stacks", "stack_name"]

SPEED = "uvloop+httptools"
PLAIN = "asyncio+h11"
JSON = {"Content-Type": "application/json"}


def stack_name(impl: dict[str, str] | None) -> str | None:
    if not impl:
        return None
    return f"{impl.get('loop')}+{impl.get('http')}"


def measure_stacks(
    args: argparse.Namespace,
    runner: Any,
    env: dict[str, str],
    issuer: str,
    http: dict[str, Any],
    bodies: tuple[bytes, ...],
    log_dir: Path,
    say: Callable[[str], None],
) -> dict[str, Any]:
    """Issuance and JWKS req/s at 1 worker on both stacks: the main phase's figures for the stack it
    ran on, one extra gateway for the other."""
    runs = http.get("runs", {}).get("1")
    main = stack_name(http.get("servers", {}).get("1", {}).get("gateway"))
    if not runs or main is None or "issuance" not in runs:
        return {"skipped": "no 1-worker HTTP figures to compare with"}
    out: dict[str, Any] = {main: {name: runs[name]["rps"] for name in ("issuance", "jwks") if name in runs}}
    try:
        speed = resolve_implementation("uvloop", "httptools")
    except ValueError:
        out["note"] = "uvloop/httptools not installed (pip install -e '.[speed]'): only the plain stack measured"
        return out
    other = PLAIN if main == SPEED else stack_name(speed.as_dict())
    loop, parser = ("asyncio", "h11") if other == PLAIN else ("uvloop", "httptools")
    say(f"  1w gateway on {other}: issuance and JWKS, for the serving stacks' comparison")
    with start_gateway(env, 1, log_dir, loop=loop, http=parser) as gw:
        token = TokenSource(gw.base_url, issuer).token(http["partner"])
        plan = {
            "issuance": Request(
                "POST", gw.base_url + "/v1/assertions", {**JSON, "Authorization": f"Bearer {token}"}, bodies
            ),
            "jwks": Request("GET", gw.base_url + "/.well-known/jwks.json"),
        }
        out[str(other)] = {name: runner.closed(req).rps for name, req in plan.items()}
        out["other_stack_as_announced"] = stack_name(gw.implementation())
    if SPEED in out and PLAIN in out:
        out["speed_over_plain"] = {
            name: round(out[SPEED][name] / out[PLAIN][name], 3) for name in ("issuance", "jwks") if out[PLAIN].get(name)
        }
    return out
