"""The C++ lesson's notebook side: compile, run, show and compare C++ programs.

Re-exported by :mod:`labsock.cpp` (its public face), which lesson ``05_cpp``
uses. The programs themselves are child-process endpoints
(:mod:`labsock._endpoints.programs`); this module is what a notebook cell
calls: :func:`start`/:func:`run` by a lesson program's name, :func:`show`
for highlighted source, :func:`side_by_side` for two traces or two figures,
:func:`life_cycle` to compare traces, :func:`recorded_run` where nothing can
be compiled or traced, and the ``%%cpp`` cell magic.
"""

from __future__ import annotations

import io
import json
import shlex
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from labsock._core.errors import LabsockError, UsageError
from labsock._core.i18n import gettext as _
from labsock._endpoints import strace as _strace
from labsock._endpoints.compiler import (
    SOURCES,
    Executable,
    compile_program,
    compiler_status,
    strace_status,
)
from labsock._endpoints.programs import Program, ProgramTimeout
from labsock._endpoints.trace import Trace, TraceEvent

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "RecordedRun",
    "SourceView",
    "available",
    "build",
    "life_cycle",
    "load_ipython_extension",
    "programs",
    "recorded_run",
    "run",
    "show",
    "side_by_side",
    "source",
    "start",
    "tracing",
]

#: The calls of the course material; every other call name maps onto one of them.
_MATERIAL = {
    "sendall": "send",
    "sendto": "send",
    "recv_into": "recv",
    "recvfrom": "recv",
    "recvfrom_into": "recv",
    "accept4": "accept",
}
_RECORDED = SOURCES / "recorded_echo.json"


def available() -> tuple[bool, str]:
    """``(True, "g++ 12.2.0")`` when C++ can be compiled here, else ``(False, why)``."""
    return compiler_status()


def tracing() -> tuple[bool, str]:
    """``(True, "strace 6.1")`` when a program's calls can be recorded, else ``(False, why)``."""
    return strace_status()


def programs() -> list[str]:
    """The file names of the lesson's C++ sources."""
    return sorted(p.name for p in SOURCES.iterdir() if p.suffix in (".cpp", ".hpp"))


def source(name: str) -> str:
    """The text of one of the lesson's sources (``"tcp_server.cpp"``, ``"socket.hpp"``).

    Raises UsageError for a name that is not one of :func:`programs`.
    """
    if name not in programs():
        raise UsageError(
            _("no lesson source called {name!r}; there are: {sources}").format(
                name=name, sources=", ".join(programs())
            )
        )
    return (SOURCES / name).read_text(encoding="utf-8")


class SourceView:
    """C++ source as the notebook shows it: highlighted HTML, a Markdown code block, text."""

    def __init__(self, text: str) -> None:
        self.text = text

    def _repr_html_(self) -> str:
        from pygments import highlight  # type: ignore[import-untyped,unused-ignore]
        from pygments.formatters import HtmlFormatter  # type: ignore[import-untyped,unused-ignore]
        from pygments.lexers import CppLexer  # type: ignore[import-untyped,unused-ignore]

        # Inline styles: no stylesheet of its own in the output (a page exported
        # to HTML keeps the colours and gains no CSS rules).
        return str(highlight(self.text, CppLexer(), HtmlFormatter(noclasses=True)))

    def _repr_markdown_(self) -> str:
        fence = "````" if "```" in self.text else "```"
        return f"{fence}cpp\n{self.text}\n{fence}"

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return self.text


def show(name: str, *, lines: tuple[int, int] | None = None) -> SourceView:
    """One source, highlighted as C++ (displayed by the notebook; ``str()`` is the text).

    ``lines=(first, last)`` shows only those lines (numbered from 1).
    Raises UsageError for a name that is not one of :func:`programs`.
    """
    text = source(name)
    if lines is not None:
        first, last = lines
        text = "\n".join(text.splitlines()[first - 1 : last])
    return SourceView(text)


def build(program: str | Executable, *, flags: tuple[str, ...] = ()) -> Executable:
    """Compile a lesson program (``"tcp_server"``) or C++ source text, once.

    See :func:`labsock._endpoints.compiler.compile_program` for what it raises.
    """
    if isinstance(program, Executable):
        return program
    if isinstance(program, str) and "\n" not in program and not program.endswith(".cpp"):
        program = f"{program}.cpp"
    return compile_program(program, flags=flags)


