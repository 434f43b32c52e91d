#!/usr/bin/env python3
"""Build the course website: every lesson executed, as a static site. ``make site`` runs this.

    python scripts/build_site.py                      # -> build/site/index.html
    python scripts/build_site.py --build-dir /tmp/b   # elsewhere

The site has two languages: the English edition at its root and the
Portuguese one (``notebooks/pt_BR``, with the Portuguese pages of ``docs/``:
``guia-do-professor.md``, ``glossario.md``) in ``pt/``, where the theme speaks
Portuguese (``<html lang="pt-BR">``, its own words too). Every page has a
language switch (the theme's ``extra.alternate``) that leads to the same page
in the other language (:func:`language_twins`: each lesson has its twin, the
guide and the glossary theirs), else to the other edition's home page; the
navigation has a section per language. (``docs/overrides`` holds the two
theme partials that do this.)

Four steps, and the build fails at the first that goes wrong:

1. execute every notebook in ``notebooks/`` and ``notebooks/pt_BR/`` in a
   fresh kernel (``scripts/execute_notebooks.py``): a cell that raises fails
   the build;
2. stage the site's sources in ``<build>/site-src``: the pages of ``docs/``
   and the executed notebooks (the course map ``00_index`` is the home page),
   with links between notebooks (``02_tcp.ipynb``) and to ``docs/`` pages
   pointed at their pages (``02_tcp.html``), Mermaid diagrams handed to the
   theme's Mermaid, each interactive panel replaced by a static snapshot of
   what it showed (its figure, its tables, its controls' values): a static
   site has no kernel to run a panel; and the closing checks of each lesson
   (cells tagged ``checks``) left out: they test the run, a reader has no
   use for them. Mermaid itself ships with the site (``javascripts/``,
   fetched once with ``npm pack`` and kept in ``build/vendor``), so a site
   served offline still draws its diagrams;
3. ``mkdocs build --strict`` with ``docs/mkdocs.yml`` (MkDocs, Material theme,
   mkdocs-jupyter): any warning, a broken link between pages among them, fails;
4. check every link and anchor inside the built site (``<a href>``,
   ``<img src>``, ``<link>``, ``<script>``), notebook pages included, which
   MkDocs itself does not check.

The result is plain files in ``<build>/site``: open ``index.html`` in a
browser, or publish the folder on any static web host.
"""

from __future__ import annotations

import argparse
import base64
import html
import json
import logging
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
NOTEBOOKS = ROOT / "notebooks"
CONFIG = DOCS / "mkdocs.yml"
HOME = "00_index"  # the course map notebook, the site's home page
#: The Portuguese edition: its notebooks' folder under notebooks/, its section of the site.
PT_EDITION, PT_SECTION = "pt_BR", "pt"
#: docs/ pages in Portuguese (they go to the site's pt/ section), and the
#: Portuguese page of an English one, where a Portuguese lesson's link to it lands.
PT_DOCS = {"guia-do-professor.md", "glossario.md"}
PT_COUNTERPART = {"teaching-guide": "guia-do-professor", "glossary": "glossario"}
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
#: Cells with this tag (each lesson's closing checks) stay out of the site.
CHECKS_TAG = "checks"
#: The setup cell a translated notebook starts with (``set_language``, made by
#: scripts/i18n_notebooks.py): it runs, but a reader of the page needs it no more
#: than the English reader, whose page has none.
LANGUAGE_SETUP_TAG = "i18n"
#: The Mermaid the theme expects (Material for MkDocs draws with Mermaid 11),
#: pinned; the site ships it instead of loading it from a CDN.
MERMAID = "mermaid@11.17.2"
MERMAID_JS = "javascripts/mermaid.min.js"
VENDOR = ROOT / "build" / "vendor"

sys.path.insert(0, str(Path(__file__).resolve().parent))
from execute_notebooks import execute  # noqa: E402


# -- step 2: staging ---------------------------------------------------------------------
def notebook_title(nb: dict[str, Any], fallback: str) -> str:
    """The first Markdown heading of level 1, else ``fallback``."""
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            match = re.search(r"^# (.+)$", "".join(cell["source"]), re.MULTILINE)
            if match:
                return match[1].strip()
    return fallback


def page_links(text: str) -> str:
    """Links to sibling notebooks (``x.ipynb#part``) and ``../docs/x.md`` -> their pages."""
    text = re.sub(r"\]\(\.\./docs/([\w.-]+)\.md(#[^)]*)?\)", r"](\1.html\2)", text)
    return re.sub(r"\]\(([\w.-]+)\.ipynb(#[^)]*)?\)", r"](\1.html\2)", text)


