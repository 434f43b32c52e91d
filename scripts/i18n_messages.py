"""labsock's own messages in other languages: extract, merge, compile.

The notebooks have their catalogs (``scripts/i18n_notebooks.py``); labsock's
messages (figure titles and labels, panel labels, result summaries, errors)
have one catalog per language, ``labsock/locale/LANG/LC_MESSAGES/labsock.po``,
compiled to ``labsock.mo`` beside it (the package reads the ``.mo``; both are
committed, so an installed labsock needs no build step).

A message is marked in the code by a call with string literals::

    _("round-trip time")                       # gettext, imported as _
    ngettext("{n:,} probe", "{n:,} probes", n)  # plural forms
    N_("lost")                                  # marked only: translated later by _()

``_(variable)`` is allowed: it translates a message marked with ``N_`` where
it was written (a table of words built at import time, before the language
is chosen). ``N_`` and ``ngettext`` need string literals.

Commands (``python scripts/i18n_messages.py COMMAND``)::

    extract  write labsock/locale/labsock.pot from the calls in labsock/
    update   extract, then merge into each language's .po: new messages are
             added untranslated, a changed message keeps its old translation
             marked fuzzy (stale) with the previous English, as msgmerge does;
             then compile each .po to its .mo (fuzzy entries are left out, so
             a stale translation shows the English instead)
    check    exit 1 if the .pot is not current, a message has no current
             translation, a placeholder differs, a .mo is not the .po's, or
             English a student reads is not marked (see :func:`unmarked`)
    unmarked list the English a student would read that is not marked
"""

from __future__ import annotations

import argparse
import ast
import difflib
import re
import string
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import polib

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "labsock"
LOCALE = PACKAGE / "locale"
POT = LOCALE / "labsock.pot"
DOMAIN = "labsock"
LANGUAGES = ("pt_BR",)
#: gettext's plural rule per language (pt_BR: 0 and 1 are singular).
PLURAL_FORMS = {"pt_BR": "nplurals=2; plural=(n > 1);"}
#: The call names that mark a message: name -> how many leading literals it takes.
MARKERS = {"_": 1, "gettext": 1, "N_": 1, "ngettext": 2}


@dataclass(frozen=True)
class Message:
    """One translatable message: its English text (and plural), where it is used."""

    msgid: str
    plural: str | None
    files: tuple[str, ...]


def _marker(call: ast.Call) -> str | None:
    func = call.func
    if isinstance(func, ast.Name) and func.id in MARKERS:
        return func.id
    return None


