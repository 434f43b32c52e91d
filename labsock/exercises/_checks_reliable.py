"""Check of exercise 5: reliable delivery over a lossy UDP link, stop-and-wait.

The wire format (both directions through a real :class:`~labsock.ImpairedLink`):

* DATA: ``b"D"`` + the sequence number on 4 bytes, big-endian + the payload;
* ACK:  ``b"A"`` + the sequence number of the DATA packet it acknowledges.

Sequence numbers count messages from 0. The student writes both ends:

* ``rdt_send(sock, peer, messages, timeout) -> int`` sends each message as a
  DATA packet and waits for its ACK, retransmitting after ``timeout``
  seconds; it returns how many DATA datagrams it sent (retransmissions
  included);
* ``rdt_receive(sock, stop) -> list[bytes]`` acknowledges every DATA packet,
  delivers each message once and in order, and returns the messages when
  ``stop`` is set.

Each end is checked against the check's own reference of the other end,
through a link that loses, duplicates, delays and reorders (seeded).
"""

from __future__ import annotations

import random
import socket
import struct
import threading
import time
from collections.abc import Callable

from labsock._core.guard import check_destination
from labsock._core.i18n import N_
from labsock._core.i18n import gettext as _
from labsock._core.impair import Impairment
from labsock._core.validate import check_count
from labsock._endpoints.link import ImpairedLink
from labsock.exercises._harness import CheckRun, StudentCall, describe, hang_up
from labsock.exercises._report import Report
from labsock.exercises._udp_peers import RecordingEcho, udp_socket

__all__ = ["ACK", "DATA", "RdtReceive", "RdtSend", "check_reliable", "parse"]

RdtSend = Callable[[socket.socket, tuple[str, int], list[bytes], float], object]
RdtReceive = Callable[[socket.socket, threading.Event], object]

DATA, ACK = b"D", b"A"
_SEQ = struct.Struct("!I")

#: The link both ends are checked through: every direction loses a fifth of
#: the datagrams, copies a tenth, and delays each by 2 to 6 ms (so copies
#: and retransmissions overtake each other).
LINK = Impairment(loss=0.2, duplicate=0.1, delay=0.002, jitter=0.004)
SENDER_SEED, RECEIVER_SEED = 11, 12
TIMEOUT = 0.03
_MAX_TRIES = 30  # the check's sender gives a message up after this many sends
# Overall limits: a transfer of 25 messages takes about a second here; a sender
# that never finishes (retransmitting forever, say) is stopped after _LIMIT s,
# so the whole check stays far below nbgrader's 30 s per cell.
_LIMIT = 8.0


def _byte_order_hint() -> str:
    return _(
        "the seq is in your machine's byte order (little-endian here), not network order: "
        "pack and unpack it with struct '!I' (the '!' matters: 'I' alone or '<I' is "
        "little-endian), so seq 1 is b'\\x00\\x00\\x00\\x01'"
    )


def swapped(seq: int) -> int:
    """``seq`` with its 4 bytes reversed: what a little-endian pack reads as in network order.

    >>> swapped(1)
    16777216
    """
    return int.from_bytes(seq.to_bytes(4, "big"), "little")


def parse(packet: bytes, kind: bytes) -> int | None:
    """The sequence number of a ``kind`` packet (DATA or ACK), or None if malformed.

    >>> parse(b"A" + bytes([0, 0, 0, 7]), ACK)
    7
    >>> parse(b"hello", ACK) is None
    True
    """
    if len(packet) < 1 + _SEQ.size or packet[:1] != kind:
        return None
    if kind == ACK and len(packet) != 1 + _SEQ.size:
        return None
    return int(_SEQ.unpack_from(packet, 1)[0])


def messages_for(seed: int, count: int) -> list[bytes]:
    """``count`` messages of varied sizes (an empty one among them), reproducibly."""
    check_count(count, name="count", maximum=100_000)
    rng = random.Random(seed)
    sizes = ([0, 1, 1200] + [rng.randrange(2, 600) for _i in range(count - 3)])[:count]
    rng.shuffle(sizes)
    return [bytes(rng.randrange(32, 127) for _j in range(n)) for n in sizes]


