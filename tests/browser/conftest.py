"""Fixtures for the browser tests: a private ``jupyter lab``, Debian's chromium, a driver.

Every test here skips, with the reason, when Playwright or chromium is
missing; ``make test`` installs both on Debian/Ubuntu (Playwright from the
``test`` extra, chromium with ``scripts/system-deps.sh``). The browser is the
system's chromium (``/usr/bin/chromium``; Playwright's own browser downloads
are never used), headless, with a brand-new profile.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.labdriver import (
    CHROMIUM_ARGS,
    VIEWPORT,
    LabDriver,
    LabServer,
    find_chromium,
    running_lab,
)


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path of the chromium to drive, or skip saying what is missing."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("playwright is not installed (it is in the 'test' extra: make setup)")
    path = find_chromium()
    if path is None:
        pytest.skip(
            "chromium is not installed: no /usr/bin/chromium (make test installs the Debian "
            "package 'chromium' where apt-get and root rights are available)"
        )
    return path


@pytest.fixture(scope="session")
def lab_server(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    """This session's ``jupyter lab``, stopped (with its kernels) at the end."""
    del chromium  # no browser, no point in a server
    with running_lab(tmp_path_factory.mktemp("jupyterlab")) as server:
        yield server


@pytest.fixture(scope="session")
def browser_context(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A headless chromium with a brand-new profile, as a Playwright browser context."""
    from playwright.sync_api import sync_playwright

    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=chromium,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport=VIEWPORT,
        )
        try:
            yield context
        finally:
            context.close()


@pytest.fixture(scope="session")
def lab(lab_server: LabServer, browser_context: Any) -> Iterator[LabDriver]:
    """Open and run notebooks in JupyterLab; each at most once per session."""
    driver = LabDriver(lab_server, browser_context)
    try:
        yield driver
    finally:
        driver.close()
