"""The Portuguese class, graded with the real nbgrader from the same source.

The Portuguese edition has no nbgrader source of its own:
``teacher.release.source_notebook("pt_BR")`` translates the English source
with the practice notebook's catalog. These tests check that what nbgrader
releases from it is the Portuguese students' notebook
(``notebooks/pt_BR/06_practice.ipynb``), and that a Portuguese class is graded
exactly as an English one (same points for the same code), with its feedback
in Portuguese: the notebook's text and labsock's hints.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import polib
import pytest

from teacher import release
from tests.course import test_grading as english

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]
LANG = "pt_BR"
STUDENTS_NOTEBOOK = ROOT / "notebooks" / LANG / release.student_notebook().name
MESSAGES = ROOT / "labsock" / "locale" / LANG / "LC_MESSAGES" / "labsock.po"
ASSIGNMENT = release.ASSIGNMENT


def _cells(notebook: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(id, type, source) of each cell; links written as from notebooks/ (one folder up)."""
    out = []
    for c in notebook["cells"]:
        text = english._source(c)
        if c["cell_type"] == "markdown":
            text = text.replace("](../../", "](../")
        out.append((c["id"], c["cell_type"], text))
    return out


def _submission(cells: dict[str, str]) -> dict[str, Any]:
    """The Portuguese students' notebook with ``cells`` written in, as a student hands it in."""
    notebook = english._load(STUDENTS_NOTEBOOK)
    for cell_id, text in cells.items():
        english._cell(notebook, cell_id)["source"] = text
    return notebook


def _fragment(text: str) -> str:
    """The longest run of a message's own words between placeholders (30 characters at most)."""
    return max(re.split(r"\{[^}]*\}", text), key=len).strip()[:30]


def _hints(words: str) -> list[tuple[str, str]]:
    """(English, Portuguese) starts of every translated labsock message containing ``words``."""
    catalog = polib.pofile(str(MESSAGES))
    found = [
        (_fragment(e.msgid), _fragment(e.msgstr))
        for e in catalog
        if words in e.msgid and e.msgstr and not e.obsolete
    ]
    assert found, f"no translated labsock message contains {words!r}"
    return found


def test_the_portuguese_release_is_the_portuguese_students_notebook(tmp_path: Path) -> None:
    released = english._load(release.generate(tmp_path, LANG))
    assert _cells(released) == _cells(english._load(STUDENTS_NOTEBOOK))
    # Not the English notebook under another name: its prose is translated.
    assert _cells(released) != _cells(english._load(release.student_notebook()))


def test_a_portuguese_class_gets_the_english_points_and_portuguese_feedback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = english.nbgrader_environment(tmp_path, monkeypatch)

    submissions = {"reference": english.REFERENCE, "wrong": english.WRONG}
    course = english.grade(
        tmp_path, {s: _submission(cells) for s, cells in submissions.items()}, LANG
    )

    assert not english._kernels_under(runtime), "a kernel outlived nbgrader"
    problems = []
    for student in submissions:
        got = {k: round(v, 2) for k, v in english._scores(course, student).items()}
        want = {k: round(english.EXPECTED[student].get(k, 0.0), 2) for k in english.MAXIMA}
        if got != want:
            problems.append(f"{student}: got {got}, expected {want}")
    page = html.unescape(
        (course / "feedback" / "wrong" / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text(
            encoding="utf-8"
        )
    )
    # The locked cells nbgrader puts back are the Portuguese source's, not the English ones.
    hidden = english._source(english._cell(english._load(STUDENTS_NOTEBOOK), "hidden-2"))
    hidden_en = english._source(english._cell(english._load(release.SOURCE), "hidden-2"))
    assert hidden.splitlines()[0] != hidden_en.splitlines()[0]
    if hidden.splitlines()[0] not in page or hidden_en.splitlines()[0] in page:
        problems.append("wrong: the hidden check's cell is not the Portuguese one")
    for words in english.FEEDBACK["wrong"]:
        hints = _hints(words)
        if not any(pt in page for _, pt in hints):
            problems.append(f"wrong: no Portuguese hint about {words!r} in the feedback")
        if any(en in page for en, _ in hints):
            problems.append(f"wrong: an English hint about {words!r} in the feedback")
    assert not problems, "\n".join(problems)
