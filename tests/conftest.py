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


@pytest.fixture(scope="session")
def jack_server():
    """The embedded studio's JACK server (dummy backend, 48 kHz, 128 frames,
    8 in / 8 out), started once for the session through host.sim, the same
    code `make demo` uses.  Skips only where jackd cannot exist."""
    from host.sim.jack_server import JackServer, jackd_path, server_running

    if jackd_path() is None and not server_running():
        pytest.skip("jackd is not installed (Debian package jackd2)")
    server = JackServer().start()
    yield server
    if server.started_here:
        server.stop()
