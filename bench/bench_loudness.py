"""Loudness analysis of 60 s of stereo 48 kHz: outboard's meter vs pyloudnorm.

Ours: one pass giving momentary, short-term (and their maxima), integrated,
loudness range and sample peak.  pyloudnorm gives only what is asked of it:
integrated loudness (row 1), then integrated plus loudness range (row 2).
"""

from __future__ import annotations

import warnings

import numpy as np
import pyloudnorm as pyln

from common import Row, best_time
from host.dsp.loudness import LoudnessMeter

FS = 48000
SECONDS = 60


def _programme() -> np.ndarray:
    """Stereo pink-ish noise with level changes every 2 s (seeded)."""
    rng = np.random.default_rng(7)
    n = FS * SECONDS
    spec = np.fft.rfft(rng.standard_normal((2, n)), axis=-1)
    f = np.arange(spec.shape[-1], dtype=np.float64)
    f[0] = 1.0
    x = np.fft.irfft(spec / np.sqrt(f), n, axis=-1)
    x *= 10 ** (-20 / 20) / np.sqrt(np.mean(x ** 2))
    steps = 10 ** (rng.uniform(-20, 0, SECONDS // 2) / 20)
    x *= np.repeat(steps, 2 * FS)[np.newaxis, :]
    return np.ascontiguousarray(x, dtype=np.float32)


def run() -> list[Row]:
    audio = _programme()
    meter = LoudnessMeter(FS, 2)
    interleaved = audio.T.astype(np.float64)  # pyloudnorm takes (samples, channels)
    ref = pyln.Meter(FS)

    def ours() -> tuple[float, ...]:
        meter.reset()
        meter.process(audio)
        return (meter.momentary_max_lufs, meter.short_term_max_lufs, meter.integrated_lufs,
                meter.loudness_range_lu, meter.sample_peak_dbfs)

    def ref_i() -> float:
        return ref.integrated_loudness(interleaved)

    def ref_i_lra() -> tuple[float, float]:
        return ref.integrated_loudness(interleaved), ref.loudness_range(interleaved)

    work = audio.size
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t_ours = best_time(ours)
        t_i = best_time(ref_i, repeat=3)
        t_lra = best_time(ref_i_lra, repeat=2, min_time=0.0)
    name = f"loudness M/S/I/LRA + sample peak, {SECONDS} s stereo 48 kHz"
    return [
        Row(name, work, t_ours, "pyloudnorm.Meter.integrated_loudness (I only)", t_i),
        Row(name, work, t_ours, "pyloudnorm integrated_loudness + loudness_range", t_lra),
    ]


if __name__ == "__main__":
    for r in run():
        print(f"{r.name}: ours {r.ours_s * 1e3:.1f} ms ({r.ours_rate / 1e6:.0f} Msamples/s), "
              f"{r.ref_name} {r.ref_s * 1e3:.1f} ms, speed-up x{r.speedup:.1f}")
