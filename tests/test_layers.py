"""Imports go down the layers, never up: the floor plan of labsock, enforced.

The layers, lowest first (each may import its own layer and the ones below)::

    _core <- _results <- _endpoints <- _experiments <- _viz <- _panels

``exercises`` is student-facing code: it may use the four
lowest layers (and themselves), never ``_viz`` or ``_panels`` (a check returns
results; a figure of them is ``labsock.plots``' job). The public faces
(``labsock/__init__.py``, ``plots.py``, ``widgets.py`` and any other public
module) import whatever they re-export, and nothing inside labsock imports a
face: it imports the module that defines the name (a face imports the
layers, never the reverse; a face counts as the highest layer it imports, so
``labsock.plots`` in ``_experiments`` is also an import going up).

Every import counts: at the top, inside a function (a lazy import is still a
dependency), under ``if TYPE_CHECKING:``, and ``importlib.import_module`` with
a constant name. The source is read with ``ast``; nothing is imported.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from tests.helpers import ROOT

PACKAGE = ROOT / "labsock"

#: The layers, lowest first.
LAYERS = ("_core", "_results", "_endpoints", "_experiments", "_viz", "_panels")
#: Student-facing packages: may use layers up to and including _experiments.
STUDENT_FACING = ("exercises",)
HIGHEST_FOR_STUDENT_CODE = LAYERS.index("_experiments")


@dataclass(frozen=True)
class Import:
    """One import statement's target, where it was written."""

    path: str  # relative to the repository, e.g. labsock/_core/probe.py
    line: int
    target: str  # dotted module name, e.g. labsock._viz.style

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: imports {self.target}"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_module(dotted: str) -> bool:
    """Whether ``dotted`` names a module or package of labsock (not a name inside one)."""
    relative = Path(*dotted.split("."))
    base = PACKAGE.parent / relative
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _imports(path: Path) -> list[Import]:
    """Every labsock module that ``path`` imports, wherever the import is written."""
    return _imports_in(
        path.read_text(encoding="utf-8"),
        _module_name(path),
        is_package=path.name == "__init__.py",
        shown=path.relative_to(PACKAGE.parent).as_posix(),
    )


def _imports_in(source: str, name: str, *, is_package: bool, shown: str) -> list[Import]:
    """Every labsock module that the source of module ``name`` imports."""
    tree = ast.parse(source, filename=shown)
    # A package's relative imports start from the package itself.
    package = name if is_package else name.rpartition(".")[0]
    found: list[Import] = []
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            for alias in node.names:
                # `from labsock._viz import style` imports the module style;
                # `from labsock import ping` imports the package's face.
                candidate = f"{base}.{alias.name}"
                targets.append(candidate if _is_module(candidate) else base)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id)
            in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            targets = [node.args[0].value]
        found.extend(
            Import(shown, node.lineno, target)
            for target in targets
            if target == "labsock" or target.startswith("labsock.")
        )
    # `from labsock._core import a, b` is one import of labsock._core, reported once.
    return list(dict.fromkeys(found))


def _group(dotted: str) -> str:
    """The layer or package a module belongs to: ``_core`` ..., ``exercises``, or ``face``."""
    parts = dotted.split(".")
    if len(parts) == 1:
        return "face"  # labsock/__init__.py
    top = parts[1]
    if top in LAYERS or top in STUDENT_FACING:
        return top
    if top.startswith("_"):
        return "nowhere"
    return "face"  # plots, widgets, and any public module to come


@cache
def _face_rank(dotted: str) -> int:
    """A face counts as the highest layer it imports (-1: it imports none)."""
    path = PACKAGE.parent / Path(*dotted.split("."))
    path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    return max((_rank(i.target) for i in _imports(path) if i.target != dotted), default=-1)


def _rank(dotted: str) -> int:
    """How high a module sits: its layer's index; student code sits just above _experiments."""
    group = _group(dotted)
    if group in LAYERS:
        return LAYERS.index(group)
    if group in STUDENT_FACING:
        return HIGHEST_FOR_STUDENT_CODE
    if group == "face":
        return _face_rank(dotted)
    return len(LAYERS)  # a private module in no layer: nothing may rely on it


