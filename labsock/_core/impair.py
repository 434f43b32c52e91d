"""The impairment model: which datagrams a bad link drops, copies, delays or lets jump ahead.

Pure, like the rest of the core: no sockets, no threads, no clock of its own.
The relay (``_link``) asks :meth:`ImpairmentModel.decide` once per datagram,
passing the time the datagram arrived, and does what the answer says.

Reproducible on purpose: the answers depend only on the seed and on *which*
datagram it is, never on timing. A relay passes each datagram's identity
(:func:`probe_identity` for a labsock probe: its sequence number and which
copy of it this is; :func:`arrival_identity` for anything else: its place
among its sender's datagrams in that direction), and the model derives the
datagram's random numbers from the seed and that identity alone. So the same
seed drops, duplicates and holds exactly the same probes for the same times
however the probes are paced, and whatever order the replies reach the link
in. Each direction of a link gets its own generator (:func:`direction_rng`),
so replies never shift the decisions about requests. Without an identity,
``decide`` draws from the generator in arrival order.

Every datagram draws the same five random numbers whatever the settings, so
settings compare like for like: with one seed, the datagrams lost at
``loss=0.1`` are among those lost at ``loss=0.2``.

The value types a link reports (:class:`DirectionStats`, :class:`LinkStats`,
:class:`LinkEvent`) live here too: they are plain records, shared by the UDP
and the TCP relay.
"""

from __future__ import annotations

import dataclasses
import hashlib
import random
import struct
from dataclasses import dataclass

from labsock._core.errors import UsageError
from labsock._core.i18n import gettext as _
from labsock._core.validate import check_probability, check_seconds

__all__ = [
    "MAX_DELAY",
    "Decision",
    "DirectionStats",
    "Impairment",
    "ImpairmentModel",
    "LinkEvent",
    "LinkStats",
    "arrival_identity",
    "direction_rng",
    "probe_identity",
]

#: Longest delay (and jitter) a link accepts, in seconds. Longer holds only
#: make a notebook cell look frozen.
MAX_DELAY = 60.0

_PROBABILITIES = ("loss", "reorder", "duplicate")


def _percent(p: float) -> str:
    return f"{p * 100:g} %"


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:g} ms"


