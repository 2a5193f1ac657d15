"""Shared test fixtures: signal generators built from their definitions."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20261125)


def sine(freq_hz: float, fs: float, seconds: float, peak_dbfs: float = 0.0,
         phase_rad: float = 0.0, channels: int = 1) -> np.ndarray:
    """Planar float32 (channels, frames) sine of the given peak level."""
    n = int(round(seconds * fs))
    t = np.arange(n) / fs
    x = (10 ** (peak_dbfs / 20)) * np.sin(2 * np.pi * freq_hz * t + phase_rad)
    return np.ascontiguousarray(np.tile(x, (channels, 1)), dtype=np.float32)
