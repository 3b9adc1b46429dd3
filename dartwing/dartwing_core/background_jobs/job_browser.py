"""The job browser: server-side filters and keyset pages over every job the caller may see.

A page costs what it reads, whatever the table holds. The filter is split into branches that are each
one index range already in page order: per status `(status, modified)`, per job type and status
`(job_type, status, modified)` (for a job type filter of every organization), per organization and
status `(organization, status, modified)`, with no status, type or organization the `modified`
index. Each branch reads the keys (modified, name) of at most one page (plus one row) past the cursor
from its index, all branches in one UNION ALL statement (one round trip, however many organizations
the viewer has); they are merged here, newest first, and only then are the page's own rows read by
primary key: a page reads its 50 rows, not 50 per branch. A filter on a column its branch's index
lacks (job type within an organization, error type) reads the range's rows until the page is full.

Parameter text has no index (a FULLTEXT index would match words, not the substring asked for, and
could not give its matches in page order without sorting all of them), so a search is a bounded
scan: each page examines at most TEXT_SCAN_ROWS rows of its branches, newest first. The scan's end
is found from the index (the TEXT_SCAN_ROWS-th key), then the scan's rows are read by primary key
and only their matches come back. When a page stops there before it is full, it says where it
stopped (`next_cursor`) and the next page goes on from there, so results stay exact and every page
costs the same. Narrowing a search by status, type, organization or time makes each page cover more
of what can match.

Pages are sorted by `modified` (the time of a job's last change), then `name`; the cursor is that
pair of the last row shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa

from . import schema, tenancy
from .errors import InvalidInputError
from .inputs import bounded_int
from .queries import JOB_ID_PATTERN, MAX_NAME_LENGTH, get_job_history, load_visible_job, public_view
from .records import loads
from .runtime import Runtime, get_runtime
from .status import JobStatus
from .waiting import explain_wait

FILTER_KEYS = ("status", "job_type", "organization", "error_type", "since", "until", "q")
ERROR_TYPES = ("Transient", "Permanent", "Timeout")
MAX_PAGE = 100
DEFAULT_PAGE = 50
TEXT_SCAN_ROWS = 2_000
# Past this many (organization, status) branches one query with IN lists is cheaper than the merge.
MAX_BRANCHES = 64
MAX_TEXT_LENGTH = 200
MAX_CHILDREN = 100

bj = schema.background_job
LISTED_COLUMNS = (
    "name",
    "job_type",
    "organization",
    "status",
    "priority",
    "progress",
    "progress_message",
    "error_type",
    "error_message",
    "retry_count",
    "max_retries",
    "attempt",
    "worker",
    "creation",
    "modified",
    "started_at",
    "completed_at",
    "next_retry_at",
)


@dataclass(frozen=True)
class JobFilter:
    """A checked filter; None means "any"."""

    statuses: tuple[str, ...] | None = None
    job_type: str | None = None
    organization: str | None = None
    error_type: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    job_id: str | None = None
    text: str | None = None


def parse_filter(filters: dict[str, Any] | None, *, extra_keys: tuple[str, ...] = ()) -> JobFilter:
    """The filter as the engine applies it; InvalidInputError for an unknown key or a bad value."""
    if filters is None:
        filters = {}
    if not isinstance(filters, dict):
        raise InvalidInputError("filters must be an object")
    unknown = set(filters) - set(FILTER_KEYS) - set(extra_keys)
    if unknown:
        raise InvalidInputError(f"unknown filter(s): {', '.join(sorted(unknown))}")
    given = {key: value for key, value in filters.items() if value not in (None, "", [])}
    q = _name("q", given.get("q"), MAX_TEXT_LENGTH)
    error_type = _name("error_type", given.get("error_type"))
    if error_type is not None and error_type not in ERROR_TYPES:
        raise InvalidInputError(f"error_type must be one of {', '.join(ERROR_TYPES)}, got {error_type!r}")
    return JobFilter(
        statuses=_statuses(given.get("status")),
        job_type=_name("job_type", given.get("job_type")),
        organization=_name("organization", given.get("organization")),
        error_type=error_type,
        since=_time("since", given.get("since")),
        until=_time("until", given.get("until")),
        job_id=q if q is not None and JOB_ID_PATTERN.match(q) else None,
        text=q if q is not None and not JOB_ID_PATTERN.match(q) else None,
    )


def _name(field: str, value: Any, longest: int = MAX_NAME_LENGTH) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > longest:
        raise InvalidInputError(f"{field} must be a string of at most {longest} characters")
    return value


def _statuses(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    values = value if isinstance(value, list) else [value]
    statuses = []
    for item in values:
        try:
            statuses.append(JobStatus(item).value)
        except ValueError:
            raise InvalidInputError(
                f"status must be one of {', '.join(s.value for s in JobStatus)}, got {item!r}"
            ) from None
    return tuple(sorted(set(statuses)))


def _time(field: str, value: Any) -> datetime | None:
    """An ISO 8601 time as the store keeps it: naive UTC (a naive input is taken as UTC)."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None:
        raise InvalidInputError(f"{field} must be an ISO 8601 time, got {value!r}")
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(timezone.utc).replace(tzinfo=None)
    return parsed


