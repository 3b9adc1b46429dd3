"""bench/throughput.py's harness at a tiny size: its table and ratios print, and its py-spy summary
sums collapsed stacks. The figures are not checked (benchmarks are never timed tests); peers whose
packages are absent (the `bench` extra) are not run here.
"""

from __future__ import annotations

import throughput
from common import RESULTS_DIR


def test_raw_and_engine_drain_and_end_to_end_print_with_ratios(capsys):
    output = "test-throughput-harness"
    try:
        code = throughput.main(
            ["--systems", "raw,engine", "--jobs", "20", "--worker-counts", "2", "--backend", "sqlite"]
            + ["--output", output]
        )
        printed = capsys.readouterr().out
    finally:
        (RESULTS_DIR / f"{output}.json").unlink(missing_ok=True)
    assert code == 0
    assert "drain jobs/s" in printed and "end-to-end / raw" in printed
    assert "raw RQ SimpleWorker" in printed and "Dartwing engine, sqlite" in printed
    assert "target engine / raw RQ drain at 2 workers >= 0.7" in printed
    assert "best worker count" not in printed and ">= 0.9" not in printed  # one count: no best
    assert "load average at start / now" in printed


def test_profile_summary_sums_the_main_threads_stacks_by_kind_and_function(tmp_path):
    worker = tmp_path / "worker-1.txt"
    worker.write_text(
        "thread (1): MainThread;work (rq/worker.py:10);run_job (dartwing/x/execution.py:96);"
        "commit (dartwing/x/runtime.py:5);DefaultDialect.do_commit (sqlalchemy/engine/default.py:954) 3\n"
        "thread (1): MainThread;work (rq/worker.py:12);run_job (dartwing/x/execution.py:99);"
        "Connection.query (MySQLdb/connections.py:280) 1\n"
        "thread (1): MainThread;work (rq/worker.py:20);SocketBuffer._read_from_socket (redis/_parsers/socket.py:60) 4\n"
        "thread (2): heartbeat;Event.wait (threading.py:629) 50\n"
    )
    summary = throughput.profile_summary(throughput.collapsed_stacks([worker]))
    assert summary["samples"] == 8  # the heartbeat thread's samples are left out
    kinds = dict(summary["kinds"])
    assert kinds["database commits"] == 37.5 and kinds["database statements"] == 12.5
    assert kinds["Redis round trips (RQ's commands, events)"] == 50
    assert dict(summary["own"])["DefaultDialect.do_commit (sqlalchemy/engine/default.py)"] == 37.5
    inclusive = dict(summary["engine_inclusive"])  # lines of one function summed, from run_job down
    assert inclusive == {"run_job (dartwing/x/execution.py)": 50, "commit (dartwing/x/runtime.py)": 37.5}
