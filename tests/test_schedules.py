"""Job Schedules in the standalone runtime: cron across DST, catch-up, exactly once per occurrence
(racing schedulers, a scheduler killed mid-tick, a stale next_run_at), tenancy and bad input on
Python, HTTP and the CLI."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from conftest import ADMIN, ALICE, BOB, ORG_A, ORG_B

from dartwing.dartwing_core.background_jobs import schedules, schema
from dartwing.dartwing_core.background_jobs.cron import occurrences_after, valid_zone
from dartwing.dartwing_core.background_jobs.errors import InvalidInputError, NotPermittedError
from dartwing.dartwing_core.background_jobs.runtime import set_runtime
from dartwing.dartwing_core.background_jobs.schedule_tick import GRACE_SECONDS, fire_due_schedules
from dartwing.dartwing_core.background_jobs.scheduler import minute_sweep_now
from dartwing.dartwing_core.standalone.cli import cli

NY = valid_zone("America/New_York")
UTC = timezone.utc
js, jsr, bj = schema.job_schedule, schema.job_schedule_run, schema.background_job


def _utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def _walk(expression: str, start: datetime, until: datetime) -> list[str]:
    found = itertools.takewhile(lambda o: o <= until, occurrences_after(expression, NY, start))
    return [f"{o:%m-%d %H:%M}Z {o.astimezone(NY):%H:%M%Z}" for o in found]


# --- cron across daylight-saving changes (America/New_York, 2026-03-08 and 2026-11-01) --------


def test_a_fixed_time_in_the_skipped_hour_runs_once_shifted_by_the_gap():
    assert _walk("30 2 * * *", _utc(2026, 3, 7), _utc(2026, 3, 10)) == [
        "03-07 07:30Z 02:30EST",
        "03-08 07:30Z 03:30EDT",  # 02:30 does not exist that day
        "03-09 06:30Z 02:30EDT",
    ]


def test_a_fixed_time_in_the_repeated_hour_runs_once():
    assert _walk("30 1 * * *", _utc(2026, 10, 31), _utc(2026, 11, 2, 12)) == [
        "10-31 05:30Z 01:30EDT",
        "11-01 05:30Z 01:30EDT",  # not again at 01:30 EST
        "11-02 06:30Z 01:30EST",
    ]


def test_an_interval_follows_real_time_through_both_changes():
    fall = _walk("*/30 * * * *", _utc(2026, 11, 1, 4, 45), _utc(2026, 11, 1, 7, 0))
    assert fall == [
        "11-01 05:00Z 01:00EDT",
        "11-01 05:30Z 01:30EDT",
        "11-01 06:00Z 01:00EST",  # the repeated hour runs again: real time went on
        "11-01 06:30Z 01:30EST",
        "11-01 07:00Z 02:00EST",
    ]
    spring = _walk("*/30 * * * *", _utc(2026, 3, 8, 5, 45), _utc(2026, 3, 8, 7, 30))
    assert spring == ["03-08 06:00Z 01:00EST", "03-08 06:30Z 01:30EST", "03-08 07:00Z 03:00EDT", "03-08 07:30Z 03:30EDT"]


def test_two_wall_times_naming_one_instant_are_one_occurrence():
    assert _walk("30 2,3 * * *", _utc(2026, 3, 8), _utc(2026, 3, 8, 23)) == ["03-08 07:30Z 03:30EDT"]


def test_ticks_across_a_dst_change_fire_each_occurrence_once(rt):
    """The tick, every 5 minutes through the fall-back night, for a fixed-time and an interval schedule."""
    daily = schedules.create_schedule("noop", ORG_A, "30 1 * * *", {"k": "daily"}, timezone="America/New_York")
    half = schedules.create_schedule("noop", ORG_A, "*/30 * * * *", {"k": "half"}, timezone="America/New_York")
    start, end = datetime(2026, 11, 1, 4, 40), datetime(2026, 11, 1, 7, 5)
    for name in (daily["name"], half["name"]):
        first = schedules.first_run_after(rt, *_timing(rt, name), after=start)
        rt.execute(sa.update(js).where(js.c.name == name).values(next_run_at=first))
    rt.commit()
    tick = start
    while tick <= end:
        fire_due_schedules(runtime=rt, now=tick)
        tick += timedelta(minutes=5)
    assert _occurrences(rt, daily["name"]) == ["2026-11-01 05:30"]
    assert _occurrences(rt, half["name"]) == [
        "2026-11-01 05:00", "2026-11-01 05:30", "2026-11-01 06:00", "2026-11-01 06:30", "2026-11-01 07:00"
    ]
    assert _job_count(rt) == 6


def _timing(rt, name: str) -> tuple[str, str]:
    row = rt.execute(sa.select(js.c.cron_expression, js.c.timezone).where(js.c.name == name)).first()
    return row["cron_expression"], row["timezone"]


def _occurrences(rt, name: str) -> list[str]:
    rows = rt.execute(sa.select(jsr.c.occurrence).where(jsr.c.job_schedule == name).order_by(jsr.c.occurrence))
    found = [f"{row['occurrence']:%Y-%m-%d %H:%M}" for row in rows]
    rt.rollback()
    return found


def _job_count(rt) -> int:
    count = rt.execute(sa.select(sa.func.count()).select_from(bj)).scalar()
    rt.rollback()
    return count


def _make_due(rt, name: str, at: datetime) -> None:
    rt.execute(sa.update(js).where(js.c.name == name).values(next_run_at=at))
    rt.commit()


# --- firing, catch-up -----------------------------------------------------------------------


def test_a_due_schedule_submits_its_job_once_and_moves_on(rt):
    created = schedules.create_schedule("noop", ORG_A, "*/5 * * * *", {"n": 1}, description="five")
    rt.commit()
    due = created["next_run_at"].replace(tzinfo=None)
    assert fire_due_schedules(runtime=rt, now=due - timedelta(seconds=1)) == 0
    assert fire_due_schedules(runtime=rt, now=due + timedelta(seconds=20)) == 1
    assert fire_due_schedules(runtime=rt, now=due + timedelta(seconds=40)) == 0
    view = schedules.get_schedule(created["name"])
    assert view["next_run_at"] == created["next_run_at"] + timedelta(minutes=5)
    assert view["last_job"] and view["last_error"] is None
    job = rt.execute(sa.select(bj).where(bj.c.name == view["last_job"])).first()
    assert (job["owner"], job["organization"], job["status"]) == (ADMIN, ORG_A, "Queued")
    assert [run["outcome"] for run in view["recent_runs"]] == ["Submitted"]


@pytest.mark.parametrize(("catch_up", "outcome"), [("Skip", "Skipped"), ("Run Once", "Submitted")])
def test_after_downtime_one_run_at_most_and_skip_drops_a_stale_one(rt, catch_up, outcome):
    created = schedules.create_schedule("noop", ORG_A, "0 * * * *", catch_up=catch_up)
    rt.commit()
    due = created["next_run_at"].replace(tzinfo=None)
    assert fire_due_schedules(runtime=rt, now=due + timedelta(hours=5, minutes=30)) == 1
    view = schedules.get_schedule(created["name"])
    (run,) = view["recent_runs"]
    assert run["outcome"] == outcome
    assert run["occurrence"] == created["next_run_at"] + timedelta(hours=5)  # the latest one
    assert "5 earlier occurrence(s) passed over" in (run["message"] or "")
    assert view["next_run_at"] == created["next_run_at"] + timedelta(hours=6)
    assert _job_count(rt) == (1 if catch_up == "Run Once" else 0)


def test_skip_still_runs_an_occurrence_within_the_grace(rt):
    created = schedules.create_schedule("noop", ORG_A, "0 * * * *", catch_up="Skip")
    rt.commit()
    due = created["next_run_at"].replace(tzinfo=None)
    fire_due_schedules(runtime=rt, now=due + timedelta(seconds=GRACE_SECONDS - 10))
    assert _job_count(rt) == 1


def test_a_refused_submit_is_recorded_and_not_retried(rt):
    created = schedules.create_schedule("noop", ORG_A, "* * * * *")
    rt.execute(sa.update(schema.job_type).where(schema.job_type.c.name == "noop").values(is_enabled=0))
    rt.commit()
    due = created["next_run_at"].replace(tzinfo=None)
    assert fire_due_schedules(runtime=rt, now=due) == 1
    view = schedules.get_schedule(created["name"])
    assert "disabled" in view["last_error"] and view["recent_runs"][0]["outcome"] == "Failed"
    assert view["next_run_at"] > created["next_run_at"]


def test_an_identical_job_still_in_its_dedup_window_skips_the_occurrence(rt):
    created = schedules.create_schedule("echo", ORG_A, "* * * * *", {"same": True})
    rt.commit()
    due = created["next_run_at"].replace(tzinfo=None)
    fire_due_schedules(runtime=rt, now=due)
    fire_due_schedules(runtime=rt, now=due + timedelta(minutes=1))
    view = schedules.get_schedule(created["name"])
    assert [run["outcome"] for run in view["recent_runs"]] == ["Skipped", "Submitted"]
    assert "Duplicate job" in view["recent_runs"][0]["message"]


def test_the_minute_sweep_fires_due_schedules(rt):
    created = schedules.create_schedule("noop", ORG_A, "* * * * *")
    rt.commit()
    _make_due(rt, created["name"], rt.now() - timedelta(seconds=5))
    assert minute_sweep_now()["schedules"] == 1
    assert _job_count(rt) == 1


def test_a_disabled_schedule_does_not_fire_and_enabling_counts_from_now(rt):
    created = schedules.create_schedule("noop", ORG_A, "* * * * *", enabled=False)
    rt.commit()
    assert created["next_run_at"] is None
    assert fire_due_schedules(runtime=rt, now=rt.now() + timedelta(days=1)) == 0
    enabled = schedules.set_schedule_enabled(created["name"], True)
    assert rt.aware(rt.now()) < enabled["next_run_at"] <= rt.aware(rt.now()) + timedelta(minutes=1)


# --- exactly once ---------------------------------------------------------------------------


def test_an_occurrence_fired_already_is_never_fired_again(rt):
    """A stale next_run_at (a clock that went back, a restored row) meets the run row's unique key."""
    created = schedules.create_schedule("noop", ORG_A, "*/5 * * * *")
    rt.commit()
    due = created["next_run_at"].replace(tzinfo=None)
    fire_due_schedules(runtime=rt, now=due)
    _make_due(rt, created["name"], due)  # as if the tick had never moved it on
    assert fire_due_schedules(runtime=rt, now=due + timedelta(seconds=30)) == 0
    assert _job_count(rt) == 1
    assert schedules.get_schedule(created["name"])["next_run_at"] == created["next_run_at"] + timedelta(minutes=5)


