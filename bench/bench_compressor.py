"""Compressor throughput: outboard's C kernel vs pedalboard.Compressor (JUCE's).

Stereo, 48 kHz, 10 s of a music-like signal (pink-ish noise under a slowly
varying level).  Both sides get the same float32 array; ours processes a copy
in place, pedalboard returns a new array.  Different designs (pedalboard: hard
knee, linear-domain ballistics, no link/M-S/sidechain options), so the
pedalboard time is the same for every row: it is the one reference a user would
reach for.
"""

from __future__ import annotations

import numpy as np

from common import Row, best_time
from host.dsp.compressor import Compressor

FS = 48000
SECONDS = 10.0


def music_like(fs: int = FS, seconds: float = SECONDS, seed: int = 7) -> np.ndarray:
    """Planar float32 (2, n): pink-ish noise, level changing every 250 ms."""
    rng = np.random.default_rng(seed)
    n = int(fs * seconds)
    white = rng.standard_normal((2, n))
    spec = np.fft.rfft(white, axis=1)
    f = np.fft.rfftfreq(n, 1 / fs)
    spec[:, 1:] /= np.sqrt(f[1:] / 20.0).clip(1.0)  # -3 dB/oct above 20 Hz
    pink = np.fft.irfft(spec, n, axis=1)
    pink /= np.abs(pink).max()
    seg = int(0.25 * fs)
    levels = 10 ** (rng.uniform(-30.0, 0.0, size=n // seg + 1) / 20)
    env = np.repeat(levels, seg)[:n]
    env = np.convolve(env, np.ones(480) / 480, mode="same")  # 10 ms edges
    return np.ascontiguousarray(pink * env, dtype=np.float32)


CONFIGS = {
    "peak, hard knee, linked": dict(knee_db=0.0),
    "rms 10 ms, 6 dB knee, sidechain HPF 100 Hz, link 0.5": dict(
        knee_db=6.0, detector="rms", sidechain_hpf_hz=100.0, stereo_link=0.5),
    "mid-side, link 0": dict(knee_db=0.0, mode="mid-side", stereo_link=0.0),
}


def run() -> list[Row]:
    import pedalboard

    x = music_like()
    work = x.size
    ref = pedalboard.Compressor(threshold_db=-20, ratio=4, attack_ms=10, release_ms=100)
    ref_s = best_time(lambda: ref.process(x, FS), repeat=3)
    rows = []
    for name, extra in CONFIGS.items():
        comp = Compressor(FS, 2, threshold_db=-20, ratio=4, attack_ms=10, release_ms=100,
                          **extra)

        def ours(comp: Compressor = comp) -> None:
            comp.process(x.copy())

        rows.append(Row(f"compressor stereo 48 kHz 10 s, {name}", work, best_time(ours, repeat=3),
                        "pedalboard.Compressor", ref_s))
    return rows


if __name__ == "__main__":
    for r in run():
        print(f"{r.name}: ours {r.ours_s * 1e3:.1f} ms ({r.ours_rate / 1e6:.1f} M ch-samples/s), "
              f"{r.ref_name} {r.ref_s * 1e3:.1f} ms, speedup {r.speedup:.2f}x")
