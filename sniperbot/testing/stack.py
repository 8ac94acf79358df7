"""`BotStack`: the whole bot as real processes (simulator, web, monitor, worker) for a test.

It gets its own database (a SQLite file, or a fresh PostgreSQL database next to the one
DATABASE_URL names) and, when Redis is configured, its own Redis database, so it never
touches the suite's data. Without Redis it is the embedded default: in-memory channel layer,
trades in-process, pages poll. With Redis it is the production shape: a Celery worker trades
and the dashboard gets pushes.
"""

from __future__ import annotations

import os
import signal
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
    def __init__(self, workdir: Path, *, database_url: str | None, redis_url: str | None) -> None:
        self.workdir = workdir
        self.sim = SimulatorProcess("--no-scenario", "--mini-tickers-interval-ms", "100")
        self.port = free_port()
        self.redis_url = _fresh_redis(redis_url) if redis_url else None
        if database_url and database_url.startswith(("postgres://", "postgresql://")):
            self.database_url = _fresh_postgres(database_url, "sniperbot_stack")
        else:
            self.database_url = f"sqlite:///{workdir / 'stack.sqlite3'}"
        self.procs: dict[str, subprocess.Popen] = {}

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

    def start(self, *, monitor_running: bool = False) -> BotStack:
        """Simulator, migrated database, web and (with Redis) a worker, then the monitor.

        The monitor starts stopped unless `monitor_running`: an operator starts it.
        """
        self.sim.start()
        self.manage("migrate", "--noinput")
        if not monitor_running:
            self.manage("monitor", "start")
            self.manage("monitor", "stop")
        bin_dir = Path(sys.executable).parent
        self.spawn(
            "web",
            str(bin_dir / "daphne"),
            "-b",
            "127.0.0.1",
            "-p",
            str(self.port),
            "sniperbot.asgi:application",
        )
        if self.redis_url:
            self.spawn(
                "worker",
                str(bin_dir / "celery"),
                "-A",
                "sniperbot",
                "worker",
                "-P",
                "threads",
                "-c",
                "2",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-l",
                "INFO",  # its "ready." line is what start() waits for
            )
            self.wait_for("worker", lambda: "ready." in self.log("worker"), timeout=60)
        self.spawn("monitor", sys.executable, "manage.py", "run_monitor")
        self.wait_for("web", lambda: self._answers("/health"))
        return self

    def stop(self) -> None:
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

    def __enter__(self) -> BotStack:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()
