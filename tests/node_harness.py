"""Node processes for the realtime tests: tests/realtime_js/harness.js (a stand-in for Frappe's Socket.IO
server) and client.js (socket.io-client), each writing JSON lines that a reader thread collects."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest
from common import stop_processes

HARNESS_DIR = Path(__file__).resolve().parent / "realtime_js"


@pytest.fixture(scope="session")
def node_modules() -> Path:
    """tests/realtime_js/node_modules, installed from the committed package-lock.json when missing."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.fail(
            "node and npm (Node 18+) are needed to test realtime/handlers.js: install Node.js "
            "(e.g. apt-get install nodejs npm), then run `npm ci --prefix tests/realtime_js`"
        )
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=True).stdout
    if int(version.strip().lstrip("v").split(".")[0]) < 18:
        pytest.fail(f"realtime/handlers.js needs Node 18+ (global fetch); found {version.strip()}")
    modules = HARNESS_DIR / "node_modules"
    # pytest-xdist runs a session per worker process: one installs while the others wait on the lock
    with open(HARNESS_DIR / ".npm-ci.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (modules / "socket.io").is_dir():
            done = subprocess.run(
                [npm, "ci", "--prefix", str(HARNESS_DIR), "--no-audit", "--no-fund"],
                capture_output=True,
                text=True,
                timeout=300,
            )
            if done.returncode != 0:
                pytest.fail(f"npm ci --prefix tests/realtime_js failed:\n{done.stdout}\n{done.stderr}")
    return modules


class JsonLines:
    """A process's stdout, one JSON object a line, collected by a reader thread."""

    def __init__(self, proc: subprocess.Popen):
        self.proc = proc
        self.lines: list[dict] = []
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        for raw in self.proc.stdout:
            try:
                self.lines.append(json.loads(raw))
            except ValueError:
                continue

    def wait_for(self, predicate, timeout: float = 15, message: str = "a line") -> dict:
        """The first line `predicate` accepts, waiting up to `timeout` seconds for it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if predicate(line):
                    return line
            if self.proc.poll() is not None and not self._thread.is_alive():
                break
            time.sleep(0.05)
        raise AssertionError(f"no {message} within {timeout}s (exit code {self.proc.poll()}): {self.lines}")

    def events(self, name: str) -> list[list]:
        """The arguments of every `name` event a client.js process received."""
        return [line["args"] for line in self.lines if line.get("event") == name]


class NodeProcesses:
    """harness.js and client.js processes; stopped (by PID) at teardown."""

    def __init__(self, redis_url: str):
        self.redis_url = redis_url
        self.processes: list[subprocess.Popen] = []

    def _spawn(self, args: list[str], env: dict[str, str] | None = None) -> JsonLines:
        proc = subprocess.Popen(
            ["node", *args], cwd=HARNESS_DIR, env={**os.environ, **(env or {})}, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, text=True,
        )
        self.processes.append(proc)
        return JsonLines(proc)

    def server(self, site: str, **env: str) -> tuple[str, JsonLines]:
        """A harness.js for `site` on a free port: its URL and its output."""
        out = self._spawn(
            [str(HARNESS_DIR / "harness.js")],
            {"FRAPPE_SOCKETIO_PORT": "0", "FRAPPE_REDIS_QUEUE": self.redis_url, "FRAPPE_SITE": site, **env},
        )
        port = out.wait_for(lambda line: "listening" in line, message="harness.js listening")["listening"]
        return f"http://127.0.0.1:{port}", out

    def client(self, url: str, headers: dict[str, str], emits: list[list] = ()) -> JsonLines:
        """A client.js connected to `url` (with the namespace), emitting `emits` once connected."""
        spec = {"url": url, "headers": headers, "emits": list(emits)}
        return self._spawn([str(HARNESS_DIR / "client.js"), json.dumps(spec)])

    def stop_all(self) -> None:
        stop_processes(self.processes)


@pytest.fixture
def node(node_modules, redis_server):
    pool = NodeProcesses(redis_server.url)
    yield pool
    pool.stop_all()
