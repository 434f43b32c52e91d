#!/usr/bin/env python3
"""Run notebooks top to bottom in fresh kernels and keep the executed copies.

    python scripts/execute_notebooks.py --output-dir build/executed            # every lesson
    python scripts/execute_notebooks.py --output-dir out --jobs 1 notebooks/01_sockets.ipynb

Each notebook runs in a kernel of its own, started with the interpreter that
runs this script (no user kernelspec, profile or connection file is used:
they go to a temporary folder), in the notebook's folder, as nbval and
JupyterLab do. A cell that raises fails its notebook, unless the cell is
tagged ``raises-exception``. Widget state is stored in the executed copy.

It needs only nbclient and nbformat, which JupyterLab brings, so it runs in
the Binder environment as well as in the project's.

Prints one line per notebook (``ok``/``FAILED``, seconds) and, for a failure,
the error; exits 1 if any notebook failed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


async def _execute(path: Path, out: Path, timeout: float, slots: asyncio.Semaphore) -> str | None:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    async with slots:
        started = time.monotonic()
        error = None
        # A kernel picks its ports before it binds them, so two kernels
        # starting at once can collide ("Address already in use"); it then
        # dies before running a single cell. That is the machine's race, not
        # the lesson's failure: start it once more.
        for attempt in (1, 2):
            nb = nbformat.read(path, as_version=4)
            client = NotebookClient(
                nb,
                timeout=timeout,
                kernel_name="python3",
                resources={"metadata": {"path": str(path.parent)}},
                store_widget_state=True,
            )
            try:
                await client.async_execute()
                error = None
            except CellExecutionError as exc:
                error = str(exc)
            except Exception as exc:  # a kernel that died or timed out
                error = f"{type(exc).__name__}: {exc}"
                if attempt == 1 and "before replying to kernel_info" in str(exc):
                    continue
            break
        seconds = time.monotonic() - started
        nbformat.write(nb, out / path.name)
        print(f"{'ok' if error is None else 'FAILED':>6}  {path.name}  {seconds:.1f} s", flush=True)
        return error


def execute(paths: list[Path], out: Path, jobs: int = 2, timeout: float = 300) -> dict[str, str]:
    """Execute ``paths`` (``jobs`` at a time) into ``out``; the errors, by notebook name."""
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="nbexec-") as scratch:
        saved = {var: os.environ.get(var) for var in _ISOLATED}
        for var in _ISOLATED:
            os.environ[var] = str(Path(scratch) / var.lower())
        try:

            async def main() -> list[str | None]:
                slots = asyncio.Semaphore(jobs)
                return await asyncio.gather(*(_execute(p, out, timeout, slots) for p in paths))

            errors = asyncio.run(main())
        finally:
            for var, value in saved.items():
                if value is None:
                    os.environ.pop(var, None)
                else:
                    os.environ[var] = value
    return {p.name: e for p, e in zip(paths, errors, strict=True) if e is not None}


# Where Jupyter and IPython look for user files: a temporary folder instead,
# so the kernel is this interpreter's and nothing of the user's leaks in.
_ISOLATED = ("JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/*.ipynb")
    parser.add_argument("--output-dir", type=Path, required=True)
    parser.add_argument("--jobs", type=int, default=2, help="notebooks run at once")
    parser.add_argument("--timeout", type=float, default=300, help="seconds per cell")
    args = parser.parse_args(argv)
    paths = [p.resolve() for p in args.notebooks] or sorted((ROOT / "notebooks").glob("*.ipynb"))
    if not paths:
        print("no notebooks to run", file=sys.stderr)
        return 1
    errors = execute(paths, args.output_dir, args.jobs, args.timeout)
    for name, error in errors.items():
        print(f"\n===== {name} =====\n{error}", file=sys.stderr)
    print(f"{len(paths) - len(errors)} passed, {len(errors)} failed")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
