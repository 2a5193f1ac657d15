"""JACK MIDI ports for recall, through python-rtmidi's JACK API.

There is no ALSA sequencer here: the host registers its own JACK client and
connects one of its MIDI ports to the unit's.  A session names the unit's
port by its full JACK name (``"gear-varimu:midi_in"``) or by a part of it
that matches exactly one port (``"varimu"``)::

    names = midi_destinations()                  # every JACK MIDI input port
    with MidiOutput.open("varimu") as out:       # OutboardError listing names if absent
        out.send(b"\\xb0\\x14\\x40")
        out.flush()                              # wait until JACK has taken it
    with MidiInput.open("gear-varimu:midi_out") as inp:
        inp.receive(timeout_s=1.0)               # SysEx included

A port that is not there, or a part that matches several, is a
:class:`PortNotFound` (an :class:`OutboardError`): one line naming what was
asked and listing the ports that exist.

Not real-time code: opening, sending and waiting happen in the host's
control thread; rtmidi's own JACK process callback moves the bytes.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from host.errors import OutboardError

#: JACK client names of the host's recall ports
OUT_CLIENT = "outboard-recall"
IN_CLIENT = "outboard-verify"
#: wall time for rtmidi's JACK callback to hand queued bytes to the graph, s
#: (a few periods of the embedded studio; messages are moved once per cycle)
FLUSH_S = 0.05


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
    """One open JACK MIDI output of the host, connected to one destination port.

    Use :meth:`open`; :meth:`send` queues one complete message; :meth:`flush`
    waits until rtmidi's JACK callback has had time to pass them on;
    :meth:`close` flushes, then disconnects.
    """

    def __init__(self, midiout: Any, destination: str):
        self._out = midiout
        self.destination = destination

    @classmethod
    def open(cls, asked: str, client_name: str = OUT_CLIENT) -> MidiOutput:
        """Connect a new host MIDI output to the destination named ``asked`` (full
        name or unique part).  Raises :class:`PortNotFound` listing the ports."""
        rtmidi = _rtmidi()
        try:
            out = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name=client_name)
        except rtmidi.SystemError as exc:
            raise OutboardError(f"MIDI: no JACK server answers ({exc}); start the studio "
                                "first") from None
        try:
            ports = list(out.get_ports())
            i = find_port(asked, ports)
            out.open_port(i, "out")
            time.sleep(FLUSH_S)  # let the connection reach the graph before the first send
        except BaseException:
            with contextlib.suppress(Exception):
                out.delete()
            raise
        return cls(out, ports[i])

    def present(self) -> bool:
        """Whether the destination port still exists."""
        with contextlib.suppress(Exception):
            return self.destination in list(self._out.get_ports())
        return False

    def send(self, message: bytes) -> None:
        """Queue one complete MIDI message (not real-time safe; control thread)."""
        self._out.send_message(list(message))

    def flush(self) -> None:
        time.sleep(FLUSH_S)

    def close(self) -> None:
        if self._out is None:
            return
        self.flush()
        with contextlib.suppress(Exception):
            self._out.close_port()
        with contextlib.suppress(Exception):
            self._out.delete()
        self._out = None

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
