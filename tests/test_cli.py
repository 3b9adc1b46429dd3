"""`dartwing-jobs` as an operator runs it: real processes, a fresh home, the run's own Redis.
Every failure is one line on stderr and exit status 1, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

CLI = [sys.executable, "-m", "dartwing.dartwing_core.standalone.cli"]


@pytest.fixture
def run(tmp_path, redis_server):
    home = tmp_path / "not" / "yet" / "there"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DARTWING_")}

    def run(*args: str, options: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
        base = ["--home", str(home), "--redis-url", redis_server.url, *options]
        return subprocess.run([*CLI, *base, *args], capture_output=True, text=True, env=env, timeout=60)

    return run


def assert_one_line_failure(result: subprocess.CompletedProcess, text: str) -> None:
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0 and text in result.stderr, result.stderr


def test_init_with_a_redis_url_creates_the_home_folder(run):
    result = run("init")
    assert result.returncode == 0, result.stderr
    assert "Initialised sqlite:///" in result.stdout


def test_organizations_are_added_listed_and_disabled(run):
    assert run("init").returncode == 0
    assert run("org", "add", "Acme", "--max-concurrent", "3").returncode == 0
    assert run("user", "add", "ann@acme.example", "--org", "Acme").returncode == 0
    listed = run("org", "list").stdout.splitlines()
    assert "Acme\tActive\t3\t1" in listed and "Demo Org\tActive\t0\t1" in listed
    assert run("org", "disable", "Acme").returncode == 0
    assert "Acme\tInactive\t3\t1" in run("org", "list").stdout.splitlines()
    refused = run("submit", "noop", "Acme", options=("--user", "ann@acme.example"))
    assert_one_line_failure(refused, "accepts no jobs")


def test_user_add_for_an_unknown_organization_fails_and_creates_nothing(run):
    assert run("init").returncode == 0
    assert_one_line_failure(
        run("user", "add", "bo@x.example", "--org", "Nowhere"), "no organization 'Nowhere'"
    )
    assert_one_line_failure(run("user", "rotate", "bo@x.example"), "no user")  # rolled back whole
    assert_one_line_failure(run("org", "disable", "Nowhere"), "no organization 'Nowhere'")


def test_an_unreachable_database_is_one_line(run):
    result = run("status", "JOB-2026-00001", options=("--db-url", "mysql+pymysql://root@127.0.0.1:1/none"))
    assert_one_line_failure(result, "OperationalError")


def test_cli_submit_many_submits_a_jsonl_file_or_names_the_rejected_lines(run, tmp_path):
    assert run("init").returncode == 0
    good = tmp_path / "jobs.jsonl"
    good.write_text(
        '{"job_type": "echo", "organization": "Demo Org", "parameters": {"n": 1}}\n\n'
        '{"job_type": "noop", "organization": "Demo Org", "priority": "High"}\n'
    )
    done = run("submit-many", str(good), options=("--user", "demo@example.com"))
    assert done.returncode == 0, done.stderr
    assert [line.split()[1] for line in done.stdout.splitlines()] == ["Queued", "Queued"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"job_type": "echo", "organization": "Demo Org", "parameters": {"n": 2}}\n'
        '{"job_type": "nope", "organization": "Demo Org"}\n'
    )
    refused = run("submit-many", str(bad), options=("--user", "demo@example.com"))
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "line 2: InvalidInputError: Unknown job type 'nope'" in refused.stderr
    assert "nothing was submitted" in refused.stderr
    bad.write_text("{not json\n")
    assert "line 1: not valid JSON" in run("submit-many", str(bad)).stderr
    assert run("status", done.stdout.split()[0]).returncode == 0
    assert "JOB-" in run("status", done.stdout.split()[2]).stdout
