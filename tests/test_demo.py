"""The README's first command: the demo on the embedded default, with no services configured."""

from __future__ import annotations

import os
import subprocess


def test_demo_runs_on_the_embedded_default_and_exits_zero(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DARTWING_")}
    out = subprocess.run(
        ["dartwing-jobs", "demo", "--timeout", "90"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=150,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    text = out.stdout
    assert "Redis: embedded" in text and "sqlite:///" in text
    assert "100%" in text  # live progress lines
    assert "Running → Failed" in text and "Failed → Queued" in text  # the transient retry
    assert "retry 1 of 3 in" in text and "(backoff)" in text
    assert "→ Dead Letter" in text and "retrying it by hand" in text
    assert "is delayed until" in text  # the delayed job, released on time and run
    assert "Demo finished as expected." in text
    summary = text.split("Summary", 1)[1]
    assert summary.count("Completed") == 4 and summary.count("Dead Letter") == 1
    assert "fired its occurrence" in text and "echo (sched)" in summary  # one schedule firing
