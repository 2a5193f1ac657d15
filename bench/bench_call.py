"""Cost of one 64-frame block call from Python into a C kernel.

This is what a Python audio callback would pay per kernel per block before
any DSP; it is why the real-time engine runs its graph in C.  Measured on a
one-section biquad (its DSP is a few hundred nanoseconds) through the wrapper
(``FilterCascade.process``: argument checks, pointer array) and through the
raw cffi call with prebuilt pointers.  Reference: the same 64 frames through
``scipy.signal.sosfilt`` with its state (``zi``), the per-block call a Python
callback would otherwise make.
"""

from __future__ import annotations

import numpy as np
import scipy.signal as ss

from common import Row, best_time
from host._ffi import ChannelPointers, lib
from host.dsp.biquad import FilterCascade

FS = 48000
FRAMES = 64


def run() -> list[Row]:
    f = FilterCascade(FS, 2, 1)
    f.set_section(0, "peak", 1000.0, q=1.0, gain_db=3.0)
    block = np.zeros((2, FRAMES), dtype=np.float32)
    sos = f.sos()
    zi = np.zeros((1, 2, 2))
    x64 = np.zeros((2, FRAMES))

    def scipy_block():
        nonlocal zi
        _, zi = ss.sosfilt(sos, x64, axis=-1, zi=zi)

    cp = ChannelPointers(block)
    st = f._st

    def raw_call():
        lib.ob_biquad_process(st, cp.ptr, 2, FRAMES)

    ref = best_time(scipy_block, min_time=0.05)
    work = 2 * FRAMES
    return [
        Row("64-frame block via Python wrapper (stereo biquad)", work,
            best_time(lambda: f.process(block), min_time=0.05), "sosfilt with zi, per block", ref),
        Row("64-frame block, raw cffi call (stereo biquad)", work,
            best_time(raw_call, min_time=0.05), "sosfilt with zi, per block", ref),
    ]
