"""Benchmark 7: each lesson notebook's execution time, and its kernel's memory after.

Each notebook runs top to bottom in a fresh kernel with nbclient (what nbval
drives underneath), from the notebooks folder, as ``make test`` runs it.
Timed from the first cell's start to the last cell's end (kernel start-up is
reported apart). The kernel's resident memory (RSS) is read after the last
cell, with its peak (Linux ``VmHWM``). A first row runs a one-cell notebook
that only imports labsock: the memory any lesson starts from.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any

from benchmarks._harness import Row

__all__ = ["bench_notebooks"]

_CELL_TIMEOUT = 300


def _peak_rss(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _execute(nb: Any, folder: Path) -> dict[str, Any]:
    import psutil
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    marks: dict[str, float] = {}
    memory: dict[str, Any] = {}
    client = NotebookClient(
        nb,
        timeout=_CELL_TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(folder)}},
    )

    def pid() -> int:
        provisioner: Any = client.km.provisioner if client.km is not None else None
        return int(provisioner.pid)

    def on_cell_start(**_: Any) -> None:
        marks.setdefault("first_cell", time.perf_counter())

    def on_cell_executed(**_: Any) -> None:
        marks["last_cell"] = time.perf_counter()
        process = psutil.Process(pid())
        memory["rss"] = process.memory_info().rss
        memory["peak_rss"] = _peak_rss(process.pid)
        memory["kernel_python"] = process.cmdline()[0]

    client.on_cell_start = on_cell_start
    client.on_cell_executed = on_cell_executed
    error = None
    t0 = time.perf_counter()
    try:
        # The kernel's own warnings (unencrypted local TCP...) are noise here.
        client.execute(stderr=subprocess.DEVNULL)
    except CellExecutionError as exc:
        error = str(exc).strip().splitlines()[-1][:200]
    wall = time.perf_counter() - t0
    cells = marks.get("last_cell", t0) - marks.get("first_cell", t0)
    return {
        "cells_seconds": cells,
        "wall_seconds": wall,
        "kernel_start_seconds": marks.get("first_cell", t0) - t0,
        "rss_mib": memory.get("rss", 0) / 2**20,
        "peak_rss_mib": (memory.get("peak_rss") or 0) / 2**20,
        "kernel_python": memory.get("kernel_python"),
        "error": error,
    }


def bench_notebooks(folder: Path) -> list[Row]:
    """One row per notebook (plus the bare kernel), in name order."""
    import nbformat

    rows = []
    baseline = nbformat.v4.new_notebook()  # type: ignore[no-untyped-call]
    baseline.cells.append(nbformat.v4.new_code_cell("import labsock"))  # type: ignore[no-untyped-call]
    notebooks: list[tuple[str, Any]] = [("kernel + import labsock", baseline)]
    for path in sorted(folder.glob("*.ipynb")):
        notebooks.append((path.name, nbformat.read(path, as_version=4)))  # type: ignore[no-untyped-call]
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")  # quiet debugger warning
    for name, nb in notebooks:
        report = _execute(nb, folder)
        failed = report["error"] is not None
        rows.append(
            Row(
                key=f"notebook:{name}",
                title=name,
                unit="s",
                labsock=report["cells_seconds"],
                note=f"FAILED: {report['error']}" if failed else "",
                met=None if not failed else False,
                details=report,
            )
        )
    return rows
