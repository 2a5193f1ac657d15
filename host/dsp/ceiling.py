"""True peak by the band-limited (ideal) reconstruction, and holding a ceiling by it.

A DAC with a good reconstruction filter comes close to the ideal band-limited
interpolation of the samples (the periodic sinc).  FIR meters and detectors
with a few dozen taps per phase, such as BS.1770's 4x meter
(:class:`host.dsp.limiter.TruePeakMeter`) and the limiter's 8x detector, have
their passband end well below fs/2 and under-read wide-band content near fs/2
(clipped or limited masters, noise-like drums): by 0.7 dB on a limited master
with a white-noise snare, 4 dB on a square wave at 0.49 fs.  The sinc's tails
that carry the difference decay slowly, so no FIR that fits a limiter's
lookahead sees them; offline, the whole signal is at hand and its
reconstruction can be computed outright.

Method (:func:`interval_peaks`): each channel is upsampled 8x by zero-padding
its spectrum (FFT, Nyquist bin split between +fs/2 and -fs/2) in blocks of
``BLOCK_FRAMES`` with ``CONTEXT_FRAMES`` of signal on either side, the signal
being zero outside the file; each sample interval's largest absolute value is
refined by a parabola through the largest 8x value and its neighbours.  Per
interval the reading is within about 0.01 dB of the exact reconstruction of
the block; cutting the signal into blocks leaves out the sinc's tails beyond
``CONTEXT_FRAMES`` (an error of about 0.002 of the RMS of content within a
few Hz of fs/2: white noise at full scale, -60 dB).

Offline only (FFT blocks allocate); nothing here is real-time safe.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import fft as sfft

__all__ = ["interval_peaks", "ideal_true_peak_dbtp", "hold_ceiling", "CeilingCheck"]

#: FFT oversampling before the parabola
OVERSAMPLE = 8
#: FFT precision: single precision errs by about 1e-6 of full scale, 1e-5 dB
FFT_DTYPE = np.float32
#: samples of each block whose reconstruction is kept
BLOCK_FRAMES = 1 << 17
#: samples of signal (or silence) either side of a block, for the sinc's tails
CONTEXT_FRAMES = 1 << 15
#: the corrective gain's target, below the ceiling (dB): room for the dither
#: noise and the meter's own error
TARGET_MARGIN_DB = 0.01
#: corrective gain: held flat for this long either side of an over, then a
#: ramp of RAMP_MS in and out (ms); short and shallow enough to be inaudible
HOLD_MS = 1.0
RAMP_MS = 2.0
#: passes of corrective gain before a uniform gain settles what is left
MAX_PASSES = 6


def _upsampled(x: np.ndarray, start: int, stop: int) -> np.ndarray:
    """Band-limited reconstruction of the 1-D signal ``x`` at OVERSAMPLE
    times the rate, at times start - 1/L .. stop (input samples; L =
    OVERSAMPLE), with CONTEXT_FRAMES of context either side."""
    L, ctx = OVERSAMPLE, CONTEXT_FRAMES
    lo, hi = start - ctx, stop + ctx
    size = sfft.next_fast_len(hi - lo, real=True)  # zeros after hi, if any
    size += size & 1  # even: the last bin is Nyquist
    seg = np.zeros(size, dtype=FFT_DTYPE)
    a, b = max(lo, 0), min(hi, x.size)
    if b > a:
        seg[a - lo:b - lo] = x[a:b]
    spec = sfft.rfft(seg)
    spec[-1] *= 0.5  # the Nyquist bin, split between +fs/2 and -fs/2
    up = np.zeros(size * L // 2 + 1, dtype=spec.dtype)
    up[:spec.size] = spec
    y = sfft.irfft(up, size * L, overwrite_x=True)
    y *= L
    return y[(start - lo) * L - 1:(stop - lo) * L + 1]


def _block_peaks(y: np.ndarray, frames: int) -> np.ndarray:
    """Per interval [i, i + 1) of ``frames`` input samples, the largest
    |value| of the 8x reconstruction ``y`` (from _upsampled), refined by a
    parabola through it and its neighbours."""
    L = OVERSAMPLE
    rows = np.abs(y[1:1 + L * frames]).reshape(frames, L)
    k = np.argmax(rows, axis=1)
    j = 1 + L * np.arange(frames) + k  # index in y of each interval's largest
    ya, yb, yc = y[j - 1], y[j], y[j + 1]
    A, B, C = np.abs(ya), np.abs(yb), np.abs(yc)
    curv = A - 2.0 * B + C
    ok = (ya * yb > 0) & (yc * yb > 0) & (B >= A) & (B >= C) & (curv < 0)
    vertex = B - (A - C) ** 2 / (8.0 * np.where(ok, curv, -1.0))
    return np.where(ok & (vertex > B), vertex, B).astype(np.float64)


def interval_peaks(audio: np.ndarray) -> np.ndarray:
    """Band-limited true peak of every sample interval, linked over channels.

    Parameters
    ----------
    audio : np.ndarray
        Planar (channels, frames) or mono (frames,) audio, full scale 1.0;
        zero before and after.

    Returns
    -------
    np.ndarray
        float64 (frames,): element i is the largest absolute value of the
        ideal reconstruction over [i, i + 1) samples, any channel (linear).
    """
    x = np.atleast_2d(np.asarray(audio))
    n = x.shape[1]
    out = np.zeros(n)
    for ch in x:
        for start in range(0, n, BLOCK_FRAMES):
            stop = min(start + BLOCK_FRAMES, n)
            p = _block_peaks(_upsampled(ch, start, stop), stop - start)
            np.maximum(out[start:stop], p, out=out[start:stop])
    return out


def ideal_true_peak_dbtp(audio: np.ndarray) -> float:
    """Largest band-limited true peak of ``audio`` over all channels, dBTP
    (``-inf`` for silence); see :func:`interval_peaks`."""
    p = interval_peaks(audio)
    m = float(p.max()) if p.size else 0.0
    return 20 * math.log10(m) if m > 0 else -math.inf


@dataclass
class CeilingCheck:
    """What :func:`hold_ceiling` measured and did."""

    ceiling_dbtp: float
    #: band-limited true peak of the result, dBTP
    true_peak_dbtp: float
    #: before any correction, dBTP
    true_peak_before_dbtp: float
    #: corrective passes run (0: the audio held the ceiling as it was)
    passes: int = 0
    #: deepest corrective gain applied, dB (>= 0)
    max_correction_db: float = 0.0
    #: a uniform gain was needed (dB, >= 0; gain-only audio or a last resort)
    uniform_gain_db: float = 0.0

    def report(self) -> dict:
        """JSON-ready (silence reads as None)."""
        return {
            "reference": f"band-limited reconstruction, FFT {OVERSAMPLE}x + parabola",
            "ceiling_dbtp": self.ceiling_dbtp,
            "true_peak_dbtp": _rounded(self.true_peak_dbtp),
            "true_peak_before_dbtp": _rounded(self.true_peak_before_dbtp),
            "passes": self.passes,
            "max_correction_db": round(self.max_correction_db, 3),
            "uniform_gain_db": round(self.uniform_gain_db, 3),
        }


def _correction(r: np.ndarray, hold: int, ramp: int) -> np.ndarray:
    """Smooth gain <= r[t] for H samples either side of every t: the minimum of
    r over 2 (H + W) + 1 samples, averaged over 2 W + 1 (W = ramp)."""
    from scipy.ndimage import minimum_filter1d, uniform_filter1d

    m = minimum_filter1d(r, 2 * (hold + ramp) + 1, mode="constant", cval=1.0)
    g = uniform_filter1d(m, 2 * ramp + 1, mode="constant", cval=1.0)
    return np.minimum(g, 1.0)


def hold_ceiling(audio: np.ndarray, fs: float, ceiling_dbtp: float,
                 finish: Callable[[np.ndarray], np.ndarray] | None = None,
                 limit: bool = True) -> tuple[np.ndarray, CeilingCheck]:
    """Make ``finish(audio)`` hold ``ceiling_dbtp`` by the band-limited
    reconstruction; the last step of an offline master.

    ``finish`` is what follows before the file (dither and quantisation; it
    must not modify its argument and should be repeatable, e.g. a seeded
    dither); it runs on the audio, the result is measured with
    :func:`interval_peaks`, and where it is over the ceiling a smooth gain
    dip (flat ``HOLD_MS`` either side of the over, ``RAMP_MS`` ramps) brings
    the audio to ``TARGET_MARGIN_DB`` under it, then the whole is finished and
    measured again, up to ``MAX_PASSES`` times; a uniform gain settles what
    is left.  With ``limit=False`` (gain-only audio) only a uniform gain is
    used.

    Returns
    -------
    (np.ndarray, CeilingCheck)
        The finished audio and the check.
    """
    finish = finish or (lambda a: np.array(a, dtype=np.float32))
    ceil = 10 ** (ceiling_dbtp / 20)
    target = 10 ** ((ceiling_dbtp - TARGET_MARGIN_DB) / 20)
    hold = max(1, round(HOLD_MS * 1e-3 * fs))
    ramp = max(1, round(RAMP_MS * 1e-3 * fs))
    x = np.array(audio, dtype=np.float32)
    out = finish(x)
    p = interval_peaks(out)
    top = float(p.max()) if p.size else 0.0
    check = CeilingCheck(ceiling_dbtp, _db(top), _db(top))
    deepest = 1.0
    for _ in range(MAX_PASSES + 8):
        if not top > ceil:
            break
        if limit and check.passes < MAX_PASSES:
            r = np.where(p > target, target / np.maximum(p, 1e-30), 1.0)
            g = _correction(r, hold, ramp)
            deepest = min(deepest, float(g.min()))
            check.passes += 1
        else:
            g = np.float32(target / top)
            check.uniform_gain_db += -_db(target / top)
        x = (x * g).astype(np.float32)
        out = finish(x)
        p = interval_peaks(out)
        top = float(p.max())
    else:  # not reached with finite audio: each uniform gain leaves only dither
        raise RuntimeError(f"hold_ceiling: {_db(top):+.3f} dBTP still over "
                           f"{ceiling_dbtp:+.2f} dBTP")
    check.true_peak_dbtp = _db(top)
    check.max_correction_db = max(0.0, -_db(deepest))
    return out, check


def _db(v: float) -> float:
    return 20 * math.log10(v) if v > 0 else -math.inf


def _rounded(db: float) -> float | None:
    return round(db, 3) if math.isfinite(db) else None
