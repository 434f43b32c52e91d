"""The Portuguese README (LEIAME.md) and pages stay linked and point at what exists.

Each README links the other at its top; every Binder badge opens a notebook
that exists, one per edition; the lessons LEIAME.md names are the titles of the
Portuguese notebooks.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.helpers import ROOT

BINDER = re.compile(r"https://mybinder\.org/v2/gh/OWNER/REPO/HEAD\?urlpath=lab/tree/([^)\s]+)")


def _binder_targets(path: Path) -> set[str]:
    return set(BINDER.findall(path.read_text(encoding="utf-8")))


def _title(notebook: Path) -> str:
    for cell in json.loads(notebook.read_text(encoding="utf-8"))["cells"]:
        if cell["cell_type"] == "markdown":
            return "".join(cell["source"]).splitlines()[0].removeprefix("# ").strip()
    raise AssertionError(f"{notebook.name} has no Markdown cell")


def test_each_readme_links_the_other_at_its_top() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()[:5]
    leiame = (ROOT / "LEIAME.md").read_text(encoding="utf-8").splitlines()[:5]
    assert any("(LEIAME.md)" in line for line in readme), readme
    assert any("(README.md)" in line for line in leiame), leiame


def test_both_readmes_have_a_binder_badge_per_edition_and_each_opens_a_notebook() -> None:
    wanted = {"notebooks/00_index.ipynb", "notebooks/pt_BR/00_index.ipynb"}
    for readme in ("README.md", "LEIAME.md"):
        targets = _binder_targets(ROOT / readme)
        assert targets == wanted, (readme, targets)
    for target in wanted:
        assert (ROOT / target).is_file(), target


def test_leiame_names_the_lessons_as_the_portuguese_notebooks_title_them() -> None:
    leiame = (ROOT / "LEIAME.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `(\d\d_\w+)` \| ([^|]+) \|", leiame, flags=re.MULTILINE))
    notebooks = sorted((ROOT / "notebooks" / "pt_BR").glob("[0-9][0-9]_*.ipynb"))
    assert sorted(rows) == [path.stem for path in notebooks]
    for path in notebooks:
        title = _title(path)
        if title == _title(ROOT / "notebooks" / path.name):
            continue  # not translated yet: LEIAME.md uses the course map's name
        assert rows[path.stem].strip() == title, path.name


def test_the_readmes_local_links_point_at_files_that_exist() -> None:
    for readme in ("README.md", "LEIAME.md"):
        text = (ROOT / readme).read_text(encoding="utf-8")
        for link in re.findall(r"\]\(([^)#:\s]+)(?:#[^)]*)?\)", text):
            assert (ROOT / link).exists(), (readme, link)


def test_the_teaching_guide_and_its_portuguese_set_up_link_each_other_at_the_top() -> None:
    docs = ROOT / "docs"
    english = (docs / "teaching-guide.md").read_text(encoding="utf-8").splitlines()[:5]
    portuguese = (docs / "guia-do-professor.md").read_text(encoding="utf-8").splitlines()[:5]
    assert any("(guia-do-professor.md)" in line for line in english), english
    assert any("(teaching-guide.md)" in line for line in portuguese), portuguese
    # The set-up sections are all there, with their commands unchanged.
    guide = (docs / "guia-do-professor.md").read_text(encoding="utf-8")
    for command in (
        "labsock.allow_network(True)",
        "LABSOCK_ALLOW_NETWORK=1",
        "git-pull?repo=https%3A%2F%2Fgithub.com%2FOWNER%2FREPO",
        "notebooks%2Fpt_BR%2F00_index.ipynb",
        "nbgrader generate_assignment practice",
        "nbgrader autograde practice",
        "singleuser.memory.guarantee: 512M",
        "python scripts/classroom.py students",
    ):
        assert command in guide, command


def _glossary_rows(name: str) -> list[tuple[str, str]]:
    """The (first, second) columns of every table row of ``docs/name``, headers left out."""
    rows = re.findall(
        r"^\| ([^|]+) \| ([^|]+) \|", (ROOT / "docs" / name).read_text(encoding="utf-8"), re.M
    )
    return [(a.strip(), b.strip()) for a, b in rows if not set(a) <= {"-", " "}]


def _words(text: str) -> str:
    return " ".join(text.replace("*", "").split()).lower()


def test_the_two_glossaries_hold_the_same_terms_each_language_first() -> None:
    english = [row for row in _glossary_rows("glossary.md") if row[0] != "English (this course)"]
    portuguese = [(en, pt) for pt, en in _glossary_rows("glossario.md") if pt != "português"]
    assert len(english) > 60
    assert english == portuguese


def test_the_terms_the_course_adds_are_the_words_of_its_portuguese_catalogs() -> None:
    import polib

    text = (ROOT / "docs" / "glossary.md").read_text(encoding="utf-8")
    added = text.split("## Terms the course adds", 1)[1]
    terms = re.findall(r"^\| [^|]+ \| ([^|]+) \|", added, re.M)[2:]
    catalogs = " ".join(
        _words(entry.msgstr)
        for path in sorted((ROOT / "notebooks" / "locale" / "pt_BR").glob("*.po"))
        for entry in polib.pofile(str(path))
        if entry.msgstr and not entry.fuzzy
    )
    for term in terms:
        for part in term.split(" / "):
            assert _words(part) in catalogs, f"{part!r} is in no Portuguese catalog"
