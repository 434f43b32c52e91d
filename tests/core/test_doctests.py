"""The pure core's docstring examples are run, so they cannot drift from the code."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import labsock._core

CORE = sorted(m.name for m in pkgutil.iter_modules(labsock._core.__path__, "labsock._core."))
# Modules with no example in their docstrings (records, renderers of them, checks of
# arguments): testmod would "pass" them having run nothing.
NO_EXAMPLES = {"labsock._core.trace_events", "labsock._core.trace_text", "labsock._core.validate"}


@pytest.mark.parametrize("name", [m for m in CORE if m not in NO_EXAMPLES])
def test_core_docstring_examples_hold(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.attempted > 0, f"{name} has no docstring example: list it in NO_EXAMPLES"
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} failed"
