"""How every HTTP server of this project is run: ``gateway serve`` and the benchmark's reference app
alike, so that a comparison between them compares the application and nothing else.

Two settings matter for speed and are decided here, once, for both:

- ``TCP_NODELAY`` on the listening socket. With ``--workers`` above 1, uvicorn binds the socket
  itself with protocol number 0 and hands it to the workers; asyncio sets ``TCP_NODELAY`` only on
  sockets whose protocol is ``IPPROTO_TCP``, so the workers kept Nagle's algorithm and every response
  written in two pieces waited ~40 ms for the client's delayed ACK (measured by the bench harness).
  On Linux an accepted connection inherits the option from its listening socket.
- The event loop and HTTP parser. ``auto`` takes uvloop and httptools when the optional ``[speed]``
  extra is installed (``pip install -e '.[speed]'``), asyncio and h11 otherwise. The choice is resolved
  in the parent, before the workers fork, and written to standard error as one line
  (``serving: loop=… http=… workers=… tcp_nodelay=1``) that the harness reads back from each server's log.
"""

from __future__ import annotations

import importlib.util
import socket
import sys
from dataclasses import dataclass
from typing import Final

__all__ = ["ANNOUNCEMENT", "HTTP_CHOICES", "LOOP_CHOICES", "Implementation", "resolve_implementation", "run_server"]

LOOP_CHOICES: Final = ("auto", "asyncio", "uvloop")
HTTP_CHOICES: Final = ("auto", "h11", "httptools")
ANNOUNCEMENT: Final = "serving:"


@dataclass(frozen=True, slots=True)
class Implementation:
    loop: str  # "asyncio" or "uvloop"
    http: str  # "h11" or "httptools"

    def as_dict(self) -> dict[str, str]:
        return {"loop": self.loop, "http": self.http}


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def resolve_implementation(loop: str = "auto", http: str = "auto") -> Implementation:
    """The concrete loop and HTTP implementation for the requested ones.

    :raises ValueError: an unknown name, or uvloop/httptools asked for by name and not installed.
    """
    if loop not in LOOP_CHOICES or http not in HTTP_CHOICES:
        raise ValueError(f"loop is one of {LOOP_CHOICES}, http one of {HTTP_CHOICES}")
    for wanted in (loop, http):
        if wanted in ("uvloop", "httptools") and not _installed(wanted):
            raise ValueError(f"{wanted} is not installed: pip install 'shaoxing-integrity-gateway[speed]'")
    return Implementation(
        loop=loop if loop != "auto" else ("uvloop" if _installed("uvloop") else "asyncio"),
        http=http if http != "auto" else ("httptools" if _installed("httptools") else "h11"),
    )


def run_server(app: str, *, host: str, port: int, workers: int, loop: str = "auto", http: str = "auto") -> None:
    """Serve the app factory ``app`` (an import string) until stopped."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    impl = resolve_implementation(loop, http)
    config = uvicorn.Config(
        app,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        loop=impl.loop,
        http=impl.http,
        access_log=False,  # URLs never hold personal data, but access logs are not needed here
        log_level="warning",
    )
    sock = config.bind_socket()
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    print(
        f"{ANNOUNCEMENT} loop={impl.loop} http={impl.http} workers={workers} tcp_nodelay=1",
        file=sys.stderr,
        flush=True,
    )
    if workers > 1:
        Multiprocess(config, sockets=[sock]).run()
    else:
        uvicorn.Server(config).run(sockets=[sock])
