"""Panels run once from code, reflect their settings, and leave nothing behind."""

from __future__ import annotations

import pytest

import labsock

widgets = pytest.importorskip("labsock.widgets")

pytestmark = pytest.mark.usefixtures("fonts_loaded")


def test_link_lab_run_reflects_a_seeded_50_percent_loss() -> None:
    lab = widgets.LinkLab(loss=0.5, delay=0.0, jitter=0.0, duplicate=0.0, count=100, seed=11)
    try:
        run = lab.run()
    finally:
        lab.close()
    # Loss on both directions at 50 %: a probe survives with probability 1/4.
    assert 10 <= run.ping.received <= 45
    # What the client lost is exactly what the link dropped, both ways.
    assert run.ping.lost == run.link.total.dropped
    assert run.settings.loss == 0.5
    # Same seed, same traffic, same outcome.
    again = labsock.run_through_link(loss=0.5, count=100, seed=11)
    assert again.ping.lost_seqs == run.ping.lost_seqs


def test_link_lab_draws_the_figure_and_the_table() -> None:
    lab = widgets.LinkLab(count=60, seed=2)
    try:
        assert bytes(lab.figure.value) == b""
        run = lab.run()
        assert bytes(lab.figure.value).startswith(b"\x89PNG")
        assert "the link did" in lab.table.value
        assert f"{run.ping.sent} probes" in lab.status.value
        assert lab.progress.value == 60
        assert lab.last is run
    finally:
        lab.close()


def test_link_lab_greyed_sliders_read_what_a_tcp_run_uses_and_udp_gets_its_values_back() -> None:
    lab = widgets.LinkLab(protocol="tcp", loss=0.3, jitter=0.004, duplicate=0.05, count=10)
    try:
        greyed = (lab.loss, lab.jitter, lab.reorder, lab.duplicate)
        assert all(c.disabled and c.value == 0 for c in greyed)
        assert all(lab.settings()[k] == 0 for k in ("loss", "jitter", "reorder", "duplicate"))
        lab.protocol.value = "udp"
        assert not lab.loss.disabled
        assert (lab.loss.value, lab.jitter.value, lab.duplicate.value) == (0.3, 4.0, 0.05)
        lab.protocol.value = "tcp"
        assert lab.loss.value == 0
    finally:
        lab.close()


def test_link_lab_over_tcp_only_delays_and_loses_nothing() -> None:
    lab = widgets.LinkLab(protocol="tcp", loss=0.3, delay=0.002, count=30)
    try:
        assert lab.loss.disabled
        assert "only delay" in lab.status.value
        run = lab.run()
    finally:
        lab.close()
    assert run.protocol == "tcp"
    assert run.ping.lost == 0
    assert run.ping.arrival_order == tuple(range(30))
    assert run.ping.rtt is not None
    assert run.ping.rtt.min >= 2 * 0.002  # the delay is real, in both directions


def test_link_lab_shows_errors_instead_of_raising_on_click() -> None:
    lab = widgets.LinkLab(count=10)
    try:
        lab.delay.value, lab.jitter.value = 0.0, 0.0
        lab.reorder.value = 0.5  # reordering needs a delay: refused by the link
        lab.run_button.click()
        assert "Could not run" in lab.status.value
        assert "delay" in lab.status.value
        assert not lab.run_button.disabled
    finally:
        lab.close()
