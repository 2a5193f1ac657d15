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
import dataclasses
import json
import math
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from numbers import Real
from typing import Any

import numpy as np

from host.errors import OutboardError

#: Taps of the fractional-delay FIR (delays of 31 samples or more).
FIR_TAPS = 64
#: Kaiser window parameter of the fractional-delay FIR.
FIR_BETA = 10.0
#: Stated worst-case |H(f) - exp(-j 2 pi f D)| of the 64-tap FIR over 0..0.4 fs, dB.
FIR_RESIDUAL_DB = -95.0
#: Stated worst-case group-delay error of the 64-tap FIR over 0..0.4 fs, samples.
FIR_GROUP_DELAY_ERROR_SAMPLES = 5e-4
#: Whole JACK periods a host -> gear -> host loop adds to the gear's own delay.
LOOP_PERIODS = 1

MAX_CHANNELS = 8
MAX_DELAY_SAMPLES = 262144.0
GAIN_DB_RANGE = (-60.0, 24.0)
NOISE_DBFS_RANGE = (-160.0, 0.0)
PROCESSING = ("wire", "compressor", "eq")
#: "python": the unit's JACK callback in Python (everything); "c": a plain wire
#: unit's callback in C (native/gear_wire.c: no GIL in its audio thread)
ENGINES = ("python", "c")
#: the C wire's fractional delays start here (native/delay.h OB_DELAY_FIR_CENTER)
C_MIN_FRACTIONAL_DELAY = 23
COMPRESSOR_PARAMS = ("threshold_db", "ratio", "knee_db", "attack_ms", "release_ms",
                     "makeup_db", "detector", "rms_window_ms", "stereo_link",
                     "sidechain_hpf_hz")
GAIN_BAND_TYPES = ("peak", "lowshelf", "highshelf")
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
_NAME_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,48}$")


# ---- MIDI knobs --------------------------------------------------------------------------


@dataclass(frozen=True)
class Knob:
    """One knob a control change moves.

    Parameters
    ----------
    cc : int
        Controller number of the value (MSB), 0..31; ``cc + 32`` carries the LSB.
    name : str
        Knob name as reported (``"threshold_db"``, ``"bands[0].gain_db"``).
    unit : str
        Unit of the value.
    curve : {"linear", "log", "centred", "table"}
        ``linear``: low + (high - low) * raw / full; ``log``: low * (high /
        low) ** (raw / full); ``centred``: high * (raw - half) / half, half =
        (full + 1) / 2; ``table``: table[floor(raw * len(table) / (full + 1))].
    low, high : float
        Range of ``linear`` and ``log`` (``centred`` uses ``high`` only).
    table : tuple of float
        Values of a ``table`` knob.
    """

    cc: int
    name: str
    unit: str
    curve: str
    low: float = 0.0
    high: float = 0.0
    table: tuple[float, ...] = ()

    def value(self, raw: int, bits: int = 7) -> float:
        """The knob value a raw CC value (0 .. 2**bits - 1, bits 7 or 14) sets."""
        if bits not in (7, 14):
            raise ValueError(f"bits: expected 7 or 14, got {bits!r}")
        full = (1 << bits) - 1
        if isinstance(raw, bool) or not isinstance(raw, int | np.integer) or not 0 <= raw <= full:
            raise ValueError(f"raw: expected an integer 0..{full} ({bits}-bit CC), got {raw!r}")
        if self.curve == "linear":
            return self.low + (self.high - self.low) * raw / full
        if self.curve == "log":
            return self.low * (self.high / self.low) ** (raw / full)
        if self.curve == "centred":
            half = (full + 1) / 2
            return self.high * (raw - half) / half
        if self.curve == "table":
            return float(self.table[(int(raw) * len(self.table)) >> bits])
        raise ValueError(f"curve: expected linear, log, centred or table, got {self.curve!r}")

    def values(self, bits: int = 7) -> np.ndarray:
        """:meth:`value` for every raw CC value 0 .. 2**bits - 1."""
        return np.array([self.value(r, bits) for r in range(1 << bits)])

    def raw(self, value: float, bits: int = 7) -> int:
        """The raw CC value (0 .. 2**bits - 1) whose knob value is nearest ``value``."""
        return int(np.argmin(np.abs(self.values(bits) - float(value))))