@dataclass(frozen=True, slots=True)
class Impairment:
    """How bad one direction of a link is. All zero (the default) is a perfect link.

    Attributes:
        loss: probability that a datagram is dropped (0.0 to 1.0).
        delay: seconds every datagram is held before it goes on. It is the
            *minimum*: jitter only ever adds to it, so no datagram ever
            arrives sooner than ``delay`` (unless ``reorder`` lets it skip).
        jitter: each datagram waits an extra time drawn uniformly from
            ``[0, jitter]`` seconds on top of ``delay``. Datagrams that wait
            different times can overtake each other: jitter reorders.
        reorder: probability that a datagram skips the wait and goes on at
            once, overtaking those still waiting (the semantics of Linux
            ``tc netem reorder``). It needs ``delay > 0``: with no wait there
            is nothing to skip, so nothing could be overtaken.
        duplicate: probability that a datagram is sent twice. Each copy gets
            its own jitter.

    Raises:
        UsageError: a probability outside [0, 1], a negative or huge time,
            or ``reorder`` without ``delay``.

    Example:
        >>> Impairment(loss=0.1, delay=0.02, jitter=0.005)
        Impairment(loss=0.1, delay=0.02, jitter=0.005, reorder=0.0, duplicate=0.0)
        >>> str(Impairment(loss=0.1, delay=0.02))
        'loss 10 %, delay 20 ms'
    """

    loss: float = 0.0
    delay: float = 0.0
    jitter: float = 0.0
    reorder: float = 0.0
    duplicate: float = 0.0

    def __post_init__(self) -> None:
        # Normalise to float so that equal settings compare (and print) equal.
        for name in _PROBABILITIES:
            object.__setattr__(self, name, check_probability(getattr(self, name), name=name))
        for name in ("delay", "jitter"):
            value = check_seconds(getattr(self, name), name=name, maximum=MAX_DELAY)
            object.__setattr__(self, name, value)
        if self.reorder > 0 and self.delay == 0:
            raise UsageError(
                _(
                    "reorder={reorder:g} needs a delay: reordering here means some "
                    "datagrams skip the queue while the others wait `delay` seconds, and with "
                    "delay=0 nobody waits, so nobody can be overtaken. Add a delay, e.g. "
                    "delay=0.01 (or use jitter, which reorders on its own)."
                ).format(reorder=self.reorder)
            )

    @property
    def perfect(self) -> bool:
        """True when this direction changes nothing: no loss, delay, copies."""
        return self == _PERFECT

    def replace(self, **changes: float) -> Impairment:
        """A copy with some settings changed (validated like the constructor).

        >>> Impairment(loss=0.5).replace(delay=0.01)
        Impairment(loss=0.5, delay=0.01, jitter=0.0, reorder=0.0, duplicate=0.0)
        """
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise UsageError(
                _(
                    "unknown setting(s) {names}: a link has "
                    "loss, delay, jitter, reorder and duplicate"
                ).format(names=sorted(unknown))
            )
        return dataclasses.replace(self, **changes)

    def __str__(self) -> str:
        parts = []
        if self.loss:
            parts.append(_("loss {percent}").format(percent=_percent(self.loss)))
        if self.jitter:
            parts.append(
                _("delay {delay} + up to {jitter} jitter").format(
                    delay=_ms(self.delay), jitter=_ms(self.jitter)
                )
            )
        elif self.delay:
            parts.append(_("delay {delay}").format(delay=_ms(self.delay)))
        if self.reorder:
            parts.append(_("reorder {percent}").format(percent=_percent(self.reorder)))
        if self.duplicate:
            parts.append(_("duplicate {percent}").format(percent=_percent(self.duplicate)))
        return ", ".join(parts) or _("perfect")


_PERFECT = Impairment()


class _Copies:
    """``dropped`` and ``duplicated``, read off ``holds``: one datagram's copies.

    Shared by :class:`Decision` (what to do) and :class:`LinkEvent` (what
    was done), so the two can never disagree on what a drop is.
    """

    __slots__ = ()  # adds no state: the dataclasses below keep their slots
    holds: tuple[float, ...]

    @property
    def dropped(self) -> bool:
        """True when ``holds`` is empty: no copy goes on, the datagram is lost."""
        return not self.holds

    @property
    def duplicated(self) -> bool:
        """True when more than one copy goes on."""
        return len(self.holds) > 1


@dataclass(frozen=True, slots=True)
class Decision(_Copies):
    """What to do with one datagram that arrived at time ``arrived``.

    ``holds`` has one entry per copy to send, the seconds to hold that copy:
    ``()`` means drop it, two entries mean send it twice, ``0.0`` means at
    once. ``express`` is true when ``reorder`` let it skip the delay.

    >>> d = Decision(arrived=10.0, holds=(0.5, 0.25))
    >>> d.dropped, d.duplicated, d.releases, d.first
    (False, True, (10.5, 10.25), 1)
    """

    arrived: float
    holds: tuple[float, ...]
    express: bool = False

    @property
    def delayed(self) -> bool:
        """True when some copy is held for a positive time."""
        return any(hold > 0 for hold in self.holds)

    @property
    def releases(self) -> tuple[float, ...]:
        """When each copy goes on: ``arrived + hold``."""
        return tuple(self.arrived + hold for hold in self.holds)

    @property
    def first(self) -> int:
        """Index of the copy released first (the earlier one on a tie); -1 if dropped."""
        if not self.holds:
            return -1
        return min(range(len(self.holds)), key=self.holds.__getitem__)


_FIVE = struct.Struct("!5Q")
_PROBE_ID = struct.Struct("!cII")
_ARRIVAL_ID = struct.Struct("!cQ")
_TO_UNIT = 2.0**-53  # 53 random bits -> [0, 1), as random.random() does


