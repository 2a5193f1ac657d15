"""Saturation throughput: outboard's oversampled kernel vs pedalboard's
Distortion (tanh) and Clipping (hard clip).

Stereo, 48 kHz, 10 s of a music-like signal (bench_compressor's), tape curve
(tanh) at +12 dB drive against ``pedalboard.Distortion(drive_db=12)``, hard
clip against ``pedalboard.Clipping``, each at 4x and 8x.

What differs: pedalboard runs the curve once per sample at the base rate,
with no oversampling and no anti-aliasing, so it is a few multiplies and a
tanh per sample; ours interpolates by 4 or 8 (48 taps per phase), evaluates
the curve's antiderivative at every high-rate sample (ADAA), decimates
(L x 48 + 1 taps), DC-blocks and mixes.  The price buys the aliasing each row
names: the largest alias of a full-scale 15 kHz sine driven +12 dB into tanh,
measured here for both sides (pedalboard's aliases are at the base rate).
"""

from __future__ import annotations

import numpy as np

from bench_compressor import FS, music_like
from common import Row, best_time
from host.dsp.saturation import Saturation


def alias_dbfs(process) -> float:
    """Largest non-fundamental component of a full-scale 15 kHz sine through
    ``process`` (planar float32 in, out), over 65536 samples (a whole number
    of periods), dBFS."""
    n = 65536
    t = np.arange(n + 20000) / FS
    x = np.sin(2 * np.pi * 15000.0 * t).astype(np.float32)[None]
    y = np.asarray(process(x), dtype=np.float64)[0, -n:]
    spec = np.abs(np.fft.rfft(y)) / (n / 2)
    spec[round(15000.0 * n / FS)] = 0.0
    spec[0] = 0.0
    return float(20 * np.log10(spec.max()))


def run() -> list[Row]:
    import pedalboard

    x = music_like()
    work = x.size
    rows = []
    refs = {
        "tape": ("pedalboard.Distortion(drive_db=12)", pedalboard.Distortion(drive_db=12.0)),
        "hard_clip": ("pedalboard.Clipping(threshold_db=-12)",
                      pedalboard.Clipping(threshold_db=-12.0)),
    }
    for curve, (ref_name, ref) in refs.items():
        ref_s = best_time(lambda ref=ref: ref.process(x, FS), repeat=3)
        ref_alias = alias_dbfs(lambda s, ref=ref: ref.process(s, FS))
        for factor in (4, 8):
            sat = Saturation(FS, 2, drive_db=12.0, curve=curve, oversample=factor)
            ours_s = best_time(lambda sat=sat: sat.process(x.copy()), repeat=3)
            mono = Saturation(FS, 1, drive_db=12.0, curve=curve, oversample=factor)
            ours_alias = alias_dbfs(lambda s, mono=mono: mono.process(s.copy()))
            rows.append(Row(f"saturation {curve} +12 dB, {factor}x, stereo 48 kHz 10 s "
                            f"(aliases: ours {ours_alias:.0f}, ref {ref_alias:.0f} dBFS)",
                            work, ours_s, ref_name, ref_s))
    return rows


if __name__ == "__main__":
    for r in run():
        print(f"{r.name}: ours {r.ours_s * 1e3:.1f} ms ({r.ours_rate / 1e6:.1f} M ch-samples/s), "
              f"{r.ref_name} {r.ref_s * 1e3:.1f} ms, speedup {r.speedup:.3f}x")
