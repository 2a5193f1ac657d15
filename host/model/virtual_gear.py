"""What a virtual unit is (``virtual_gear`` tables of a session's hardware inserts):
:class:`GearSpec`, its ranges, and the knobs its MIDI input moves.

Pure data and validation; the unit itself (a JACK client) is :mod:`host.sim.gear`,
the host-side handle :mod:`host.sim.virtual_gear`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from numbers import Real
from typing import Any

import numpy as np

from host.dsp.biquad import Equalizer
from host.dsp.compressor import Compressor

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



_NAME_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,48}$")



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
            try:
                return Compressor(fs, self.channels, **self.compressor)
            except ValueError as exc:
                raise ValueError(f"compressor.{exc}") from None
        if self.processing == "eq":
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
