"""The soak, short: a few hundred jobs under one worker SIGKILL, one kill -9 of the redis-server, one
kill -9 of the mariadbd, one drop of the workers' MariaDB connections and one 30 s partition of a
worker host from the database; every invariant of bench/soak.py must hold.

The soak's logic lives once, in bench/soak.py (which `python bench/soak.py` runs at full size); this
test imports it and runs it small. It starts its own redis-server, mariadbd, network namespace and
workers. Where no namespace can be made the partition is left out and the test says why.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from conftest import IN_CI

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))

import soak  # noqa: E402  (bench/ is not a package)
from faults import WorkerHost  # noqa: E402


@pytest.mark.mariadb
@pytest.mark.slow
def test_short_soak_under_faults_keeps_every_invariant():
    if reason := soak.unavailable():
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    no_partition = WorkerHost.unavailable()
    cfg = soak.SoakConfig(
        jobs=300,
        orgs=5,
        duration=36.0,  # the 30 s partition starts at 5 % of the window and ends inside it
        workers=3,
        kills=1,
        redis_kills=1,
        mariadb_kills=1,
        db_kills=1,
        partitions=0 if no_partition else 1,
        partition_seconds=30.0,
        slow=3.0,
        sweep_interval=0.5,
        settle=90.0,
        seed=7,
    )
    started = time.monotonic()
    result = soak.run_soak(cfg, progress=print)
    soak.report(result, {})
    print(f"short soak took {time.monotonic() - started:.1f}s")

    assert result.ok, "\n".join(result.violations)
    counts = result.counts
    assert counts["submitted"] == counts["in the database"] == 300
    assert counts["in the predicted terminal state"] == 300
    assert counts["lost"] == counts["stuck (not terminal)"] == counts["double completions"] == 0
    assert counts["  beyond design, unexplained"] == 0
    assert counts["unexpected worker exits (replaced)"] == 0  # workers outlive both crashes
    assert counts["worker SIGKILLs"] == counts["DB connection drops"] == 1
    assert counts["redis-server kill -9 (restarted)"] == counts["mariadbd kill -9 (restarted)"] == 1
    assert counts["partitions of a worker host from the database"] == cfg.partitions
    if cfg.partitions:  # the host worked, and the cut held: no run could start there meanwhile
        assert counts["  handler runs on that host"] > 0
        assert counts["  of them started while it was cut off"] == 0
    assert result.by_status["Dead Letter"]["actual"] > 0 and result.by_status["Completed"]["actual"] > 250
    if no_partition:
        pytest.skip(f"everything held, but the partition was not run: {no_partition}")
