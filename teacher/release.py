"""The practice notebook for students, made from the nbgrader source: ``python -m teacher.release``.

``teacher/source/practice/practice.ipynb`` is the only place the practice is
edited: it holds the reference solutions between ``### BEGIN SOLUTION`` and
``### END SOLUTION``, the graded check cells with their points, and the hidden
checks. ``nbgrader generate_assignment`` turns it into the version students
get (solutions replaced by a stub, hidden checks removed); this script runs
it in a scratch course folder and copies the result over the course's
``notebooks/NN_practice.ipynb``. A test regenerates it and compares, so the
two never drift apart.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

__all__ = ["ASSIGNMENT", "SOURCE", "generate", "main", "student_notebook"]

ROOT = Path(__file__).resolve().parents[1]
TEACHER = ROOT / "teacher"
ASSIGNMENT = "practice"
SOURCE = TEACHER / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"


def student_notebook() -> Path:
    """The practice notebook students get (``notebooks/*_practice.ipynb``, whatever its number)."""
    found = sorted((ROOT / "notebooks").glob("*_practice.ipynb"))
    if len(found) != 1:
        raise FileNotFoundError(f"expected one notebooks/*_practice.ipynb, found {found}")
    return found[0]


def make_course(folder: Path) -> Path:
    """A scratch nbgrader course folder in ``folder``: the config and the source."""
    course = folder / "course"
    shutil.copytree(TEACHER / "source", course / "source")
    shutil.copy(TEACHER / "nbgrader_config.py", course / "nbgrader_config.py")
    return course


def nbgrader(course: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run ``nbgrader ARGS`` in ``course``; raise with its output when it fails."""
    # nbgrader runs `alembic` (installed beside it) by name: put this Python's
    # scripts first on PATH, as an activated virtual environment would.
    scripts = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": os.pathsep.join([scripts, os.environ.get("PATH", "")])}
    done = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args],
        cwd=course,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"nbgrader {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done


def generate(folder: Path) -> Path:
    """Run ``nbgrader generate_assignment`` in a course under ``folder``; the released notebook."""
    course = make_course(folder)
    nbgrader(course, "generate_assignment", ASSIGNMENT, "--force")
    return course / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"


def main() -> int:
    target = student_notebook()
    with tempfile.TemporaryDirectory() as folder:
        shutil.copy(generate(Path(folder)), target)
    print(f"wrote {target.relative_to(ROOT)} from {SOURCE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
