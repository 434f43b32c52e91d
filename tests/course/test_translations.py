"""The Portuguese edition is complete, current and built: the editions cannot drift."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import i18n_notebooks as tool

NOTEBOOKS = tool.english_notebooks()


@pytest.mark.parametrize("lang", tool.LANGUAGES)
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[n.stem for n in NOTEBOOKS])
def test_every_cell_has_a_current_translation(notebook: Path, lang: str) -> None:
    _, status = tool.build_notebook(notebook, lang)
    assert status.ok, (
        f"{status.line()} (run `make translations`, then translate in notebooks/locale)"
    )


@pytest.mark.parametrize("lang", tool.LANGUAGES)
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[n.stem for n in NOTEBOOKS])
def test_the_built_edition_is_up_to_date(notebook: Path, lang: str) -> None:
    built, _ = tool.build_notebook(notebook, lang)
    target = tool.output_path(notebook, lang)
    assert target.exists(), f"{target.relative_to(ROOT)} is missing: run `make translations`"
    assert target.read_text(encoding="utf-8") == tool.dumps(built), (
        f"{target.relative_to(ROOT)} is out of date: run `make translations`"
    )