@pytest.mark.mariadb
def test_racing_schedulers_fire_each_occurrence_once(rt):
    if rt.engine.dialect.name == "sqlite":
        pytest.skip("SQLite has one writer: there is no race to lose")
    names = [schedules.create_schedule("noop", ORG_A, "* * * * *", {"n": n})["name"] for n in range(20)]
    rt.commit()
    due = rt.now() - timedelta(seconds=1)
    rt.execute(sa.update(js).values(next_run_at=due))
    rt.commit()
    barrier = threading.Barrier(4)
    consumed: list[int] = []

    def scheduler():
        barrier.wait()
        consumed.append(fire_due_schedules(runtime=rt))
        rt.rollback()

    threads = [threading.Thread(target=scheduler) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sum(consumed) == 20
    jobs = rt.execute(sa.select(bj.c.parameters)).rows
    runs = rt.execute(sa.select(jsr.c.job_schedule)).rows
    assert len(jobs) == 20 and len({row["parameters"] for row in jobs}) == 20
    assert sorted(row["job_schedule"] for row in runs) == sorted(names)


KILLED_TICK = """
import sys, time
from dartwing.dartwing_core.background_jobs import schedule_tick
from dartwing.dartwing_core.standalone import configure

real_submit = schedule_tick.submit_job

def slow_submit(*args, **kwargs):
    job = real_submit(*args, **kwargs)
    print("submitted", flush=True)  # the job row is written, the transaction still open
    time.sleep(120)
    return job

schedule_tick.submit_job = slow_submit
rt = configure()
schedule_tick.fire_due_schedules(runtime=rt)
"""


def test_a_scheduler_killed_mid_tick_leaves_nothing_and_the_next_tick_fires_once(rt):
    created = schedules.create_schedule("noop", ORG_A, "* * * * *")
    rt.commit()
    _make_due(rt, created["name"], rt.now() - timedelta(seconds=1))
    env = {**os.environ, **rt.config.environ()}
    proc = subprocess.Popen([sys.executable, "-c", KILLED_TICK], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "submitted"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert _job_count(rt) == 0 and _occurrences(rt, created["name"]) == []
    assert fire_due_schedules(runtime=rt) == 1
    assert fire_due_schedules(runtime=rt) == 0
    assert _job_count(rt) == 1 and len(_occurrences(rt, created["name"])) == 1


# --- validation and tenancy, in Python ------------------------------------------------------


@pytest.mark.parametrize(
    ("cron", "zone", "text"),
    [
        ("61 * * * *", "UTC", "not valid"),
        ("* * * * * *", "UTC", "6 fields"),
        ("0 0 30 2 *", "UTC", "not valid"),
        ("@reboot", "UTC", "not valid"),
        ("0 2 * * *", "Mars/Olympus", "Unknown timezone"),
        ("0 2 * * *", "x" * 100, "IANA"),
    ],
)
def test_bad_cron_or_time_zone_is_refused_and_writes_nothing(rt, cron, zone, text):
    with pytest.raises(InvalidInputError, match=text):
        schedules.create_schedule("noop", ORG_A, cron, timezone=zone)
    assert rt.execute(sa.select(sa.func.count()).select_from(js)).scalar() == 0


def test_members_manage_only_their_organizations_schedules(rt):
    rt.set_user(ALICE)
    mine = schedules.create_schedule("noop", ORG_A, "@daily")
    with pytest.raises(NotPermittedError):
        schedules.create_schedule("noop", ORG_B, "@daily")
    rt.set_user(BOB)
    theirs = schedules.create_schedule("noop", ORG_B, "@daily")
    rt.commit()
    rt.set_user(ALICE)
    assert [s["name"] for s in schedules.list_schedules()] == [mine["name"]]
    for action in (
        lambda: schedules.get_schedule(theirs["name"]),
        lambda: schedules.update_schedule(theirs["name"], cron_expression="@hourly"),
        lambda: schedules.set_schedule_enabled(theirs["name"], False),
        lambda: schedules.delete_schedule(theirs["name"]),
    ):
        with pytest.raises(schedules.ScheduleNotFoundError):
            action()
    rt.set_user(ADMIN)
    assert {s["name"] for s in schedules.list_schedules()} == {mine["name"], theirs["name"]}
    assert schedules.set_schedule_enabled(theirs["name"], False)["enabled"] is False


def test_jobs_are_submitted_as_the_owner_so_a_former_member_schedules_nothing(rt):
    rt.set_user(ALICE)
    created = schedules.create_schedule("noop", ORG_A, "* * * * *")
    rt.commit()
    om = schema.org_member
    rt.execute(sa.update(om).where(om.c.organization == ORG_A).values(status="Inactive"))
    rt.commit()
    rt.set_user(ADMIN)
    fire_due_schedules(runtime=rt, now=created["next_run_at"].replace(tzinfo=None))
    assert _job_count(rt) == 0
    assert "not an active member" in schedules.get_schedule(created["name"])["last_error"]


def test_update_keeps_the_planned_run_unless_the_timing_changes(rt):
    created = schedules.create_schedule("noop", ORG_A, "0 3 * * *", {"a": 1})
    changed = schedules.update_schedule(created["name"], parameters={"a": 2}, description="nightly")
    assert changed["next_run_at"] == created["next_run_at"] and changed["parameters"] == {"a": 2}
    moved = schedules.update_schedule(created["name"], timezone="America/New_York")
    assert moved["next_run_at"].astimezone(NY).hour == 3
    with pytest.raises(InvalidInputError, match="cannot change organization"):
        schedules.update_schedule(created["name"], organization=ORG_B)


# --- the CLI --------------------------------------------------------------------------------


def _cli(rt, user: str, *args: str):
    env = {**rt.config.environ(), "DARTWING_USER": user}
    try:
        return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    finally:
        set_runtime(rt)  # the command installed a runtime of its own


def test_cli_schedule_commands(rt):
    added = _cli(rt, ALICE, "schedule", "add", "noop", ORG_A, "30 2 * * *", "--timezone", "America/New_York")
    assert added.exit_code == 0, added.output
    name = added.output.split()[0]
    listed = _cli(rt, ALICE, "schedule", "list")
    assert name in listed.output and "America/New_York" in listed.output
    assert _cli(rt, BOB, "schedule", "list").output == ""
    assert "disabled" in _cli(rt, ALICE, "schedule", "disable", name).output
    assert "enabled, next run" in _cli(rt, ALICE, "schedule", "enable", name).output
    refused = _cli(rt, BOB, "schedule", "remove", name)
    assert refused.exit_code == 1 and "ScheduleNotFoundError" in refused.output
    assert _cli(rt, ALICE, "schedule", "remove", name).output.strip() == f"{name} removed"


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (("noop", ORG_A, "99 * * * *"), "InvalidInputError: cron_expression '99 * * * *' is not valid"),
        (("noop", ORG_A, "@daily", "--timezone", "Nowhere/Land"), "InvalidInputError: Unknown timezone"),
        (("noop", ORG_B, "@daily"), "NotPermittedError"),
    ],
)
def test_cli_refusals_are_one_clear_line(rt, args, text):
    result = _cli(rt, ALICE, "schedule", "add", *args)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and text in lines[0]


