"""FrappeRuntime: the engine's Runtime inside a bench (Frappe v15).

Statements run as MariaDB SQL with bound parameters through `frappe.db.sql` in the request's (or
job's) own transaction; a job's and a submit's statements come precompiled (background_jobs/sql.py),
so a work horse that never imported the app runs its first job without importing SQLAlchemy;
after-commit work rides on `frappe.db.after_commit`; RQ messages go through `frappe.enqueue`, so workers run `run_job` inside the site context that Frappe's
`execute_job` sets up; realtime events go through `frappe.publish_realtime(..., after_commit=True)`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from datetime import datetime, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import frappe
from frappe.model.naming import make_autoname, parse_naming_series
from frappe.utils.background_jobs import create_job_id, get_job, get_queue, get_redis_conn

from dartwing.dartwing_core.background_jobs.events import JOB_STATUS_CHANGED, organization_of
from dartwing.dartwing_core.background_jobs.queueing import RUN_JOB, pending_among
from dartwing.dartwing_core.background_jobs.runtime import ExecResult, Params
from dartwing.dartwing_core.background_jobs.sql import execute_compiled
from dartwing.dartwing_core.background_jobs.status import Priority
from dartwing.dartwing_core.desk_list_updates import send_list_update

# Priority → Frappe queue. Works with a stock `bench worker` (short, default, long); a bench can map
# priorities to dedicated queues with `"dartwing_queues": {"Critical": "dartwing_critical", ...}` in
# site_config.json (those queues must then be declared under "workers" in common_site_config.json).
DEFAULT_QUEUES = {
    Priority.CRITICAL.value: "short",
    Priority.HIGH.value: "short",
    Priority.NORMAL.value: "default",
    Priority.LOW.value: "long",
}


# Takes `count` numbers of a naming series at once: the counter row's lock orders concurrent takers,
# as make_autoname's SELECT ... FOR UPDATE does, and RETURNING answers the last number taken.
_TAKE_SERIES = (
    "insert into `tabSeries` (`name`, `current`) values (%(prefix)s, %(count)s) "
    "on duplicate key update `current` = `current` + %(count)s returning `current`"
)

# MariaDB's info string for an UPDATE (mysql_info): "Rows matched: 1  Changed: 0  Warnings: 0".
_ROWS_MATCHED = re.compile(rb"Rows matched: (\d+)")


def _run_sql(sql: str, values: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
    rows = frappe.db.sql(sql, values, as_dict=True)
    return [dict(row) for row in rows or ()], _matched_rows(frappe.db._cursor)


def _matched_rows(cursor: Any) -> int:
    """Rows the statement matched, as the standalone runtime counts them.

    Frappe opens PyMySQL without CLIENT.FOUND_ROWS, so `rowcount` after an UPDATE counts only the rows
    it *changed*; an UPDATE that writes the values a row already holds would read as "no row", and the
    engine's compare-and-set would take it for a lost race. The server's info string carries the
    matched count; PyMySQL keeps it on the cursor's result (`_result.message`).
    """
    if cursor is None:
        return 0
    message = getattr(getattr(cursor, "_result", None), "message", None) or b""
    matched = _ROWS_MATCHED.search(message if isinstance(message, bytes) else message.encode())
    return int(matched.group(1)) if matched else cursor.rowcount


def _system_zone() -> tzinfo:
    """The site's time zone (v15 `get_system_timezone`: System Settings, else Asia/Kolkata)."""
    zone = getattr(frappe.local, "_dartwing_zone", None)
    if zone is None:
        loaded = getattr(frappe.local, "system_settings", None)
        if loaded is not None:
            name = loaded.get("time_zone")
        else:
            rows = frappe.db.sql(
                "select value from `tabSingles` where doctype='System Settings' and field='time_zone'"
            )
            name = rows[0][0] if rows else None
        try:
            zone = ZoneInfo(name or "Asia/Kolkata")
        except (ZoneInfoNotFoundError, ValueError):
            zone = timezone.utc  # v15 leaves an unknown zone's timestamp in UTC
        frappe.local._dartwing_zone = zone
    return zone


