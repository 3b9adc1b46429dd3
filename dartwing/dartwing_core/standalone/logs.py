"""The standalone service's log files: `<home>/logs/<command>.log`, and their rotation.

Each long-running command (worker, scheduler, server) appends to its own file through a
`WatchedFileHandler`, which reopens the file when it has been moved away — so `log_rotate` (the
seed-004 maintenance job) or the system's logrotate can rotate it while the process keeps running.
"""

from __future__ import annotations

import gzip
import logging
import os
import shutil
from datetime import datetime
from logging.handlers import WatchedFileHandler
from pathlib import Path

LOG_FORMAT = "%(asctime)s %(process)d %(name)s %(levelname)s %(message)s"
ARCHIVE_SUFFIX = ".gz"


def log_dir(home: Path) -> Path:
    return home / "logs"


def log_to_file(home: Path, command: str) -> Path:
    """Send the root logger's records (RQ's, the engine's) to `<home>/logs/<command>.log` too."""
    directory = log_dir(home)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{command}.log"
    handler = WatchedFileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    logging.getLogger().addHandler(handler)
    return path


def rotate_logs(home: Path, keep: int) -> dict[str, int]:
    """Archive every non-empty `*.log` as `<name>.log.<timestamp>.gz`; keep the newest `keep` archives.

    The file is renamed first (writers reopen a fresh one on their next record), then compressed,
    so no line is written into a file that is being archived.
    """
    directory = log_dir(home)
    archived = deleted = 0
    if not directory.is_dir():
        return {"logs_archived": 0, "archives_deleted": 0}
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    for log in sorted(directory.glob("*.log")):
        if log.stat().st_size == 0:
            continue
        moved = log.with_name(f"{log.name}.{stamp}")
        os.replace(log, moved)
        with moved.open("rb") as source, gzip.open(f"{moved}{ARCHIVE_SUFFIX}", "wb") as target:
            shutil.copyfileobj(source, target)
        moved.unlink()
        archived += 1
    for stem in {archive.name.split(".log.", 1)[0] for archive in directory.glob(f"*.log.*{ARCHIVE_SUFFIX}")}:
        archives = sorted(directory.glob(f"{stem}.log.*{ARCHIVE_SUFFIX}"), reverse=True)
        for old in archives[keep:]:
            old.unlink()
            deleted += 1
    return {"logs_archived": archived, "archives_deleted": deleted}
