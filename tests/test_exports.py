"""Every public name is exported once, on purpose (modelled on trio's ``test_exports``).

The public surface of labsock is its faces: ``labsock``, ``labsock.plots``,
``labsock.widgets``, ``labsock.exercises``, ``labsock.cpp`` (the reference
solutions live in ``teacher/``, outside the package). For each face:

* ``__all__`` lists every public name once, each importable, none private;
* ``dir()`` shows exactly those public names (plus, for ``labsock``, its
  lazily imported faces), so tab completion and ``import *`` agree;
* every exported object was written in labsock (no third-party object, no
  module, leaks out by accident), and no private module is a public name.

Across faces, the decision: an object has ONE public home. Exporting the same
object from two faces is refused unless listed in ``SHARED`` with the reason;
one name meaning two different things on two faces is refused unless listed in
``SAME_NAME_DIFFERENT_THINGS`` (issue 13, point 6, is resolving those).
"""

from __future__ import annotations

import importlib
import inspect
import types
from collections import Counter

import pytest

FACES = ("labsock", "labsock.plots", "labsock.widgets", "labsock.exercises", "labsock.cpp")

#: Faces that ``import labsock`` does not import, reached as attributes on first use.
LAZY_FACES = {"cpp", "exercises", "plots", "widgets"}

#: Objects exported by more than one face on purpose: name -> why. (None today.)
SHARED: dict[str, str] = {}

#: Names that mean a different object on two faces: name -> why it is tolerated.
#: Only ever shrink this list.
SAME_NAME_DIFFERENT_THINGS: dict[str, str] = {
    "fan_out": "labsock.fan_out runs the experiment, plots.fan_out draws it (issue 13, point 6)",
    "sender_cost": "labsock.sender_cost measures, plots.sender_cost draws (issue 13, point 6)",
    # Came with issue 15 in the same pattern; resolve it with the two above.
    "head_of_line": "labsock.head_of_line measures, plots.head_of_line draws",
}


def _face(name: str) -> types.ModuleType:
    return importlib.import_module(name)


def _exports(name: str) -> list[str]:
    exported = getattr(_face(name), "__all__", None)
    assert isinstance(exported, list | tuple), f"{name} has no __all__"
    return list(exported)


@pytest.mark.parametrize("face", FACES)
def test_all_lists_each_public_name_once(face: str) -> None:
    names = _exports(face)
    twice = sorted(n for n, times in Counter(names).items() if times > 1)
    assert not twice, f"{face}.__all__ lists these more than once: {twice}"
    private = [n for n in names if n.startswith("_")]
    assert not private, f"{face}.__all__ exports private names: {private}"


@pytest.mark.parametrize("face", FACES)
def test_every_exported_name_is_importable(face: str) -> None:
    module = _face(face)
    missing = [n for n in _exports(face) if not hasattr(module, n)]
    assert not missing, f"{face}.__all__ names what {face} does not have: {missing}"
    # And `from face import *` gives exactly those.
    namespace: dict[str, object] = {}
    exec(f"from {face} import *", namespace)
    assert set(namespace) - {"__builtins__"} == set(_exports(face))


@pytest.mark.parametrize("face", FACES)
def test_dir_shows_exactly_the_exported_names(face: str) -> None:
    module = _face(face)
    public = {n for n in dir(module) if not n.startswith("_")}
    expected = set(_exports(face)) | (LAZY_FACES if face == "labsock" else set())
    assert not public - expected, f"dir({face}) shows names not in __all__: {public - expected}"
    assert not expected - public, f"dir({face}) hides exported names: {expected - public}"


def test_the_lazy_faces_load_on_first_use_and_nothing_else_does() -> None:
    import labsock

    for name in sorted(LAZY_FACES):
        assert getattr(labsock, name) is importlib.import_module(f"labsock.{name}")
    with pytest.raises(AttributeError, match="no attribute '_core_not_here'"):
        _ = labsock._core_not_here  # type: ignore[attr-defined]


@pytest.mark.parametrize("face", FACES)
def test_exported_objects_are_labsocks_own_and_no_private_module_leaks(face: str) -> None:
    module = _face(face)
    foreign = []
    for name in _exports(face):
        value = getattr(module, name)
        if isinstance(value, types.ModuleType):
            foreign.append(f"{name} is the module {value.__name__}")
        elif inspect.isclass(value) or inspect.isfunction(value):
            home = value.__module__
            if not home.startswith("labsock."):
                foreign.append(f"{name} comes from {home}")
    assert not foreign, f"{face} exports what labsock did not write: {foreign}"


def test_an_object_has_one_public_home() -> None:
    homes: dict[int, list[str]] = {}
    for face in FACES:
        module = _face(face)
        for name in _exports(face):
            value = getattr(module, name)
            if isinstance(value, bool | int | float | str | bytes | tuple | frozenset):
                continue  # constants: equal values need not be one object
            homes.setdefault(id(value), []).append(f"{face}.{name}")
    twice = [
        where
        for where in homes.values()
        if len(where) > 1 and not {w.rpartition(".")[2] for w in where} <= set(SHARED)
    ]
    assert not twice, f"exported from more than one place (add to SHARED with a reason?): {twice}"


def test_a_name_means_one_thing_across_faces() -> None:
    meanings: dict[str, dict[int, str]] = {}
    for face in FACES:
        module = _face(face)
        for name in _exports(face):
            meanings.setdefault(name, {})[id(getattr(module, name))] = face
    clashes = sorted(
        f"{name} ({', '.join(sorted(faces.values()))})"
        for name, faces in meanings.items()
        if len(faces) > 1 and name not in SAME_NAME_DIFFERENT_THINGS
    )
    assert not clashes, f"one name, different objects on different faces: {clashes}"
