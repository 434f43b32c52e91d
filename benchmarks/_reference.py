"""Benchmark 8: the C reference on this machine, where Debian's tools exist.

* ``sockperf ping-pong`` against ``sockperf server`` on 127.0.0.1, UDP and
  TCP, 64-byte messages, ``--full-rtt``: the median round trip.
* ``iperf3 -c 127.0.0.1 -t N`` against ``iperf3 -s -1``: bulk TCP, one way.

Both are bounded by ``-t`` and by a subprocess timeout; servers are started
here and stopped by their process handle. A missing tool gives ``None``.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import time
from typing import Any

from benchmarks._harness import free_port, pinned

__all__ = ["iperf3_tcp", "reference", "sockperf_rtt"]

_PERCENTILE_50 = re.compile(r"percentile 50\.000 =\s*([0-9.]+)")
_AVERAGE = re.compile(r"avg-rtt=([0-9.]+)")


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def _wait_listening(port: int, seconds: float = 3.0) -> None:
    """Wait until a TCP server accepts on ``port`` (a connect that closes at once)."""
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)


def sockperf_rtt(protocol: str, seconds: int) -> dict[str, Any] | None:
    """Median and mean round trip (µs) from sockperf, or None without sockperf."""
    if shutil.which("sockperf") is None:
        return None
    tcp = ["--tcp"] if protocol == "tcp" else []
    kind = socket.SOCK_STREAM if protocol == "tcp" else socket.SOCK_DGRAM
    for _attempt in range(2):
        port = free_port(kind)
        server = subprocess.Popen(
            ["sockperf", "server", "-i", "127.0.0.1", "-p", str(port), *tcp],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            if protocol == "tcp":
                _wait_listening(port)
            else:
                time.sleep(0.5)  # sockperf says nothing when it is ready; its warm-up covers more
            done = subprocess.run(
                [
                    "sockperf",
                    "ping-pong",
                    "-i",
                    "127.0.0.1",
                    "-p",
                    str(port),
                    "-t",
                    str(seconds),
                    "-m",
                    "64",
                    "--full-rtt",
                    *tcp,
                ],
                capture_output=True,
                text=True,
                timeout=seconds + 30,
            )
        finally:
            _stop(server)
        median = _PERCENTILE_50.search(done.stdout)
        average = _AVERAGE.search(done.stdout)
        if median is not None:
            return {
                "median_us": float(median.group(1)),
                "mean_us": float(average.group(1)) if average else None,
                "command": f"sockperf ping-pong -i 127.0.0.1 -t {seconds} -m 64 --full-rtt "
                + " ".join(tcp),
            }
    return None


def iperf3_tcp(seconds: int) -> dict[str, Any] | None:
    """Bulk TCP bytes per second, one way, from iperf3; None without iperf3."""
    if shutil.which("iperf3") is None:
        return None
    for _attempt in range(2):
        port = free_port()
        server = subprocess.Popen(
            ["iperf3", "-s", "-1", "-B", "127.0.0.1", "-p", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            time.sleep(0.3)  # a probing connect would use up the one-off server
            done = subprocess.run(
                ["iperf3", "-c", "127.0.0.1", "-p", str(port), "-t", str(seconds), "-J"],
                capture_output=True,
                text=True,
                timeout=seconds + 30,
            )
        finally:
            _stop(server)
        try:
            end = json.loads(done.stdout)["end"]
            rate = float(end["sum_received"]["bits_per_second"]) / 8
        except (ValueError, KeyError):
            continue
        return {
            "bytes_per_second": rate,
            "command": f"iperf3 -c 127.0.0.1 -t {seconds} (server: iperf3 -s -1)",
        }
    return None


def reference(seconds: int, pin: bool = True) -> dict[str, Any]:
    """Every C reference figure this machine can give.

    sockperf's client and server run on one CPU when ``pin`` is set (they
    inherit this thread's affinity), as the Python round trips do.
    """
    with pinned(pin) as cpu:
        udp = sockperf_rtt("udp", seconds)
        tcp = sockperf_rtt("tcp", seconds)
    for figure in (udp, tcp):
        if figure is not None:
            figure["pinned_cpu"] = cpu
    return {"udp_rtt": udp, "tcp_rtt": tcp, "tcp_bulk": iperf3_tcp(seconds)}
