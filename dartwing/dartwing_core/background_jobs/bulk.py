"""submit_jobs: many jobs in one call, one transaction (the caller's), one Redis round trip.

Every spec goes through submit_job's own checks (submission.py) and every failing item is reported
by its index at once (BulkSubmitError, HTTP 400) before anything is written: a batch is all or
nothing, with no partial mode — a caller fixes or drops the items named and submits again, and never
has to find out which of its jobs exist. Two items that are the same job (same type, organization and
parameters, under a dedup window) are an error at the later index, as is an item whose identical job
already holds its dedup slot. Then: the names in one statement (`Runtime.make_names`), the jobs and
their log rows in multi-row INSERTs, and after the caller's commit all the RQ messages in one
pipeline (`Runtime.enqueue_many`). Jobs a parent or a cap holds are inserted Pending and released
after the commit, as single submits are; delayed ones wait Pending for the delay releaser.

A batch (`on_complete=spec`) adds one more job, the callback, that depends on every job of the batch
and runs once all of them have ended, whatever their end: like Sidekiq's `on_complete` (not Celery's
chord, whose callback fails with any of its tasks), a user learns a batch's outcome in every case,
and a failed job stays in the dead letter queue to be retried on its own. The callback reads the
outcomes (job ids, statuses, output references, errors) from `JobContext.dependencies` when it runs.
It holds no dedup slot (it belongs to its batch) and must be in the organization of every job of the
batch, as any dependency must.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import lru_cache
from itertools import chain
from typing import Any

from . import dependencies
from .errors import DartwingError, DuplicateJobError, InvalidInputError
from .lifecycle import announce_submit, name_log_rows, submit_log_rows
from .queueing import queue_for
from .records import JobRecord
from .release import held_by_time
from .runtime import Runtime, get_runtime
from .submission import (
    JOB_NAMING_SERIES,
    checked_job_type,
    dedup_window,
    free_slot,
    left_slot,
    new_row,
    queue_at_insert,
    release_after_commit,
)

MAX_BULK_JOBS = 1000
SPEC_FIELDS = frozenset(
    {"job_type", "organization", "parameters", "priority", "depends_on", "timeout", "max_retries", "run_at", "delay"}
)
_DEDUP_ATTEMPTS = 3
# Rows per INSERT: powers of two up to this, so a process builds at most nine statement shapes per
# set of columns, and the largest stays far below SQLite's bound-parameter limit.
_MAX_ROWS_PER_INSERT = 256
_NAMES_PER_READ = 1000
_JOBS = "tabBackground Job"
Statement = tuple[Any, dict[str, Any]]  # (statement, its bound values), as Runtime.execute_all takes them


class SubmittedJobs(list):
    """The rows `submit_jobs` created, in the order given; `on_complete` is the batch's callback job."""

    on_complete: JobRecord | None = None


class BulkSubmitError(InvalidInputError):
    """Items of a bulk submit were rejected; nothing was written.

    `errors`: one `{"index", "error", "message"}` per rejected item, `error` being the exception a
    single submit of that item would raise (InvalidInputError, NotPermittedError, DuplicateJobError).
    """

    def __init__(self, errors: list[dict[str, Any]], message: str | None = None):
        first = errors[0]
        super().__init__(
            message or f"{len(errors)} of the jobs were rejected; item {first['index']}: {first['message']}"
        )
        self.errors = errors


