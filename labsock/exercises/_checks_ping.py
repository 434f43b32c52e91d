"""Check of exercise 2: a UDP pinger with a timeout and exponential back-off.

The student writes ``udp_ping(server, count, timeout, retries) -> dict``. Each
probe is the datagram ``b"ping <seq> <attempt>"``; the server echoes it. When
no reply comes within ``timeout``, the pinger sends the probe again with the
next attempt number and waits twice as long, up to ``retries`` times; then
that probe is lost. It returns ``{"received", "loss", "rtt_min", "rtt_avg",
"rtt_max"}``.

The check runs it twice against its own recording echo behind a real
:class:`~labsock.ImpairedLink`:

1. a link that loses replies (seeded): the echo's log and the link's events
   say exactly which probe was sent when, and which reply was lost, so the
   retransmissions, the back-off and the counts are compared with the truth;
2. a jittery link that delivers replies late and out of order: a reply to an
   earlier probe or attempt must not be taken for the current one. Every
   datagram waits at least ``delay`` each way, so an RTT below twice that is
   impossible and betrays the mix-up.
"""

from __future__ import annotations

import itertools
import math
import re
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from labsock._core.i18n import N_
from labsock._core.i18n import gettext as _
from labsock._core.impair import Impairment, LinkEvent
from labsock._core.validate import check_count, check_seconds
from labsock._endpoints.link import ImpairedLink
from labsock.exercises._harness import CheckRun, StudentCall, describe
from labsock.exercises._report import Phrase, Report
from labsock.exercises._udp_peers import Datagram, RecordingEcho

__all__ = ["check_udp_ping"]

UdpPing = Callable[[tuple[str, int], int, float, int], object]

KEYS = ("received", "loss", "rtt_min", "rtt_avg", "rtt_max")
_PROBE = re.compile(rb"ping (\d+) (\d+)")

# The lossy run: replies lost at 40 %, seeded. With this seed and a correct
# pinger, several probes need a second retry and one is lost altogether, so
# every criterion has something to judge (see tests/exercises/test_exercises.py).
LOSSY_SEED = 7
LOSSY = Impairment(loss=0.4)
# The late run: every datagram waits 10 to 60 ms each way, so replies come
# after their timeout (15 ms) and out of order.
LATE_SEED = 5
LATE = Impairment(delay=0.010, jitter=0.050)
_LIMIT = 10.0


@dataclass
class _Attempt:
    number: int
    time: float
    delivered: bool  # did the link pass the reply on?
    # From the request reaching the link to its reply reaching it: the round
    # trip, less the two hops between pinger and link (None: reply lost).
    core_rtt: float | None = None


Probes = dict[int, list[_Attempt]]


def _wait(call: StudentCall[object], echo: RecordingEcho, stall: float, limit: float) -> None:
    """Wait for the pinger to return, or to stop sending for ``stall`` s, or ``limit`` s."""
    start = time.monotonic()
    while not call.wait(0.05):
        last = echo.last_arrival()
        quiet = time.perf_counter() - last if last is not None else time.monotonic() - start
        if quiet > stall or time.monotonic() - start > limit:
            return


def _truth(log: list[Datagram], events: tuple[LinkEvent, ...]) -> tuple[Probes, list[bytes]]:
    """Each probe's attempts (when sent, whether the reply got through), and unparsable payloads.

    The echo answers every datagram in order, so the i-th reply the link saw
    from one client's flow answers the i-th request the echo got from that
    flow. Flows are matched by the order in which they first appeared.
    """
    peers: dict[tuple[str, int], list[Datagram]] = {}
    for d in log:
        peers.setdefault(d.peer, []).append(d)
    clients: dict[tuple[str, int], list[LinkEvent]] = {}
    sent: dict[tuple[str, int], dict[int, float]] = {}
    for e in sorted(events, key=lambda e: e.time):
        if e.direction == "forward":
            clients.setdefault(e.client, [])
            sent.setdefault(e.client, {})[e.index] = e.time
    for e in events:
        if e.direction == "backward" and e.client in clients:
            clients[e.client].append(e)
    probes: Probes = {}
    bad: list[bytes] = []
    for requests, (client, replies) in zip(peers.values(), clients.items(), strict=False):
        fate = {e.index: not e.dropped for e in replies}
        back = {e.index: e.time for e in replies}
        for i, d in enumerate(requests):
            m = _PROBE.fullmatch(d.data)
            if m is None:
                bad.append(d.data)
                continue
            seq, attempt = int(m.group(1)), int(m.group(2))
            delivered = fate.get(i, False)
            core = back[i] - sent[client][i] if delivered and i in sent[client] else None
            probes.setdefault(seq, []).append(_Attempt(attempt, d.time, delivered, core))
    return probes, bad