def pt_page_links(text: str) -> str:
    """:func:`page_links` for a Portuguese lesson, whose page is in the site's ``pt/``.

    Its links to ``docs/`` (``../../docs/x.md``, one folder deeper) go to the
    page's Portuguese counterpart when it has one and the link names no
    part of it, else to the English page, one folder up.
    """

    def docs_link(match: re.Match[str]) -> str:
        name, part = match[1], match[2] or ""
        if not part and name in PT_COUNTERPART:
            return f"]({PT_COUNTERPART[name]}.html)"
        return f"](../{name}.html{part})"

    text = re.sub(r"\]\(\.\./\.\./docs/([\w.-]+)\.md(#[^)]*)?\)", docs_link, text)
    return page_links(text)


def section_links(text: str, portuguese: bool) -> str:
    """Links between ``docs/`` pages, fixed for the section each page lands in.

    In ``docs/`` all pages are side by side; on the site the Portuguese ones
    are in ``pt/``: an English page's link to one gains ``pt/``, a
    Portuguese page's link to an English one gains ``../``.
    """

    def link(match: re.Match[str]) -> str:
        target = match[1]
        if (target in PT_DOCS) == portuguese:
            return match[0]
        return f"]({'../' if portuguese else PT_SECTION + '/'}{target}"

    return re.sub(r"\]\(([\w.-]+\.md)(?=[#)])", link, text)


def without_checks(nb: dict[str, Any], tag: str = CHECKS_TAG) -> int:
    """Drop the cells tagged ``tag`` (default: the closing asserts); how many were dropped."""
    kept = [c for c in nb["cells"] if tag not in c.get("metadata", {}).get("tags", [])]
    dropped = len(nb["cells"]) - len(kept)
    nb["cells"] = kept
    return dropped