def submit_jobs(
    specs: Any, *, on_complete: dict[str, Any] | None = None, runtime: Runtime | None = None
) -> SubmittedJobs:
    """Create many Background Jobs as the runtime's current user; they run after the caller commits.

    `specs`: a list of dicts with submit_job's arguments (job_type, organization, parameters,
    priority, depends_on, timeout, max_retries, run_at, delay), at most MAX_BULK_JOBS. `on_complete`: the spec of a
    callback job (no depends_on) that runs once every job of the batch has ended (see above).
    Returns the rows in the order given, the callback as `.on_complete`. Raises InvalidInputError
    for a malformed batch or callback, BulkSubmitError naming every rejected item; in either case
    nothing has been written.
    """
    rt = runtime or get_runtime()
    items = _valid_batch(specs)
    user = rt.current_user()
    rows, job_types, indices, errors, parents = _validated_rows(rt, user, items)
    if errors:
        errors += _duplicates_of_existing(rt, rows, job_types, indices, lock=False)
        raise BulkSubmitError(sorted(errors, key=lambda error: error["index"]))
    callback = None if on_complete is None else _callback_row(rt, user, on_complete, rows)
    if not rows:
        return SubmittedJobs()
    created = rows + ([callback] if callback is not None else [])
    for row, name in zip(created, rt.make_names(JOB_NAMING_SERIES, len(created)), strict=True):
        row["name"] = name
    if callback is not None:
        callback["depends_on"] = rows[0]["name"]
    queued = [queue_at_insert(rt, row, jt) for row, jt in zip(rows, job_types, strict=True)]
    dependency_rows = [
        entry
        for row, names_of_parents in zip(rows, parents, strict=True)
        for entry in dependencies.rows_for(rt, row, names_of_parents, now=row["creation"])
    ]
    if callback is not None:
        dependency_rows += dependencies.rows_for(
            rt, callback, [row["name"] for row in rows], now=callback["creation"], runs_on_failure=True
        )
    per_job = [submit_log_rows(rt, row, row["creation"]) for row in created]
    # Every job's first row, then every job's second: each job's rows stay in order, and the rows of a
    # statement differ only in their job (see _inserts).
    halves = [[entries[i] for entries in per_job if i < len(entries)] for i in range(2)]
    name_log_rows(rt, halves[0] + halves[1])
    by_name = {row["name"]: (row, jt, now) for row, jt, now in zip(rows, job_types, queued, strict=True)}
    messages: list[tuple[str, str, dict[str, Any], int]] = []

    def announce(entries: list[dict[str, Any]]) -> None:
        """The events and RQ messages of the jobs of these Submitted rows, made ready while the
        database inserts these rows (client work that used to wait for it): every job row is in by
        then, the statements before the one in flight having succeeded (Runtime.execute_all)."""
        for entry in entries:
            row, jt, now = by_name.get(entry["background_job"], (None, None, False))
            if row is None:
                continue  # the batch's callback: inserted Pending, released by its dependencies
            announce_submit(rt, row, row["creation"])
            if now:
                kwargs = {"background_job": row["name"], "attempt": 0}
                messages.append((queue_for(row, jt).value, row["rq_job_id"], kwargs, int(row["timeout"])))

    _insert_deduplicated(
        rt,
        rows,
        job_types,
        then=chain(
            _inserts(_JOBS, [callback] if callback is not None else []),
            _inserts("tabJob Dependency", dependency_rows),
            _inserts("tabJob Execution Log", halves[0], after_each=announce),
            _inserts("tabJob Execution Log", halves[1]),
        ),
    )
    if messages:
        rt.after_commit(lambda: _send_all(rt, messages))
    rate_lines: set[str] = set()  # one release per rate-limited type takes its whole line
    for row, now in zip(rows, queued, strict=True):
        if now or row.get("run_at") or (held_by_time(row) and row["job_type"] in rate_lines):
            continue  # a delayed job is the delay releaser's to queue
        if held_by_time(row):
            rate_lines.add(row["job_type"])
        rt.after_commit(_release_later(rt, JobRecord(row)))
    submitted = SubmittedJobs(rows)
    submitted.on_complete = callback
    return submitted


def _callback_row(rt: Runtime, user: str, spec: Any, rows: list[JobRecord]) -> JobRecord:
    """The Pending row of a batch's on_complete job, checked as any submit is (InvalidInputError,
    NotPermittedError); it waits for every job of the batch, so it shares their organization."""
    if not isinstance(spec, dict):
        raise InvalidInputError(f"on_complete must be a job spec object, not {type(spec).__name__}")
    unknown = sorted(map(str, set(spec) - SPEC_FIELDS))
    if unknown or "depends_on" in spec:
        raise InvalidInputError(f"on_complete: unknown field(s): {', '.join(unknown or ['depends_on'])}")
    if not rows:
        raise InvalidInputError("on_complete needs at least one job in the batch")
    organization = spec.get("organization")
    for index, row in enumerate(rows):
        if row["organization"] != organization:
            raise InvalidInputError(
                f"on_complete: item {index} belongs to {row['organization']}, not to the callback's"
                f" organization {organization}; a job can only wait for jobs of its own organization"
            )
    job_type = spec.get("job_type")
    jt = checked_job_type(rt, user, job_type, organization)
    callback = new_row(
        rt,
        user,
        jt,
        job_type,
        organization,
        spec.get("parameters"),
        spec.get("priority"),
        None,
        spec.get("timeout"),
        spec.get("max_retries"),
        now=rows[0]["creation"],
    )
    # It belongs to this batch alone: no dedup slot, which an identical callback of another batch
    # would otherwise contend for.
    callback.update(job_hash=None, open_parents=len(rows))
    return callback


def _release_later(rt: Runtime, job: JobRecord) -> Callable[[], None]:
    return lambda: release_after_commit(rt, job)


