"""A class, graded with the real nbgrader: release, submissions, autograde, feedback.

What a teacher does on the class hub, in a scratch course folder: generate
the practice assignment from the teacher's source, take in a handful of
students' notebooks (the reference solutions; known-wrong solutions; an
untouched one; one whose server hangs in ``accept()``; one that raises
everywhere), autograde them all and generate the feedback. Each gets exactly
the points it should, its feedback carries the hints, nothing hangs (every
graded cell ends within nbgrader's 30 s), and no kernel is left running.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import psutil
import pytest

from teacher import release

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

ASSIGNMENT = release.ASSIGNMENT
MAXIMA = {"check-1": 7, "check-2": 7, "hidden-2": 2, "check-3": 8, "check-4": 10}
MAXIMA |= {"check-5": 8, "check-6": 6}


def _load(path: Path) -> dict[str, Any]:
    notebook: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return notebook


def _source(cell: dict[str, Any]) -> str:
    text = cell["source"]
    return "".join(text) if isinstance(text, list) else str(text)


def _cell(notebook: dict[str, Any], cell_id: str) -> dict[str, Any]:
    return next(c for c in notebook["cells"] if c["id"] == cell_id)


def _reference_cells() -> dict[str, str]:
    """The source notebook's exercise cells, solution markers removed (what a student writes)."""
    source = _load(release.SOURCE)
    return {
        f"exercise-{n}": re.sub(
            r"^\s*### (BEGIN|END) SOLUTION\n",
            "",
            _source(_cell(source, f"exercise-{n}")),
            flags=re.M,
        )
        for n in range(1, 7)
    }


REFERENCE = _reference_cells()

# Known-wrong code, one classic mistake per exercise, written as a student would.
# Where an exercise has two functions, the wrong one is redefined after the
# reference cell's (the later definition wins).
SINGLE_RECV = """
def echo_server(listener, stop):
    listener.settimeout(0.1)
    while not stop.is_set():
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            continue
        with conn:
            conn.sendall(conn.recv(1024))  # one recv per client
"""
FIXED_TIMEOUT = """
def udp_ping(server, count, timeout, retries):
    rtts = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)  # never doubled
        for seq in range(count):
            for attempt in range(retries + 1):
                sent = time.perf_counter()
                sock.sendto(f"ping {seq} {attempt}".encode(), server)
                try:
                    while True:
                        data, _ = sock.recvfrom(100)
                        if int(data.split()[1]) == seq:
                            rtts.append(time.perf_counter() - sent)
                            break
                except TimeoutError:
                    continue
                break
    n = len(rtts)
    return {"received": n, "loss": (count - n) / count, "rtt_min": min(rtts, default=None),
            "rtt_avg": sum(rtts) / n if n else None, "rtt_max": max(rtts, default=None)}
"""
LITTLE_ENDIAN = """
def send_message(sock, payload):
    sock.sendall(struct.pack("<I", len(payload)) + payload)
"""
LISTS_ITSELF = """
_discover = discover

def discover(sender, receiver, group, name, duration):
    return _discover(sender, receiver, group, name, duration) | {name}
"""
ANY_ACK = """
def rdt_send(sock, peer, messages, timeout):
    sent = 0
    for seq, payload in enumerate(messages):
        while True:
            sock.sendto(b"D" + struct.pack("!I", seq) + payload, peer)
            sent += 1
            sock.settimeout(timeout)
            try:
                sock.recvfrom(64)  # any ACK will do
                break
            except TimeoutError:
                continue
    return sent
"""
SERIAL = REFERENCE["exercise-1"].replace("def echo_server(", "def concurrent_echo_server(")

HANGS_IN_ACCEPT = """
def echo_server(listener, stop):
    listener.settimeout(None)
    while True:  # blocks in accept() for good, never looks at stop
        conn, _ = listener.accept()
        conn.close()
"""
HANGS_WITH_A_CLIENT = """
def concurrent_echo_server(listener, stop):
    conn, _ = listener.accept()
    threading.Event().wait()  # never returns: neither stop nor the check can end it
"""


def _raising(cell: str) -> str:
    """A cell whose functions all raise ValueError (same names as ``cell``'s)."""
    names = re.findall(r"^def (\w+)\((.*?)\):", cell, flags=re.M)
    return "\n\n".join(
        f'def {name}({args}):\n    raise ValueError("boom in {name}")' for name, args in names
    )


def _submission(cells: dict[str, str]) -> dict[str, Any]:
    notebook = _load(release.student_notebook())
    for cell_id, text in cells.items():
        _cell(notebook, cell_id)["source"] = text
    return notebook