class _ReferenceReceiver:
    """The check's receiver: delivers seq == expected, ACKs every DATA, notes gaps."""

    def __init__(self) -> None:
        self.expected = 0
        self.delivered: list[bytes] = []
        self.gaps: list[tuple[int, int]] = []  # (expected, got)
        self.malformed: list[bytes] = []
        self.byte_swapped = False  # a seq that reads right once its bytes are reversed

    def answer(self, packet: bytes) -> bytes | None:
        seq = parse(packet, DATA)
        if seq is None:
            self.malformed.append(packet)
            return None
        if seq != self.expected and swapped(seq) <= self.expected + 1 and seq > 0xFFFF:
            self.byte_swapped = True
        elif seq >= 1 << 16:
            # Far beyond any message count: not a big-endian seq (text, say).
            self.malformed.append(packet)
            return None
        if seq == self.expected:
            self.delivered.append(packet[1 + _SEQ.size :])
            self.expected += 1
        elif seq > self.expected:
            # Stop-and-wait never sends ahead: the sender took an old ACK
            # for the current one. Re-ACK the last packet in order.
            self.gaps.append((self.expected, seq))
            return ACK + _SEQ.pack(self.expected - 1) if self.expected else None
        return ACK + _SEQ.pack(seq)


def _wait(
    call: StudentCall[object], last: Callable[[], float | None], stall: float, limit: float
) -> None:
    """Wait for ``call`` to return, or ``stall`` s without a datagram, or ``limit`` s in all."""
    start = time.perf_counter()
    while not call.wait(0.05):
        seen = last()
        now = time.perf_counter()
        if now - (seen if seen is not None else start) > stall or now - start > limit:
            return


