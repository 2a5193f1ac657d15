"""Multiband compressor and stereo imager throughput, against what a user would build.

Stereo, 48 kHz, 10 s of the compressor bench's music-like signal.

- Multiband, 4 bands (crossovers 120 / 1000 / 6000 Hz, LR4), RMS compressor
  per band.  Reference: pedalboard (JUCE), per band a board of 4 first-order
  HighpassFilter and 4 LowpassFilter (24 dB/octave like LR4, but not
  Linkwitz-Riley: the bands do not sum flat and are not phase-compensated)
  and a Compressor, the four bands run on the input and summed with numpy.
- Imager: width on mid/side.  Reference: numpy, M = (L+R)/2, S = w (L-R)/2,
  L = M + S, R = M - S, in float32 (one band, no crossover); our row with 3
  bands and bass mono does more than the reference, and says so.
"""

from __future__ import annotations

import numpy as np

from bench_compressor import FS, music_like
from common import Row, best_time
from host.dsp.imager import Imager
from host.dsp.multiband import Multiband

XO = [120.0, 1000.0, 6000.0]


def pedalboard_multiband(x: np.ndarray) -> np.ndarray:
    import pedalboard

    edges = [None, *XO, None]
    boards = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        plugins = []
        if lo is not None:
            plugins += [pedalboard.HighpassFilter(lo) for _ in range(4)]
        if hi is not None:
            plugins += [pedalboard.LowpassFilter(hi) for _ in range(4)]
        plugins.append(pedalboard.Compressor(threshold_db=-24, ratio=3, attack_ms=10,
                                             release_ms=100))
        boards.append(pedalboard.Pedalboard(plugins))

    def run() -> np.ndarray:
        out = boards[0](x, FS)
        for b in boards[1:]:
            out += b(x, FS)
        return out
    return run


def numpy_width(x: np.ndarray, width: float) -> np.ndarray:
    m = (x[0] + x[1]) * np.float32(0.5)
    s = (x[0] - x[1]) * np.float32(0.5 * width)
    return np.stack([m + s, m - s])


def run() -> list[Row]:
    x = music_like()
    work = x.size
    ref = best_time(pedalboard_multiband(x), repeat=3)
    mb = Multiband(FS, 2, XO, slope="lr4", threshold_db=-24, ratio=3, attack_ms=10,
                   release_ms=100, detector="rms")
    ours = best_time(lambda: mb.process(x.copy()), repeat=3)
    rows = [Row("multiband 4 bands LR4 stereo 48 kHz 10 s, RMS compressors", work, ours,
                "pedalboard 4x(4 HP + 4 LP 1st order + Compressor), summed; not LR", ref)]
    ref_im = best_time(lambda: numpy_width(x, 1.3), repeat=3)
    for name, im in (("imager 1 band, width 1.3", Imager(FS, 2, width=1.3)),
                     ("imager 3 bands LR4 + bass mono 120 Hz",
                      Imager(FS, 2, [300.0, 5000.0], bands=[{"width": 0.9}, {"width": 1.1},
                                                            {"width": 1.3}],
                             mono_below_hz=120.0))):
        t = best_time(lambda im=im: im.process(x.copy()), repeat=3)
        rows.append(Row(f"{name}, stereo 48 kHz 10 s", work, t,
                        "numpy M/S width (1 band, no crossover)", ref_im))
    return rows


if __name__ == "__main__":
    for r in run():
        print(f"{r.name}: ours {r.ours_s * 1e3:.1f} ms ({r.ours_rate / 1e6:.1f} M ch-samples/s), "
              f"{r.ref_name} {r.ref_s * 1e3:.1f} ms, speedup {r.speedup:.2f}x")
