"""Fractional delay throughput: outboard's ob_delay vs scipy.signal.lfilter.

Stereo, 48 kHz, 10 s of white noise, a fractional delay of 37.25 samples
(48-tap Kaiser-windowed sinc).  scipy runs the same FIR (taps designed here
from the definition in native/delay.h) with a delay line in front, on float64
as a user would; ours delays a float32 copy in place (the copy is timed).
The integer delay (a plain tap) is shown against a NumPy slice-and-pad.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.signal as ss

from common import Row, best_time
from host._ffi import ffi, lib, planar, process_blocks

FS = 48000
SECONDS = 10.0
TAPS = int(lib.OB_DELAY_FIR_TAPS)
CENTER = int(lib.OB_DELAY_FIR_CENTER)
BETA = lib.OB_DELAY_FIR_BETA_X10 / 10.0


def taps(delay: float) -> np.ndarray:
    f = delay - math.floor(delay)
    x = np.arange(TAPS) - CENTER - f
    w = np.i0(BETA * np.sqrt(np.clip(1 - (x / (TAPS / 2)) ** 2, 0, None))) / np.i0(BETA)
    return np.sinc(x) * w


def run() -> list[Row]:
    rng = np.random.default_rng(5)
    n = int(FS * SECONDS)
    x32 = planar(0.1 * rng.standard_normal((2, n)))
    x64 = x32.astype(np.float64)
    rows = []
    for delay in (37.25, 1000.0):
        d = ffi.gc(lib.ob_delay_new(FS, 2, 4096), lib.ob_delay_free)
        for c in range(2):
            lib.ob_delay_set_delay(d, c, delay)

        def ours(d=d) -> None:
            y = x32.copy()
            process_blocks(lambda p, nch, m: lib.ob_delay_process(d, p, nch, m), y, 1 << 16)

        if delay != math.floor(delay):
            h = np.concatenate([np.zeros(math.floor(delay) - CENTER), taps(delay)])

            def ref(h=h) -> None:
                ss.lfilter(h, [1.0], x64, axis=1)

            name, ref_name = f"fractional delay {delay} samples, stereo", "scipy.signal.lfilter"
        else:
            k = int(delay)

            def ref(k=k) -> None:
                np.concatenate([np.zeros((2, k)), x64[:, :n - k]], axis=1)

            name, ref_name = f"integer delay {int(delay)} samples, stereo", "numpy pad+slice"
        rows.append(Row(name, 2 * n, best_time(ours, 3, 0.2), ref_name, best_time(ref, 3, 0.2)))
    return rows


if __name__ == "__main__":
    for r in run():
        print(f"{r.name}: ours {r.ours_rate / 1e6:.1f} M/s, {r.ref_name} "
              f"{r.ref_rate / 1e6:.1f} M/s, x{r.speedup:.2f}")