class _ReliableCheck:
    def __init__(
        self, run: CheckRun, rdt_send: RdtSend, rdt_receive: RdtReceive, count: int
    ) -> None:
        self.run, self.rdt_send, self.rdt_receive = run, rdt_send, rdt_receive
        self.count = count
        self.attempted = False

    def link(self, target: tuple[str, int], seed: int) -> ImpairedLink:
        link = ImpairedLink(
            target,
            loss=LINK.loss,
            duplicate=LINK.duplicate,
            delay=LINK.delay,
            jitter=LINK.jitter,
            seed=seed,
        )
        self.run.on_close(link.close)
        return link

    # -- the student's sender ----------------------------------------------------
    def sender(self) -> None:
        run = self.run
        names = (
            N_("rdt_send sends DATA packets: b'D' + 4-byte big-endian seq + payload"),
            N_("rdt_send delivers every message, in order"),
            N_("rdt_send retransmits when no ACK comes in time"),
            N_("rdt_send waits for the ACK of the current packet (ignores old and duplicate ACKs)"),
            N_("rdt_send returns how many DATA datagrams it sent"),
        )
        reference = _ReferenceReceiver()
        peer = RecordingEcho(run, reference.answer)
        link = self.link(peer.address, SENDER_SEED)
        messages = messages_for(SENDER_SEED, self.count)
        sock = udp_socket(run)
        call = run.call(self.rdt_send, sock, link.address, list(messages), TIMEOUT, name="rdt_send")
        _wait(call, peer.last_arrival, stall=1.5, limit=_LIMIT)
        if call.not_implemented:
            for name in names:
                run.check(name, False, _("rdt_send() still raises NotImplementedError"))
            return
        self.attempted = True
        finished = call.finished
        last = peer.last_arrival()
        # Stopped by the check's time limit while it was still sending.
        still_sending = not finished and last is not None and time.perf_counter() - last < 0.5
        if not finished:
            hang_up(sock)  # ends a stuck sender: its next sendto/recvfrom fails
            call.wait(1.0)
        error = call.error if finished else None
        link.wait_idle(0.5)
        if link.statistics().forward.received == 0:
            hint = (
                _("rdt_send raised {error} before sending anything").format(error=describe(error))
                if error is not None
                else _("rdt_send sent nothing: sock.sendto(packet, peer) for each message")
                if finished
                else _("rdt_send sent nothing and did not return")
            )
            run.check(names[0], False, hint)
            for name in names[1:]:
                run.skip(name, _("not checked: rdt_send must send DATA packets first"))
            return
        if reference.byte_swapped:
            run.check(names[0], False, _byte_order_hint(), _("seq 1 arrived as 16777216"))
            for name in names[1:]:
                run.skip(name, _("not checked: the DATA packets must follow the format first"))
            return
        if reference.malformed:
            run.check(
                names[0],
                False,
                _(
                    "build each packet as b'D' + struct.pack('!I', seq) + payload, seq counting "
                    "messages from 0"
                ),
                _("the receiver got {data}").format(data=repr(reference.malformed[0][:20])),
            )
            for name in names[1:]:
                run.skip(name, _("not checked: the DATA packets must follow the format first"))
            return
        run.check(names[0], True)
        delivered = reference.delivered == messages
        if reference.gaps:
            why = _("your sender moved on before the current packet was acknowledged")
        elif still_sending:
            stuck = len(reference.delivered)
            why = _(
                "rdt_send kept sending message {seq} until the check stopped it "
                "after {limit:g} s, although the receiver ACKed it: it never took a reply as "
                "its ACK. Compare each reply with b'A' + struct.pack('!I', seq) (bytes, all 5 "
                "of them) and go on with the next message when they are equal"
            ).format(seq=max(stuck - 1, 0), limit=_LIMIT)
        else:
            why = _("keep sending each one until its ACK arrives")
        run.check(
            names[1],
            delivered,
            _("every message must reach the receiver: {why}").format(why=why),
            _("the receiver got {got} of {n} messages in order").format(
                got=len(reference.delivered), n=len(messages)
            ),
        )
        sent = link.statistics().forward.received
        if (not finished or error is not None) and not reference.gaps and not still_sending:
            hint = (
                _(
                    "rdt_send raised {error}: when recvfrom() times out, send "
                    "the same packet again (catch TimeoutError)"
                ).format(error=describe(error))
                if error is not None
                else _(
                    "rdt_send stopped sending and never returned: give the socket a timeout, "
                    "and when recvfrom() times out, send the same packet again"
                )
            )
            run.check(names[2], False, hint)
        else:
            run.check(
                names[2],
                sent > len(messages),
                _("when no ACK arrives within timeout, send the same DATA packet again"),
                _("{sent} DATA datagrams for {n} messages").format(sent=sent, n=len(messages)),
            )
        gap = reference.gaps[0] if reference.gaps else None
        run.check(
            names[3],
            gap is None,
            _(
                "an ACK for an older packet (late, or duplicated by the network) is not the ACK "
                "of the current one: compare the ACK's seq with the seq you are waiting for, and "
                "ignore any other"
            ),
            _("the receiver expected seq {expected} and got seq {got}").format(
                expected=gap[0], got=gap[1]
            )
            if gap
            else "",
        )
        if finished and error is None:
            result = call.result
            run.check(
                names[4],
                result == sent,
                _("count every sendto() of a DATA packet, retransmissions included, and return it"),
                _("returned {result}; the link counted {sent}").format(
                    result=repr(result), sent=sent
                ),
            )
        else:
            run.skip(names[4], _("not checked: rdt_send did not return"))

    # -- the student's receiver --------------------------------------------------
    def receiver(self) -> None:
        run = self.run
        names = (
            N_("rdt_receive acknowledges every DATA packet, duplicates too (b'A' + 4-byte seq)"),
            N_("rdt_receive delivers every message once, in order"),
            N_("rdt_receive returns soon after stop is set"),
        )
        sock = udp_socket(run)
        stop = threading.Event()
        call = run.call(self.rdt_receive, sock, stop, name="rdt_receive")
        if call.wait(0.05) and call.not_implemented:
            for name in names:
                run.check(name, False, _("rdt_receive() still raises NotImplementedError"))
            return
        self.attempted = True
        link = self.link(sock.getsockname()[:2], RECEIVER_SEED)
        messages = messages_for(RECEIVER_SEED, self.count)
        outcome = _reference_send(run, link.address, messages)
        time.sleep(0.05)  # late duplicates reach the receiver: it must not deliver them
        stop.set()
        returned = call.wait(2.0)
        if not returned:
            hang_up(sock)  # ends a receiver that ignores stop: its recvfrom() fails
            call.wait(1.0)
        if returned and call.error is not None:
            raised = _("rdt_receive raised {error}").format(error=describe(call.error))
            run.check(names[0], False, raised)
            for name in names[1:]:
                run.skip(name, _("not checked: rdt_receive must run until stop is set first"))
            return
        if outcome.byte_swapped:
            run.check(names[0], False, _byte_order_hint(), _("the ACK of seq 1 read as 16777216"))
        elif outcome.malformed:
            hint = _("an ACK is b'A' + struct.pack('!I', seq) of the DATA packet it acknowledges")
            run.check(
                names[0],
                False,
                hint,
                _("got {data}").format(data=repr(outcome.malformed[0][:20])),
            )
        elif outcome.gave_up is not None:
            run.check(
                names[0],
                False,
                _(
                    "when a DATA packet arrives again (its ACK was lost, so the sender sent it "
                    "again), ACK it again, without delivering it twice"
                ),
                _("the sender gave message {seq} up after {tries} tries").format(
                    seq=outcome.gave_up, tries=_MAX_TRIES
                ),
            )
        else:
            run.check(names[0], True)
        result = call.result if returned and call.error is None else None
        if not returned:
            run.check(names[1], False, _("return the list of delivered messages when stop is set"))
        elif call.error is not None:
            run.check(
                names[1],
                False,
                _("rdt_receive raised {error}").format(error=describe(call.error)),
            )
        elif outcome.gave_up is not None:
            run.skip(names[1], _("not checked: the sender could not get every message through"))
        elif not isinstance(result, list):
            run.check(
                names[1],
                False,
                _("return the list of messages delivered, in order"),
                _("returned {type}").format(type=type(result).__name__),
            )
        else:
            got = [bytes(m) if isinstance(m, (bytes, bytearray)) else m for m in result]
            dup = len(got) > len(messages)
            if dup:
                hint = _(
                    "a retransmitted packet was delivered twice: deliver only the packet whose "
                    "seq is the one you expect next; ACK older ones again without delivering them"
                )
            elif got == messages[:1] and outcome.acked == len(messages):
                # Every message was ACKed, yet only seq 0 (the same in both orders) delivered.
                hint = _(
                    "only the first message was delivered although every one was ACKed: if you "
                    "read the seq with struct 'I' or '<I', seq 1 reads as 16777216 and never "
                    "matches the one you expect. Unpack it with '!I' (network order)"
                )
            else:
                hint = _(
                    "deliver each message once, in the order of its seq, payload only "
                    "(without the 5-byte header)"
                )
            ok = got == messages[: outcome.acked] and outcome.acked == len(messages)
            run.check(
                names[1],
                ok,
                hint,
                _("delivered {got} of {n}").format(got=len(got), n=len(messages)),
            )
        run.check(
            names[2],
            returned,
            _(
                "check stop.is_set() each time recvfrom() times out (sock.settimeout(0.1)), "
                "and return the list then"
            ),
            "" if returned else _("the check closed the socket to end it"),
        )


