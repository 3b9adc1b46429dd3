"""The seed-004 maintenance job types as the standalone runtime runs them.

Same type names and result shapes as inside a bench (`dartwing.dartwing_core.site_maintenance`), doing
the standalone service's equivalent of each:

- `cache_flush`: the service's only cache is RQ's copy of finished and failed jobs in Redis (the
  database row is the truth); `action: "full"` (default) deletes them, `"partial"` only drops
  expired registry entries.
- `db_optimize`: ANALYZE the job tables; with `optimize: true` also VACUUM (SQLite) or OPTIMIZE
  TABLE (MariaDB), which reclaims the space that cleanup freed.
- `log_rotate`: archives `<home>/logs/*.log` as gzip files and keeps the newest `keep` (default 7).
- `email_send`: sends through the SMTP server that `DARTWING_SMTP_*` names (see `SmtpSettings`).
"""

from __future__ import annotations

import os
import smtplib
import string
import time
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import make_msgid

from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.registry import FailedJobRegistry, FinishedJobRegistry

from dartwing.dartwing_core.background_jobs import JobContext, PermanentError
from dartwing.dartwing_core.background_jobs.handlers.maintenance import elapsed_ms, optimize_requested
from dartwing.dartwing_core.background_jobs.runtime import get_runtime
from dartwing.dartwing_core.background_jobs.schema import JOB_DOCTYPES, table_name

from .logs import rotate_logs
from .runtime import QUEUE_NAMES, StandaloneRuntime

DEFAULT_LOGS_KEPT = 7
MAX_LOGS_KEPT = 365


def _runtime() -> StandaloneRuntime:
    rt = get_runtime()
    if not isinstance(rt, StandaloneRuntime):
        raise PermanentError("this maintenance handler belongs to the standalone runtime")
    return rt


def _choice(context: JobContext, key: str, allowed: tuple[str, ...]) -> str:
    value = context.parameters.get(key, allowed[0])
    if value not in allowed:
        raise PermanentError(f"{key} must be one of {', '.join(allowed)}")
    return value


def cache_flush(context: JobContext) -> dict:
    """Delete RQ's records of finished and failed jobs (`full`) or only their expired entries (`partial`)."""
    started = time.monotonic()
    action = _choice(context, "action", ("full", "partial"))
    rt = _runtime()
    memory_before = rt.redis.info("memory")["used_memory"]
    cleared = 0
    for name in QUEUE_NAMES:
        queue = Queue(name, connection=rt.redis)
        for registry in (FinishedJobRegistry(queue=queue), FailedJobRegistry(queue=queue)):
            if action == "partial":
                registry.cleanup()
                continue
            for job_id in registry.get_job_ids():
                registry.remove(job_id)
                with suppress(NoSuchJobError):  # the entry may outlive its job's record
                    Job.fetch(job_id, connection=rt.redis).delete(remove_from_queue=False)
                cleared += 1
    freed = max(memory_before - rt.redis.info("memory")["used_memory"], 0)
    return {
        "status": "success",
        "action": action,
        "items_cleared": cleared,
        "memory_freed_mb": round(freed / 2**20, 3),
        "duration_ms": elapsed_ms(started),
    }


def db_optimize(context: JobContext) -> dict:
    """ANALYZE the job tables; with `optimize: true` also reclaim space (VACUUM / OPTIMIZE TABLE).

    Runs on a connection of its own outside any transaction (VACUUM refuses to run inside one);
    the table names are constants of the schema, never input.
    """
    started = time.monotonic()
    optimize = optimize_requested(context)
    engine = _runtime().engine
    tables = [table_name(doctype) for doctype in JOB_DOCTYPES]
    sqlite = engine.dialect.name == "sqlite"
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        for table in tables:
            cursor.execute(f'ANALYZE "{table}"' if sqlite else f"ANALYZE TABLE `{table}`")
            cursor.fetchall()
        if optimize and sqlite:
            cursor.execute("VACUUM")
        elif optimize:
            for table in tables:
                cursor.execute(f"OPTIMIZE TABLE `{table}`")
                cursor.fetchall()
        cursor.close()
    finally:
        connection.close()
    return {
        "status": "success",
        "tables_analyzed": len(tables),
        "tables_optimized": len(tables) if optimize else 0,
        "duration_ms": elapsed_ms(started),
    }


