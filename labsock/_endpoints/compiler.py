"""Compiling C++ for the lesson: the compiler and strace this machine has, and builds.

:func:`compile_program` turns C++ source (a cell's text, or one of the
lesson's programs in ``labsock/cpp/``) into an executable, once per source:
the build is cached by a hash of the source, the compiler and its flags, in
the user's own cache folder. A compile error becomes a :class:`CompileError`
carrying the compiler's own diagnostics, with the cell's line numbers (a
``#line`` directive lets the compiler do the mapping; the cell's lines are
quoted under each error). :func:`preload_library` builds the loopback guard
that :mod:`labsock._endpoints.programs` loads into every program it runs.

:func:`compiler_status` and :func:`strace_status` say what this machine can
do, and why not (``LABSOCK_CXX=none`` / ``LABSOCK_STRACE=none`` act as if a
tool were missing).
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from labsock._core.errors import LabsockError, UsageError
from labsock._core.i18n import gettext as _
from labsock._core.i18n import ngettext

__all__ = [
    "CPP_FLAGS",
    "GUARD_MARK",
    "SOURCES",
    "CompileError",
    "Executable",
    "ProgramError",
    "compile_program",
    "compiler",
    "compiler_status",
    "preload_library",
    "strace_status",
]

#: The lesson's C++ sources (package data, lesson material).
SOURCES = Path(__file__).resolve().parent.parent / "cpp"
#: Flags every compile uses: C++17, warnings on, threads available.
CPP_FLAGS = ("-std=c++17", "-Wall", "-Wextra", "-O1", "-pthread")
#: How long a compile may take before it is given up.
COMPILE_TIMEOUT = 120.0
#: Diagnostic lines shown in a CompileError; the rest is counted.
_MAX_DIAGNOSTIC_LINES = 40


class ProgramError(LabsockError):
    """A C++ program could not be compiled, or its run went wrong."""


class CompileError(ProgramError):
    """The compiler refused the source; the message holds its diagnostics."""

    def __init__(self, message: str, diagnostics: str) -> None:
        super().__init__(message)
        self.diagnostics = diagnostics


# -- compiler and strace: what this machine has ---------------------------------
#: Environment variables: a compiler to use ("clang++"), or "none" to act as if
#: there were none; "none" for strace likewise (how the tests check the lesson's
#: fallbacks on a machine that has both).
CXX_ENV, STRACE_ENV = "LABSOCK_CXX", "LABSOCK_STRACE"


def compiler(preferred: str | None = None) -> str | None:
    """The C++ compiler to use: ``$LABSOCK_CXX``, ``$CXX``, g++, clang++; None if none."""
    if os.environ.get(CXX_ENV, "").lower() == "none":
        return None
    for name in (preferred, os.environ.get(CXX_ENV), os.environ.get("CXX"), "g++", "clang++"):
        if name:
            found = shutil.which(name)
            if found:
                return found
    return None


def compiler_status() -> tuple[bool, str]:
    """``(True, "g++ 12.2.0")`` or ``(False, why the lesson cannot compile here)``."""
    found = compiler()
    if found is None:
        return False, _(
            "no C++ compiler on this machine (g++ or clang++): the lesson shows the code "
            "and a recorded run instead. `make test` installs g++ with apt-get; on a hub, "
            "ask for the Debian package g++ (see docs/teaching-guide.md)."
        )
    return True, f"{Path(found).name} {_compiler_version(found)}"


@functools.cache
def _compiler_version(path: str) -> str:
    try:
        out = subprocess.run(
            [path, "-dumpfullversion", "-dumpversion"], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    return out.stdout.strip() or "?"


@functools.cache
def strace_status() -> tuple[bool, str]:
    """Whether strace can trace a child process here: ``(True, "strace 6.1")`` or the reason.

    Probed once per process, so the reason stays in the language of the first
    call (a Portuguese notebook chooses its language before that).
    """
    if os.environ.get(STRACE_ENV, "").lower() == "none":
        return False, _(
            "tracing is turned off here ({variable}=none); a recorded run is shown"
        ).format(variable=STRACE_ENV)
    path = shutil.which("strace")
    if path is None:
        return False, _(
            "strace is not installed, so the C++ program's calls cannot be recorded here "
            "(make test installs it with apt-get); a recorded run is shown instead"
        )
    try:
        probe = subprocess.run(
            [path, "-f", "-qq", "-e", "trace=close", "-o", os.devnull, "true"],
            capture_output=True,
            text=True,
            timeout=20,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, _("strace did not run: {error}").format(error=exc)
    if probe.returncode != 0:
        first = (probe.stderr.strip().splitlines() or [_("(no message)")])[0]
        return False, _(
            "this system forbids ptrace, which strace needs ({first}); containers often do. "
            "A recorded run is shown instead"
        ).format(first=first)
    version = subprocess.run([path, "-V"], capture_output=True, text=True, timeout=10).stdout
    return True, (version.splitlines() or ["strace"])[0].replace(" -- version", "")


# -- compiling -------------------------------------------------------------------
_private_build: Path | None = None


def _build_dir() -> Path:
    """Where builds are kept: ``$LABSOCK_BUILD_DIR``, else the user's cache folder.

    The folder must be this user's own and closed to others: on a shared hub,
    a folder someone else could write to could hand this user their program
    to run. Where no such folder can be had, a private one for this process.
    """
    global _private_build
    root = os.environ.get("LABSOCK_BUILD_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
        "labsock",
        "cpp",
    )
    path = Path(root)
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = path.stat()
        if info.st_uid == os.getuid() and not info.st_mode & 0o022:
            return path
    except OSError:
        pass
    if _private_build is None:
        _private_build = Path(tempfile.mkdtemp(prefix="labsock-cpp-"))
    return _private_build


@dataclass(frozen=True)
class Executable:
    """A compiled program: its name, the file to run, and the source it came from."""

    name: str
    path: Path
    source: str
    compiler: str

    def __str__(self) -> str:
        return _("{name} (compiled by {compiler})").format(
            name=self.name, compiler=Path(self.compiler).name
        )


_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")
_compile_lock = threading.Lock()


def compile_program(
    source: str,
    *,
    name: str = "program",
    first_line: int = 1,
    flags: tuple[str, ...] = (),
    cxx: str | None = None,
) -> Executable:
    """Compile C++ ``source`` (or one of the lesson's programs, by file name) once.

    Args:
        source: the program's text, or a file name of ``labsock/cpp``
            (``"tcp_server.cpp"``).
        name: what messages call it (and the executable's file name).
        first_line: the line number of the source's first line in its cell,
            so the compiler's diagnostics point at the cell's own lines.
        flags: extra compiler flags (the tests add ``-Werror``).
        cxx: a compiler to use instead of the default (``"clang++"``).

    Returns:
        The :class:`Executable`; compiling the same source again returns the
        cached build at once.

    Raises:
        ProgramError: no compiler here (the message says what to install).
        CompileError: the compiler refused the source; its diagnostics are
            in the message, with the cell's line numbers.
        UsageError: an empty source or a bad name.
    """
    if not isinstance(source, str) or not source.strip():
        raise UsageError(_("source must be C++ code (or a file name such as 'tcp_server.cpp')"))
    if not isinstance(name, str) or not _NAME.match(name):
        raise UsageError(
            _("name must be a short word such as 'my_server', not {name!r}").format(name=name)
        )
    path = compiler(cxx)
    if path is None:
        raise ProgramError(compiler_status()[1])
    label = f"{name}.cpp"
    if "\n" not in source and source.strip().endswith((".cpp", ".cc")):
        label = source.strip()
        file = SOURCES / label
        if not file.is_file():
            known = ", ".join(sorted(p.name for p in SOURCES.glob("*.cpp")))
            raise UsageError(
                _("no lesson program called {label!r}; there are: {known}").format(
                    label=label, known=known
                )
            )
        source = file.read_text(encoding="utf-8")
        name = file.stem
        text = source
    else:
        # The compiler itself maps its diagnostics to the cell's lines.
        label = "cell"
        text = f'#line {int(first_line)} "cell"\n{source}'
    header = (SOURCES / "socket.hpp").read_bytes()
    command = [path, *CPP_FLAGS, *flags, f"-I{SOURCES}", "-fdiagnostics-color=never"]
    key = hashlib.sha256(
        b"\0".join(
            [text.encode(), header, " ".join(command).encode(), _compiler_version(path).encode()]
        )
    ).hexdigest()[:20]
    build = _build_dir() / key
    exe = build / name
    if exe.is_file():
        return Executable(name, exe, source, path)
    with _compile_lock:
        build.mkdir(parents=True, exist_ok=True)
        src = build / f"{name}.cpp"
        src.write_text(text, encoding="utf-8")
        partial = build / f".{name}.{os.getpid()}.part"
        try:
            done = subprocess.run(
                [*command, "-x", "c++", src.name, "-o", partial.name],
                cwd=build,
                capture_output=True,
                text=True,
                timeout=COMPILE_TIMEOUT,
            )
        except subprocess.TimeoutExpired as exc:
            raise ProgramError(
                _("compiling {name} took longer than {seconds:.0f} s and was stopped").format(
                    name=name, seconds=COMPILE_TIMEOUT
                )
            ) from exc
        if done.returncode != 0:
            partial.unlink(missing_ok=True)
            diagnostics = done.stderr.replace(f"{src.name}:", f"{label}:")
            if label == "cell":
                diagnostics = _quote_cell_lines(diagnostics, source, first_line)
            raise CompileError(_compile_message(name, diagnostics, label), diagnostics)
        os.replace(partial, exe)  # atomic: another kernel never runs half a file
    return Executable(name, exe, source, path)


_CELL_LOCATION = re.compile(r"^cell:(\d+):\d+: (?:error|warning)")


def _quote_cell_lines(diagnostics: str, source: str, first_line: int) -> str:
    """Under each ``cell:N:C: error`` line, the cell's line N (the compiler cannot quote it)."""
    lines = source.splitlines()
    out = []
    for line in diagnostics.splitlines():
        out.append(line)
        match = _CELL_LOCATION.match(line)
        if match is not None:
            index = int(match[1]) - first_line
            if 0 <= index < len(lines):
                out.append(f"{int(match[1]):5d} | {lines[index]}")
    return "\n".join(out) + "\n"


def _compile_message(name: str, diagnostics: str, label: str) -> str:
    lines = diagnostics.rstrip().splitlines()
    more = len(lines) - _MAX_DIAGNOSTIC_LINES
    shown = "\n".join(lines[:_MAX_DIAGNOSTIC_LINES])
    if more > 0:
        shown += "\n" + _("... ({n} more lines)").format(n=more)
    where = (
        _("the line numbers are the cell's")
        if label == "cell"
        else _("in {file}").format(file=label)
    )
    errors = sum(1 for line in lines if ": error:" in line)
    return ngettext(
        "{name} does not compile ({n} error; {where}). The compiler says:\n{shown}",
        "{name} does not compile ({n} errors; {where}). The compiler says:\n{shown}",
        errors,
    ).format(name=name, n=errors, where=where, shown=shown)


# -- the loopback guard inside the program (Linux) -----------------------------------
_PRELOAD_SOURCE = Path(__file__).resolve().parent / "loopback_preload.c"
#: What the preloaded library writes to standard error when it refuses a call.
GUARD_MARK = "labsock-guard: refused"


@functools.cache
def preload_library() -> tuple[Path | None, str]:
    """The loopback guard as a library to preload into programs, built once; or why not.

    Returns ``(path, "")`` on Linux with a compiler, else ``(None, reason)``.
    """
    if not sys.platform.startswith("linux"):
        return None, "the in-program guard uses LD_PRELOAD, which is Linux's"
    path = compiler()
    if path is None:
        return None, "no compiler"
    text = _PRELOAD_SOURCE.read_bytes()
    key = hashlib.sha256(text + path.encode() + _compiler_version(path).encode()).hexdigest()[:20]
    build = _build_dir() / f"guard-{key}"
    library = build / "libloopback_guard.so"
    if library.is_file():
        return library, ""
    build.mkdir(parents=True, exist_ok=True)
    partial = build / f".guard.{os.getpid()}.part"
    done = subprocess.run(
        [path, "-x", "c", "-O1", "-shared", "-fPIC", "-o", str(partial), str(_PRELOAD_SOURCE)],
        capture_output=True,
        text=True,
        timeout=COMPILE_TIMEOUT,
        check=False,
    )
    if done.returncode != 0:
        partial.unlink(missing_ok=True)
        return None, _("the guard library did not compile: {error}").format(
            error=done.stderr.strip()[:300]
        )
    os.replace(partial, library)
    return library, ""
