"""Oversampled saturation and clipping (C kernel ``native/saturation.c``).

Four memoryless curves (tape = tanh, tube = biased tanh with its DC removed,
cubic soft clip, hard clip) run at 2, 4 or 8 times the sample rate between
polyphase Kaiser FIR interpolation and decimation, with first-order
antiderivative anti-aliasing (ADAA) at the high rate, then a 3 Hz DC blocker
on the wet path, a dry/wet mix (the dry path delayed to line up) and an
output trim.  See ``native/saturation.h`` for the equations.

Aliasing, a full-scale 15 kHz sine at 48 kHz through ``tape`` at +12 dB
drive (``tests/dsp/test_saturation.py`` measures it): the largest alias is
about -30 dBFS at 2x, -70 dBFS at 4x and -114 dBFS at 8x.  Hard clipping
makes corners no oversampling band-limits: the same sine at +6 dB leaves
about -55, -73 and -75 dBFS.

This module owns the parameter ranges; the chain schema
(:mod:`host.model.config`) is built from :data:`RANGES`, :data:`CURVES`,
:data:`FACTORS` and :data:`DEFAULTS`.
"""

from __future__ import annotations

import math
import numbers
import weakref
from typing import Any

import numpy as np

from host._ffi import check, ffi, lib, planar, process_blocks

__all__ = ["Saturation", "CURVES", "FACTORS", "RANGES", "DEFAULTS", "PARAM_IDS",
           "LATENCY_SAMPLES", "RAMP_MS", "DC_BLOCK_HZ"]

#: curve name -> the kernel's OB_SAT_* number
CURVES: dict[str, int] = {
    "tape": lib.OB_SAT_TAPE,
    "tube": lib.OB_SAT_TUBE,
    "soft_clip": lib.OB_SAT_SOFT_CLIP,
    "hard_clip": lib.OB_SAT_HARD_CLIP,
}
#: oversampling factors
FACTORS = (2, 4, 8)
FS_RANGE_HZ = (8000.0, 768000.0)
#: numeric parameters: (unit, low, high)
RANGES: dict[str, tuple[str, float, float]] = {
    "drive_db": ("dB", -12.0, 36.0),
    "mix_pct": ("%", 0.0, 100.0),
    "output_db": ("dB", -24.0, 24.0),
}
DEFAULTS: dict[str, Any] = {"drive_db": 0.0, "curve": "tape", "mix_pct": 100.0,
                            "output_db": 0.0, "oversample": 4}
#: parameter -> id for ob_saturation_set_param (what the engine's messages carry)
PARAM_IDS: dict[str, int] = {
    "drive_db": lib.OB_SAT_PARAM_DRIVE_DB,
    "curve": lib.OB_SAT_PARAM_CURVE,
    "mix_pct": lib.OB_SAT_PARAM_MIX_PCT,
    "output_db": lib.OB_SAT_PARAM_OUTPUT_DB,
}
#: latency at every factor, samples
LATENCY_SAMPLES: int = int(lib.OB_SAT_TAPS)
#: time constant of the drive/mix/trim ramps and length of a curve crossfade, ms
RAMP_MS: float = float(lib.OB_SAT_RAMP_MS)
#: corner of the wet path's first-order DC blocker, Hz
DC_BLOCK_HZ: float = float(lib.OB_SAT_DC_HZ)


def _is_real(x: object) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isfinite(x)


def check_param(name: str, value: Any) -> Any:
    """Validate one settable parameter; returns it normalised (float, or the
    curve name).  Raises ``ValueError`` naming the parameter, unit and range."""
    if name in RANGES:
        unit, lo, hi = RANGES[name]
        if not _is_real(value) or not lo <= value <= hi:
            raise ValueError(f"{name}: {unit}, expected {lo:g}..{hi:g}, got {value!r}")
        return float(value)
    if name == "curve":
        if value not in CURVES:
            raise ValueError(f"curve: expected one of {', '.join(CURVES)}, got {value!r}")
        return value
    raise ValueError(f"unknown parameter {name!r}; expected one of {', '.join(PARAM_IDS)}")


def param_value(name: str, value: Any) -> float:
    """The number ``ob_saturation_set_param`` takes for a checked value."""
    return float(CURVES[value]) if name == "curve" else float(value)