def extract(package: Path = PACKAGE) -> list[Message]:
    """Every marked message in ``package``'s modules, sorted by English text.

    Raises ``SystemExit`` for a marker called with something other than string
    literals (it could never be extracted, so it would never be translated).
    """
    found: dict[tuple[str, str | None], set[str]] = {}
    problems: list[str] = []
    for path in sorted(package.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        relative = path.relative_to(package.parent).as_posix()
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = _marker(node)
            if name is None:
                continue
            literals = node.args[: MARKERS[name]]
            if len(literals) < MARKERS[name] or not all(
                isinstance(a, ast.Constant) and isinstance(a.value, str) for a in literals
            ):
                # _(words.title) translates a message marked with N_ where it
                # is defined; N_ and ngettext are where messages come from.
                if name not in ("_", "gettext"):
                    problems.append(f"{relative}:{node.lineno}: {name}() needs string literals")
                continue
            texts = [a.value for a in literals if isinstance(a, ast.Constant)]
            key = (texts[0], texts[1] if name == "ngettext" else None)
            found.setdefault(key, set()).add(relative)
    if problems:
        raise SystemExit("\n".join(problems))
    return [
        Message(msgid, plural, tuple(sorted(files)))
        for (msgid, plural), files in sorted(found.items(), key=lambda kv: kv[0][0])
    ]


def _english(node: ast.expr) -> bool:
    """``node`` builds text with words in it, unmarked: a literal, an f-string,
    ``"...".format(...)``, ``"..." % x`` or ``"..." + x``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return any(c.isalpha() for c in node.value)
    if isinstance(node, ast.JoinedStr):
        return any(
            isinstance(v, ast.Constant) and any(c.isalpha() for c in str(v.value))
            for v in node.values
        )
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mod)):
        return _english(node.left) or _english(node.right)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return node.func.attr == "format" and _english(node.func.value)
    return False


#: In the practice checks, the calls whose text a student reads in the report:
#: name -> the positions (and keywords) of that text. A criterion's name is
#: marked with ``N_`` (it stays English as the criterion's key, and is
#: translated where the report is shown); hints, reasons and notes with ``_``.
REPORT_CALLS = {
    "check": ((0, 2), ("hint",)),
    "add": ((0, 2), ("hint",)),
    "skip": ((0, 1), ("reason",)),
    "note": ((0,), ("text",)),
    "CheckRun": ((1,), ("title",)),
}


def unmarked(package: Path = PACKAGE) -> list[str]:
    """English a student would read that gettext never sees, as ``file:line: what``.

    Two kinds are found: a ``raise`` whose message is built from unmarked
    text (every labsock error is read by a student, in a notebook), and, in
    ``labsock/exercises``, the criteria, hints and notes of a check's report.
    """
    found: list[str] = []
    for path in sorted(package.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        relative = path.relative_to(package.parent).as_posix()
        practice = relative.startswith("labsock/exercises/")
        for node in ast.walk(tree):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
                args = [*node.exc.args, *(k.value for k in node.exc.keywords)]
                if any(_english(a) for a in args):
                    found.append(f"{relative}:{node.lineno}: an error message in English only")
            elif practice and isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if name not in REPORT_CALLS:
                    continue
                positions, keywords = REPORT_CALLS[name]
                args = [node.args[i] for i in positions if i < len(node.args)]
                args += [k.value for k in node.keywords if k.arg in keywords]
                if any(_english(a) for a in args):
                    found.append(f"{relative}:{node.lineno}: {name}() with English only")
    return found


def template(messages: list[Message]) -> polib.POFile:
    """The ``.pot``: every message, untranslated. File names only, no line
    numbers, so an edit elsewhere in a module does not make it stale."""
    pot = polib.POFile(wrapwidth=0)
    pot.metadata = {
        "Project-Id-Version": "labsock",
        "MIME-Version": "1.0",
        "Content-Type": "text/plain; charset=UTF-8",
        "Content-Transfer-Encoding": "8bit",
    }
    for m in messages:
        entry = polib.POEntry(msgid=m.msgid, msgstr="", occurrences=[(f, "") for f in m.files])
        if m.plural is not None:
            entry.msgid_plural = m.plural
            entry.msgstr = ""
            entry.msgstr_plural = {0: "", 1: ""}
        if _placeholders(m.msgid):
            entry.flags.append("python-brace-format")
        pot.append(entry)
    return pot


def _catalog_path(lang: str) -> Path:
    return LOCALE / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def merge(pot: polib.POFile, old: polib.POFile, lang: str) -> polib.POFile:
    """``pot``'s messages with ``old``'s translations, as msgmerge would.

    Same English: the translation is kept (and its fuzzy flag). New English
    close to a message that went away: that translation, marked fuzzy, with
    the previous English (``#| msgid``). Otherwise untranslated.
    """
    po = polib.POFile(wrapwidth=0)
    po.metadata = dict(pot.metadata)
    po.metadata["Language"] = lang
    po.metadata["Plural-Forms"] = PLURAL_FORMS.get(lang, "nplurals=2; plural=(n != 1);")
    known = {e.msgid: e for e in old if not e.obsolete}
    wanted = {e.msgid for e in pot}
    gone = {k: e for k, e in known.items() if k not in wanted}
    gone.update({e.msgid: e for e in old if e.obsolete and e.msgid not in wanted})
    for ref in pot:
        entry = polib.POEntry(
            msgid=ref.msgid,
            msgid_plural=ref.msgid_plural,
            occurrences=list(ref.occurrences),
            flags=[f for f in ref.flags if f != "fuzzy"],
        )
        same = known.get(ref.msgid)
        if same is not None and same.msgid_plural == ref.msgid_plural:
            source: polib.POEntry | None = same
            stale = "fuzzy" in same.flags
            previous = same.previous_msgid if stale else None
        else:
            close = difflib.get_close_matches(ref.msgid, list(gone), n=1, cutoff=0.6)
            source = gone[close[0]] if close else None
            stale = source is not None
            previous = close[0] if close else None
        if ref.msgid_plural:
            entry.msgstr_plural = {0: "", 1: ""}
            if source is not None:
                if source.msgid_plural:
                    entry.msgstr_plural = dict(source.msgstr_plural)
                else:
                    entry.msgstr_plural = {0: source.msgstr, 1: source.msgstr}
        elif source is not None:
            entry.msgstr = source.msgstr or (source.msgstr_plural or {}).get(0, "")
        if stale:
            entry.flags.append("fuzzy")
            entry.previous_msgid = previous
        po.append(entry)
    return po


def compile_catalog(po: polib.POFile, mo: Path) -> None:
    """Write ``po``'s current translations as ``mo`` (fuzzy ones left out)."""
    po.save_as_mofile(str(mo))


def translations(po: polib.POFile | polib.MOFile) -> dict[tuple[str, str], str]:
    """``(msgid, plural form index or "")`` -> text, for the current translations."""
    out: dict[tuple[str, str], str] = {}
    for e in po:
        if not e.msgid or "fuzzy" in e.flags or getattr(e, "obsolete", False):
            continue
        if e.msgid_plural:
            for i, text in e.msgstr_plural.items():
                if text:
                    out[(e.msgid, str(i))] = text
        elif e.msgstr:
            out[(e.msgid, "")] = e.msgstr
    return out


_PRINTF = re.compile(r"%(?:\([^)]*\))?[-#0 +]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa%]")


def _placeholders(text: str) -> list[str]:
    """The formatting placeholders of ``text``, each once, sorted: ``{n:,}``, ``%s``.

    ``{{``/``}}`` and ``%%`` are literal braces and percent signs, not placeholders.
    """
    found: list[str] = []
    try:
        for _literal, field, spec, conversion in string.Formatter().parse(text):
            if field is not None:
                found.append(
                    "{"
                    + field
                    + (f"!{conversion}" if conversion else "")
                    + (f":{spec}" if spec else "")
                    + "}"
                )
    except ValueError:
        found.append("<unbalanced braces>")
    found += [p for p in _PRINTF.findall(text) if p != "%%"]
    return sorted(set(found))  # a translation may name one twice, or in another order


def placeholder_problems(po: polib.POFile) -> list[str]:
    """Entries whose translation's placeholders differ from the English."""
    problems = []
    for e in po:
        if e.obsolete:
            continue
        pairs = (
            [(e.msgid, e.msgstr_plural.get(0, "")), (e.msgid_plural, e.msgstr_plural.get(1, ""))]
            if e.msgid_plural
            else [(e.msgid, e.msgstr)]
        )
        for english, translated in pairs:
            if translated and _placeholders(english) != _placeholders(translated):
                problems.append(
                    f"{english!r}: placeholders {_placeholders(english)} "
                    f"but the translation has {_placeholders(translated)}"
                )
    return problems


def update() -> None:
    """Extract, merge into every language, compile."""
    pot = template(extract())
    LOCALE.mkdir(parents=True, exist_ok=True)
    pot.save(str(POT))
    for lang in LANGUAGES:
        path = _catalog_path(lang)
        path.parent.mkdir(parents=True, exist_ok=True)
        old = polib.pofile(str(path), wrapwidth=0) if path.exists() else polib.POFile()
        po = merge(pot, old, lang)
        po.save(str(path))
        compile_catalog(po, path.with_suffix(".mo"))
        done = len(translations_by_msgid(po))
        print(f"labsock {lang}: {done} of {len(pot)} messages translated and current")


def translations_by_msgid(po: polib.POFile) -> set[str]:
    """The msgids with a current, complete translation."""
    return {
        e.msgid
        for e in po
        if not e.obsolete
        and "fuzzy" not in e.flags
        and (all(e.msgstr_plural.values()) if e.msgid_plural else e.msgstr)
    }


def check() -> list[str]:
    """Every reason the catalogs are not complete and current (empty: all is well)."""
    problems: list[str] = []
    pot = template(extract())
    if not POT.exists() or _entries(polib.pofile(str(POT))) != _entries(pot):
        problems.append(f"{POT.relative_to(ROOT)} is not current: run make translations")
    for lang in LANGUAGES:
        path = _catalog_path(lang)
        if not path.exists():
            problems.append(f"{path.relative_to(ROOT)} is missing: run make translations")
            continue
        po = polib.pofile(str(path))
        done = translations_by_msgid(po)
        problems += [
            f"{lang}: no current translation for {e.msgid!r}" for e in pot if e.msgid not in done
        ]
        problems += [f"{lang}: {p}" for p in placeholder_problems(po)]
        with tempfile.TemporaryDirectory() as tmp:
            fresh = Path(tmp) / "fresh.mo"
            compile_catalog(po, fresh)
            mo = path.with_suffix(".mo")
            if not mo.exists() or translations(polib.mofile(str(mo))) != translations(
                polib.mofile(str(fresh))
            ):
                problems.append(
                    f"{mo.relative_to(ROOT)} is not its .po compiled: run make translations"
                )
    problems += [f"not marked for translation: {u}" for u in unmarked()]
    return problems


def _entries(po: polib.POFile) -> list[tuple[str, str, tuple[str, ...]]]:
    return [(e.msgid, e.msgid_plural, tuple(f for f, _ in e.occurrences)) for e in po]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["extract", "update", "check", "unmarked"])
    args = parser.parse_args(argv)
    if args.command == "extract":
        LOCALE.mkdir(parents=True, exist_ok=True)
        template(extract()).save(str(POT))
        return 0
    if args.command == "update":
        update()
        return 0
    if args.command == "unmarked":
        found = unmarked()
        print("\n".join(found) or "nothing unmarked")
        return 1 if found else 0
    problems = check()
    print("\n".join(problems) or "labsock's catalogs are complete and current")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
