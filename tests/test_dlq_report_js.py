"""The Dead Letter Queue report's JavaScript (bulk Retry / Delete), run in Node against stubbed Frappe.

The harness (tests/dlq_report_js/) loads the real dead_letter_queue.js with node:vm and uses only
Node's built-ins (node:test, node:vm, node:assert), so CI needs Node but no npm packages and no
Frappe. Without Node the test is skipped with a reason, except under CI=true, where that is a
failure.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
HARNESS = REPO / "tests" / "dlq_report_js"
IN_CI = os.environ.get("CI", "").lower() == "true"
MIN_NODE = 18  # node:test and `node --test <dir>`


def _node() -> str:
    node = shutil.which("node")
    problem = None
    if node is None:
        problem = "node is not installed"
    else:
        version = subprocess.run([node, "--version"], capture_output=True, text=True, check=False).stdout
        match = re.match(r"v(\d+)\.", version.strip())
        if not match or int(match.group(1)) < MIN_NODE:
            problem = f"node {version.strip() or '(unknown version)'} is older than v{MIN_NODE}"
    if problem:
        if IN_CI:
            pytest.fail(f"{problem}; CI=true requires it for the Dead Letter Queue report's JS tests")
        pytest.skip(f"{problem}: the Dead Letter Queue report's JS tests need Node's built-in test runner")
    return node


def test_dead_letter_queue_report_js():
    node = _node()
    result = subprocess.run(
        [node, "--test", "tests/dlq_report_js/"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    # exit 0 with no test run at all (say, the files were renamed) must not pass
    passed = re.search(r"^# pass (\d+)$", result.stdout, re.MULTILINE)
    failed = re.search(r"^# fail (\d+)$", result.stdout, re.MULTILINE)
    expected = len(re.findall(r"^test\(", (HARNESS / "dead_letter_queue.test.js").read_text(), re.MULTILINE))
    assert expected >= 8, "the harness lost its tests"
    assert passed and int(passed.group(1)) == expected, output
    assert failed and int(failed.group(1)) == 0, output
