"""No denormal stall: after a loud burst, the decaying state of every kernel
is flushed before it reaches the denormal range.

Two checks per kernel:
- no output sample is ever a float32 denormal (0 < |y| < 1.18e-38), and the
  output of a long silence ends exactly at 0 (the state was flushed);
- the costliest block of silence after the burst costs no more than twice a
  block of ordinary signal (per block, the best of several runs, so the
  comparison is made within one run and is not a wall-clock limit).
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from host.dsp.biquad import FilterCascade
from host.dsp.compressor import Compressor
from host.dsp.dynamic_eq import DynamicEQ
from host.dsp.imager import Imager
from host.dsp.limiter import Limiter, TruePeakMeter
from host.dsp.loudness import LoudnessMeter
from host.dsp.multiband import Multiband
from host.dsp.saturation import Saturation

FS = 48000
BLOCK = 1024
TINY = np.finfo(np.float32).tiny  # smallest normal float32


def cascade():
    f = FilterCascade(FS, 2, 8)
    f.set_section(0, "peak", 60.0, q=8.0, gain_db=12.0)      # long ringing
    f.set_section(1, "lowshelf", 200.0, gain_db=6.0)
    f.set_section(2, "highpass", 1000.0, q=0.7)              # fast decay
    f.set_butterworth(3, "lowpass", 8, 5000.0)
    return f


KERNELS = {
    "biquad": (cascade, True),
    "compressor": (lambda: Compressor(FS, 2, threshold_db=-30, ratio=4, detector="rms",
                                      sidechain_hpf_hz=80.0), True),
    "limiter": (lambda: Limiter(FS, 2, ceiling_dbtp=-6.0, release_ms=20.0), True),
    "multiband": (lambda: Multiband(FS, 2, [40.0, 500.0, 4000.0, 12000.0], slope="lr8",
                                    threshold_db=-30, ratio=4, detector="rms"), True),
    "imager": (lambda: Imager(FS, 2, [60.0, 2000.0], width=1.5, mono_below_hz=30.0), True),
    "saturation": (lambda: Saturation(FS, 2, drive_db=12.0, curve="tube", oversample=2), True),
    "dynamic_eq": (lambda: DynamicEQ(FS, 2, [
        dict(type="peak", freq_hz=60.0, q=8.0, gain_db=12.0, threshold_db=-40.0),
        dict(type="lowshelf", freq_hz=200.0, gain_db=6.0, mode="below")]), True),
    "loudness": (lambda: LoudnessMeter(FS, 2), False),
    "truepeak": (lambda: TruePeakMeter(FS, 2), False),
}


def burst(rng) -> np.ndarray:
    return (rng.standard_normal((2, FS // 2)) * 0.5).astype(np.float32)


@pytest.mark.parametrize("name", [k for k, (_, modifies) in KERNELS.items() if modifies])
def test_decay_after_a_burst_never_emits_denormals_and_ends_at_zero(name, rng):
    kernel = KERNELS[name][0]()
    kernel.process(burst(rng))
    seconds = 30  # long enough for unflushed state to fall through the float range
    last = None
    for _ in range(seconds * FS // 48000):
        y = np.zeros((2, 48000), dtype=np.float32)
        kernel.process(y)
        a = np.abs(y)
        assert not np.any((a > 0) & (a < TINY)), "denormal float32 in the output"
        last = y
    assert np.all(last[:, -BLOCK:] == 0.0)


@pytest.mark.parametrize("name", list(KERNELS))
def test_silence_after_a_burst_costs_no_more_than_twice_a_normal_block(name, rng):
    factory = KERNELS[name][0]
    loud = burst(rng)
    normal = (rng.standard_normal((2, BLOCK)) * 0.1).astype(np.float32)
    n_silent = 3 * FS // BLOCK  # 3 s of silence, block by block
    runs = 5
    silent_t = np.full(n_silent, np.inf)
    normal_t = np.full(n_silent, np.inf)
    for _ in range(runs):
        k = factory()
        k.process(loud.copy())
        for i in range(n_silent):
            z = np.zeros((2, BLOCK), dtype=np.float32)
            t0 = time.perf_counter()
            k.process(z)
            silent_t[i] = min(silent_t[i], time.perf_counter() - t0)
        k = factory()
        k.process(loud.copy())
        for i in range(n_silent):
            x = normal.copy()
            t0 = time.perf_counter()
            k.process(x)
            normal_t[i] = min(normal_t[i], time.perf_counter() - t0)
    assert silent_t.max() <= 2.0 * np.median(normal_t), (silent_t.max(), np.median(normal_t))
