"""Words and numbers a student reads: durations, rates, sizes, addresses, small tables.

One home for every formatter, so that a round trip, a rate or an address is
written the same way in a summary, a table, a figure and an error message.
Pure functions; no matplotlib, no ipywidgets (figures and panels import them
from here).

>>> format_seconds(2.34e-5), format_rate(2.93e9), format_size(65536)
('23.4 µs', '2.93 GB/s', '64 KiB')
>>> format_address(("::1", 8080)), describe_bytes(1)
('[::1]:8080', '1 byte')
"""

from __future__ import annotations

import html
import math
import textwrap
from collections.abc import Sequence
from typing import Any

from labsock._core.i18n import ngettext

__all__ = [
    "PRINT_WIDTH",
    "describe_bytes",
    "format_address",
    "format_rate",
    "format_seconds",
    "format_share",
    "format_size",
    "html_table",
    "rate_unit",
    "three_figures",
    "wrap_lines",
]


def format_seconds(seconds: float) -> str:
    """A duration with a unit a student reads at a glance: 23.4 µs, 1.20 ms, 2.00 s."""
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    if seconds < 1.0:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def three_figures(value: float) -> str:
    """``value`` with about three significant figures: 1234, 24.1, 3.05."""
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def rate_unit(bytes_per_second: Sequence[float]) -> tuple[float, str]:
    """``(divisor, unit)`` for throughputs in bytes/s, decimal units (1 MB/s = 10**6 B/s)."""
    top = max(bytes_per_second, default=0.0)
    for divisor, unit in ((1e9, "GB/s"), (1e6, "MB/s"), (1e3, "kB/s")):
        if top >= divisor:
            return divisor, unit
    return 1.0, "B/s"


def format_rate(bytes_per_second: float) -> str:
    """A measured rate, about three figures, in the unit that suits it: 243 MB/s, 2.93 GB/s."""
    divisor, unit = rate_unit([bytes_per_second])
    return f"{three_figures(bytes_per_second / divisor)} {unit}"


def format_size(size: float) -> str:
    """A message or buffer size: 64 B, 1 KiB, 4 MiB, and 65,507 B between units.

    Binary units, as buffer sizes are; a size that is no whole number of KiB
    or MiB (UDP's 65,507-byte maximum) is written out in bytes rather than
    rounded to "64.0 KiB", which would look like 65,536.
    """
    for factor, unit in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
        if size >= factor and math.isclose(size / factor, round(size / factor)):
            return f"{round(size / factor)} {unit}"
    if size >= 1 << 20:
        return f"{size / (1 << 20):.1f} MiB"
    return f"{size:,.0f} B"


def format_address(address: Any) -> str:
    """``127.0.0.1:80`` or ``[::1]:80`` from a socket address; anything else as text."""
    if isinstance(address, tuple) and len(address) >= 2 and isinstance(address[1], int):
        host, port = str(address[0]), address[1]
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return str(address)


def describe_bytes(n: int) -> str:
    """``1 byte``, ``1,234 bytes``."""
    return ngettext("{n:,} byte", "{n:,} bytes", n).format(n=n)


def html_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A small HTML table, every cell escaped (results and panels both use it)."""
    head = "".join(f"<th style='padding:2px 10px'>{html.escape(str(h))}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(f"<td style='padding:2px 10px'>{html.escape(str(c))}</td>" for c in row)
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def format_share(part: int, whole: int) -> str:
    """``part / whole`` as a percentage that never rounds a loss away: 0.046 %, not 0.0 %.

    >>> format_share(25, 54_528), format_share(3, 200), format_share(0, 10)
    ('0.046%', '1.5%', '0.0%')
    """
    if whole <= 0 or part <= 0:
        return "0.0%"
    share = part / whole * 100
    if share >= 0.1:
        return f"{share:.1f}%"
    return f"{share:.2g}%"


#: Characters per printed line: JupyterLab wraps longer output lines anywhere,
#: even inside a number ("200.0 µs" split over two lines).
PRINT_WIDTH = 88


def wrap_lines(lines: list[str], width: int = PRINT_WIDTH) -> str:
    """``lines`` joined, each longer one wrapped at spaces, its continuation indented.

    >>> print(wrap_lines(["one two three four", "five"], width=10))
    one two
      three
      four
    five
    """
    out = []
    for line in lines:
        indent = " " * (len(line) - len(line.lstrip(" ")))
        out.extend(
            textwrap.wrap(
                line,
                width=width,
                subsequent_indent=indent + "  ",
                break_long_words=False,
                break_on_hyphens=False,
            )
            or [""]
        )
    return "\n".join(out)
