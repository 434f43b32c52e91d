"""LinkLab: probes through an impaired link, with a slider for every impairment."""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as w

from labsock._experiments.link_runs import run_through_link
from labsock._panels.base import PERCENT, Panel, html_table, png
from labsock._results.link import LinkRun
from labsock._viz import figures as plots

__all__ = ["LinkLab"]


_TCP_NOTE = (
    "TCP: only delay can be emulated here. Loss, jitter, reordering and "
    "duplication happen below the socket, where TCP repairs them."
)


class LinkLab(Panel[LinkRun]):
    """Probes through an impaired link, with sliders for every impairment.

    Protocol, loss, delay, jitter, reordering, duplication, probe count and
    seed are controls; Run starts an echo server and an
    :class:`~labsock.ImpairedLink` in front of it, pings through the link,
    and draws the latency, RTT-per-probe and arrival-order plots, with a
    table comparing what the client saw with what the link did.

    Example:
        >>> lab = LinkLab(loss=0.5, count=40, seed=7)
        >>> run = lab.run()
        >>> run.ping.lost == run.link.total.dropped
        True
    """

    def __init__(
        self,
        *,
        protocol: str = "udp",
        loss: float = 0.1,
        delay: float = 0.005,
        jitter: float = 0.005,
        reorder: float = 0.0,
        duplicate: float = 0.02,
        count: int = 200,
        interval: float = 0.002,
        seed: int = 1,
    ) -> None:
        super().__init__()
        self.protocol = w.ToggleButtons(options=[("UDP", "udp"), ("TCP", "tcp")], value=protocol)
        self.loss = w.FloatSlider(value=loss, description="loss", **PERCENT)
        self.delay = w.FloatSlider(
            value=delay * 1e3, min=0, max=50, step=0.5, description="delay (ms)"
        )
        self.jitter = w.FloatSlider(
            value=jitter * 1e3, min=0, max=50, step=0.5, description="jitter (ms)"
        )
        self.reorder = w.FloatSlider(value=reorder, description="reorder", **PERCENT)
        self.duplicate = w.FloatSlider(value=duplicate, description="duplicate", **PERCENT)
        self.count = w.IntSlider(value=count, min=10, max=2000, step=10, description="probes")
        self.interval = w.FloatSlider(
            value=interval * 1e3, min=0, max=20, step=0.5, description="every (ms)"
        )
        self.seed = w.IntText(value=seed, description="seed")
        self.progress = w.IntProgress(value=0, min=0, max=count, description="sent")
        self.figure = w.Image(format="png", layout=w.Layout(max_width="100%"))
        self.table = w.HTML()
        self._udp_values: list[float] | None = None  # set aside while TCP greys them out
        self.protocol.observe(lambda _c: self._protocol_changed(), names="value")
        self._protocol_changed()
        controls = w.HBox(
            [
                w.VBox([self.protocol, self.loss, self.delay, self.jitter]),
                w.VBox([self.reorder, self.duplicate, self.count, self.interval]),
                w.VBox([self.seed, self.run_button, self.progress]),
            ]
        )
        self.widget = w.VBox(
            [controls, self.status, self.figure, self.table],
            layout=w.Layout(width="100%"),
        )

    def _protocol_changed(self) -> None:
        # A relay above TCP can only delay: the kernel repairs loss and order
        # below the socket. Grey out what cannot apply, and say why. A greyed
        # slider reads 0, what a TCP run uses: one still reading "loss 10 %"
        # next to a run that lost nothing would contradict it. The UDP values
        # come back when the student switches back to UDP.
        tcp = self.protocol.value == "tcp"
        stream_only = (self.loss, self.jitter, self.reorder, self.duplicate)
        if tcp:
            self._udp_values = [control.value for control in stream_only]
        for i, control in enumerate(stream_only):
            control.disabled = tcp
            if tcp:
                control.value = 0.0
            elif self._udp_values is not None:
                control.value = self._udp_values[i]
        if not tcp:
            self._udp_values = None
        self._say(_TCP_NOTE if tcp else "")

    def settings(self) -> dict[str, Any]:
        """The current control values, in the units ``run_through_link`` takes."""
        tcp = self.protocol.value == "tcp"
        return {
            "protocol": self.protocol.value,
            "loss": 0.0 if tcp else self.loss.value,
            "delay": self.delay.value / 1e3,
            "jitter": 0.0 if tcp else self.jitter.value / 1e3,
            "reorder": 0.0 if tcp else self.reorder.value,
            "duplicate": 0.0 if tcp else self.duplicate.value,
            "count": self.count.value,
            "interval": self.interval.value / 1e3,
            "seed": self.seed.value,
        }

    def run(self) -> LinkRun:
        settings = self.settings()
        self.progress.max = settings["count"]
        self.progress.value = 0
        self.run_button.disabled = True
        step = max(1, settings["count"] // 50)  # ~50 updates, not one per probe

        def progress(sent: int, total: int) -> None:
            if sent % step == 0 or sent == total:
                self.progress.value = sent

        try:
            self._say("running...")
            result = run_through_link(progress=progress, **settings)
        finally:
            self.run_button.disabled = False
        self.last = result
        self.figure.value = png(plots.dashboard(result.ping))
        self.table.value = html_table(["", "the client saw", "the link did"], result.comparison())
        headline = html.escape(result.ping.summary().splitlines()[0])
        # Keep saying why the sliders are grey: the run's headline alone
        # would leave a student wondering.
        self._say(f"{headline}<br>{_TCP_NOTE}" if result.protocol == "tcp" else headline)
        return result