class _SendOutcome:
    def __init__(self) -> None:
        self.acked = 0
        self.gave_up: int | None = None
        self.malformed: list[bytes] = []
        self.byte_swapped = False  # an ACK whose seq reads right once its bytes are reversed


def _reference_send(run: CheckRun, peer: tuple[str, int], messages: list[bytes]) -> _SendOutcome:
    """The check's stop-and-wait sender, in this thread; gives up after _MAX_TRIES sends."""
    outcome = _SendOutcome()
    peer = check_destination(peer, what=_("the check's sender"))  # the loopback guard, once
    sock = udp_socket(run)
    end = time.perf_counter() + _LIMIT
    for seq, payload in enumerate(messages):
        if time.perf_counter() > end:
            outcome.gave_up = seq
            break
        for _try in range(_MAX_TRIES):
            sock.sendto(DATA + _SEQ.pack(seq) + payload, peer)
            deadline = time.perf_counter() + TIMEOUT
            acked = False
            while (left := deadline - time.perf_counter()) > 0:
                sock.settimeout(left)
                try:
                    packet = sock.recv(64)
                except TimeoutError:
                    break
                got = parse(packet, ACK)
                if got is None:
                    outcome.malformed.append(packet)
                elif got == seq:
                    acked = True
                    break
                elif seq and got == swapped(seq):
                    outcome.byte_swapped = True
            if acked:
                outcome.acked += 1
                break
        else:
            outcome.gave_up = seq
            break
    sock.close()
    return outcome


def check_reliable(rdt_send: RdtSend, rdt_receive: RdtReceive, *, count: int = 25) -> Report:
    """Check both ends of a stop-and-wait protocol over a lossy, duplicating, reordering link.

    ``rdt_send`` sends ``count`` messages to the check's receiver, and the
    check's sender sends ``count`` messages to ``rdt_receive``, each through
    an :class:`~labsock.ImpairedLink` that loses 20 %, duplicates 10 % and
    delays every datagram by 2 to 6 ms (seeded). The check creates the
    sockets (bound to 127.0.0.1) and closes them at the end.

    Returns:
        A :class:`Report` ("not attempted yet" while both functions still
        raise ``NotImplementedError``).

    Example:
        >>> check_reliable(rdt_send, rdt_receive).passed  # with your working functions
        True
    """
    check_count(count, name="count", maximum=10_000)
    with CheckRun("reliable", N_("Exercise 5: reliable delivery over a lossy link")) as run:
        check = _ReliableCheck(run, rdt_send, rdt_receive, count)
        check.sender()
        check.receiver()
        if not check.attempted:
            run.not_attempted()
    return run.report
