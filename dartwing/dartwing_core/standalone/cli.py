"""`dartwing-jobs`: the standalone command line (init, worker, submit, status, demo, ...)."""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import date, datetime

import click

from dartwing.dartwing_core.background_jobs import (
    BulkSubmitError,
    DartwingError,
    get_job_status,
    submit_job,
    submit_jobs,
)
from dartwing.dartwing_core.background_jobs.runtime import get_runtime

from . import configure


def _json_default(value):
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def _echo_json(value) -> None:
    click.echo(json.dumps(value, indent=2, default=_json_default, sort_keys=True))


@click.group()
@click.option(
    "--home", envvar="DARTWING_HOME", help="Data directory (SQLite file, embedded Redis). Default ./.dartwing"
)
@click.option(
    "--db-url",
    envvar="DARTWING_DB_URL",
    help="SQLAlchemy URL, e.g. mysql+mysqldb://root@127.0.0.1:3306/dartwing",
)
@click.option(
    "--redis-url", envvar="DARTWING_REDIS_URL", help="redis://host:port/db; default: embedded Redis in --home"
)
@click.option("--user", envvar="DARTWING_USER", help="User to act as (default Administrator)")
@click.pass_context
def cli(ctx: click.Context, home, db_url, redis_url, user) -> None:
    """Dartwing background jobs, standalone."""
    ctx.obj = {"home": home, "db_url": db_url, "redis_url": redis_url, "user": user}


def _call(function, *args, **kwargs):
    """Run an engine call in one transaction (committed once, rolled back on an error), turning its
    typed errors into a clean CLI error (exit 1)."""
    try:
        with get_runtime().transaction():
            return function(*args, **kwargs)
    except DartwingError as exc:
        raise click.ClickException(f"{type(exc).__name__}: {exc}") from None


def _runtime(ctx: click.Context, *, create_schema: bool = False):
    from .config import StandaloneConfig

    StandaloneConfig.resolve(**ctx.obj).home.mkdir(parents=True, exist_ok=True)  # the SQLite file's folder
    return configure(**ctx.obj, create_schema=create_schema)


@cli.command()
@click.pass_context
def init(ctx: click.Context) -> None:
    """Create the schema and seed example Job Types, a demo organization and a demo user."""
    from .seed import DEMO_ORGANIZATION, DEMO_USER, seed

    rt = _runtime(ctx, create_schema=True)
    seed(rt)
    click.echo(f"Initialised {rt.config.db_url}")
    click.echo(f"Redis: {rt.redis_url}")
    click.echo(
        f"Demo organization {DEMO_ORGANIZATION!r}, member {DEMO_USER!r}, administrator 'Administrator'"
    )


@cli.command()
@click.option(
    "--forking/--no-forking",
    default=True,
    show_default=True,
    help="Fork a work horse per job (RQ Worker) or run jobs in-process (SimpleWorker)",
)
@click.option("--burst", is_flag=True, help="Exit when the queues are empty")
@click.option("--name", help="Worker name (default: RQ's)")
@click.option("--max-jobs", type=int, help="Exit after this many jobs")
@click.option("--log-level", default="INFO", show_default=True)
@click.pass_context
def worker(ctx: click.Context, forking, burst, name, max_jobs, log_level) -> None:
    """Run an RQ worker on the Critical, High, Normal and Low queues (in that order)."""
    from .logs import log_to_file
    from .worker import run_worker

    rt = _runtime(ctx)
    log_to_file(rt.config.home, "worker")
    run_worker(rt, forking=forking, burst=burst, name=name, max_jobs=max_jobs, logging_level=log_level)