def _why_not(importer: str, target: str) -> str | None:
    """Why ``importer`` may not import ``target``, or None when it may."""
    group, target_group = _group(importer), _group(target)
    if group == "face" or target_group == group:
        return None  # a face imports whatever it re-exports; a layer uses itself
    if group in STUDENT_FACING:
        if target_group in STUDENT_FACING:
            return f"{group} may not use {target_group}"
        if _rank(target) > HIGHEST_FOR_STUDENT_CODE:
            never = target_group if target_group in LAYERS else target
            return (
                f"{group} may use _core, _results, _endpoints and _experiments, never {never} "
                "(return results; labsock.plots draws them)"
            )
    elif _rank(target) > _rank(importer):
        where = (
            target_group
            if target_group in LAYERS
            else f"{target}, a face of {LAYERS[_rank(target)]}"
        )
        return f"{group} may not import {where}: imports go down {' <- '.join(LAYERS)}"
    if target_group == "face":
        return (
            f"{group} imports the public face {target}: inside labsock, import the module "
            "that defines the name (a face imports the layers, never the reverse)"
        )
    return None


def _violations() -> list[tuple[Import, str]]:
    found = []
    for path in _modules():
        importer = _module_name(path)
        for imp in _imports(path):
            reason = _why_not(importer, imp.target)
            if reason is not None:
                found.append((imp, reason))
    return found


def test_every_module_is_in_a_layer_or_is_a_face() -> None:
    homeless = [
        path.relative_to(PACKAGE.parent).as_posix()
        for path in _modules()
        if _group(_module_name(path)) == "nowhere"
    ]
    assert not homeless, (
        f"private modules outside every layer: {homeless}; move each into one of {LAYERS}"
    )


def test_no_import_goes_up_the_layers() -> None:
    new = [f"{imp}: {reason}" for imp, reason in _violations()]
    assert not new, "imports that break the layer rules:\n" + "\n".join(new)


# -- the checker itself: it must see what it claims to see --------------------------


SNIPPET = """
import labsock._core.errors
from labsock._viz import style
from . import blast
from ..plots import to_png
from typing import TYPE_CHECKING
if TYPE_CHECKING:
    from labsock._panels.base import Panel

def later():
    import labsock.widgets
    importlib.import_module("labsock._results.ping")
"""


def test_the_checker_sees_imports_wherever_they_are_written() -> None:
    found = _imports_in(
        SNIPPET, "labsock._experiments.example", is_package=False, shown="example.py"
    )
    assert [(i.line, i.target) for i in found] == [
        (2, "labsock._core.errors"),
        (3, "labsock._viz.style"),
        (4, "labsock._experiments.blast"),
        (5, "labsock.plots"),
        (8, "labsock._panels.base"),
        (11, "labsock.widgets"),
        (12, "labsock._results.ping"),
    ]


def test_the_checker_finds_every_kind_of_import() -> None:
    imports = {(i.path, i.target) for p in _modules() for i in _imports(p)}
    # A top-level `from X import module`, a face by name, and a lazy import in a function.
    assert ("labsock/_endpoints/base.py", "labsock._endpoints.registry") in imports
    assert ("labsock/__init__.py", "labsock._endpoints.servers") in imports
    assert ("labsock/_viz/goodput.py", "labsock._viz.style") in imports  # inside a function


def test_faces_count_as_the_highest_layer_they_import() -> None:
    assert _rank("labsock") == LAYERS.index("_experiments")
    assert _rank("labsock.plots") == LAYERS.index("_viz")
    assert _rank("labsock.widgets") == LAYERS.index("_panels")


@pytest.mark.parametrize(
    ("importer", "target", "allowed"),
    [
        ("labsock._core.probe", "labsock._core.errors", True),
        ("labsock._endpoints.link", "labsock._core.impair", True),
        ("labsock._core.probe", "labsock._endpoints.registry", False),
        ("labsock._experiments.compare", "labsock.plots", False),
        ("labsock._experiments.compare", "labsock", False),
        ("labsock._core.errors", "labsock", False),
        ("labsock._viz.figures", "labsock._panels.base", False),
        ("labsock._panels.stepper", "labsock.plots", False),
        ("labsock._panels.stepper", "labsock._viz.figures", True),
        ("labsock.exercises._checks_ping", "labsock", False),
        ("labsock.exercises._report", "labsock.exercises", True),
        ("labsock.exercises._goodput", "labsock._experiments.ping", True),
        ("labsock.exercises._goodput", "labsock._viz.style", False),
        ("labsock.exercises._goodput", "labsock.widgets", False),
        ("labsock.plots", "labsock._viz.figures", True),
    ],
)
def test_the_rule_for_one_import(importer: str, target: str, allowed: bool) -> None:
    assert (_why_not(importer, target) is None) == allowed
