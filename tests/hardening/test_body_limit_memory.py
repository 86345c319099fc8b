"""Defect 1 on a real server: a 256 MiB body streamed at an unauthenticated endpoint leaves the
gateway's memory flat (uvicorn in a subprocess on 127.0.0.1, RSS read from /proc)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.hardening.conftest import suite_on_postgres

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc"),
    pytest.mark.skipif(suite_on_postgres(), reason="independent of the suite database: runs in the SQLite run"),
]

MIB = 1 << 20
TOTAL = 256 * MIB


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rss_kib(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(field)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[int, int]]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env["GATEWAY_DATA_DIR"] = str(tmp_path / "data")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "gateway.api.app:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else "server died"
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.2)
        yield port, proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _stream(port: int, head: bytes, chunked: bool) -> tuple[int, bytes]:
    """Send ``head`` then up to 256 MiB of body; return how much went out and what came back."""
    sent = 0
    reply = b""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head)
        block = b"a" * MIB
        piece = (f"{MIB:x}\r\n".encode() + block + b"\r\n") if chunked else block
        try:
            while sent < TOTAL:
                sock.sendall(piece)
                sent += MIB
            if chunked:
                sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the server answered and closed: the rest of the body is never read
        try:
            sock.settimeout(5)
            while chunk := sock.recv(65536):
                reply += chunk
        except OSError:
            pass
    return sent, reply


def test_streamed_256_mib_bodies_keep_memory_flat(server: tuple[int, int]) -> None:
    port, pid = server
    before = _rss_kib(pid)
    cases = [
        (
            b"POST /oauth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: %d\r\n\r\n" % TOTAL,
            False,
        ),
        (
            b"POST /oauth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n",
            True,
        ),
        (
            b"POST /v1/assertions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n",
            True,
        ),
    ]
    for head, chunked in cases:
        _, reply = _stream(port, head, chunked)
        status_line = reply.split(b"\r\n", 1)[0]
        # The 413 may be lost when the server closes before the client stops writing (RST), but
        # whenever an answer arrives it is the problem, never a 200 or a 500.
        if status_line:
            assert b" 413 " in status_line, status_line
            assert b"application/problem+json" in reply
    # The server is still healthy and its memory did not follow the bodies.
    assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
    after = _rss_kib(pid)
    peak = _rss_kib(pid, "VmHWM")
    assert after - before < 8 * 1024, (before, after)
    assert peak - before < 16 * 1024, (before, peak)
