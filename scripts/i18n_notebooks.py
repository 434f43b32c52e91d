"""The course in other languages, from one source: the English notebooks.

Each English notebook ``notebooks/NN_topic.ipynb`` has one gettext catalog
per language, ``notebooks/locale/LANG/NN_topic.po``, with one entry per cell
that has words to translate:

* a Markdown cell: its whole source is the ``msgid``;
* a code cell with comments or string literals: its whole source is the
  ``msgid``, and the translation may change only comments and strings (the
  code itself must survive unchanged: :func:`code_skeleton` checks it);
* a code cell with neither: no entry, it is copied as it is.

Every entry's ``msgctxt`` is the cell's id, so a report can say which cell
and identical cells in two places stay apart. The generated notebook
``notebooks/LANG/NN_topic.ipynb`` is the English one with each translated
cell's source replaced, and one setup cell first that switches labsock's own
messages to the language. Generated notebooks are committed (Binder, hubs and
nbgitpuller need no build step), and ``check`` fails when one is out of date.

When an English cell changes, ``update`` keeps its old translation but marks
it fuzzy (stale) with the previous English text, as ``msgmerge`` does; a
stale or missing translation makes ``check`` fail, naming notebook and cell.
A generated notebook uses only current translations: a stale or missing one
falls back to the English cell, so nothing wrong is ever shown, only
something untranslated.

Commands (``python scripts/i18n_notebooks.py COMMAND [--lang pt_BR]``)::

    update   refresh the catalogs from the English notebooks (new cells added,
             changed ones marked fuzzy, removed ones dropped)
    build    write the translated notebooks from the English ones + catalogs
    report   per notebook: "N of M cells current", missing and stale counts
    check    exit 1 if any catalog entry is missing or stale, a translation
             breaks its cell's structure, or a generated notebook is out of date
"""

from __future__ import annotations

import argparse
import copy
import io
import json
import re
import sys
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

import polib

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
LANGUAGES = ("pt_BR",)
#: The first cell of every translated notebook: labsock speaks the language too.
SETUP_ID = "i18n-language"
SETUP_SOURCE = 'import labsock\n\nlabsock.set_language("{lang}")'


def english_notebooks() -> list[Path]:
    """The source notebooks, in course order."""
    return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def catalog_path(notebook: Path, lang: str) -> Path:
    return NOTEBOOKS / "locale" / lang / f"{notebook.stem}.po"


def output_path(notebook: Path, lang: str) -> Path:
    return NOTEBOOKS / lang / notebook.name


def source_of(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


# -- what must survive a translation -----------------------------------------


def code_skeleton(source: str) -> list[tuple[int, str]] | None:
    """The code's tokens, with comments and string contents left out.

    Two sources with the same skeleton differ only in comments and string
    literals. Returns None for source that does not tokenize (IPython magics
    and the like), which then must not change at all.
    """
    skipped = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT}
    skipped |= {tokenize.DEDENT, tokenize.ENCODING, tokenize.ENDMARKER}
    fstring_middle = getattr(tokenize, "FSTRING_MIDDLE", None)
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return None
    out: list[tuple[int, str]] = []
    for tok in tokens:
        if tok.type in skipped:
            continue
        if tok.type == tokenize.STRING:
            # Keep the prefix (f, b, r), whose meaning a translation must not
            # change; drop the words inside.
            prefix = re.match(r"^[A-Za-z]*", tok.string)
            letters = prefix.group(0) if prefix else ""
            out.append((tok.type, letters))
            if "f" in letters.lower():
                # Before Python 3.12 an f-string is one token: its {expressions}
                # are code, and must survive as they are.
                body = tok.string.replace("{{", "").replace("}}", "")
                out += [(tokenize.OP, expr) for expr in re.findall(r"\{([^{}]*)\}", body)]
        elif fstring_middle is not None and tok.type == fstring_middle:
            continue
        else:
            out.append((tok.type, tok.string))
    return out