def log_rotate(context: JobContext) -> dict:
    """Archive the service's log files (writers reopen new ones) and keep the newest `keep` archives."""
    started = time.monotonic()
    keep = context.parameters.get("keep", DEFAULT_LOGS_KEPT)
    if not isinstance(keep, int) or isinstance(keep, bool) or not 1 <= keep <= MAX_LOGS_KEPT:
        raise PermanentError(f"keep must be a whole number from 1 to {MAX_LOGS_KEPT}")
    rotated = rotate_logs(_runtime().config.home, keep)
    return {"status": "success", **rotated, "duration_ms": elapsed_ms(started)}


@dataclass(frozen=True)
class SmtpSettings:
    """Outgoing mail for the standalone service, from the environment of the worker."""

    host: str
    port: int = 25
    user: str | None = None
    password: str | None = None
    starttls: bool = False
    sender: str = "dartwing@localhost"
    timeout: float = 30.0

    @classmethod
    def from_environ(cls) -> SmtpSettings:
        env = os.environ
        host = env.get("DARTWING_SMTP_HOST")
        if not host:
            raise PermanentError("email_send needs an SMTP server: set DARTWING_SMTP_HOST (and _PORT)")
        try:
            port = int(env.get("DARTWING_SMTP_PORT") or 25)
        except ValueError:
            raise PermanentError("DARTWING_SMTP_PORT must be a port number") from None
        return cls(
            host=host,
            port=port,
            user=env.get("DARTWING_SMTP_USER") or None,
            password=env.get("DARTWING_SMTP_PASSWORD") or None,
            starttls=env.get("DARTWING_SMTP_STARTTLS", "").lower() in ("1", "true", "yes"),
            sender=env.get("DARTWING_SMTP_SENDER") or cls.sender,
        )


def _email_text(context: JobContext, key: str, *, required: bool) -> str:
    value = context.parameters.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()) or "\n" in value.strip():
        raise PermanentError(f"email_send needs '{key}' as a single line of text")
    return value.strip()


def email_send(context: JobContext) -> dict:
    """Send one email: `to`, `subject`, and `message` (or `body`) with `$name` placeholders from `data`.

    Connection failures raise OSError/SMTPException, which the engine classifies as transient and
    retries; a recipient the server refuses is permanent.
    """
    to = _email_text(context, "to", required=True)
    subject = _email_text(context, "subject", required=True)
    data = context.parameters.get("data") or {}
    if not isinstance(data, dict):
        raise PermanentError("email_send 'data' must be an object")
    body = context.parameters.get("message", context.parameters.get("body", ""))
    if not isinstance(body, str):
        raise PermanentError("email_send 'message' must be text")
    body = string.Template(body).safe_substitute({k: str(v) for k, v in data.items()})
    if not body:
        body = "\n".join(f"{key}: {value}" for key, value in data.items())
    settings = SmtpSettings.from_environ()
    email = EmailMessage()
    email["From"], email["To"], email["Subject"] = settings.sender, to, subject
    email["Message-ID"] = make_msgid(domain=settings.sender.rpartition("@")[2] or None)
    email.set_content(body)
    with smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout) as smtp:
        if settings.starttls:
            smtp.starttls()
        if settings.user:
            smtp.login(settings.user, settings.password or "")
        try:
            smtp.send_message(email)
        except smtplib.SMTPRecipientsRefused as exc:
            raise PermanentError(f"the SMTP server refused {to}") from exc
    return {
        "status": "sent",
        "to": to,
        "subject": subject,
        "message_id": email["Message-ID"],
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
