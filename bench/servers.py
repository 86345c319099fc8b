"""Starting and stopping the servers under test: the gateway and the reference app, each a uvicorn
subprocess on 127.0.0.1 in a session of its own, so that stopping it by its process-group id also
stops the workers uvicorn forked — and nothing else."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx

from gateway.config import PROJECT_ROOT
from gateway.serving import ANNOUNCEMENT

__all__ = ["Server", "free_port", "start_gateway", "start_reference", "uvicorn_implementation"]

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def uvicorn_implementation(loop: str = "auto", http: str = "auto") -> dict[str, str]:
    """What the requested loop and HTTP implementation resolve to here (the same for the gateway
    and the reference: both are served by :func:`gateway.serving.run_server`)."""
    from gateway.serving import resolve_implementation

    return resolve_implementation(loop, http).as_dict()


@dataclass(slots=True)
class Server:
    name: str
    port: int
    workers: int
    proc: subprocess.Popen[bytes]
    log_path: Path
    log: IO[bytes]
    stopped: bool = False

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def wait_ready(self, path: str, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                if httpx.get(self.base_url + path, timeout=2.0, trust_env=False).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            # uvicorn's supervisor restarts workers that fail to import the app, for ever: a
            # traceback in the log before the first answer means it will not come up.
            if time.monotonic() > deadline - timeout + 5 and "Traceback" in self.log_tail(400):
                break
            time.sleep(0.1)
        tail = self.log_tail()
        self.stop()
        raise RuntimeError(f"{self.name} did not become ready:\n{tail}")

    def implementation(self) -> dict[str, str] | None:
        """The loop and HTTP implementation this server announced in its log (see gateway.serving)."""
        for line in self.log_tail(400).splitlines():
            if line.startswith(ANNOUNCEMENT):
                fields = dict(part.split("=", 1) for part in line.split()[1:] if "=" in part)
                return {"loop": fields.get("loop", "?"), "http": fields.get("http", "?")}
        return None

    def log_tail(self, lines: int = 30) -> str:
        if not self.log.closed:
            self.log.flush()
        try:
            return "\n".join(self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        """SIGTERM to the server's own process group (uvicorn's supervisor and its workers), then
        SIGKILL to the same group if it has not exited within 15 s. Only once."""
        if self.stopped:
            return
        self.stopped = True
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=15)
        else:
            # The supervisor is gone; make sure no worker of its group outlived it.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.log.close()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _spawn(name: str, cmd: list[str], env: Mapping[str, str], port: int, workers: int, log_dir: Path) -> Server:
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}-{workers}w-{port}.log"
    log = log_path.open("ab")
    pythonpath = os.pathsep.join(p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH", "")) if p)
    proc = subprocess.Popen(  # noqa: S603 - our own interpreter with fixed arguments
        cmd,
        cwd=PROJECT_ROOT,
        env={**env, "PYTHONPATH": pythonpath},
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: stopped as a whole, by its id
    )
    return Server(name=name, port=port, workers=workers, proc=proc, log_path=log_path, log=log)


def start_gateway(
    env: Mapping[str, str], workers: int, log_dir: Path, *, loop: str = "auto", http: str = "auto"
) -> Server:
    """``gateway serve`` exactly as an operator runs it (migrations before the workers fork)."""
    port = free_port()
    cmd = [sys.executable, "-m", "gateway.cli", "serve", "--host", HOST, "--port", str(port)]
    cmd += ["--workers", str(workers), "--loop", loop, "--http", http]
    server = _spawn("gateway", cmd, env, port, workers, log_dir)
    server.wait_ready("/readyz")
    return server


def start_reference(
    env: Mapping[str, str], workers: int, log_dir: Path, *, loop: str = "auto", http: str = "auto"
) -> Server:
    """The reference app through the same launcher as ``gateway serve`` (socket, loop, parser)."""
    port = free_port()
    cmd = [sys.executable, "-m", "bench.serve", "bench.reference:create_app", "--port", str(port)]
    cmd += ["--workers", str(workers), "--loop", loop, "--http", http]
    server = _spawn("reference", cmd, env, port, workers, log_dir)
    server.wait_ready("/jwks")
    return server
