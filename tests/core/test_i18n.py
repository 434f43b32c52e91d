"""labsock's own language: set by the notebook, or by the environment, English by default."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import polib
import pytest

import labsock
from labsock._core import i18n


@pytest.fixture
def catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A pt_BR catalog with one message, compiled as make translations does."""
    po = polib.POFile()
    po.metadata = {"Content-Type": "text/plain; charset=UTF-8", "Language": "pt_BR"}
    po.append(polib.POEntry(msgid="lost", msgstr="perdido"))
    folder = tmp_path / "pt_BR" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    po.save_as_mofile(str(folder / "labsock.mo"))
    monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path)
    yield tmp_path
    labsock.set_language(None)


def test_english_by_default_and_for_a_language_without_a_catalog(catalog: Path) -> None:
    labsock.set_language("en")
    assert labsock.language() == "en"
    assert i18n.gettext("lost") == "lost"
    labsock.set_language("xx_YY")
    assert labsock.language() == "en"
    assert i18n.gettext("lost") == "lost"


@pytest.mark.parametrize("spelling", ["pt_BR", "pt-BR", "pt_BR.UTF-8"])
def test_set_language_speaks_the_catalog(catalog: Path, spelling: str) -> None:
    labsock.set_language(spelling)
    assert labsock.language() == "pt_BR"
    assert i18n.gettext("lost") == "perdido"
    assert i18n.gettext("not in the catalog") == "not in the catalog"


def test_the_environment_decides_when_the_notebook_does_not(
    catalog: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LANGUAGE", "pt_BR:en")
    labsock.set_language(None)
    assert i18n.gettext("lost") == "perdido"
    monkeypatch.setenv("LANGUAGE", "de_DE")
    monkeypatch.setenv("LANG", "C.UTF-8")
    labsock.set_language(None)
    assert labsock.language() == "en"
