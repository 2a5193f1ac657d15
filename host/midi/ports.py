"""JACK MIDI ports for recall: a paced output client of the host's own, and
python-rtmidi's JACK API for listing ports and receiving.

There is no ALSA sequencer here: the host registers its own JACK client and
connects one of its MIDI ports to the unit's.  A session names the unit's
port by its full JACK name (``"gear-varimu:midi_in"``) or by a part of it
that matches exactly one port (``"varimu"``)::

    names = midi_destinations()                  # every JACK MIDI input port
    with MidiOutput.open("varimu", pace_ms=30) as out:  # PortNotFound lists the ports
        out.send(b"\\xb0\\x14\\x40")
        out.send(b"\\xb0\\x15\\x40")             # on the wire >= 30 ms after the first
        out.flush()                              # wait until JACK has taken both
    with MidiInput.open("gear-varimu:midi_out") as inp:
        inp.receive(timeout_s=1.0)               # SysEx included

A port that is not there, or a part that matches several, is a
:class:`PortNotFound` (an :class:`OutboardError`): one line naming what was
asked and listing the ports that exist.

:class:`MidiOutput` spaces its messages in JACK frames (event times inside
the period), so the pace holds at any period size; see its docstring.  Opening,
sending and waiting happen in the host's control thread; what runs in the
JACK threads is said where it is defined.
"""

from __future__ import annotations

import contextlib
import math
import struct
import time
from collections.abc import Callable
from typing import Any

import jack

from host.errors import OutboardError

#: JACK client names of the host's recall ports
OUT_CLIENT = "outboard-recall"
IN_CLIENT = "outboard-verify"
#: wall time for rtmidi's JACK callback to hand queued bytes to the graph, s
#: (a few periods of the embedded studio; messages are moved once per cycle)
FLUSH_S = 0.05
#: bytes of MidiOutput's queue (a power of two; JACK keeps one byte)
RING_BYTES = 1 << 18
#: MidiOutput: how often the control thread looks at the queue, s, and how long
#: without a single JACK process cycle means the server stopped calling it, s
POLL_S = 0.002
STALL_S = 2.0
#: a queued message's header: frames after the previous message, bytes that follow
_HEADER = struct.Struct("<II")
#: JACK frame times are 32-bit and wrap
_MASK = 0xFFFFFFFF


def pace_frames(pace_ms: float, fs: float) -> int:
    """Least frames between two messages ``pace_ms`` apart at ``fs`` Hz:
    ``ceil(pace_ms * fs / 1000)`` (never fewer than the pace asks)."""
    return math.ceil(pace_ms * fs / 1000.0)


class PortNotFound(OutboardError):
    """A MIDI port a session names is not present (or the name is ambiguous)."""

    def __init__(self, message: str, asked: str, available: list[str]):
        super().__init__(message)
        self.asked = asked
        self.available = available


def _rtmidi() -> Any:
    try:
        import rtmidi
    except ImportError as exc:  # pragma: no cover - installed with the host
        raise OutboardError(f"MIDI: python-rtmidi is not importable ({exc})") from None
    if rtmidi.API_UNIX_JACK not in rtmidi.get_compiled_api():
        raise OutboardError("MIDI: this python-rtmidi has no JACK API compiled in")
    return rtmidi


def _listing(kind: str) -> list[str]:
    """JACK port names as rtmidi lists them (``kind`` "out": destinations, "in": sources)."""
    rtmidi = _rtmidi()
    try:
        probe = (rtmidi.MidiOut if kind == "out" else rtmidi.MidiIn)(
            rtmidi.API_UNIX_JACK, name="outboard-ports")
    except rtmidi.SystemError as exc:
        raise OutboardError(f"MIDI: no JACK server answers ({exc}); start the studio "
                            "first") from None
    try:
        return list(probe.get_ports())
    finally:
        with contextlib.suppress(Exception):
            probe.delete()


def midi_destinations() -> list[str]:
    """Every JACK MIDI input port (where recall can send), full names."""
    return _listing("out")


