"""Binder can build the course from ``binder/`` alone, and what it builds runs every notebook.

Binder runs repo2docker, which reads only ``binder/`` once that folder exists
(top-level install files are then ignored). Without Docker we check three
things: the files say what repo2docker needs; repo2docker's own dry run
(``--no-build``: it writes the Dockerfile, builds nothing, needs no network)
turns them into the Python version and the install step we expect; and a
fresh virtual environment, installed from ``binder/requirements.txt`` alone,
exactly as that install step does it (from the repository root), runs every
notebook without an error.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import ROOT

BINDER = ROOT / "binder"
# What a copy of the repository leaves out: environments, caches, build output.
NOT_IN_REPO = shutil.ignore_patterns(
    ".git",
    ".venv",
    "venv",
    "build",
    "site",
    "artifacts",
    ".jupyter-runtime",
    ".ipynb_checkpoints",
    "__pycache__",
    "*.egg-info",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    ".hypothesis",
    ".cache",
    "node_modules",
)


def _runtime_minor() -> int:
    text = (BINDER / "runtime.txt").read_text(encoding="utf-8").strip()
    match = re.fullmatch(r"python-3\.(\d+)", text)
    assert match, f"binder/runtime.txt must read python-3.X, not {text!r}"
    return int(match[1])


def _requirements() -> list[str]:
    lines = (BINDER / "requirements.txt").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def test_runtime_pins_a_python_the_package_supports() -> None:
    minor = _runtime_minor()
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")  # no tomllib on 3.10
    assert f'"Programming Language :: Python :: 3.{minor}"' in pyproject
    lowest = re.search(r'requires-python\s*=\s*">=3\.(\d+)"', pyproject)
    assert lowest, "pyproject.toml names no requires-python"
    # Binder's own default Python is older than the course needs: never rely on it.
    assert minor >= int(lowest[1])


def test_requirements_install_this_repository_with_what_the_notebooks_need() -> None:
    # "." is the repository (pip runs from its root); the lab extra brings
    # JupyterLab 4.1+ (Mermaid) and ipykernel 7.1+ (Binder's base image has 7.0,
    # whose widget updates from threads are broken).
    assert _requirements() == ["-e .[lab]"]


def test_post_build_if_any_stops_at_the_first_error() -> None:
    post_build = BINDER / "postBuild"
    if not post_build.exists():
        pytest.skip("no binder/postBuild (none is needed)")
    text = post_build.read_text(encoding="utf-8")
    assert text.startswith("#!"), "postBuild needs a shebang line"
    assert re.search(r"^set -e", text, re.MULTILINE), "postBuild needs set -e"
    assert os.access(post_build, os.X_OK), "postBuild must be executable"


def test_repo2docker_dry_run_uses_the_binder_files() -> None:
    repo2docker = shutil.which("repo2docker") or shutil.which(
        "repo2docker", path=str(Path(sys.executable).parent)
    )
    if repo2docker is None:
        pytest.skip("repo2docker is not installed (it is in the 'test' extra)")
    done = subprocess.run(
        [repo2docker, "--no-build", "--debug", "."],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    dockerfile, log = done.stdout, done.stderr
    assert f"python=3.{_runtime_minor()}" in log, log[-2000:]
    assert 'pip install --no-cache-dir -r "binder/requirements.txt"' in dockerfile
    # binder/ wins: the top-level pyproject.toml is not an install step of its own.
    assert "pyproject.toml" not in dockerfile
    # The C++ lesson's compiler and tracer come from binder/apt.txt.
    for package in (ROOT / "binder" / "apt.txt").read_text().split():
        assert package in dockerfile, f"binder/apt.txt's {package} is not installed"
    assert "g++" in (ROOT / "binder" / "apt.txt").read_text().split()


def _binder_python(minor: int) -> tuple[str, str]:
    """An interpreter of the version runtime.txt names, else this one; and a note."""
    candidates = [shutil.which(f"python3.{minor}")]
    candidates += sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/3.{minor}*/bin/python3")))
    for candidate in candidates:
        if not candidate:
            continue
        probe = subprocess.run(
            [candidate, "-c", "import sys, venv; print(sys.version_info[1])"],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.returncode == 0 and probe.stdout.strip() == str(minor):
            return candidate, f"Python 3.{minor}, as on Binder"
    return sys.executable, f"no Python 3.{minor} here: used {sys.version.split()[0]}"


@dataclass
class BinderVenv:
    repo: Path  # the copy of the repository it was installed from
    python: Path
    note: str  # which Python it runs
    env: dict[str, str]


@pytest.fixture(scope="module")
def binder_venv(tmp_path_factory: pytest.TempPathFactory) -> BinderVenv:
    """A fresh venv, installed from a copy of the repository with binder/requirements.txt only."""
    base = tmp_path_factory.mktemp("binder")
    python, note = _binder_python(_runtime_minor())
    repo = base / "repo"
    shutil.copytree(ROOT, repo, ignore=NOT_IN_REPO)
    venv = base / "venv"
    subprocess.run([python, "-m", "venv", str(venv)], check=True, timeout=120)
    bin_dir = venv / ("Scripts" if os.name == "nt" else "bin")
    env = {
        **os.environ,
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        # Jupyter's user folders in the copy: no user kernelspec or profile.
        "JUPYTER_DATA_DIR": str(base / "data"),
        "JUPYTER_RUNTIME_DIR": str(base / "runtime"),
        "JUPYTER_CONFIG_DIR": str(base / "config"),
        "IPYTHONDIR": str(base / "ipython"),
    }
    for var in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME"):
        env.pop(var, None)
    install = subprocess.run(
        [str(bin_dir / "python"), "-m", "pip", "install", "-q", "-r", "binder/requirements.txt"],
        cwd=repo,  # as in repo2docker's Dockerfile: the working folder is the repository
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    return BinderVenv(repo, bin_dir / "python", note, env)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_fresh_venv_from_binder_requirements_has_the_course_and_its_lab(
    binder_venv: BinderVenv, record_property: Callable[[str, object], None]
) -> None:
    record_property("binder_python", binder_venv.note)
    probe = subprocess.run(
        [
            str(binder_venv.python),
            "-c",
            "import labsock, jupyterlab, ipykernel, ipywidgets, matplotlib, psutil; "
            "print(labsock.__file__); print(jupyterlab.__version__); print(ipykernel.__version__)",
        ],
        cwd=binder_venv.repo.parent,
        env=binder_venv.env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert probe.returncode == 0, probe.stderr[-2000:]
    where, lab, kernel = probe.stdout.split()
    assert Path(where).is_relative_to(binder_venv.repo), "labsock is not the repository's"
    assert tuple(int(x) for x in lab.split(".")[:2]) >= (4, 1), f"JupyterLab {lab}"
    assert tuple(int(x) for x in kernel.split(".")[:2]) >= (7, 1), f"ipykernel {kernel}"


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_binder_venv_runs_every_notebook_without_error(
    binder_venv: BinderVenv, tmp_path: Path
) -> None:
    notebooks = sorted(p.name for p in (binder_venv.repo / "notebooks").glob("*.ipynb"))
    assert notebooks, "no notebooks to run"
    out = tmp_path / "executed"
    run = subprocess.run(
        [str(binder_venv.python), "scripts/execute_notebooks.py", "--output-dir", str(out)],
        cwd=binder_venv.repo,
        env=binder_venv.env,
        capture_output=True,
        text=True,
        timeout=850,
        check=False,
    )
    assert run.returncode == 0, f"({binder_venv.note})\n{run.stdout}\n{run.stderr[-4000:]}"
    assert sorted(p.name for p in out.glob("*.ipynb")) == notebooks
