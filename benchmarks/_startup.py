"""Benchmark 6: ``import labsock`` in a fresh interpreter.

Each run is a new ``python`` process that times ``import labsock`` from
inside (so interpreter start-up is not counted; it is reported beside) and
says whether matplotlib or ipywidgets came along. The figure is with
bytecode caches, as on a student's machine after the first import; runs
that compile labsock from source every time, and bare interpreter starts,
alternate with them. One more run with ``-X importtime`` shows what costs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

from benchmarks._harness import Budget, Row, interleave, median, pooled, spread

__all__ = ["bench_import", "import_profile"]

_PROBE = """
import json, sys, time
t0 = time.perf_counter()
import labsock
t1 = time.perf_counter()
print(json.dumps({"seconds": t1 - t0,
                  "heavy": sorted(m for m in ("matplotlib", "ipywidgets") if m in sys.modules),
                  "modules": len(sys.modules)}))
"""


def _run(args: list[str], env: dict[str, str] | None = None) -> tuple[float, str]:
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=60, check=True, env=env
    )
    return time.perf_counter() - t0, done.stdout


def _cached_env(prefix: str) -> dict[str, str]:
    """This environment, with bytecode caching on, into ``prefix``.

    A student's interpreter keeps the compiled modules (``__pycache__``), so
    every import after the first skips compiling. Some environments (this
    project's machines among them) set PYTHONDONTWRITEBYTECODE, which makes
    every import compile labsock from source: measured too, apart.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = prefix  # not into the source tree
    return env


def _from_source_env() -> dict[str, str]:
    """Bytecode writing off, so labsock (whose caches are elsewhere) compiles each time."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPYCACHEPREFIX"}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def import_profile(env: dict[str, str] | None = None, top: int = 8) -> list[dict[str, object]]:
    """The modules whose own import time is largest, from ``python -X importtime``."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import labsock"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env=env,
    )
    rows = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        self_us, cumulative_us, name = (part.strip() for part in line[12:].split("|"))
        if not self_us.isdigit():
            continue  # the header line
        rows.append(
            {
                "module": name.strip(),
                "self_ms": int(self_us) / 1e3,
                "cumulative_ms": int(cumulative_us) / 1e3,
            }
        )
    rows.sort(key=lambda row: float(str(row["self_ms"])), reverse=True)
    return rows[:top]


def bench_import(budget: Budget) -> Row:
    """Median time of ``import labsock`` in fresh interpreters, and what it pulls in."""
    with tempfile.TemporaryDirectory(prefix="labsock-pycache-") as prefix:
        return _bench_import(budget, _cached_env(prefix))


def _bench_import(budget: Budget, cached: dict[str, str]) -> Row:
    heavy: set[str] = set()
    modules: list[int] = []
    source = _from_source_env()

    def probe(env: dict[str, str]) -> list[float]:
        _, out = _run(["-c", _PROBE], env)
        report = json.loads(out)
        heavy.update(report["heavy"])
        modules.append(report["modules"])
        return [float(report["seconds"])]

    probe(cached)  # the first import compiles and writes the caches
    samples = interleave(
        {
            "labsock": lambda: probe(cached),
            "from_source": lambda: probe(source),
            "interpreter": lambda: [_run(["-c", "pass"], cached)[0]],
        },
        budget.imports,
        budget.seconds,
    )
    seconds = median(pooled(samples["labsock"]))
    from_source = median(pooled(samples["from_source"]))
    startup = median(pooled(samples["interpreter"]))
    met = seconds <= 0.150 and not heavy
    return Row(
        key="import",
        title="import labsock, fresh interpreter, median",
        unit="ms",
        labsock=seconds * 1e3,
        target="<= 150 ms, no matplotlib/ipywidgets",
        met=met,
        note=f"with bytecode caches; compiling labsock from source {from_source * 1e3:.0f} ms; "
        f"interpreter start-up {startup * 1e3:.0f} ms not included; "
        f"heavy modules imported: {', '.join(sorted(heavy)) or 'none'}",
        details={
            "runs": len(samples["labsock"]),
            "import_ms": spread([v * 1e3 for v in pooled(samples["labsock"])]),
            "import_from_source_ms": spread([v * 1e3 for v in pooled(samples["from_source"])]),
            "interpreter_startup_ms": spread([v * 1e3 for v in pooled(samples["interpreter"])]),
            "modules_loaded": median([float(m) for m in modules]),
            "heavy_modules": sorted(heavy),
            "importtime_top_self": import_profile(cached),
        },
    )
