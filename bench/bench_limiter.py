"""True-peak limiter and meter throughput, with the references a user would pick.

Limiter: stereo, 48 kHz, 10 s of loud music-like noise (pink-ish noise with
clipped drum hits, true peaks up to about +6 dBTP), ceiling -1 dBTP, release
50 ms, lookahead 1.5 ms.  Ours (8x, and 4x, detection with a parabola,
linked) vs
``pedalboard.BrickwallLimiter(true_peak=True)`` (JUCE-based, 4x detection),
which pedalboard 0.9.26 offers.  Ours processes a copy in place (the copy is
timed); pedalboard returns a new array.  The row names carry the output's
true peak as measured by scipy.signal.resample_poly x16, so speed is not read
without the result.

Meter: the same signal's true peak, 4x (BS.1770), ours (streaming polyphase,
24 taps per phase) vs ``scipy.signal.resample_poly(x, 4, 1)`` and max |.|.
"""

from __future__ import annotations

import numpy as np
import pedalboard
import scipy.signal as ss

from common import Row, best_time
from host.dsp.limiter import Limiter, TruePeakMeter

FS = 48000
SECONDS = 10.0
CEILING_DBTP = -1.0


def loud_music_like(fs: int = FS, seconds: float = SECONDS, seed: int = 11) -> np.ndarray:
    """Planar float32 (2, n): pink-ish noise at about -10 dBFS RMS plus
    drum-like bursts gained up and hard clipped at 1.0 (inter-sample overs)."""
    rng = np.random.default_rng(seed)
    n = int(fs * seconds)
    white = rng.standard_normal((2, n))
    b, a = ss.butter(1, 500.0, fs=fs)  # -6 dB/oct above 500 Hz: pink-ish
    x = ss.lfilter(b, a, white, axis=1)
    x *= 0.3 / np.sqrt(np.mean(x ** 2))
    hit = int(0.08 * fs)
    env = np.exp(-np.arange(hit) / (0.006 * fs))
    for start in range(0, n - hit, int(0.25 * fs)):
        x[:, start:start + hit] += 2.0 * rng.standard_normal((2, hit)) * env
    return np.ascontiguousarray(np.clip(x, -1.0, 1.0), dtype=np.float32)


def reference_dbtp(x: np.ndarray) -> float:
    y = ss.resample_poly(np.asarray(x, dtype=np.float64), 16, 1, axis=1)
    return float(20 * np.log10(np.max(np.abs(y))))


def run() -> list[Row]:
    x = loud_music_like()
    work = x.size
    rows = []

    theirs = pedalboard.BrickwallLimiter(ceiling_db=CEILING_DBTP, release_ms=50.0,
                                         lookahead_ms=1.5, true_peak=True)
    theirs_tp = reference_dbtp(theirs(x, FS))
    ref_s = best_time(lambda: theirs(x, FS, reset=True), repeat=5)
    for oversample in (8, 4):
        ours = Limiter(FS, 2, ceiling_dbtp=CEILING_DBTP, release_ms=50.0, lookahead_ms=1.5,
                       oversample=oversample)
        ours_tp = reference_dbtp(ours.process_aligned(x))
        ours_s = best_time(lambda o=ours: o.process(x.copy()), repeat=5)
        rows.append(Row(
            f"true-peak limiter -1 dBTP, {oversample}x detection, stereo 48 kHz "
            f"(out TP: ours {ours_tp:+.2f}, pedalboard {theirs_tp:+.2f} dBTP)",
            work, ours_s, "pedalboard.BrickwallLimiter(true_peak=True), 4x", ref_s))

    meter = TruePeakMeter(FS, 2, oversample=4)

    def ours_meter() -> float:
        meter.reset()
        meter.process(x)
        return meter.max_dbtp

    def scipy_meter() -> float:
        return float(20 * np.log10(np.max(np.abs(ss.resample_poly(x, 4, 1, axis=1)))))

    ours_s = best_time(ours_meter, repeat=5)
    ref_s = best_time(scipy_meter, repeat=5)
    rows.append(Row(
        f"true-peak meter 4x, stereo 48 kHz (ours {ours_meter():+.2f}, "
        f"scipy {scipy_meter():+.2f} dBTP)",
        work, ours_s, "scipy.signal.resample_poly(x, 4, 1) + max", ref_s))
    return rows


if __name__ == "__main__":
    for r in run():
        print(f"{r.name}\n    ours {r.ours_s * 1e3:8.2f} ms   {r.ref_name:44s} "
              f"{r.ref_s * 1e3:8.2f} ms   {r.speedup:.2f}x")
