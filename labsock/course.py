"""``labsock-course [FOLDER]``: the course in a folder of your own, opened in JupyterLab.

For a student with pip and nothing else (no git, no make: a Windows or macOS
laptop is the common case)::

    pip install "labsock[lab]"
    labsock-course            # or: python -m labsock.course

copies the lesson notebooks, which ship inside the package, into
``./labsock-course`` (or ``FOLDER``) and opens JupyterLab there on the course
map. A notebook already in the folder is never overwritten: it is the
student's work. To get a fresh copy of one, rename or delete it and run the
command again. ``--copy-only`` copies without opening JupyterLab;
``--no-browser`` opens it without a browser (print the address instead).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

__all__ = ["CopyResult", "copy_course", "course_notebooks", "main"]

#: Where the notebooks go when no folder is given (relative to where the command runs).
DEFAULT_FOLDER = "labsock-course"
#: The notebook JupyterLab opens first.
START = "00_index.ipynb"


@dataclass(frozen=True, slots=True)
class CopyResult:
    """What :func:`copy_course` did: the notebooks copied and those left as they were."""

    folder: Path
    copied: tuple[str, ...]
    kept: tuple[str, ...]

    def __str__(self) -> str:
        lines = [f"course folder: {self.folder}"]
        if self.copied:
            lines.append(f"copied {len(self.copied)} notebook(s): {', '.join(self.copied)}")
        if self.kept:
            lines.append(
                f"kept your {len(self.kept)} notebook(s) as they are: {', '.join(self.kept)} "
                "(to get a fresh copy of one, rename it and run this again)"
            )
        return "\n".join(lines)


def course_notebooks() -> list[Path]:
    """The lesson notebooks that ship with labsock, in course order.

    Inside an installed wheel they are package data (``labsock/_notebooks``);
    in a clone of the repository (an editable install) they are its
    ``notebooks/`` folder.

    Raises:
        FileNotFoundError: neither place has any notebook.
    """
    shipped = resources.files("labsock") / "_notebooks"
    folder = Path(str(shipped))
    if not folder.is_dir():
        folder = Path(__file__).resolve().parents[1] / "notebooks"
    found = sorted(folder.glob("[0-9][0-9]_*.ipynb"))
    if not found:
        raise FileNotFoundError(f"no course notebooks in {folder}: reinstall labsock")
    return found


def copy_course(folder: str | Path = DEFAULT_FOLDER) -> CopyResult:
    """Copy the course's notebooks into ``folder`` (created if needed), never overwriting one.

    Returns:
        A :class:`CopyResult`: which notebooks were copied, which were kept.

    Raises:
        OSError: ``folder`` cannot be created or written.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     first, again = copy_course(tmp), copy_course(tmp)
        >>> bool(first.copied), again.copied, again.kept == first.copied
        (True, (), True)
    """
    target = Path(folder).expanduser().resolve()
    target.mkdir(parents=True, exist_ok=True)
    copied: list[str] = []
    kept: list[str] = []
    for notebook in course_notebooks():
        destination = target / notebook.name
        if destination.exists():
            kept.append(notebook.name)
            continue
        shutil.copyfile(notebook, destination)
        copied.append(notebook.name)
    return CopyResult(target, tuple(copied), tuple(kept))


def main(argv: list[str] | None = None) -> int:
    """The ``labsock-course`` command; returns its exit status."""
    parser = argparse.ArgumentParser(
        prog="labsock-course",
        description="Copy the labsock course's notebooks into FOLDER (never overwriting your "
        "work) and open them in JupyterLab.",
    )
    parser.add_argument("folder", nargs="?", default=DEFAULT_FOLDER, help="default: %(default)s")
    parser.add_argument("--copy-only", action="store_true", help="copy, do not open JupyterLab")
    parser.add_argument(
        "--no-browser", action="store_true", help="start JupyterLab without opening a browser"
    )
    args = parser.parse_args(argv)
    try:
        result = copy_course(args.folder)
    except OSError as exc:
        print(f"labsock-course: cannot copy the notebooks: {exc}", file=sys.stderr)
        return 1
    print(result)
    if args.copy_only:
        return 0
    command = [sys.executable, "-m", "jupyter", "lab", f"--notebook-dir={result.folder}"]
    if args.no_browser:
        command.append("--no-browser")
    command.append(str(result.folder / START))
    try:
        return subprocess.call(command)
    except KeyboardInterrupt:  # Ctrl-C stops JupyterLab: not an error
        return 0


if __name__ == "__main__":
    sys.exit(main())