#: The compressor's CC map (see the module docstring).
COMPRESSOR_KNOBS: tuple[Knob, ...] = (
    Knob(20, "threshold_db", "dBFS", "linear", -40.0, 0.0),
    Knob(21, "ratio", ":1", "table", table=(1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 10.0, 20.0)),
    Knob(22, "attack_ms", "ms", "log", 0.1, 100.0),
    Knob(23, "release_ms", "ms", "log", 10.0, 2000.0),
    Knob(24, "makeup_db", "dB", "linear", 0.0, 24.0),
)
EQ_FIRST_CC = 20
EQ_MAX_CC_BANDS = 12
EQ_GAIN_RANGE_DB = 12.0


def eq_knobs(bands: Sequence[Mapping[str, Any]]) -> tuple[Knob, ...]:
    """The equalizer's CC map for these bands: CC 20 + i moves ``bands[i].gain_db``
    (peak and shelf bands among the first 12; centred, 64 = 0 dB, -12..+11.81 dB)."""
    return tuple(
        Knob(EQ_FIRST_CC + i, f"bands[{i}].gain_db", "dB", "centred",
             -EQ_GAIN_RANGE_DB, EQ_GAIN_RANGE_DB)
        for i, b in enumerate(bands[:EQ_MAX_CC_BANDS]) if b.get("type") in GAIN_BAND_TYPES
    )


# ---- the spec -------------------------------------------------------------------------------


def _real(name: str, value: Any, unit: str) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise ValueError(f"{name}: expected a finite number{unit}, got {value!r}")
    return float(value)


