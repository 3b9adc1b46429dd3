"""bench/throughput.py's harness at a tiny size: its table and ratios print, its bulk mode leaves out a
system without a bulk API, and its py-spy summary sums collapsed stacks. The figures are not checked
(benchmarks are never timed tests); peers whose packages are absent (the `bench` extra) are not run
here.
"""

from __future__ import annotations

import json

import throughput
from common import RESULTS_DIR


def test_raw_and_engine_drain_end_to_end_and_bulk_print_with_ratios(capsys):
    output = "test-throughput-harness"
    try:
        code = throughput.main(
            ["--systems", "raw,engine", "--jobs", "20", "--worker-counts", "2", "--backend", "sqlite"]
            + ["--modes", "prefilled,concurrent,bulk", "--batch", "8", "--output", output]
        )
        printed = capsys.readouterr().out
        written = json.loads((RESULTS_DIR / f"{output}.json").read_text())
    finally:
        (RESULTS_DIR / f"{output}.json").unlink(missing_ok=True)
    assert code == 0
    assert "drain jobs/s" in printed and "end-to-end / raw" in printed
    assert "bulk end-to-end jobs/s" in printed and "bulk end-to-end / raw" in printed
    assert "enqueue jobs/s" in printed and "bulk enqueue jobs/s" in printed
    assert "raw RQ SimpleWorker" in printed and "Dartwing engine, sqlite" in printed
    assert "target engine / raw RQ drain at 2 workers >= 0.7" in printed
    assert "target engine / raw RQ bulk end-to-end at 2 workers >= 0.85" in printed
    assert "best worker count" not in printed and ">= 0.9" not in printed  # one count: no best
    assert "load average at start / now" in printed
    assert "8 jobs per call" in written["environment"]["bulk end-to-end"]
    assert {(s["system"], s["mode"]) for s in written["samples"]} == {
        (system, mode) for system in ("raw", "engine") for mode in ("prefilled", "concurrent", "bulk")
    }


def test_the_bulk_mode_leaves_out_systems_without_a_bulk_api_and_their_cells_empty(monkeypatch):
    class NoBulk(throughput.System):
        key, label = "nobulk", "no bulk API"

    measured = []

    def measure(system, jobs, workers, mode, batch):
        measured.append((system.key, mode, batch))
        return {"jobs_per_second": 10.0, "seconds": 2.0, "submit_jobs_per_second": 20.0}

    monkeypatch.setattr(throughput, "measure", measure)
    modes = ["concurrent", "bulk"]
    samples = throughput.run_rounds([throughput.RawRQ(rt=None), NoBulk()], 20, [2], modes, 1, print, 7)
    assert measured == [("raw", "concurrent", 7), ("nobulk", "concurrent", 7), ("raw", "bulk", 7)]
    labels = {"raw": "raw", "nobulk": "no bulk API"}
    rows = throughput.rows_for(samples, list(labels), dict.fromkeys(labels, 2), modes, labels)
    assert dict(zip(throughput.headers_for(modes), rows[1], strict=True)) == {
        "system": "no bulk API",
        "workers": 2,
        "end-to-end jobs/s": "10",
        "bulk end-to-end jobs/s": "",
        "end-to-end / raw": "1.00",
        "end-to-end / engine": "",
        "bulk end-to-end / raw": "",
        "bulk end-to-end / engine": "",
        "enqueue jobs/s": "20",
        "bulk enqueue jobs/s": "",
    }


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