def filter_conditions(flt: JobFilter) -> list[sa.ColumnElement]:
    """The filter's conditions other than organization and status (which pick the branches)."""
    conditions = []
    if flt.job_type is not None:
        conditions.append(bj.c.job_type == flt.job_type)
    if flt.error_type is not None:
        conditions.append(bj.c.error_type == flt.error_type)
    if flt.since is not None:
        conditions.append(bj.c.modified >= flt.since)
    if flt.until is not None:
        conditions.append(bj.c.modified < flt.until)
    if flt.job_id is not None:
        conditions.append(bj.c.name == flt.job_id)
    return conditions


def branches(rt: Runtime, flt: JobFilter, statuses: tuple[str, ...] | None = None) -> list[list[sa.ColumnElement]]:
    """The filter's organization and status scope as index-ordered branches (see the module doc),
    within what the caller may see; [] when it can see nothing the filter names."""
    visible = tenancy.visible_organizations(rt, rt.current_user())
    organizations = visible if flt.organization is None else [flt.organization]
    if visible is not None and flt.organization is not None and flt.organization not in visible:
        return []
    statuses = flt.statuses if statuses is None else statuses
    every_status = tuple(s.value for s in JobStatus)
    if organizations is None:
        if statuses is None and flt.job_type is not None:
            statuses = every_status  # (job_type, status, modified) is in page order per status
        return [[]] if statuses is None else [[bj.c.status == s] for s in statuses]
    if not organizations:
        return []
    all_statuses = statuses or every_status
    if len(organizations) * len(all_statuses) > MAX_BRANCHES:
        conditions = [bj.c.organization.in_(organizations)]
        return [conditions + ([bj.c.status.in_(statuses)] if statuses else [])]
    return [[bj.c.organization == o, bj.c.status == s] for o in organizations for s in all_statuses]


def matching_conditions(rt: Runtime, flt: JobFilter, statuses: tuple[str, ...] | None = None) -> sa.ColumnElement:
    """One condition for every job the filter matches and the caller may see (bulk actions)."""
    parts = [sa.and_(sa.true(), *branch) for branch in branches(rt, flt, statuses)]
    scoped = sa.or_(*parts) if parts else sa.false()
    text = [bj.c.parameters.contains(flt.text, autoescape=True)] if flt.text is not None else []
    return sa.and_(scoped, *filter_conditions(flt), *text)


def _before(cursor: tuple[datetime, str] | None) -> list[sa.ColumnElement]:
    if cursor is None:
        return []
    modified, name = cursor
    # `modified <= m` is the index range; the OR only breaks ties within it.
    return [bj.c.modified <= modified, sa.or_(bj.c.modified < modified, bj.c.name < name)]


