"""The benchmarks still run and write well-formed JSON (never that anything is fast).

``python -m benchmarks.run --quick`` runs every benchmark with tiny sizes in
a child process; the figures it prints are not checked against targets,
only for shape: a benchmark that crashes, or writes a row without its
numbers, fails here. The notebooks benchmark is left out (it executes every
lesson: minutes), and so is the C reference, checked on its own below.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import ROOT, needs_tool

QUICK = "udp_rtt,tcp_rtt,tcp_bulk,link,fanout,import"
EXPECTED_ROWS = {"udp_rtt", "tcp_rtt", "tcp_bulk", "link_rtt", "link_rate", "fanout", "import"}


def _positive(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


@pytest.fixture(scope="module")
def quick_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("bench") / "quick.json"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--quick", "--only", QUICK, "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "measure" in done.stdout  # the table was printed
    report: dict[str, Any] = json.loads(out.read_text())
    return report


def test_quick_run_reports_every_benchmark_once(quick_report: dict[str, Any]) -> None:
    keys = [row["key"] for row in quick_report["rows"]]
    assert sorted(keys) == sorted(EXPECTED_ROWS)
    assert quick_report["schema"] == 1
    assert quick_report["benchmarks"] == QUICK.split(",")


def test_quick_run_rows_carry_their_figures(quick_report: dict[str, Any]) -> None:
    rows = {row["key"]: row for row in quick_report["rows"]}
    for key in ("udp_rtt", "tcp_rtt", "tcp_bulk", "link_rate", "fanout"):
        row = rows[key]
        assert _positive(row["labsock"]), row
        assert _positive(row["bare"]), row
        assert _positive(row["ratio"]), row
        if key == "link_rate":
            assert row["ratio"] == pytest.approx(row["labsock"] / row["bare"], rel=1e-6)
        else:
            # Paired: the median of the per-round ratios, which the JSON keeps.
            rounds = row["details"]["round_ratios"]
            assert row["ratio"] == pytest.approx(rounds["median"], rel=1e-9)
            assert rounds["min"] <= row["ratio"] <= rounds["max"]
    # An added round trip is a difference of medians: any finite number, the
    # median of the per-round differences the JSON keeps.
    link = rows["link_rtt"]
    assert math.isfinite(link["labsock"])
    assert math.isfinite(link["bare"])
    assert link["labsock"] == pytest.approx(link["details"]["added_per_round_us"]["median"])
    assert link["bare"] == pytest.approx(link["details"]["floor_per_round_us"]["median"])
    assert _positive(rows["import"]["labsock"])
    for row in rows.values():
        assert isinstance(row["met"], bool), row  # every quick row has a target
        assert row["target"], row


def test_quick_run_describes_the_machine_and_load(quick_report: dict[str, Any]) -> None:
    machine = quick_report["machine"]
    assert machine["python"] == sys.version.split()[0]
    assert _positive(machine["cpus"])
    load = quick_report["load_average_before"]
    assert load is None or (len(load) == 3 and all(x >= 0 for x in load))


def test_quick_run_lost_no_multicast_datagram(quick_report: dict[str, Any]) -> None:
    # Bursts fit the receive buffers by design; a loss here means a broken
    # benchmark (or a kernel clamping rmem_max very low), not a slow one.
    fanout = next(row for row in quick_report["rows"] if row["key"] == "fanout")
    assert fanout["details"]["missing"] == {"labsock": 0, "bare": 0}


def test_unknown_benchmark_name_is_refused(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--only", "nope", "--json", str(tmp_path / "x")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "unknown benchmark" in done.stderr
    assert not (tmp_path / "x").exists()


@needs_tool("sockperf")
def test_sockperf_reference_parses_a_round_trip() -> None:
    from benchmarks._reference import sockperf_rtt

    figure = sockperf_rtt("udp", 1)
    assert figure is not None
    assert _positive(figure["median_us"])


@needs_tool("iperf3")
def test_iperf3_reference_parses_a_rate() -> None:
    from benchmarks._reference import iperf3_tcp

    figure = iperf3_tcp(1)
    assert figure is not None
    assert _positive(figure["bytes_per_second"])
