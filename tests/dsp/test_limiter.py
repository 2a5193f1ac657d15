"""Lookahead true-peak limiter: the ceiling holds as an independent meter
sees it, the limiter is transparent below it, and latency, release, linking
and block-size independence are as documented.

The independent meter is scipy.signal.resample_poly x16 (a Kaiser-windowed
sinc interpolator that shares no code with ours): max |.| in dBTP.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import signal

from host.dsp.limiter import Limiter

TOL_DB = 0.1  # allowed excess over the ceiling, dB


def reference_upsampled(x: np.ndarray, up: int = 16) -> np.ndarray:
    """x (channels, frames) reconstructed at up x the rate, zero outside."""
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    pad = np.zeros((x.shape[0], 64))
    y = signal.resample_poly(np.concatenate([pad, x, pad], axis=1), up, 1, axis=1)
    return y[:, 64 * up:-64 * up]


def reference_dbtp(x: np.ndarray, up: int = 16) -> float:
    return float(20 * np.log10(np.max(np.abs(reference_upsampled(x, up)))))


def db(x: float) -> float:
    return float(20 * np.log10(x))


# --- adversarial material, synthesised ------------------------------------

def fs4_sine_45(fs, ceiling, n, rng):
    """fs/4 sine at 45 degrees whose true peak is 6 dB over the ceiling (its
    samples sit 3 dB below the peak)."""
    return 10 ** ((ceiling + 6) / 20) * np.sin(np.pi / 2 * np.arange(n) + np.pi / 4)


def square(freq_hz):
    def make(fs, ceiling, n, rng):
        return np.where(np.sin(2 * np.pi * freq_hz(fs) * np.arange(n) / fs + 0.1) >= 0, 1.0, -1.0)
    return make


def clipped_drums(fs, ceiling, n, rng):
    """Noise bursts with a 4 ms decay every 60 ms, +12 dB, hard clipped at 1.0."""
    x = np.zeros(n)
    m = int(0.05 * fs)
    for k in range(0, n - m, int(0.06 * fs)):
        x[k:k + m] += rng.standard_normal(m) * 0.5 * np.exp(-np.arange(m) / (0.004 * fs))
    return np.clip(x * 4.0, -1.0, 1.0)


def dc_steps(fs, ceiling, n, rng):
    x = np.zeros(n)
    x[n // 3:2 * n // 3] = 1.0
    x[2 * n // 3:] = -1.0
    return x


def white_noise_plus10(fs, ceiling, n, rng):
    """Gaussian white noise, RMS +10 dBFS."""
    return rng.standard_normal(n) * 10 ** (10 / 20)


def impulses(fs, ceiling, n, rng):
    """Full-scale single impulses, equal pairs (+1 +1: 2.1 dB inter-sample
    peak) and opposite pairs."""
    x = np.zeros(n)
    for k, p in enumerate(range(100, n - 100, 997)):
        x[p] = 1.0
        if k % 3:
            x[p + 1] = 1.0 if k % 3 == 1 else -1.0
    return x


def kicks_plus15(fs, ceiling, n, rng):
    """Kick drums 15 dB over full scale: each peak falls slowly over the
    ceiling for far longer than the lookahead (the required gain rises every
    sample; a sliding minimum must not overflow its window)."""
    x = np.zeros(n)
    k = np.arange(int(0.25 * fs)) / fs
    hit = np.sin(2 * np.pi * (50 + 100 * np.exp(-k * 30)) * k) * np.exp(-k * 12)
    for p in range(0, n, int(0.1 * fs)):
        m = min(len(hit), n - p)
        x[p:p + m] += hit[:m]
    return x * 10 ** (15 / 20)


def low_sine_plus12(fs, ceiling, n, rng):
    """A 40 Hz sine 12 dB over full scale."""
    return 10 ** (12 / 20) * np.sin(2 * np.pi * 40 * np.arange(n) / fs)


MATERIAL = {
    "kicks_+15dB": kicks_plus15,
    "40Hz_sine_+12dB": low_sine_plus12,
    "fs4_sine_45deg_+6dB": fs4_sine_45,
    "square_997Hz": square(lambda fs: 997.0),
    "square_5kHz": square(lambda fs: 5000.0),
    "square_fs/3.1": square(lambda fs: fs / 3.1),
    "square_fs/2.2": square(lambda fs: fs / 2.2),
    "square_0.49fs": square(lambda fs: 0.49 * fs),
    "clipped_drums": clipped_drums,
    "dc_steps": dc_steps,
    "white_noise_+10dB": white_noise_plus10,
    "impulses": impulses,
}


@pytest.mark.parametrize("fs", [44100.0, 48000.0, 96000.0])
@pytest.mark.parametrize("ceiling", [-1.0, -0.1])
@pytest.mark.parametrize("name", list(MATERIAL))
def test_output_true_peak_never_exceeds_the_ceiling(name, ceiling, fs, rng):
    n = int(0.2 * fs)
    left = MATERIAL[name](fs, ceiling, n, rng)
    # second channel different (shifted, quieter): the gain is linked
    x = np.stack([left, 0.8 * np.roll(left, 7)])
    y = Limiter(fs, 2, ceiling_dbtp=ceiling).process_aligned(x)
    assert reference_dbtp(x) > ceiling + 1.0  # the material does need limiting
    over = reference_dbtp(y) - ceiling
    assert over <= TOL_DB, f"{name}: output {over:+.3f} dB over the ceiling"


@pytest.mark.parametrize("oversample", [4, 16])
@pytest.mark.parametrize("lookahead_ms, release_ms", [(0.5, 1.0), (10.0, 500.0)])
def test_ceiling_holds_at_the_ends_of_the_parameter_ranges(oversample, lookahead_ms,
                                                           release_ms, rng):
    fs, ceiling = 48000.0, -1.0
    n = int(0.2 * fs)
    for make in (clipped_drums, white_noise_plus10, square(lambda fs: fs / 2.2)):
        x = make(fs, ceiling, n, rng)[None, :]
        lim = Limiter(fs, 1, ceiling, release_ms, lookahead_ms, oversample)
        assert reference_dbtp(lim.process_aligned(x)) - ceiling <= TOL_DB


@pytest.mark.parametrize("fs", [44100.0, 96000.0])
def test_below_the_ceiling_the_output_is_the_input_delayed(fs, rng):
    t = np.arange(int(0.3 * fs)) / fs
    x = np.stack([0.5 * np.sin(2 * np.pi * 1000 * t), 0.3 * rng.uniform(-1, 1, t.size)])
    x = x.astype(np.float32)
    assert reference_dbtp(x) < -2.0
    lim = Limiter(fs, 2, ceiling_dbtp=-1.0)
    y = lim.process(x.copy())
    lat = lim.latency_samples
    np.testing.assert_array_equal(y[:, lat:], x[:, :-lat])
    assert not y[:, :lat].any()
    assert lim.take_max_gain_reduction_db() == 0.0


def test_transparent_again_once_the_release_has_recovered():
    fs, release_ms = 48000.0, 10.0
    t = np.arange(int(0.5 * fs)) / fs
    x = 0.3 * np.sin(2 * np.pi * 440 * t)
    burst = int(0.05 * fs)
    x[:burst] *= 6.0  # 1.8: about 6 dB over a -1 dBTP ceiling
    lim = Limiter(fs, 1, ceiling_dbtp=-1.0, release_ms=release_ms)
    y = lim.process_aligned(x[None, :])[0]
    settled = burst + int(20 * release_ms * 1e-3 * fs)
    np.testing.assert_allclose(y[settled:], x[settled:], rtol=0, atol=1e-6)
    assert np.max(np.abs(y[:burst] / np.where(x[:burst] == 0, 1, x[:burst]))) < 0.6


@pytest.mark.parametrize("fs", [44100.0, 48000.0, 96000.0])
@pytest.mark.parametrize("lookahead_ms", [0.5, 1.5, 10.0])
def test_reported_latency_equals_the_measured_delay(fs, lookahead_ms):
    x = np.zeros((1, 4096), dtype=np.float32)
    x[0, 1000] = 0.5
    lim = Limiter(fs, 1, lookahead_ms=lookahead_ms)
    y = lim.process(x.copy())
    xc = signal.correlate(y[0], x[0], mode="full")
    measured = int(np.argmax(np.abs(xc))) - (x.shape[1] - 1)
    assert lim.latency_samples == measured == round(lookahead_ms * fs / 1000)


@pytest.mark.parametrize("fs", [44100.0, 96000.0])
@pytest.mark.parametrize("release_ms", [20.0, 100.0])
def test_release_follows_release_ms(fs, release_ms):
    """After a loud burst the gain recovers as 1 - (1 - g0) exp(-t / release_ms):
    fit the time constant to log(1 - g)."""
    n_burst, n = int(0.02 * fs), int((0.04 + 5 * release_ms * 1e-3) * fs)
    t = np.arange(n) / fs
    x = 0.1 * np.sin(2 * np.pi * 1000 * t)
    x[:n_burst] *= 20.0  # +6 dBFS, 7 dB over the ceiling
    y = Limiter(fs, 1, ceiling_dbtp=-1.0, release_ms=release_ms).process_aligned(x[None, :])[0]
    start = n_burst + int(0.01 * fs)  # hold and attack ramp are over
    stop = n_burst + int(3 * release_ms * 1e-3 * fs)
    idx = np.arange(start, stop)
    idx = idx[np.abs(x[idx]) > 0.05]
    gain = y[idx] / x[idx]
    slope = np.polyfit(idx / fs, np.log(1.0 - gain), 1)[0]
    assert -1.0 / slope == pytest.approx(release_ms * 1e-3, rel=0.03)


@pytest.mark.parametrize("block", [1, 64, 65, 8193])
def test_output_does_not_depend_on_block_size(block, rng):
    fs, n = 48000.0, 20000
    x = np.ascontiguousarray(rng.standard_normal((2, n)) * 2.0, dtype=np.float32)
    whole = Limiter(fs, 2, ceiling_dbtp=-1.0, release_ms=20.0).process(x.copy())
    lim = Limiter(fs, 2, ceiling_dbtp=-1.0, release_ms=20.0)
    parts = [lim.process(x[:, i:i + block]) for i in range(0, n, block)]
    np.testing.assert_array_equal(np.concatenate(parts, axis=1), whole)


def test_channels_share_one_gain():
    fs = 48000.0
    t = np.arange(int(0.1 * fs)) / fs
    x = np.stack([1.5 * np.sin(2 * np.pi * 300 * t), 0.1 * np.sin(2 * np.pi * 700 * t + 1)])
    y = Limiter(fs, 2).process_aligned(x)
    sel = (np.abs(x[0]) > 0.2) & (np.abs(x[1]) > 0.02)
    np.testing.assert_allclose(y[0, sel] / x[0, sel], y[1, sel] / x[1, sel], rtol=1e-4)


def test_gain_reduction_readings_match_the_level_over_the_ceiling():
    fs, ceiling = 48000.0, -1.0
    n = int(0.2 * fs)
    x = fs4_sine_45(fs, ceiling, n, None)[None, :].astype(np.float32)  # 6 dB over
    lim = Limiter(fs, 1, ceiling_dbtp=ceiling)
    lim.process(x[:, : n // 2].copy())
    lim.take_max_gain_reduction_db()  # drop the onset (its Gibbs overshoot)
    y = lim.process(x[:, n // 2:].copy())
    assert lim.gain_reduction_db == pytest.approx(6.0, abs=0.05)
    assert lim.take_max_gain_reduction_db() == pytest.approx(6.0, abs=0.05)
    # on the audio: the samples of a fs/4 sine at 45 degrees lie 3.01 dB
    # below its peak, which the limiter has brought to the ceiling
    assert db(np.max(np.abs(y))) == pytest.approx(ceiling - 3.01, abs=0.05)
    lim.process(np.zeros((1, int(0.5 * fs)), dtype=np.float32))
    assert lim.gain_reduction_db == pytest.approx(0.0, abs=1e-3)  # released
    assert lim.take_max_gain_reduction_db() > 5.9  # the max since the last take
    assert lim.take_max_gain_reduction_db() < 1e-3  # ... restarted by the take


def test_a_ceiling_change_ramps_without_a_step(rng):
    fs = 48000.0
    n = int(0.3 * fs)
    t = np.arange(n) / fs
    x = (1.2 * np.sin(2 * np.pi * 200 * t))[None, :].astype(np.float32)
    lim = Limiter(fs, 1, ceiling_dbtp=-1.0)
    half = n // 2
    y1 = lim.process(x[:, :half].copy())
    lim.set(ceiling_dbtp=-7.0)
    y2 = lim.process(x[:, half:].copy())
    y = np.concatenate([y1, y2], axis=1)[0]
    lat = lim.latency_samples
    xin = x[0, :-lat]
    out = y[lat:]
    pair = (np.abs(xin[:-1]) > 0.3) & (np.abs(xin[1:]) > 0.3)  # adjacent samples
    gain_db = 20 * np.log10(np.maximum(np.abs(out), 1e-9) / np.maximum(np.abs(xin), 0.3))
    steps = np.abs(np.diff(gain_db))[pair]
    assert steps.max() < 0.1  # a 6 dB change, spread over many samples
    # 50 ms after the change the new ceiling holds (the stream's cut end,
    # where the reconstruction rings, is left out)
    up = reference_upsampled(y[None, :])[0]
    settled = up[16 * (half + lat + int(0.05 * fs)):-16 * 200]
    assert db(np.max(np.abs(settled))) <= -7.0 + TOL_DB
    assert db(np.max(np.abs(up[16 * 1000:16 * half]))) == pytest.approx(-1.0, abs=TOL_DB)


def test_non_finite_input_does_not_reach_the_output():
    x = np.full((1, 2000), 0.5, dtype=np.float32)
    x[0, 500] = np.nan
    x[0, 700] = np.inf
    y = Limiter(48000.0, 1).process_aligned(x)
    assert np.isfinite(y).all()


@pytest.mark.parametrize("kwargs, word", [
    ({"ceiling_dbtp": 0.5}, "ceiling_dbtp"),
    ({"ceiling_dbtp": -25.0}, "ceiling_dbtp"),
    ({"release_ms": 0.5}, "release_ms"),
    ({"release_ms": float("nan")}, "release_ms"),
    ({"lookahead_ms": 20.0}, "lookahead_ms"),
    ({"oversample": 2}, "oversample"),
    ({"fs": 4000.0}, "fs"),
    ({"channels": 65}, "channels"),
])
def test_bad_arguments_name_the_parameter_and_its_unit(kwargs, word):
    args = {"fs": 48000.0, "channels": 2} | kwargs
    with pytest.raises(ValueError, match=word):
        Limiter(**args)


def test_set_refuses_out_of_range_values_and_keeps_the_old_ones():
    lim = Limiter(48000.0, 2)
    with pytest.raises(ValueError, match=r"release_ms: expected 1\.\.1000 ms"):
        lim.set(release_ms=5000.0)
    with pytest.raises(ValueError, match=r"ceiling_dbtp: expected -20\.\.0 dBTP"):
        lim.set(ceiling_dbtp=3.0)
    assert (lim.ceiling_dbtp, lim.release_ms) == (-1.0, 50.0)


# --- any finite input -------------------------------------------------------

#: finite float32 samples, weighted towards the absurd: huge magnitudes (up to
#: float32's largest, 3.4e38), tiny ones and ordinary audio
FINITE_F32 = st.one_of(
    st.floats(width=32, allow_nan=False, allow_infinity=False),
    st.floats(-1.0, 1.0, width=32),
    st.sampled_from([np.float32(3.4028235e38), np.float32(-1e30), np.float32(1e18),
                     np.float32(1e-30), np.float32(0.0)]))


@settings(max_examples=60, deadline=None)
@given(x=hnp.arrays(np.float32, st.tuples(st.integers(1, 2), st.integers(1, 400)),
                    elements=FINITE_F32),
       at=st.integers(0, 2000), ceiling=st.sampled_from([-1.0, -0.1, -6.0]))
def test_the_sample_peak_never_exceeds_the_ceiling_for_any_finite_input(x, at, ceiling):
    """A burst of arbitrary finite float32 samples (1e18..3.4e38 among them) in
    quiet noise, anywhere: no output sample passes the ceiling.  (The attack
    ramp's running sum used to lose the tiny gains such peaks need to rounding:
    +36 dB over the ceiling.)"""
    ch = x.shape[0]
    base = (np.random.default_rng(at).standard_normal((ch, 2400)) * 0.05).astype(np.float32)
    start = at % (2400 - x.shape[1])
    base[:, start:start + x.shape[1]] = x
    y = Limiter(48000, ch, ceiling_dbtp=ceiling).process_aligned(base)
    assert np.all(np.isfinite(y))
    assert np.max(np.abs(y)) <= 10 ** (ceiling / 20)
