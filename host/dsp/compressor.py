"""Feed-forward compressor (C kernel ``native/compressor.c``).

Log-domain design of Giannoulis, Massberg & Reiss (JAES 2012): a static curve
with a quadratic soft knee, then a smooth branching attack/release detector on
the gain reduction in dB.  Peak or RMS detector, stereo link, mid-side mode,
sidechain high pass, makeup gain.  See ``native/compressor.h`` for the
equations and the time-constant definition.
"""

from __future__ import annotations

import math
import numbers
import weakref
from typing import Any

import numpy as np

from host._ffi import check, ffi, lib
from host.dsp.kernel import Range

DETECTORS = {"peak": lib.OB_COMP_DETECT_PEAK, "rms": lib.OB_COMP_DETECT_RMS}
MODES = {"stereo": lib.OB_COMP_MODE_STEREO, "mid-side": lib.OB_COMP_MODE_MID_SIDE}

#: Time constant of the parameter ramps, ms (one-pole: 63.2 % of a change in this time).
RAMP_MS: float = float(lib.OB_COMP_RAMP_MS)

#: every parameter: unit, range and default (compressor.h), the one place they are
#: written; the chain schema and the multiband's bands are built from them
RANGES: dict[str, Range] = {
    "threshold_db": Range("number", -60.0, 0.0, "dBFS", -18.0),
    "ratio": Range("number", 1.0, 100.0, "(ratio)", 2.0),
    "knee_db": Range("number", 0.0, 24.0, "dB", 6.0),
    "attack_ms": Range("number", 0.01, 500.0, "ms", 10.0),
    "release_ms": Range("number", 1.0, 5000.0, "ms", 100.0),
    "makeup_db": Range("number", -24.0, 24.0, "dB", 0.0),
    "detector": Range("choice", choices=tuple(DETECTORS), default="peak"),
    "rms_window_ms": Range("number", 1.0, 300.0, "ms", 10.0),
    "stereo_link": Range("number", 0.0, 1.0, "(0 = unlinked, 1 = linked)", 1.0),
    "mode": Range("choice", choices=tuple(MODES), default="stereo"),
    "sidechain_hpf_hz": Range("number", 20.0, 500.0, "Hz", 0.0, zero_ok=True),
}

# name: (unit, low, high, C setter) for the numeric parameters
_NUMERIC: dict[str, tuple[str, float, float, str]] = {
    name: (unit, RANGES[name].lo, RANGES[name].hi, f"ob_compressor_set_{name}")
    for name, unit in (("threshold_db", "dBFS"), ("ratio", "x:1"), ("knee_db", "dB"),
                       ("attack_ms", "ms"), ("release_ms", "ms"), ("makeup_db", "dB"),
                       ("rms_window_ms", "ms"), ("stereo_link", "fraction"))
}
_PARAMS = (*_NUMERIC, "detector", "mode", "sidechain_hpf_hz")


def _is_real(x: object) -> bool:
    """A finite real number (bool excluded)."""
    return isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isfinite(x)