def start(
    program: str | Executable,
    *args: object,
    timeout: float = 10.0,
    stdin: bytes | None = None,
    trace: Trace | None = None,
    actor: str | None = None,
    ready: str | None = None,
) -> Program:
    """Compile (once) and start a program; return the running :class:`Program`.

    Args:
        program: a lesson program's name (``"tcp_server"``), or an
            :class:`Executable` from :func:`build`.
        args: its command-line arguments (``"127.0.0.1", 0, 1``).
        timeout: seconds it may run before it is killed.
        stdin: bytes for its standard input.
        trace: record its socket calls into this trace (runs under strace).
        actor: its name in the trace (default: the program's name).
        ready: wait until it prints a line containing this text (a server's
            ``"listening"``) before returning.

    Raises:
        ProgramError and its kinds: no compiler, a compile error, an address
        that is not loopback, or (with ``ready``) a program that ended first.

    Example:
        >>> from labsock import cpp
        >>> server = cpp.start("tcp_server", "127.0.0.1", 0, 1, ready="listening")
        >>> reply = cpp.run("tcp_client", "127.0.0.1", server.port, "hi")
        >>> print(reply.stdout.splitlines()[-1])
        received 2 bytes: hi
        >>> _ = server.wait()
    """
    exe = build(program)
    running = Program(exe, args, timeout=timeout, stdin=stdin, trace=trace, actor=actor)
    if ready is not None:
        try:
            running.wait_for_output(ready, timeout=min(timeout, 10.0))
        except BaseException:
            running.close()
            raise
    return running


def run(
    program: str | Executable,
    *args: object,
    timeout: float = 10.0,
    stdin: bytes | None = None,
    trace: Trace | None = None,
    actor: str | None = None,
) -> Program:
    """Compile (once), run a program to its end, and return it (``.stdout``, ``.returncode``).

    Raises what :meth:`Program.wait` raises: a crash, a timeout, a failure.
    """
    running = start(program, *args, timeout=timeout, stdin=stdin, trace=trace, actor=actor)
    try:
        return running.wait()
    finally:
        running.close()


def life_cycle(trace: Trace | Iterable[TraceEvent], actor: str) -> list[str]:
    """The material's calls one actor made, in order, repeats merged.

    ``sendall``/``sendto`` count as ``send``, ``recvfrom`` as ``recv``; the
    actor's accepted connections (``server#1``) count as the actor. This is
    the shape in which a C++ trace and a Python trace can be compared.
    """
    events = trace.events if isinstance(trace, Trace) else tuple(trace)
    shape: list[str] = []
    for e in events:
        if e.role != actor:
            continue
        call = _MATERIAL.get(e.call, e.call)
        if not shape or shape[-1] != call:
            shape.append(call)
    return shape


class RecordedRun:
    """A run of the C++ echo server and client, recorded where strace worked.

    Attributes:
        trace: its socket calls, as a :class:`Trace`.
        outputs: what each program printed, by actor.
        recorded_on: the compiler and strace that recorded it.
    """

    def __init__(self, trace: Trace, outputs: dict[str, str], recorded_on: str) -> None:
        self.trace = trace
        self.outputs = outputs
        self.recorded_on = recorded_on

    def __repr__(self) -> str:
        return f"<RecordedRun {self.recorded_on}: {self.trace!r}>"


def recorded_run() -> RecordedRun:
    """The recorded run shipped with labsock (for machines without g++ or strace)."""
    data = json.loads(_RECORDED.read_text(encoding="utf-8"))
    trace = Trace()
    first = min(call.start for text in data["strace"].values() for call in _strace.parse(text))
    for actor, text in data["strace"].items():
        _strace.record(trace, text, actor, started=first - 0.001)
    return RecordedRun(trace, dict(data["outputs"]), str(data["recorded_on"]))


