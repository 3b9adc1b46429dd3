"""The soak, short: a few hundred jobs under one worker SIGKILL, one Redis restart and one drop of the
workers' MariaDB connections; every invariant of bench/soak.py must hold.

The soak's logic lives once, in bench/soak.py (which `python bench/soak.py` runs at full size); this
test imports it and runs it small. It starts its own redis-server, MariaDB database and workers.
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
from common import mariadb_reachable  # noqa: E402


@pytest.mark.mariadb
@pytest.mark.slow
def test_short_soak_under_faults_keeps_every_invariant():
    if reason := mariadb_reachable():
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    cfg = soak.SoakConfig(
        jobs=300,
        orgs=5,
        duration=12.0,
        workers=2,
        kills=1,
        redis_restarts=1,
        db_kills=1,
        slow=3.0,
        sweep_interval=0.5,
        settle=60.0,
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
    assert counts["unexpected worker exits (replaced)"] == 0  # workers outlive the Redis restart
    assert (
        counts["worker SIGKILLs"] == 1
        and counts["redis restarts"] == 1
        and counts["DB connection drops"] == 1
    )
    assert result.by_status["Dead Letter"]["actual"] > 0 and result.by_status["Completed"]["actual"] > 250