@cli.command()
@click.argument("job_type")
@click.argument("organization")
@click.option("--params", "parameters", default="{}", help="Parameters as a JSON object")
@click.option("--priority", help="Low, Normal, High or Critical (default: the Job Type's)")
@click.option(
    "--depends-on", multiple=True, help="Job id that must complete first (repeat it: every one must complete)"
)
@click.option("--timeout", type=int, help="Seconds (default: the Job Type's)")
@click.option("--max-retries", type=int, help="Default: the Job Type's")
@click.option("--delay", help="Run it this many seconds from now")
@click.option("--run-at", help="Run it at this ISO 8601 time, with its offset (2030-01-01T09:00:00+01:00)")
@click.pass_context
def submit(
    ctx: click.Context, job_type, organization, parameters, priority, depends_on, timeout, max_retries, delay, run_at
) -> None:
    """Submit a job as --user and print its id and status (a delayed job's with its run time)."""
    rt = _runtime(ctx)
    try:
        with rt.transaction():
            job = submit_job(
                job_type,
                organization,
                parameters,
                priority=priority,
                depends_on=list(depends_on) or None,
                timeout=timeout,
                max_retries=max_retries,
                delay=delay,
                run_at=run_at,
            )
    except DartwingError as exc:
        raise click.ClickException(f"{type(exc).__name__}: {exc}") from None
    waits = f" until {rt.aware(job['run_at']).isoformat()}" if job.get("run_at") else ""
    click.echo(f"{job.name} {get_job_status(job.name).status}{waits}")
    rt.commit()


@cli.command("submit-many")
@click.argument("jobs_file", type=click.File("r", encoding="utf-8"))
@click.option(
    "--on-complete", help="A job spec (JSON object) to run once every job of the file has ended, with their outcomes"
)
@click.pass_context
def submit_many(ctx: click.Context, jobs_file, on_complete) -> None:
    """Submit the jobs of a JSON Lines file (`-`: stdin), one submit_job object a line, as --user, in
    one transaction: all of them or, if any line is rejected, none (each rejected line is listed).
    Prints each job's id and status, then the --on-complete callback's."""
    try:
        callback = None if on_complete is None else json.loads(on_complete)
    except ValueError:
        raise click.ClickException("--on-complete: not valid JSON; nothing was submitted") from None
    lines = [(number, line) for number, line in enumerate(jobs_file, start=1) if line.strip()]
    specs = []
    for number, line in lines:
        try:
            specs.append(json.loads(line))
        except ValueError:
            raise click.ClickException(f"line {number}: not valid JSON; nothing was submitted") from None
    rt = _runtime(ctx)
    try:
        with rt.transaction():
            jobs = submit_jobs(specs, on_complete=callback)
    except BulkSubmitError as exc:
        for error in exc.errors:
            where = f"line {lines[error['index']][0]}" if error["index"] is not None else "batch"
            click.echo(f"{where}: {error['error']}: {error['message']}", err=True)
        raise click.ClickException(f"{len(exc.errors)} line(s) rejected; nothing was submitted") from None
    except DartwingError as exc:
        raise click.ClickException(f"{type(exc).__name__}: {exc}") from None
    for job in jobs + ([jobs.on_complete] if jobs.on_complete else []):
        click.echo(f"{job.name} {job.status}")


@cli.command()
@click.argument("job_id")
@click.pass_context
def status(ctx: click.Context, job_id) -> None:
    """Print a job's status as JSON."""
    _runtime(ctx)
    _echo_json(_call(get_job_status, job_id))


@cli.command()
@click.argument("job_id")
@click.option("--force", is_flag=True, help="Also stop a running job's RQ work horse (forking workers)")
@click.pass_context
def cancel(ctx: click.Context, job_id, force) -> None:
    """Cancel a job (Running jobs stop at their next checkpoint) and print its state."""
    from dartwing.dartwing_core.background_jobs.operations import cancel_job

    _runtime(ctx)
    _echo_json(_call(cancel_job, job_id, force=force))


@cli.command()
@click.argument("job_id")
@click.pass_context
def retry(ctx: click.Context, job_id) -> None:
    """Put a Dead Letter, Failed, Timed Out or Canceled job back in the queue (administrators)."""
    from dartwing.dartwing_core.background_jobs.operations import retry_job

    _runtime(ctx)
    _echo_json(_call(retry_job, job_id))


@cli.command()
@click.option("--organization", help="Only this organization")
@click.pass_context
def metrics(ctx: click.Context, organization) -> None:
    """Print job metrics (scoped to what --user may see)."""
    from dartwing.dartwing_core.background_jobs.metrics import get_job_metrics

    _runtime(ctx)
    _echo_json(_call(get_job_metrics, organization))


