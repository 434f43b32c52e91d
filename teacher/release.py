"""The practice notebook for students, made from the nbgrader source: ``python -m teacher.release``.

``teacher/source/practice/practice.ipynb`` is the only place the practice is
edited: it holds the reference solutions between ``### BEGIN SOLUTION`` and
``### END SOLUTION``, the graded check cells with their points, and the hidden
checks. ``nbgrader generate_assignment`` turns it into the version students
get (solutions replaced by a stub, hidden checks removed); this script runs
it in a scratch course folder and copies the result over the course's
``notebooks/NN_practice.ipynb``. A test regenerates it and compares, so the
two never drift apart.

The Portuguese edition has no source of its own: its students' notebook
(``notebooks/pt_BR/NN_practice.ipynb``) is built from the English one and its
catalog (``scripts/i18n_notebooks.py``), and so is its nbgrader source, by
:func:`source_notebook`: the cells the source shares with the students'
notebook get their current translations, the solutions and the hidden checks
stay as written. A teacher of a Portuguese class makes a course folder with
``python -m teacher.release --lang pt_BR --course DIR`` and runs nbgrader
there as usual; the feedback is in Portuguese, labsock's hints included.

    python -m teacher.release                              # notebooks/06_practice.ipynb
    python -m teacher.release --course ~/labsock-course    # a course folder to grade in
    python -m teacher.release --lang pt_BR --course ~/labsock-curso
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["ASSIGNMENT", "SOURCE", "generate", "main", "source_notebook", "student_notebook"]

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


def source_notebook(lang: str | None = None) -> dict[str, Any]:
    """The nbgrader source as notebook data: English, or translated to ``lang``."""
    source: dict[str, Any] = json.loads(SOURCE.read_text(encoding="utf-8"))
    if lang is None or lang == "en":
        return source
    sys.path.insert(0, str(ROOT / "scripts"))
    import i18n_notebooks  # scripts/ is no package

    if lang not in i18n_notebooks.LANGUAGES:
        raise SystemExit(f"no {lang!r} edition: the course has {i18n_notebooks.LANGUAGES}")
    student = student_notebook()
    translated: dict[str, Any] = i18n_notebooks.translate_cells(source, student, lang)
    # A cell with a solution or hidden checks is the students' cell with more
    # lines where the stub is, or after it: the translated lines they share
    # (the instructions) go above those the teacher wrote.
    current, _status = i18n_notebooks.current_translations(student, lang)
    students = {c["id"]: _text(c) for c in json.loads(student.read_text(encoding="utf-8"))["cells"]}
    for cell in translated["cells"]:
        theirs, ours = students.get(cell.get("id")), _text(cell)
        if theirs is None or cell["id"] not in current or theirs == ours:
            continue
        cell["source"] = _graft(theirs, current[cell["id"]], ours)
    return translated


#: What nbgrader writes where a solution was (teacher/nbgrader_config.py's stub).
STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")


def _graft(english: str, portuguese: str, source: str) -> str:
    """``source`` (a cell of the nbgrader source) with the students' text in ``portuguese``.

    ``english`` is the students' cell nbgrader makes of ``source``: each
    ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` block replaced by the stub,
    each ``### BEGIN HIDDEN TESTS`` ... ``### END HIDDEN TESTS`` block removed.
    ``portuguese`` is its translation, stubs kept as they are. The result is
    the translated text with the teacher's blocks back where they were; where
    that cannot be told for sure, ``source`` unchanged (English is never wrong,
    only untranslated).
    """
    ours = source.splitlines()
    texts: list[list[str]] = [[]]  # the students' lines between the teacher's blocks
    blocks: list[tuple[str, list[str], str]] = []  # kind, lines, indentation
    i = 0
    while i < len(ours):
        line = ours[i]
        kind = {"### BEGIN SOLUTION": "SOLUTION", "### BEGIN HIDDEN TESTS": "HIDDEN TESTS"}.get(
            line.strip()
        )
        if kind is None:
            texts[-1].append(line)
            i += 1
            continue
        end = next((j for j in range(i, len(ours)) if ours[j].strip() == f"### END {kind}"), None)
        if end is None:
            return source
        blocks.append((kind, ours[i : end + 1], line[: len(line) - len(line.lstrip())]))
        texts.append([])
        i = end + 1
    expected: list[str] = []
    for k, text in enumerate(texts):
        expected += text
        if k < len(blocks) and blocks[k][0] == "SOLUTION":
            expected += [blocks[k][2] + stub for stub in STUB]
    if expected != english.splitlines():
        return source
    # The Portuguese, cut at its stubs: one piece per run of text between solutions.
    pt = portuguese.splitlines()
    pieces: list[list[str]] = [[]]
    j = 0
    while j < len(pt):
        if [x.strip() for x in pt[j : j + len(STUB)]] == list(STUB):
            pieces.append([])
            j += len(STUB)
        else:
            pieces[-1].append(pt[j])
            j += 1
    solutions = sum(kind == "SOLUTION" for kind, _, _ in blocks)
    if len(pieces) != solutions + 1:
        return source
    out: list[str] = []
    piece = 0
    run: list[list[str] | None] = []  # text (None: its place) and hidden blocks, between solutions

    def flush() -> bool:
        nonlocal piece
        places = [x for x in run if x is None]
        if len(places) > 1 or (not places and pieces[piece]):
            return False
        for item in run:
            out.extend(pieces[piece] if item is None else item)
        piece += 1
        run.clear()
        return True

    for k, text in enumerate(texts):
        if text:
            run.append(None)
        if k == len(blocks):
            break
        kind, lines, _ = blocks[k]
        if kind == "HIDDEN TESTS":
            run.append(lines)
            continue
        if not flush():
            return source
        out.extend(lines)
    if not flush():
        return source
    return "\n".join(out)


def _text(cell: dict[str, Any]) -> str:
    source = cell["source"]
    return "".join(source) if isinstance(source, list) else str(source)


def make_course(folder: Path, lang: str | None = None) -> Path:
    """An nbgrader course folder in ``folder``: the config and the source (in ``lang``)."""
    course = folder / "course"
    shutil.copytree(TEACHER / "source", course / "source")
    shutil.copy(TEACHER / "nbgrader_config.py", course / "nbgrader_config.py")
    if lang is not None:
        target = course / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
        text = json.dumps(source_notebook(lang), indent=1, ensure_ascii=False) + "\n"
        target.write_text(text, encoding="utf-8")
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


def generate(folder: Path, lang: str | None = None) -> Path:
    """Run ``nbgrader generate_assignment`` in a course under ``folder``; the released notebook."""
    course = make_course(folder, lang)
    nbgrader(course, "generate_assignment", ASSIGNMENT, "--force")
    return course / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lang", help="the edition: pt_BR (default: English)")
    parser.add_argument(
        "--course", type=Path, help="write an nbgrader course folder here (config and source)"
    )
    args = parser.parse_args(argv)
    if args.course is not None:
        if (args.course / "source" / ASSIGNMENT).exists():
            raise SystemExit(f"{args.course}/source/{ASSIGNMENT} exists: not overwriting it")
        args.course.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as folder:
            built = make_course(Path(folder), args.lang)
            shutil.copytree(built, args.course, dirs_exist_ok=True)
        print(
            f"wrote an nbgrader course in {args.course}: run `nbgrader generate_assignment "
            f"{ASSIGNMENT}` there"
        )
        return 0
    if args.lang not in (None, "en"):
        raise SystemExit(
            "the Portuguese students' notebook is built from the English one by "
            "`make translations`; for a Portuguese course folder use --lang pt_BR --course DIR"
        )
    target = student_notebook()
    with tempfile.TemporaryDirectory() as folder:
        shutil.copy(generate(Path(folder)), target)
    print(f"wrote {target.relative_to(ROOT)} from {SOURCE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