def has_words(source: str) -> bool:
    """True when a code cell has comments or string literals to translate."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return False
    words = {tokenize.COMMENT, tokenize.STRING}
    if hasattr(tokenize, "FSTRING_MIDDLE"):
        words.add(tokenize.FSTRING_MIDDLE)
    for tok in tokens:
        if tok.type == tokenize.COMMENT and tok.string.startswith(("# noqa", "# type:")):
            continue
        if tok.type in words and re.search(r"[A-Za-z]{3}", tok.string):
            return True
    return False


_FENCE = re.compile(r"^```([\w-]*)\s*$", re.M)
_LINK = re.compile(r"\]\(([^)\s]+)")
_CODE_SPAN = re.compile(r"`([^`\n]+)`")
_PLACEHOLDER = re.compile(r"\{[A-Za-z_][A-Za-z0-9_]*\}|%\(\w+\)[sdr]")


def _mermaid_shape(line: str) -> str:
    """A Mermaid line without its words: ids, arrows and keywords only.

    Labels may be translated: the text after ``:``, inside ``[]``, ``()`` or
    quotes, on an edge between ``|bars|``, and a participant's name after
    ``as``.
    """
    line = re.sub(r"\|[^|]*\|", "||", line.strip())
    line = re.sub(r"^((?:participant|actor)\s+\S+)\s+as\s+.*$", r"\1 as", line)
    return re.split(r"[:\[(\"]", line, maxsplit=1)[0]


def markdown_structure(text: str) -> dict[str, object]:
    """What a Markdown translation must keep: heading levels, link targets,
    code blocks (Mermaid keeps its shape: one arrow or declaration per line),
    and the number of code spans."""
    blocks: list[str] = []
    for match in re.finditer(r"^```([\w-]*)\n(.*?)^```", text, re.M | re.S):
        lang, body = match.group(1), match.group(2)
        if lang == "mermaid":
            # Labels may be translated; ids, arrows and keywords may not.
            shape = [_mermaid_shape(line) for line in body.splitlines()]
            blocks.append("mermaid:" + "|".join(shape))
        else:
            blocks.append(f"{lang}:{body}")
    prose = re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)
    headings = [len(m.group(1)) for m in re.finditer(r"^(#{1,6})\s", prose, re.M)]
    return {
        "headings": headings,
        "links": sorted(_LINK.findall(prose)),
        "blocks": blocks,
        "code spans": len(_CODE_SPAN.findall(prose)),
    }


def problems_of(cell_type: str, english: str, translated: str) -> list[str]:
    """Why ``translated`` cannot stand for ``english`` (empty when it can)."""
    found: list[str] = []
    if cell_type == "code":
        if code_skeleton(english) is None:
            if translated != english:
                found.append("a cell that is not plain Python must not change")
        elif code_skeleton(translated) != code_skeleton(english):
            found.append("the code changed (only comments and strings may be translated)")
    else:
        a, b = markdown_structure(english), markdown_structure(translated)
        for key in a:
            if a[key] != b[key]:
                found.append(f"the Markdown {key} differ from the English cell")
    if sorted(_PLACEHOLDER.findall(english)) != sorted(_PLACEHOLDER.findall(translated)):
        found.append("the placeholders ({name}, %(name)s) differ from the English cell")
    return found


# -- catalogs ------------------------------------------------------------------


def translatable(cell: dict) -> bool:
    text = source_of(cell)
    if not text.strip():
        return False
    if cell["cell_type"] == "markdown":
        return True
    return cell["cell_type"] == "code" and has_words(text)


def update_catalog(notebook: Path, lang: str) -> polib.POFile:
    """Bring the catalog of ``notebook`` in line with its English cells."""
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    path = catalog_path(notebook, lang)
    old = polib.pofile(str(path)) if path.exists() else polib.POFile()
    by_context = {entry.msgctxt: entry for entry in old if not entry.obsolete}
    po = polib.POFile(wrapwidth=0)
    po.metadata = {
        "Project-Id-Version": f"labsock notebooks {notebook.stem}",
        "Language": lang,
        "MIME-Version": "1.0",
        "Content-Type": "text/plain; charset=UTF-8",
        "Content-Transfer-Encoding": "8bit",
    }
    for index, cell in enumerate(nb["cells"]):
        if not translatable(cell):
            continue
        context = cell.get("id") or f"cell-{index}"
        english = source_of(cell)
        entry = polib.POEntry(
            msgctxt=context,
            msgid=english,
            msgstr="",
            comment=f"{cell['cell_type']} cell {index + 1} of {notebook.name}",
        )
        previous = by_context.get(context)
        if previous is not None and previous.msgstr:
            entry.msgstr = previous.msgstr
            if previous.msgid != english:
                # The English changed: keep the old translation as a draft.
                entry.flags = ["fuzzy"]
                entry.previous_msgid = previous.msgid
            elif "fuzzy" in previous.flags:
                entry.flags = ["fuzzy"]
                entry.previous_msgid = previous.previous_msgid
        po.append(entry)
    path.parent.mkdir(parents=True, exist_ok=True)
    po.save(str(path))
    return po


@dataclass
class Status:
    notebook: str
    total: int = 0
    current: int = 0
    missing: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    broken: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.stale or self.broken)

    def line(self) -> str:
        text = f"{self.notebook}: {self.current} of {self.total} cells current"
        if self.missing:
            text += f"; missing: {', '.join(self.missing)}"
        if self.stale:
            text += f"; stale (English changed): {', '.join(self.stale)}"
        if self.broken:
            text += f"; broken: {'; '.join(self.broken)}"
        return text


def current_translations(notebook: Path, lang: str) -> tuple[dict[str, str], Status]:
    """Current translations by cell id, and the catalog's status."""
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    status = Status(notebook.name)
    path = catalog_path(notebook, lang)
    entries = {}
    if path.exists():
        entries = {e.msgctxt: e for e in polib.pofile(str(path)) if not e.obsolete}
    current: dict[str, str] = {}
    for index, cell in enumerate(nb["cells"]):
        if not translatable(cell):
            continue
        context = cell.get("id") or f"cell-{index}"
        status.total += 1
        entry = entries.get(context)
        english = source_of(cell)
        if entry is None or not entry.msgstr:
            status.missing.append(context)
        elif "fuzzy" in entry.flags or entry.msgid != english:
            status.stale.append(context)
        else:
            problems = problems_of(cell["cell_type"], english, entry.msgstr)
            if problems:
                status.broken.append(f"{context}: {', '.join(problems)}")
            else:
                status.current += 1
                current[context] = entry.msgstr
    return current, status


