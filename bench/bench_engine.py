"""The whole mastering chain per 128-frame block, as the real-time engine runs it.

Chain (stereo, 48 kHz, 10 s of loud music-like noise): EQ (Butterworth
high pass 30 Hz order 4, RBJ peak 2.5 kHz, high shelf 9 kHz), compressor (RMS,
-24 dBFS, 3:1), gain +3 dB, true-peak limiter (-1 dBTP, 8x detection), plus
the engine's own output meters (BS.1770 loudness M/S/I, 4x true peak, peaks,
NaN guard).  Ours: ``ob_engine_process`` with ``max_block = 128``, the code
path of the stream callback, so the per-block time is the callback's DSP
cost and the row names carry it as a DSP load at 48 kHz.

A second pair of rows runs the reference mastering chain of configs/loud_master.toml
(EQ, 4-band multiband, 3-band imager with bass mono, true-peak limiter; the
saturation insert is not in it yet) at 64-frame blocks and gives its share of
one core at 48 kHz, from the process's CPU time (the bench machine may be
shared: the time the engine took, not the time it waited for a core).

References, same run:
- ``pedalboard.Pedalboard`` (JUCE) with the nearest plugins it has
  (HighpassFilter is first order, PeakFilter, HighShelfFilter, Compressor,
  Gain, BrickwallLimiter true_peak=True, 4x) at ``buffer_size=128``, without
  meters: the library a user would reach for.
- ``host.offline.chain.Chain`` driven from Python at 128 frames per block (the same
  kernels, a Python loop calling each one per block): what a Python audio
  callback would pay.
"""

from __future__ import annotations

import numpy as np
import pedalboard

from bench_limiter import loud_music_like
from common import Row, best_cpu_time, best_time
from host.offline.chain import Chain
from host.model.config import parse_chain
from host.live.engine import Engine

FS = 48000
BLOCK = 128
CHAIN = {"chain": [
    {"kind": "eq", "bands": [
        {"type": "highpass", "freq_hz": 30.0, "order": 4, "family": "butterworth"},
        {"type": "peak", "freq_hz": 2500.0, "gain_db": 2.0, "q": 0.9},
        {"type": "highshelf", "freq_hz": 9000.0, "gain_db": -1.5, "slope": 0.8}]},
    {"kind": "compressor", "threshold_db": -24.0, "ratio": 3.0, "attack_ms": 5.0,
     "release_ms": 80.0, "detector": "rms"},
    {"kind": "gain", "gain_db": 3.0},
    {"kind": "limiter", "ceiling_dbtp": -1.0, "release_ms": 40.0},
]}


LOUD_BLOCK = 64
LOUD = {"chain": [
    {"kind": "eq", "bands": [
        {"type": "highpass", "freq_hz": 25.0, "order": 4, "family": "butterworth"},
        {"type": "peak", "freq_hz": 3000.0, "gain_db": 1.0, "q": 0.8}]},
    {"kind": "multiband", "crossovers_hz": [120.0, 1000.0, 6000.0], "slope": "lr4",
     "threshold_db": -24.0, "ratio": 2.0, "attack_ms": 10.0, "release_ms": 150.0,
     "detector": "rms"},
    {"kind": "imager", "crossovers_hz": [300.0, 5000.0],
     "bands": [{"width": 0.9}, {"width": 1.0}, {"width": 1.2}], "mono_below_hz": 120.0},
    {"kind": "limiter", "ceiling_dbtp": -1.0, "release_ms": 50.0},
]}


def loud_rows(x: np.ndarray) -> list[Row]:
    n = x.shape[1]
    eng = Engine(FS, 2, parse_chain(LOUD, "<bench>"), max_block=LOUD_BLOCK)
    ours = best_cpu_time(lambda: eng.process(x), repeat=3)
    bands = [pedalboard.Pedalboard(
        ([pedalboard.HighpassFilter(lo) for _ in range(4)] if lo else []) +
        ([pedalboard.LowpassFilter(hi) for _ in range(4)] if hi else []) +
        [pedalboard.Compressor(-24.0, 2.0, 10.0, 150.0)])
        for lo, hi in ((None, 120.0), (120.0, 1000.0), (1000.0, 6000.0), (6000.0, None))]
    board = pedalboard.Pedalboard([
        pedalboard.HighpassFilter(25.0),
        pedalboard.PeakFilter(3000.0, 1.0, 0.8),
        pedalboard.Mix(bands),
        pedalboard.BrickwallLimiter(ceiling_db=-1.0, release_ms=50.0, lookahead_ms=1.5,
                                    true_peak=True),
    ])
    ref = best_cpu_time(lambda: board.process(x, FS, buffer_size=LOUD_BLOCK, reset=True),
                        repeat=3)
    load = ours / (n / FS)
    return [Row(f"loud_master chain (EQ, multiband 4 bands, imager, limiter) + meters, "
                f"64-frame blocks: {load:.2%} of one core at 48 kHz (CPU time)", 2 * n, ours,
                "pedalboard: filters, Mix of 4 bands (1st-order splits), limiter; no imager, "
                "no meters", ref)]


def run() -> list[Row]:
    x = loud_music_like(FS, 10.0)
    n = x.shape[1]
    blocks = n // BLOCK
    cfg = parse_chain(CHAIN, "<bench>")
    eng = Engine(FS, 2, cfg, max_block=BLOCK)
    ours = best_time(lambda: eng.process(x), repeat=3)

    board = pedalboard.Pedalboard([
        pedalboard.HighpassFilter(30.0),
        pedalboard.PeakFilter(2500.0, 2.0, 0.9),
        pedalboard.HighShelfFilter(9000.0, -1.5, 0.7071),
        pedalboard.Compressor(-24.0, 3.0, 5.0, 80.0),
        pedalboard.Gain(3.0),
        pedalboard.BrickwallLimiter(ceiling_db=-1.0, release_ms=40.0, lookahead_ms=1.5,
                                    true_peak=True),
    ])
    ref = best_time(lambda: board.process(x, FS, buffer_size=BLOCK, reset=True), repeat=3)

    chain = Chain(cfg, FS, 2)
    short = np.ascontiguousarray(x[:, :FS])  # 1 s: the Python loop is slow
    py = best_time(lambda: chain.process(short.copy(), block_frames=BLOCK), repeat=3,
                   min_time=0.1) * (n / short.shape[1])

    block_s = BLOCK / FS
    load = ours / blocks / block_s
    return [
        Row(f"engine chain+meters, stereo, 128-frame blocks ({load:.1%} DSP load)", 2 * n,
            ours, "pedalboard chain (JUCE), buffer_size=128, no meters", ref),
        Row("engine chain+meters, one 128-frame block (callback cost)", 2 * BLOCK,
            ours / blocks, "host.offline.chain.Chain driven per block from Python", py / blocks),
        *loud_rows(x),
    ]
