"""Dynamic EQ throughput: outboard's C kernel vs a scipy-based per-block
implementation (no library a user would reach for has a dynamic EQ;
pedalboard's filters are static).

Stereo, 48 kHz, 2 s of a music-like signal (bench_compressor's), one band
(the deess preset) and four bands.  The reference does what a NumPy user
would write: per block of 128 samples and per band, the cookbook band pass
(``scipy.signal.lfilter`` with carried state), the block's mean square, the
same gain law (threshold, ratio, range, above/below), attack/release on the
gain once per block, the cookbook peak/shelf for that gain, and
``lfilter`` of the block with carried state.

What differs: ours moves the gain (and the filter's coefficients) every
sample, with one-pole ramps on every parameter and a linked detector; the
reference moves it once per block, so its gain steps every 2.7 ms and its
output depends on the block size.  Same filters, same law, far coarser time.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import signal

from bench_compressor import FS, music_like
from common import Row, best_time
from host.dsp.dynamic_eq import BAND_RANGES, PRESETS, DynamicEQ

SECONDS = 2.0
BLOCK = 128

FOUR = [
    dict(type="lowshelf", freq_hz=100.0, gain_db=2.0, threshold_db=-30.0, mode="below"),
    dict(type="peak", freq_hz=400.0, q=1.5, threshold_db=-25.0, ratio=3.0),
    dict(type="peak", freq_hz=2500.0, q=2.0, threshold_db=-30.0, ratio=2.0),
    PRESETS["deess"],
]


def cookbook(kind: str, f0: float, q: float, gain_db: float) -> tuple[list, list]:
    A = 10 ** (gain_db / 40)
    w0 = 2 * math.pi * f0 / FS
    cs, al = math.cos(w0), math.sin(w0) / (2 * q)
    if kind == "bandpass":
        return [al, 0.0, -al], [1 + al, -2 * cs, 1 - al]
    if kind == "peak":
        return [1 + al * A, -2 * cs, 1 - al * A], [1 + al / A, -2 * cs, 1 - al / A]
    sa, ap, am = 2 * math.sqrt(A) * al, A + 1, A - 1
    if kind == "lowshelf":
        return ([A * (ap - am * cs + sa), 2 * A * (am - ap * cs), A * (ap - am * cs - sa)],
                [ap + am * cs + sa, -2 * (am + ap * cs), ap + am * cs - sa])
    return ([A * (ap + am * cs + sa), -2 * A * (am + ap * cs), A * (ap + am * cs - sa)],
            [ap - am * cs + sa, 2 * (am - ap * cs), ap - am * cs - sa])


def scipy_dynamic_eq(x: np.ndarray, bands: list[dict]) -> np.ndarray:
    """The per-block reference (see the module docstring)."""
    bands = [{k: r.default for k, r in BAND_RANGES.items()} | b for b in bands]
    y = x.astype(np.float64)
    xin = y.copy()
    nch = x.shape[0]
    det_zi = [np.zeros((nch, 2)) for _ in bands]
    flt_zi = [np.zeros((nch, 2)) for _ in bands]
    cut = [0.0] * len(bands)
    bp = [cookbook("bandpass", b["freq_hz"], b["q"], 0.0) for b in bands]
    for s in range(0, x.shape[1], BLOCK):
        blk = slice(s, s + BLOCK)
        for k, b in enumerate(bands):
            d, det_zi[k] = signal.lfilter(*bp[k], xin[:, blk], axis=1, zi=det_zi[k])
            level = 10 * math.log10(max(float(np.max(np.mean(d * d, axis=1))), 1e-30))
            over = level - b["threshold_db"]
            want = (max(0.0, over) * (1 - 1 / b["ratio"]) if b["mode"] == "above"
                    else max(0.0, -over) * (b["ratio"] - 1))
            want = min(want, b["range_db"])
            tau = b["attack_ms"] if want > cut[k] else b["release_ms"]
            a = math.exp(-BLOCK / (tau * 1e-3 * FS))
            cut[k] = want + (cut[k] - want) * a
            num, den = cookbook(b["type"], b["freq_hz"], b["q"], b["gain_db"] - cut[k])
            y[:, blk], flt_zi[k] = signal.lfilter(num, den, y[:, blk], axis=1, zi=flt_zi[k])
    return y


def run() -> list[Row]:
    x = music_like(seconds=SECONDS)
    rows = []
    for label, bands in (("1 band (deess preset)", [PRESETS["deess"]]), ("4 bands", FOUR)):
        eq = DynamicEQ(FS, 2, bands)
        ours_s = best_time(lambda eq=eq: eq.process(x.copy()), repeat=3)
        ref_s = best_time(lambda bands=bands: scipy_dynamic_eq(x, bands), repeat=3)
        rows.append(Row(f"dynamic EQ, {label}, stereo 48 kHz (gain per sample vs per "
                        f"{BLOCK}-sample block)", x.size, ours_s,
                        "scipy lfilter per block (Python loop)", ref_s))
    return rows


if __name__ == "__main__":
    for r in run():
        print(f"{r.name}: ours {r.ours_s * 1e3:.1f} ms ({r.ours_rate / 1e6:.1f} M ch-samples/s), "
              f"{r.ref_name} {r.ref_s * 1e3:.1f} ms, speedup {r.speedup:.2f}x")
