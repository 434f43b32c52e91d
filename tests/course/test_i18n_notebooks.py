"""The translation tool keeps the editions honest: stale text is caught, code cannot drift."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import polib
import pytest

from tests.helpers import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import i18n_notebooks as tool


def _notebook(path: Path, cells: list[tuple[str, str, str]]) -> Path:
    nb = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {"language_info": {"name": "python"}},
        "cells": [
            {"cell_type": kind, "id": ident, "metadata": {}, "source": text}
            | ({"outputs": [], "execution_count": None} if kind == "code" else {})
            for ident, kind, text in cells
        ],
    }
    path.write_text(json.dumps(nb))
    return path


@pytest.fixture
def course(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(tool, "NOTEBOOKS", tmp_path)
    return _notebook(
        tmp_path / "01_demo.ipynb",
        [
            ("intro", "markdown", "# A socket\n\nSee [the guide](../docs/guide.md) and `bind()`."),
            ("code", "code", 'x = 1  # one\nprint(f"got {x} reply")'),
            ("bare", "code", "x = 2\ny = x * 3"),
        ],
    )


def _translate(notebook: Path, **msgstr: str) -> None:
    path = tool.catalog_path(notebook, "pt_BR")
    po = polib.pofile(str(path))
    for entry in po:
        if entry.msgctxt in msgstr:
            entry.msgstr = msgstr[entry.msgctxt]
            entry.flags = []
    po.save(str(path))


GOOD = {
    "intro": "# Um socket\n\nVeja [o guia](../docs/guide.md) e `bind()`.",
    "code": 'x = 1  # um\nprint(f"recebi {x} resposta")',
}


def test_catalog_has_an_entry_per_cell_with_words_and_none_for_bare_code(course: Path) -> None:
    po = tool.update_catalog(course, "pt_BR")
    assert [e.msgctxt for e in po] == ["intro", "code"]


def test_complete_translation_is_current_and_built_into_the_language_folder(
    course: Path,
) -> None:
    tool.update_catalog(course, "pt_BR")
    _translate(course, **GOOD)
    nb, status = tool.build_notebook(course, "pt_BR")
    assert status.ok
    assert status.current == status.total == 2
    sources = {c["id"]: "".join(c["source"]) for c in nb["cells"]}
    assert sources["intro"].startswith("# Um socket")
    assert sources["bare"] == "x = 2\ny = x * 3"
    assert nb["cells"][0]["id"] == tool.SETUP_ID
    assert 'set_language("pt_BR")' in "".join(nb["cells"][0]["source"])


def test_a_changed_english_cell_makes_its_translation_stale_and_falls_back(course: Path) -> None:
    tool.update_catalog(course, "pt_BR")
    _translate(course, **GOOD)
    nb = json.loads(course.read_text())
    nb["cells"][0]["source"] = (
        "# A socket, changed\n\nSee [the guide](../docs/guide.md) and `bind()`."
    )
    course.write_text(json.dumps(nb))
    po = tool.update_catalog(course, "pt_BR")
    entry = next(e for e in po if e.msgctxt == "intro")
    assert "fuzzy" in entry.flags
    assert entry.previous_msgid.startswith("# A socket\n")
    built, status = tool.build_notebook(course, "pt_BR")
    assert status.stale == ["intro"]
    assert not status.ok
    assert "intro" in status.line()
    assert "stale" in status.line()
    intro = next(c for c in built["cells"] if c["id"] == "intro")
    assert "".join(intro["source"]).startswith("# A socket, changed")  # English, not stale text


@pytest.mark.parametrize(
    ("cell", "bad", "why"),
    [
        ("code", 'y = 1  # um\nprint(f"recebi {x} resposta")', "code changed"),
        ("code", 'x = 1  # um\nprint(f"recebi {y} resposta")', "code changed"),
        ("intro", "## Um socket\n\nVeja [o guia](../docs/guide.md) e `bind()`.", "headings"),
        ("intro", "# Um socket\n\nVeja [o guia](guia.md) e `bind()`.", "links"),
        ("intro", "# Um socket\n\nVeja [o guia](../docs/guide.md) e bind().", "code spans"),
    ],
)
def test_a_translation_that_breaks_structure_or_code_is_refused(
    course: Path, cell: str, bad: str, why: str
) -> None:
    tool.update_catalog(course, "pt_BR")
    _translate(course, **{**GOOD, cell: bad})
    nb, status = tool.build_notebook(course, "pt_BR")
    assert not status.ok
    assert why in " ".join(status.broken)
    kept = next(c for c in nb["cells"] if c["id"] == cell)
    english = tool.source_of(
        next(c for c in json.loads(course.read_text())["cells"] if c["id"] == cell)
    )
    # The English cell stands in (its links adjusted to the edition's folder).
    assert "".join(kept["source"]) == english.replace("](../", "](../../")


def test_mermaid_labels_may_be_translated_but_not_its_arrows() -> None:
    english = (
        "```mermaid\nsequenceDiagram\n    participant C as client\n    C->>S: connect\n"
        "    a -->|more clients?| b\n```"
    )
    translated = (
        english.replace("connect", "conecta")
        .replace("as client", "as cliente")
        .replace("more clients?", "mais clientes?")
    )
    assert not tool.problems_of("markdown", english, translated)
    assert tool.problems_of("markdown", english, english.replace("C->>S", "S->>C"))
    assert tool.problems_of("markdown", english, english.replace("participant C", "participant D"))


def test_links_out_of_the_notebooks_folder_climb_one_more_level_in_an_edition(
    course: Path,
) -> None:
    tool.update_catalog(course, "pt_BR")
    nb, _ = tool.build_notebook(course, "pt_BR")  # untranslated: English, links fixed too
    intro = "".join(next(c for c in nb["cells"] if c["id"] == "intro")["source"])
    assert "](../../docs/guide.md)" in intro