class Compressor:
    """Feed-forward compressor on planar float32 audio, processed in place.

    Parameters
    ----------
    fs : float
        Sample rate, Hz, 8000..768000.
    channels : int
        Channel count, 1..64.
    threshold_db : float
        Threshold, dBFS, -60..0.
    ratio : float
        Ratio, 1..100 (1 = no compression; 100 is taken as limiting, slope 0).
    knee_db : float
        Width of the quadratic soft knee, dB, 0..24 (0 = hard knee).
    attack_ms, release_ms : float
        Attack, ms, 0.01..500; release, ms, 1..5000.  After a step the gain
        reduction covers 1 - 1/e (63.2 %) of its change in this time.
    makeup_db : float
        Makeup gain, dB, -24..+24.
    detector : {"peak", "rms"}
        Level detector: instantaneous peak, or RMS averaged over
        ``rms_window_ms``.
    rms_window_ms : float
        Time constant of the RMS averager (one-pole on the square), ms, 1..300.
    stereo_link : float
        0..1.  0: each channel its own gain; 1: one gain from the loudest
        channel; between: the gain reduction in dB is interpolated.
    mode : {"stereo", "mid-side"}
        ``"mid-side"`` (2 channels only) compresses M = (L+R)/2 and S = (L-R)/2.
    sidechain_hpf_hz : float
        High pass on the detector path only (2nd order, Q = 1/sqrt 2), Hz:
        0 (off) or 20..500.

    Notes
    -----
    Parameter changes take effect through ramps of :data:`RAMP_MS` (no clicks);
    before the first :meth:`process` (and after :meth:`reset`) they apply at
    once.  Latency is 0 samples, and the output does not depend on how the
    signal is cut into blocks.
    """

    def __init__(
        self,
        fs: float,
        channels: int,
        threshold_db: float = -18.0,
        ratio: float = 2.0,
        knee_db: float = 6.0,
        attack_ms: float = 10.0,
        release_ms: float = 100.0,
        makeup_db: float = 0.0,
        detector: str = "peak",
        rms_window_ms: float = 10.0,
        stereo_link: float = 1.0,
        mode: str = "stereo",
        sidechain_hpf_hz: float = 0.0,
    ) -> None:
        if not (_is_real(fs) and 8000.0 <= fs <= 768000.0):
            raise ValueError(f"fs: sample rate in Hz, expected 8000..768000, got {fs!r}")
        if not (isinstance(channels, (int, np.integer)) and 1 <= channels <= lib.OB_MAX_CHANNELS):
            raise ValueError(f"channels: expected 1..{lib.OB_MAX_CHANNELS}, got {channels!r}")
        st = lib.ob_compressor_new(float(fs), int(channels))
        if st == ffi.NULL:
            raise MemoryError("ob_compressor_new failed")
        self._st = st
        self._fin = weakref.finalize(self, lib.ob_compressor_free, st)
        self.fs = float(fs)
        self.channels = int(channels)
        self._params: dict[str, Any] = {}
        self.set(
            threshold_db=threshold_db, ratio=ratio, knee_db=knee_db, attack_ms=attack_ms,
            release_ms=release_ms, makeup_db=makeup_db, detector=detector,
            rms_window_ms=rms_window_ms, stereo_link=stereo_link, mode=mode,
            sidechain_hpf_hz=sidechain_hpf_hz,
        )

    # ---- parameters -------------------------------------------------------------

    def _validate(self, name: str, value: Any) -> Any:
        if name in _NUMERIC:
            unit, lo, hi, _ = _NUMERIC[name]
            if not _is_real(value) or not lo <= value <= hi:
                raise ValueError(f"{name}: {unit}, expected {lo:g}..{hi:g}, got {value!r}")
            return float(value)
        if name == "detector":
            if value not in DETECTORS:
                raise ValueError(f"detector: expected one of {', '.join(DETECTORS)}, got {value!r}")
            return value
        if name == "mode":
            if value not in MODES:
                raise ValueError(f"mode: expected one of {', '.join(MODES)}, got {value!r}")
            if value == "mid-side" and self.channels != 2:
                raise ValueError(f"mode: 'mid-side' needs 2 channels, have {self.channels}")
            return value
        if name == "sidechain_hpf_hz":
            if not _is_real(value) or not (value == 0 or 20.0 <= value <= 500.0):
                raise ValueError(
                    f"sidechain_hpf_hz: Hz, expected 0 (off) or 20..500, got {value!r}"
                )
            return float(value)
        raise ValueError(f"unknown parameter {name!r}; expected one of {', '.join(_PARAMS)}")

    def set(self, **params: Any) -> None:
        """Set any of the constructor's parameters (all validated before any applies).

        Only writes targets that :meth:`process` ramps towards (no clicks); do
        not call it while another thread is inside :meth:`process` (call it
        between blocks).  Raises ``ValueError`` naming the parameter, its unit
        and range.
        """
        checked = {name: self._validate(name, value) for name, value in params.items()}
        for name, value in checked.items():
            if name in _NUMERIC:
                status = getattr(lib, _NUMERIC[name][3])(self._st, value)
            elif name == "detector":
                status = lib.ob_compressor_set_detector(self._st, DETECTORS[value])
            elif name == "mode":
                status = lib.ob_compressor_set_mode(self._st, MODES[value])
            else:
                status = lib.ob_compressor_set_sidechain_hpf_hz(self._st, value)
            check(status, f"ob_compressor set {name}")
            self._params[name] = value

    @property
    def params(self) -> dict[str, Any]:
        """Current parameter values (targets), as a new dict."""
        return dict(self._params)

    # ---- processing -------------------------------------------------------------

    def process(self, audio: np.ndarray) -> np.ndarray:
        """Compress ``audio`` in place and return it.

        Parameters
        ----------
        audio : np.ndarray
            C-contiguous float32, planar ``(channels, frames)``, or 1-D for one
            channel.  Values in full-scale units (1.0 = 0 dBFS).

        The C call allocates nothing and takes no lock; this wrapper builds the
        channel pointers (a small allocation), so call the C kernel directly
        from a real-time callback.
        """
        if not isinstance(audio, np.ndarray) or audio.dtype != np.float32:
            raise ValueError("audio: expected a float32 numpy array (processed in place)")
        if not audio.flags.c_contiguous:
            raise ValueError("audio: expected a C-contiguous array (processed in place)")
        a2 = audio[np.newaxis, :] if audio.ndim == 1 else audio
        if a2.ndim != 2 or a2.shape[0] != self.channels:
            raise ValueError(
                f"audio: expected shape ({self.channels}, frames)"
                + (" or (frames,)" if self.channels == 1 else "")
                + f", got {audio.shape}"
            )
        nch, frames = a2.shape
        if frames == 0:
            return audio
        base = ffi.cast("float *", ffi.from_buffer(a2))
        ptr = ffi.new("float *[]", nch)
        for c in range(nch):
            ptr[c] = base + c * frames
        step = 1 << 30  # frames is a C int
        for start in range(0, frames, step):
            n = min(step, frames - start)
            if start:
                for c in range(nch):
                    ptr[c] = base + c * frames + start
            check(lib.ob_compressor_process(self._st, ptr, nch, n), "ob_compressor_process")
        return audio

    def reset(self) -> None:
        """Clear the signal history and the meters; pending ramps complete at once."""
        lib.ob_compressor_reset(self._st)

    # ---- meters -------------------------------------------------------------------

    @property
    def gain_reduction_db(self) -> float:
        """Gain reduction after the last processed sample, dB >= 0 (max over channels)."""
        return float(lib.ob_compressor_gain_reduction_db(self._st))

    def take_max_gain_reduction_db(self) -> float:
        """Largest gain reduction since the previous call, dB >= 0; clears it.

        Safe from another thread than the one processing (atomic read-and-clear).
        """
        return float(lib.ob_compressor_take_max_gain_reduction_db(self._st))

    @property
    def latency_samples(self) -> int:
        """Latency added by the compressor, samples (always 0: no lookahead)."""
        return int(lib.ob_compressor_latency(self._st))
