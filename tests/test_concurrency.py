"""Fifty identical submits from fifty processes at once give exactly one job (MariaDB)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import sqlalchemy as sa

from dartwing.dartwing_core.background_jobs import schema

SUBMITTER = """
import os, sys, time
from dartwing.dartwing_core.standalone import configure
from dartwing.dartwing_core.background_jobs import DuplicateJobError, submit_job
rt = configure()
go = float(sys.argv[1])
while time.time() < go:          # all processes fire at the same instant
    time.sleep(0.001)
try:
    job = submit_job("echo", "Org A", {"invoice": "INV-1", "amount": "10.00"})
    rt.commit()
    print("created", job.name)
except DuplicateJobError as exc:
    rt.rollback()
    print("duplicate", exc.existing_job)
"""

PROCESSES = 50


@pytest.mark.mariadb
@pytest.mark.parametrize("db_url", ["mariadb"], indirect=True)
def test_fifty_concurrent_identical_submits_give_one_job(rt):
    import time

    env = {**os.environ, **rt.config.environ()}
    go = time.time() + 4  # time for fifty interpreters to start
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", SUBMITTER, str(go)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(PROCESSES)
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err[-1500:] for _, err in outputs if err][:2]
    lines = [out.strip() for out, _ in outputs]
    created = [line.split()[1] for line in lines if line.startswith("created")]
    duplicates = {line.split()[1] for line in lines if line.startswith("duplicate")}
    assert len(created) == 1, lines
    assert duplicates == set(created) and len(lines) == PROCESSES
    bj = schema.background_job
    assert rt.execute(sa.select(sa.func.count()).select_from(bj)).scalar() == 1