WRONG = {
    "exercise-1": SINGLE_RECV,
    "exercise-2": FIXED_TIMEOUT,
    "exercise-3": REFERENCE["exercise-3"] + "\n" + LITTLE_ENDIAN,
    "exercise-4": REFERENCE["exercise-4"] + "\n" + LISTS_ITSELF,
    "exercise-5": REFERENCE["exercise-5"] + "\n" + ANY_ACK,
    "exercise-6": SERIAL,
}
RAISES = {k: _raising(v) for k, v in REFERENCE.items()}
RAISES["exercise-3"] = 'raise RuntimeError("half-written cell")\n' + RAISES["exercise-3"]

SUBMISSIONS: dict[str, dict[str, str]] = {
    "reference": REFERENCE,
    "untouched": {},
    "wrong": WRONG,
    "hangs": {"exercise-1": HANGS_IN_ACCEPT, "exercise-6": HANGS_WITH_A_CLIENT},
    "raises": RAISES,
}

# Expected points per graded cell (anything not listed: 0).
EXPECTED: dict[str, dict[str, float]] = {
    "reference": dict(MAXIMA),
    "untouched": {},
    "wrong": {
        "check-1": 5,  # single recv: the byte-at-a-time and the 1 MiB echoes fail
        "check-2": 5,  # no back-off, and late replies to earlier attempts timed as current
        "hidden-2": round(2 * 5 / 7, 2),  # the same pinger, other parameters: same two
        "check-3": 6,  # little-endian length: the header criterion, and the 1 MiB send after it
        "check-4": 9,  # lists itself among the others
        "check-5": 6,  # any ACK will do: moves on too early, so not every message arrives
        "check-6": 2,  # one client at a time: the 50 at once fail, and what builds on them
    },
    "hangs": {},
    "raises": {},
}
# Words the feedback of each submission must show (the hint the student needs).
FEEDBACK = {
    "untouched": ["not attempted yet"],
    "wrong": [
        "Keep calling recv()",
        "double the wait",
        "little-endian",
        "leave your own name out",
        "compare the ACK",
        "its own thread",
    ],
    "hangs": ["never got back to its loop", "concurrent_echo_server() is still running"],
    "raises": ["ValueError: boom in echo_server", "RuntimeError"],
}


def _scores(course: Path, student: str) -> dict[str, float]:
    from nbgrader.api import Gradebook

    scores = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for cell_id in MAXIMA:
            grade = gb.find_grade(cell_id, ASSIGNMENT, ASSIGNMENT, student)
            scores[cell_id] = float(grade.score)
    return scores


def _kernels_under(folder: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if "ipykernel" in cmdline and str(folder) in cmdline:
            found.append(proc)
    return found


def nbgrader_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """PATH and a runtime folder of the test's own for nbgrader's kernels; that folder."""
    # nbgrader's database layer runs `alembic` by name, as on a hub's PATH.
    scripts = str(Path(sys.executable).parent)
    monkeypatch.setenv("PATH", os.pathsep.join([scripts, os.environ.get("PATH", "")]))
    runtime = tmp_path / "runtime"
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(runtime))
    return runtime


def grade(folder: Path, submissions: dict[str, dict[str, Any]], lang: str | None = None) -> Path:
    """Release the practice (in ``lang``) in a course under ``folder``, take in one
    notebook per student, autograde them all and write the feedback; the course folder."""
    course = release.generate(folder, lang).parents[2]
    for student, notebook in submissions.items():
        target = course / "submitted" / student / ASSIGNMENT
        target.mkdir(parents=True)
        (target / f"{ASSIGNMENT}.ipynb").write_text(json.dumps(notebook), "utf-8")
    release.nbgrader(course, "autograde", ASSIGNMENT, "--create", timeout=480)
    release.nbgrader(course, "generate_feedback", ASSIGNMENT, timeout=120)
    return course


def test_a_class_is_released_autograded_and_given_feedback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = nbgrader_environment(tmp_path, monkeypatch)

    course = grade(tmp_path, {s: _submission(cells) for s, cells in SUBMISSIONS.items()})

    assert not _kernels_under(runtime), "a kernel outlived nbgrader"
    problems = []
    for student in SUBMISSIONS:
        got = _scores(course, student)
        want = {cell_id: EXPECTED[student].get(cell_id, 0.0) for cell_id in MAXIMA}
        if {k: round(v, 2) for k, v in got.items()} != {k: round(v, 2) for k, v in want.items()}:
            problems.append(f"{student}: got {got}, expected {want}")
        page = (course / "feedback" / student / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text(
            encoding="utf-8"
        )
        for words in FEEDBACK.get(student, []):
            if words not in page:
                problems.append(f"{student}: {words!r} not in the feedback")
        # Every graded cell ended by itself, well within nbgrader's per-cell timeout.
        graded = _load(course / "autograded" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
        for c in graded["cells"]:
            for out in c.get("outputs", []):
                if out.get("ename") in ("CellTimeoutError", "DeadKernelError"):
                    problems.append(f"{student}: cell {c['id']} {out['ename']}")
    assert not problems, "\n".join(problems)
