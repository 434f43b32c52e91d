"""The practice notebook: green as stored (nothing attempted), and with the reference solutions.

The notebook runs in a separate ``jupyter nbconvert --execute`` process, so
its kernel, its threads and its sockets never mix with this test process's
(whose leak check would count them).
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from labsock.exercises import NOT_ATTEMPTED
from labsock.solutions import fill_notebook
from tests.helpers import ROOT

NOTEBOOK = ROOT / "notebooks" / "05_practice.ipynb"
CHECK_CELLS = [f"check-{n}" for n in range(1, 7)]

pytestmark = pytest.mark.slow


def _code_cell(source: str, cell_id: str) -> dict[str, Any]:
    return {
        "cell_type": "code",
        "execution_count": None,
        "id": cell_id,
        "metadata": {},
        "outputs": [],
        "source": source,
    }


def _execute(notebook: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """Run every cell in a fresh kernel (another process); return the executed notebook."""
    source = tmp_path / "in.ipynb"
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
            "--ExecutePreprocessor.timeout=120",
            "--ExecutePreprocessor.kernel_name=python3",
            "--output",
            "out.ipynb",
            str(source),
        ],
        cwd=NOTEBOOK.parent,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    executed: dict[str, Any] = json.loads((tmp_path / "out.ipynb").read_text(encoding="utf-8"))
    return executed


def _outputs(notebook: dict[str, Any], cell_id: str) -> list[dict[str, Any]]:
    for cell in notebook["cells"]:
        if cell.get("id") == cell_id:
            outputs: list[dict[str, Any]] = cell["outputs"]
            return outputs
    raise KeyError(cell_id)


def _html(outputs: list[dict[str, Any]]) -> str:
    return "".join("".join(o.get("data", {}).get("text/html", "")) for o in outputs)


def _no_stderr(notebook: dict[str, Any]) -> None:
    for cell in notebook["cells"]:
        for out in cell.get("outputs", []):
            assert not (out["output_type"] == "stream" and out["name"] == "stderr"), (
                cell["id"],
                out["text"],
            )


def test_stored_notebook_is_clean_and_untouched_by_solutions() -> None:
    notebook = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    assert notebook["metadata"]["kernelspec"]["name"] == "python3"
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == []
            assert cell["execution_count"] is None
            assert "labsock.solutions" not in "".join(cell["source"])
    tagged = [c for c in notebook["cells"] if "exercise" in c["metadata"].get("tags", [])]
    assert len(tagged) == 6
    assert all("NotImplementedError" in "".join(c["source"]) for c in tagged)


def test_stored_notebook_runs_twice_in_one_kernel_with_nothing_attempted(tmp_path: Path) -> None:
    notebook = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    again = copy.deepcopy(notebook["cells"])
    for cell in again:
        cell["id"] = f"again-{cell['id']}"
    notebook["cells"] += again
    notebook["cells"].append(
        _code_cell(
            "assert [r.attempted for r in reports] == [False] * 6\n"
            "assert not goodput.attempted\n"
            "assert not labsock.live_endpoints()",
            "final-check",
        )
    )
    executed = _execute(notebook, tmp_path)
    _no_stderr(executed)
    for cell_id in CHECK_CELLS:
        assert NOT_ATTEMPTED in _html(_outputs(executed, cell_id)), cell_id


def test_notebook_with_reference_solutions_passes_every_check(tmp_path: Path) -> None:
    solved = fill_notebook(NOTEBOOK, tmp_path / "solved.ipynb")
    notebook = json.loads(solved.read_text(encoding="utf-8"))
    imported = [
        "".join(c["source"])
        for c in notebook["cells"]
        if "reference-solution" in c["metadata"].get("tags", [])
    ]
    assert len(imported) == 6
    assert "concurrent_echo_server" in imported[-1]
    notebook["cells"].append(
        _code_cell(
            "assert [r.passed for r in reports] == [True] * 6, summarize(reports)\n"
            "assert goodput.attempted and goodput.tcp_factor() > 1\n"
            "assert not labsock.live_endpoints()",
            "final-check",
        )
    )
    executed = _execute(notebook, tmp_path)
    _no_stderr(executed)
    for cell_id in CHECK_CELLS:
        page = _html(_outputs(executed, cell_id))
        assert ": passed (" in page, (cell_id, page[:300])
    figure = _outputs(executed, "goodput-figure")
    assert any("image/png" in o.get("data", {}) for o in figure)


def test_fill_notebook_refuses_a_notebook_without_exercises(tmp_path: Path) -> None:
    plain = {
        "cells": [_code_cell("x = 1", "a")],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    source = tmp_path / "plain.ipynb"
    source.write_text(json.dumps(plain), encoding="utf-8")
    with pytest.raises(ValueError, match="exercise"):
        fill_notebook(source, tmp_path / "out.ipynb")