def vendor_mermaid(target: Path, vendor: Path = VENDOR) -> Path:
    """Put ``mermaid.min.js`` (and its licence) at ``target``/javascripts; return the script.

    Fetched once with ``npm pack`` (the ordinary npm client, no install, no
    dependencies: the file is a self-contained bundle) into ``vendor``.
    Raises SystemExit saying what to do when npm is missing or fails.
    """
    name = MERMAID.replace("@", "-")
    cached, licence = vendor / f"{name}.min.js", vendor / f"{name}.LICENSE"
    if not cached.is_file():
        npm = shutil.which("npm")
        if npm is None:
            raise SystemExit(
                "site: the site ships Mermaid, fetched with npm, and npm is missing "
                "(Debian: apt-get install npm)"
            )
        vendor.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=vendor) as tmp:
            done = subprocess.run(
                [npm, "pack", MERMAID, "--pack-destination", tmp, "--silent"],
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            packed = sorted(Path(tmp).glob("*.tgz"))
            if done.returncode != 0 or not packed:
                raise SystemExit(f"site: npm pack {MERMAID} failed:\n{done.stderr[-2000:]}")
            with tarfile.open(packed[0]) as archive:
                for member, path in (
                    ("package/dist/mermaid.min.js", cached),
                    ("package/LICENSE", licence),
                ):
                    source = archive.extractfile(member)
                    if source is None:
                        raise SystemExit(f"site: {packed[0].name} has no {member}")
                    path.write_bytes(source.read())
    script = target / MERMAID_JS
    script.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(cached, script)
    if licence.is_file():
        shutil.copyfile(licence, script.with_name("mermaid.LICENSE.txt"))
    return script


class _Snapshot:
    """Static HTML for a widget tree, from the widget state saved in the notebook."""

    def __init__(self, state: dict[str, Any]) -> None:
        self.state = state

    def html(self, model_id: str) -> str:
        model = self.state.get(model_id)
        if model is None:
            return ""
        name, values = model["model_name"], model["state"]
        description = html.escape(str(values.get("description", "")))
        label = f"<span class='labsock-label'>{description}</span> " if description else ""
        if name in ("VBoxModel", "HBoxModel", "BoxModel", "GridBoxModel"):
            direction = "row" if name == "HBoxModel" else "column"
            inner = "".join(
                self.html(child.removeprefix("IPY_MODEL_")) for child in values["children"]
            )
            return f"<div class='labsock-box' style='flex-direction:{direction}'>{inner}</div>"
        if name == "ImageModel":
            data = self._buffer(model, "value")
            if not data:
                return ""
            kind = html.escape(values.get("format", "png"))
            return (
                f"<img class='labsock-figure' alt='figure' src='data:image/{kind};base64,{data}'>"
            )
        if name in ("HTMLModel", "HTMLMathModel"):
            return f"<div>{values.get('value', '')}</div>"
        if name == "LabelModel":
            return f"<span>{html.escape(str(values.get('value', '')))}</span>"
        if name == "ButtonModel":
            return f"<button disabled>{description}</button>"
        if name in ("ToggleButtonsModel", "DropdownModel", "RadioButtonsModel", "SelectModel"):
            options = values.get("_options_labels", [])
            index = values.get("index")
            chosen = options[index] if isinstance(index, int) and index < len(options) else ""
            return f"<span>{label}<b>{html.escape(str(chosen))}</b></span>"
        if name.endswith("SliderModel") or name.endswith("TextModel") or name == "CheckboxModel":
            return f"<span>{label}<b>{html.escape(self._value(values))}</b></span>"
        if name.endswith("ProgressModel"):
            value, high = values.get("value", 0), values.get("max", 100)
            return f"<span>{label}<progress value='{value}' max='{high}'></progress></span>"
        return ""  # layouts, styles and anything unknown show nothing

    @staticmethod
    def _value(values: dict[str, Any]) -> str:
        value = values.get("value")
        spec = values.get("readout_format")
        if spec and isinstance(value, (int, float)):
            try:
                return format(value, spec)
            except ValueError:
                pass
        return str(value)

    @staticmethod
    def _buffer(model: dict[str, Any], path: str) -> str | None:
        for buffer in model.get("buffers", []):
            if buffer["path"] == [path] and buffer.get("encoding") == "base64":
                return str(buffer["data"])
        value = model["state"].get(path)
        if isinstance(value, str) and value:  # older state: base64 text in the state
            return value
        if isinstance(value, (bytes, bytearray)) and value:
            return base64.b64encode(value).decode()
        return None


SNAPSHOT_NOTE = (
    "<p class='labsock-note'><em>A snapshot of an interactive panel, as it was after "
    "its first run. Open this notebook in JupyterLab (or on Binder) to use the "
    "controls.</em></p>"
)


def static_panels(nb: dict[str, Any]) -> int:
    """Replace every widget output by a static HTML snapshot; how many were replaced."""
    state = nb.get("metadata", {}).pop("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    snapshot = _Snapshot(state)
    replaced = 0
    for cell in nb["cells"]:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if WIDGET_VIEW not in data:
                continue
            body = snapshot.html(data.pop(WIDGET_VIEW)["model_id"])
            data["text/html"] = f"<div class='labsock-panel'>{body}{SNAPSHOT_NOTE}</div>"
            replaced += 1
    return replaced


MERMAID_FENCE = re.compile(r"^```mermaid[^\n]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


def mermaid_for_the_site(text: str) -> str:
    """```` ```mermaid ```` blocks -> ``<pre class="mermaid">``, which the Material theme draws.

    Left as Markdown, nbconvert would wrap them for its own Mermaid loader,
    which hides them until it has drawn them, and the theme would take them
    first: nothing would show. One loader (the theme's) for every page.
    """

    def block(match: re.Match[str]) -> str:
        return f'\n\n<pre class="mermaid"><code>{html.escape(match[1].strip())}</code></pre>\n\n'

    return MERMAID_FENCE.sub(block, text)


def stage(executed: Path, source: Path) -> list[tuple[str, str]]:
    """Fill ``source`` with the site's pages; the lessons as (page, title).

    The course map (``00_index``) becomes the home page, ``index.html``; the
    Portuguese edition (``executed/pt_BR``) and the Portuguese pages of
    ``docs/`` go to ``pt/``, its course map to ``pt/index.html``.
    """
    if source.exists():
        shutil.rmtree(source)
    shutil.copytree(
        DOCS,
        source,
        ignore=shutil.ignore_patterns("mkdocs.yml", "*.py", ".*", "overrides", *PT_DOCS),
    )
    (source / PT_SECTION).mkdir()
    for page in sorted(DOCS.glob("*.md")):
        portuguese = page.name in PT_DOCS
        target = source / PT_SECTION / page.name if portuguese else source / page.name
        target.write_text(section_links(page.read_text(encoding="utf-8"), portuguese), "utf-8")
    lessons = _stage_lessons(executed, source, page_links)
    lessons += [
        (f"{PT_SECTION}/{page}", title)
        for page, title in _stage_lessons(executed / PT_EDITION, source / PT_SECTION, pt_page_links)
    ]
    vendor_mermaid(source)
    if not (source / "index.ipynb").exists():  # no course map yet: a plain list of lessons
        rows = "\n".join(f"- [{title}]({page})" for page, title in lessons)
        (source / "index.md").write_text(f"# labsock lessons\n\n{rows}\n", encoding="utf-8")
    return lessons


def _stage_lessons(
    executed: Path, source: Path, links: Callable[[str], str]
) -> list[tuple[str, str]]:
    """Stage the executed notebooks of one edition in ``source``; the lessons as (page, title)."""
    lessons = []
    for path in sorted(executed.glob("*.ipynb")):
        nb = json.loads(path.read_text(encoding="utf-8"))
        page = "index" if path.stem == HOME else path.stem
        without_checks(nb)
        without_checks(nb, LANGUAGE_SETUP_TAG)
        for cell in nb["cells"]:
            if cell["cell_type"] == "markdown":
                text = links("".join(cell["source"])).replace(f"]({HOME}.html", "](index.html")
                cell["source"] = mermaid_for_the_site(text)
            for output in cell.get("outputs", []):
                markdown = output.get("data", {}).get("text/markdown")
                if markdown is not None:
                    output["data"]["text/markdown"] = mermaid_for_the_site("".join(markdown))
        static_panels(nb)
        (source / f"{page}.ipynb").write_text(json.dumps(nb, indent=1), encoding="utf-8")
        lessons.append((f"{page}.ipynb", notebook_title(nb, path.stem)))
    return lessons


def navigation(source: Path) -> list[dict[str, list[str]]]:
    """The site's navigation: a section per language, each its course map, lessons, pages.

    Every staged page is in it (MkDocs, strict, fails on a page left out).
    """

    def pages(folder: Path, prefix: str) -> list[str]:
        home = [f"{prefix}{n}" for n in ("index.ipynb", "index.md") if (folder / n).exists()]
        lessons = sorted(f"{prefix}{p.name}" for p in folder.glob("*.ipynb") if p.stem != "index")
        docs = sorted(f"{prefix}{p.name}" for p in folder.glob("*.md") if p.stem != "index")
        return home[:1] + lessons + docs

    return [
        {"English": pages(source, "")},
        {"Português": pages(source / PT_SECTION, f"{PT_SECTION}/")},
    ]


def language_twins(source: Path) -> dict[str, dict[str, str]]:
    """Each staged page that has a twin in the other language: ``{page: {"en": url, "pt": url}}``.

    A page is keyed by its file in ``source`` (``pt/02_tcp.ipynb``), as MkDocs
    names it; the urls are the two pages' places in the site (``02_tcp.html``,
    ``pt/02_tcp.html``), the language switch's links (``docs/overrides``).
    A lesson's twin has its name, a ``docs/`` page's is its
    :data:`PT_COUNTERPART`; a page with no twin is not in the result (its
    switch goes to the other edition's home page).
    """

    def staged(folder: Path, stem: str) -> Path | None:
        return next(
            (p for p in (folder / f"{stem}.ipynb", folder / f"{stem}.md") if p.exists()), None
        )

    twins: dict[str, dict[str, str]] = {}
    for english in sorted([*source.glob("*.ipynb"), *source.glob("*.md")]):
        portuguese = staged(source / PT_SECTION, PT_COUNTERPART.get(english.stem, english.stem))
        if portuguese is None:
            continue
        pages = {"en": english, PT_SECTION: portuguese}
        urls = {
            lang: page.relative_to(source).with_suffix(".html").as_posix()
            for lang, page in pages.items()
        }
        for page in pages.values():
            twins[page.relative_to(source).as_posix()] = urls
    return twins


# -- step 3: mkdocs ----------------------------------------------------------------------------
def _toc_slugs_like_the_page() -> None:
    # mkdocs-jupyter builds a notebook's table of contents from a Markdown
    # export that drops inline code from headings ("1. No connection:  and "),
    # while the heading on the page keeps it in its anchor
    # ("1-no-connection-sendto-and-recvfrom"): the contents' links miss. Build
    # the contents from the notebook's own Markdown cells instead, with the
    # backticks (not the code) removed from headings, as the page does.
    # (The link check fails the build if this ever stops matching.)
    import mkdocs_jupyter.plugin as plugin

    original = getattr(plugin, "_get_nb_toc_tokens", None)
    markdown_toc = getattr(plugin, "_get_markdown_toc", None)
    if original is None or markdown_toc is None or getattr(original, "labsock", False):
        return

    def toc_tokens(path: str, toc_depth: int) -> tuple[Any, str | None]:
        nb = json.loads(Path(path).read_text(encoding="utf-8"))
        text = "\n\n".join(
            "".join(cell["source"]) for cell in nb["cells"] if cell["cell_type"] == "markdown"
        )
        text = re.sub(r"^(`{3,}|~{3,}).*?^\1\s*$", "", text, flags=re.M | re.S)  # code blocks
        text = re.sub(r"^#{1,6} .*$", lambda h: h[0].replace("`", ""), text, flags=re.M)
        tokens = markdown_toc(text, toc_depth)
        title = next((t["name"] for t in tokens if t["level"] == 1), None)
        return tokens, title

    toc_tokens.labsock = True  # type: ignore[attr-defined]
    plugin._get_nb_toc_tokens = toc_tokens


def mkdocs_build(source: Path, site: Path) -> None:
    """``mkdocs build --strict`` of ``source`` into ``site``; raises on any warning."""
    from mkdocs.commands.build import build
    from mkdocs.config import load_config

    _toc_slugs_like_the_page()

    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(levelname)-7s - %(message)s"))
    logger = logging.getLogger("mkdocs")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        config = load_config(
            config_file=str(CONFIG),
            docs_dir=str(source),
            site_dir=str(site),
            strict=True,
            nav=navigation(source),
        )
        config.extra["twins"] = language_twins(source)
        build(config)
    finally:
        logger.removeHandler(handler)


# -- step 4: links -------------------------------------------------------------------------------
class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.anchors: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for key in ("id", "name") if tag == "a" else ("id",):
            if values.get(key):
                self.anchors.add(str(values[key]))
        wanted = {"a": "href", "link": "href", "img": "src", "script": "src"}.get(tag)
        if wanted and values.get(wanted):
            self.links.append(str(values[wanted]))


def _parse(page: Path, cache: dict[Path, _Links]) -> _Links:
    if page not in cache:
        parser = _Links()
        parser.feed(page.read_text(encoding="utf-8", errors="replace"))
        cache[page] = parser
    return cache[page]


def broken_links(site: Path) -> list[str]:
    """Every link inside ``site`` whose file or anchor does not exist, as 'page: link'.

    Links that leave the site (``https:``, ``mailto:``, ``data:`` ...) are not
    followed: this runs without network.
    """
    cache: dict[Path, _Links] = {}
    broken = []
    for page in sorted(site.rglob("*.html")):
        for link in _parse(page, cache).links:
            parts = urlsplit(link)
            if parts.scheme or link.startswith("//"):
                continue
            path = unquote(parts.path)
            if path.startswith("/"):  # the 404 page's links start at the site's root
                target = (site / path.lstrip("/")).resolve()
            else:
                target = (page.parent / path).resolve() if path else page
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file() or not target.is_relative_to(site.resolve()):
                broken.append(f"{page.relative_to(site)}: {link}")
                continue
            fragment = unquote(parts.fragment)
            if (
                fragment
                and target.suffix == ".html"
                and fragment not in _parse(target, cache).anchors
            ):
                broken.append(f"{page.relative_to(site)}: {link} (no such anchor)")
    return broken


def build_site(build: Path, jobs: int = 2) -> Path:
    """All four steps; the folder of the built site. Raises SystemExit on failure."""
    executed, source, site = build / "executed", build / "site-src", build / "site"
    for folder in (executed, site):
        if folder.exists():
            shutil.rmtree(folder)
    notebooks = sorted(NOTEBOOKS.glob("*.ipynb"))
    translated = sorted((NOTEBOOKS / PT_EDITION).glob("*.ipynb"))
    print(f"1/4 executing {len(notebooks) + len(translated)} notebooks", flush=True)
    errors = execute(notebooks, executed, jobs=jobs)
    errors |= {
        f"{PT_EDITION}/{name}": error
        for name, error in execute(translated, executed / PT_EDITION, jobs=jobs).items()
    }
    if errors:
        for name, error in errors.items():
            print(f"\n===== {name} =====\n{error}", file=sys.stderr)
        raise SystemExit(f"site: {len(errors)} notebook(s) failed: {', '.join(errors)}")
    print("2/4 staging the pages", flush=True)
    stage(executed, source)
    print("3/4 mkdocs build --strict", flush=True)
    try:
        mkdocs_build(source, site)
    except Exception as exc:  # mkdocs' Abort (strict warnings) and config errors
        raise SystemExit(f"site: mkdocs failed: {exc}") from exc
    print("4/4 checking links", flush=True)
    broken = broken_links(site)
    if broken:
        raise SystemExit("site: broken links:\n  " + "\n  ".join(broken))
    print(f"site: {site / 'index.html'}")
    return site


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build-dir", type=Path, default=ROOT / "build")
    parser.add_argument("--jobs", type=int, default=2, help="notebooks executed at once")
    args = parser.parse_args(argv)
    build_site(args.build_dir.resolve(), args.jobs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
