"""`bench --site <site|all> dartwing-release-delayed`: delayed and snoozed jobs start on time in a bench.

A stock `bench worker` runs no RQ scheduler (Frappe v15's `start_worker` passes no `with_scheduler`),
and Frappe's scheduler runs the minute sweep once a minute at best, so without this process a
delayed job could start up to a minute late. It runs the engine's releaser (background_jobs/delays.py)
for each site given, one thread per site, each with a site context of its own, as Administrator;
SIGTERM or SIGINT stops it. Run it beside the workers, as a Procfile line:

    dartwing_delays: bench --site all dartwing-release-delayed

Several may run (a second host, a restart overlapping): each release is a compare-and-set. When none
runs, the minute sweep (hooks.py) still releases due jobs, within a minute.
"""

from __future__ import annotations

import signal
import threading

import click
import frappe

from dartwing.dartwing_core.background_jobs.delays import run_releaser
from dartwing.dartwing_core.background_jobs.tenancy import ADMIN_USER


def _connect(site: str) -> None:
    frappe.init(site=site)
    frappe.connect()
    frappe.set_user(ADMIN_USER)


def serve_site(site: str, stop: threading.Event) -> None:
    """Release the site's delayed jobs until `stop` is set (reconnecting after a database outage)."""
    from dartwing.dartwing_core.frappe_runtime import FrappeRuntime

    _connect(site)

    def reconnect() -> None:
        frappe.destroy()
        _connect(site)

    try:
        run_releaser(FrappeRuntime(), stop, recover=reconnect)
    finally:
        frappe.destroy()


def release_sites(sites: list[str], stop: threading.Event) -> None:
    """Serve every site in a thread of its own until `stop` is set."""
    threads = [
        threading.Thread(target=serve_site, args=(site, stop), name=f"dartwing-delays-{site}", daemon=True)
        for site in sites
    ]
    for thread in threads:
        thread.start()
    while any(thread.is_alive() for thread in threads) and not stop.wait(1):
        pass
    for thread in threads:
        thread.join(10)


@click.command("dartwing-release-delayed")
@click.pass_context
def release_delayed(ctx: click.Context) -> None:
    """Start Dartwing's delayed and snoozed jobs on time (run beside the workers; see the README)."""
    sites = list((ctx.obj or {}).get("sites") or [])
    if not sites:
        raise click.UsageError("name a site: bench --site <site|all> dartwing-release-delayed")
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    click.echo(f"Releasing delayed jobs for {', '.join(sites)}")
    release_sites(sites, stop)
