"""Bench commands of the app (none yet), and the engine preloaded into every `bench` process.

Frappe's `bench` imports each installed app's `commands` module in every command it runs
(frappe/utils/bench_helper.py `get_app_commands`), the stock `bench worker` parent included. RQ forks a
work horse per job from that parent, so importing what `run_job` needs here means each horse starts
with it instead of importing the engine and SQLAlchemy cold for every job. Other `bench` commands pay
the import once (about 150 ms of CPU).
"""

import dartwing.dartwing_core.background_jobs.execution  # noqa: F401 - preloaded for forked work horses
import dartwing.dartwing_core.frappe_runtime  # noqa: F401

commands = []
