"""Example handlers used by the demo, the tests and the benchmarks.

Each takes a JobContext and returns a dict (stored as the job's result; its `output_reference`, if
any, is stored on its own).
"""

from __future__ import annotations

import time

from ..context import JobContext
from ..retry_policy import PermanentError, TransientError


def echo(context: JobContext) -> dict:
    """Returns its parameters: the smallest useful job."""
    return {"echo": context.parameters}


def noop(context: JobContext) -> None:
    """Does nothing; what the throughput benchmark measures against raw RQ."""


def progress_steps(context: JobContext) -> dict:
    """Reports progress in `steps` equal steps, sleeping `delay` seconds between them."""
    steps = int(context.parameters.get("steps", 5))
    delay = float(context.parameters.get("delay", 0.2))
    context.update_progress(0, "Starting")
    for step in range(1, steps + 1):
        time.sleep(delay)
        context.update_progress(round(step * 100 / steps, 2), f"Step {step} of {steps}")
    return {"output_reference": f"steps:{steps}", "steps": steps}


def flaky(context: JobContext) -> dict:
    """Fails transiently on its first `fail_times` attempts, then succeeds."""
    fail_times = int(context.parameters.get("fail_times", 1))
    if context.attempt <= fail_times:
        raise TransientError(f"simulated outage on attempt {context.attempt}")
    return {"succeeded_on_attempt": context.attempt}


def always_fails(context: JobContext) -> None:
    """Fails permanently: bad input that no retry can fix."""
    raise PermanentError(f"cannot process {context.parameters.get('record', 'this record')}: invalid input")


def sleep(context: JobContext) -> dict:
    """Sleeps `seconds`, checking for cancellation every `check_every` seconds."""
    seconds = float(context.parameters.get("seconds", 1))
    check_every = float(context.parameters.get("check_every", 0.1))
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(min(check_every, max(0.0, deadline - time.monotonic())))
        context.check_cancel()
    return {"slept": seconds}


def snooze_demo(context: JobContext) -> dict:
    """Snoozes `seconds` (default 1) until it has snoozed `times` times (default 1), then returns:
    a handler waiting for something outside it, without counting failures."""
    times = int(context.parameters.get("times", 1))
    if context.snooze_count < times:
        context.snooze(float(context.parameters.get("seconds", 1)), f"waiting ({context.snooze_count + 1} of {times})")
    return {"snoozed": context.snooze_count}
