"""Virtual outboard gear: JACK clients that stand in for analog units.

A hardware insert sends the program out of spare interface outputs into an
analog unit and takes it back on spare inputs.  In the embedded studio (a JACK
server on the dummy backend, :mod:`host.sim.jack_server`) a virtual unit is a
separate process, so its Python callback does not share a GIL with the host::

    python -m host.sim.gear --spec '{"name": "comp1", "channels": 2, ...}'

It registers a JACK client named after the gear (exactly; a clash is an
error) with audio ports ``in_1..N``, ``out_1..N`` and, when ``midi`` is set, a
MIDI input ``midi_in`` and a MIDI output ``midi_out`` (SysEx dump replies).
Per block and channel::

    in -> processing (wire | compressor | eq) -> x gain_db, polarity
       -> delay (integer delay line + fractional windowed-sinc FIR) -> + noise -> out

Usage (host side)::

    spec = GearSpec("comp1", channels=2, delay_samples=[37.25, 37.5], gain_db=-6.0,
                    processing="compressor", compressor={"threshold_db": -20.0},
                    midi=True)
    with VirtualGear(spec) as gear:          # spawns the process, waits for its ports
        gear.wire(client, sends=["host:send_1", "host:send_2"],
                  returns=["host:return_1", "host:return_2"])
        ...
        gear.knobs()                         # the gear's own latest report

Delay
-----
``delay_samples`` (>= 0, fractional allowed, one value or one per channel) is
the delay from a gear input to its output, in samples.  An integer delay is a
plain delay line: the output is the input, exactly (times the gain).  A
fractional delay ``D`` is a delay line of ``floor(D) - C`` samples followed by
a ``T``-tap windowed-sinc FIR (Kaiser, beta = :data:`FIR_BETA`) centred on
``C + frac(D)``, ``C = T/2 - 1``, so the total is ``D`` exactly: the FIR's own
centre is part of the delay, not added to it.  ``T`` is :data:`FIR_TAPS` (64)
when ``D >= 31``; shorter delays get ``T = 2 (floor(D) + 1)`` taps (the FIR
cannot look ahead) and less accuracy, see :func:`fir_accuracy`.

Accuracy of the 64-tap FIR (float64, worst case over ``frac(D)``), from its
frequency response (:func:`fir_accuracy`; group delay by scipy in the tests):

=====================  ==================  ==================  ================
band (fraction of fs)  group-delay error   phase-delay error   |H - ideal|
=====================  ==================  ==================  ================
0 .. 0.40              <= 2.3e-4 samples   <= 3.1e-5 samples   <= -99.9 dB
0 .. 0.45              <= 3.0e-3 samples   <= 3.1e-5 samples   <= -93.4 dB
0.45 .. 0.5            not usable (the sinc's transition band)
=====================  ==================  ==================  ================

So the total delay is ``delay_samples`` within 0.001 samples over the latency
ping's band (100 Hz .. 0.4 fs).  :data:`FIR_RESIDUAL_DB` and
:data:`FIR_GROUP_DELAY_ERROR_SAMPLES` are the bounds the tests hold it to.
Shorter FIRs (fractional delays under 31 samples), |H - ideal| over 0..0.4
fs: 32 taps -93 dB, 22 taps -64 dB, 16 taps -51 dB, 8 taps -22 dB.

MIDI
----
With ``midi`` set, control changes on ``midi_in`` (on ``midi_channel``, 1..16,
or any channel when None) move the knobs of the processing stage.  Each knob
has a CC number for its value; CC number + 32 carries an optional LSB (14-bit
control, MSB first: an MSB alone is a 7-bit value, an LSB after it makes the
value 14-bit ``MSB * 128 + LSB``).  ``raw`` is the 7- or 14-bit value, ``full``
its maximum (127 or 16383):

Compressor (:data:`COMPRESSOR_KNOBS`)
    * CC 20 ``threshold_db``: linear, -40 + 40 * raw / full dBFS (-40..0)
    * CC 21 ``ratio``: table (1, 1.5, 2, 3, 4, 6, 10, 20), entry
      ``floor(raw * 8 / (full + 1))`` (16 CC values per entry in 7 bits)
    * CC 22 ``attack_ms``: log, 0.1 * 1000 ** (raw / full) ms (0.1..100)
    * CC 23 ``release_ms``: log, 10 * 200 ** (raw / full) ms (10..2000)
    * CC 24 ``makeup_db``: linear, 24 * raw / full dB (0..24)

Equalizer (:func:`eq_knobs`)
    * CC 20 + i, for band i = 0..11 of kind peak / lowshelf / highshelf:
      ``bands[i].gain_db``, centred, 12 * (raw - half) / half dB with
      ``half = (full + 1) / 2``: 64 (7-bit) or 8192 (14-bit) is 0 dB,
      range -12..+11.81 dB in 7 bits.  Other bands and bands 12..15 have no CC.

Knob changes ramp in the kernels (no clicks).

The same knobs answer NRPN and SysEx (on the same channel filter):

NRPN
    CC 99 / CC 98 select parameter number ``MSB * 128 + LSB``, which is the
    knob's CC number (20 = threshold_db ...); CC 6 then sets the value as a
    7-bit ``raw``, and CC 38 after it makes it 14-bit ``CC6 * 128 + CC38``
    (the same MSB/LSB rule as the CC pairs).  Send 99, 98, 6, 38 every time.

SysEx (Roland-style, manufacturer ID ``7D``, non-commercial)
    ``dd`` is the device ID: the MIDI channel - 1 (0..15), or ``7F`` (any);
    a gear on every channel (``midi_channel`` None) takes any device ID.
    Checksum ``cs = (128 - (sum of the bytes between the command and cs) %
    128) % 128``; a message with a wrong checksum or length is ignored and
    reported (``{"event": "sysex_rejected", "reason"}``).

    * set (DT1): ``F0 7D dd 12 aa vh vl cs F7``: address ``aa`` = the knob's
      CC number, 14-bit ``raw = vh * 128 + vl``.
    * dump request (RQ1): ``F0 7D dd 11 00 00 00 F7`` (address 0, size 0 =
      every knob).  The reply, on ``midi_out``, is one DT1 message per knob
      in CC order, each with the 14-bit raw value nearest the knob's current
      value (:meth:`Knob.raw`), device ID = the gear's channel - 1 (a gear on
      every channel answers with the request's ID, or 00 for a request to 7F).

Reports
-------
The gear writes one JSON object per line on its stdout, its own report of
what it is doing: ``{"event": "ready", "name", "fs", "blocksize", "ports",
"knobs", "spec"}`` once its client is active, ``{"event": "knobs", "knobs":
{all current values}, "changed": {name: value}, "cc", "raw", "bits",
"channel", "via"}`` after each accepted knob move (``via``: "cc", "nrpn" or
"sysex"), ``{"event": "dump_request"}`` / ``{"event": "dump_sent", "messages"}``,
``{"event": "xruns", "count"}`` (JACK xruns so far, at most once a second),
``{"event": "error", "message"}`` and ``{"event": "stopped"}``.  :class:`VirtualGear`
reads them; :meth:`VirtualGear.knobs` is the latest knob report.

Loop latency in a JACK graph
----------------------------
A path from a client's output back to its own input through another client
(host -> gear -> host) adds :data:`LOOP_PERIODS` = 1 whole period on top of
the gear's delay.  JACK runs the clients of a cycle in graph order and marks
the connection that closes a loop as a feedback connection: the host runs
before the gear in each cycle (or the gear before the host; either way one of
the two edges is the feedback one), so what the gear writes in cycle n is read
by the host in cycle n + 1, or what the host writes in cycle n is read by the
gear in cycle n + 1.  Either way: one period, every run (the tests check both
wiring orders, sample for sample).

Xruns: the studio's server is not real-time and this machine is shared, so
JACK often reports xruns.  When a client in the loop is late, JACK may start
the next cycle without it, and a reader gets a stale (one period old) or torn
block, or misses that cycle's MIDI events; the loop's alignment comes back by
itself (the period count above does not change).  Seen under load: a latency
measurement moves < 0.005 samples, but level and SNR suffer.  Measure again
when :attr:`PlayRecordClient.last_xruns` is not 0; resend MIDI that did not
land (the gear's report says what did).

Real-time notes: the gear's process callback allocates no audio buffers (the
delay lines, work buffers and channel-pointer arrays are made at start and
again only if JACK's block size grows), calls the C kernels directly and never
prints (reports go through a queue to the main thread).  It is simulation code
in Python: cheap NumPy view objects are still made per block.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import queue
import signal
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from host._ffi import ffi, lib
from host.errors import OutboardError
from host.model.virtual_gear import GAIN_BAND_TYPES, PROCESSING, GearSpec, Knob
from host.sim.fractional_delay import delay_plan
from host.sim.jack_server import quiet_libjack

#: Whole JACK periods a host -> gear -> host loop adds to the gear's own delay.
LOOP_PERIODS = 1

#: SysEx manufacturer ID of the virtual gear (0x7D: non-commercial / educational use)
SYSEX_ID = 0x7D
SYSEX_SET = 0x12
SYSEX_REQUEST = 0x11
#: NRPN controllers: parameter number MSB, LSB; data entry MSB, LSB
NRPN_MSB, NRPN_LSB, DATA_MSB, DATA_LSB = 99, 98, 6, 38


def roland_checksum(data: Iterable[int]) -> int:
    """Roland-style checksum: 128 minus (sum of address and data bytes mod 128), mod 128."""
    return (128 - sum(data) % 128) % 128


def gear_dump_request(device_id: int = 0x7F) -> bytes:
    """The virtual gear's dump request (RQ1, address 0, size 0 = every knob)."""
    return bytes([0xF0, SYSEX_ID, device_id, SYSEX_REQUEST, 0, 0, 0, 0xF7])