def _valid_batch(specs: Any) -> list[Any]:
    if not isinstance(specs, list | tuple):
        raise InvalidInputError("jobs must be a list of job specs")
    if len(specs) > MAX_BULK_JOBS:
        raise InvalidInputError(f"{len(specs)} jobs in one bulk submit; the limit is {MAX_BULK_JOBS}")
    return list(specs)


def _validated_rows(
    rt: Runtime, user: str, items: list[Any]
) -> tuple[list[JobRecord], list[dict[str, Any]], list[int], list[dict[str, Any]], list[list[str]]]:
    """(rows of the valid items, their Job Types' settings, their indexes, errors by index, their
    parents): every item checked as submit_job checks it, each (job type, organization) pair read
    once per batch, and every parent in one query."""
    checks: dict[Any, Callable[[], Any]] = {}
    known_parents = _parents_named(rt, items)
    now = rt.now()  # one instant for the batch: its rows share their time columns
    rows, job_types, indices, errors, parents = [], [], [], [], []
    first_with_hash: dict[str, int] = {}
    for index, spec in enumerate(items):
        try:
            if not isinstance(spec, dict):
                raise InvalidInputError(f"a job spec must be an object, not {type(spec).__name__}")
            unknown = sorted(map(str, set(spec) - SPEC_FIELDS))
            if unknown:
                raise InvalidInputError(f"unknown field(s): {', '.join(unknown)}")
            job_type, organization = spec.get("job_type"), spec.get("organization")
            depends_on = spec.get("depends_on")
            jt = _once(checks, checked_job_type, rt, user, job_type, organization)
            row = new_row(
                rt,
                user,
                jt,
                job_type,
                organization,
                spec.get("parameters"),
                spec.get("priority"),
                depends_on,
                spec.get("timeout"),
                spec.get("max_retries"),
                run_at=spec.get("run_at"),
                delay=spec.get("delay"),
                now=now,
            )
            names_of_parents = dependencies.parent_names(depends_on)
            row["open_parents"] = dependencies.open_count(
                rt,
                names_of_parents,
                organization,
                lambda _, name, org: dependencies.parent_status(known_parents.get(name), name, org),
            )
            if row["job_hash"]:
                earlier = first_with_hash.setdefault(row["job_hash"], index)
                if earlier != index:
                    raise InvalidInputError(
                        f"the same job as item {earlier} (type, organization and parameters)"
                    )
        except DartwingError as exc:
            errors.append(_error(index, exc))
            continue
        rows.append(row)
        job_types.append(jt)
        indices.append(index)
        parents.append(names_of_parents)
    return rows, job_types, indices, errors, parents


def _parents_named(rt: Runtime, items: list[Any]) -> dict[str, dict[str, Any]]:
    """The rows (organization, status) of every job the specs name in depends_on, read in one query
    per `_NAMES_PER_READ` names rather than one per parent; names that are not text are left to each
    item's own check."""
    names: set[str] = set()
    for spec in items:
        value = spec.get("depends_on") if isinstance(spec, dict) else None
        named = [value] if isinstance(value, str) else value if isinstance(value, list | tuple) else []
        names.update(name for name in named if isinstance(name, str) and name)
    if not names:
        return {}
    import sqlalchemy as sa

    from . import schema

    bj = schema.background_job
    ordered, found = sorted(names), {}
    for start in range(0, len(ordered), _NAMES_PER_READ):
        chunk = ordered[start : start + _NAMES_PER_READ]
        query = sa.select(bj.c.name, bj.c.organization, bj.c.status).where(bj.c.name.in_(chunk))
        found.update((row["name"], row) for row in rt.execute(query).rows)
    return found


def _once(done: dict[Any, Callable[[], Any]], check: Callable[..., Any], *args: Any) -> Any:
    """`check(*args)`, or its remembered outcome (value or error) for arguments seen in this batch."""
    key = (check, *args)
    try:
        hash(key)
    except TypeError:  # an unhashable value is malformed input: let the check itself say so
        return check(*args)
    if key not in done:
        try:
            value = check(*args)
        except DartwingError as exc:
            done[key] = _raiser(exc)
        else:
            done[key] = lambda: value
    return done[key]()


def _raiser(exc: DartwingError) -> Callable[[], Any]:
    def again() -> Any:
        raise exc

    return again


def _error(index: int | None, exc: DartwingError) -> dict[str, Any]:
    return {"index": index, "error": type(exc).__name__, "message": str(exc)}