@cli.command()
@click.option("--ticks", type=int, help="Stop after this many due ticks (default: run forever)")
@click.pass_context
def scheduler(ctx: click.Context, ticks) -> None:
    """Run the sweeps on the hooks.py schedule, and release delayed jobs on time; safe on several
    hosts (one run per tick, one release per job)."""
    from .logs import log_to_file
    from .scheduler import run_scheduler, start_delay_releases, start_orphan_checks

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    rt = _runtime(ctx)
    log_to_file(rt.config.home, "scheduler")
    start_orphan_checks(rt)
    start_delay_releases(rt)
    run_scheduler(rt, ticks=ticks)


@cli.command()
@click.pass_context
def sweep(ctx: click.Context) -> None:
    """Run the minute sweep once now (due retries, orphans, outbox) and print what it did."""
    from dartwing.dartwing_core.background_jobs.scheduler import every_minute

    _runtime(ctx)
    _echo_json(every_minute())


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int, help="uvicorn worker processes")
@click.pass_context
def server(ctx: click.Context, host, port, workers) -> None:
    """Serve the job API at Frappe's URLs (/api/method/dartwing.dartwing_core.api.jobs.*), OpenAPI and /metrics."""
    import uvicorn

    from .http.protocol import HEAD_BUFFER_BYTES
    from .logs import log_to_file

    rt = _runtime(ctx)
    log_to_file(rt.config.home, "server")
    options = {
        "host": host,
        "port": port,
        "log_level": "warning",
        "h11_max_incomplete_event_size": HEAD_BUFFER_BYTES,
    }
    if workers > 1:
        os.environ.update(rt.config.environ())
        uvicorn.run(
            "dartwing.dartwing_core.standalone.http.app:from_environment",
            factory=True,
            workers=workers,
            **options,
        )
    else:
        from .http.app import create_app

        uvicorn.run(create_app(rt), **options)


@cli.command()
@click.option("--host", envvar="DARTWING_REALTIME_HOST", default="127.0.0.1", show_default=True)
@click.option("--port", envvar="DARTWING_REALTIME_PORT", default=9010, show_default=True, type=int)
@click.option(
    "--api-url",
    envvar="DARTWING_API_URL",
    default="http://127.0.0.1:8000",
    show_default=True,
    help="API host that answers check_realtime_room: `dartwing-jobs server` or the Frappe site",
)
@click.option("--site", envvar="DARTWING_SITE", help="Frappe site served in the default namespace")
@click.option("--path", envvar="DARTWING_REALTIME_PATH", default="socket.io", show_default=True)
@click.option(
    "--recheck-seconds",
    envvar="DARTWING_REALTIME_RECHECK_SECONDS",
    default=30.0,
    show_default=True,
    type=click.FloatRange(0, 60, min_open=True),
    help="How often room memberships are asked again (at most 60)",
)
@click.option(
    "--auth-cache-seconds",
    envvar="DARTWING_REALTIME_AUTH_CACHE_SECONDS",
    default=10.0,
    show_default=True,
    type=click.FloatRange(0),
)
@click.option("--cors-origin", "cors_origins", multiple=True, help="Allowed browser origin (repeatable)")
@click.option("--log-level", default="warning", show_default=True)
@click.pass_context
def realtime(
    ctx: click.Context,
    host,
    port,
    api_url,
    site,
    path,
    recheck_seconds,
    auth_cache_seconds,
    cors_origins,
    log_level,
) -> None:
    """Run the Socket.IO gateway: relays job events from Redis to org:<organization> rooms."""
    from dartwing.dartwing_core.realtime import RealtimeConfig, serve

    from .config import StandaloneConfig
    from .embedded_redis import EmbeddedRedis

    stores = StandaloneConfig.resolve(
        ctx.obj["home"], ctx.obj["db_url"], ctx.obj["redis_url"], ctx.obj["user"]
    )
    try:
        config = RealtimeConfig.resolve(
            redis_url=stores.redis_url or EmbeddedRedis(stores.home).ensure_running(),
            api_url=api_url,
            host=host,
            port=port,
            path=path,
            site=site,
            auth_cache_seconds=min(auth_cache_seconds, recheck_seconds),
            recheck_seconds=recheck_seconds,
            cors_allowed_origins=tuple(cors_origins),
        )
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    click.echo(f"Realtime gateway on http://{host}:{port}/{config.path} (API {config.api_url})", err=True)
    serve(config, log_level=log_level)