class FrappeRuntime:
    """Runtime over `frappe.db` and Frappe's RQ helpers; one per call site, bound to the site."""

    def __init__(self) -> None:
        self.site = frappe.local.site

    # --- database ------------------------------------------------------------------------------
    def execute(self, statement: Any, params: Params = None) -> ExecResult:
        return execute_compiled(statement, params, _run_sql)

    def execute_all(self, statements: Iterable[tuple[Any, dict[str, Any]]]) -> None:
        for statement, params in statements:  # frappe.db.sql waits for each reply
            self.execute(statement, params)

    @contextmanager
    def savepoint(self):
        """The interface's savepoint. After a deadlock, which has rolled the whole transaction back
        and its savepoints with it, the block's QueryDeadlockError is raised as it is (a caller may
        retry it), not the failed `rollback to savepoint` (1305) that would replace it."""
        name = f"dartwing_{frappe.generate_hash(length=10)}"
        frappe.db.savepoint(name)
        try:
            yield
        except BaseException as exc:
            if not isinstance(exc, frappe.QueryDeadlockError):
                frappe.db.rollback(save_point=name)
            raise
        frappe.db.release_savepoint(name)

    def is_unique_violation(self, exc: BaseException) -> bool:
        return bool(frappe.db.is_unique_key_violation(exc))

    def commit(self) -> None:
        frappe.db.commit()

    def rollback(self) -> None:
        frappe.db.rollback()

    def after_commit(self, callback: Callable[[], None]) -> None:
        frappe.db.after_commit.add(callback)

    @contextmanager
    def own_transaction(self):
        """A second connection to the site's database, swapped in as `frappe.local.db` for the block.

        Opened as `frappe.connect` opens the site's (frappe/__init__.py connect), so `frappe.db.sql`
        and every hook inside run on it. Realtime events the block publishes with after_commit go out
        at its own commit: the caller's pending `_realtime_log` is set aside meanwhile, so they are
        neither held back until the caller commits nor lost if the caller rolls back.
        """
        from frappe.database import get_db

        conf = frappe.local.conf
        caller_db = frappe.local.db
        caller_log = getattr(frappe.local, "_realtime_log", None)
        if caller_log is not None:
            del frappe.local._realtime_log
        own = get_db(
            host=conf.db_host,
            port=conf.db_port,
            user=conf.db_name,
            password=conf.db_password,
            cur_db_name=conf.db_name,
        )
        frappe.local.db = own
        try:
            yield
            own.commit()
        except BaseException:
            own.rollback()
            raise
        finally:
            own.close()
            frappe.local.db = caller_db
            if hasattr(frappe.local, "_realtime_log"):
                del frappe.local._realtime_log
            if caller_log is not None:
                frappe.local._realtime_log = caller_log

    def make_name(self, series: str) -> str:
        return make_autoname(series)

    def make_names(self, series: str, count: int) -> list[str]:
        """`count` names of the series as make_autoname would give them one by one (Frappe parses the
        series; `tabSeries` is bumped once by `count`, in one upsert that takes the row's lock)."""
        taken: list[tuple[int, int]] = []  # (digits, last number taken)

        def take(prefix: str, digits: int) -> str:
            rows = frappe.db.sql(_TAKE_SERIES, {"prefix": prefix, "count": count})
            taken.append((digits, int(rows[0][0])))
            return "\0"  # where each name's number goes

        template = parse_naming_series(series, number_generator=take)
        if not taken:
            raise ValueError(f"naming series {series!r} has no ##### part")
        digits, last = taken[0]
        return [template.replace("\0", f"{value:0{digits}d}") for value in range(last - count + 1, last + 1)]

    def next_autoincrement(self, doctype: str) -> int | None:
        # Frappe's autoincrement DocTypes take names from a MariaDB sequence, not AUTO_INCREMENT.
        return frappe.db.get_next_sequence_val(doctype)

    def next_autoincrements(self, doctype: str, count: int) -> list[int] | None:
        # The sequence Frappe names `<doctype>_id_seq` (frappe.database.sequence), `count` values in
        # one statement; the name is ours, never the caller's, and the count is a bound parameter.
        sequence = frappe.scrub(f"{doctype}_id_seq")
        rows = frappe.db.sql(
            "with recursive n(i) as (select 1 union all select i + 1 from n where i < %(count)s) "
            f"select nextval(`{sequence}`) from n",
            {"count": count},
        )
        return [int(row[0]) for row in rows]

    def now(self) -> datetime:
        """What `frappe.utils.now_datetime()` answers (UTC in the system time zone, naive), without
        loading the System Settings document for its time zone: in a fresh work horse unpickling that
        document imports its controller's module chain (PIL among it), about 70 ms of CPU that a
        stock job never pays (bench/cold_start.py). The time zone is read from tabSingles once per
        request or job; one already loaded by Frappe is used as is."""
        return datetime.now(timezone.utc).astimezone(_system_zone()).replace(tzinfo=None)

    def aware(self, value: datetime) -> datetime:
        """The stored wall time in the system time zone (in the hour a DST change repeats, the
        earlier of its two instants: the stored value cannot tell them apart)."""
        return value.replace(tzinfo=_system_zone())

    def claim_turn(self, name: str, seconds: float) -> bool:
        key = f"{self.site}|dartwing:turn:{name}"
        return bool(get_redis_conn().set(key, 1, nx=True, px=max(1, int(seconds * 1000))))

    @contextmanager
    def background_session(self):
        # A helper thread has no Frappe context of its own: give it one for this site, then drop it.
        frappe.init(site=self.site)
        frappe.connect()
        try:
            yield
        finally:
            frappe.db.rollback()
            frappe.destroy()

    # --- identity ------------------------------------------------------------------------------
    def current_user(self) -> str:
        return frappe.session.user

    def set_user(self, user: str) -> None:
        frappe.set_user(user)

    def user_roles(self, user: str) -> set[str]:
        return set(frappe.get_roles(user))

    # --- transport -----------------------------------------------------------------------------
    def queue_name(self, priority: str) -> str:
        configured = frappe.conf.get("dartwing_queues") or {}
        return configured.get(priority) or DEFAULT_QUEUES[Priority(priority).value]

    def enqueue(self, queue: str, job_id: str, kwargs: dict[str, Any], timeout: int) -> None:
        # The engine calls this after its commit already, so the message goes out at once.
        frappe.enqueue(
            RUN_JOB,
            queue=self.queue_name(queue),
            timeout=timeout,
            job_id=job_id,
            enqueue_after_commit=False,
            **kwargs,
        )

    def enqueue_many(self, messages: list[tuple[str, str, dict[str, Any], int]]) -> None:
        """What `enqueue` sends for each message — `frappe.enqueue`'s RQ job: `execute_job` with the
        site, user and `run_job`'s kwargs, a `site::id` job id, Frappe's TTLs, failure callback and
        call-string description — all on one pipeline (rq_batch.py; rq 1.15 and 2.x)."""
        from frappe.utils.background_jobs import (
            RQ_JOB_FAILURE_TTL,
            RQ_RESULTS_TTL,
            execute_job,
            truncate_failed_registry,
        )
        from rq import Callback

        from dartwing.dartwing_core.background_jobs import rq_batch

        site, user = frappe.local.site, frappe.session.user
        by_queue: dict[str, list[Any]] = {}
        for queue, job_id, kwargs, timeout in messages:
            queue_args = {
                "site": site,
                "user": user,
                "method": RUN_JOB,
                "event": None,
                "job_name": RUN_JOB,
                "is_async": True,
                "kwargs": kwargs,
            }
            message = (create_job_id(job_id), queue_args, timeout)
            by_queue.setdefault(self.queue_name(queue), []).append(message)
        with get_redis_conn().pipeline() as pipe:
            for queue, batch_messages in by_queue.items():
                rq_batch.write_messages(
                    pipe,
                    get_queue(queue),
                    execute_job,
                    batch_messages,
                    failure_ttl=frappe.conf.get("rq_job_failure_ttl") or RQ_JOB_FAILURE_TTL,
                    result_ttl=frappe.conf.get("rq_results_ttl") or RQ_RESULTS_TTL,
                    on_failure=Callback(func=truncate_failed_registry),
                )
            pipe.execute()

    def messages_pending(self, job_ids: list[str]) -> set[str]:
        return pending_among(get_redis_conn(), {job_id: create_job_id(job_id) for job_id in job_ids})

    def workers_on(self, queue: str) -> int:
        from rq import Worker

        return len(Worker.all(queue=get_queue(self.queue_name(queue))))

    def remove_message(self, job_id: str) -> None:
        job = get_job(job_id)
        if job is not None:
            job.delete()

    def stop_running(self, job_id: str) -> None:
        from rq.command import send_stop_job_command

        try:
            send_stop_job_command(get_redis_conn(), create_job_id(job_id))
        except Exception:  # noqa: BLE001 - the cooperative cancel still stands
            frappe.log_error(title="Dartwing forced cancel failed")

    def publish_realtime(self, event: str, message: dict[str, Any], room: str) -> None:
        frappe.publish_realtime(event, message, room=room, after_commit=True)
        organization = organization_of(room)
        if event == JOB_STATUS_CHANGED and organization is not None:  # once per change, not per room
            send_list_update(message["job_id"], organization)

    def log_error(self, title: str, message: str) -> None:
        """An Error Log row in the current transaction; never raises (the database may be the fault)."""
        try:
            frappe.log_error(title=title, message=message)
        except Exception:  # noqa: BLE001 - fall back to the process log
            frappe.logger("dartwing").error("%s: %s", title, message)

