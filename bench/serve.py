"""``python -m bench.serve``: uvicorn as ``gateway serve`` runs it, but with ``TCP_NODELAY`` set on
the listening socket (``--tcp-nodelay`` runs of the harness start both servers this way).

Why: with ``--workers`` above 1, uvicorn binds the socket itself as ``socket.socket(family)``
(protocol number 0) and hands it to the worker processes; asyncio only sets ``TCP_NODELAY`` on
sockets whose protocol is ``IPPROTO_TCP``, so the workers' connections keep Nagle's algorithm,
and a response written in two pieces waits for the client's delayed ACK: about 40 ms per request.
With one worker uvicorn lets asyncio create the socket and the option is set. On Linux an accepted
connection inherits ``TCP_NODELAY`` from its listening socket, which is what this sets.
"""

from __future__ import annotations

import argparse
import socket
import sys

__all__ = ["main"]


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.serve")
    p.add_argument("app", help="import string of an app factory, e.g. gateway.api.app:create_app")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--prepare-gateway", action="store_true", help="build the gateway once first, as gateway serve")
    args = p.parse_args(argv)

    import uvicorn
    from uvicorn.supervisors import Multiprocess

    if args.prepare_gateway:
        from gateway.config import Settings
        from gateway.services.context import Gateway

        Gateway.build(Settings.from_env()).close()
    config = uvicorn.Config(
        args.app,
        factory=True,
        host="127.0.0.1",
        port=args.port,
        workers=args.workers,
        access_log=False,
        log_level="warning",
    )
    sock = config.bind_socket()
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if args.workers > 1:
        Multiprocess(config, sockets=[sock]).run()
    else:
        uvicorn.Server(config).run(sockets=[sock])
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