@dataclass
class GearSpec:
    """What a virtual unit is.

    Parameters
    ----------
    name : str
        JACK client name, 1..48 of ``A-Z a-z 0-9 _ . -``.
    channels : int
        Audio channels, 1..8 (ports ``in_1..N``, ``out_1..N``).
    delay_samples : float or list of float
        Input-to-output delay, samples, 0..262144, fractional allowed; one
        value for all channels or one per channel (L and R may differ).
    gain_db : float or list of float
        Output gain, dB, -60..+24 (one, or one per channel).
    polarity : int or list of int
        +1 or -1 (one, or one per channel).
    noise_dbfs : float or None
        Added white noise (Gaussian, independent per channel), RMS level
        20 log10(rms) re an amplitude of 1.0, dB, -160..0; None: none.
    noise_seed : int
        Seed of the noise generator (0..2**63-1).
    processing : {"wire", "compressor", "eq"}
        The processing stage (before gain, polarity, delay and noise).
    compressor : dict
        Compressor parameters (``processing="compressor"``), as
        :class:`host.dsp.compressor.Compressor` takes them: threshold_db,
        ratio, knee_db, attack_ms, release_ms, makeup_db, detector,
        rms_window_ms, stereo_link, sidechain_hpf_hz.  Unset: its defaults.
    bands : list of dict
        Equalizer bands (``processing="eq"``), as in a chain config's eq
        insert (:class:`host.dsp.biquad.Equalizer`).
    midi : bool
        Register ``midi_in`` (control changes, NRPN and SysEx move the knobs)
        and ``midi_out`` (SysEx dump replies).
    midi_channel : int or None
        MIDI channel 1..16 to listen on; None: all.
    """

    name: str
    channels: int = 2
    delay_samples: float | list[float] = 0.0
    gain_db: float | list[float] = 0.0
    polarity: int | list[int] = 1
    noise_dbfs: float | None = None
    noise_seed: int = 0
    processing: str = "wire"
    compressor: dict[str, Any] = field(default_factory=dict)
    bands: list[dict[str, Any]] = field(default_factory=list)
    midi: bool = False
    midi_channel: int | None = None
    engine: str = "python"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME_RE.match(self.name):
            raise ValueError(f"name: expected 1..48 characters of A-Z a-z 0-9 _ . - "
                             f"(a JACK client name), got {self.name!r}")
        if (isinstance(self.channels, bool) or not isinstance(self.channels, int)
                or not 1 <= self.channels <= MAX_CHANNELS):
            raise ValueError(f"channels: expected an integer 1..{MAX_CHANNELS}, "
                             f"got {self.channels!r}")
        for d in self.delays():
            if not 0.0 <= d <= MAX_DELAY_SAMPLES:
                raise ValueError(f"delay_samples: expected 0..{MAX_DELAY_SAMPLES:g} samples, "
                                 f"got {d:g}")
        for g in self.gains_db():
            if not GAIN_DB_RANGE[0] <= g <= GAIN_DB_RANGE[1]:
                raise ValueError(f"gain_db: expected {GAIN_DB_RANGE[0]:g}..+{GAIN_DB_RANGE[1]:g}"
                                 f" dB, got {g:g}")
        self.polarities()
        if self.noise_dbfs is not None:
            n = _real("noise_dbfs", self.noise_dbfs, " dBFS")
            if not NOISE_DBFS_RANGE[0] <= n <= NOISE_DBFS_RANGE[1]:
                raise ValueError(f"noise_dbfs: expected None or {NOISE_DBFS_RANGE[0]:g}.."
                                 f"{NOISE_DBFS_RANGE[1]:g} dB (RMS re 1.0), got {n:g}")
        if (isinstance(self.noise_seed, bool) or not isinstance(self.noise_seed, int)
                or not 0 <= self.noise_seed < 2**63):
            raise ValueError(f"noise_seed: expected an integer 0..2**63-1, "
                             f"got {self.noise_seed!r}")
        if self.processing not in PROCESSING:
            raise ValueError(f"processing: expected one of {', '.join(PROCESSING)}, "
                             f"got {self.processing!r}")
        if not isinstance(self.compressor, Mapping):
            raise ValueError(f"compressor: expected a table of parameters, "
                             f"got {self.compressor!r}")
        unknown = sorted(set(self.compressor) - set(COMPRESSOR_PARAMS))
        if unknown:
            raise ValueError(f"compressor.{unknown[0]}: unknown parameter; expected "
                             f"{', '.join(COMPRESSOR_PARAMS)}")
        if self.compressor and self.processing != "compressor":
            raise ValueError("compressor: only with processing='compressor'")
        if self.engine not in ENGINES:
            raise ValueError(f"engine: expected one of {', '.join(ENGINES)}, got {self.engine!r}")
        if self.engine == "c":
            if self.processing != "wire" or self.midi or self.noise_dbfs is not None:
                raise ValueError("engine: 'c' runs a plain wire unit (processing = \"wire\", "
                                 "no midi, no noise_dbfs)")
            for d in self.delays():
                if d != int(d) and d < C_MIN_FRACTIONAL_DELAY:
                    raise ValueError(f"engine: 'c' delays a fractional {d:g} samples only "
                                     f"from {C_MIN_FRACTIONAL_DELAY} samples on")
        if self.bands and self.processing != "eq":
            raise ValueError("bands: only with processing='eq'")
        if self.processing == "compressor":
            self.build_processor(48000.0)  # validates, messages name parameter and range
        if self.processing == "eq":
            if not isinstance(self.bands, list) or not self.bands:
                raise ValueError("bands: processing='eq' needs a non-empty list of bands")
            self.build_processor(48000.0)
        if not isinstance(self.midi, bool):
            raise ValueError(f"midi: expected true or false, got {self.midi!r}")
        if self.midi_channel is not None and (
                isinstance(self.midi_channel, bool) or not isinstance(self.midi_channel, int)
                or not 1 <= self.midi_channel <= 16):
            raise ValueError(f"midi_channel: expected None (all) or 1..16, "
                             f"got {self.midi_channel!r}")

    # per-channel views

    def _per_channel(self, key: str, value: Any, unit: str) -> list[float]:
        vals = list(value) if isinstance(value, list | tuple) else [value] * self.channels
        if len(vals) != self.channels:
            raise ValueError(f"{key}: expected one value or {self.channels} (one per channel), "
                             f"got {len(vals)}")
        return [_real(f"{key}[{i}]" if len(vals) > 1 else key, v, unit)
                for i, v in enumerate(vals)]

    def delays(self) -> list[float]:
        """Delay per channel, samples."""
        return self._per_channel("delay_samples", self.delay_samples, " samples")

    def gains_db(self) -> list[float]:
        """Gain per channel, dB."""
        return self._per_channel("gain_db", self.gain_db, " dB")

    def polarities(self) -> list[int]:
        """Polarity per channel, +1 or -1."""
        out = []
        for i, p in enumerate(self._per_channel("polarity", self.polarity, " (+1 or -1)")):
            if p not in (1.0, -1.0):
                raise ValueError(f"polarity[{i}]: expected +1 or -1, got {p:g}")
            out.append(int(p))
        return out

    def knob_map(self) -> tuple[Knob, ...]:
        """The CC map of this gear's processing (empty for a wire)."""
        if self.processing == "compressor":
            return COMPRESSOR_KNOBS
        if self.processing == "eq":
            return eq_knobs(self.bands)
        return ()

    def build_processor(self, fs: float) -> Any:
        """The processing stage's kernel wrapper at sample rate ``fs`` (None for a wire)."""
        if self.processing == "compressor":
            from host.dsp.compressor import Compressor

            try:
                return Compressor(fs, self.channels, **self.compressor)
            except ValueError as exc:
                raise ValueError(f"compressor.{exc}") from None
        if self.processing == "eq":
            from host.dsp.biquad import Equalizer

            return Equalizer(fs, self.channels, self.bands)
        return None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> GearSpec:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"{unknown[0]}: unknown gear spec key; expected "
                             f"{', '.join(sorted(known))}")
        if "name" not in d:
            raise ValueError("name: required")
        return cls(**d)


