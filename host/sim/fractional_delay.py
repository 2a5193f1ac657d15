"""Fractional delays of the virtual gear: a whole-sample delay line and a
Kaiser-windowed sinc FIR whose centre is part of the delay (accuracy in
:mod:`host.sim.gear`'s docstring, checked against scipy in the tests).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: Taps of the fractional-delay FIR (delays of 31 samples or more).
FIR_TAPS = 64



#: Kaiser window parameter of the fractional-delay FIR.
FIR_BETA = 10.0



#: Stated worst-case |H(f) - exp(-j 2 pi f D)| of the 64-tap FIR over 0..0.4 fs, dB.
FIR_RESIDUAL_DB = -95.0



#: Stated worst-case group-delay error of the 64-tap FIR over 0..0.4 fs, samples.
FIR_GROUP_DELAY_ERROR_SAMPLES = 5e-4



def fractional_delay_taps(delay_samples: float, taps: int = FIR_TAPS,
                          beta: float = FIR_BETA) -> np.ndarray:
    """Kaiser-windowed sinc whose delay is ``(taps/2 - 1) + frac(delay_samples)``.

    Returns float64 ``h`` for ``y[n] = sum_k h[k] x[n - k]``.
    """
    c = taps // 2 - 1
    x = np.arange(taps) - c - (delay_samples - math.floor(delay_samples))
    half = taps / 2
    w = np.i0(beta * np.sqrt(np.clip(1.0 - (x / half) ** 2, 0.0, None))) / np.i0(beta)
    return np.sinc(x) * w



@dataclass(frozen=True)
class DelayPlan:
    """How a delay is made: ``line`` samples of delay line, then the FIR ``taps``
    (None for an integer delay); ``line + len(taps)/2 - 1 + frac = delay``."""

    delay_samples: float
    line: int
    taps: np.ndarray | None

    @property
    def history(self) -> int:
        """Past samples the delay needs besides the current block."""
        return self.line + (0 if self.taps is None else len(self.taps) - 1)



def delay_plan(delay_samples: float) -> DelayPlan:
    """Split a delay into an integer delay line and (if fractional) the FIR."""
    d = float(delay_samples)
    whole = math.floor(d)
    if d == whole:
        return DelayPlan(d, int(whole), None)
    t = min(FIR_TAPS, 2 * (whole + 1))
    # Shorter FIRs need a wider main lobe: beta ~ 0.31 T is near the best residual
    # over 0..0.4 fs for 8..32 taps (searched numerically).
    beta = min(FIR_BETA, 0.31 * t)
    return DelayPlan(d, int(whole - (t // 2 - 1)), fractional_delay_taps(d, t, beta))



def fir_accuracy(delay_samples: float, band: float = 0.4,
                 points: int = 2048) -> tuple[float, float]:
    """Accuracy of the delay the gear makes for ``delay_samples`` over 0..band*fs.

    Returns
    -------
    (phase_delay_error_samples, residual_db)
        Largest |phase delay - delay_samples| (samples) and largest
        |H(f) - exp(-j 2 pi f delay)| in dB, over ``points`` frequencies.
        An integer delay returns (0, -inf).
    """
    p = delay_plan(delay_samples)
    if p.taps is None:
        return 0.0, -math.inf
    w = np.linspace(1e-3, 2 * math.pi * band, points)
    k = np.arange(len(p.taps)) + p.line
    h = np.exp(-1j * np.outer(w, k)) @ p.taps
    ideal = np.exp(-1j * w * p.delay_samples)
    pd_err = np.max(np.abs(np.angle(h / ideal) / w))
    return float(pd_err), float(20 * np.log10(np.max(np.abs(h - ideal))))