def probe_identity(seq: int, copy: int) -> bytes:
    """Who a labsock probe is, for the model: its sequence number and copy.

    ``copy`` is 0 for the first datagram with this number a relay sees from
    one client in one direction, 1 for the second (a duplicate), and so on.

    >>> probe_identity(7, 0) == probe_identity(7, 0) != probe_identity(7, 1)
    True
    """
    return _PROBE_ID.pack(b"p", seq & 0xFFFF_FFFF, copy & 0xFFFF_FFFF)


def arrival_identity(index: int) -> bytes:
    """Who any other datagram is: its place among its sender's (0, 1, 2, ...)."""
    return _ARRIVAL_ID.pack(b"a", index & 0xFFFF_FFFF_FFFF_FFFF)


def direction_rng(seed: object, direction: str) -> random.Random:
    """The random generator of one direction (``"forward"`` or ``"backward"``) of a link.

    Seeded from the text ``f"{seed}/{direction}"``: the same on every
    machine and Python version (string seeds are hashed with SHA-512, not
    with the per-process ``hash``). A test that wants to predict a link
    builds the same generator.

    >>> direction_rng(7, "forward").random() == direction_rng(7, "forward").random()
    True
    """
    if direction not in ("forward", "backward"):
        raise UsageError(
            _("direction must be 'forward' or 'backward', not {value!r}").format(value=direction)
        )
    return random.Random(f"{seed}/{direction}")


class ImpairmentModel:
    """Decides the fate of each datagram of one direction, from seeded randomness.

    Args:
        settings: the :class:`Impairment` to apply; may be replaced at any
            time (``model.settings = ...``), the next decision uses it.
        rng: the random source, e.g. ``direction_rng(seed, "forward")``.

    A perfect setting (all zero) draws nothing: every datagram passes at
    once. Otherwise each decision draws exactly five numbers (loss,
    duplicate, reorder, one jitter per copy), whatever the outcome: from
    the generator in turn, or, when ``decide`` is given the datagram's
    identity, from a keyed hash of the generator's seed state and that
    identity (BLAKE2b: the same on every machine and Python version).

    Example:
        >>> import random
        >>> model = ImpairmentModel(Impairment(loss=0.5), random.Random(1))
        >>> [model.decide(0.0).dropped for _ in range(6)]
        [True, True, False, False, True, True]
    """

    def __init__(self, settings: Impairment, rng: random.Random) -> None:
        self.settings = settings
        self._rng = rng
        # The key of identity-based decisions: the generator's starting
        # state (so its seed) without drawing from it.
        self._key = hashlib.blake2b(repr(rng.getstate()).encode(), digest_size=32).digest()
        self.decisions = 0

    @property
    def settings(self) -> Impairment:
        return self._state[0]

    @settings.setter
    def settings(self, value: Impairment) -> None:
        if not isinstance(value, Impairment):
            raise UsageError(
                _("settings must be an Impairment(loss=..., delay=...), not {value!r}").format(
                    value=value
                )
            )
        # One attribute swap: a relay thread calling decide() concurrently
        # sees either the old settings or the new ones, never a mixture.
        self._state = (value, value == _PERFECT)

    @property
    def passthrough(self) -> bool:
        """True while the settings are perfect: every datagram passes at once."""
        return self._state[1]

    def decide(self, now: float, identity: bytes | None = None) -> Decision:
        """The fate of a datagram that arrived at time ``now`` (seconds).

        ``identity`` (:func:`probe_identity`, :func:`arrival_identity`)
        makes the fate depend on the seed and the datagram alone, so that
        arrival order does not matter; without it the next numbers of the
        generator decide.
        """
        s, perfect = self._state
        self.decisions += 1
        if perfect:
            return Decision(now, (0.0,))
        if identity is None:
            draw = self._rng.random
            # Always five draws, in this order: the sequence of decisions then
            # depends on the datagram count alone, not on what happened before.
            u_loss, u_dup, u_reorder, u_jitter1, u_jitter2 = (draw() for _ in range(5))
        else:
            digest = hashlib.blake2b(identity, key=self._key, digest_size=40).digest()
            u_loss, u_dup, u_reorder, u_jitter1, u_jitter2 = (
                (word >> 11) * _TO_UNIT for word in _FIVE.unpack(digest)
            )
        if u_loss < s.loss:
            return Decision(now, ())
        copies = 2 if u_dup < s.duplicate else 1
        if u_reorder < s.reorder:
            return Decision(now, (0.0,) * copies, express=True)
        holds = (s.delay + s.jitter * u_jitter1, s.delay + s.jitter * u_jitter2)
        return Decision(now, holds[:copies])


