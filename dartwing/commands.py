"""Bench commands of the app (none yet), and the engine preloaded into every `bench` process.

Frappe's `bench` imports each installed app's `commands` module in every command it runs
(frappe/utils/bench_helper.py `get_app_commands`), the stock `bench worker` parent included. RQ forks a
work horse per job from that parent, so what a horse would otherwise do for every job is done here
once: import the engine (and SQLAlchemy), import what Frappe's realtime flush imports on its first
event (`frappe.as_json` → frappe.utils.response), and compile the run's hot statements. Other `bench`
commands pay this once, about 150 ms of CPU.
"""

import frappe.utils.response  # noqa: F401 - imported by the first realtime flush of a horse

from dartwing.dartwing_core.frappe_runtime import compile_hot_statements

compile_hot_statements()

commands = []
