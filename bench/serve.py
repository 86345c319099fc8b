"""``python -m bench.serve APP --port N --workers W [--loop L --http H]``: the reference app served
exactly as ``gateway serve`` serves the gateway, through the same :func:`gateway.serving.run_server`
(``TCP_NODELAY`` on the listening socket, the same uvicorn settings, the same loop and HTTP
implementation). The harness starts the gateway with ``gateway serve`` itself.
"""

from __future__ import annotations

import argparse
import sys

from gateway.serving import HTTP_CHOICES, LOOP_CHOICES, run_server

__all__ = ["main"]


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.serve")
    p.add_argument("app", help="import string of an app factory, e.g. bench.reference:create_app")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--loop", choices=LOOP_CHOICES, default="auto")
    p.add_argument("--http", choices=HTTP_CHOICES, default="auto")
    args = p.parse_args(argv)
    run_server(args.app, host="127.0.0.1", port=args.port, workers=args.workers, loop=args.loop, http=args.http)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
