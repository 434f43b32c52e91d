"""Every "Try it yourself" question of every lesson has a note in the teacher's edition."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.helpers import ROOT

ANSWERS = ROOT / "teacher" / "answers.md"


def _questions(notebook: Path) -> int:
    """How many numbered questions the notebook's "Try it yourself" sections ask."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    count = 0
    for cell in cells:
        text = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if cell["cell_type"] != "markdown" or "## Try it yourself" not in text:
            continue
        section = text.split("## Try it yourself", 1)[1].split("\n## ", 1)[0]
        count += len(re.findall(r"^\d+\. ", section, flags=re.M))
    return count


def _answers() -> dict[str, int]:
    """Numbered notes per lesson section (``## 01_sockets``) of the teacher's edition."""
    sections = re.split(r"^## ", ANSWERS.read_text(encoding="utf-8"), flags=re.M)[1:]
    return {
        _topic(s.split("\n", 1)[0].strip()): len(re.findall(r"^\d+\. ", s, flags=re.M))
        for s in sections
    }


def _topic(name: str) -> str:
    """``"05_practice"`` -> ``"practice"``: lessons are matched by topic, not by number."""
    return name.split("_", 1)[-1]


def test_every_try_it_yourself_question_has_a_teachers_note() -> None:
    answers = _answers()
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    asked = {_topic(nb.stem): _questions(nb) for nb in notebooks}
    assert sum(asked.values()) >= 20  # the lessons do ask questions
    missing = {
        stem: (count, answers.get(stem, 0))
        for stem, count in asked.items()
        if count and answers.get(stem, 0) != count
    }
    assert not missing, f"lesson: (questions, notes in teacher/answers.md): {missing}"
