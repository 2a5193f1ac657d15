"""Biquad cascade throughput: outboard's C kernel vs scipy.signal.sosfilt.

An 8-section mastering EQ (4th-order Butterworth high pass, two shelves, three
peaks, a low pass), 48 kHz, 10 s of white noise.  Both sides use the same
coefficients (``FilterCascade.sos()``).  Ours filters a copy of the float32
array in place (the copy is timed); scipy gets the array as a user would hand
it over: float64, and float32 (which sosfilt converts and returns as float64).
Mono is shown too: ours runs two channels per vector, so one channel leaves
half of it idle.
"""

from __future__ import annotations

import numpy as np
import scipy.signal as ss

from common import Row, best_time
from host.dsp.biquad import FilterCascade

FS = 48000
SECONDS = 10.0


def eight_sections(channels: int) -> FilterCascade:
    c = FilterCascade(FS, channels, 8)
    c.set_butterworth(0, "highpass", 4, 25.0)
    c.set_section(2, "lowshelf", 90.0, gain_db=1.0, slope=0.7)
    c.set_section(3, "peak", 320.0, q=1.2, gain_db=-1.5)
    c.set_section(4, "peak", 2800.0, q=0.9, gain_db=0.8)
    c.set_section(5, "peak", 6500.0, q=3.0, gain_db=-2.0)
    c.set_section(6, "highshelf", 11000.0, q=0.7, gain_db=1.5)
    c.set_section(7, "lowpass", 20000.0, q=0.7071)
    return c


def run() -> list[Row]:
    rows = []
    rng = np.random.default_rng(3)
    for channels in (2, 1):
        x32 = np.ascontiguousarray(0.1 * rng.standard_normal((channels, int(FS * SECONDS))),
                                   dtype=np.float32)
        x64 = x32.astype(np.float64)
        cascade = eight_sections(channels)
        sos = cascade.sos()
        assert sos.shape == (8, 6)
        ours_s = best_time(lambda c=cascade, x=x32: c.process(x.copy()), repeat=5)
        what = f"biquad cascade, 8 sections, {'stereo' if channels == 2 else 'mono'}, 48 kHz"
        for label, x in (("float64", x64), ("float32 input", x32)):
            ref_s = best_time(lambda x=x, sos=sos: ss.sosfilt(sos, x, axis=-1), repeat=5)
            rows.append(Row(what, x32.size, ours_s, f"scipy.signal.sosfilt ({label})", ref_s))
    return rows


if __name__ == "__main__":
    for r in run():
        print(f"{r.name:48s} ours {r.ours_s * 1e3:7.2f} ms   {r.ref_name:36s} "
              f"{r.ref_s * 1e3:7.2f} ms   {r.speedup:.2f}x")