def build_notebook(notebook: Path, lang: str) -> tuple[dict, Status]:
    """The translated notebook (as JSON data) and the catalog's status."""
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    current, status = current_translations(notebook, lang)
    out = copy.deepcopy(nb)
    for index, cell in enumerate(out["cells"]):
        context = cell.get("id") or f"cell-{index}"
        if context in current:
            cell["source"] = _lines(current[context])
        if cell["cell_type"] == "markdown":
            # The edition sits one folder deeper: links out of notebooks/ climb one more.
            cell["source"] = _lines(source_of(cell).replace("](../", "](../../"))
    out["cells"].insert(0, setup_cell(lang))
    out["metadata"]["language_info"] = {**out["metadata"].get("language_info", {})}
    out["metadata"]["labsock"] = {"language": lang, "source": f"../{notebook.name}"}
    return out, status


def setup_cell(lang: str) -> dict:
    """The first cell of a notebook in ``lang``: labsock speaks the language too."""
    return {
        "cell_type": "code",
        "execution_count": None,
        "id": SETUP_ID,
        "metadata": {"tags": ["i18n"]},
        "outputs": [],
        "source": _lines(SETUP_SOURCE.format(lang=lang)),
    }


def translate_cells(nb: dict, english: Path, lang: str) -> dict:
    """``nb`` with each cell that ``english`` also has translated, and the setup cell first.

    For a notebook made from the same cells as an English notebook of the
    course, such as the practice's nbgrader source (the students' notebook is
    generated from it): a cell of ``nb`` whose id and source are those of a
    cell of ``english`` gets that cell's current translation; the others (the
    solutions, the hidden checks) stay as they are.
    """
    current, _status = current_translations(english, lang)
    cells_of_english = {
        c.get("id"): source_of(c) for c in json.loads(english.read_text(encoding="utf-8"))["cells"]
    }
    out = copy.deepcopy(nb)
    for cell in out["cells"]:
        context = cell.get("id")
        if context in current and cells_of_english.get(context) == source_of(cell):
            cell["source"] = _lines(current[context])
    out["cells"].insert(0, setup_cell(lang))
    out["metadata"]["labsock"] = {"language": lang}
    return out


def dumps(nb: dict) -> str:
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("update", "build", "report", "check"))
    parser.add_argument("--lang", action="append", choices=LANGUAGES)
    args = parser.parse_args(argv)
    failed = False
    for lang in args.lang or LANGUAGES:
        for notebook in english_notebooks():
            if args.command == "update":
                update_catalog(notebook, lang)
                continue
            nb, status = build_notebook(notebook, lang)
            target = output_path(notebook, lang)
            if args.command == "build":
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(dumps(nb), encoding="utf-8")
            elif args.command in ("report", "check"):
                print(f"[{lang}] {status.line()}")
                if args.command == "check":
                    if not status.ok:
                        failed = True
                    if not target.exists() or target.read_text(encoding="utf-8") != dumps(nb):
                        print(
                            f"[{lang}] {target.relative_to(ROOT)} is out of date: "
                            "run `make translations`"
                        )
                        failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
