#!/usr/bin/env python3
"""A class on one host: many students running the lessons at the same time.

On a JupyterHub every student's kernel shares one network stack. This script
plays a class on this machine and reports, as JSON, what a teacher needs to
know before the lesson: did every notebook pass, did any student hear another
student's multicast traffic, and how much memory and CPU does a student cost.

    python scripts/classroom.py students --students 8 --lessons 00_index 04_multicast
    python scripts/classroom.py students --students 30 --lessons all --json report.json
    python scripts/classroom.py fan-outs --processes 8
    python scripts/classroom.py fan-outs --processes 2 --same-group   # the control

``students``: each student runs the given lessons one after another, each in a
kernel of its own (as JupyterLab does: one kernel per open notebook), all
students at once. After each lesson the student's kernel runs one more cell,
an *audit*: a fresh ``labsock.fan_out`` (one sender, three receivers, 100
datagrams on a group of its own) plus the cross-talk counts of every fan-out
result the lesson left in the kernel; then the kernel's memory (RSS and USS)
and CPU time are read with psutil. Kernels start one after another (each is
up before the next starts: a real class does not click in the same
millisecond, and Jupyter's own choice of a kernel's five ports can race
between processes that start in the same second); then they all run at once.

``fan-outs``: N plain processes, each running ``labsock.fan_out`` at the same
moment, on groups they draw themselves; with ``--same-group`` all of them are
forced onto ONE group and port, which must show up as cross-talk (the proof
that the cross-talk counter sees what it claims to see).

Exit status 0 when every lesson passed (``students``) or every process
finished (``fan-outs``); the JSON report says the rest.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"

# Runs in each student's kernel after each lesson (here and in the hub class,
# tests/hub/hubclass.py). Leading underscores keep it out of the student's way;
# it prints one line of JSON.
AUDIT = """
import json as _json
import os as _os
import labsock as _labsock
import psutil as _psutil

_probe = _labsock.fan_out(receivers=3, count=100, interval=0.0005)
_talk = {"audit probe": list(_probe.cross_talk)}
for _name, _value in list(globals().items()):
    for _what, _result in ((_name, _value), (_name + ".last", getattr(_value, "last", None))):
        if isinstance(_result, _labsock.FanOutResult):
            _talk[_what] = list(_result.cross_talk)
print(_json.dumps({
    "cross_talk": _talk,
    "probe_group": list(_probe.group),
    "probe_received": list(_probe.received),
    "probe_lost": list(_probe.lost),
    "live_endpoints": len(_labsock.live_endpoints()),
    "kernel_rss": _psutil.Process().memory_info().rss,
    "kernel_pid": _os.getpid(),
}))
"""


def lesson_paths(names: list[str]) -> list[Path]:
    """The notebooks named (``01_sockets`` or ``01_sockets.ipynb``; ``all`` for every one)."""
    if names == ["all"]:
        return sorted(NOTEBOOKS.glob("*.ipynb"))
    paths = []
    for name in names:
        path = NOTEBOOKS / (name if name.endswith(".ipynb") else f"{name}.ipynb")
        if not path.exists():
            raise SystemExit(f"no such lesson: {path}")
        paths.append(path)
    return paths


def _memory(pid: int) -> dict[str, Any]:
    import psutil

    process = psutil.Process(pid)
    info = process.memory_full_info()  # uss: memory only this kernel holds
    cpu = process.cpu_times()
    return {
        "rss": info.rss,
        "uss": getattr(info, "uss", None),
        "cpu_seconds": round(cpu.user + cpu.system, 2),
    }


class _Kernel:
    """One student's kernel for one lesson: the notebook, its client, what it did."""

    def __init__(self, student: int, path: Path, timeout: float, logs: Path) -> None:
        import nbformat
        from nbclient import NotebookClient

        self.nb = nbformat.read(path, as_version=4)
        self.client = NotebookClient(
            self.nb,
            timeout=timeout,
            kernel_name="python3",
            resources={"metadata": {"path": str(path.parent)}},
        )
        self.log = logs / f"student{student}-{path.stem}.log"
        self.record: dict[str, Any] = {"student": student, "lesson": path.stem, "ok": False}

    async def start(self) -> None:
        """Start the kernel and wait until it answers (its ports are bound by then)."""
        self.client.km = self.client.create_kernel_manager()
        with self.log.open("wb") as log:  # the kernel's own stderr, for a post-mortem
            await self.client.async_start_new_kernel(stdout=log, stderr=log)
        await self.client.async_start_new_kernel_client()

    async def run(self, clock: float) -> dict[str, Any]:
        """Run every cell, then the audit; read memory and CPU; stop the kernel."""
        import nbformat
        from nbclient.exceptions import CellExecutionError

        record, client = self.record, self.client
        record["start"] = round(time.monotonic() - clock, 2)
        try:
            async with client.async_setup_kernel():
                for index, cell in enumerate(self.nb.cells):
                    await client.async_execute_cell(cell, index)
                record["seconds"] = round(time.monotonic() - clock - record["start"], 2)
                audit = nbformat.v4.new_code_cell(AUDIT)
                self.nb.cells.append(audit)
                await client.async_execute_cell(audit, len(self.nb.cells) - 1)
                out = "".join(o.get("text", "") for o in audit.outputs if o.get("name") == "stdout")
                record["audit"] = json.loads(out.strip().splitlines()[-1])
                record.update(_memory(client.km.provisioner.pid))  # type: ignore[union-attr]
                record["ok"] = True
        except CellExecutionError as exc:
            record["error"] = str(exc)[-3000:]
        except Exception as exc:  # a kernel that died or timed out: report it, go on
            tail = self.log.read_text(encoding="utf-8", errors="replace")[-2000:]
            record["error"] = f"{type(exc).__name__}: {exc}\n{tail}"
        record["end"] = round(time.monotonic() - clock, 2)
        return record


