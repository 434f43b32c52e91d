"""What students install: no solution code in the wheel or the sdist, and the pip-only path works.

The wheel and the sdist are built from this checkout with hatchling (the
project's build backend). Then, as a student without git or make would, the
wheel is installed into a fresh virtual environment and ``labsock-course``
copies the notebooks into a folder of the student's own, never overwriting
what is there.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest

from tests.helpers import ROOT

SOLUTIONS = ROOT / "teacher" / "solutions"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """``(wheel, sdist)`` built from this checkout."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-d", str(out)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=120,
    )
    (wheel,) = out.glob("*.whl")
    (sdist,) = out.glob("*.tar.gz")
    return wheel, sdist


def _members(archive: Path) -> dict[str, bytes]:
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as z:
            return {n: z.read(n) for n in z.namelist() if not n.endswith("/")}
    with tarfile.open(archive) as t:
        found = {}
        for m in t.getmembers():
            f = t.extractfile(m) if m.isfile() else None
            if f is not None:
                found[m.name] = f.read()
        return found


def _code_lines(text: str) -> set[str]:
    """Lines of code worth comparing: stripped, not comments, not trivially short."""
    return {
        line.strip()
        for line in text.splitlines()
        if len(line.strip()) > 25 and not line.strip().startswith(("#", '"', "'"))
    }


def _solution_functions() -> dict[str, set[str]]:
    """Each reference solution function (teacher/solutions), as its set of code lines."""
    found = {}
    for path in sorted(SOLUTIONS.glob("_*.py")):
        text = path.read_text(encoding="utf-8")
        for node in ast.parse(text).body:
            if isinstance(node, ast.FunctionDef):
                body = ast.get_source_segment(text, node) or ""
                found[f"{path.name}:{node.name}"] = _code_lines(body)
    return found


def _texts(members: dict[str, bytes]) -> dict[str, str]:
    """Python files, and the code cells of notebooks, as text."""
    texts = {}
    for name, data in members.items():
        if name.endswith(".py"):
            texts[name] = data.decode("utf-8", errors="replace")
        elif name.endswith(".ipynb"):
            cells = json.loads(data)["cells"]
            texts[name] = "\n".join(
                "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
                for c in cells
                if c["cell_type"] == "code"
            )
    return texts


@pytest.mark.parametrize("kind", ["wheel", "sdist"])
def test_no_solution_code_is_packaged(built: tuple[Path, Path], kind: str) -> None:
    archive = built[0] if kind == "wheel" else built[1]
    members = _members(archive)
    names = list(members)
    assert any(n.endswith("labsock/exercises/_checks_servers.py") for n in names)
    assert any(n.endswith("05_practice.ipynb") or n.endswith("_practice.ipynb") for n in names)
    for name in names:
        assert "teacher/" not in name, name
        assert "solutions" not in name, name
    for name, data in members.items():
        for marker in (b"BEGIN SOLUTION", b"BEGIN HIDDEN TESTS", b"teacher.solutions"):
            assert marker not in data, (name, marker)
    # No file holds most of the code of any reference solution function.
    functions = _solution_functions()
    assert len(functions) >= 8
    for name, text in _texts(members).items():
        lines = _code_lines(text)
        for function, code in functions.items():
            if len(code) >= 3:
                shared = code & lines
                assert len(shared) < len(code) / 2, (name, function, sorted(shared))


def test_pip_only_path_copies_the_notebooks_and_keeps_the_students_work(
    built: tuple[Path, Path], tmp_path: Path
) -> None:
    wheel, _ = built
    venv = tmp_path / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60
    )
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    # labsock's dependencies come from this test environment (no download):
    # a .pth line puts its site-packages after the fresh venv's own.
    fresh_site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout.strip()
    Path(fresh_site, "deps-from-test-env.pth").write_text(
        sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8"
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--quiet",
            "--no-deps",
            "--no-index",
            str(wheel),
        ],
        check=True,
        timeout=120,
    )
    script = venv / ("Scripts/labsock-course.exe" if os.name == "nt" else "bin/labsock-course")
    home = tmp_path / "student"
    home.mkdir()

    def run(*args: str) -> str:
        done = subprocess.run(
            [str(script), *args],
            cwd=home,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    first = run("my-course", "--copy-only")
    folder = home / "my-course"
    copied = sorted(p.name for p in folder.glob("*.ipynb"))
    expected = sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert copied == expected
    assert "copied" in first
    # The copy came from the installed wheel, not from this checkout.
    where = subprocess.run(
        [str(python), "-c", "import labsock.course as c; print(c.course_notebooks()[0])"],
        cwd=home,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert str(venv) in where
    assert str(ROOT / "notebooks") not in where
    # The student's work is never overwritten.
    practice = next(folder.glob("*_practice.ipynb"))
    practice.write_text("my work", encoding="utf-8")
    (folder / "00_index.ipynb").unlink()
    again = run("my-course", "--copy-only")
    assert practice.read_text(encoding="utf-8") == "my work"
    assert (folder / "00_index.ipynb").exists()
    assert "kept your" in again
    assert practice.name in again
    # The Portuguese edition ships too, and the command then speaks Portuguese.
    curso = run("meu-curso", "--copy-only", "--lang", "pt_BR")
    pt_folder = home / "meu-curso"
    assert sorted(p.name for p in pt_folder.glob("*.ipynb")) == expected
    index = (pt_folder / "00_index.ipynb").read_text(encoding="utf-8")
    assert index == (ROOT / "notebooks" / "pt_BR" / "00_index.ipynb").read_text(encoding="utf-8")
    assert "pasta do curso" in curso


def test_binder_image_leaves_the_teachers_folder_out(tmp_path: Path) -> None:
    # repo2docker runs binder/postBuild from the repository's root, in the image.
    repo = tmp_path / "repo"
    for part in ("binder", "teacher", "notebooks"):
        shutil.copytree(ROOT / part, repo / part, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run(["bash", "binder/postBuild"], cwd=repo, check=True, timeout=60)
    assert not (repo / "teacher").exists()
    assert sorted(p.name for p in (repo / "notebooks").glob("*.ipynb")) == sorted(
        p.name for p in (ROOT / "notebooks").glob("*.ipynb")
    )


@pytest.mark.parametrize("kind", ["wheel", "sdist"])
def test_labsocks_own_translations_are_packaged(built: tuple[Path, Path], kind: str) -> None:
    # labsock reads the compiled catalog at run time: without it, set_language
    # would silently fall back to English in an installed labsock.
    names = list(_members(built[0] if kind == "wheel" else built[1]))
    assert any(n.endswith("labsock/locale/pt_BR/LC_MESSAGES/labsock.mo") for n in names)
