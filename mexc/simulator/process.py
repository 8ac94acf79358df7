"""``SimulatorProcess``: ``python -m mexc.simulator`` as a real subprocess on a free port.

For process-level tests (kill -9, restart on the same port). Usable with ``with`` or
``async with``; both wait until ``/api/v3/ping`` answers.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import aiohttp

from .config import SimulatorConfig

# Below Linux's ephemeral range (32768-60999): a port the kernel hands to outgoing connections
# (to PostgreSQL, Redis...) could be taken between this check and the server's own bind.
LISTEN_PORTS = range(20000, 32768)


def free_port(host: str = "127.0.0.1") -> int:
    """A port free to listen on now, outside the range outgoing connections draw from."""
    for port in random.sample(LISTEN_PORTS, 200):
        with socket.socket() as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return port
    raise OSError(f"no free port in {LISTEN_PORTS} on {host}")


class SimulatorProcess:
    def __init__(
        self,
        *args: str,
        port: int | None = None,
        host: str = "127.0.0.1",
        api_key: str = SimulatorConfig.api_key,
        secret_key: str = SimulatorConfig.secret_key,
        startup_timeout: float = 15.0,
    ) -> None:
        """``args`` are extra CLI flags, e.g. ``"--no-scenario", "--rate-limit", "50"``."""
        self.host = host
        self.port = port or free_port(host)
        self.api_key = api_key
        self.secret_key = secret_key
        self.args = list(args)
        self.startup_timeout = startup_timeout
        self.proc: subprocess.Popen | None = None
        self._log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - lives as long as self
            prefix="mexc-sim-", suffix=".log", delete=False
        )
        self.log_path = Path(self._log.name)

    @property
    def rest_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}/ws"

    @property
    def calendar_url(self) -> str:
        return f"{self.rest_url}/api/operation/new_coin_calendar"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "mexc.simulator",
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--api-key",
            self.api_key,
            "--secret-key",
            self.secret_key,
            *self.args,
        ]

    def spawn(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            raise RuntimeError("simulator process already running")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
        self.proc = subprocess.Popen(
            self.command(), stdout=self._log, stderr=subprocess.STDOUT, env=env
        )

    def _ping(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.rest_url}/api/v3/ping", timeout=0.5) as r:
                return r.status == 200
        except (urllib.error.URLError, OSError):
            return False

    async def _aping(self) -> bool:
        timeout = aiohttp.ClientTimeout(total=0.5)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.get(f"{self.rest_url}/api/v3/ping") as r,
            ):
                return r.status == 200
        except (aiohttp.ClientError, OSError, TimeoutError):
            return False

    def _check_alive(self) -> None:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(
                f"simulator exited with {self.proc.returncode}: {self.output()[-2000:]}"
            )

    def start(self) -> SimulatorProcess:
        self.spawn()
        deadline = time.monotonic() + self.startup_timeout
        while not self._ping():
            self._check_alive()
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"simulator did not answer ping on {self.rest_url}")
            time.sleep(0.02)
        return self

    async def astart(self) -> SimulatorProcess:
        self.spawn()
        deadline = time.monotonic() + self.startup_timeout
        while not await self._aping():
            self._check_alive()
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"simulator did not answer ping on {self.rest_url}")
            await asyncio.sleep(0.02)
        return self

    def stop(self, timeout: float = 5.0) -> int | None:
        """SIGTERM, then SIGKILL if it lingers. Returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def kill(self) -> None:
        """SIGKILL: an abrupt crash (no cleanup, connections reset)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def restart(self) -> SimulatorProcess:
        """Stop and start again on the same port (fresh state)."""
        self.stop()
        return self.start()

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def __enter__(self) -> SimulatorProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self._cleanup()

    async def __aenter__(self) -> SimulatorProcess:
        return await self.astart()

    async def __aexit__(self, *exc: object) -> None:
        self.stop()
        self._cleanup()

    def _cleanup(self) -> None:
        self._log.close()
        self.log_path.unlink(missing_ok=True)