# ---- the fractional delay -------------------------------------------------------------------


def fractional_delay_taps(delay_samples: float, taps: int = FIR_TAPS,
                          beta: float = FIR_BETA) -> np.ndarray:
    """Kaiser-windowed sinc whose delay is ``(taps/2 - 1) + frac(delay_samples)``.

    Returns float64 ``h`` for ``y[n] = sum_k h[k] x[n - k]``.
    """
    c = taps // 2 - 1
    x = np.arange(taps) - c - (delay_samples - math.floor(delay_samples))
    half = taps / 2
    w = np.i0(beta * np.sqrt(np.clip(1.0 - (x / half) ** 2, 0.0, None))) / np.i0(beta)
    return np.sinc(x) * w


@dataclass(frozen=True)
class DelayPlan:
    """How a delay is made: ``line`` samples of delay line, then the FIR ``taps``
    (None for an integer delay); ``line + len(taps)/2 - 1 + frac = delay``."""

    delay_samples: float
    line: int
    taps: np.ndarray | None

    @property
    def history(self) -> int:
        """Past samples the delay needs besides the current block."""
        return self.line + (0 if self.taps is None else len(self.taps) - 1)


def delay_plan(delay_samples: float) -> DelayPlan:
    """Split a delay into an integer delay line and (if fractional) the FIR."""
    d = float(delay_samples)
    whole = math.floor(d)
    if d == whole:
        return DelayPlan(d, int(whole), None)
    t = min(FIR_TAPS, 2 * (whole + 1))
    # Shorter FIRs need a wider main lobe: beta ~ 0.31 T is near the best residual
    # over 0..0.4 fs for 8..32 taps (searched numerically).
    beta = min(FIR_BETA, 0.31 * t)
    return DelayPlan(d, int(whole - (t // 2 - 1)), fractional_delay_taps(d, t, beta))


def fir_accuracy(delay_samples: float, band: float = 0.4,
                 points: int = 2048) -> tuple[float, float]:
    """Accuracy of the delay the gear makes for ``delay_samples`` over 0..band*fs.

    Returns
    -------
    (phase_delay_error_samples, residual_db)
        Largest |phase delay - delay_samples| (samples) and largest
        |H(f) - exp(-j 2 pi f delay)| in dB, over ``points`` frequencies.
        An integer delay returns (0, -inf).
    """
    p = delay_plan(delay_samples)
    if p.taps is None:
        return 0.0, -math.inf
    w = np.linspace(1e-3, 2 * math.pi * band, points)
    k = np.arange(len(p.taps)) + p.line
    h = np.exp(-1j * np.outer(w, k)) @ p.taps
    ideal = np.exp(-1j * w * p.delay_samples)
    pd_err = np.max(np.abs(np.angle(h / ideal) / w))
    return float(pd_err), float(20 * np.log10(np.max(np.abs(h - ideal))))


# ---- the gear process --------------------------------------------------------------------


class _Gear:
    """The JACK side of a virtual unit (runs in the gear's own process)."""

    def __init__(self, spec: GearSpec):
        import jack

        from host._ffi import ffi, lib
        from host.sim.jack_server import quiet_libjack

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

        from host._ffi import ffi, lib

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


def _port_client() -> Any:
    import jack

    from host.sim.jack_server import quiet_libjack

    quiet_libjack()
    try:
        return jack.Client(f"outboard-watch-{os.getpid()}", no_start_server=True)
    except jack.JackError as exc:
        raise OutboardError(f"JACK: no server answers ({exc}); start the studio first") from None


def _terminate(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5.0)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class VirtualGear:
    """A virtual unit in its own process, seen from the host.

    Parameters
    ----------
    spec : GearSpec
        What the unit is.

    Notes
    -----
    Not real-time code: start, stop, wiring and reports are set-up.  The
    gear process is ended when this object is stopped, used as a context
    manager, garbage collected, or when the host process dies (the gear
    watches its stdin).
    """

    def __init__(self, spec: GearSpec):
        if not isinstance(spec, GearSpec):
            raise ValueError(f"spec: expected a GearSpec, got {type(spec).__name__}")
        self.spec = spec
        self.proc: subprocess.Popen | None = None
        self._cond = threading.Condition()
        self._reports: collections.deque[dict[str, Any]] = collections.deque(maxlen=4096)
        self._knobs: dict[str, float] = {}
        self._stderr: collections.deque[str] = collections.deque(maxlen=20)
        self._threads: list[threading.Thread] = []
        self._fin: weakref.finalize | None = None

    # ports

    @property
    def inputs(self) -> list[str]:
        """Full names of the gear's audio inputs (``NAME:in_1`` ...)."""
        return [f"{self.spec.name}:in_{i + 1}" for i in range(self.spec.channels)]

    @property
    def outputs(self) -> list[str]:
        """Full names of the gear's audio outputs (``NAME:out_1`` ...)."""
        return [f"{self.spec.name}:out_{i + 1}" for i in range(self.spec.channels)]

    @property
    def midi_input(self) -> str | None:
        """Full name of the gear's MIDI input, or None."""
        return f"{self.spec.name}:midi_in" if self.spec.midi else None

    @property
    def midi_output(self) -> str | None:
        """Full name of the gear's MIDI output (SysEx dump replies), or None."""
        return f"{self.spec.name}:midi_out" if self.spec.midi else None

    # life cycle

    def start(self, timeout_s: float = 15.0) -> VirtualGear:
        """Spawn the gear process and wait until its JACK ports exist.

        Raises
        ------
        OutboardError
            The process exited, or its ports did not appear within
            ``timeout_s`` seconds (the message quotes the gear's last words).
        """
        if self.proc is not None:
            raise OutboardError(f"gear {self.spec.name}: already started")
        cmd = [sys.executable, "-m", "host.sim.gear", "--stop-on-stdin-eof",
               "--spec", self.spec.to_json()]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, bufsize=1)
        self._fin = weakref.finalize(self, _terminate, self.proc)
        self._threads = [threading.Thread(target=self._read_stdout, daemon=True),
                         threading.Thread(target=self._read_stderr, daemon=True)]
        for t in self._threads:
            t.start()
        want = set(self.inputs + self.outputs
                   + ([self.midi_input, self.midi_output] if self.spec.midi else []))
        probe = _port_client()
        try:
            deadline = time.monotonic() + timeout_s
            while True:
                if self.proc.poll() is not None:
                    self._join()
                    raise OutboardError(f"gear {self.spec.name}: exited at start "
                                        f"(status {self.proc.returncode}): {self._last_words()}")
                have = {p.name for p in probe.get_ports(re.escape(self.spec.name) + ":.*")}
                if want <= have and self._ready():
                    return self
                if time.monotonic() > deadline:
                    missing = ", ".join(sorted(want - have)) or "none (no ready report)"
                    self.stop()
                    raise OutboardError(f"gear {self.spec.name}: ports not there after "
                                        f"{timeout_s:g} s (missing: {missing}); "
                                        f"{self._last_words()}")
                time.sleep(0.02)
        finally:
            probe.close()

    def _ready(self) -> bool:
        with self._cond:
            return any(r.get("event") == "ready" for r in self._reports)

    def _last_words(self) -> str:
        with self._cond:
            errs = [r["message"] for r in self._reports if r.get("event") == "error"]
        tail = errs[-1:] or list(self._stderr)[-3:]
        return " | ".join(tail) or "no output"

    def stop(self) -> None:
        """End the gear process (its JACK client and connections go with it)."""
        if self.proc is None:
            return
        with contextlib.suppress(OSError):
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        _terminate(self.proc)
        self._join()
        if self._fin is not None:
            self._fin.detach()
        self.proc = None

    def _join(self) -> None:
        for t in self._threads:
            t.join(timeout=2.0)
        for f in (self.proc.stdout, self.proc.stderr):
            with contextlib.suppress(OSError):
                f.close()

    def __enter__(self) -> VirtualGear:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # reports

    def _read_stdout(self) -> None:
        for line in self.proc.stdout:
            try:
                rep = json.loads(line)
            except ValueError:
                rep = {"event": "text", "line": line.rstrip("\n")}
            with self._cond:
                self._reports.append(rep)
                if isinstance(rep.get("knobs"), dict):
                    self._knobs = dict(rep["knobs"])
                self._cond.notify_all()

    def _read_stderr(self) -> None:
        for line in self.proc.stderr:
            self._stderr.append(line.rstrip("\n"))

    def knobs(self) -> dict[str, float]:
        """The knob values of the gear's latest report (names as in the CC map)."""
        with self._cond:
            return dict(self._knobs)

    def reports(self) -> list[dict[str, Any]]:
        """All reports received so far (oldest first, up to the last 4096)."""
        with self._cond:
            return list(self._reports)

    def wait_for_knobs(self, expected: Mapping[str, float], timeout_s: float = 2.0,
                       tol: float = 1e-9) -> dict[str, float]:
        """Wait until the gear reports every knob of ``expected`` within ``tol``.

        Returns the reported knobs.  Raises :class:`OutboardError` naming the
        knobs that did not land (reported value against expected).
        """
        deadline = time.monotonic() + timeout_s

        def off() -> dict[str, tuple[float | None, float]]:
            return {k: (self._knobs.get(k), v) for k, v in expected.items()
                    if k not in self._knobs or abs(self._knobs[k] - v) > tol}

        with self._cond:
            while off():
                left = deadline - time.monotonic()
                if left <= 0:
                    bad = ", ".join(f"{k}={got!r} (expected {want:g})"
                                    for k, (got, want) in off().items())
                    raise OutboardError(f"gear {self.spec.name}: knobs did not land within "
                                        f"{timeout_s:g} s: {bad}")
                self._cond.wait(left)
            return dict(self._knobs)

    # wiring

    def _pairs(self, sends: Sequence[str], returns: Sequence[str]) -> list[tuple[str, str]]:
        for what, ports in (("sends", sends), ("returns", returns)):
            if len(ports) > self.spec.channels:
                raise ValueError(f"{what}: gear {self.spec.name} has {self.spec.channels} "
                                 f"channels, got {len(ports)} ports")
        return ([(s, g) for s, g in zip(sends, self.inputs, strict=False)]
                + [(g, r) for g, r in zip(self.outputs, returns, strict=False)])

    def wire(self, client: Any, sends: Sequence[str], returns: Sequence[str]) -> None:
        """Connect host outputs ``sends[i]`` -> ``in_{i+1}`` and ``out_{i+1}`` -> host
        inputs ``returns[i]`` through ``client`` (a jack.Client); existing ones are kept."""
        import jack

        for src, dst in self._pairs(sends, returns):
            try:
                client.connect(src, dst)
            except jack.JackErrorCode as exc:
                if "already exists" not in str(exc):
                    raise OutboardError(f"gear {self.spec.name}: cannot connect {src} -> "
                                        f"{dst} ({exc})") from None
            except jack.JackError as exc:
                raise OutboardError(f"gear {self.spec.name}: cannot connect {src} -> {dst} "
                                    f"({exc})") from None

    def unwire(self, client: Any, sends: Sequence[str], returns: Sequence[str]) -> None:
        """Undo :meth:`wire` (connections that are not there are ignored)."""
        import jack

        for src, dst in self._pairs(sends, returns):
            with contextlib.suppress(jack.JackError):
                client.disconnect(src, dst)


class PlayRecordClient:
    """A JACK client that plays a signal on its outputs and records its inputs,
    sample-aligned: recorded sample ``t`` was captured in the same process
    cycle, at the same offset, as played sample ``t`` was sent.

    Parameters
    ----------
    name : str
        JACK client name.
    outputs, inputs : int
        Audio ports ``out_1..`` and ``in_1..``.
    midi_out : bool
        Also register ``midi_out``, fed by :meth:`send_midi`.

    Notes
    -----
    The process callback only copies slices of preallocated NumPy buffers
    (and writes queued MIDI events); it is the embedded studio's measuring
    tool (tests, latency pings), not the host engine.
    """

    def __init__(self, name: str = "outboard-probe", outputs: int = 1, inputs: int = 1,
                 midi_out: bool = False):
        import jack

        from host.sim.jack_server import quiet_libjack

        quiet_libjack()
        try:
            self.client = jack.Client(name, no_start_server=True)
        except jack.JackError as exc:
            raise OutboardError(f"JACK: no server answers ({exc}); start the studio first") \
                from None
        c = self.client
        self._outs = [c.outports.register(f"out_{i + 1}") for i in range(outputs)]
        self._ins = [c.inports.register(f"in_{i + 1}") for i in range(inputs)]
        self._midi = c.midi_outports.register("midi_out") if midi_out else None
        self._midi_queue: collections.deque[bytes] = collections.deque()
        self._job: tuple[np.ndarray, np.ndarray] | None = None
        self._pos = 0
        self.xruns = 0
        self.last_xruns = 0
        c.set_process_callback(self._process)
        c.set_xrun_callback(self._on_xrun)
        c.activate()

    def _on_xrun(self, delay_usecs: float) -> None:
        self.xruns += 1

    @property
    def name(self) -> str:
        return self.client.name

    @property
    def fs(self) -> float:
        return float(self.client.samplerate)

    @property
    def blocksize(self) -> int:
        return int(self.client.blocksize)

    @property
    def outputs(self) -> list[str]:
        return [p.name for p in self._outs]

    @property
    def inputs(self) -> list[str]:
        return [p.name for p in self._ins]

    @property
    def midi_output(self) -> str | None:
        return None if self._midi is None else self._midi.name

    def _process(self, frames: int) -> None:
        job = self._job
        if job is None:
            for p in self._outs:
                p.get_array().fill(0.0)
        else:
            play, rec = job
            pos = self._pos
            m = min(frames, play.shape[1] - pos)
            for ch, p in enumerate(self._outs):
                a = p.get_array()
                a[:m] = play[ch, pos:pos + m]
                a[m:] = 0.0
            for ch, p in enumerate(self._ins):
                rec[ch, pos:pos + m] = p.get_array()[:m]
            self._pos = pos + m
            if pos + m >= play.shape[1]:
                self._job = None
        if self._midi is not None:
            self._midi.clear_buffer()
            t = 0
            while self._midi_queue and t < frames:
                self._midi.write_midi_event(t, self._midi_queue.popleft())
                t += 1

    def play_record(self, signal: np.ndarray, frames: int | None = None,
                    timeout_s: float | None = None, attempts: int = 1,
                    pause_s: float = 0.0) -> np.ndarray:
        """Play ``signal`` from the start of a process cycle and record as long.

        Parameters
        ----------
        signal : np.ndarray
            ``(outputs, n)`` or 1-D (the same on every output), full-scale units.
        frames : int or None
            Frames to record (and play, the signal zero-padded); default ``n``.
        timeout_s : float or None
            Wall-clock limit per attempt; default 4 x the duration + 5 s.
        attempts : int
            Tries, 1..20.  A recording during which JACK reported an xrun is
            not trusted (a late client can hand over a stale block) and is
            made again, up to ``attempts`` times in all.
        pause_s : float
            Wait before a repeat, s (let a stateful gear, e.g. a compressor's
            release, settle back).

        Returns
        -------
        np.ndarray
            float32 ``(inputs, frames)``.  :attr:`last_xruns` is the number of
            xruns during the recording returned (0 unless every attempt had one).
        """
        x = np.asarray(signal, dtype=np.float32)
        if x.ndim == 1:
            x = np.tile(x, (len(self._outs), 1))
        if x.ndim != 2 or x.shape[0] != len(self._outs):
            raise ValueError(f"signal: expected ({len(self._outs)}, n) or (n,), "
                             f"got shape {np.shape(signal)}")
        total = x.shape[1] if frames is None else int(frames)
        if total <= 0:
            raise ValueError(f"frames: expected > 0, got {total}")
        if isinstance(attempts, bool) or not isinstance(attempts, int) or not 1 <= attempts <= 20:
            raise ValueError(f"attempts: expected an integer 1..20, got {attempts!r}")
        play = np.zeros((len(self._outs), total), np.float32)
        m = min(total, x.shape[1])
        play[:, :m] = x[:, :m]
        if timeout_s is None:
            timeout_s = 4.0 * total / self.fs + 5.0
        settle = 3.0 * self.blocksize / self.fs + 0.03  # xrun notices arrive asynchronously
        for attempt in range(attempts):
            if attempt:
                time.sleep(pause_s)
            rec = np.zeros((len(self._ins), total), np.float32)
            before = self.xruns
            self._pos = 0
            self._job = (play, rec)
            deadline = time.monotonic() + timeout_s
            while self._job is not None:
                if time.monotonic() > deadline:
                    self._job = None
                    raise OutboardError(f"{self.name}: played {self._pos} of {total} frames "
                                        f"in {timeout_s:g} s; is the JACK server running?")
                time.sleep(0.005)
            time.sleep(settle)
            self.last_xruns = self.xruns - before
            if self.last_xruns == 0:
                break
        return rec

    def send_midi(self, messages: Iterable[bytes | Sequence[int]]) -> None:
        """Queue MIDI messages; the next process cycles write them, one per frame."""
        if self._midi is None:
            raise OutboardError(f"{self.name}: made without midi_out")
        for m in messages:
            self._midi_queue.append(bytes(m))

    def wait_midi_sent(self, timeout_s: float = 2.0) -> None:
        """Wait until every queued MIDI message has been written to a cycle."""
        deadline = time.monotonic() + timeout_s
        while self._midi_queue:
            if time.monotonic() > deadline:
                raise OutboardError(f"{self.name}: MIDI not sent within {timeout_s:g} s")
            time.sleep(0.005)
        time.sleep(3 * self.blocksize / self.fs)  # the cycle that wrote the last one ends

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.deactivate()
        with contextlib.suppress(Exception):
            self.client.close()

    def __enter__(self) -> PlayRecordClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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