@cli.group()
def user() -> None:
    """Manage standalone API users (tokens for `Authorization: token <api_key>:<api_secret>`)."""


@user.command("add")
@click.argument("email")
@click.option(
    "--role",
    "roles",
    multiple=True,
    help="Role to grant (repeatable): Job User, Job Administrator, System Manager",
)
@click.option(
    "--org",
    "organizations",
    multiple=True,
    help="Organization to make the user an active member of (repeatable)",
)
@click.pass_context
def user_add(ctx: click.Context, email, roles, organizations) -> None:
    """Create (or update) a user, grant roles and memberships, and print a new API key and secret."""
    from . import admin
    from .http.auth import issue_credentials

    rt = _runtime(ctx)
    try:
        with rt.transaction():
            admin.add_user(rt, email, tuple(roles) or ("Job User",))
            for organization in organizations:
                admin.add_member(rt, email, organization)
            api_key, api_secret = issue_credentials(rt, email)
    except LookupError as exc:
        raise click.ClickException(str(exc.args[0])) from None
    click.echo(f"api_key={api_key}\napi_secret={api_secret}\nAuthorization: token {api_key}:{api_secret}")


@user.command("rotate")
@click.argument("email")
@click.pass_context
def user_rotate(ctx: click.Context, email) -> None:
    """Replace a user's API secret (the old one stops working at once) and print the new pair."""
    from .http.auth import issue_credentials

    rt = _runtime(ctx)
    try:
        with rt.transaction():
            api_key, api_secret = issue_credentials(rt, email)
    except LookupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"api_key={api_key}\napi_secret={api_secret}\nAuthorization: token {api_key}:{api_secret}")


@cli.group()
def org() -> None:
    """Manage organizations (the tenants jobs belong to)."""


@org.command("add")
@click.argument("name")
@click.option("--max-concurrent", default=0, show_default=True, type=click.IntRange(0), help="0: no cap")
@click.pass_context
def org_add(ctx: click.Context, name, max_concurrent) -> None:
    """Create an Active organization (or re-activate it and set its cap)."""
    from . import admin

    rt = _runtime(ctx)
    with rt.transaction():
        admin.add_organization(rt, name, max_concurrent_jobs=max_concurrent)
    click.echo(f"Organization {name!r} is Active")


@org.command("list")
@click.pass_context
def org_list(ctx: click.Context) -> None:
    """Print every organization: name, status, cap (0: none) and active members."""
    from . import admin

    rt = _runtime(ctx)
    with rt.transaction():
        rows = admin.list_organizations(rt)
    for row in rows:
        click.echo(
            f"{row['name']}\t{row['status']}\t{row['max_concurrent_jobs'] or 0}\t{row['active_members']}"
        )


@org.command("disable")
@click.argument("name")
@click.pass_context
def org_disable(ctx: click.Context, name) -> None:
    """Make an organization Inactive: it accepts no new jobs (those it has run to their end)."""
    from . import admin

    rt = _runtime(ctx)
    try:
        with rt.transaction():
            admin.set_organization_status(rt, name, "Inactive")
    except LookupError as exc:
        raise click.ClickException(str(exc.args[0])) from None
    click.echo(f"Organization {name!r} is Inactive")


@cli.group()
def schedule() -> None:
    """Manage recurring Job Schedules (as --user: members manage their organizations' schedules)."""


@schedule.command("add")
@click.argument("job_type")
@click.argument("organization")
@click.argument("cron_expression")
@click.option("--params", "parameters", default="{}", help="Parameters as a JSON object")
@click.option("--timezone", default="UTC", show_default=True, help="IANA time zone of the cron expression")
@click.option("--priority", help="Low, Normal, High or Critical (default: the Job Type's)")
@click.option(
    "--catch-up", type=click.Choice(["Skip", "Run Once"]), default="Skip", show_default=True, help="After downtime"
)
@click.option("--description", help="What the schedule is for")
@click.option("--disabled", is_flag=True, help="Create it disabled")
@click.pass_context
def schedule_add(
    ctx: click.Context, job_type, organization, cron_expression, parameters, timezone, priority, catch_up, description, disabled
) -> None:
    """Create a schedule and print its id and next run."""
    from dartwing.dartwing_core.background_jobs.schedules import create_schedule

    _runtime(ctx)
    created = _call(
        create_schedule,
        job_type,
        organization,
        cron_expression,
        parameters,
        priority=priority,
        timezone=timezone,
        enabled=not disabled,
        catch_up=catch_up,
        description=description,
    )
    click.echo(f"{created['name']} next run {_when(created['next_run_at'])}")