def run_students(students: int, paths: list[Path], timeout: float) -> dict[str, Any]:
    """Every student runs every lesson in ``paths``, all students at once; the report.

    Lesson by lesson: the students' kernels start one after another, then all
    of them run the lesson at the same time.
    """
    with tempfile.TemporaryDirectory(prefix="classroom-") as scratch:
        # Kernels of this class only: their connection files, no user profile,
        # no user kernelspec that could replace this environment's python.
        for var in ("JUPYTER_RUNTIME_DIR", "JUPYTER_DATA_DIR", "IPYTHONDIR"):
            os.environ[var] = str(Path(scratch) / var.lower())
        logs = Path(scratch) / "logs"
        logs.mkdir()

        async def lesson(path: Path, clock: float) -> list[dict[str, Any]]:
            kernels = [_Kernel(s, path, timeout, logs) for s in range(students)]
            for kernel in kernels:  # one at a time; see the module docstring
                await kernel.start()
            return await asyncio.gather(*(kernel.run(clock) for kernel in kernels))

        async def main() -> list[dict[str, Any]]:
            clock = time.monotonic()
            return [record for path in paths for record in await lesson(path, clock)]

        started = time.monotonic()
        runs = asyncio.run(main())
        elapsed = time.monotonic() - started
    return {
        "machine": machine(),
        "students": students,
        "lessons": [p.stem for p in paths],
        "elapsed": round(elapsed, 1),
        "max_concurrent_kernels": max_concurrent(runs),
        "runs": runs,
    }


def max_concurrent(runs: list[dict[str, Any]]) -> int:
    """The most lesson runs that were executing at one moment."""
    events = sorted(
        [(r["start"], 1) for r in runs if "start" in r]
        + [(r["end"], -1) for r in runs if "end" in r]
    )
    running = peak = 0
    for _, change in events:
        running += change
        peak = max(peak, running)
    return peak


def machine() -> dict[str, Any]:
    """What this report was measured on."""
    import psutil

    return {
        "date": time.strftime("%Y-%m-%d"),
        "cpus": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "system": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
    }


# -- fan-outs in plain processes -----------------------------------------------------------------
def fan_out_worker(start_at: float, count: int, group: str | None, port: int) -> dict[str, Any]:
    """One ``labsock.fan_out`` starting at wall-clock time ``start_at``; its numbers."""
    import labsock

    own_group = labsock.MulticastGroup(group, port) if group else None
    try:
        time.sleep(max(0.0, start_at - time.time()))
        result = labsock.fan_out(own_group, receivers=3, count=count, interval=0.001)
    finally:
        if own_group is not None:
            own_group.close()
    return {
        "pid": os.getpid(),
        "group": list(result.group),
        "received": list(result.received),
        "lost": list(result.lost),
        "cross_talk": list(result.cross_talk),
    }


def run_fan_outs(processes: int, same_group: bool, count: int, timeout: float) -> dict[str, Any]:
    """``processes`` fan-outs at the same moment, in separate processes; the report."""
    import labsock

    shared = labsock.MulticastGroup() if same_group else None  # holds the port while they run
    try:
        start_at = time.time() + 1.0 + 0.15 * processes  # after every process has started
        command = [sys.executable, __file__, "fan-out-worker", "--start-at", str(start_at)]
        command += ["--count", str(count)]
        if shared is not None:
            command += ["--group", shared.group, "--port", str(shared.port)]
        children = [
            subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(processes)
        ]
        results = []
        for child in children:
            try:
                out, err = child.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                child.kill()
                out, err = child.communicate()
            if child.returncode == 0:
                results.append(json.loads(out))
            else:
                results.append({"error": err[-3000:], "returncode": child.returncode})
    finally:
        if shared is not None:
            shared.close()
    return {"machine": machine(), "same_group": same_group, "count": count, "runs": results}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    students = sub.add_parser("students", help="students running lessons at the same time")
    students.add_argument("--students", type=int, default=8)
    students.add_argument("--lessons", nargs="+", default=["all"], help="names, or 'all'")
    students.add_argument("--cell-timeout", type=float, default=180.0, help="seconds per cell")
    students.add_argument("--json", type=Path, help="write the report here (else stdout)")
    fan = sub.add_parser("fan-outs", help="fan-outs in separate processes at the same moment")
    fan.add_argument("--processes", type=int, default=8)
    fan.add_argument("--same-group", action="store_true", help="force one group and port")
    fan.add_argument("--count", type=int, default=300)
    fan.add_argument("--timeout", type=float, default=120.0)
    fan.add_argument("--json", type=Path)
    worker = sub.add_parser("fan-out-worker", help=argparse.SUPPRESS)
    worker.add_argument("--start-at", type=float, required=True)
    worker.add_argument("--count", type=int, default=300)
    worker.add_argument("--group")
    worker.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)

    if args.command == "fan-out-worker":
        print(json.dumps(fan_out_worker(args.start_at, args.count, args.group, args.port)))
        return 0
    if args.command == "students":
        report = run_students(args.students, lesson_paths(args.lessons), args.cell_timeout)
        ok = all(run["ok"] for run in report["runs"])
    else:
        report = run_fan_outs(args.processes, args.same_group, args.count, args.timeout)
        ok = all("error" not in run for run in report["runs"])
    text = json.dumps(report, indent=2)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")
    else:
        print(text)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
