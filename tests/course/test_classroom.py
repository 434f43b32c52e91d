"""Many students on one host stay out of each other's way.

On a JupyterHub all students share one machine and one network stack. These
tests play a small class with ``scripts/classroom.py``: 8 kernels running
lessons at the same moment must all pass (no port collisions: every server
binds port 0), and 8 multicast fan-outs at the same moment, in 8 processes,
must each hear only their own group. A control forces two fan-outs onto one
group and port, and the cross-talk counter must then see the other's traffic:
otherwise "no cross-talk" would prove nothing.

The lessons run here are the ones with the most sockets of their own at stake
and a short run time (CI runs on 2 cores); ``python scripts/classroom.py
students --lessons all`` runs all of them (the memory figures in
docs/teaching-guide.md come from that).
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from tests.helpers import ROOT

SCRIPT = ROOT / "scripts" / "classroom.py"
STUDENTS = 8
# Sockets and TCP states (01), multicast groups (04): where students could collide.
LESSONS = [
    n for n in ("01_sockets", "04_multicast") if (ROOT / "notebooks" / f"{n}.ipynb").exists()
]
# A kernel that holds much more than this after a lesson would make a class
# of 30 need more than a small server: a generous bound, measured ~110 MiB.
MAX_KERNEL_RSS = 1 << 30

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def _classroom(*args: str, timeout: float = 540) -> dict[str, Any]:
    completed = subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=ROOT,
    )
    assert completed.stdout, f"no report; stderr:\n{completed.stderr[-3000:]}"
    report: dict[str, Any] = json.loads(completed.stdout)
    report["returncode"] = completed.returncode
    return report


def test_eight_students_run_the_lessons_at_once_and_all_pass() -> None:
    if not LESSONS:
        pytest.skip("neither 01_sockets nor 04_multicast exists yet")
    report = _classroom("students", "--students", str(STUDENTS), "--lessons", *LESSONS)
    runs = report["runs"]
    failed = {
        f"{r['student']}/{r['lesson']}": r.get("error", "")[-800:] for r in runs if not r["ok"]
    }
    assert not failed, f"lessons failed with {STUDENTS} students at once: {failed}"
    assert report["returncode"] == 0
    assert len(runs) == STUDENTS * len(LESSONS)
    assert report["max_concurrent_kernels"] == STUDENTS, "the students did not overlap"

    for run in runs:
        where = f"student {run['student']}, {run['lesson']}"
        # Each kernel's audit: a fresh fan-out of its own, plus every fan-out
        # result the lesson left behind, heard nobody else's datagrams.
        for name, talk in run["audit"]["cross_talk"].items():
            assert not any(talk), f"{where}: {name} heard another student's group: {talk}"
        assert run["audit"]["probe_lost"] == [0, 0, 0], where
        assert 0 < run["rss"] < MAX_KERNEL_RSS, f"{where}: kernel holds {run['rss']} bytes"
    groups = [tuple(r["audit"]["probe_group"]) for r in runs]
    assert len(set(groups)) == len(groups), "two kernels drew the same group and port"


def test_eight_fan_outs_in_eight_processes_hear_only_their_own_group() -> None:
    report = _classroom("fan-outs", "--processes", str(STUDENTS), timeout=120)
    runs = report["runs"]
    assert report["returncode"] == 0, runs
    assert len(runs) == STUDENTS
    for run in runs:
        assert run["cross_talk"] == [0, 0, 0], run
        assert run["lost"] == [0, 0, 0], run
        assert run["received"] == [report["count"]] * 3, run
    groups = [tuple(r["group"]) for r in runs]
    assert len(set(groups)) == STUDENTS, f"groups collided: {groups}"


def test_two_fan_outs_forced_onto_one_group_see_each_others_traffic() -> None:
    # The control: if the counter missed foreign datagrams, the test above
    # would pass for nothing.
    report = _classroom("fan-outs", "--processes", "2", "--same-group", timeout=120)
    runs = report["runs"]
    assert report["returncode"] == 0, runs
    assert runs[0]["group"] == runs[1]["group"]
    for run in runs:
        # Each receiver heard a good part of the other sender's datagrams
        # (how many depends on how the two runs overlapped in time) ...
        assert all(talk > report["count"] // 10 for talk in run["cross_talk"]), run
        # ... and still told its own apart: every one of ours, none mistaken.
        assert run["received"] == [report["count"]] * 3, run
