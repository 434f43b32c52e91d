"""The pure core's docstring examples are run, so they cannot drift from the code."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import labsock._core

CORE = sorted(m.name for m in pkgutil.iter_modules(labsock._core.__path__, "labsock._core."))


@pytest.mark.parametrize("name", CORE)
def test_core_docstring_examples_hold(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} failed"
