"""Shared timing for bench/: throughput of ours vs the library a user would pick.

Each bench_<kernel>.py exposes ``run() -> list[Row]``; bench/run.py prints them.
Timings are the best of several repeats (least disturbed by other load) and are
never asserted anywhere: they are reported, side by side, from the same run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from collections.abc import Callable


@dataclass
class Row:
    """One comparison: ``work`` channel-samples processed per call of each side."""

    name: str            # what is measured, e.g. "biquad cascade 8 sections, stereo"
    work: int            # channel-samples per call
    ours_s: float        # best seconds per call, outboard
    ref_name: str        # e.g. "scipy.signal.sosfilt"
    ref_s: float | None  # best seconds per call, the reference (None: no reference)

    @property
    def ours_rate(self) -> float:
        return self.work / self.ours_s

    @property
    def ref_rate(self) -> float | None:
        return None if self.ref_s is None else self.work / self.ref_s

    @property
    def speedup(self) -> float | None:
        """How many times faster outboard is than the reference (>1: faster)."""
        return None if self.ref_s is None else self.ref_s / self.ours_s


def best_cpu_time(fn: Callable[[], object], repeat: int = 5, min_time: float = 0.2) -> float:
    """As :func:`best_time`, in CPU time of this process (``time.process_time``):
    on a machine shared with other work, the time the call itself took, not
    the time it waited for a core.  For single-threaded calls only."""
    fn()
    best = float("inf")
    for _ in range(repeat):
        t0, loops = time.process_time(), 0
        while True:
            fn()
            loops += 1
            t = time.process_time() - t0
            if t >= min_time:
                break
        best = min(best, t / loops)
    return best


def best_time(fn: Callable[[], object], repeat: int = 5, min_time: float = 0.2) -> float:
    """Best wall time of one call of ``fn`` over ``repeat`` rounds.

    Each round calls ``fn`` enough times to last at least ``min_time`` seconds.
    """
    fn()  # warm up
    t0 = time.perf_counter()
    fn()
    one = max(time.perf_counter() - t0, 1e-9)
    loops = max(1, int(min_time / one))
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(loops):
            fn()
        best = min(best, (time.perf_counter() - t0) / loops)
    return best
