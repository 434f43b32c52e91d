"""A small class on a real JupyterHub: every student passes, faults recover, nothing is left.

One run of ``tests/hub/hubclass.py`` (as ``make classroom-hub`` runs it, with
fewer students and a shorter arrival window, plus the browser student) per
session; each test below checks one promise of its report. The run takes a few
minutes on 2 cores. It skips, with the reason, where the hub cannot run:
no npm (hence no configurable-http-proxy), no Python every user may run, not
Linux; the browser test skips where Playwright or chromium is missing.

After the run, whatever happens to it (a timeout, a crash), the fixture
removes any Unix user whose name starts with the test's prefix and kills that
user's processes by pid: ``test_nothing_the_hub_started_survives`` fails if it
had anything to remove.
"""

from __future__ import annotations

import contextlib
import json
import pwd
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.hub import hubclass

ROOT = Path(__file__).resolve().parents[2]
STUDENTS = 5  # what fits the test budget on 2 cores with the browser student (>= 5)
ARRIVAL = 20.0  # seconds over which they log in
PREFIX = "lskt"  # every user this test makes starts with it (the runner adds a run id)
RUN_TIMEOUT = 840.0  # seconds before the runner is told to stop (it then tears down)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]


def _sweep(prefix: str) -> list[str]:
    """Kill the processes of every user named ``prefix*``, remove the users; what was found."""
    found = []
    for entry in pwd.getpwall():
        if not entry.pw_name.startswith(prefix):
            continue
        found.append(f"user {entry.pw_name}")
        procs = []
        for proc in psutil.process_iter():
            with contextlib.suppress(psutil.Error):
                if proc.uids().real == entry.pw_uid:
                    procs.append(proc)
                    found.append(f"process {proc.pid} {' '.join(proc.cmdline())[:100]}")
                    proc.kill()
        psutil.wait_procs(procs, timeout=10)
        subprocess.run(["userdel", entry.pw_name], check=False, capture_output=True, timeout=60)
    return found


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    reason = hubclass.missing()
    if reason:
        pytest.skip(reason)
    folder = tmp_path_factory.mktemp("hubclass")
    out, log = folder / "report.json", folder / "run.log"
    command = [sys.executable, "-m", "tests.hub.hubclass", "--students", str(STUDENTS)]
    command += ["--arrival", str(ARRIVAL), "--browser", "--prefix", PREFIX]
    command += ["--timeout", str(RUN_TIMEOUT - 120), "--json", str(out)]
    with log.open("wb") as log_file:
        runner = subprocess.Popen(command, cwd=ROOT, stdout=log_file, stderr=subprocess.STDOUT)
    try:
        runner.wait(timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        runner.send_signal(signal.SIGTERM)  # the runner tears down, then writes its report
        try:
            runner.wait(timeout=180)
        except subprocess.TimeoutExpired:
            runner.kill()
            runner.wait(timeout=30)
    finally:
        swept = _sweep(PREFIX) if hubclass.os.geteuid() == 0 else []
    tail = log.read_text(encoding="utf-8", errors="replace")[-3000:]
    assert out.exists(), f"the runner wrote no report (exit {runner.returncode}):\n{tail}"
    data: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    data["returncode"] = runner.returncode
    data["swept_by_test"] = swept
    data["log_tail"] = tail
    assert not data.get("error"), f"the class run failed: {data['error']}\n{tail}"
    return data


def _failures(report: dict[str, Any]) -> dict[str, Any]:
    return {
        s["name"]: s.get("error")
        or [(r["lesson"], r.get("error")) for r in s["lessons"] if not r["ok"]]
        for s in report["students_detail"]
        if not s["ok"]
    }


def test_every_student_runs_every_lesson_through_the_hub(report: dict[str, Any]) -> None:
    assert report["passed"] == report["total"] == STUDENTS, _failures(report)
    assert report["solo"]["ok"], report["solo"].get("error")
    lessons = report["lessons"]
    assert lessons, "the students found no lesson in the pulled notebooks/ folder"
    assert not [n for n in lessons if n.startswith("00_") or "practice" in n]
    committed = sorted(
        p.stem for p in (ROOT / "notebooks").glob("*.ipynb") if hubclass.is_lesson(p.name)
    )
    for student in report["students_detail"]:
        # Pulled by nbgitpuller from the bare clone: the same lessons as in the checkout.
        assert student["found"] == committed, student["name"]
        # One record per lesson (the killed student's first lesson is its second attempt).
        ran = [r["lesson"] for r in student["lessons"]]
        assert ran == student["found"], student["name"]
        assert all(r["cells_run"] > 0 for r in student["lessons"])
        # The course came without teacher/: the solutions are not in the student's home.
        assert student["teacher_folder"] == 404, student["name"]
    assert (ROOT / "teacher" / "solutions").is_dir()  # ...though this checkout has them
    assert report["mode"] == ("unix-users" if hubclass.os.geteuid() == 0 else "one-user")


def test_no_student_hears_another_students_multicast(report: dict[str, Any]) -> None:
    assert report["cross_talk"] == [], report["cross_talk"]
    assert report["audit_groups_distinct"], "two kernels drew the same group and port"
    assert report["kernel_rss_mib"]["n"] >= STUDENTS * len(report["lessons"])


def test_a_student_in_chromium_logs_in_pulls_and_runs_a_lesson(report: dict[str, Any]) -> None:
    if report.get("browser_skipped"):
        pytest.skip(report["browser_skipped"])
    browser = report["browser"]
    assert browser["ok"], browser
    pages = browser["pages"]
    # The hub spawned the server, nbgitpuller's page pulled, JupyterLab opened the lesson.
    assert any("/hub/spawn-pending/" in p or "/git-pull" in p for p in pages), pages
    assert any(p.endswith(f"/lab/tree/labsock/notebooks/{browser['lesson']}") for p in pages)
    assert browser["figures_shown"] >= browser["figures_sent"] > 0
    assert browser["widgets_shown"] > 0
    assert browser["buttons"] > 0
    assert (ROOT / browser["screenshot"]).stat().st_size > 10_000


def test_a_killed_server_is_restarted_from_the_hub_and_the_lesson_passes(
    report: dict[str, Any],
) -> None:
    kill = report["faults"]["kill"]
    assert kill.get("server_pid"), kill
    assert "closed" in kill["noticed"] or "Lost" in kill["noticed"], kill
    assert kill["recovered"], kill
    assert kill["student_ok"], kill
    # Its kernels noticed that their server died, and stopped by themselves.
    assert kill["orphan_kernels_alive_at_teardown"] == [], kill


def test_the_same_lesson_twice_at_once_passes_both_times(report: dict[str, Any]) -> None:
    twice = report["faults"]["twice"]
    assert twice["ok"], twice
    assert len(twice["seconds"]) == 2, twice
    assert all(twice["seconds"]), twice


def timeline(report: dict[str, Any]) -> str:
    """Each student's start, end, lessons and lost server: for a failure's message."""
    lines = []
    for s in report.get("students_detail", []):
        lessons = " ".join(f"{x['lesson']}={x.get('seconds')}s" for x in s.get("lessons", []))
        kill = s.get("kill")
        lines.append(
            f"{s['name']}: start {s.get('start')} ready {s.get('ready_s')} end {s.get('end')}"
            f" retries {s.get('hub_retries')} {lessons}" + (f" kill {kill}" if kill else "")
        )
    return "\n".join(lines)


def test_servers_survive_a_hub_restart_while_students_work(report: dict[str, Any]) -> None:
    restart = report["faults"]["hub_restart"]
    assert restart["ok"], f"{restart}\n{timeline(report)}"
    assert restart["students_in_lesson"] >= 2, f"{restart}\n{timeline(report)}"
    assert restart["servers_alive_after"] == restart["servers_before"] > 0, restart
    # Students who talked to the hub during the restart retried, as a browser does.
    assert all(s["ok"] for s in report["students_detail"])


def test_nothing_the_hub_started_survives(report: dict[str, Any]) -> None:
    teardown = report["teardown"]
    assert teardown["leftovers"] == {}, teardown["leftovers"]
    # Every server stopped through the hub, every kernel with it: nothing to kill.
    assert teardown["killed_at_teardown"] == [], teardown["killed_at_teardown"]
    assert teardown["files_outside_build"] == [], teardown["files_outside_build"]
    assert teardown["userdel_problems"] == []
    assert report["swept_by_test"] == [], report["swept_by_test"]
    assert report["returncode"] == 0, report["log_tail"]


def test_the_report_has_the_figures_a_teacher_plans_with(report: dict[str, Any]) -> None:
    assert report["login_to_ready_s"]["n"] == STUDENTS
    assert 0 < report["login_to_ready_s"]["median"] <= report["login_to_ready_s"]["p95"]
    for lesson, times in report["run_all_s"].items():
        assert times["under_load"]["n"] >= 1, lesson
        assert (times["alone"] or 0) > 0, lesson
    memory = report["memory_mib"]
    assert memory["server_peak"]["n"] >= STUDENTS
    assert memory["server_peak"]["median"] > 10
    assert memory["kernels_peak"]["median"] > 10
    assert memory["hub_peak"] > 10
    assert memory["proxy_peak"] > 10
    assert report["host"]["samples"] > 10
    assert report["host"]["cores"] >= 1