def _backoff_hint(waits: list[float]) -> str:
    """The likely mistake behind a failed back-off, from the median waits (seconds)."""
    if len(waits) >= 2 and max(waits) <= 1.3 * min(waits):
        return _(
            "your waits stay the same after each timeout: double the wait instead, timeout, "
            "2*timeout, 4*timeout, ... (sock.settimeout(timeout * 2**attempt))"
        )
    if len(waits) >= 3 and 1.3 <= waits[2] / waits[1] <= 1.7:
        return _(
            "your waits grow by the same step each time (timeout, 2*timeout, 3*timeout: "
            "linear). Exponential back-off doubles the wait: timeout * 2**attempt, not "
            "timeout * (attempt + 1)"
        )
    return _(
        "after each timeout, double the wait: timeout, 2*timeout, 4*timeout, ... "
        "(sock.settimeout(timeout * 2**attempt))"
    )


def _as_summary(result: object) -> tuple[dict[str, float | int | None] | None, str]:
    if not isinstance(result, Mapping):
        return None, _("udp_ping returned {type}, not a dict").format(type=type(result).__name__)
    missing = [k for k in KEYS if k not in result]
    if missing:
        return None, _("the dict has no {keys}").format(keys=", ".join(map(repr, missing)))
    return {k: result[k] for k in KEYS}, ""


def _near(value: object, target: float) -> bool:
    return isinstance(value, (int, float)) and math.isclose(value, target, abs_tol=1e-9)


