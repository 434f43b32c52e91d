"""The course website builds from the executed notebooks, with no broken link.

``make site`` (``scripts/build_site.py``) executes every notebook, stages the
pages, runs ``mkdocs build --strict`` and checks every link and anchor in the
result. The slow test builds it for real; the fast ones pin the pieces a
build depends on: the link check finds what is broken, panels become static
snapshots, Mermaid blocks go to the theme, links between notebooks point at
pages.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.helpers import ROOT

NOTEBOOKS = ROOT / "notebooks"
PORTUGUESE = NOTEBOOKS / "pt_BR"


def _build_site_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_site", ROOT / "scripts" / "build_site.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


site_builder = _build_site_module()


def _mermaid_blocks(executed: Path) -> int:
    """Mermaid diagrams in an executed notebook: in Markdown cells and Markdown outputs."""
    blocks = 0
    for cell in json.loads(executed.read_text(encoding="utf-8"))["cells"]:
        if cell["cell_type"] == "markdown":
            blocks += "".join(cell["source"]).count("```mermaid")
        for output in cell.get("outputs", []):
            blocks += "".join(output.get("data", {}).get("text/markdown", "")).count("```mermaid")
    return blocks


def _figures(executed: Path) -> int:
    """PNG figures among the outputs of an executed notebook, its closing checks left out."""
    cells = json.loads(executed.read_text(encoding="utf-8"))["cells"]
    return sum(
        "image/png" in output.get("data", {})
        for cell in cells
        if "checks" not in cell["metadata"].get("tags", [])
        for output in cell.get("outputs", [])
    )


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_site_builds_every_lesson_with_figures_diagrams_and_working_links(
    built_site: Path,
) -> None:
    tmp_path = built_site  # the build folder (conftest builds it once per session)
    site = tmp_path / "site"
    # Mermaid ships with the site: no page loads a script from anywhere else.
    assert (site / site_builder.MERMAID_JS).stat().st_size > 100_000
    for page in site.rglob("*.html"):
        scripts = re.findall(r'<script[^>]+src="([^"]+)"', page.read_text(encoding="utf-8"))
        assert all(not re.match(r"(https?:)?//", src) for src in scripts), (page.name, scripts)
    assert (site / "teaching-guide.html").is_file()
    assert (site / "search" / "search_index.json").is_file()
    for name in ("guia-do-professor", "glossario"):
        assert (site / "pt" / f"{name}.html").is_file(), name
    assert (site / "glossary.html").is_file()
    editions = [(notebook, "") for notebook in sorted(NOTEBOOKS.glob("*.ipynb"))]
    editions += [(notebook, "pt/") for notebook in sorted(PORTUGUESE.glob("*.ipynb"))]
    assert len(editions) == 2 * len(list(NOTEBOOKS.glob("*.ipynb")))
    for notebook, section in editions:
        name = section + ("index" if notebook.stem == site_builder.HOME else notebook.stem)
        page = (site / f"{name}.html").read_text(encoding="utf-8")
        source = notebook.read_text(encoding="utf-8")
        assert "Traceback" not in page, f"{name}.html shows a traceback"
        executed = tmp_path / "executed" / notebook.relative_to(NOTEBOOKS)
        # Every figure the run drew is on the page (the practice's plot of
        # student work draws nothing until the student has written it).
        figures = _figures(executed)
        if "plots." in source and figures:
            assert "<img" in page, f"{name}.html shows none of the lesson's figures"
        assert page.count("data:image/png;base64,") >= figures, name
        assert "Checks that this lesson" not in page, f"{name}.html shows the closing checks"
        assert "Verificações: as afirmações" not in page, f"{name}.html shows the closing checks"
        assert "set_language(" not in page, f"{name}.html shows the language setup cell"
        if "widgets." in source:
            assert "labsock-panel" in page, f"{name}.html has no snapshot of its panel"
            assert "Error displaying widget" not in page
        # Every diagram is handed to the theme's Mermaid; none is left to be hidden.
        assert page.count('<pre class="mermaid">') == _mermaid_blocks(executed), name
        assert 'class="jp-Mermaid"' not in page


def test_link_check_finds_missing_pages_and_anchors(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.html").write_text(
        '<a href="b.html">gone</a> <a href="c.html#here">ok</a> <a href="c.html#nowhere">x</a>'
        '<img src="img/missing.png"> <a href="https://example.org/">out</a>'
        '<a href="#top">self</a><h1 id="top">A</h1> <a href="sub/">dir</a>'
        '<link href="/c.html"> <a href="mailto:teacher@example.org">mail</a>',
        encoding="utf-8",
    )
    (tmp_path / "c.html").write_text('<h2 id="here">C</h2>', encoding="utf-8")
    (tmp_path / "sub" / "index.html").write_text("<p>sub</p>", encoding="utf-8")
    assert site_builder.broken_links(tmp_path) == [
        "a.html: b.html",
        "a.html: c.html#nowhere (no such anchor)",
        "a.html: img/missing.png",
    ]


def _model(name: str, state: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"model_name": name, "state": state, **extra}


def test_a_panel_becomes_a_static_snapshot_of_its_figure_table_and_controls() -> None:
    png = b"\x89PNG\r\n\x1a\nfake"
    nb: dict[str, Any] = {
        "metadata": {
            "widgets": {
                site_builder.WIDGET_STATE: {
                    "state": {
                        "box": _model("VBoxModel", {"children": ["IPY_MODEL_s", "IPY_MODEL_f"]}),
                        "s": _model(
                            "FloatSliderModel",
                            {"description": "loss", "value": 0.6, "readout_format": ".0%"},
                        ),
                        "f": _model(
                            "ImageModel",
                            {"format": "png"},
                            buffers=[
                                {
                                    "path": ["value"],
                                    "encoding": "base64",
                                    "data": base64.b64encode(png).decode(),
                                }
                            ],
                        ),
                        "layout": _model("LayoutModel", {}),
                    }
                }
            }
        },
        "cells": [
            {
                "cell_type": "code",
                "outputs": [
                    {
                        "output_type": "display_data",
                        "data": {
                            site_builder.WIDGET_VIEW: {"model_id": "box"},
                            "text/plain": "VBox(...)",
                        },
                    }
                ],
            }
        ],
    }
    assert site_builder.static_panels(nb) == 1
    data = nb["cells"][0]["outputs"][0]["data"]
    assert site_builder.WIDGET_VIEW not in data
    assert "widgets" not in nb["metadata"], "no widget state left for a widget loader"
    snapshot = data["text/html"]
    assert "loss" in snapshot
    assert "<b>60%</b>" in snapshot
    assert f"data:image/png;base64,{base64.b64encode(png).decode()}" in snapshot
    assert "use the controls" in snapshot


def test_mermaid_blocks_become_theme_diagrams_with_their_text_escaped() -> None:
    text = 'Before\n\n```mermaid\nflowchart LR\n  a["x<br/>y"] --> b\n```\n\nAfter'
    out = site_builder.mermaid_for_the_site(text)
    assert "```" not in out
    diagram = re.search(r'<pre class="mermaid"><code>(.*?)</code></pre>', out, re.DOTALL)
    assert diagram is not None
    assert diagram[1] == "flowchart LR\n  a[&quot;x&lt;br/&gt;y&quot;] --&gt; b"
    assert out.startswith("Before")
    assert out.endswith("After")


def test_links_between_notebooks_point_at_their_pages() -> None:
    text = "see [TCP](02_tcp.ipynb), [part 3](03_udp.ipynb#3-what) and [web](https://x.org/a.ipynb)"
    assert site_builder.page_links(text) == (
        "see [TCP](02_tcp.html), [part 3](03_udp.html#3-what) and [web](https://x.org/a.ipynb)"
    )


def test_the_closing_checks_stay_out_of_the_site_and_docs_links_point_at_pages() -> None:
    nb: dict[str, Any] = {
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": ["## What you saw"]},
            {"cell_type": "markdown", "metadata": {"tags": ["checks"]}, "source": ["## Checks"]},
            {
                "cell_type": "code",
                "metadata": {"tags": ["other", "checks"]},
                "source": ["assert 1"],
            },
            {"cell_type": "markdown", "metadata": {}, "source": ["## Recap"]},
        ]
    }
    assert site_builder.without_checks(nb) == 2
    assert ["".join(c["source"]) for c in nb["cells"]] == ["## What you saw", "## Recap"]
    text = "the [guide](../docs/teaching-guide.md#binder) and [it](../docs/teaching-guide.md)"
    assert site_builder.page_links(text) == (
        "the [guide](teaching-guide.html#binder) and [it](teaching-guide.html)"
    )


def test_every_lesson_tags_its_closing_checks_folds_them_and_ends_with_words() -> None:
    lessons = [p for p in NOTEBOOKS.glob("0*_*.ipynb") if "practice" not in p.name]
    assert len(lessons) >= 6, lessons  # the course map and every lesson, 05_cpp included
    for path in sorted(lessons):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        tagged = [i for i, c in enumerate(cells) if "checks" in c["metadata"].get("tags", [])]
        assert tagged, f"{path.name}: no cell tagged 'checks'"
        title = cells[tagged[0]]
        assert "".join(title["source"]).startswith(
            "## Checks that this lesson's claims held in your run"
        ), path.name
        for i in tagged[1:]:
            assert cells[i]["cell_type"] == "code", (path.name, i)
            assert cells[i]["metadata"]["jupyter"]["source_hidden"] is True, (path.name, i)
        assert tagged == list(range(tagged[0], tagged[-1] + 1)), f"{path.name}: checks apart"
        asserts = [
            c for c in cells if c["cell_type"] == "code" and "assert " in "".join(c["source"])
        ]
        assert all(c in [cells[i] for i in tagged] for c in asserts), path.name
        last = cells[-1]
        assert last["cell_type"] == "markdown", f"{path.name} ends with code, not a recap"
        assert "checks" not in last["metadata"].get("tags", []), path.name


def _switch(page: Path) -> dict[str, Path]:
    """The language switch's links on a built page, by language, as files."""
    links = re.findall(
        r'<a href="([^"]+)" hreflang="(\w+)" class="md-select__link">',
        page.read_text(encoding="utf-8"),
    )
    return {lang: (page.parent / href).resolve() for href, lang in links}


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_every_page_has_the_language_switch_and_the_portuguese_pages_link_back(
    built_site: Path,
) -> None:
    site = (built_site / "site").resolve()
    pages = sorted(site.rglob("*.html"))
    portuguese = [page for page in pages if page.parent == site / "pt"]
    assert len(portuguese) == len(list(PORTUGUESE.glob("*.ipynb"))) + 2  # + guide, glossary
    twin_names = {**site_builder.PT_COUNTERPART, "index": "index"}
    twin_names |= {n.stem: n.stem for n in NOTEBOOKS.glob("*.ipynb") if n.stem != "index"}
    for page in pages:
        if page.name == "404.html":
            continue  # its links start at the site's root: no switch to check from disk
        # The switch leads to this very page in the other language (every page has a twin).
        if page.parent == site:
            en_page, pt_page = page, site / "pt" / f"{twin_names[page.stem]}.html"
        else:
            back = {pt: en for en, pt in twin_names.items()}
            en_page, pt_page = site / f"{back[page.stem]}.html", page
        assert _switch(page) == {"en": en_page, "pt": pt_page}, page.relative_to(site)
        assert en_page.is_file(), page.relative_to(site)
        assert pt_page.is_file(), page.relative_to(site)
        # And the page says which language it is in.
        lang = "pt-BR" if page.parent == site / "pt" else "en"
        assert f'<html lang="{lang}"' in page.read_text("utf-8"), page.relative_to(site)
        # The logo leads to the home page's file, not to a folder (a listing from disk).
        logo = re.search(
            r'<a href="([^"]+)"[^>]*class="md-header__button md-logo"', page.read_text("utf-8")
        )
        assert logo is not None, page.relative_to(site)
        assert (page.parent / logo[1]).resolve() == site / "index.html", page.relative_to(site)
    home = (site / "index.html").read_text(encoding="utf-8")
    assert 'href="pt/index.html"' in home
    # The theme's own words on a Portuguese page are Portuguese too.
    assert 'placeholder="Buscar"' in (site / "pt" / "02_tcp.html").read_text("utf-8")
    for page in portuguese:
        text = page.read_text(encoding="utf-8")
        # The navigation's English section links back to the English pages.
        assert 'href="../index.html"' in text, page.name
        assert 'href="../teaching-guide.html"' in text, page.name
        assert "Português" in text, page.name
    # The Portuguese course map sends a hub's teacher to the Portuguese guide.
    assert 'href="guia-do-professor.html"' in (site / "pt" / "index.html").read_text("utf-8")


