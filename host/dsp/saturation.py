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

This module owns the parameter ranges (:data:`RANGES`); the chain schema
(:mod:`host.model.config`) is built from them.  Runs in the engine as a
kernel insert (:mod:`host.dsp.kernel`).
"""

from __future__ import annotations

from typing import Any

from host._ffi import lib
from host.dsp.kernel import KernelInsert, ParamError, Range, check_fs_channels

__all__ = ["Saturation", "CURVES", "FACTORS", "RANGES", "PARAM_IDS", "LATENCY_SAMPLES",
           "RAMP_MS", "DC_BLOCK_HZ"]

#: curve name -> the kernel's OB_SAT_* number
CURVES: dict[str, int] = {
    "tape": lib.OB_SAT_TAPE,
    "tube": lib.OB_SAT_TUBE,
    "soft_clip": lib.OB_SAT_SOFT_CLIP,
    "hard_clip": lib.OB_SAT_HARD_CLIP,
}
#: oversampling factors
FACTORS = (2, 4, 8)
#: every parameter: unit, range, default (the chain schema is built from these)
RANGES: dict[str, Range] = {
    "drive_db": Range("number", -12.0, 36.0, "dB", 0.0),
    "curve": Range("choice", choices=tuple(CURVES), default="tape"),
    "mix_pct": Range("number", 0.0, 100.0, "%", 100.0),
    "output_db": Range("number", -24.0, 24.0, "dB", 0.0),
    "oversample": Range("choice", choices=FACTORS, default=4),
}
#: settable parameter -> id of ob_saturation_set (the engine: OB_PARAM_KERNEL + id)
PARAM_IDS: dict[str, int] = {
    "drive_db": lib.OB_SAT_PARAM_DRIVE_DB,
    "curve": lib.OB_SAT_PARAM_CURVE,
    "mix_pct": lib.OB_SAT_PARAM_MIX_PCT,
    "output_db": lib.OB_SAT_PARAM_OUTPUT_DB,
}
#: latency at every factor, samples
LATENCY_SAMPLES: int = int(lib.OB_SAT_TAPS)
#: length of the drive/mix/trim ramps and of a curve crossfade (raised cosine), ms
RAMP_MS: float = float(lib.OB_SAT_RAMP_MS)
#: corner of the wet path's first-order DC blocker, Hz
DC_BLOCK_HZ: float = float(lib.OB_SAT_DC_HZ)


class Saturation(KernelInsert):
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
    and trim changes ramp along a raised cosine over :data:`RAMP_MS` (50 ms);
    a curve change crossfades over :data:`RAMP_MS`.  Runs in the engine as a kernel insert
    (:mod:`host.dsp.kernel`); the C ``process`` is real-time safe.
    """

    engine_kind = int(lib.OB_INSERT_SATURATION)
    RANGES = RANGES

    def __init__(self, fs: float, channels: int, drive_db: float = 0.0, curve: str = "tape",
                 mix_pct: float = 100.0, output_db: float = 0.0, oversample: int = 4) -> None:
        fs, channels = check_fs_channels(fs, channels)
        if isinstance(oversample, bool) or oversample not in FACTORS:
            raise ParamError("oversample", f"expected 2, 4 or 8 (times), got {oversample!r}")
        self.oversample = int(oversample)
        self._params: dict[str, Any] = {}
        msgs = self.messages(drive_db=drive_db, curve=curve, mix_pct=mix_pct,
                             output_db=output_db)
        st = lib.ob_saturation_new(fs, channels, self.oversample)
        self._own(st, lib.ob_saturation_free, lib.ob_saturation_ops(), fs, channels)
        for p, i, v in msgs:
            self.engine_ops.set(self._st, p, i, v)
        self._applied(dict(drive_db=drive_db, curve=curve, mix_pct=mix_pct,
                           output_db=output_db))

    def messages(self, **params: Any) -> list[tuple[int, int, float]]:
        """``drive_db``, ``curve``, ``mix_pct``, ``output_db`` as
        ``(param, index, value)`` triples of ``ob_saturation_set``.  The
        oversampling factor is fixed when the insert is built."""
        out: list[tuple[int, int, float]] = []
        for key, value in params.items():
            if key == "oversample":
                raise ParamError("oversample", "fixed when the insert is built (it sizes the "
                                 "filters and buffers)")
            if key not in PARAM_IDS:
                raise ParamError(key, f"unknown parameter (expected one of "
                                 f"{', '.join(PARAM_IDS)})")
            v = RANGES[key].check(key, value)
            out.append((int(PARAM_IDS[key]), -1, float(CURVES[v]) if key == "curve" else v))
        return out

    def _applied(self, params: dict[str, Any]) -> None:
        self._params.update({k: (v if k == "curve" else float(v)) for k, v in params.items()})

    @property
    def params(self) -> dict[str, Any]:
        """Current targets and the factor, as a new dict."""
        return {**self._params, "oversample": self.oversample}

    def __repr__(self) -> str:
        p = self._params
        return (f"Saturation(fs={self.fs:g}, channels={self.channels}, "
                f"drive_db={p['drive_db']:g}, curve={p['curve']!r}, mix_pct={p['mix_pct']:g}, "
                f"output_db={p['output_db']:g}, oversample={self.oversample})")