class Saturation:
    """Oversampled saturator on planar float32 audio, processed in place.

    Parameters
    ----------
    fs : float
        Sample rate, Hz, 8000..768000.
    channels : int
        Channel count, 1..64.
    drive_db : float
        Gain into the curve, dB, -12..+36.
    curve : {"tape", "tube", "soft_clip", "hard_clip"}
        ``tape``: tanh.  ``tube``: (tanh(u + 0.25) - tanh 0.25) / sech^2 0.25,
        asymmetric (even harmonics; flattens at +0.80 and -1.32, so negative
        peaks may pass full scale), its DC removed.  ``soft_clip``:
        u - 4u^3/27 up to |u| = 1.5, then +-1.  ``hard_clip``: +-1.  All have
        unit slope at 0 (a quiet signal passes at unity gain).
    mix_pct : float
        Wet share, %, 0..100 (the dry path is delayed by the latency).
    output_db : float
        Output trim, dB, -24..+24.
    oversample : {2, 4, 8}
        Oversampling factor, fixed at creation.

    Notes
    -----
    Latency is :data:`LATENCY_SAMPLES` (48) samples at every factor; the
    output does not depend on how the signal is cut into blocks.  Drive, mix
    and trim changes ramp (one-pole, :data:`RAMP_MS`); a curve change
    crossfades over :data:`RAMP_MS`.  The C ``process`` is real-time safe
    (no allocation, no locks); this wrapper builds a small pointer array per
    call.
    """

    def __init__(self, fs: float, channels: int, drive_db: float = 0.0, curve: str = "tape",
                 mix_pct: float = 100.0, output_db: float = 0.0, oversample: int = 4) -> None:
        if not (_is_real(fs) and FS_RANGE_HZ[0] <= fs <= FS_RANGE_HZ[1]):
            raise ValueError(f"fs: sample rate in Hz, expected 8000..768000, got {fs!r}")
        if not (isinstance(channels, (int, np.integer)) and not isinstance(channels, bool)
                and 1 <= channels <= lib.OB_MAX_CHANNELS):
            raise ValueError(f"channels: expected 1..{lib.OB_MAX_CHANNELS}, got {channels!r}")
        if isinstance(oversample, bool) or oversample not in FACTORS:
            raise ValueError(f"oversample: expected 2, 4 or 8 (times), got {oversample!r}")
        st = lib.ob_saturation_new(float(fs), int(channels), int(oversample))
        if st == ffi.NULL:
            raise MemoryError("ob_saturation_new failed")
        self._st = st
        self._fin = weakref.finalize(self, lib.ob_saturation_free, st)
        self.fs = float(fs)
        self.channels = int(channels)
        self.oversample = int(oversample)
        self._params: dict[str, Any] = {}
        self.set(drive_db=drive_db, curve=curve, mix_pct=mix_pct, output_db=output_db)

    def set(self, **params: Any) -> None:
        """Set any of ``drive_db``, ``curve``, ``mix_pct``, ``output_db`` (all
        checked before any applies).  Writes targets that :meth:`process`
        ramps to; call it between blocks, not while another thread is inside
        :meth:`process`."""
        checked = {name: check_param(name, value) for name, value in params.items()}
        for name, value in checked.items():
            check(lib.ob_saturation_set_param(self._st, PARAM_IDS[name], param_value(name, value)),
                  f"ob_saturation set {name}")
            self._params[name] = value

    @property
    def params(self) -> dict[str, Any]:
        """Current parameter values (targets) and the factor, as a new dict."""
        return {**self._params, "oversample": self.oversample}

    def process(self, audio: np.ndarray) -> np.ndarray:
        """Saturate a block of a stream in place; the output is delayed by
        :attr:`latency_samples`.

        Parameters
        ----------
        audio : np.ndarray
            Planar float32 ``(channels, frames)``, or 1-D for one channel;
            other layouts are converted to a new array.

        Returns
        -------
        np.ndarray
            The processed audio (``audio`` itself when it was C-contiguous
            float32), the same shape as ``audio``.
        """
        a = planar(audio)
        if a.shape[0] != self.channels:
            raise ValueError(f"audio: expected {self.channels} channels as (channels, frames), "
                             f"got shape {np.shape(audio)}")
        st = self._st
        process_blocks(lambda p, n, f: lib.ob_saturation_process(st, p, n, f), a, 1 << 20)
        return a[0] if np.ndim(audio) == 1 else a

    def reset(self) -> None:
        """Clear the signal history; ramps and a crossfade complete at once."""
        lib.ob_saturation_reset(self._st)

    @property
    def latency_samples(self) -> int:
        """Delay of the output, samples (48 at every factor)."""
        return int(lib.ob_saturation_latency(self._st))

    def __repr__(self) -> str:
        p = self._params
        return (f"Saturation(fs={self.fs:g}, channels={self.channels}, "
                f"drive_db={p['drive_db']:g}, curve={p['curve']!r}, mix_pct={p['mix_pct']:g}, "
                f"output_db={p['output_db']:g}, oversample={self.oversample})")
