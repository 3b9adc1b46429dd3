"""Services and network faults of a benchmark's own: a private mariadbd, and a worker "host" in a
network namespace whose link to the database can be cut.

OwnMariaDB runs `mariadbd` on a free port with its own data directory (made by mariadb-install-db),
so a soak may kill -9 it by PID and restart it on the same data, as a crash and a supervisor would,
without touching the machine's MariaDB. WorkerHost is a network namespace joined to this host by two
veth pairs on test addresses (10.231.x.y): one carries the database's traffic and one Redis's, so
taking the database link down partitions that host from the database alone. Packets on a link that
is down are dropped, not refused: the host's connections hang as they would behind a failed switch.
Both need root and the binaries; `unavailable()` says why not, so callers skip with that reason.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import uuid
from contextlib import suppress
from pathlib import Path

import sqlalchemy as sa
from common import free_port, wait_until

HOST_DB, HOST_REDIS = "10.231.7.1", "10.231.8.1"
_NETNS_DB, _NETNS_REDIS = "10.231.7.2", "10.231.8.2"


class OwnMariaDB:
    """A mariadbd of this run's own; only its PID is ever signalled."""

    def __init__(self, workdir: Path, bind: tuple[str, ...] = ("127.0.0.1",)):
        self.workdir = workdir
        self.datadir = workdir / "data"
        self.bind = bind
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @staticmethod
    def unavailable() -> str | None:
        missing = [b for b in ("mariadbd", "mariadb-install-db") if shutil.which(b) is None]
        return f"{', '.join(missing)} not on PATH" if missing else None

    @staticmethod
    def version() -> str:
        return subprocess.run(["mariadbd", "--version"], capture_output=True, text=True).stdout.strip()

    def url(self, host: str = "127.0.0.1", database: str = "") -> str:
        return f"mysql+mysqldb://root@{host}:{self.port}/{database}"

    def start(self) -> OwnMariaDB:
        if not self.datadir.exists():
            subprocess.run(
                ["mariadb-install-db", "--no-defaults", f"--datadir={self.datadir}", "--user=root",
                 "--auth-root-authentication-method=normal", "--skip-test-db"],
                check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
        self.process = subprocess.Popen(
            ["mariadbd", "--no-defaults", f"--datadir={self.datadir}", f"--port={self.port}",
             f"--bind-address={','.join(self.bind)}", f"--socket={self.workdir / 'mariadbd.sock'}",
             f"--pid-file={self.workdir / 'mariadbd.pid'}", "--user=root", "--skip-log-bin",
             "--skip-name-resolve", "--innodb-buffer-pool-size=64M", "--max-connections=500",
             f"--log-error={self.workdir / 'mariadbd.err'}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_until(self._answers, 60, "the private mariadbd to accept connections", 0.1)
        return self

    def _answers(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"mariadbd exited ({self.process.returncode}); see {self.workdir / 'mariadbd.err'}")
        engine = sa.create_engine(self.url())
        try:
            with engine.connect():
                return True
        except sa.exc.OperationalError:
            return False
        finally:
            engine.dispose()

    def allow_root_from_anywhere(self) -> None:
        """The namespace's worker connects from a test address, not from 127.0.0.1."""
        engine = sa.create_engine(self.url(), isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.exec_driver_sql("CREATE USER IF NOT EXISTS 'root'@'10.231.%%'")
            conn.exec_driver_sql("GRANT ALL ON *.* TO 'root'@'10.231.%%'")
        engine.dispose()

    def kill9(self) -> None:
        """SIGKILL the server by its PID (a crash: no shutdown, InnoDB recovers at the next start)."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.kill9()


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


class WorkerHost:
    """A network namespace reaching this host's database at HOST_DB and Redis at HOST_REDIS."""

    def __init__(self) -> None:
        tag = uuid.uuid4().hex[:6]
        self.namespace = f"dwsoak-{tag}"
        self._links = {"db": f"dwd{tag}", "redis": f"dwr{tag}"}  # host sides; peers end in "n"
        self.created: list[str] = []

    @staticmethod
    def unavailable() -> str | None:
        if os.geteuid() != 0:
            return "network namespaces need root"
        if shutil.which("ip") is None:
            return "iproute2 (ip) not on PATH"
        probe = f"dwprobe{os.getpid()}"
        try:
            _ip("netns", "add", probe)
            _ip("netns", "del", probe)
        except (subprocess.CalledProcessError, OSError) as exc:
            return f"cannot create a network namespace: {getattr(exc, 'stderr', b'') or exc!r}"
        return None

    def create(self) -> WorkerHost:
        _ip("netns", "add", self.namespace)
        self.created.append("netns")
        _ip("netns", "exec", self.namespace, "ip", "link", "set", "lo", "up")
        for link, (host_address, ns_address) in (
            (self._links["db"], (HOST_DB, _NETNS_DB)),
            (self._links["redis"], (HOST_REDIS, _NETNS_REDIS)),
        ):
            _ip("link", "add", link, "type", "veth", "peer", "name", link + "n")
            self.created.append(link)
            _ip("link", "set", link + "n", "netns", self.namespace)
            _ip("addr", "add", f"{host_address}/30", "dev", link)
            _ip("link", "set", link, "up")
            _ip("netns", "exec", self.namespace, "ip", "addr", "add", f"{ns_address}/30", "dev", link + "n")
            _ip("netns", "exec", self.namespace, "ip", "link", "set", link + "n", "up")
        return self

    def command(self, argv: list[str]) -> list[str]:
        """`argv` run inside the namespace (ip netns exec execs it: the PID is the command's own)."""
        return ["ip", "netns", "exec", self.namespace, *argv]

    def cut_database(self) -> None:
        _ip("link", "set", self._links["db"], "down")

    def heal_database(self) -> None:
        _ip("link", "set", self._links["db"], "up")

    def destroy(self) -> None:
        for item in reversed(self.created):
            with suppress(subprocess.CalledProcessError):  # a veth goes with its namespace
                _ip("netns", "del", self.namespace) if item == "netns" else _ip("link", "del", item)
        self.created.clear()