def midi_sources() -> list[str]:
    """Every JACK MIDI output port (where dump replies can come from), full names."""
    return _listing("in")


def find_port(asked: str, available: list[str], what: str = "MIDI output") -> int:
    """Index in ``available`` of the port named ``asked``: the exact full name, else
    the one port whose name contains ``asked`` (case-sensitive, then not).

    Raises
    ------
    PortNotFound
        No port, or several, match; the message lists the ports that exist.
    """
    if asked in available:
        return available.index(asked)
    hits = [i for i, n in enumerate(available) if asked in n]
    if not hits:
        hits = [i for i, n in enumerate(available) if asked.lower() in n.lower()]
    if len(hits) == 1:
        return hits[0]
    have = ", ".join(available) or "none"
    if hits:
        many = ", ".join(available[i] for i in hits)
        raise PortNotFound(f"{what} port {asked!r} is ambiguous: it matches {many}; "
                           "name it in full", asked, available)
    raise PortNotFound(f"{what} port {asked!r} is not present; JACK MIDI ports there: {have}",
                       asked, available)


class MidiOutput:
    """One open JACK MIDI output of the host, connected to one destination port,
    that spaces its messages on the wire by at least ``pace_ms``.

    Use :meth:`open`; :meth:`send` queues one complete message (it returns at
    once unless the queue is full); :meth:`flush` waits until every queued
    message has gone out; :meth:`close` flushes, then disconnects.

    Pacing is done in JACK frames, not by sleeping: the output is a JACK client
    of its own, and its process callback writes each message at a frame offset
    inside the period (JACK MIDI event time) such that it lands at least
    ``ceil(pace_ms * fs / 1000)`` frames after the previous message's frame,
    at any period size (a sleep between sends is quantised to whole periods:
    one period short of the pace at small periods, two messages in one period
    at large ones).  A message lands exactly that many frames after the
    previous one unless the port's buffer is full for the period or the
    client missed a cycle; then it goes first thing in the next period.
    A message larger than an empty JACK MIDI buffer (32720 bytes with JACK2)
    can only be SysEx: it goes out in consecutive pieces, one per period, whose
    bytes in order are the message (what a JACK-to-DIN bridge puts on the
    wire); the pace counts from the last piece.

    Threads: :meth:`send`, :meth:`flush` and :meth:`close` from one control
    thread (the ring buffer has a single writer).  Real-time safety: the
    process callback takes no lock of its own, makes no system call, does not
    print or sleep, and copies at most the messages due in the period from a
    lock-free ring (``jack.RingBuffer``) into the port's buffer.  It is Python
    (JACK-Client), so it holds the GIL and allocates small objects (the
    integers, the cffi buffer of each message read): fine for this client of
    its own, which only carries recall MIDI; the audio engine's callback is C.
    The shutdown callback only sets a flag.
    """

    def __init__(self, client: Any, destination: str, pace_ms: float = 0.0):
        self._client = client
        self.name = str(client.name)        # JACK client name (OUT_CLIENT, -01 ... if taken)
        self.destination = destination
        self.fs = int(client.samplerate)
        self.pace_ms = pace_ms
        self._ring = jack.RingBuffer(RING_BYTES)
        #: largest message :meth:`send` takes, bytes
        self.max_message_bytes = self._ring.write_space - _HEADER.size
        self._port: Any = None
        # control thread -> callback: messages queued; callback -> control thread:
        # messages written, process cycles ended, the shutdown reason
        self._queued = 0
        self._done = 0
        self._cycles = 0
        self._shutdown: str | None = None
        # callback only: bytes of the current message left, whether it goes whole,
        # the frame it is due at, the frame of the last event written (None: none yet)
        self._left = 0
        self._whole = True
        self._due = 0
        self._last: int | None = None

    @classmethod
    def open(cls, asked: str, client_name: str = OUT_CLIENT,
             pace_ms: float = 0.0) -> MidiOutput:
        """Connect a new host MIDI output to the destination named ``asked`` (full
        name or unique part), its messages ``pace_ms`` apart (ms, 0..1000).
        Raises :class:`PortNotFound` listing the ports."""
        try:
            client = jack.Client(client_name, no_start_server=True)
        except jack.JackError as exc:
            raise OutboardError(f"MIDI: no JACK server answers ({exc}); start the studio "
                                "first") from None
        try:
            ports = [p.name for p in client.get_ports(is_midi=True, is_input=True)]
            out = cls(client, ports[find_port(asked, ports)], pace_ms)
            out._start()
        except BaseException:
            with contextlib.suppress(Exception):
                client.close()
            raise
        return out

    def _start(self) -> None:
        c = self._client
        self._port = c.midi_outports.register("out")
        c.set_process_callback(self._process)
        c.set_shutdown_callback(self._on_shutdown)
        c.activate()
        try:
            c.connect(self._port, self.destination)
        except jack.JackError as exc:
            raise OutboardError(f"MIDI: cannot connect {self._port.name} to "
                                f"{self.destination} ({exc})") from None
        # the connection is in the graph once a cycle has begun after it was made
        n = self._cycles
        self._wait(lambda: self._cycles >= n + 2, "connecting")

    @property
    def pace_ms(self) -> float:
        """Least time between two messages on the wire, ms (0..1000); applies
        to the messages sent after it is set."""
        return self._pace_ms

    @pace_ms.setter
    def pace_ms(self, ms: float) -> None:
        if not math.isfinite(ms) or not 0 <= ms <= 1000:
            raise ValueError(f"pace_ms: expected 0..1000 ms, got {ms!r}")
        self._pace_ms = float(ms)
        self._gap_frames = pace_frames(ms, self.fs)

    def present(self) -> bool:
        """Whether the destination port still exists."""
        if self._shutdown is not None or self._client is None:
            return False
        try:
            self._client.get_port_by_name(self.destination)
        except jack.JackError:
            return False
        return True

    def send(self, message: bytes) -> None:
        """Queue one complete MIDI message (status byte first; no running
        status) to go out at least ``pace_ms`` after the previous one.  Returns
        at once unless the queue is full.  Not real-time safe (control thread).

        Raises
        ------
        ValueError
            Not a MIDI message, or longer than :attr:`max_message_bytes`.
        OutboardError
            The JACK server shut the client down, or stopped calling it.
        """
        data = bytes(message)
        if not data or data[0] < 0x80:
            raise ValueError(f"not a MIDI message (no status byte first): {data[:8].hex(' ')}")
        if len(data) > self.max_message_bytes:
            raise ValueError(f"MIDI message of {len(data)} bytes: at most "
                             f"{self.max_message_bytes} go through the queue")
        record = _HEADER.pack(self._gap_frames, len(data)) + data
        self._wait(lambda: self._ring.write_space >= len(record), "queueing")
        self._ring.write(record)
        self._queued += 1

    def flush(self) -> None:
        """Wait until every queued message has been written to the port and the
        JACK cycle that carried the last one has ended (so the destination has
        it).  Raises OutboardError if the server shut the client down or
        stopped calling it first."""
        if self._client is None:
            return
        n = self._queued
        self._wait(lambda: self._done >= n, "sending")
        c = self._cycles
        self._wait(lambda: self._cycles >= c + 2, "sending")

    def close(self) -> None:
        """Flush (as far as the server lets it), then disconnect and close."""
        if self._client is None:
            return
        with contextlib.suppress(OutboardError):
            self.flush()
        with contextlib.suppress(Exception):
            self._client.deactivate()
        with contextlib.suppress(Exception):
            self._client.close()
        self._client = None

    def _wait(self, done: Callable[[], bool], what: str) -> None:
        """Poll until ``done()``; OutboardError if the client is shut down or no
        process cycle ends for STALL_S."""
        seen, since = self._cycles, time.monotonic()
        while not done():
            if self._shutdown is not None:
                raise OutboardError(f"MIDI: the JACK server shut {self.name} down while "
                                    f"{what} ({self._shutdown})")
            if self._cycles != seen:
                seen, since = self._cycles, time.monotonic()
            elif time.monotonic() - since > STALL_S:
                raise OutboardError(f"MIDI: JACK stopped calling {self.name} while {what} "
                                    f"(no process cycle for {STALL_S:g} s)")
            time.sleep(POLL_S)

    # ---- the JACK threads -------------------------------------------------------------

    def _on_shutdown(self, status: Any, reason: str) -> None:
        self._shutdown = reason or "server gone"

    def _process(self, frames: int) -> None:
        """JACK process callback: the messages due in this period into the port
        (see the class docstring for what is real-time safe)."""
        port = self._port
        port.clear_buffer()
        if self._left or self._ring.read_space >= _HEADER.size:
            self._write_due(port, frames)
        self._cycles += 1

    def _write_due(self, port: Any, frames: int) -> None:
        ring = self._ring
        start = self._client.last_frame_time
        room = port.max_event_size             # an empty buffer's: the largest event
        while True:
            if not self._left:                  # the next message's header
                if ring.read_space < _HEADER.size:
                    return
                gap, self._left = _HEADER.unpack(ring.read(_HEADER.size))
                self._whole = self._left <= room
                self._due = start if self._last is None else (self._last + gap) & _MASK
            offset = (self._due - start) & _MASK
            if offset >= 1 << 31:               # overdue (a cycle was missed): now
                offset = 0
            elif offset >= frames:              # due in a later period
                return
            n = self._left if self._whole else min(self._left, port.max_event_size)
            if ring.read_space < n:             # the sender is still writing it
                return
            buf = port.reserve_midi_event(offset, n) if n else None
            if buf is None or not len(buf):     # no room left in this period's buffer
                self._due = (start + frames) & _MASK
                return
            buf[:] = ring.read(n)
            self._last = (start + offset) & _MASK
            self._left -= n
            if self._left:                      # a SysEx piece: the next one next period
                self._due = (start + frames) & _MASK
                return
            self._done += 1

    def __enter__(self) -> MidiOutput:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class MidiInput:
    """One open JACK MIDI input of the host, connected from one source port
    (SysEx is not filtered out).  Use :meth:`open`."""

    def __init__(self, midiin: Any, source: str):
        self._in = midiin
        self.source = source

    @classmethod
    def open(cls, asked: str, client_name: str = IN_CLIENT) -> MidiInput:
        """Connect a new host MIDI input from the source named ``asked`` (full name
        or unique part).  Raises :class:`PortNotFound` listing the ports."""
        rtmidi = _rtmidi()
        try:
            inp = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, name=client_name,
                                queue_size_limit=4096)
        except rtmidi.SystemError as exc:
            raise OutboardError(f"MIDI: no JACK server answers ({exc}); start the studio "
                                "first") from None
        try:
            ports = list(inp.get_ports())
            i = find_port(asked, ports, "MIDI input")
            inp.ignore_types(sysex=False, timing=True, active_sense=True)
            inp.open_port(i, "in")
            time.sleep(FLUSH_S)
        except BaseException:
            with contextlib.suppress(Exception):
                inp.delete()
            raise
        return cls(inp, ports[i])

    def drain(self) -> None:
        """Drop whatever has arrived so far."""
        while self._in.get_message() is not None:
            pass

    def receive(self, timeout_s: float, until: Any = None) -> list[bytes]:
        """Messages arriving within ``timeout_s`` s; returns early once
        ``until(messages)`` is true."""
        got: list[bytes] = []
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            m = self._in.get_message()
            if m is None:
                if until is not None and got and until(got):
                    break
                time.sleep(0.002)
                continue
            got.append(bytes(m[0]))
        return got

    def close(self) -> None:
        if self._in is None:
            return
        with contextlib.suppress(Exception):
            self._in.close_port()
        with contextlib.suppress(Exception):
            self._in.delete()
        self._in = None

    def __enter__(self) -> MidiInput:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
