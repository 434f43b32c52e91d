"""``labsock-course`` copies the edition a student asks for, and speaks its language.

These run :func:`labsock.course.main` in this checkout (an editable install:
the notebooks come from ``notebooks/``); ``test_packaging.py`` runs the real
command from a built wheel. ``--copy-only`` throughout: no JupyterLab starts.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import labsock
from labsock import course
from tests.helpers import ROOT


@pytest.fixture
def environment_language(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """A clean slate of the variables gettext reads; labsock back in English afterwards."""
    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(name, raising=False)
    yield monkeypatch
    labsock.set_language("en")


def _lessons(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("[0-9][0-9]_*.ipynb"))


def test_lang_pt_br_copies_the_portuguese_notebooks_and_says_so_in_portuguese(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], environment_language: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "curso"
    assert course.main([str(folder), "--lang", "pt_BR", "--copy-only"]) == 0
    assert _lessons(folder) == _lessons(ROOT / "notebooks" / "pt_BR")
    for name in _lessons(folder):
        assert (folder / name).read_bytes() == (ROOT / "notebooks" / "pt_BR" / name).read_bytes()
    out = capsys.readouterr().out
    assert f"pasta do curso: {folder}" in out
    assert "7 notebooks copiados" in out
    assert "copied" not in out
    # Again: the student's work is kept, and the command says so in Portuguese.
    assert course.main([str(folder), "--lang", "pt_BR", "--copy-only"]) == 0
    again = capsys.readouterr().out
    assert "seus 7 notebooks foram mantidos como estão" in again


def test_lang_en_copies_the_english_notebooks_whatever_the_environment_says(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], environment_language: pytest.MonkeyPatch
) -> None:
    environment_language.setenv("LANG", "pt_BR.UTF-8")
    assert course.main([str(tmp_path), "--lang", "en", "--copy-only"]) == 0
    first = _lessons(ROOT / "notebooks")[0]
    assert (tmp_path / first).read_bytes() == (ROOT / "notebooks" / first).read_bytes()
    assert "copied 7 notebooks" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("variables", "edition"),
    [
        ({"LANG": "pt_BR.UTF-8"}, "pt_BR"),
        ({"LANGUAGE": "pt_BR:en", "LANG": "en_US.UTF-8"}, "pt_BR"),
        ({"LANG": "en_US.UTF-8"}, "en"),
        ({"LANG": "de_DE.UTF-8"}, "en"),  # no German edition: English
        ({}, "en"),
    ],
)
def test_without_lang_the_edition_follows_the_environment(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    environment_language: pytest.MonkeyPatch,
    variables: dict[str, str],
    edition: str,
) -> None:
    for name, value in variables.items():
        environment_language.setenv(name, value)
    assert course.main([str(tmp_path), "--copy-only"]) == 0
    source = ROOT / "notebooks" / ("pt_BR" if edition == "pt_BR" else "")
    index = "00_index.ipynb"
    assert (tmp_path / index).read_bytes() == (source / index).read_bytes()
    said = capsys.readouterr().out
    assert ("pasta do curso" in said) == (edition == "pt_BR")


def test_each_edition_has_its_own_default_folder(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    environment_language: pytest.MonkeyPatch,
) -> None:
    # The editions' notebooks share their names: one folder would keep the
    # first edition's and never give the second.
    monkeypatch.chdir(tmp_path)
    assert course.main(["--copy-only"]) == 0
    assert course.main(["--lang", "pt_BR", "--copy-only"]) == 0
    english, portuguese = tmp_path / "labsock-course", tmp_path / "labsock-curso"
    index = "00_index.ipynb"
    assert (english / index).read_bytes() == (ROOT / "notebooks" / index).read_bytes()
    assert (portuguese / index).read_bytes() == (ROOT / "notebooks" / "pt_BR" / index).read_bytes()
    assert "7 notebooks copiados" in capsys.readouterr().out


def test_help_is_in_the_language_asked_for(
    capsys: pytest.CaptureFixture[str], environment_language: pytest.MonkeyPatch
) -> None:
    with pytest.raises(SystemExit) as done:
        course.main(["--lang", "pt_BR", "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    assert "--lang {en,pt_BR}" in text
    assert "a edição: en (inglês) ou pt_BR (português do Brasil)" in " ".join(text.split())
    with pytest.raises(SystemExit):
        course.main(["--lang", "en", "--help"])
    assert "the edition: en (English)" in capsys.readouterr().out


def test_an_unknown_edition_is_refused(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    environment_language: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(SystemExit) as done:
        course.main(["--lang", "fr", "--copy-only"])
    assert done.value.code == 2
    assert "invalid choice: 'fr'" in capsys.readouterr().err
    with pytest.raises(ValueError, match="no 'fr' edition of the course; there are: en, pt_BR"):
        course.course_notebooks("fr")
    with pytest.raises(ValueError, match="no 'fr' edition"):
        course.copy_course(tmp_path / "nowhere", "fr")
    assert not (tmp_path / "nowhere").exists()


def test_a_folder_that_cannot_be_made_is_reported_in_portuguese(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], environment_language: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder", encoding="utf-8")
    assert course.main([str(blocker / "course"), "--lang", "pt_BR", "--copy-only"]) == 1
    assert "labsock-course: não foi possível copiar os notebooks:" in capsys.readouterr().err