def _insert_deduplicated(
    rt: Runtime, rows: list[JobRecord], job_types: list[dict[str, Any]], *, then: Iterable[Statement]
) -> None:
    """Insert the rows, then run the statements `then`; an item whose job already holds its dedup
    slot fails the batch, by index.

    Optimistic, as submit_job is: the unique index on job_hash decides, so the common case costs no
    read. On a violation the holders are locked and read; stale ones give up their slot and the
    insert runs again, live ones are reported. Without a dedup slot in the batch, the rows and `then`
    go in one `Runtime.execute_all`.

    The rows go in in the job_hash index's order: a batch that meets another's uncommitted entry
    waits on it with a lock on the gap below it too, so a batch inserting out of order deadlocked
    (1213) with one that still had to insert into that gap (overlapping batches given in orders of
    their own); in one order, each inserts only above any entry it could be waited on at.
    """
    if not any(row["job_hash"] for row in rows):
        rt.execute_all(chain(_inserts(_JOBS, rows), then))
        return
    in_index_order = sorted(rows, key=lambda row: (row["job_hash"] is not None, row["job_hash"] or ""))
    for _ in range(_DEDUP_ATTEMPTS):
        try:
            with rt.savepoint():
                rt.execute_all(_inserts(_JOBS, in_index_order))
            break
        except Exception as exc:
            if not rt.is_unique_violation(exc):
                raise
        duplicates = _duplicates_of_existing(rt, rows, job_types, range(len(rows)), lock=True)
        if duplicates:
            raise BulkSubmitError(duplicates)
    else:
        # Every round was lost to a concurrent submit of some of the same jobs: it holds their slots now.
        raise BulkSubmitError(
            [_error(None, DuplicateJobError("(a concurrent submit)", "Pending"))],
            "a concurrent submit took the dedup slot of some of these jobs; nothing was written",
        )
    rt.execute_all(then)


def _duplicates_of_existing(
    rt: Runtime, rows: list[JobRecord], job_types: list[dict[str, Any]], indices: Sequence[int], *, lock: bool
) -> list[dict[str, Any]]:
    """Errors, at the items' `indices`, for the rows whose identical job holds its dedup slot. `lock`:
    lock the holders and free stale ones (before inserting again); otherwise only read (the batch is
    rejected already, and a rejected batch writes nothing)."""
    windows = {
        row["job_hash"]: dedup_window(jt) for row, jt in zip(rows, job_types, strict=True) if row["job_hash"]
    }
    if not windows:
        return []
    import sqlalchemy as sa

    from . import schema

    bj = schema.background_job
    query = sa.select(bj.c.name, bj.c.status, bj.c.creation, bj.c.job_hash).where(
        bj.c.job_hash.in_(sorted(windows))
    )
    now, live = rt.now(), {}
    # A locking read sees the latest committed holders, whatever the isolation level: a shared lock,
    # as submit_job's (submission._DEDUP_HOLDER says why an exclusive one deadlocks racing losers).
    for holder in rt.execute(query.with_for_update(read=True) if lock else query).rows:
        if not left_slot(holder, now, windows[holder["job_hash"]]):
            live[holder["job_hash"]] = holder
        elif lock:
            free_slot(rt, holder["name"], holder["job_hash"])
    return [
        _error(index, DuplicateJobError(live[row["job_hash"]]["name"], live[row["job_hash"]]["status"]))
        for index, row in zip(indices, rows, strict=True)
        if row["job_hash"] in live
    ]


def _inserts(
    table: str, rows: list[dict[str, Any]], *, after_each: Callable[[list[dict[str, Any]]], None] | None = None
) -> Iterator[Statement]:
    """The multi-row INSERTs of `rows`, grouped by the columns they set (Queued rows set more), each
    built when it is asked for (`Runtime.execute_all` asks while the one before runs); `after_each`
    gets the rows of each statement when the next is asked for, the statement running meanwhile.

    A column holding one value in every row of a statement is bound once for all of them, or left
    out when that value is the column's default (NULL, or an Int's 0): most of a batch's columns are
    alike (its time, owner, type, status, counters), and each value a statement carries costs the
    client its escaping and the server its parsing, most of a multi-row INSERT's cost. (The server's
    share fell by about a third once a shared value was written once per statement rather than once
    per row: `_multi_row_insert`.)
    """
    defaults = _defaults(table)
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:  # rows built alike list their columns alike: no need to sort them
        groups.setdefault(tuple(row), []).append(row)
    for columns, group in groups.items():
        start = 0
        for size in _chunk_sizes(len(group)):
            chunk = group[start : start + size]
            shared, varying = [], []
            for column in columns:
                (shared if _alike([row[column] for row in chunk]) else varying).append(column)
            first = chunk[0]
            omitted = {c for c in shared if _is_default(first[c], defaults.get(c, _NO_DEFAULT))}
            bound_once = [c for c in shared if c not in omitted]
            if not varying:  # one row (or all alike): its VALUES list still needs a column
                varying.append(bound_once.pop(0))
            params = {f"{c}_all": first[c] for c in bound_once}
            keys = _row_keys(tuple(varying), size)
            params.update(zip(keys, [row[c] for row in chunk for c in varying], strict=True))
            yield _multi_row_insert(table, tuple(varying), tuple(bound_once), size), params
            if after_each is not None:
                after_each(chunk)
            start += size


