"""`bench --site <site|all> dartwing-scheduler`: the engine's sub-minute duties in a bench, as
`dartwing-jobs scheduler` does them standalone.

Frappe's scheduler runs the minute sweep once a minute at best, and a stock `bench worker` runs no RQ
scheduler (Frappe v15's `start_worker` passes no `with_scheduler`). Without this process a delayed, snoozed
or rate-limited job could start up to a minute late, and a killed worker's job would run again 30-90 s after
the kill. With it, per site, in threads of their own (each with its own site context, as
Administrator):
- the releaser (background_jobs/delays.py) queues delayed and snoozed jobs as their time comes,
  and jobs a rate limit holds as their window opens;
- the orphan checks (background_jobs/orphan_checks.py) run every `orphan_check_seconds` (10 s), so
  a killed worker's job runs again 30-40 s after the kill.
SIGTERM or SIGINT stops it. Run it beside the workers, as a Procfile line:

    dartwing_scheduler: bench --site all dartwing-scheduler

Several may run (a second host, a restart overlapping): each release is a compare-and-set and each
orphan check takes a Redis turn. When none runs, the minute sweep (hooks.py) still does both, within
a minute.
"""

from __future__ import annotations

import importlib
import signal
import threading

import click
import frappe

from dartwing.dartwing_core.background_jobs.tenancy import ADMIN_USER

# What the process runs for each site, each in a thread: (name, dotted path of a loop taking
# (rt, stop, recover=...)). Imported when the command runs: every bench process imports this module
# (dartwing/commands.py), and the orphan checks need SQLAlchemy, which a work horse should not import.
DUTIES = (
    ("delays", "dartwing.dartwing_core.background_jobs.delays.run_releaser"),
    ("orphans", "dartwing.dartwing_core.background_jobs.orphan_checks.run_orphan_checks"),
)


def _connect(site: str) -> None:
    frappe.init(site=site)
    frappe.connect()
    frappe.set_user(ADMIN_USER)


def serve_site(site: str, duty: str, stop: threading.Event) -> None:
    """Run one duty (a loop's dotted path) for the site until `stop` is set (reconnecting after a
    database outage)."""
    from dartwing.dartwing_core.frappe_runtime import FrappeRuntime

    module, _, name = duty.rpartition(".")
    loop = getattr(importlib.import_module(module), name)
    _connect(site)

    def reconnect() -> None:
        frappe.destroy()
        _connect(site)

    try:
        loop(FrappeRuntime(), stop, recover=reconnect)
    finally:
        frappe.destroy()


def serve_sites(sites: list[str], stop: threading.Event) -> None:
    """Every duty for every site, in a thread of its own, until `stop` is set."""
    threads = [
        threading.Thread(target=serve_site, args=(site, duty, stop), name=f"dartwing-{name}-{site}", daemon=True)
        for site in sites
        for name, duty in DUTIES
    ]
    for thread in threads:
        thread.start()
    while any(thread.is_alive() for thread in threads) and not stop.wait(1):
        pass
    for thread in threads:
        thread.join(10)


@click.command("dartwing-scheduler")
@click.pass_context
def scheduler(ctx: click.Context) -> None:
    """Start Dartwing's delayed jobs on time and recover killed workers' jobs within a minute (run
    beside the workers; see the README)."""
    sites = list((ctx.obj or {}).get("sites") or [])
    if not sites:
        raise click.UsageError("name a site: bench --site <site|all> dartwing-scheduler")
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    click.echo(f"Dartwing scheduler for {', '.join(sites)}: delayed-job releases, orphan checks")
    serve_sites(sites, stop)