def gear_sysex_set(cc: int, raw14: int, device_id: int = 0x7F) -> bytes:
    """The virtual gear's SysEx parameter set (DT1) of the knob at ``cc`` to ``raw14``."""
    body = [cc, raw14 >> 7, raw14 & 0x7F]
    return bytes([0xF0, SYSEX_ID, device_id, SYSEX_SET, *body, roland_checksum(body), 0xF7])


# ---- MIDI knobs --------------------------------------------------------------------------








# ---- the spec -------------------------------------------------------------------------------






# ---- the fractional delay -------------------------------------------------------------------










# ---- the gear process --------------------------------------------------------------------


class _Gear:
    """The JACK side of a virtual unit (runs in the gear's own process)."""

    def __init__(self, spec: GearSpec):
        import jack

        quiet_libjack()
        self.spec = spec
        try:
            self.client = jack.Client(spec.name, use_exact_name=True, no_start_server=True)
        except jack.JackError as exc:
            raise OutboardError(f"gear {spec.name}: cannot open a JACK client of that name "
                                f"({exc}); is the JACK server running, or the name taken?") \
                from None
        c = self.client
        self.fs = float(c.samplerate)
        self.nch = spec.channels
        self.inports = [c.inports.register(f"in_{i + 1}") for i in range(self.nch)]
        self.outports = [c.outports.register(f"out_{i + 1}") for i in range(self.nch)]
        self.midiport = c.midi_inports.register("midi_in") if spec.midi else None
        self.midiout = c.midi_outports.register("midi_out") if spec.midi else None
        self.midi_out_queue: collections.deque[bytes] = collections.deque()
        self.nrpn: list[int | None] = [None, None]   # selected parameter number MSB, LSB
        self.nrpn_data: int | None = None              # last data-entry MSB
        self.reports: queue.SimpleQueue = queue.SimpleQueue()
        self.processor = spec.build_processor(self.fs)
        self._ffi = ffi
        if spec.processing == "compressor":
            # The wrapper documents calling the C kernel directly from a callback.
            self._kernel, self._kstate = lib.ob_compressor_process, self.processor._st
        elif spec.processing == "eq":
            self._kernel, self._kstate = lib.ob_biquad_process, self.processor.cascade._st
        else:
            self._kernel = self._kstate = None
        self.plans = [delay_plan(d) for d in spec.delays()]
        self.rev_taps = [None if p.taps is None else p.taps[::-1].copy() for p in self.plans]
        self.scale = np.array([[pol * 10.0 ** (g / 20.0)] for g, pol in
                               zip(spec.gains_db(), spec.polarities(), strict=True)])
        self.noise_rms = (0.0 if spec.noise_dbfs is None else 10.0 ** (spec.noise_dbfs / 20.0))
        self.rng = np.random.default_rng(spec.noise_seed)
        self.history = max(p.history for p in self.plans)
        self.knobs_by_cc = {k.cc: k for k in spec.knob_map()}
        self.knob_values = self._current_knobs()
        self.msb: dict[int, int] = {}
        self.failed = False
        self.shutdown = threading.Event()
        self._allocate(max(c.blocksize, 1))
        self._wire = None
        if spec.engine == "c":
            self._set_c_callback()
        else:
            c.set_process_callback(self._process)
        self.xruns = 0
        c.set_xrun_callback(self._on_xrun)
        c.set_shutdown_callback(lambda status, reason: self.shutdown.set())

    def _set_c_callback(self) -> None:
        """The wire unit's process callback in C (native/gear_wire.c), through
        libjack's own function pointers (JACK-Client's cffi handle): no Python
        runs in this client's audio thread."""
        import jack

        def addr(which, p) -> int:
            return int(which.cast("uintptr_t", p))

        jffi, jlib = jack._ffi, jack._lib
        ins = ffi.new("void *[]", [ffi.cast("void *", addr(jffi, p._ptr)) for p in self.inports])
        outs = ffi.new("void *[]", [ffi.cast("void *", addr(jffi, p._ptr))
                                   for p in self.outports])
        get_buffer = ffi.cast("ob_port_buffer_fn", addr(jffi, jlib.jack_port_get_buffer))
        max_delay = int(max(self.spec.delays())) + 2
        w = lib.ob_gear_wire_new(self.fs, self.nch, 65536, max_delay, get_buffer, ins, outs)
        if w == ffi.NULL:
            raise OutboardError(f"gear {self.spec.name}: the C wire could not be made")
        self._wire = ffi.gc(w, lib.ob_gear_wire_free)
        for ch, (d, g) in enumerate(zip(self.spec.delays(), self.scale[:, 0], strict=True)):
            if lib.ob_gear_wire_set(self._wire, ch, float(d), float(g)) != lib.OB_OK:
                raise OutboardError(f"gear {self.spec.name}: channel {ch + 1}: delay {d:g} "
                                    "samples or its gain is out of the C wire's range")
        self._wire_keep = (ins, outs, get_buffer)
        cb = jffi.cast("JackProcessCallback",
                       addr(ffi, ffi.addressof(lib, "ob_gear_wire_process")))
        arg = jffi.cast("void *", addr(ffi, self._wire))
        if jlib.jack_set_process_callback(self.client._ptr, cb, arg) != 0:
            raise OutboardError(f"gear {self.spec.name}: JACK refused the C process callback")

    def _on_xrun(self, delay_usecs: float) -> None:
        self.xruns += 1

    def _current_knobs(self) -> dict[str, float]:
        if self.spec.processing == "compressor":
            p = self.processor.params
            return {k: p[k] for k in ("threshold_db", "ratio", "knee_db", "attack_ms",
                                      "release_ms", "makeup_db")}
        if self.spec.processing == "eq":
            return {f"bands[{i}].gain_db": float(b["gain_db"])
                    for i, b in enumerate(self.processor.bands) if b["type"] in GAIN_BAND_TYPES}
        return {}

    def _allocate(self, cap: int) -> None:
        """Buffers for blocks of up to ``cap`` frames (at start; again only if JACK's
        block size grows)."""
        self.cap = cap
        self.work = np.zeros((self.nch, cap), np.float32)
        base = self._ffi.cast("float *", self._ffi.from_buffer(self.work))
        self.ptrs = self._ffi.new("float *[]", self.nch)
        for ch in range(self.nch):
            self.ptrs[ch] = base + ch * cap
        # Delay line: linear, the write index w moves right; when a block no longer
        # fits, the last `history` samples move to the front (every ~16 blocks).
        self.buf_len = 2 * self.history + 16 * cap
        old = getattr(self, "buf", None)
        self.buf = np.zeros((self.nch, self.buf_len), np.float64)
        if old is not None:
            self.buf[:, :self.history] = old[:, self.w - self.history:self.w]
        self.w = self.history
        self.fir_out = np.zeros(cap, np.float64)
        self.noise = np.zeros(cap, np.float64)

    def _apply_cc(self, channel: int, cc: int, val: int) -> None:
        if cc in (NRPN_MSB, NRPN_LSB):
            self.nrpn[cc == NRPN_LSB] = val
            self.nrpn_data = None
            return
        if cc in (DATA_MSB, DATA_LSB):
            if None in self.nrpn:
                return
            knob = self.knobs_by_cc.get((self.nrpn[0] << 7) | self.nrpn[1])
            if knob is None:
                return
            if cc == DATA_MSB:
                self.nrpn_data = val
                self._move(knob, val, 7, channel, "nrpn")
            elif self.nrpn_data is not None:
                self._move(knob, (self.nrpn_data << 7) | val, 14, channel, "nrpn")
            return
        if cc in self.knobs_by_cc:
            knob, raw, bits = self.knobs_by_cc[cc], val, 7
            self.msb[cc] = val
        elif cc - 32 in self.knobs_by_cc and cc - 32 in self.msb:
            knob, raw, bits = self.knobs_by_cc[cc - 32], (self.msb[cc - 32] << 7) | val, 14
        else:
            return
        self._move(knob, raw, bits, channel, "cc")

    def _device_id_ok(self, dd: int) -> bool:
        want = self.spec.midi_channel
        return want is None or dd in (0x7F, want - 1)

    def _apply_sysex(self, b: bytes) -> None:
        if len(b) < 5 or b[1] != SYSEX_ID or b[-1] != 0xF7 or not self._device_id_ok(b[2]):
            return
        cmd, body = b[3], b[4:-2]
        if roland_checksum(body) != b[-2]:
            self.reports.put({"event": "sysex_rejected", "reason": "checksum",
                              "bytes": b.hex(" ")})
            return
        if cmd == SYSEX_REQUEST and len(body) == 2:
            self.reports.put({"event": "dump_request", "device_id": b[2]})
        elif cmd == SYSEX_SET and len(body) == 3:
            knob = self.knobs_by_cc.get(body[0])
            if knob is None:
                self.reports.put({"event": "sysex_rejected", "reason": "address",
                                  "bytes": b.hex(" ")})
                return
            self._move(knob, (body[1] << 7) | body[2], 14, b[2] + 1, "sysex")
        else:
            self.reports.put({"event": "sysex_rejected", "reason": "command or length",
                              "bytes": b.hex(" ")})

    def dump(self, device_id: int = 0x7F) -> list[bytes]:
        """The dump reply to a request to ``device_id``: one DT1 message per knob, CC
        order (main thread, not real-time)."""
        if self.spec.midi_channel is not None:
            dd = self.spec.midi_channel - 1
        else:
            dd = device_id if device_id < 16 else 0
        values = dict(self.knob_values)
        return [gear_sysex_set(k.cc, k.raw(values[k.name], 14), dd)
                for k in sorted(self.knobs_by_cc.values(), key=lambda k: k.cc)]

    def _move(self, knob: Knob, raw: int, bits: int, channel: int, via: str) -> None:
        value = knob.value(raw, bits)
        if self.spec.processing == "compressor":
            self.processor.set(**{knob.name: value})
        else:
            i = int(knob.name[6:knob.name.index("]")])
            self.processor.set_band(i, {**self.spec.bands[i], "gain_db": value})
        self.knob_values[knob.name] = value
        self.reports.put({"event": "knobs", "knobs": dict(self.knob_values),
                          "changed": {knob.name: value}, "cc": knob.cc, "raw": raw,
                          "bits": bits, "channel": channel, "via": via})

    def _process(self, frames: int) -> None:
        try:
            self._run(frames)
        except Exception as exc:  # simulation guard: report once, then play silence
            for p in self.outports:
                p.get_array().fill(0.0)
            if not self.failed:
                self.failed = True
                self.reports.put({"event": "error", "message": f"{type(exc).__name__}: {exc}"})

    def _run(self, n: int) -> None:
        if self.failed:
            for p in self.outports:
                p.get_array().fill(0.0)
            return
        if n > self.cap:
            self._allocate(n)
        if self.midiport is not None:
            want = self.spec.midi_channel
            for _, data in self.midiport.incoming_midi_events():
                b = bytes(data)
                if len(b) == 3:
                    if b[0] & 0xF0 == 0xB0 and (want is None or (b[0] & 0x0F) + 1 == want):
                        self._apply_cc((b[0] & 0x0F) + 1, b[1], b[2])
                elif b[:1] == b"\xf0":
                    self._apply_sysex(b)
        if self.midiout is not None:
            self.midiout.clear_buffer()
            t = 0
            while self.midi_out_queue and t < n:
                self.midiout.write_midi_event(t, self.midi_out_queue.popleft())
                t += 1
        work = self.work
        for ch, p in enumerate(self.inports):
            work[ch, :n] = p.get_array()
        if self._kernel is not None:
            self._kernel(self._kstate, self.ptrs, self.nch, n)
        w = self.w
        if w + n > self.buf_len:
            h = self.history
            self.buf[:, :h] = self.buf[:, w - h:w]
            w = h
        buf = self.buf
        np.multiply(work[:, :n], self.scale, out=buf[:, w:w + n])
        self.w = w + n
        for ch, p in enumerate(self.outports):
            out = p.get_array()
            plan = self.plans[ch]
            rt = self.rev_taps[ch]
            if rt is None:
                s = w - plan.line
                out[:] = buf[ch, s:s + n]
            else:
                t = len(rt)
                s = w - plan.line - (t - 1)
                win = np.lib.stride_tricks.sliding_window_view(buf[ch, s:s + n + t - 1], t)
                np.matmul(win, rt, out=self.fir_out[:n])
                out[:] = self.fir_out[:n]
            if self.noise_rms > 0.0:
                nz = self.noise[:n]
                self.rng.standard_normal(out=nz)
                nz *= self.noise_rms
                out += nz

    def ports(self) -> list[str]:
        return [p.name for p in (*self.inports, *self.outports)] + (
            [self.midiport.name, self.midiout.name] if self.midiport is not None else [])

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.deactivate()
        with contextlib.suppress(Exception):
            self.client.close()