def _chunk_sizes(count: int) -> list[int]:
    """Rows per statement for `count` rows: powers of two of at most `_MAX_ROWS_PER_INSERT`, the
    smallest first, so the server starts on a statement the client built quickly and the larger
    ones are built while it runs the smaller."""
    full, rest = divmod(count, _MAX_ROWS_PER_INSERT)
    return [1 << bit for bit in range(rest.bit_length()) if rest >> bit & 1] + [_MAX_ROWS_PER_INSERT] * full


_NO_DEFAULT = object()


def _alike(values: list[Any]) -> bool:
    """Whether every value is the first (and of its type: 1, 1.0 and True are not bound as one)."""
    first = values[0]
    if values.count(first) != len(values):
        return False
    kind = type(first)
    return kind is str or first is None or all(type(value) is kind for value in values)


def _is_default(value: Any, default: Any) -> bool:
    return value is None if default is None else type(value) in (int, float) and value == default


@lru_cache(maxsize=16)
def _defaults(table_name: str) -> dict[str, Any]:
    """The value each column of the table gets when an INSERT leaves it out: None for a nullable
    column without a default, the number of an Int's (schema.py: Frappe v15's DDL). Columns with any
    other default are never left out."""
    from . import schema

    defaults: dict[str, Any] = {}
    for column in schema.metadata.tables[table_name].columns:
        text = None if column.server_default is None else str(column.server_default.arg)
        if text is None and column.nullable and not column.primary_key:
            defaults[column.name] = None
        elif text is not None and not column.nullable:
            try:
                defaults[column.name] = float(text)
            except ValueError:
                continue
    return defaults


@lru_cache(maxsize=256)
def _row_keys(varying: tuple[str, ...], size: int) -> tuple[str, ...]:
    """The bound parameter names of the varying columns, row by row (`<column>_<row>`)."""
    return tuple(f"{c}_{i}" for i in range(size) for c in varying)


@lru_cache(maxsize=128)
def _multi_row_insert(table_name: str, varying: tuple[str, ...], shared: tuple[str, ...], size: int) -> Any:
    """INSERT of `size` rows: the `varying` columns from a VALUES list (bound `<column>_<row>`), the
    `shared` ones once for all rows (bound `<column>_all`). The list is a named common table
    expression (MariaDB 10.3, SQLite 3.8), not a derived table, whose columns MariaDB would name after
    the first row's values (two alike there: a duplicate column). Built once per shape; the names
    are the schema's, every value is bound."""
    import sqlalchemy as sa  # here, not at import: see statements.py

    from . import schema

    table = schema.metadata.tables[table_name]

    def quoted(names: tuple[str, ...]) -> str:
        return ", ".join(f"`{name}`" for name in names)

    rows = ", ".join("(" + ", ".join(f":{c}_{i}" for c in varying) + ")" for i in range(size))
    chosen = [f"v.`{c}`" for c in varying] + [f":{c}_all" for c in shared]
    text = (
        f"INSERT INTO `{table_name}` ({quoted(varying + shared)}) WITH v ({quoted(varying)}) AS "
        f"(VALUES {rows}) SELECT {', '.join(chosen)} FROM v"
    )
    binds = [sa.bindparam(f"{c}_{i}", type_=table.c[c].type) for i in range(size) for c in varying]
    binds += [sa.bindparam(f"{c}_all", type_=table.c[c].type) for c in shared]
    return sa.text(text).bindparams(*binds)


def _send_all(rt: Runtime, messages: list[tuple[str, str, dict[str, Any], int]]) -> None:
    """All the batch's RQ messages in one round trip, after the commit; a failure is logged, not
    raised: the rows are Queued and committed, and the minute sweep re-sends what RQ does not hold."""
    try:
        rt.enqueue_many(messages)
    except Exception as exc:  # noqa: BLE001 - any transport error leaves the jobs to the sweep
        rt.log_error(
            "Dartwing bulk enqueue failed", f"{len(messages)} jobs: {exc!r}; the sweep will resend them"
        )
