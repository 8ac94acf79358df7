"""`BotStack`: the whole bot as real processes (simulator, web, monitor, worker) for a test.

It gets its own database (a SQLite file, or a fresh PostgreSQL database next to the one
DATABASE_URL names) and, when Redis is configured, its own Redis database, so it never
touches the suite's data. Without Redis it is the embedded default: in-memory channel layer,
trades in-process, pages poll. With Redis it is the production shape: a Celery worker trades
and the dashboard gets pushes.

For fault injection: `RedisServer` is a private redis-server on a free port that a test may
stop and start again; `BotStack(..., live=True)` hands the processes the simulator's keys;
`kill_worker()`/`start_worker()` crash and restart the worker; `rows()` reads the stack's
database directly; `ws_backoff_s` sets the monitor's WebSocket reconnect schedule
(MEXC_WS_BACKOFF_S; production: 1, 2, 4 ... 30 s), so twenty drops fit in a test.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from mexc.simulator.process import SimulatorProcess, free_port

ROOT = Path(__file__).resolve().parents[2]
STACK_REDIS_DB = 13  # the suite's own Redis work uses db 0


def wait_until(predicate, timeout: float, what: str):
    """Another process owns the state: check it until it holds (returns its value) or time out."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


WEB_PORT_TRIES = 3  # ports are checked free, then bound by another process: a race, rarely lost