@dataclass(frozen=True, slots=True)
class DirectionStats:
    """What one direction of a link did (a snapshot; see ``link.statistics()``).

    For a UDP link each count is in datagrams; for a TCP link in chunks (what
    one ``recv`` returned), and only ``bytes_in``/``bytes_out`` mean much.

    Attributes:
        received: datagrams that reached the link.
        forwarded: copies the link sent on (a duplicated datagram counts 2).
        dropped: datagrams the link threw away on purpose (``loss``).
        duplicated: datagrams the link sent twice.
        delayed: datagrams held for a positive time before going on.
        reordered: datagrams that went on *after* a later one from the same
            client (RFC 4737, counted on first copies, as ``ping`` counts).
        held: datagrams waiting inside the link right now.
        failed: copies the kernel refused to send (a full socket buffer, a
            closed port): lost by the link, but not on purpose.
        bytes_in, bytes_out: payload bytes received and sent on.
        kernel_dropped: datagrams the kernel threw away at the link's own
            socket(s) for this direction, because the receive buffer was
            full: they never reached the link, so they are not in
            ``received`` (UDP on Linux, from the sockets' ``drops``
            counters; 0 where the kernel does not say).

    Once nothing is held: ``forwarded + failed == received - dropped + duplicated``,
    and what was sent to the link is ``received + kernel_dropped``.
    """

    received: int = 0
    forwarded: int = 0
    dropped: int = 0
    duplicated: int = 0
    delayed: int = 0
    reordered: int = 0
    held: int = 0
    failed: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    kernel_dropped: int = 0

    def __add__(self, other: DirectionStats) -> DirectionStats:
        return DirectionStats(
            *(getattr(self, f.name) + getattr(other, f.name) for f in dataclasses.fields(self))
        )


@dataclass(frozen=True, slots=True)
class LinkStats:
    """A snapshot of what a link did, per direction.

    ``forward`` is client -> target, ``backward`` target -> client (the
    replies). ``clients`` counts clients seen since start (UDP: distinct
    source addresses, however often the link forgot and met one again; TCP:
    accepted connections), ``active`` those the link still tracks.
    ``unreachable`` counts the times the target's kernel said nothing
    listens there (UDP "port unreachable", TCP "connection refused").
    """

    protocol: str
    forward: DirectionStats
    backward: DirectionStats
    clients: int = 0
    active: int = 0
    unreachable: int = 0

    @property
    def total(self) -> DirectionStats:
        """Both directions added up."""
        return self.forward + self.backward


@dataclass(frozen=True, slots=True)
class LinkEvent(_Copies):
    """The fate of one datagram at the link (see ``link.events()``).

    Attributes:
        time: when it reached the link (``time.perf_counter()`` clock, the
            one ``ping`` uses).
        direction: ``"forward"`` (client -> target) or ``"backward"``.
        client: the client's ``(host, port)``.
        index: its position among this client's datagrams in this
            direction (0, 1, 2, ...).
        seq: its probe sequence number when it is a labsock probe (what
            ``ping`` sends, and the echo sends back), else ``None``.
        size: payload bytes.
        holds: seconds each copy was held: ``()`` dropped, two entries
            duplicated.
        express: it skipped the delay (``reorder``).
    """

    time: float
    direction: str
    client: tuple[str, int]
    index: int
    seq: int | None
    size: int
    holds: tuple[float, ...]
    express: bool = False
