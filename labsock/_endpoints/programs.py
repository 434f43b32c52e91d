"""C++ programs run as child processes, like endpoints.

A :class:`Program` is one run of an executable that
:func:`~labsock._endpoints.compiler.compile_program` built. It is an endpoint: it is
registered, so re-running the cell that started it, ``labsock.close_all()``
and kernel shutdown stop it; it has a lifetime limit (``timeout``), after
which it is killed; its standard output and error are collected by threads
and come back as text. How it ended is turned into one clear error:
:class:`ProgramCrashed` (a signal such as a segmentation fault),
:class:`ProgramTimeout` (it did not finish in time), :class:`ProgramFailed`
(it exited with a non-zero status; :class:`ProgramAddressInUse` when it
said its port was in use) or a loopback refusal.

Loopback only, at three points, all deciding with labsock's one guard:

* before the program starts, every argument that is an IP address is checked
  (:func:`check_arguments`): a non-loopback address is refused before any
  process exists;
* inside the program, on Linux: a small library preloaded into it
  (``loopback_preload.c``, ``LD_PRELOAD``) refuses each ``connect``,
  ``sendto``, ``sendmsg``, ``bind`` and multicast ``setsockopt`` beyond
  loopback *before* the system call, and says so on standard error; the
  program is then stopped with :class:`~labsock.NotLoopback`. It cannot see
  a statically linked program, raw system calls, or the C library's own
  resolver;
* while it runs under ``strace`` (``trace=...``, where ptrace is allowed),
  every such call is also read from the trace as it happens
  (:func:`check_call`), and a program that names a non-loopback address is
  killed at once: this catches what the library cannot see, but only after
  the call was made.

Tracing: with ``trace=`` a :class:`~labsock._trace.Trace`, the program runs
unmodified under ``strace -f -ttt -T -e trace=network,close`` and its socket
calls are added to that trace when it ends (:mod:`labsock._endpoints.strace`).
:func:`strace_status` says whether that works here, and why not.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from labsock._core.errors import AddressInUse, LabsockError, NotLoopback, UsageError
from labsock._core.guard import Role, network_allowed, refusal
from labsock._core.i18n import N_
from labsock._core.i18n import gettext as _
from labsock._endpoints import strace as strace_reader
from labsock._endpoints.base import Endpoint
from labsock._endpoints.compiler import (
    GUARD_MARK,
    Executable,
    ProgramError,
    preload_library,
    strace_status,
)
from labsock._endpoints.trace import Trace

__all__ = [
    "Program",
    "ProgramAddressInUse",
    "ProgramCrashed",
    "ProgramFailed",
    "ProgramTimeout",
    "check_arguments",
    "check_call",
]

#: How long close() waits for a killed program to be reaped.
_REAP_TIMEOUT = 5.0


class ProgramCrashed(ProgramError):
    """The program was killed by a signal it caused (segmentation fault, abort)."""


class ProgramTimeout(ProgramError, TimeoutError):
    """The program did not finish within its time limit and was stopped."""


class ProgramFailed(ProgramError):
    """The program exited with a non-zero status (it reported an error)."""


class ProgramAddressInUse(ProgramFailed, AddressInUse):
    """The program could not bind: its port is held by another socket."""


# -- the loopback guard --------------------------------------------------------
# The decision is labsock's one guard (labsock._core.guard); this is only where
# a program's arguments and its traced calls are handed to it.
#: Groups the course's multicast receivers may bind and join (labsock draws from it).
_COURSE_GROUPS = ipaddress.ip_network("239.255.0.0/16")


def _refuse(what: str, host: str, role: Role) -> None:
    """Raise NotLoopback if the numeric ``host`` may not be used as ``role``."""
    verdict = refusal(host, role, allowed=network_allowed())
    if verdict is None:
        return
    reason, liftable = verdict
    raise NotLoopback(
        _(
            "{what} {host}: refused. {reason} The course runs on shared machines, and nothing "
            "it does may leave the machine. Use 127.0.0.1 (and port 0 for a server)."
        ).format(what=what, host=host, reason=reason)
        + (_(" (A teacher can lift this rule: see the teaching guide.)") if liftable else "")
    )


def _is_course_group(host: str) -> bool:
    try:
        return ipaddress.ip_address(host) in _COURSE_GROUPS
    except ValueError:
        return False


def _ip_literal(text: str) -> str | None:
    """The host of ``text`` if it is an IP address (``host`` or ``host:port``)."""
    for candidate in (text, text.rsplit(":", 1)[0].strip("[]")):
        try:
            ipaddress.ip_address(candidate.split("%", 1)[0])
        except ValueError:
            continue
        return candidate
    return None


def check_arguments(args: Sequence[str], *, what: str) -> None:
    """Refuse a program whose arguments name an address that is not loopback.

    A group of 239.255.0.0/16 passes: the lesson's multicast receiver binds
    and joins it on the loopback interface (its calls are watched when
    traced). Words that are not IP addresses are left alone: looking them up
    as host names could itself send a query beyond this machine.

    Raises:
        NotLoopback: before anything runs.
    """
    for arg in args:
        host = _ip_literal(arg)
        if host is not None and not _is_course_group(host):
            _refuse(_("{program}: its argument").format(program=what), host, "destination")


_MEMBERSHIP = re.compile(r'imr_interface=inet_addr\("(?P<host>[^"]+)"\)')
_TTL_OPTION = re.compile(r"IP_MULTICAST_TTL, \[(?P<ttl>\d+)\]")


def check_call(call: strace_reader.Call, *, what: str) -> None:
    """Refuse one traced system call that names an address beyond loopback.

    ``connect``/``sendto``/``sendmsg`` to anything but loopback (a multicast
    group included: sent from a program, nothing says it stays on loopback);
    ``bind`` outside loopback (a course group excepted: a receiver binds its
    group); joining a group on an interface other than 127.0.0.1; a
    multicast TTL above 1.

    Raises:
        NotLoopback: saying which call and why.
    """
    if call.name in ("connect", "sendto", "sendmsg"):
        for host, _port in strace_reader.socket_addresses(call.args):
            _refuse(
                _("{program}: {call} to").format(program=what, call=call.name), host, "destination"
            )
    elif call.name == "bind":
        for host, _port in strace_reader.socket_addresses(call.args):
            if not _is_course_group(host):
                _refuse(_("{program}: bind to").format(program=what), host, "bind")
    elif call.name == "setsockopt":
        joined = _MEMBERSHIP.search(call.args)
        if joined is not None and not ipaddress.ip_address(joined["host"]).is_loopback:
            raise NotLoopback(
                _(
                    "{program}: joined a multicast group on interface {interface}: the join "
                    "leaves the machine there. Join with imr_interface 127.0.0.1."
                ).format(program=what, interface=joined["host"])
            )
        ttl = _TTL_OPTION.search(call.args)
        if ttl is not None and int(ttl["ttl"]) > 1:
            raise NotLoopback(
                _(
                    "{program}: IP_MULTICAST_TTL {ttl} would let routers forward its "
                    "datagrams beyond this machine. Use 1 (or 0)."
                ).format(program=what, ttl=ttl["ttl"])
            )


# -- running -------------------------------------------------------------------
_ADDRESS_LINE = re.compile(r"(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})")
_SIGNALS: dict[int, str] = {
    signal.SIGSEGV.value: N_(
        "a segmentation fault (SIGSEGV): it read or wrote memory it does "
        "not own, often a null or dangling pointer, or an index past the end of an array"
    ),
    signal.SIGABRT.value: N_(
        "an abort (SIGABRT): an uncaught exception or a failed assert; "
        "standard error below says which"
    ),
    signal.SIGFPE.value: N_("an arithmetic fault (SIGFPE), such as a division by zero"),
    signal.SIGBUS.value: N_("a bus error (SIGBUS): memory it cannot reach"),
    signal.SIGILL.value: N_("an illegal instruction (SIGILL)"),
    signal.SIGPIPE.value: N_(
        "SIGPIPE: it wrote to a connection the peer had closed "
        "(send with MSG_NOSIGNAL turns that into an error instead)"
    ),
}


class Program(Endpoint):
    """One run of a compiled program, as a child process on loopback.

    Args:
        executable: what :func:`compile_program` returned.
        args: its command-line arguments (numbers are turned into text).
        timeout: seconds it may run in all; then it is killed and
            :meth:`wait` raises :class:`ProgramTimeout`.
        stdin: bytes given on its standard input (None: nothing).
        trace: a :class:`Trace` to record its socket calls into (it runs
            under strace; see :func:`strace_status`).
        actor: the name its calls carry in the trace (``"server"``).

    Raises:
        NotLoopback: an argument names an address that is
            not loopback; nothing was started.
        ProgramError: tracing was asked for where strace cannot run.

    Example:
        >>> from labsock._endpoints.compiler import compile_program
        >>> exe = compile_program('int main() { return 0; }', name="nothing")
        >>> with Program(exe) as run:
        ...     run.wait().returncode
        0
    """

    kind = N_("C++ program")

    def __init__(
        self,
        executable: Executable,
        args: Sequence[object] = (),
        *,
        timeout: float = 10.0,
        stdin: bytes | None = None,
        trace: Trace | None = None,
        actor: str | None = None,
    ) -> None:
        if not isinstance(executable, Executable):
            raise UsageError(_("executable must come from compile_program()"))
        if not isinstance(timeout, (int, float)) or not 0 < timeout <= 3600:
            raise UsageError(
                _("timeout must be a number of seconds up to 3600, not {value!r}").format(
                    value=timeout
                )
            )
        if stdin is not None and not isinstance(stdin, (bytes, bytearray)):
            raise UsageError(_("stdin must be bytes (use 'text'.encode())"))
        if trace is not None and not isinstance(trace, Trace):
            raise UsageError(_("trace must be a labsock.Trace"))
        self.name = executable.name
        self.args = tuple(str(a) for a in args)
        check_arguments(self.args, what=self.name)
        if trace is not None:
            ok, why = strace_status()
            if not ok:
                raise ProgramError(
                    _("cannot trace {program}: {why}").format(program=self.name, why=why)
                )
        super().__init__()
        self.executable = executable
        self.actor = actor or self.name
        self.timeout = float(timeout)
        self._trace = trace
        self._stdout = bytearray()
        self._stderr = bytearray()
        self._output = threading.Condition()
        self._killed_for: str | None = None
        self._guard_error: LabsockError | None = None
        self._stopped = False
        self._strace_file: Path | None = None
        command = [str(executable.path), *self.args]
        env = dict(os.environ)
        library, _why = preload_library()
        if library is not None and trace is None:
            env["LD_PRELOAD"] = " ".join(filter(None, [str(library), env.get("LD_PRELOAD")]))
        if trace is not None:
            fd, name = tempfile.mkstemp(prefix=f"{self.name}-", suffix=".strace")
            os.close(fd)
            self._strace_file = Path(name)
            # -f follows the program's threads; -ttt -T: when, and how long it blocked.
            command = [
                shutil.which("strace") or "strace",
                *("-f", "-qq", "-ttt", "-T", "-s", "64", "-e", "trace=network,close"),
                # The guard goes into the program only, not into strace.
                *(("-E", f"LD_PRELOAD={library}") if library is not None else ()),
                *("-o", name, *command),
            ]
        self.started = time.monotonic()
        # A session of its own: close() kills the whole group (strace and its tracee).
        try:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
                env=env,
            )
        except OSError as exc:
            if self._strace_file is not None:
                self._strace_file.unlink(missing_ok=True)
            raise ProgramError(
                _("{program} could not be started: {error}").format(program=self.name, error=exc)
            ) from exc
        self._start_worker(lambda: self._collect(self._process.stdout, self._stdout), "stdout")
        self._start_worker(
            lambda: self._collect(self._process.stderr, self._stderr, watch=True), "stderr"
        )
        if stdin is not None:
            self._start_worker(lambda: self._feed(bytes(stdin)), "stdin")
        self._watcher = self._start_worker(self._watch, f"watch-{self._process.pid}")
        self._register()

    # -- workers ---------------------------------------------------------------
    def _collect(self, pipe: object, into: bytearray, *, watch: bool = False) -> None:
        assert pipe is not None
        read = pipe.read1 if hasattr(pipe, "read1") else pipe.read  # type: ignore[attr-defined]
        mark = GUARD_MARK.encode()
        while True:
            chunk = read(65536)
            if not chunk:
                return
            with self._output:
                into += chunk
                self._output.notify_all()
                refused = watch and self._killed_for is None and mark in into
                text = into.decode("utf-8", "replace") if refused else ""
            if refused:
                # The guard inside the program refused a call before it was made:
                # stop the program, and say which call.
                line = next(x for x in text.splitlines() if GUARD_MARK in x)
                what = line.split(GUARD_MARK, 1)[1].strip()
                self._kill(
                    line,
                    guard=NotLoopback(
                        _(
                            "{program}: labsock refused its {call} (before the call was made). "
                            "The course runs on shared machines, and nothing it does may leave "
                            "the machine: use 127.0.0.1."
                        ).format(program=self.name, call=what)
                    ),
                )

    def _feed(self, data: bytes) -> None:
        stdin = self._process.stdin
        assert stdin is not None
        try:
            stdin.write(data)
        except (BrokenPipeError, OSError):
            pass  # it stopped reading: what it did is in its output and status
        finally:
            try:
                stdin.close()
            except OSError:
                pass

    def _watch(self) -> None:
        # Kill at the deadline; meanwhile read strace's record as it grows and
        # stop the program at its first call that names a non-loopback address.
        deadline = self.started + self.timeout
        seen = 0
        while True:
            try:
                self._process.wait(timeout=0.05)
            except subprocess.TimeoutExpired:
                pass
            else:
                break
            if self._strace_file is not None:
                seen = self._check_trace(seen)
            if time.monotonic() > deadline:
                self._kill(_("it did not finish within {seconds:g} s").format(seconds=self.timeout))
        if self._strace_file is not None:
            self._check_trace(seen)

    def _check_trace(self, seen: int) -> int:
        assert self._strace_file is not None
        try:
            with open(self._strace_file, encoding="utf-8", errors="replace") as f:
                f.seek(seen)
                text = f.read()
        except OSError:
            return seen
        complete = text.rfind("\n") + 1
        for call in strace_reader.parse(text[:complete]):
            try:
                check_call(call, what=self.name)
            except NotLoopback as exc:
                self._kill(str(exc), guard=exc)
        return seen + len(text[:complete].encode("utf-8"))

    def _kill(self, why: str, guard: LabsockError | None = None) -> None:
        if self._killed_for is None:
            self._killed_for = why
            self._guard_error = guard
        try:
            os.killpg(self._process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    # -- endpoint life cycle ---------------------------------------------------------
    def _wake(self) -> None:
        if self._process.poll() is None:
            self._stopped = True
            try:
                os.killpg(self._process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    def _release(self) -> None:
        try:
            self._process.wait(_REAP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pass
        for pipe in (self._process.stdin, self._process.stdout, self._process.stderr):
            if pipe is not None:
                try:
                    pipe.close()
                except OSError:
                    pass
        self._record_trace()

    def _record_trace(self) -> None:
        if self._strace_file is None:
            return
        file, self._strace_file = self._strace_file, None
        try:
            text = file.read_text(encoding="utf-8", errors="replace")
        except OSError:
            text = ""
        finally:
            file.unlink(missing_ok=True)
        if self._trace is not None:
            strace_reader.record(self._trace, text, self.actor)

    # -- reading ---------------------------------------------------------------------
    @property
    def pid(self) -> int:
        """The child's process id (strace's, when traced)."""
        return self._process.pid

    @property
    def running(self) -> bool:
        """True while the child process has not ended."""
        return self._process.poll() is None

    @property
    def returncode(self) -> int | None:
        """Its exit status (negative: killed by that signal), None while running."""
        return self._process.poll()

    @property
    def stdout_bytes(self) -> bytes:
        """Everything it wrote to standard output so far."""
        with self._output:
            return bytes(self._stdout)

    @property
    def stdout(self) -> str:
        """Its standard output so far, as text."""
        return self.stdout_bytes.decode("utf-8", "replace")

    @property
    def stderr(self) -> str:
        """Its standard error so far, as text."""
        with self._output:
            return bytes(self._stderr).decode("utf-8", "replace")

    def wait_for_output(self, text: str, timeout: float = 5.0) -> str:
        """Wait until a line containing ``text`` is printed; return that line.

        Raises:
            ProgramError: the program ended without printing it (its error
                is in the message), or ``timeout`` seconds went by.
        """
        deadline = time.monotonic() + timeout
        with self._output:
            while True:
                for line in bytes(self._stdout).decode("utf-8", "replace").splitlines():
                    if text in line:
                        return line
                ended = self._process.poll() is not None and not self._readers_alive()
                left = deadline - time.monotonic()
                if ended or left <= 0:
                    break
                self._output.wait(min(left, 0.05))
        if ended:
            self.wait()  # raises what went wrong, if anything did
            raise ProgramError(
                _("{program} ended without printing {text!r}:\n{output}").format(
                    program=self.name, text=text, output=self.stdout
                )
            )
        raise ProgramTimeout(
            _(
                "{program} did not print {text!r} within {seconds:g} s; it is still running "
                "(labsock.close_all() stops it)"
            ).format(program=self.name, text=text, seconds=timeout)
        )

    def _readers_alive(self) -> bool:
        return any(t.is_alive() for t in self._threads if "std" in t.name)

    @property
    def address(self) -> tuple[str, int]:
        """The ``(host, port)`` of its first output line that names one (where it listens).

        Raises ProgramError when it printed no address (yet).
        """
        match = _ADDRESS_LINE.search(self.stdout)
        if match is None:
            raise ProgramError(
                _("{program} has printed no address yet; output:\n{output}").format(
                    program=self.name, output=self.stdout
                )
            )
        return match[1], int(match[2])

    @property
    def port(self) -> int:
        """The port of :attr:`address`."""
        return self.address[1]

    def wait(self, timeout: float | None = None) -> Program:
        """Wait for the program to end (its time limit at most); return it.

        Raises:
            ProgramTimeout: it ran past its time limit and was killed (or is
                still running after ``timeout`` seconds).
            ProgramCrashed: a signal such as SIGSEGV ended it.
            ProgramFailed: it exited with a non-zero status;
                ProgramAddressInUse when it could not bind a port in use.
            NotLoopback: it was stopped for naming an
                address that is not loopback.
        """
        limit = self.timeout + _REAP_TIMEOUT if timeout is None else timeout
        self._watcher.join(limit)
        if self._watcher.is_alive():
            raise ProgramTimeout(
                _(
                    "{program} is still running after {seconds:g} s; labsock.close_all() stops it"
                ).format(program=self.name, seconds=limit)
            )
        for thread in self._threads:
            thread.join(_REAP_TIMEOUT)
        self.close()
        self._raise_for_status()
        return self

    def _raise_for_status(self) -> None:
        code = self._process.returncode
        tail = _tail(self.stderr) or _tail(self.stdout)
        said = _("\nIt printed:\n{output}").format(output=tail) if tail else ""
        if self._killed_for is not None:
            guard = self._guard_error
            if guard is not None:
                raise type(guard)(
                    _("{error} The program was stopped.").format(error=guard)
                ) from guard
            raise ProgramTimeout(
                _(
                    "{program} was stopped: {why}. Does it wait for something "
                    "that never comes (a client, a reply)? Give it a timeout (set_timeout)."
                ).format(program=self.name, why=self._killed_for)
                + said
            )
        if self._stopped or code is None or code == 0:
            return
        if code < 0:
            number = -code
            try:
                name = signal.Signals(number).name
            except ValueError:
                name = _("signal {number}").format(number=number)
            what = _(_SIGNALS[number]) if number in _SIGNALS else name
            raise ProgramCrashed(
                _("{program} crashed with {what}.").format(program=self.name, what=what) + said
            )
        if "Address already in use" in self.stderr:
            raise ProgramAddressInUse(
                _(
                    "{program} could not bind: the address is already in use by another socket. "
                    "Give it port 0 to let the operating system pick a free port, or stop the "
                    "program that holds it (labsock.close_all())."
                ).format(program=self.name)
                + said
            )
        raise ProgramFailed(
            _("{program} exited with status {code}.").format(program=self.name, code=code) + said
        )

    def __repr__(self) -> str:
        state = _("running") if self.running else _("exited {code}").format(code=self.returncode)
        return f"<Program {self.name} {' '.join(self.args)} pid={self.pid} {state}>"

    def __str__(self) -> str:
        return self.stdout + (f"[stderr]\n{self.stderr}" if self.stderr else "")


def _tail(text: str, lines: int = 12) -> str:
    kept = text.rstrip().splitlines()[-lines:]
    return "\n".join(f"    {line}" for line in kept)