# --- the standalone HTTP server -------------------------------------------------------------


def _message(response) -> str:
    return " ".join(json.loads(m)["message"] for m in json.loads(response.json()["_server_messages"]))


def test_http_schedule_endpoints_and_tenancy(api):
    created = api.call(
        "POST",
        "create_schedule",
        json={"job_type": "noop", "organization": ORG_A, "cron_expression": "0 9 * * 1-5",
              "timezone": "Europe/Berlin", "parameters": {"report": "daily"}},
    )
    assert created.status_code == 200, created.text
    name = created.json()["message"]["name"]
    assert created.json()["message"]["next_run_at"].endswith(("+00:00", "Z"))
    assert api.call("GET", "get_schedule", params={"schedule": name}).json()["message"]["recent_runs"] == []
    assert [s["name"] for s in api.call("GET", "list_schedules").json()["message"]] == [name]
    assert api.call("GET", "list_schedules", user=BOB).json()["message"] == []
    for method, endpoint in (("GET", "get_schedule"), ("POST", "disable_schedule"), ("POST", "delete_schedule")):
        kwargs = {"params": {"schedule": name}} if method == "GET" else {"json": {"schedule": name}}
        assert api.call(method, endpoint, user=BOB, **kwargs).status_code == 404
    refused = api.call("POST", "create_schedule", user=BOB,
                       json={"job_type": "noop", "organization": ORG_A, "cron_expression": "@daily"})
    assert refused.status_code == 403
    changed = api.call("POST", "update_schedule", json={"schedule": name, "cron_expression": "@hourly"})
    assert changed.json()["message"]["cron_expression"] == "@hourly"
    assert api.call("POST", "disable_schedule", user=ADMIN, json={"schedule": name}).json()["message"]["enabled"] is False
    assert api.call("POST", "enable_schedule", json={"schedule": name}).json()["message"]["enabled"] is True
    assert api.call("POST", "delete_schedule", json={"schedule": name}).json()["message"]["deleted"] is True
    assert api.call("GET", "get_schedule", params={"schedule": name}).status_code == 404