class _PingCheck:
    def __init__(self, run: CheckRun, udp_ping: UdpPing, count: int, timeout: float, retries: int):
        self.run, self.udp_ping = run, udp_ping
        self.count, self.timeout, self.retries = count, timeout, retries

    def start(
        self,
        forward: Impairment,
        backward: Impairment,
        seed: int,
        count: int,
        timeout: float,
        retries: int,
    ) -> tuple[StudentCall[object], RecordingEcho, ImpairedLink]:
        echo = RecordingEcho(self.run)
        link = ImpairedLink(echo.address, forward=forward, backward=backward, seed=seed)
        self.run.on_close(link.close)
        call = self.run.call(self.udp_ping, link.address, count, timeout, retries, name="udp_ping")
        longest = timeout * (2 ** (retries + 1))
        # A pinger that keeps sending (retrying forever, say) is stopped after
        # _LIMIT s: the two runs together stay far below nbgrader's 30 s per cell.
        _wait(call, echo, stall=longest + 1.0, limit=min(count * longest + 5.0, _LIMIT))
        return call, echo, link

    def call_failed(self, call: StudentCall[object], name: str) -> bool:
        if call.finished and call.error is None:
            return False
        hint = (
            _("udp_ping raised {error}").format(error=describe(call.error))
            if call.error is not None
            else _(
                "udp_ping stopped sending and did not return: give the socket a timeout "
                "(sock.settimeout(t)) and catch TimeoutError around recvfrom()"
            )
        )
        self.run.check(name, False, hint)
        return True

    # -- the lossy run -------------------------------------------------------------
    def lossy(self) -> None:
        run = self.run
        # Only replies are lost: then the echo's log holds every request.
        call, echo, link = self.start(
            Impairment(), LOSSY, LOSSY_SEED, self.count, self.timeout, self.retries
        )
        if call.not_implemented:
            run.not_attempted()
        link.wait_idle(1.0)
        probes, bad = _truth(echo.log, link.events())
        fmt = N_("sends probes b'ping <seq> <attempt>' numbered from 0")
        names = (
            N_("retransmits a probe whose reply was lost"),
            N_("waits twice as long after each timeout (exponential back-off)"),
            Phrase(N_("gives up on a probe after {retries} retransmissions"), retries=self.retries),
            N_("counts the replies received and the loss"),
            N_("reports RTT min <= avg <= max, in seconds"),
        )
        if self.call_failed(call, fmt):
            for name in names:
                run.skip(name, _("not checked: udp_ping must return first"))
            return
        seqs = sorted(probes)
        if bad or not probes:
            example = bad[0] if bad else b"(nothing)"
            run.check(
                fmt,
                False,
                _(
                    "send each probe as f'ping {seq} {attempt}'.encode(), e.g. b'ping 0 0', "
                    "then b'ping 0 1' for its first retransmission"
                ),
                _("the server got {data}").format(data=repr(example[:40])),
            )
            for name in names:
                run.skip(name, _("not checked: the probes must follow the format first"))
            return
        complete = seqs == list(range(self.count))
        numbered = all(
            [a.number for a in attempts] == list(range(len(attempts)))
            for attempts in probes.values()
        )
        run.check(
            fmt,
            complete and numbered,
            _(
                "send count={count} probes with seq 0 to {last}, and number "
                "each probe's attempts 0, 1, 2, ..."
            ).format(count=self.count, last=self.count - 1),
            _("seqs seen: {seqs}").format(seqs=f"{seqs[:6]}{'...' if len(seqs) > 6 else ''}"),
        )
        retries_ok = self.retransmits(names[0], probes)
        self.backoff(names[1], probes)
        self.gives_up(names[2], probes, retries_ok)
        summary, why = _as_summary(call.result)
        shape = Phrase(N_("returns a dict with the keys {keys}"), keys=", ".join(KEYS))
        if summary is None:
            run.check(shape, False, why)
            run.skip(names[3], _("not checked: udp_ping must return the dict first"))
            run.skip(names[4], _("not checked: udp_ping must return the dict first"))
            return
        self.counts(names[3], summary, probes)
        self.rtts(names[4], summary, probes)

    def retransmits(self, name: str, probes: Probes) -> bool:
        # A lost reply with no second attempt at all: "gives up" judges how many.
        missed = [
            seq
            for seq, attempts in probes.items()
            if len(attempts) == 1 and not attempts[0].delivered
        ]
        return self.run.check(
            name,
            not missed,
            _("when recvfrom() times out, send the same probe again with the next attempt number"),
            _("replies lost but never retried: probe {seq}").format(seq=missed[0])
            if missed
            else "",
        )

    def backoff(self, name: str, probes: Probes) -> None:
        # Gaps between an attempt whose reply was lost and the next attempt,
        # grouped by attempt number. Times come from the echo's log, so one
        # gap can be off when a thread was slow to run: judge the median.
        gaps: dict[int, list[float]] = {}
        for attempts in probes.values():
            for k, (a, b) in enumerate(itertools.pairwise(attempts)):
                if not a.delivered:  # a retry after a reply that got through: load
                    gaps.setdefault(k, []).append(b.time - a.time)
        if not any(k >= 1 for k in gaps):
            self.run.skip(name, _("not checked: no probe needed a second retransmission this time"))
            return
        medians = {k: statistics.median(v) for k, v in sorted(gaps.items())}
        # A wait can only come out longer than asked (a slow thread), hardly shorter:
        # 0.85 tells a linear 30, 60, 90 ms from the doubling 30, 60, 120 ms.
        ok = all(0.85 <= gap / (self.timeout * 2**k) <= 3.0 for k, gap in medians.items())
        seen = ", ".join(f"{gap * 1e3:.0f}" for gap in medians.values())
        expected = ", ".join(f"{self.timeout * 2**k * 1e3:.0f}" for k in medians) + " ms"
        detail = _(
            "waits before retransmissions 1, 2, ...: {seen} ms (median); expected {expected}"
        ).format(seen=seen, expected=expected)
        self.run.check(name, ok, _backoff_hint(list(medians.values())), detail)

    def gives_up(self, name: str, probes: Probes, retries_ok: bool) -> None:
        most = max(len(a) for a in probes.values())
        lost = [seq for seq, a in probes.items() if not any(x.delivered for x in a)]
        early = [seq for seq in lost if len(probes[seq]) < self.retries + 1]
        if most > self.retries + 1:
            self.run.check(
                name,
                False,
                _(
                    "send a probe at most 1 + retries = {times} times, then count it "
                    "as lost and go on with the next one"
                ).format(times=self.retries + 1),
                _("a probe was sent {n} times").format(n=most),
            )
        elif early and not retries_ok and most == 1:
            self.run.skip(name, _("not checked: retransmit lost probes first"))
        elif early:
            self.run.check(
                name,
                False,
                _("retry up to retries={retries} times before giving a probe up").format(
                    retries=self.retries
                ),
                _("probe {seq} was sent only {n} time(s)").format(
                    seq=early[0], n=len(probes[early[0]])
                ),
            )
        else:
            self.run.check(name, True)

    def counts(self, name: str, summary: dict[str, float | int | None], probes: Probes) -> None:
        answered = sum(any(a.delivered for a in attempts) for attempts in probes.values())
        loss = (self.count - answered) / self.count
        received, reported = summary["received"], summary["loss"]
        detail = _(
            "reported received={received}, loss={loss}; the link let {answered} through"
        ).format(received=repr(received), loss=repr(reported), answered=answered)
        if received != answered:
            hint = _(
                "{answered} of {count} probes got a reply: count a probe as received "
                "once, when its first reply arrives (ignore replies to other probes)"
            ).format(answered=answered, count=self.count)
            self.run.check(name, False, hint, detail)
        elif not _near(reported, loss):
            pct = _near(reported, loss * 100)
            hint = (
                _("loss is a fraction from 0 to 1 (lost / count), not a percentage")
                if pct and loss
                else _("loss = (count - received) / count, a fraction of the probes sent")
            )
            self.run.check(name, False, hint, detail)
        else:
            self.run.check(name, True)

    def rtts(self, name: str, summary: dict[str, float | int | None], probes: Probes) -> None:
        values = [summary["rtt_min"], summary["rtt_avg"], summary["rtt_max"]]
        detail = "rtt_min={!r}, rtt_avg={!r}, rtt_max={!r}".format(*values)
        numbers = [float(x) for x in values if isinstance(x, (int, float))]
        if len(numbers) != 3:
            self.run.check(name, False, _("report the RTTs as numbers of seconds (floats)"), detail)
            return
        lo, avg, hi = numbers
        # This link delays nothing: a reply comes back within a millisecond or
        # so of the attempt it answers, far below one timeout. Timed from an
        # earlier attempt, an RTT includes the waits before the retransmissions.
        waited = [
            attempts[k].time - attempts[0].time
            for attempts in probes.values()
            for k in [next((i for i, a in enumerate(attempts) if a.delivered), None)]
            if k
        ]
        cores = [a.core_rtt for a in itertools.chain(*probes.values()) if a.core_rtt]
        # The hops between pinger and link add far less than a millisecond: an
        # honest smallest RTT is a few times the link's smallest round trip, not
        # hundreds of times it (which is what seconds * 1000 gives).
        inflated = bool(cores) and lo > 100 * min(cores) + 0.002
        if not 0 < lo <= avg <= hi:
            hint = _("min <= avg <= max, all above 0: compute them from the list of RTTs")
        elif lo >= self.timeout or hi >= 1.0 or inflated:
            smallest = f"{min(cores) * 1e3:.3f} ms" if cores else _("far less")
            hint = _(
                "your smallest RTT, {lo:g}, is about 1,000 times the smallest round trip the "
                "link saw ({smallest}): these look like milliseconds. Report seconds (a "
                "difference of two time.perf_counter() readings is in seconds, do not "
                "multiply it)"
            ).format(lo=lo, smallest=smallest)
        elif waited and hi >= 0.5 * max(waited) and hi >= 0.5 * self.timeout:
            hint = _(
                "your largest RTT, {ms:.0f} ms, is about the time spent waiting before "
                "a retransmission: it was measured from the probe's first send. Measure from "
                "the send of the attempt the reply answers (keep sent_at[attempt])"
            ).format(ms=hi * 1e3)
        else:
            self.run.check(name, True)
            return
        self.run.check(name, False, hint, detail)

    # -- the late run ----------------------------------------------------------------
    def late(self) -> None:
        name = N_("ignores late replies to earlier probes and attempts (jittery link)")
        count, timeout, retries = 12, 0.015, 2
        call, _echo, _link = self.start(LATE, LATE, LATE_SEED, count, timeout, retries)
        if self.call_failed(call, name):
            return
        summary, why = _as_summary(call.result)
        if summary is None:
            self.run.check(name, False, why)
            return
        floor = 2 * LATE.delay
        lo, received = summary["rtt_min"], summary["received"]
        if isinstance(received, int) and received > count:
            self.run.check(
                name,
                False,
                _("count each probe once, at its first reply"),
                f"received={received}",
            )
        elif isinstance(lo, (int, float)) and lo < floor * 0.99:
            self.run.check(
                name,
                False,
                _(
                    "on this link every reply takes at least {floor:.0f} ms, so your "
                    "{lo:.1f} ms is a reply to an earlier probe or attempt taken for the "
                    "current one. Read the seq and attempt out of each reply: ignore other "
                    "probes' replies, and measure from the send of the attempt the reply answers"
                ).format(floor=floor * 1e3, lo=lo * 1e3),
                f"rtt_min={lo!r}",
            )
        else:
            self.run.check(name, True)


def check_udp_ping(
    udp_ping: UdpPing, *, count: int = 20, timeout: float = 0.03, retries: int = 3
) -> Report:
    """Check ``udp_ping(server, count, timeout, retries) -> dict`` over a lossy, then a late link.

    Args:
        udp_ping: the function to check.
        count, timeout, retries: what the lossy run passes to it.

    Returns:
        A :class:`Report` ("not attempted yet" for the starter code).

    Example:
        >>> check_udp_ping(udp_ping).passed  # with your working functions
        True
    """
    check_count(count, name="count", maximum=1000)
    timeout = check_seconds(timeout, name="timeout", allow_zero=False, maximum=5)
    check_count(retries, name="retries", minimum=1, maximum=6)
    with CheckRun("udp_ping", N_("Exercise 2: a UDP pinger with back-off")) as run:
        check = _PingCheck(run, udp_ping, count, timeout, retries)
        check.lossy()
        check.late()
    return run.report
