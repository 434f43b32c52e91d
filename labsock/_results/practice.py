"""What the practice's measurements return: stop-and-wait goodput against loss, and TCP's.

:func:`labsock.exercises.measure_goodput` makes a :class:`GoodputResult`;
:func:`labsock.plots.goodput` draws it. Imports nothing above ``_results``.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

from labsock._core.i18n import N_
from labsock._core.i18n import gettext as _

__all__ = ["NOT_ATTEMPTED", "GoodputResult", "GoodputRow"]

#: How a report calls an exercise whose starter code still raises NotImplementedError.
NOT_ATTEMPTED = N_("not attempted yet")


@dataclass(frozen=True, slots=True)
class GoodputRow:
    """One transfer of ``messages`` messages at one loss rate.

    ``goodput`` is payload bytes per second (None when the transfer failed,
    then ``problem`` says why); ``datagrams`` counts the DATA datagrams the
    sender put on the link, retransmissions included.
    """

    loss: float
    seconds: float | None
    goodput: float | None
    datagrams: int
    problem: str = ""


@dataclass(frozen=True, slots=True)
class GoodputResult:
    """Stop-and-wait goodput per loss rate, and TCP's over the same delay (bytes/s)."""

    attempted: bool
    messages: int
    payload_bytes: int
    delay: float
    rows: tuple[GoodputRow, ...]
    tcp: float | None
    note: str = ""

    def _lines(self) -> list[tuple[str, str, str, str]]:
        lines = []
        for r in self.rows:
            rate = f"{r.goodput / 1e3:,.1f} kB/s" if r.goodput is not None else r.problem
            took = f"{r.seconds:.2f} s" if r.seconds is not None else "-"
            lines.append((f"{r.loss:.0%}", took, f"{r.datagrams}", rate))
        return lines

    def __str__(self) -> str:
        if not self.attempted:
            return _("goodput: {status} (rdt_send/rdt_receive raise NotImplementedError)").format(
                status=_(NOT_ATTEMPTED)
            )
        out = [
            self._settings(),
            # The column titles keep the table's widths: 7, 9 and 11 characters.
            _("loss   time     DATA sent  goodput"),
        ]
        out += [f"{a:>4}   {b:>7}  {c:>9}  {d}" for a, b, c, d in self._lines()]
        if self.tcp is not None:
            out.append(self._tcp_line())
        if self.note:
            out.append(self.note)
        return "\n".join(out)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))

    def tcp_factor(self) -> float | None:
        """How many times stop-and-wait's goodput without loss TCP delivered (None if unknown)."""
        base = self.rows[0].goodput if self.rows and self.rows[0].loss == 0 else None
        if self.tcp is None or not base:
            return None
        return self.tcp / base

    def _tcp_line(self) -> str:
        factor = self.tcp_factor()
        assert self.tcp is not None
        times = (
            _(", {factor:,.0f} times stop-and-wait's without loss").format(factor=factor)
            if factor
            else ""
        )
        return _("TCP (same delay, no loss): {rate:,.1f} kB/s").format(rate=self.tcp / 1e3) + times

    def _settings(self) -> str:
        return _(
            "{messages} messages, {payload:,} payload bytes, delay {delay:g} ms each way"
        ).format(messages=self.messages, payload=self.payload_bytes, delay=self.delay * 1e3)

    def _repr_html_(self) -> str:
        if not self.attempted:
            status = f"<b>{html.escape(_(NOT_ATTEMPTED))}</b>"
            return f"<p>{html.escape(_('goodput: {status}')).format(status=status)}</p>"
        rows = "".join(
            f"<tr><td>{a}</td><td>{b}</td><td>{c}</td><td>{html.escape(d)}</td></tr>"
            for a, b, c, d in self._lines()
        )
        tcp = f"<p>{html.escape(self._tcp_line())}</p>" if self.tcp is not None else ""
        note = f"<p>{html.escape(self.note)}</p>" if self.note else ""
        return (
            f"<p>{html.escape(self._settings())}</p><table><thead><tr>"
            f"<th>{_('loss')}</th><th>{_('time')}</th><th>{_('DATA sent')}</th>"
            f"<th>{_('goodput')}</th></tr></thead><tbody>{rows}</tbody></table>"
            f"{tcp}{note}"
        )
