"""Where the standalone runtime keeps its data and which services it talks to.

Resolution order for each setting: command-line option, then environment variable, then default.
Defaults need no services: a SQLite file and an embedded Redis inside `DARTWING_HOME`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_HOME = Path(".dartwing")


@dataclass(frozen=True)
class StandaloneConfig:
    home: Path
    db_url: str
    redis_url: str | None  # None: use the embedded Redis in `home`
    user: str

    @classmethod
    def resolve(
        cls,
        home: str | os.PathLike | None = None,
        db_url: str | None = None,
        redis_url: str | None = None,
        user: str | None = None,
    ) -> StandaloneConfig:
        home_path = Path(home or os.environ.get("DARTWING_HOME") or DEFAULT_HOME).resolve()
        return cls(
            home=home_path,
            db_url=db_url or os.environ.get("DARTWING_DB_URL") or f"sqlite:///{home_path / 'dartwing.db'}",
            redis_url=redis_url or os.environ.get("DARTWING_REDIS_URL") or None,
            user=user or os.environ.get("DARTWING_USER") or "Administrator",
        )

    def environ(self) -> dict[str, str]:
        """Environment for a child process (a worker) that must use the same stores."""
        env = {"DARTWING_HOME": str(self.home), "DARTWING_DB_URL": self.db_url, "DARTWING_USER": self.user}
        if self.redis_url:
            env["DARTWING_REDIS_URL"] = self.redis_url
        return env
