"""A session's live stream: studio, device, engine, virtual gear, inserts.

``SessionStream`` is what `outboard run`, `ping` (and `print`) share: it
starts the embedded studio when the session asks for it, resolves the
device, builds the C engine for the session's chain, opens and starts the
duplex stream, patches virtual gear into hardware inserts (embedded studio
only), and gives each hardware insert its round trip: a manual figure from
the session, a stored measurement that is not stale, or a fresh ping in this
very stream.  Leaving the context stops and closes everything it started.

Before the stream opens it claims the outputs it writes, its inserts' sends
and returns and its units' MIDI ports (:mod:`host.live.locks`): a second
session on any of them is refused in one line naming the holder.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable
from typing import Any

from host.errors import OutboardError
from host.gear.inserts import apply, load_store, measure, stale_reason
from host.live.device import ensure_studio, resolve_device
from host.live.engine import Engine
from host.live.locks import Claims, session_claims
from host.sim.studio import StudioRack, portaudio_client_name

#: wall time to let parameter ramps (20 ms of stream) finish before the program
RAMP_SETTLE_S = 0.1


def _default_say(msg: str) -> None:
    print(f"outboard: {msg}", file=sys.stderr)


class SessionStream:
    """Context manager; see the module docstring.

    Parameters
    ----------
    session : host.model.session.Session
    source : {"input", "playback"}
        The program from the interface's inputs or from a file (playback ring).
    record : bool
        Record the processed program (the engine's record ring).
    say : callable
        Where notes go (stale measurements, JACK period mismatch...).
    """

    def __init__(self, session: Any, source: str = "input", record: bool = False,
                 say: Callable[[str], None] | None = None):
        self.session = session
        self.source = source
        self.record = record
        self.say = say or _default_say
        self.studio = None
        self.rack = None
        self.engine = None
        self.device = None
        self.measurements: dict[str, Any] = {}
        self.claims: Claims | None = None
        self._stack = contextlib.ExitStack()

    @property
    def hardware(self) -> list[Any]:
        return [i for i in self.session.chain.inserts if i.kind == "hardware"]

    def __enter__(self) -> SessionStream:
        try:
            self._open()
        except BaseException:
            self._stack.close()
            raise
        return self

    def _open(self) -> None:
        s = self.session
        self.studio = ensure_studio(s, warn=self.say)
        if self.studio is not None:
            self._stack.callback(self.studio.stop)
        self.device = resolve_device(s)
        # the outputs, the inserts' channels and the units' MIDI ports: this stream's alone
        self.claims = self._stack.enter_context(Claims())
        self.claims.claim_all(session_claims(s, self.device))
        iface, prog = s.interface, s.program
        self.engine = Engine(iface.sample_rate, len(prog.inputs), s.chain,
                             max_block=max(4096, iface.block_size))
        self.engine.open_stream(self.device.index, [c - 1 for c in prog.inputs],
                                [c - 1 for c in prog.outputs], [c - 1 for c in prog.monitor],
                                block_size=iface.block_size, source=self.source,
                                record=False, latency=iface.latency)
        self._stack.callback(self.engine.close)
        self.engine.start()
        self._stack.callback(self.engine.stop)
        gear = [(i.name, list(i.params["sends"]), list(i.params["returns"]),
                 i.params["virtual_gear"]) for i in self.hardware
                if i.params.get("virtual_gear")]
        if gear:
            self.rack = StudioRack(gear, portaudio_client_name(self.engine._stream),
                                   self.engine.device_channels).start()
            self._stack.callback(self.rack.stop)

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    # ---- hardware inserts --------------------------------------------------------------

    def measure(self, insert: str) -> Any:
        """Ping one hardware insert now, in this stream."""

        ins = self._insert(insert)
        return measure(self.engine, ins.name, ins.params.get("ping_level_dbfs", -20.0),
                       self.session.interface.block_size, self.device.name, say=self.say)

    def _insert(self, name: str) -> Any:
        for i in self.hardware:
            if i.name == name:
                return i
        names = ", ".join(i.name for i in self.hardware) or "none"
        raise OutboardError(f"{self.session.path}: no hardware insert named {name!r} "
                            f"(hardware inserts: {names})")

    def prepare_inserts(self) -> dict[str, Any]:
        """Give every hardware insert its round trip (see the module docstring).

        Returns {insert: InsertMeasurement or the manual figures}.
        """

        s = self.session
        store = load_store(s.path)
        at_start = s.latency["measure_at_start"]
        for ins in self.hardware:
            manual = ins.params.get("latency_samples")
            if manual is not None:
                lat = manual if isinstance(manual, list) else [manual] * len(ins.params["sends"])
                self.engine.set_param(ins.name, latency_samples=[float(v) for v in lat])
                self.measurements[ins.name] = {"latency_samples": lat, "source": "session"}
                continue
            m = None if at_start else store.get(ins.name)
            if m is not None:
                why = stale_reason(m, s.interface.sample_rate, s.interface.block_size,
                                   self.device.name)
                if why:
                    if s.latency["on_stale"] == "refuse":
                        raise OutboardError(f"{s.path}: insert {ins.name}: the stored latency "
                                            f"is stale ({why}); run `outboard ping --save` or "
                                            "set [latency] on_stale = \"remeasure\"")
                    self.say(f"insert {ins.name}: stored latency is stale ({why}); "
                             "measuring again")
                    m = None
            if m is None:
                m = self.measure(ins.name)
                sm = m.summary()
                chans = ", ".join(f"{c['latency_samples']:.3f}" for c in sm["channels"])
                self.say(f"insert {ins.name}: measured round trip {chans} samples "
                         f"({sm['latency_ms']:.3f} ms), skew {sm['skew_samples']:.3f}, "
                         f"polarity {'+' if sm['polarity'] > 0 else '-'}, gain "
                         f"{sm['gain_db']:+.2f} dB, SNR {sm['snr_db']:.0f} dB")
            apply(self.engine, m, ins.params)
            self.measurements[ins.name] = m
        if self.hardware:
            self.engine.wait_params()  # the chain latency depends on these
            time.sleep(RAMP_SETTLE_S)  # trims/polarity ramp over 20 ms of (silent) stream
        return self.measurements


