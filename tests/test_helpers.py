"""The shared test helpers do what the tests rely on them for."""

from __future__ import annotations

import pytest

from tests.helpers import ROOT, wait_until


def test_wait_until_returns_once_the_state_holds() -> None:
    calls = iter([False, False, "the value"])
    assert wait_until(lambda: next(calls), "the third look") == "the value"
    assert next(calls, "no more looks") == "no more looks"  # it stopped at the third


def test_wait_until_fails_saying_what_it_waited_for() -> None:
    with pytest.raises(AssertionError, match=r"waited for: 3 clients connected \(not true after"):
        wait_until(lambda: False, "3 clients connected", timeout=0.05)


def test_wait_until_describes_the_state_seen_at_the_deadline() -> None:
    seen = {"state": "SYN_SENT"}
    with pytest.raises(AssertionError, match="ESTABLISHED, not SYN_SENT"):
        wait_until(lambda: False, lambda: f"ESTABLISHED, not {seen['state']}", timeout=0.05)


def test_root_is_the_repository() -> None:
    assert (ROOT / "pyproject.toml").is_file()
    assert (ROOT / "labsock" / "__init__.py").is_file()
