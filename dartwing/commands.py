"""Bench commands of the app (`dartwing-scheduler`: site_scheduler.py), and the engine preloaded into
every `bench` process.

Frappe's `bench` imports each installed app's `commands` module in every command it runs
(frappe/utils/bench_helper.py `get_app_commands`), the stock `bench worker` parent included. RQ forks a
work horse per job from that parent, so what a horse would otherwise import for every job is imported
here once: the engine's job path (light: its statements come precompiled, without SQLAlchemy), what a
job's run imports from Frappe (its realtime flush and `frappe.as_json`, the naming sequence) and the
example handlers. A horse that has never imported the app pays about 30 ms for the same
(bench/cold_start.py); the minute sweep's modules, which need SQLAlchemy, are imported only by the
worker that takes its turn (background_jobs/overdue.py).
"""

import frappe.database.sequence  # noqa: F401 - the log rows' names
import frappe.realtime  # noqa: F401 - the events after each commit
import frappe.utils.response  # noqa: F401 - frappe.as_json, on a horse's first realtime flush

import dartwing.dartwing_core.background_jobs.execution  # noqa: F401 - run_job
import dartwing.dartwing_core.background_jobs.handlers.examples  # noqa: F401
import dartwing.dartwing_core.frappe_runtime  # noqa: F401
from dartwing.dartwing_core.site_scheduler import scheduler

commands = [scheduler]