def serve(spec: GearSpec, stop_on_stdin_eof: bool = False) -> int:
    """Run a virtual unit until SIGTERM/SIGINT (or stdin EOF when asked); report on stdout."""
    lock = threading.Lock()

    def emit(obj: dict[str, Any]) -> None:
        with lock:
            sys.stdout.write(json.dumps(obj) + "\n")
            sys.stdout.flush()

    try:
        gear = _Gear(spec)
    except OutboardError as exc:
        emit({"event": "error", "message": str(exc)})
        return 1
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if stop_on_stdin_eof:
        def watch_stdin() -> None:
            with contextlib.suppress(Exception):
                while sys.stdin.buffer.read(4096):
                    pass
            stop.set()

        threading.Thread(target=watch_stdin, daemon=True).start()
    try:
        gear.client.activate()
        emit({"event": "ready", "name": spec.name, "fs": gear.fs,
              "blocksize": gear.client.blocksize, "ports": gear.ports(),
              "knobs": dict(gear.knob_values), "spec": spec.to_dict()})
        told, told_at = 0, 0.0
        while not stop.is_set() and not gear.shutdown.is_set():
            with contextlib.suppress(queue.Empty):
                rep = gear.reports.get(timeout=0.05)
                emit(rep)
                if rep.get("event") == "dump_request":
                    msgs = gear.dump(rep.get("device_id", 0x7F))
                    gear.midi_out_queue.extend(msgs)
                    emit({"event": "dump_sent", "messages": [m.hex(" ") for m in msgs]})
            if gear.xruns != told and time.monotonic() - told_at >= 1.0:
                told, told_at = gear.xruns, time.monotonic()
                emit({"event": "xruns", "count": told})
        while True:  # drain
            try:
                emit(gear.reports.get_nowait())
            except queue.Empty:
                break
    finally:
        gear.close()
    emit({"event": "stopped", "reason": "jack shutdown" if gear.shutdown.is_set() else "asked"})
    return 0


