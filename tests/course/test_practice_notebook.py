"""The practice notebook: made by nbgrader from the teacher's source, calm when unfinished.

The students' notebook (``notebooks/*_practice.ipynb``) is generated from the
nbgrader source ``teacher/source/practice/practice.ipynb`` (solutions and
hidden checks included) by ``python -m teacher.release``. Here: the stored
notebook is exactly what that generates; it has no solution code; run as
released, or with one exercise solved wrongly, it ends with a summary and no
error; the source, with the reference solutions, passes every check for full
points.

Notebooks run in a separate ``jupyter nbconvert --execute`` process, so their
kernels, threads and sockets never mix with this test process's (whose leak
check would count them).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from labsock.exercises import NOT_ATTEMPTED
from teacher import release

NOTEBOOK = release.student_notebook()
SOURCE = release.SOURCE
CHECK_CELLS = [f"check-{n}" for n in range(1, 7)]
# Outputs and execution counts differ run to run; everything else must match.
VOLATILE = ("outputs", "execution_count")

pytestmark = pytest.mark.slow


def load(path: Path) -> dict[str, Any]:
    notebook: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return notebook


def source_of(cell: dict[str, Any]) -> str:
    text = cell["source"]
    return "".join(text) if isinstance(text, list) else str(text)


def cell(notebook: dict[str, Any], cell_id: str) -> dict[str, Any]:
    for c in notebook["cells"]:
        if c.get("id") == cell_id:
            return c
    raise KeyError(cell_id)


def execute(notebook: dict[str, Any], tmp_path: Path, name: str = "in") -> dict[str, Any]:
    """Run every cell in a fresh kernel (another process), in ``tmp_path``; return the result."""
    source = tmp_path / f"{name}.ipynb"
    source.write_text(json.dumps(notebook), encoding="utf-8")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "jupyter",
            "nbconvert",
            "--to",
            "notebook",
            "--execute",
            "--ExecutePreprocessor.timeout=30",  # nbgrader's per-cell default
            "--ExecutePreprocessor.kernel_name=python3",
            "--output",
            f"{name}-out.ipynb",
            str(source),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return load(tmp_path / f"{name}-out.ipynb")


def text_of(outputs: list[dict[str, Any]]) -> str:
    parts = []
    for o in outputs:
        data = o.get("data", {})
        for kind in ("text/html", "text/plain"):
            parts.append("".join(data.get(kind, "")))
        parts.append("".join(o.get("text", "")))
    return "".join(parts)


def plain_result(c: dict[str, Any]) -> str:
    results = [o for o in c["outputs"] if o["output_type"] == "execute_result"]
    assert len(results) == 1, c["outputs"]
    return "".join(results[0]["data"]["text/plain"])


def assert_calm(notebook: dict[str, Any]) -> None:
    """No error and nothing on stderr in any cell."""
    for c in notebook["cells"]:
        for out in c.get("outputs", []):
            assert out["output_type"] != "error", (c["id"], out.get("ename"), out.get("evalue"))
            assert not (out["output_type"] == "stream" and out["name"] == "stderr"), (
                c["id"],
                out["text"],
            )


def solution_cells(notebook: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        c for c in notebook["cells"] if c["metadata"].get("nbgrader", {}).get("solution") is True
    ]


def strip_markers(text: str) -> str:
    return re.sub(r"^\s*### (BEGIN|END) SOLUTION\n", "", text, flags=re.M)


def test_student_notebook_is_what_nbgrader_generates_from_the_source(tmp_path: Path) -> None:
    generated = load(release.generate(tmp_path))
    stored = load(NOTEBOOK)
    assert stored["metadata"] == generated["metadata"]
    assert len(stored["cells"]) == len(generated["cells"])
    for mine, theirs in zip(stored["cells"], generated["cells"], strict=True):
        trimmed = {k: v for k, v in theirs.items() if k not in VOLATILE}
        assert {k: v for k, v in mine.items() if k not in VOLATILE} == trimmed, (
            f"{NOTEBOOK.name} differs from the nbgrader source at cell {mine.get('id')}: "
            "run `python -m teacher.release`"
        )


def test_student_notebook_has_no_solution_code_and_no_outputs() -> None:
    notebook = load(NOTEBOOK)
    whole = json.dumps(notebook)
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "HIDDEN TESTS", "teacher.", "teacher/"):
        assert marker not in whole, marker
    for c in notebook["cells"]:
        if c["cell_type"] == "code":
            assert c["outputs"] == []
            assert c["execution_count"] is None
    exercises = solution_cells(notebook)
    assert [c["id"] for c in exercises] == [f"exercise-{n}" for n in range(1, 7)]
    for c in exercises:
        assert "raise NotImplementedError()" in source_of(c)
    # The setup cell reads like the lessons' ones: no linter comments.
    assert "noqa" not in source_of(cell(notebook, "setup"))
    # No line of the reference solutions longer than a trivial one is in the
    # students' code cells (the hints in Markdown show a skeleton on purpose).
    student = {
        line.strip()
        for c in notebook["cells"]
        if c["cell_type"] == "code"
        for line in source_of(c).splitlines()
        if not line.strip().startswith("#")
    }
    for c in solution_cells(load(SOURCE)):
        body = re.search(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", source_of(c), re.S)
        assert body is not None
        for line in body.group(1).splitlines():
            if len(line.strip()) > 30 and not line.strip().startswith("#"):
                assert line.strip() not in student, line


def test_graded_cells_carry_one_point_per_criterion() -> None:
    from labsock import exercises as ex
    from teacher import solutions as s

    # Every check, run against the reference solutions: count its criteria.
    counts = {
        "check-1": len(ex.check_echo_server(s.echo_server).criteria),
        "check-2": len(ex.check_udp_ping(s.udp_ping).criteria),
        "check-3": len(ex.check_framing(s.send_message, s.recv_message).criteria),
        "check-4": len(ex.check_discovery(s.multicast_sockets, s.discover).criteria),
        "check-5": len(ex.check_reliable(s.rdt_send, s.rdt_receive).criteria),
        "check-6": len(ex.check_concurrent_server(s.concurrent_echo_server).criteria),
    }
    source = load(SOURCE)
    for cell_id, count in counts.items():
        meta = cell(source, cell_id)["metadata"]["nbgrader"]
        assert meta["grade"] is True
        assert meta["locked"] is True
        assert meta["points"] == count, cell_id
        assert f".points({count})" in source_of(cell(source, cell_id))
    hidden = cell(source, "hidden-2")
    assert "### BEGIN HIDDEN TESTS" in source_of(hidden)
    assert hidden["metadata"]["nbgrader"]["points"] == 2


def test_released_notebook_ends_with_a_summary_and_no_error(tmp_path: Path) -> None:
    executed = execute(load(NOTEBOOK), tmp_path)
    assert_calm(executed)
    for cell_id in CHECK_CELLS:
        c = cell(executed, cell_id)
        assert NOT_ATTEMPTED in text_of(c["outputs"]), cell_id
        assert float(plain_result(c)) == 0.0  # what nbgrader would record
    summary = text_of(cell(executed, "summary")["outputs"])
    assert "0 of 6 exercises passed" in summary
    assert "Next:" in summary
    assert "Exercise 1" in summary
    # Nothing drawn before there is something to draw.
    assert cell(executed, "goodput-figure")["outputs"] == []
    export = text_of(cell(executed, "export")["outputs"])
    handed = tmp_path / "practice-results-HAND-IN.json"
    assert str(handed) in export
    results = json.loads(handed.read_text(encoding="utf-8"))
    assert results["passed"] == 0
    assert results["total"] == 6
    # The last cell with an output is the summary's neighbour, not a traceback.
    assert executed["cells"][-1]["id"] == "asserts"
    assert executed["cells"][-1]["outputs"] == []


def test_released_notebook_with_one_wrong_exercise_stays_calm(tmp_path: Path) -> None:
    notebook = load(NOTEBOOK)
    # A single recv per client: the classic first mistake.
    cell(notebook, "exercise-1")["source"] = (
        "def echo_server(listener, stop):\n"
        "    listener.settimeout(0.1)\n"
        "    while not stop.is_set():\n"
        "        try:\n"
        "            conn, _ = listener.accept()\n"
        "        except TimeoutError:\n"
        "            continue\n"
        "        with conn:\n"
        "            conn.sendall(conn.recv(1024))\n"
    )
    executed = execute(notebook, tmp_path)
    assert_calm(executed)
    check = cell(executed, "check-1")
    assert 0 < float(plain_result(check)) < 7
    assert "Keep calling recv()" in text_of(check["outputs"])
    summary = text_of(cell(executed, "summary")["outputs"])
    assert "Exercise 1: a TCP echo server" in summary
    assert "Next:</b> Exercise 1" in summary


def test_source_with_reference_solutions_scores_full_points(tmp_path: Path) -> None:
    notebook = load(SOURCE)
    for c in solution_cells(notebook):
        c["source"] = strip_markers(source_of(c))
    hidden = cell(notebook, "hidden-2")
    markers = r"^### (BEGIN|END) HIDDEN TESTS\n?"
    hidden["source"] = re.sub(markers, "", source_of(hidden), flags=re.M)
    executed = execute(notebook, tmp_path)
    assert_calm(executed)
    for c in executed["cells"]:
        meta = c["metadata"].get("nbgrader", {})
        if meta.get("grade"):
            assert float(plain_result(c)) == meta["points"], (c["id"], text_of(c["outputs"]))
    summary = text_of(cell(executed, "summary")["outputs"])
    assert "6 of 6 exercises passed" in summary
    figure = cell(executed, "goodput-figure")["outputs"]
    assert any("image/png" in o.get("data", {}) for o in figure)