class RedisServer:
    """A private `redis-server` on a free port, no persistence: stop it, start it again."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @staticmethod
    def available() -> bool:
        return shutil.which("redis-server") is not None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def start(self) -> RedisServer:
        log = (self.workdir / f"redis-{self.port}.log").open("ab")
        self.proc = subprocess.Popen(
            [
                shutil.which("redis-server") or "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=log,
            stderr=log,
        )
        wait_until(self.ping, 10, f"redis-server on port {self.port}")
        return self

    def stop(self) -> None:
        """SIGKILL: Redis is gone at once (queued messages too: it keeps nothing on disk)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None
        wait_until(lambda: not self.ping(), 5, "redis-server to stop")

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _fresh_postgres(url: str, name: str) -> str:
    import psycopg

    parts = urlsplit(url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(parts._replace(path=f"/{name}"))


def _fresh_redis(url: str) -> str:
    import redis

    stack_url = urlunsplit(urlsplit(url)._replace(path=f"/{STACK_REDIS_DB}"))
    redis.Redis.from_url(stack_url).flushdb()
    return stack_url


class BotStack:
    def __init__(
        self,
        workdir: Path,
        *,
        database_url: str | None,
        redis_url: str | None,
        live: bool = False,
        extra_env: dict[str, str] | None = None,
        sim_args: tuple[str, ...] = (),
        ws_backoff_s: tuple[float, ...] | None = None,
        worker_concurrency: int = 2,
    ) -> None:
        """`live`: the processes get the simulator's API keys (live mode can place orders)."""
        self.workdir = workdir
        self.sim = SimulatorProcess("--no-scenario", "--mini-tickers-interval-ms", "100", *sim_args)
        self.live = live
        self.extra_env = dict(extra_env or {})
        self.ws_backoff_s = ws_backoff_s
        self.worker_concurrency = worker_concurrency
        self.port = free_port()
        self.redis_url = _fresh_redis(redis_url) if redis_url else None
        if database_url and database_url.startswith(("postgres://", "postgresql://")):
            # Its own name: stacks of two test runs on one server never drop each other's.
            self._pg_admin_url = database_url
            self._pg_name = f"sniperbot_stack_{os.getpid()}_{self.port}"
            self.database_url = _fresh_postgres(database_url, self._pg_name)
        else:
            self.database_url = f"sqlite:///{workdir / 'stack.sqlite3'}"
        self.procs: dict[str, subprocess.Popen] = {}
        self._reader = None  # rows(): the kept PostgreSQL connection

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("DJANGO_", "MEXC_", "PYTEST")) and key != "REDIS_URL"
        }
        env.update(
            PYTHONUNBUFFERED="1",
            PYTHONPATH=str(ROOT),
            DJANGO_SETTINGS_MODULE="sniperbot.settings",
            SECRET_KEY="stack-test-secret-key-not-for-production-0123456789",
            SNIPERBOT_VAR_DIR=str(self.workdir / "var"),
            DATABASE_URL=self.database_url,
            MEXC_REST_URL=self.sim.rest_url,
            MEXC_WS_URL=self.sim.ws_url,
            MEXC_CALENDAR_URL=self.sim.calendar_url,
            MONITOR_CALENDAR_INTERVAL_S="2",
            LOG_LEVEL="INFO",
        )
        if self.redis_url:
            env["REDIS_URL"] = self.redis_url
        if self.live:
            env.update(MEXC_API_KEY=self.sim.api_key, MEXC_SECRET_KEY=self.sim.secret_key)
        if self.ws_backoff_s:
            env["MEXC_WS_BACKOFF_S"] = ",".join(str(x) for x in self.ws_backoff_s)
        env.update(self.extra_env)
        return env

    def manage(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stderr[-3000:]}")
        return done.stdout

    def spawn(self, name: str, *command: str) -> subprocess.Popen:
        log = (self.workdir / f"{name}.log").open("ab")
        proc = subprocess.Popen(command, cwd=ROOT, env=self.env(), stdout=log, stderr=log)
        self.procs[name] = proc
        return proc

    def log(self, name: str) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def wait_for(self, what: str, ready, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise RuntimeError(
                        f"{name} exited ({proc.returncode}):\n{self.log(name)[-3000:]}"
                    )
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what} not ready after {timeout} s")
            time.sleep(0.05)

    def _answers(self, path: str) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}{path}", timeout=1) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def start(self, *, monitor_running: bool = False, config: dict | None = None) -> BotStack:
        """Simulator, migrated database, web and (with Redis) a worker, then the monitor.

        The monitor starts stopped unless `monitor_running`: an operator starts it. `config`:
        trading config changes applied before any process starts (see `configure`).
        """
        self.sim.start()
        self.manage("migrate", "--noinput")
        if config:
            self.configure(reason="stack start", **config)
        if not monitor_running:
            self.manage("monitor", "start")
            self.manage("monitor", "stop")
        self._spawn_web()
        if self.redis_url:
            self.start_worker()
        self.start_monitor()
        for _ in range(WEB_PORT_TRIES - 1):
            try:
                self.wait_for("web", lambda: self._answers("/health"))
                return self
            except RuntimeError:
                if "Address already in use" not in self.log("web"):
                    raise
            # taken between the check (free_port) and daphne's bind: another port
            self.procs.pop("web")
            (self.workdir / "web.log").unlink()
            self.port = free_port()
            self._spawn_web()
        self.wait_for("web", lambda: self._answers("/health"))
        return self

    def _spawn_web(self) -> None:
        self.spawn(
            "web",
            str(Path(sys.executable).parent / "daphne"),
            "-b",
            "127.0.0.1",
            "-p",
            str(self.port),
            "sniperbot.asgi:application",
        )

    # --- processes a test crashes and restarts -------------------------------------------------

    def start_worker(self) -> None:
        """A Celery worker (thread pool); returns once it says "ready." (it reconciles then)."""
        readies = self.log("worker").count("ready.")
        self.spawn(
            "worker",
            str(Path(sys.executable).parent / "celery"),
            "-A",
            "sniperbot",
            "worker",
            "-Q",
            "celery,alerts",  # one worker here; production runs an `alerts` worker apart
            "-P",
            "threads",
            "-c",
            str(self.worker_concurrency),
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-l",
            "INFO",  # its "ready." line is what this waits for
        )
        self.wait_for("worker", lambda: self.log("worker").count("ready.") > readies, timeout=60)

    def kill_worker(self) -> None:
        """SIGKILL: the worker dies wherever it is, without acking or recording anything."""
        self.kill("worker")

    def kill(self, name: str) -> None:
        """SIGKILL one process ("worker", "monitor", ...): it dies wherever it is."""
        proc = self.procs.pop(name)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    def start_monitor(self) -> None:
        self.spawn("monitor", sys.executable, "manage.py", "run_monitor")

    def alive(self) -> dict[str, bool]:
        return {name: proc.poll() is None for name, proc in self.procs.items()}

    # --- the stack's data ----------------------------------------------------------------------

    def rows(self, sql: str) -> list[tuple]:
        """Run a read-only query on the stack's database (SQLite or PostgreSQL) directly."""
        if self.database_url.startswith("sqlite:///"):
            import sqlite3

            conn = sqlite3.connect(self.database_url.removeprefix("sqlite:///"), timeout=20)
            try:
                return conn.execute(sql).fetchall()
            finally:
                conn.close()
        import psycopg

        # One kept connection: a new one forks a PostgreSQL backend (milliseconds of CPU on
        # the machine under test, which would land inside a benchmark's measured window).
        for attempt in (1, 2):
            if self._reader is None or self._reader.closed:
                self._reader = psycopg.connect(self.database_url, autocommit=True)
            try:
                return self._reader.execute(sql).fetchall()
            except psycopg.OperationalError:
                self._reader.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def configure(self, reason: str = "stack test", **changes: object) -> None:
        """Change the trading config through `risk.services.config_update` (a new version)."""
        self.manage(
            "shell",
            "-c",
            "import json; from risk.services import config_update; "
            f"config_update(actor=None, changes=json.loads({json.dumps(json.dumps(changes))}), "
            f"reason={reason!r})",
        )

    def sim_call(self, method: str, path: str, body: dict | None = None) -> dict:
        """The simulator's control API (`/_sim/...`)."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"{self.sim.rest_url}{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            payload = response.read()
        return json.loads(payload) if payload else {}

    def stop(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        self.procs.clear()
        self.sim.stop()
        if getattr(self, "_pg_name", None):
            import psycopg

            with psycopg.connect(self._pg_admin_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self._pg_name}" WITH (FORCE)')

    def __enter__(self) -> BotStack:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()
