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

``--lang pt_BR`` copies the Brazilian Portuguese edition (it ships beside the
English one) into ``./labsock-curso`` (or ``FOLDER``) and speaks Portuguese;
``--lang en`` the English one. Each edition has its own default folder, so
the two never meet in one (a notebook there would be kept, not replaced). Without
``--lang`` the language follows the environment, as labsock's messages do
(``LANGUAGE``, then ``LC_ALL``, ``LC_MESSAGES``, ``LANG``): a laptop set to
Portuguese gets the Portuguese edition, any other language the English one.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from labsock._core.i18n import gettext as _
from labsock._core.i18n import language, ngettext, set_language

__all__ = ["CopyResult", "copy_course", "course_notebooks", "edition", "main"]

#: Where the notebooks go when no folder is given (relative to where the command runs).
DEFAULT_FOLDER = "labsock-course"
#: The same for each edition: the two editions' notebooks share their file names.
DEFAULT_FOLDERS = {"en": DEFAULT_FOLDER, "pt_BR": "labsock-curso"}
#: The notebook JupyterLab opens first.
START = "00_index.ipynb"
#: The editions: ``--lang`` value -> its folder under the notebooks ("" is the English source).
EDITIONS = {"en": "", "pt_BR": "pt_BR"}


@dataclass(frozen=True, slots=True)
class CopyResult:
    """What :func:`copy_course` did: the notebooks copied and those left as they were."""

    folder: Path
    copied: tuple[str, ...]
    kept: tuple[str, ...]

    def __str__(self) -> str:
        lines = [_("course folder: {folder}").format(folder=self.folder)]
        if self.copied:
            lines.append(
                ngettext(
                    "copied {n} notebook: {names}",
                    "copied {n} notebooks: {names}",
                    len(self.copied),
                ).format(n=len(self.copied), names=", ".join(self.copied))
            )
        if self.kept:
            lines.append(
                ngettext(
                    "kept your {n} notebook as it is: {names} "
                    "(to get a fresh copy, rename it and run this again)",
                    "kept your {n} notebooks as they are: {names} "
                    "(to get a fresh copy of one, rename it and run this again)",
                    len(self.kept),
                ).format(n=len(self.kept), names=", ".join(self.kept))
            )
        return "\n".join(lines)


def edition() -> str:
    """The edition that speaks the language labsock speaks now: ``"pt_BR"`` or ``"en"``.

    Labsock speaks Portuguese when the environment asks for ``pt_BR`` (or
    ``pt``, ``pt_BR.UTF-8``...) and then the Brazilian edition is copied;
    every other language gets the English one.
    """
    return "pt_BR" if language().startswith("pt") else "en"


def _check_edition(lang: str) -> None:
    if lang not in EDITIONS:
        raise ValueError(
            _("no {lang!r} edition of the course; there are: {editions}").format(
                lang=lang, editions=", ".join(EDITIONS)
            )
        )


def course_notebooks(lang: str = "en") -> list[Path]:
    """The lesson notebooks of the ``lang`` edition (``"en"``, ``"pt_BR"``), in course order.

    Inside an installed wheel they are package data (``labsock/_notebooks``,
    the Portuguese ones in its ``pt_BR`` folder); in a clone of the repository
    (an editable install) they are its ``notebooks/`` folder.

    Raises:
        ValueError: ``lang`` is not one of :data:`EDITIONS`.
        FileNotFoundError: neither place has any notebook.
    """
    _check_edition(lang)
    shipped = resources.files("labsock") / "_notebooks"
    folder = Path(str(shipped))
    if not folder.is_dir():
        folder = Path(__file__).resolve().parents[1] / "notebooks"
    folder = folder / EDITIONS[lang]
    found = sorted(folder.glob("[0-9][0-9]_*.ipynb"))
    if not found:
        raise FileNotFoundError(
            _("no course notebooks in {folder}: reinstall labsock").format(folder=folder)
        )
    return found


def copy_course(folder: str | Path | None = None, lang: str = "en") -> CopyResult:
    """Copy the ``lang`` edition's notebooks into ``folder`` (created if needed), overwriting none.

    ``folder`` defaults to the edition's :data:`DEFAULT_FOLDERS` entry.

    Returns:
        A :class:`CopyResult`: which notebooks were copied, which were kept.

    Raises:
        OSError: ``folder`` cannot be created or written.
        ValueError: ``lang`` is not one of :data:`EDITIONS`.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     first, again = copy_course(tmp), copy_course(tmp)
        >>> bool(first.copied), again.copied, again.kept == first.copied
        (True, (), True)
    """
    _check_edition(lang)  # before a folder is made for an edition that does not exist
    target = Path(DEFAULT_FOLDERS[lang] if folder is None else folder).expanduser().resolve()
    target.mkdir(parents=True, exist_ok=True)
    copied: list[str] = []
    kept: list[str] = []
    for notebook in course_notebooks(lang):
        destination = target / notebook.name
        if destination.exists():
            kept.append(notebook.name)
            continue
        shutil.copyfile(notebook, destination)
        copied.append(notebook.name)
    return CopyResult(target, tuple(copied), tuple(kept))


def _parser() -> argparse.ArgumentParser:
    """The command line, its help in the language labsock speaks now."""
    # argparse's own headings ("usage:", "options:") stay English: Python ships
    # no Portuguese for them. Every line labsock writes is translated.
    parser = argparse.ArgumentParser(
        prog="labsock-course",
        add_help=False,
        description=_(
            "Copy the labsock course's notebooks into FOLDER (never overwriting your "
            "work) and open them in JupyterLab."
        ),
    )
    parser.add_argument("-h", "--help", action="help", help=_("show this help message and exit"))
    parser.add_argument(
        "folder",
        nargs="?",
        metavar=_("FOLDER"),
        help=_("default: {english} (with --lang pt_BR: {portuguese})").format(
            english=DEFAULT_FOLDERS["en"], portuguese=DEFAULT_FOLDERS["pt_BR"]
        ),
    )
    parser.add_argument(
        "--lang",
        choices=sorted(EDITIONS),
        help=_(
            "the edition: en (English) or pt_BR (Brazilian Portuguese); default: the "
            "language of your environment (LANGUAGE, LC_ALL, LC_MESSAGES, LANG), "
            "Portuguese for pt, English otherwise"
        ),
    )
    parser.add_argument("--copy-only", action="store_true", help=_("copy, do not open JupyterLab"))
    parser.add_argument(
        "--no-browser", action="store_true", help=_("start JupyterLab without opening a browser")
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """The ``labsock-course`` command; returns its exit status.

    ``--lang`` is read first, so that the help and every message are in the
    edition's language.
    """
    early = argparse.ArgumentParser(prog="labsock-course", add_help=False)
    early.add_argument("--lang", choices=sorted(EDITIONS))
    known, _rest = early.parse_known_args(argv)
    set_language(known.lang)  # None: the environment decides
    args = _parser().parse_args(argv)
    try:
        result = copy_course(args.folder, args.lang or edition())  # folder None: the edition's
    except OSError as exc:
        print(
            _("labsock-course: cannot copy the notebooks: {error}").format(error=exc),
            file=sys.stderr,
        )
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