@pytest.mark.parametrize(
    ("body", "text"),
    [
        ({"cron_expression": "0 25 * * *"}, "is not valid"),
        ({"cron_expression": "*/5 * * * * *"}, "6 fields"),
        ({"cron_expression": "@daily", "timezone": "Atlantis/Capital"}, "Unknown timezone"),
        ({"cron_expression": "@daily", "catch_up": "Always"}, "catch_up must be one of"),
        ({"cron_expression": ""}, "cron_expression is empty"),
    ],
)
def test_http_bad_cron_or_time_zone_is_a_400_with_a_message(api, body, text):
    response = api.call("POST", "create_schedule", json={"job_type": "noop", "organization": ORG_A, **body})
    assert response.status_code == 400 and text in _message(response), response.text


def test_openapi_states_the_schedule_limits(api):
    paths = api.client.get("/api/openapi.json").json()["paths"]
    create = paths["/api/method/dartwing.dartwing_core.api.jobs.create_schedule"]["post"]
    schema_ = create["requestBody"]["content"]["application/json"]["schema"]
    assert schema_["required"] == ["job_type", "organization", "cron_expression"]
    assert schema_["properties"]["cron_expression"]["maxLength"] == 100
    assert "Run Once" in schema_["properties"]["catch_up"]["anyOf"][0]["enum"]
    assert "get" in paths["/api/method/dartwing.dartwing_core.api.jobs.list_schedules"]
