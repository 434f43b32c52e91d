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


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_site_builds_every_lesson_with_figures_diagrams_and_working_links(
    built_site: Path,
) -> None:
    tmp_path = built_site  # the build folder (conftest builds it once per session)
    site = tmp_path / "site"
    # Mermaid ships with the site: no page loads a script from anywhere else.
    assert (site / site_builder.MERMAID_JS).stat().st_size > 100_000
    for page in site.glob("*.html"):
        scripts = re.findall(r'<script[^>]+src="([^"]+)"', page.read_text(encoding="utf-8"))
        assert all(not re.match(r"(https?:)?//", src) for src in scripts), (page.name, scripts)
    assert (site / "teaching-guide.html").is_file()
    assert (site / "search" / "search_index.json").is_file()
    for notebook in sorted(NOTEBOOKS.glob("*.ipynb")):
        name = "index" if notebook.stem == site_builder.HOME else notebook.stem
        page = (site / f"{name}.html").read_text(encoding="utf-8")
        source = notebook.read_text(encoding="utf-8")
        assert "Traceback" not in page, f"{name}.html shows a traceback"
        # The practice draws its figure only once exercise 6 is solved.
        if "plots." in source and not name.endswith("_practice"):
            assert "<img" in page, f"{name}.html shows none of the lesson's figures"
            assert "data:image/png;base64," in page
        assert "Checks that this lesson" not in page, f"{name}.html shows the closing checks"
        if "widgets." in source:
            assert "labsock-panel" in page, f"{name}.html has no snapshot of its panel"
            assert "Error displaying widget" not in page
        # Every diagram is handed to the theme's Mermaid; none is left to be hidden.
        executed = tmp_path / "executed" / notebook.name
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
    for path in sorted(NOTEBOOKS.glob("0[0-4]_*.ipynb")):
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
