"""The Runtime seam: everything the engine needs from its host, and nothing more.

The engine (this package) never imports frappe at module level. It builds SQLAlchemy Core statements
against `schema` tables (those of a job's run and a submit as named statements, statements.py, which
a host may run from precompiled text) and hands them to the runtime, which runs them in the *caller's* transaction:
inside a bench that is `frappe.db`; standalone it is a SQLAlchemy connection. Side effects that must
wait for a commit (RQ enqueue, realtime publish) go through `after_commit`, so nothing escapes a
transaction that rolls back.

The transaction contract (README, "Transactions"): engine writers join the caller's transaction and
never commit or roll it back; readers never end it; an after-commit callback never commits or rolls
back (in Frappe v15 a rollback there drops every callback after it), and work that needs a transaction
after the caller's commit, or beside the caller's open one, runs in `own_transaction`.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

Params = dict[str, Any] | list[dict[str, Any]] | None


@dataclass
class ExecResult:
    """Rows (as dicts) and the matched-row count of one statement, the same shape in both runtimes."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    rowcount: int = 0

    def first(self) -> dict[str, Any] | None:
        return self.rows[0] if self.rows else None

    def scalar(self) -> Any:
        return next(iter(self.rows[0].values())) if self.rows else None

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.rows)


@runtime_checkable
class Runtime(Protocol):
    """What a host provides. Method names say which side of a commit they act on."""

    # --- database, in the caller's transaction -------------------------------------------------
    def execute(self, statement: Any, params: Params = None) -> ExecResult:
        """Run one statement (a SQLAlchemy Core one, or a named `statements.Statement`) with bound
        parameters; never commits.

        `params` fills the statement's `bindparam()`s and, for an INSERT or an UPDATE built without
        `.values()`, names the columns written; a list of dicts runs the statement once per dict.
        Hot paths use named statements this way, so they are compiled once per process (or never).
        """

    def execute_all(self, statements: Iterable[tuple[Any, dict[str, Any]]]) -> None:
        """Run `(statement, params)` pairs in order as `execute` runs each (same errors; the ones
        before a failure stay in the transaction, none after it runs); nothing is returned.

        A host may send a statement before it takes the next from `statements`, so the work that
        produces the next one overlaps the database's on this one (a bulk submit's INSERTs): the
        iterable must not use the runtime's database while it produces. At most one statement is in
        flight: when the next is asked for, every statement before the last one given has succeeded.
        """

    def savepoint(self) -> AbstractContextManager[None]:
        """A savepoint that is rolled back (and the error re-raised) if the block raises."""

    def is_unique_violation(self, exc: BaseException) -> bool:
        """True when `exc` is the database rejecting a duplicate value on a unique index."""

    def commit(self) -> None:
        """Commit the current transaction, then run the after-commit callbacks in order."""

    def rollback(self) -> None:
        """Roll back and drop the after-commit callbacks."""

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run `callback` once the current transaction commits; never if it rolls back.

        The callback may touch Redis and may use `own_transaction`, but never commits or rolls back
        the current transaction, and never raises (it logs instead).
        """

    def own_transaction(self) -> AbstractContextManager[None]:
        """Run the block on a database connection of its own, committed at exit (rolled back if the
        block raises), with its own after-commit callbacks; the caller's transaction is untouched.

        Progress and cancel checkpoints write here, so a handler's own writes commit only when it
        returns; the release of a held job after a submit's commit runs here too.
        """

    def make_name(self, series: str) -> str:
        """Next name of a naming series such as `JOB-.YYYY.-.#####`, unique under concurrency."""

    def make_names(self, series: str, count: int) -> list[str]:
        """The next `count` names of a naming series, in order, taken in one statement (bulk submit)."""

    def next_autoincrement(self, doctype: str) -> int | None:
        """Name for a new row of an `autoincrement` DocType, or None when the database assigns it."""

    def next_autoincrements(self, doctype: str, count: int) -> list[int] | None:
        """Names for `count` new rows of an `autoincrement` DocType in one statement, or None when the
        database assigns them."""

    def now(self) -> datetime:
        """The current time as the database stores it (naive)."""

    def aware(self, value: datetime) -> datetime:
        """`value`, a naive time as `now()` stores it, with the offset it was stored in (standalone:
        UTC; Frappe: the site's system time zone), so every answer and event names one instant."""

    def background_session(self) -> AbstractContextManager[None]:
        """Database access for a helper thread of this process (the heartbeat), closed at exit."""

    def claim_turn(self, name: str, seconds: float) -> bool:
        """True for one caller per `seconds` across every process of this site or store (a Redis key
        set only if absent, expiring after `seconds`)."""

    # --- identity ------------------------------------------------------------------------------
    def current_user(self) -> str:
        """The user the current request, command or job acts as."""

    def set_user(self, user: str) -> None:
        """Act as `user` from now on (the worker sets the job's owner)."""

    def user_roles(self, user: str) -> set[str]:
        """Roles of `user`; administrators are recognised by these."""

    # --- transport, after commit ---------------------------------------------------------------
    def enqueue(self, queue: str, job_id: str, kwargs: dict[str, Any], timeout: int) -> None:
        """Hand a job message to RQ now (callers run this after commit). Idempotent by `job_id`."""

    def enqueue_many(self, messages: list[tuple[str, str, dict[str, Any], int]]) -> None:
        """`enqueue` for many `(queue, job_id, kwargs, timeout)` messages in one Redis round trip."""

    def messages_pending(self, job_ids: list[str]) -> set[str]:
        """Those of the RQ messages `job_ids` that RQ still holds for delivery (waiting or being
        started), asked in one Redis round trip."""

    def workers_on(self, queue: str) -> int:
        """Live RQ workers that listen on the queue of priority `queue` (RQ's own registry)."""

    def remove_message(self, job_id: str) -> None:
        """Delete the RQ message `job_id` if it is still waiting (a canceled job's)."""

    def stop_running(self, job_id: str) -> None:
        """Ask RQ to stop the running RQ job `job_id` (forced cancel; forking workers only)."""

    def publish_realtime(self, event: str, message: dict[str, Any], room: str) -> None:
        """Publish `{event, message, room}` on the Redis `events` channel after the current commit."""

    def log_error(self, title: str, message: str) -> None:
        """Record an operator-visible error (Frappe's Error Log, or the process log)."""


_current: contextvars.ContextVar[Runtime | None] = contextvars.ContextVar("dartwing_runtime", default=None)
_process_default: Runtime | None = None


def set_runtime(runtime: Runtime | None, *, process_default: bool = True) -> None:
    """Install `runtime` for this process (or only for the current context)."""
    global _process_default
    if process_default:
        _process_default = runtime
    _current.set(runtime)


@contextmanager
def using_runtime(runtime: Runtime) -> Iterator[Runtime]:
    """Use `runtime` in the current context for the block, then whatever was used before."""
    token = _current.set(runtime)
    try:
        yield runtime
    finally:
        _current.reset(token)


def get_runtime() -> Runtime:
    """The runtime to use: the installed one, or Frappe's when running inside a site context."""
    runtime = _current.get() or _process_default
    if runtime is not None:
        return runtime
    frappe_runtime = _frappe_runtime_if_in_site()
    if frappe_runtime is not None:
        return frappe_runtime
    raise RuntimeError(
        "No Dartwing runtime: inside a bench the Frappe runtime is used automatically; "
        "standalone, call dartwing.dartwing_core.standalone.configure() or use the dartwing-jobs CLI"
    )


def _frappe_runtime_if_in_site() -> Runtime | None:
    try:
        import frappe
    except ImportError:
        return None
    if not getattr(frappe.local, "site", None):
        return None
    from dartwing.dartwing_core.frappe_runtime import FrappeRuntime

    return FrappeRuntime()
