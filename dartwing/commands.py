"""Bench commands of the app (none yet), and the engine preloaded into every `bench` process.

Frappe's `bench` imports each installed app's `commands` module in every command it runs
(frappe/utils/bench_helper.py `get_app_commands`), the stock `bench worker` parent included. RQ forks a
work horse per job from that parent, so what a horse would otherwise do for every job is done here
once: import the engine (and SQLAlchemy), what a job's run imports from Frappe (its realtime flush and
`frappe.as_json`, the naming sequence) and from the app (the overdue minute sweep, the example
handlers), and compile the statements of a claim and a finish. Other `bench` commands pay this once,
about 150 ms of CPU.
"""

import frappe.database.sequence  # noqa: F401 - the log rows' names
import frappe.realtime  # noqa: F401 - the events after each commit
import frappe.utils.response  # noqa: F401 - frappe.as_json, on a horse's first realtime flush

import dartwing.dartwing_core.background_jobs.handlers.examples  # noqa: F401
import dartwing.dartwing_core.background_jobs.scheduler  # noqa: F401 - run_minute_sweep_if_overdue
from dartwing.dartwing_core.frappe_runtime import compile_hot_statements

compile_hot_statements()

commands = []