@schedule.command("list")
@click.option("--organization", help="Only this organization")
@click.option("--limit", default=100, show_default=True, type=int)
@click.pass_context
def schedule_list(ctx: click.Context, organization, limit) -> None:
    """Print the schedules --user may see: id, enabled, cron, time zone, job type, organization,
    next run, last job."""
    from dartwing.dartwing_core.background_jobs.schedules import list_schedules

    _runtime(ctx)
    for row in _call(list_schedules, organization=organization, limit=limit):
        enabled = "enabled" if row["enabled"] else "disabled"
        click.echo(
            f"{row['name']}\t{enabled}\t{row['cron_expression']}\t{row['timezone']}\t{row['job_type']}"
            f"\t{row['organization']}\t{_when(row['next_run_at'])}\t{row['last_job'] or '-'}"
        )


@schedule.command("show")
@click.argument("schedule_id")
@click.pass_context
def schedule_show(ctx: click.Context, schedule_id) -> None:
    """Print a schedule and its recent runs as JSON."""
    from dartwing.dartwing_core.background_jobs.schedules import get_schedule

    _runtime(ctx)
    _echo_json(_call(get_schedule, schedule_id))


def _set_enabled(ctx: click.Context, schedule_id: str, enabled: bool) -> None:
    from dartwing.dartwing_core.background_jobs.schedules import set_schedule_enabled

    _runtime(ctx)
    changed = _call(set_schedule_enabled, schedule_id, enabled)
    state = f"enabled, next run {_when(changed['next_run_at'])}" if enabled else "disabled"
    click.echo(f"{changed['name']} {state}")


@schedule.command("enable")
@click.argument("schedule_id")
@click.pass_context
def schedule_enable(ctx: click.Context, schedule_id) -> None:
    """Enable a schedule (it next fires at its first occurrence from now)."""
    _set_enabled(ctx, schedule_id, True)


@schedule.command("disable")
@click.argument("schedule_id")
@click.pass_context
def schedule_disable(ctx: click.Context, schedule_id) -> None:
    """Disable a schedule."""
    _set_enabled(ctx, schedule_id, False)


@schedule.command("remove")
@click.argument("schedule_id")
@click.pass_context
def schedule_remove(ctx: click.Context, schedule_id) -> None:
    """Delete a schedule and its run history (its jobs stay)."""
    from dartwing.dartwing_core.background_jobs.schedules import delete_schedule

    _runtime(ctx)
    click.echo(f"{_call(delete_schedule, schedule_id)['name']} removed")


def _when(value: datetime | None) -> str:
    return value.isoformat() if value else "-"


@cli.command()
@click.option("--home", "demo_home", help="Keep the demo's store here instead of a temporary directory")
@click.option("--timeout", default=120, show_default=True, help="Give up after this many seconds")
def demo(demo_home, timeout) -> None:
    """Run the whole thing on the embedded default: store, worker, jobs, live progress, summary."""
    from .demo import run_demo

    sys.exit(run_demo(demo_home, timeout=timeout))


def _one_line(exc: BaseException) -> str:
    """The first line of what went wrong, without SQLAlchemy's SQL and background link."""
    cause = getattr(exc, "orig", None) or exc
    text = (str(cause).strip().splitlines() or [""])[0]
    return f"{type(cause).__name__}: {text}" if text else type(cause).__name__


def main() -> None:
    """Every failure ends as one clear line on stderr and exit status 1, never a traceback."""
    try:
        cli(prog_name="dartwing-jobs")
    except Exception as exc:  # noqa: BLE001 - click already answered usage errors and ClickExceptions
        click.echo(f"Error: {_one_line(exc)}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