def side_by_side(
    left: Trace | Figure, right: Trace | Figure, *, titles: tuple[str, str] = ("Python", "C++")
) -> Any:
    """Two traces (Mermaid diagrams) or two figures (timed plots), side by side.

    Returns what the notebook displays: for traces, a Markdown table whose
    two cells hold the Mermaid diagrams (JupyterLab 4.1+ draws them); for
    figures, one figure holding the two, each under its title.
    """
    from IPython.display import Markdown

    if isinstance(left, Trace) and isinstance(right, Trace):
        cells = [
            f"\n\n**{title}**\n\n```mermaid\n{trace.to_mermaid()}\n```\n\n"
            for title, trace in zip(titles, (left, right), strict=True)
        ]
        return Markdown(  # type: ignore[no-untyped-call]
            '<table><tr><td style="vertical-align:top">'
            + '</td><td style="vertical-align:top">'.join(cells)
            + "</td></tr></table>"
        )
    from matplotlib.image import imread

    from labsock._viz.style import LabFigure

    pictures = []
    for figure in (left, right):
        if isinstance(figure, Trace):
            raise UsageError(_("give two traces or two figures, not one of each"))
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=100, facecolor="white")
        buffer.seek(0)
        pictures.append(imread(buffer, format="png"))
    dpi = 100.0
    height = max(p.shape[0] for p in pictures) / dpi
    widths = [p.shape[1] / dpi for p in pictures]
    both = LabFigure(figsize=(sum(widths), height + 0.3), dpi=dpi)
    axes = both.subplots(1, 2, gridspec_kw={"width_ratios": widths})
    for ax, picture, title in zip(axes, pictures, titles, strict=True):
        ax.imshow(picture, interpolation="none")
        ax.set_title(title, fontsize=12, fontweight="bold")
        ax.set_axis_off()
    both.subplots_adjust(left=0, right=1, bottom=0, top=1 - 0.3 / (height + 0.3), wspace=0.02)
    return both


# -- the %%cpp cell magic -----------------------------------------------------------
def _usage() -> str:
    return _("usage: %%cpp NAME [--background] [--timeout SECONDS] [ARGS ...]")


def _cpp_magic(line: str, cell: str) -> None:
    """Compile the cell as program NAME, run it with ARGS, print its output.

    NAME then holds the :class:`Program` (or, if it did not compile, the
    :class:`CompileError`, whose message was printed).
    """
    from IPython import get_ipython

    try:
        words = shlex.split(line)
    except ValueError as exc:
        print(f"{_usage()} ({exc})", file=sys.stderr)
        return
    background, timeout, rest = False, 10.0, []
    i = 0
    while i < len(words):
        if words[i] == "--background":
            background = True
        elif words[i] == "--timeout" and i + 1 < len(words):
            i += 1
            try:
                timeout = float(words[i])
            except ValueError:
                print(
                    _("--timeout needs a number of seconds, not {value}").format(
                        value=repr(words[i])
                    ),
                    file=sys.stderr,
                )
                return
        else:
            rest.append(words[i])
        i += 1
    if not rest:
        print(_usage(), file=sys.stderr)
        return
    name, args = rest[0], rest[1:]
    ok, why = available()
    if not ok:
        print(why, file=sys.stderr)
        return
    shell = get_ipython()
    program: Program | None = None
    try:
        # The magic's own line is the cell's line 1: C++ starts on line 2.
        exe = compile_program(cell, name=name, first_line=2)
        program = Program(exe, args, timeout=timeout)
        if shell is not None:
            shell.user_ns[name] = program
        if background:
            try:
                first = program.wait_for_output("", timeout=min(timeout, 5.0))
            except ProgramTimeout:
                first = _("(nothing printed yet)")
            print(
                _("{name} is running (pid {pid}): {first}").format(
                    name=name, pid=program.pid, first=first
                )
            )
            print(
                _("{name}.wait() waits for its end; re-running this cell stops it.").format(
                    name=name
                )
            )
            return
        program.wait()
    except LabsockError as exc:
        # Student code: the message is the whole story; a traceback (or even
        # the class name) would only hide it. A program that did not compile
        # leaves its error under NAME (a check, or the student, can look at it);
        # one that ran and failed stays there as the Program it is.
        if shell is not None and program is None:
            shell.user_ns[name] = exc.with_traceback(None)
        print(exc, file=sys.stderr)
        return
    if program.stdout:
        print(program.stdout, end="" if program.stdout.endswith("\n") else "\n")
    if program.stderr:
        print(program.stderr, end="", file=sys.stderr)


def load_ipython_extension(ipython: Any) -> None:
    """Add ``%%cpp`` to IPython (``%load_ext labsock.cpp``)."""
    ipython.register_magic_function(_cpp_magic, magic_kind="cell", magic_name="cpp")