def parse_cursor(value: Any) -> tuple[datetime, str] | None:
    """`<ISO modified>|<name>` as next_cursor gives it."""
    if value in (None, ""):
        return None
    if not isinstance(value, str) or "|" not in value or len(value) > 200:
        raise InvalidInputError("cursor must be a next_cursor of an earlier page")
    stamp, _, name = value.rpartition("|")
    modified = _time("cursor", stamp)
    if not JOB_ID_PATTERN.match(name):
        raise InvalidInputError("cursor must be a next_cursor of an earlier page")
    return modified, name


def _cursor_text(rt: Runtime, key: tuple[datetime, str]) -> str:
    return f"{rt.aware(key[0]).isoformat()}|{key[1]}"


def browse_jobs(
    filters: dict[str, Any] | None = None,
    cursor: Any = None,
    limit: Any = DEFAULT_PAGE,
    *,
    runtime: Runtime | None = None,
) -> dict[str, Any]:
    """One page of the jobs matching `filters`, newest change first: {jobs, next_cursor}; next_cursor
    is None on the last page. Reads in the caller's transaction and leaves it open."""
    rt = runtime or get_runtime()
    flt = parse_filter(filters)
    size = bounded_int("limit", limit, 1, MAX_PAGE, default=DEFAULT_PAGE)
    after = parse_cursor(cursor)
    parts = branches(rt, flt)
    if not parts:
        return {"jobs": [], "next_cursor": None}
    common = filter_conditions(flt) + _before(after)
    frontier: tuple[datetime, str] | None = None  # every branch was read down to here
    if flt.text is None:
        got = _run_branches(rt, [_newest(branch, common, size + 1) for branch in parts])
    else:
        # The scan's end in each branch: its TEXT_SCAN_ROWS // n-th key, read from its index...
        scanned = max(size + 1, TEXT_SCAN_ROWS // len(parts))
        frontier = _frontier(_run_branches(rt, [_newest(b, common, 1, offset=scanned - 1) for b in parts]), 1)
        # ...then the same scan's rows, only their matches returned, at most a page (plus one) a branch.
        got = _run_branches(rt, [_matches(b, common, flt.text, scanned, size + 1) for b in parts])
    frontier = max(filter(None, (frontier, _frontier(got, size + 1))), default=None)
    keys = sorted((key for rows in got.values() for key in rows), reverse=True)
    if frontier is not None:
        keys = [key for key in keys if key >= frontier]
    if len(keys) > size:
        keys = keys[:size]
        next_key = keys[-1]
    else:
        next_key = frontier
    rows = []
    if keys:  # then the page's own rows, by primary key
        found = rt.execute(sa.select(*(bj.c[c] for c in LISTED_COLUMNS)).where(bj.c.name.in_([k[1] for k in keys])))
        by_name = {row["name"]: row for row in found}
        rows = [by_name[name] for _, name in keys if name in by_name]
    return {
        "jobs": [_listed(rt, row) for row in rows],
        "next_cursor": _cursor_text(rt, next_key) if next_key is not None else None,
    }


def _newest(branch: list[sa.ColumnElement], common: list[sa.ColumnElement], limit: int, offset: int = 0) -> sa.Select:
    """The branch's first `limit` keys past `offset`, newest first: an index range read in order (no
    row is read unless a condition needs it)."""
    return (
        sa.select(bj.c.name, bj.c.modified)
        .where(*branch, *common)
        .order_by(bj.c.modified.desc(), bj.c.name.desc())
        .limit(limit)
        .offset(offset or None)
    )


def _matches(branch: list[sa.ColumnElement], common: list[sa.ColumnElement], text: str, scanned: int, limit: int) -> sa.Select:
    """The keys of the rows among the branch's newest `scanned` whose parameters contain `text`, at
    most `limit`. The scan is the index range of `_newest`, as a subquery with its own LIMIT, and
    only its rows are then read, by primary key: the rows read never depend on how many match
    (which the optimizer cannot know, and with a condition on the row it may read the branch from
    its newest row, past the cursor, instead)."""
    scan = _newest(branch, common, scanned).subquery()
    row = bj.alias("scanned_job")
    return (
        sa.select(scan.c.name, scan.c.modified)
        .select_from(scan.join(row, row.c.name == scan.c.name))
        .where(row.c.parameters.contains(text, autoescape=True))
        .order_by(scan.c.modified.desc(), scan.c.name.desc())
        .limit(limit)
    )


def _run_branches(rt: Runtime, selects: list[sa.Select]) -> dict[int, list[tuple[datetime, str]]]:
    """Each branch's (modified, name) keys, newest first, all branches in one statement."""
    subqueries = [select.subquery() for select in selects]
    numbered = [sa.select(sa.literal(i, sa.Integer).label("branch"), sub.c.name, sub.c.modified) for i, sub in enumerate(subqueries)]
    got: dict[int, list[tuple[datetime, str]]] = {i: [] for i in range(len(selects))}
    for row in rt.execute(numbered[0] if len(numbered) == 1 else sa.union_all(*numbered)):
        got[int(row["branch"])].append((row["modified"], row["name"]))
    for rows in got.values():
        rows.sort(reverse=True)
    return got


def _frontier(got: dict[int, list[tuple[datetime, str]]], limit: int) -> tuple[datetime, str] | None:
    """The newest of the last keys of the branches that returned `limit` rows (where their reading
    stopped short); None when every branch was read to its end."""
    return max((rows[-1] for rows in got.values() if len(rows) == limit), default=None)


def _listed(rt: Runtime, row: dict[str, Any]) -> dict[str, Any]:
    job = {key: row[key] for key in LISTED_COLUMNS}
    job["job_id"] = row["name"]
    for key in ("creation", "modified", "started_at", "completed_at", "next_retry_at"):
        if job[key] is not None:
            job[key] = rt.aware(job[key])
    return job


def job_detail(job_id: str, *, runtime: Runtime | None = None) -> dict[str, Any]:
    """Everything about one job the caller may see: its public fields, parameters, traceback,
    history, parent, children and why it waits."""
    rt = runtime or get_runtime()
    job = load_visible_job(rt, job_id)
    view = dict(public_view(rt, job))
    view["parameters"] = loads(job.get("parameters"))
    view["traceback"] = job.get("traceback")
    view["heartbeat_at"] = rt.aware(job["heartbeat_at"]) if job.get("heartbeat_at") else None
    view["history"] = get_job_history(job["name"], runtime=rt)
    dep = schema.job_dependency  # every parent of a job is a row, indexed both ways (dependencies.py)
    view["parent"] = _related(rt, [bj.c.name.in_(sa.select(dep.c.depends_on).where(dep.c.parent == job["name"]))])
    view["children"] = _related(rt, [bj.c.name.in_(sa.select(dep.c.parent).where(dep.c.depends_on == job["name"]))])
    view["wait"] = explain_wait(job["name"], runtime=rt)
    return view



def _related(rt: Runtime, where: list[sa.ColumnElement]) -> list[dict[str, Any]]:
    """Parents or children (through the Job Dependency indexes), as far as the caller may see them."""
    stmt = sa.select(bj.c.name, bj.c.status, bj.c.job_type, bj.c.organization, bj.c.modified).where(*where)
    visible = tenancy.visible_organizations(rt, rt.current_user())
    if visible is not None:
        stmt = stmt.where(bj.c.organization.in_(visible or [""]))
    rows = rt.execute(stmt.order_by(bj.c.name).limit(MAX_CHILDREN)).rows
    return [{**row, "job_id": row["name"], "modified": rt.aware(row["modified"])} for row in rows]

