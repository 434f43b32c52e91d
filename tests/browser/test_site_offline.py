"""The course website draws every Mermaid diagram in Chromium with the network cut.

The Portuguese pages (``pt/``) included; and its language switch, clicked on
pages opened from disk, goes from one language's home to the other's.

A class intranet or a laptop without internet serves the site as plain
files: Mermaid must come with it, not from a CDN. The site is built once per
session (``built_site`` in ``tests/conftest.py``), opened from disk, and
every request that is neither a file nor loopback is aborted (and listed).
The theme draws each diagram into a closed shadow root; an init script opens
shadow roots so that the test can see the SVG inside.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

DIAGRAM_TIMEOUT = 30.0  # seconds for a page's diagrams to be drawn
# Glyphs a default system may lack: emoji and pictographs (U+1F000 on), and the
# variation selector that asks for an emoji's colour form. (✓ and ✗ are in DejaVu.)
EMOJI = re.compile("[\U0001f000-\U0001faff\ufe0f]")

_OPEN_SHADOWS = """
const attach = Element.prototype.attachShadow;
Element.prototype.attachShadow = function (init) {
  return attach.call(this, Object.assign({}, init, { mode: "open" }));
};
"""

_DIAGRAMS = """() => Array.from(document.querySelectorAll('div.mermaid')).map((d) => {
  const svg = d.shadowRoot && d.shadowRoot.querySelector('svg');
  return svg ? svg.textContent : null;
})"""


def _offline(page: Any, blocked: list[str]) -> None:
    def handle(route: Any) -> None:
        parts = urlsplit(route.request.url)
        if parts.scheme in ("file", "data", "blob") or parts.hostname in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort("internetdisconnected")

    page.route("**/*", handle)


def test_every_diagram_of_the_offline_site_is_drawn_as_svg_without_emoji(
    built_site: Path, browser_context: Any
) -> None:
    site = built_site / "site"
    pages = {
        page: page.read_text(encoding="utf-8").count('<pre class="mermaid">')
        for page in sorted(site.rglob("*.html"))  # the Portuguese pages (pt/) too
    }
    with_diagrams = {page: n for page, n in pages.items() if n}
    assert with_diagrams, "no page of the site has a Mermaid diagram"
    assert any(page.parent.name == "pt" for page in with_diagrams), "no Portuguese diagram"
    blocked: list[str] = []
    tab = browser_context.new_page()
    try:
        tab.add_init_script(_OPEN_SHADOWS)
        _offline(tab, blocked)
        for page, expected in with_diagrams.items():
            tab.goto(page.as_uri())
            try:
                tab.wait_for_function(
                    "(n) => document.querySelectorAll('pre.mermaid').length === 0"
                    " && document.querySelectorAll('div.mermaid').length >= n",
                    arg=expected,
                    timeout=DIAGRAM_TIMEOUT * 1000,
                )
            except Exception:  # Playwright's TimeoutError: say what is missing
                pytest.fail(
                    f"{page.name}: {expected} diagrams, "
                    f"{tab.locator('div.mermaid').count()} drawn after {DIAGRAM_TIMEOUT:.0f} s "
                    f"with the network cut; requests blocked: {blocked}"
                )
            drawn = tab.evaluate(_DIAGRAMS)
            assert len(drawn) == expected, (page.name, len(drawn), expected)
            assert all(text is not None for text in drawn), f"{page.name}: a diagram has no SVG"
            assert not any("Syntax error" in text for text in drawn), page.name
            glyphs = sorted({g for text in drawn for g in EMOJI.findall(text)})
            assert not glyphs, f"{page.name}: diagrams use glyphs a system may lack: {glyphs}"
    finally:
        tab.close()
    # The theme took the shipped Mermaid: nothing was fetched from outside for it.
    assert not [url for url in blocked if "mermaid" in url], blocked


def test_the_language_switch_of_the_site_opened_from_disk_goes_both_ways(
    built_site: Path, browser_context: Any
) -> None:
    site = built_site / "site"
    blocked: list[str] = []
    tab = browser_context.new_page()
    try:
        _offline(tab, blocked)
        for start, lang, arrival in (
            # The same page in the other language (its twin).
            (site / "pt" / "02_tcp.html", "en", site / "02_tcp.html"),
            (site / "glossary.html", "pt", site / "pt" / "glossario.html"),
        ):
            tab.goto(start.as_uri())
            tab.hover(".md-header__option .md-select button")  # the switch opens on hover
            tab.locator(f"a.md-select__link[hreflang={lang}]").click(timeout=10_000)
            tab.wait_for_url(arrival.as_uri(), timeout=10_000)
            assert tab.locator("article h1").first.is_visible(), arrival
    finally:
        tab.close()
    assert not blocked, blocked