def test_portuguese_lessons_link_to_the_portuguese_pages_or_one_folder_up() -> None:
    text = (
        "o [guia](../../docs/teaching-guide.md), a [seção](../../docs/teaching-guide.md#binder),"
        " as [notas](../../docs/other.md) e a [lição 2](02_tcp.ipynb#2-um)"
    )
    assert site_builder.pt_page_links(text) == (
        "o [guia](guia-do-professor.html), a [seção](../teaching-guide.html#binder),"
        " as [notas](../other.html) e a [lição 2](02_tcp.html#2-um)"
    )


def test_links_between_docs_pages_follow_the_portuguese_pages_into_pt() -> None:
    english = "the [guia](guia-do-professor.md), the [guide](teaching-guide.md#binder)"
    assert site_builder.section_links(english, portuguese=False) == (
        "the [guia](pt/guia-do-professor.md), the [guide](teaching-guide.md#binder)"
    )
    portuguese = "o [guide](teaching-guide.md#binder), o [glossário](glossario.md)"
    assert site_builder.section_links(portuguese, portuguese=True) == (
        "o [guide](../teaching-guide.md#binder), o [glossário](glossario.md)"
    )


def _notebook(*cells: tuple[str, str, list[str]]) -> dict[str, Any]:
    return {
        "metadata": {},
        "cells": [
            {"cell_type": kind, "metadata": {"tags": tags}, "source": [source], "outputs": []}
            for kind, source, tags in cells
        ],
    }


