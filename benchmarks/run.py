"""Run the benchmarks, print one table of medians and ratios, save it as JSON.

Usage (from the repository root; ``make bench`` does this in the venv)::

    python -m benchmarks.run                 # everything, a few minutes
    python -m benchmarks.run --quick         # every benchmark tiny, seconds (no notebooks)
    python -m benchmarks.run --only udp_rtt,link --markdown

Benchmarks are measurements, not tests: the exit status is 0 whether the
targets are met or not (the table says), and non-zero only if one crashed.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import math
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks._harness import Budget, Row

__all__ = ["BENCHMARKS", "main"]

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_JSON = ROOT / "artifacts" / "bench" / "latest.json"

#: Names for --only, in the order they run.
BENCHMARKS = (
    "reference",
    "udp_rtt",
    "tcp_rtt",
    "tcp_bulk",
    "link",
    "fanout",
    "import",
    "notebooks",
)


def _machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    memory = None
    try:
        import psutil

        memory = round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:
        pass
    commit = None
    try:
        head = subprocess.run(
            ["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        commit = head.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        pass
    return {
        "platform": platform.platform(),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "memory_gib": memory,
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "commit": commit,
    }


def _load() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _fmt(value: float | None, unit: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if unit in ("µs", "ms"):
        return f"{value:.1f}"
    if unit.startswith("s"):
        return f"{value:.2f}"
    return f"{value:,.0f}"


def _cells(row: Row) -> list[str]:
    met = {True: "yes", False: "NO", None: ""}[row.met]
    return [
        row.title,
        row.unit,
        _fmt(row.c_reference, row.unit),
        _fmt(row.bare, row.unit),
        _fmt(row.labsock, row.unit),
        "-" if row.ratio is None else f"{row.ratio:.3f}",
        row.target,
        met,
    ]


_HEADER = ["measure", "unit", "C reference", "bare Python", "labsock", "ratio", "target", "met"]


_NB_HEADER = [
    "notebook",
    "cells (s)",
    "kernel start (s)",
    "RSS after (MiB)",
    "peak RSS (MiB)",
    "ok",
]


def _nb_cells(row: Row) -> list[str]:
    d = row.details
    return [
        row.title,
        f"{d['cells_seconds']:.2f}",
        f"{d['kernel_start_seconds']:.2f}",
        f"{d['rss_mib']:.0f}",
        f"{d['peak_rss_mib']:.0f}",
        "FAILED" if d["error"] else "yes",
    ]


def _is_notebook(row: Row) -> bool:
    return row.key.startswith("notebook:")


def _text_table(header: list[str], body: list[list[str]], left: tuple[int, ...]) -> list[str]:
    table = [header, *body]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    lines = []
    for index, line in enumerate(table):
        lines.append(
            "  ".join(
                cell.ljust(width) if i in left else cell.rjust(width)
                for i, (cell, width) in enumerate(zip(line, widths, strict=True))
            ).rstrip()
        )
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    return lines


def render_text(rows: list[Row]) -> str:
    pairs = [row for row in rows if not _is_notebook(row)]
    notebooks = [row for row in rows if _is_notebook(row)]
    lines = _text_table(_HEADER, [_cells(row) for row in pairs], (0, 1, 6)) if pairs else []
    if notebooks:
        lines += ["", *_text_table(_NB_HEADER, [_nb_cells(row) for row in notebooks], (0,))]
    notes = [f"  {row.title}: {row.note}" for row in rows if row.note]
    return "\n".join([*lines, "", "notes:", *notes] if notes else lines)


def render_markdown(rows: list[Row]) -> str:
    pairs = [row for row in rows if not _is_notebook(row)]
    notebooks = [row for row in rows if _is_notebook(row)]
    lines = []
    if pairs:
        lines += [
            "| " + " | ".join(_HEADER) + " |",
            "|" + "|".join(["---", "---", "--:", "--:", "--:", "--:", "---", "---"]) + "|",
            *("| " + " | ".join(_cells(row)) + " |" for row in pairs),
        ]
    if notebooks:
        lines += [
            "",
            "| " + " | ".join(_NB_HEADER) + " |",
            "|" + "|".join(["---", "--:", "--:", "--:", "--:", "---"]) + "|",
            *("| " + " | ".join(_nb_cells(row)) + " |" for row in notebooks),
        ]
    return "\n".join(lines)


def _clean(value: Any) -> Any:
    """JSON has no NaN: a figure nothing was measured for becomes null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run(only: tuple[str, ...], budget: Budget) -> tuple[list[Row], dict[str, Any]]:
    """Run the chosen benchmarks; return the rows and the C reference figures."""
    from benchmarks._echo import bench_bulk, bench_rtt
    from benchmarks._fanout import bench_fanout
    from benchmarks._notebooks import bench_notebooks
    from benchmarks._reference import reference
    from benchmarks._relay import bench_relay_rate, bench_relay_rtt
    from benchmarks._startup import bench_import

    refs: dict[str, Any] = {}
    rows: list[Row] = []
    steps: dict[str, Callable[[], list[Row]]] = {
        "udp_rtt": lambda: [bench_rtt("udp", budget)],
        "tcp_rtt": lambda: [bench_rtt("tcp", budget)],
        "tcp_bulk": lambda: [bench_bulk(budget)],
        "link": lambda: [bench_relay_rtt(budget), bench_relay_rate(budget)],
        "fanout": lambda: [bench_fanout(budget)],
        "import": lambda: [bench_import(budget)],
        "notebooks": lambda: bench_notebooks(ROOT / "notebooks"),
    }
    for name in only:
        t0 = time.perf_counter()
        _say(f"[bench] {name} ... (load {_load()})")
        if name == "reference":
            refs = reference(budget.reference_seconds, budget.pin)
        else:
            rows += steps[name]()
        _say(f"[bench] {name} done in {time.perf_counter() - t0:.1f} s")
    # The C figure sits beside the Python ones it bounds.
    for row in rows:
        ref = refs.get(row.key)
        if ref is None:
            continue
        if row.key in ("udp_rtt", "tcp_rtt"):
            row.c_reference = ref["median_us"]
        elif row.key == "tcp_bulk":
            row.c_reference = ref["bytes_per_second"] / 1e6
        row.details["c_reference"] = ref
    return rows, refs


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke test")
    parser.add_argument("--only", help=f"comma-separated subset of: {', '.join(BENCHMARKS)}")
    parser.add_argument("--rounds", type=int, help="rounds per interleaved benchmark")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to save the run")
    parser.add_argument("--markdown", action="store_true", help="also print a Markdown table")
    parser.add_argument(
        "--no-pin",
        action="store_true",
        help="do not pin the round-trip benchmarks to one CPU (see benchmarks/README.md)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    budget = Budget.quick_budget() if args.quick else Budget()
    budget.pin = not args.no_pin
    if args.rounds is not None:
        budget.rounds = max(2, args.rounds)
    if args.only:
        only = tuple(name.strip() for name in args.only.split(",") if name.strip())
        unknown = [name for name in only if name not in BENCHMARKS]
        if unknown:
            _say(f"unknown benchmark(s) {unknown}; choose from {', '.join(BENCHMARKS)}")
            return 2
    else:
        # Executing every notebook takes minutes: not in a smoke test.
        only = tuple(b for b in BENCHMARKS if not (args.quick and b == "notebooks"))
    started = datetime.datetime.now(datetime.timezone.utc)
    load_before = _load()
    t0 = time.perf_counter()
    rows, refs = run(only, budget)
    report = {
        "schema": 1,
        "started_utc": started.isoformat(timespec="seconds"),
        "seconds": round(time.perf_counter() - t0, 1),
        "machine": _machine(),
        "load_average_before": load_before,
        "load_average_after": _load(),
        "budget": dataclasses.asdict(budget),
        "benchmarks": list(only),
        "reference": refs,
        "rows": [row.as_json() for row in rows],
    }
    print(render_text(rows))
    if args.markdown:
        print()
        print(render_markdown(rows))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(_clean(report), indent=2, allow_nan=False, default=str) + "\n")
    _say(f"[bench] saved {args.json} (load average before {load_before}, after {_load()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