# ---- the host side ----------------------------------------------------------------------------










# ---- command line -----------------------------------------------------------------------


def _parse(argv: Sequence[str] | None) -> tuple[GearSpec, bool]:
    ap = argparse.ArgumentParser(
        prog="python -m host.sim.gear",
        description="Run a virtual outboard unit as a JACK client (reports JSON lines on "
                    "stdout; stops on SIGTERM/SIGINT).")
    ap.add_argument("--spec", help="the whole GearSpec as JSON (or @FILE); other flags "
                                   "override its keys")
    ap.add_argument("--name")
    ap.add_argument("--channels", type=int)
    ap.add_argument("--delay-samples", help="one value, or comma-separated per channel")
    ap.add_argument("--gain-db", type=float)
    ap.add_argument("--polarity", type=int, choices=(1, -1))
    ap.add_argument("--noise-dbfs", type=float)
    ap.add_argument("--noise-seed", type=int)
    ap.add_argument("--processing", choices=PROCESSING)
    ap.add_argument("--midi", action="store_true", default=None)
    ap.add_argument("--midi-channel", type=int)
    ap.add_argument("--stop-on-stdin-eof", action="store_true",
                    help="end when stdin closes (the host's pipe)")
    a = ap.parse_args(argv)
    d: dict[str, Any] = {}
    if a.spec:
        text = a.spec
        if text.startswith("@"):
            with open(text[1:], encoding="utf-8") as f:
                text = f.read()
        d = json.loads(text)
        if not isinstance(d, dict):
            ap.error("--spec: expected a JSON object")
    for key in ("name", "channels", "gain_db", "polarity", "noise_dbfs", "noise_seed",
                "processing", "midi", "midi_channel"):
        v = getattr(a, key)
        if v is not None:
            d[key] = v
    if a.delay_samples is not None:
        vals = [float(v) for v in a.delay_samples.split(",")]
        d["delay_samples"] = vals[0] if len(vals) == 1 else vals
    try:
        return GearSpec.from_dict(d), a.stop_on_stdin_eof
    except (ValueError, TypeError) as exc:
        ap.error(str(exc))
        raise  # unreachable


def main(argv: Sequence[str] | None = None) -> int:
    spec, stop_on_eof = _parse(argv)
    return serve(spec, stop_on_stdin_eof=stop_on_eof)


if __name__ == "__main__":
    sys.exit(main())