def test_staging_puts_the_portuguese_edition_in_pt_with_a_nav_section_per_language(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    executed = tmp_path / "executed"
    (executed / "pt_BR").mkdir(parents=True)
    for folder, title in ((executed, "Map"), (executed / "pt_BR", "Mapa")):
        setup = ("code", 'labsock.set_language("pt_BR")', ["i18n"])
        page = _notebook(setup, ("markdown", f"# {title}\n\n[1](01_sockets.ipynb)", []))
        (folder / "00_index.ipynb").write_text(json.dumps(page), encoding="utf-8")
        lesson = _notebook(("markdown", "# 1", []), ("code", "assert True", ["checks"]))
        (folder / "01_sockets.ipynb").write_text(json.dumps(lesson), encoding="utf-8")
    monkeypatch.setattr(site_builder, "vendor_mermaid", lambda target: target)
    source = tmp_path / "site-src"
    lessons = site_builder.stage(executed, source)
    assert [page for page, _ in lessons] == [
        "index.ipynb",
        "01_sockets.ipynb",
        "pt/index.ipynb",
        "pt/01_sockets.ipynb",
    ]
    home = json.loads((source / "pt" / "index.ipynb").read_text(encoding="utf-8"))
    assert ["".join(c["source"]) for c in home["cells"]] == ["# Mapa\n\n[1](01_sockets.html)"]
    assert (source / "pt" / "guia-do-professor.md").is_file()
    assert not (source / "guia-do-professor.md").exists()
    english, portuguese = site_builder.navigation(source)
    assert english["English"][:2] == ["index.ipynb", "01_sockets.ipynb"]
    assert "teaching-guide.md" in english["English"]
    assert portuguese["Português"][:2] == ["pt/index.ipynb", "pt/01_sockets.ipynb"]
    assert "pt/guia-do-professor.md" in portuguese["Português"]
    staged = {
        str(p.relative_to(source)) for p in source.rglob("*.*") if p.suffix in (".md", ".ipynb")
    }
    assert staged == set(english["English"]) | set(portuguese["Português"])


def _staged_editions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A course map and one lesson per edition, staged with the real docs/ pages."""
    executed = tmp_path / "executed"
    (executed / "pt_BR").mkdir(parents=True)

    def markdown(text: str) -> str:  # a notebook nbconvert accepts: one Markdown cell
        cell = {"cell_type": "markdown", "id": "only", "metadata": {}, "source": [text]}
        return json.dumps({"metadata": {}, "nbformat": 4, "nbformat_minor": 5, "cells": [cell]})

    for folder, title in ((executed, "Map"), (executed / "pt_BR", "Mapa")):
        page = markdown(f"# {title}\n\n[1](01_sockets.ipynb)")
        (folder / "00_index.ipynb").write_text(page, encoding="utf-8")
        (folder / "01_sockets.ipynb").write_text(markdown("# 1"), encoding="utf-8")

    def no_mermaid(target: Path) -> Path:  # the real one may fetch with npm
        script = target / site_builder.MERMAID_JS
        script.parent.mkdir(parents=True, exist_ok=True)
        script.write_text("// stand-in", encoding="utf-8")
        return script

    monkeypatch.setattr(site_builder, "vendor_mermaid", no_mermaid)
    source = tmp_path / "site-src"
    site_builder.stage(executed, source)
    return source


def test_each_page_has_its_twin_in_the_other_language(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = _staged_editions(tmp_path, monkeypatch)
    (source / "notes.md").write_text("# English only\n", encoding="utf-8")
    twins = site_builder.language_twins(source)
    lesson = {"en": "01_sockets.html", "pt": "pt/01_sockets.html"}
    guide = {"en": "teaching-guide.html", "pt": "pt/guia-do-professor.html"}
    assert twins["01_sockets.ipynb"] == twins["pt/01_sockets.ipynb"] == lesson
    assert (
        twins["index.ipynb"]
        == twins["pt/index.ipynb"]
        == {"en": "index.html", "pt": "pt/index.html"}
    )
    assert twins["teaching-guide.md"] == twins["pt/guia-do-professor.md"] == guide
    assert twins["glossary.md"] == {"en": "glossary.html", "pt": "pt/glossario.html"}
    assert "notes.md" not in twins  # no Portuguese page: its switch goes home


def test_a_built_site_switches_to_the_same_page_and_declares_pt_br(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A real MkDocs build of a small staged site (seconds): the theme overrides at work.
    source = _staged_editions(tmp_path, monkeypatch)
    site = tmp_path / "site"
    site_builder.mkdocs_build(source, site)
    assert site_builder.broken_links(site) == []
    expected = {
        "01_sockets.html": ("en", "01_sockets.html", "pt/01_sockets.html"),
        "pt/01_sockets.html": ("pt-BR", "01_sockets.html", "pt/01_sockets.html"),
        "teaching-guide.html": ("en", "teaching-guide.html", "pt/guia-do-professor.html"),
        "pt/guia-do-professor.html": ("pt-BR", "teaching-guide.html", "pt/guia-do-professor.html"),
        "pt/glossario.html": ("pt-BR", "glossary.html", "pt/glossario.html"),
        "pt/index.html": ("pt-BR", "index.html", "pt/index.html"),
    }
    for name, (lang, english, portuguese) in expected.items():
        page = site / name
        assert f'<html lang="{lang}"' in page.read_text(encoding="utf-8"), name
        assert _switch(page) == {"en": site / english, "pt": site / portuguese}, name
    assert 'placeholder="Buscar"' in (site / "pt" / "01_sockets.html").read_text("utf-8")
    assert 'placeholder="Search"' in (site / "01_sockets.html").read_text("utf-8")
