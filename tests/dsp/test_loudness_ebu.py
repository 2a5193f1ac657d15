"""Loudness meter (native/loudness.c) against its definitions.

References, none of them our own code:
- ITU-R BS.1770-4: the K-weighting coefficients published for 48 kHz, channel
  weights, 400 ms gating blocks, -70 LUFS absolute and -10 LU relative gates.
- EBU Tech 3341 cases 1-6, 9, 10, 12, 13 and EBU Tech 3342 LRA cases 1-4,
  synthesised here from their definitions (1 kHz sines, levels in dBFS peak).
- Exact gating computed here from block energies of the signal K-weighted by
  scipy.signal.lfilter with the published 48 kHz coefficients.
- pyloudnorm (independent BS.1770 implementation), with a tolerance taken from
  the measured difference between its filters and ours.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pyloudnorm as pyln
import pytest
from scipy import signal

from host._ffi import ffi, lib, planar, process_blocks
from host.dsp.loudness import LoudnessMeter, integrated_loudness, loudness_history

FS = 48000

# ITU-R BS.1770-4, Annex 1, Tables 1 and 2 (48 kHz).
BS1770_STAGE1 = ([1.53512485958697, -2.69169618940638, 1.19839281085285],
                 [1.0, -1.69065929318241, 0.73248077421585])
BS1770_STAGE2 = ([1.0, -2.0, 1.0], [1.0, -1.99004745483398, 0.99007225036621])

# Analogue prototype parameters behind the table (as derived for libebur128).
SHELF_F0, SHELF_G_DB, SHELF_Q = 1681.974450955533, 3.999843853973347, 0.7071752369554196
HP_F0, HP_Q = 38.13547087602444, 0.5003270373238773


# -- signals -------------------------------------------------------------------

def tone_sequence(segments: list[tuple[float, float | None]], fs: int = FS,
                  freq_hz: float = 1000.0, channels: int = 2) -> np.ndarray:
    """A sine of continuous phase whose peak level steps through ``segments``
    ((seconds, dBFS peak), None for silence); the same in every channel."""
    edges = np.round(np.cumsum([0.0] + [s for s, _ in segments]) * fs).astype(int)
    amp = np.zeros(edges[-1])
    for (_, level), a, b in zip(segments, edges[:-1], edges[1:], strict=True):
        if level is not None:
            amp[a:b] = 10.0 ** (level / 20.0)
    x = amp * np.sin(2.0 * np.pi * freq_hz * np.arange(edges[-1]) / fs)
    return np.ascontiguousarray(np.tile(x, (channels, 1)), dtype=np.float32)


def pink_noise(rng: np.random.Generator, channels: int, n: int) -> np.ndarray:
    """Noise with a 1/f power spectrum (shaped in the frequency domain)."""
    spec = np.fft.rfft(rng.standard_normal((channels, n)), axis=-1)
    f = np.arange(spec.shape[-1], dtype=np.float64)
    f[0] = 1.0
    x = np.fft.irfft(spec / np.sqrt(f), n, axis=-1)
    return x / np.sqrt(np.mean(x ** 2))


def music_like(rng: np.random.Generator, channels: int, fs: int, seconds: float) -> np.ndarray:
    """Notes of 8 harmonics with decaying envelopes, a loud part, a quiet part
    (-25 dB) and a pause: a programme where gating matters."""
    n = int(seconds * fs)
    x = np.zeros((channels, n))
    t = 0.0
    while t < seconds:
        dur = rng.uniform(0.15, 0.9)
        a, b = int(t * fs), min(n, int((t + dur) * fs))
        tt = np.arange(b - a) / fs
        f0 = 110.0 * 2 ** (rng.integers(0, 36) / 12)
        note = sum(np.sin(2 * np.pi * k * f0 * tt + rng.uniform(0, 2 * np.pi)) / k
                   for k in range(1, 9) if k * f0 < fs / 2.2)
        env = np.exp(-tt / rng.uniform(0.1, 0.6)) * (1 - np.exp(-tt / 0.005))
        pan = rng.uniform(0.3, 1.0, channels)
        x[:, a:b] += pan[:, None] * note * env
        t += rng.uniform(0.05, 0.5)
    x[:, int(0.55 * n):int(0.8 * n)] *= 10 ** (-25 / 20)
    x[:, int(0.85 * n):int(0.9 * n)] = 0.0
    return x


def to_level(x: np.ndarray, rms_dbfs: float) -> np.ndarray:
    y = x * (10 ** (rms_dbfs / 20) / np.sqrt(np.mean(x ** 2)))
    return np.ascontiguousarray(y, dtype=np.float32)


# -- exact reference (48 kHz only: the published coefficients) ----------------

def k_weighted_48k(x: np.ndarray) -> np.ndarray:
    y = signal.lfilter(*BS1770_STAGE1, np.asarray(x, dtype=np.float64), axis=-1)
    return signal.lfilter(*BS1770_STAGE2, y, axis=-1)


def window_energies(x: np.ndarray, window_s: float, step_s: float,
                    weights: list[float] | None = None) -> np.ndarray:
    """sum_i G_i * mean square of the K-weighted channel i over each window
    ending at step_s, 2 step_s, ... (full windows only), at 48 kHz."""
    y2 = k_weighted_48k(x) ** 2
    tick = FS // 100
    nt = y2.shape[1] // tick
    ticks = y2[:, :nt * tick].reshape(y2.shape[0], nt, tick).sum(axis=-1)
    w, h = round(window_s * 100), round(step_s * 100)
    ends = np.arange(w, nt + 1, h)
    csum = np.concatenate([np.zeros((ticks.shape[0], 1)), np.cumsum(ticks, axis=1)], axis=1)
    per_channel = (csum[:, ends] - csum[:, ends - w]) / (w * tick)
    g = np.ones(x.shape[0]) if weights is None else np.asarray(weights)
    return g @ per_channel


def lufs(e: np.ndarray | float) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return -0.691 + 10.0 * np.log10(e)


def exact_integrated(z: np.ndarray) -> float:
    """BS.1770-4 gating of block energies z."""
    z = z[lufs(z) >= -70.0]
    if z.size == 0:
        return -math.inf
    gate = lufs(z.mean()) - 10.0
    z = z[lufs(z) > gate]
    return float(lufs(z.mean())) if z.size else -math.inf


def exact_lra(s: np.ndarray) -> float:
    """EBU Tech 3342: gates -70 LUFS and -20 LU, 95th - 10th percentile
    (nearest rank, as libebur128)."""
    s = s[lufs(s) >= -70.0]
    gate = lufs(s.mean()) - 20.0
    ls = np.sort(lufs(s[lufs(s) >= gate]))
    n = ls.size
    return float(ls[int((n - 1) * 0.95 + 0.5)] - ls[int((n - 1) * 0.10 + 0.5)])


def measure(x: np.ndarray, fs: float = FS) -> LoudnessMeter:
    m = LoudnessMeter(fs, x.shape[0])
    m.process(x)
    return m


# -- K-weighting ----------------------------------------------------------------

def test_kweighting_at_48k_reproduces_the_bs1770_coefficients():
    (b1, a1), (b2, a2) = LoudnessMeter(48000, 1).k_weighting()
    np.testing.assert_allclose(b1, BS1770_STAGE1[0], rtol=0, atol=1e-6)
    np.testing.assert_allclose(a1, BS1770_STAGE1[1], rtol=0, atol=1e-6)
    np.testing.assert_allclose(b2, BS1770_STAGE2[0], rtol=0, atol=1e-6)
    np.testing.assert_allclose(a2, BS1770_STAGE2[1], rtol=0, atol=1e-6)
    # In fact to the last published digit (14 decimals).
    np.testing.assert_allclose(np.r_[b1, a1, a2], np.r_[BS1770_STAGE1[0], BS1770_STAGE1[1],
                                                       BS1770_STAGE2[1]], rtol=0, atol=1e-13)


@pytest.mark.parametrize("fs", [8000, 44100, 88200, 96000, 192000])
def test_kweighting_at_other_rates_is_the_bilinear_transform_of_the_prototype(fs):
    """Closed form: with pre-warping at f0, the digital response at f equals
    the analogue prototype at s = j tan(pi f / fs) / tan(pi f0 / fs).  The high
    pass keeps the 48 kHz table's pass-band gain 1 + K48/Q + K48^2."""
    (b1, a1), (b2, a2) = LoudnessMeter(fs, 1).k_weighting()
    f = np.geomspace(5.0, 0.49 * fs, 400)
    vh = 10 ** (SHELF_G_DB / 20)
    vb = vh ** 0.4996667741545416
    s = 1j * np.tan(np.pi * f / fs) / np.tan(np.pi * SHELF_F0 / fs)
    h1 = (vh * s ** 2 + vb / SHELF_Q * s + 1) / (s ** 2 + s / SHELF_Q + 1)
    k48 = np.tan(np.pi * HP_F0 / 48000)
    s = 1j * np.tan(np.pi * f / fs) / np.tan(np.pi * HP_F0 / fs)
    h2 = (1 + k48 / HP_Q + k48 ** 2) * s ** 2 / (s ** 2 + s / HP_Q + 1)
    got = signal.freqz(b1, a1, f, fs=fs)[1] * signal.freqz(b2, a2, f, fs=fs)[1]
    np.testing.assert_allclose(20 * np.log10(np.abs(got)), 20 * np.log10(np.abs(h1 * h2)),
                               rtol=0, atol=1e-6)  # freqz round-off near DC


@pytest.mark.parametrize("fs", [44100, 48000, 96000, 192000])
def test_997hz_full_scale_sine_in_one_channel_reads_minus_3_01_lkfs(fs):
    x = np.zeros((2, 5 * fs), dtype=np.float32)
    x[0] = np.sin(2 * np.pi * 997 * np.arange(5 * fs) / fs)
    m = measure(x, fs)
    assert m.integrated_lufs == pytest.approx(-3.01, abs=0.05)
    assert m.momentary_lufs == pytest.approx(-3.01, abs=0.05)
    assert m.short_term_lufs == pytest.approx(-3.01, abs=0.05)


# -- EBU Tech 3341 ----------------------------------------------------------------

def _history_48k(x: np.ndarray, hop_s: float = 0.01) -> dict[str, np.ndarray]:
    return loudness_history(x, FS, hop_s)


@pytest.mark.parametrize("case, level", [(1, -23.0), (2, -33.0)])
def test_ebu3341_cases_1_2_constant_sine_reads_its_level(case, level):
    x = tone_sequence([(20.0, level)])
    h = _history_48k(x, 0.1)
    m_span = h["momentary_lufs"][h["time_s"] >= 0.4 - 1e-9]
    s_span = h["short_term_lufs"][h["time_s"] >= 3.0 - 1e-9]
    assert level - 0.1 <= m_span.min() <= m_span.max() <= level + 0.1
    assert level - 0.1 <= s_span.min() <= s_span.max() <= level + 0.1
    assert measure(x).integrated_lufs == pytest.approx(level, abs=0.1)


@pytest.mark.parametrize("fs", [44100, 96000])
def test_ebu3341_case_1_at_other_sample_rates(fs):
    m = measure(tone_sequence([(6.0, -23.0)], fs=fs), fs)
    assert m.integrated_lufs == pytest.approx(-23.0, abs=0.1)
    assert m.short_term_lufs == pytest.approx(-23.0, abs=0.1)


@pytest.mark.parametrize("case, segments", [
    (3, [(10, -36.0), (60, -23.0), (10, -36.0)]),
    (4, [(10, -72.0), (10, -36.0), (60, -23.0), (10, -36.0), (10, -72.0)]),
    (5, [(20, -26.0), (20.1, -20.0), (20, -26.0)]),
])
def test_ebu3341_gated_integrated_cases_read_minus_23(case, segments):
    assert measure(tone_sequence(segments)).integrated_lufs == pytest.approx(-23.0, abs=0.1)


def test_ebu3341_case_6_five_channels_with_surround_weights_reads_minus_23():
    n = 20 * FS
    tone = np.sin(2 * np.pi * 1000 * np.arange(n) / FS)
    levels = [-28.0, -28.0, -24.0, -30.0, -30.0]  # L R C Ls Rs
    x = np.array([10 ** (lv / 20) * tone for lv in levels], dtype=np.float32)
    m = measure(x)
    assert [m.channel_weight(c) for c in range(5)] == [1.0, 1.0, 1.0, 1.41, 1.41]
    assert m.integrated_lufs == pytest.approx(-23.0, abs=0.1)


def test_ebu3341_case_9_short_term_is_constant_after_3_s():
    x = tone_sequence([(1.34, -20.0), (1.66, -30.0)] * 5)
    h = _history_48k(x)
    s = h["short_term_lufs"][h["time_s"] >= 3.0 - 1e-9]
    assert s.size > 1000
    assert -23.1 <= s.min() <= s.max() <= -22.9


@pytest.mark.parametrize("i", range(20))
def test_ebu3341_case_10_max_short_term_of_each_burst_is_minus_23(i):
    x = tone_sequence([(0.15 * i, None), (3.0, -23.0), (1.0, None)])
    assert measure(x).short_term_max_lufs == pytest.approx(-23.0, abs=0.1)


def test_ebu3341_case_12_momentary_is_constant_after_1_s():
    x = tone_sequence([(0.18, -20.0), (0.22, -30.0)] * 25)
    h = _history_48k(x)
    m = h["momentary_lufs"][h["time_s"] >= 1.0 - 1e-9]
    assert m.size > 800
    assert -23.1 <= m.min() <= m.max() <= -22.9


@pytest.mark.parametrize("i", range(20))
def test_ebu3341_case_13_max_momentary_of_each_burst_is_minus_23(i):
    x = tone_sequence([(0.02 * i, None), (0.4, -23.0), (1.0, None)])
    assert measure(x).momentary_max_lufs == pytest.approx(-23.0, abs=0.1)


def test_max_momentary_and_short_term_hold_for_bursts_off_the_10ms_grid():
    """Case 13 offsets bursts by multiples of 20 ms, which the 10 ms update
    grid meets exactly; offsets in 3.7 ms steps fall anywhere on it.  A window
    on the grid misses at most 5 ms of the burst, so the maximum under-reads
    the steady tone by at most 10 log10(395/400) = 0.055 LU (M) and
    10 log10(2995/3000) = 0.007 LU (S); 0.005 LU is left for the sine's
    partial cycles and the K-filter's onset transient."""
    steady = measure(tone_sequence([(3.0, -23.0)]))
    bound_m = -10 * math.log10(395 / 400) + 0.005
    bound_s = -10 * math.log10(2995 / 3000) + 0.005
    for i in range(14):
        pre = 0.0037 * i
        m = measure(tone_sequence([(pre, None), (0.4, -23.0), (0.6, None)])).momentary_max_lufs
        s = measure(tone_sequence([(pre, None), (3.0, -23.0), (0.1, None)])).short_term_max_lufs
        assert m == pytest.approx(-23.0, abs=0.1) and s == pytest.approx(-23.0, abs=0.1)
        assert -bound_m <= m - steady.momentary_lufs <= 0.005
        assert -bound_s <= s - steady.short_term_lufs <= 0.005


# -- EBU Tech 3342 ----------------------------------------------------------------

@pytest.mark.parametrize("levels, expected", [
    ([-20.0, -30.0], 10.0),
    ([-20.0, -15.0], 5.0),
    ([-40.0, -20.0], 20.0),
    ([-50.0, -35.0, -20.0, -35.0, -50.0], 15.0),
])
def test_ebu3342_loudness_range_cases(levels, expected):
    x = tone_sequence([(20.0, lv) for lv in levels])
    assert measure(x).loudness_range_lu == pytest.approx(expected, abs=1.0)


# -- histogram mode against exact gating ------------------------------------------

def _stepped_noise(rng: np.random.Generator, seconds: float) -> np.ndarray:
    """Stereo pink noise whose level jumps every 0.3..4 s over -60..-8 dBFS,
    with some silent stretches: thousands of distinct block loudnesses."""
    n = int(seconds * FS)
    x = pink_noise(rng, 2, n)
    gain = np.empty(n)
    t = 0
    while t < n:
        d = int(rng.uniform(0.3, 4.0) * FS)
        level = rng.uniform(-60.0, -8.0) if rng.random() > 0.1 else None
        gain[t:t + d] = 0.0 if level is None else 10 ** (level / 20)
        t += d
    return np.ascontiguousarray(x * gain, dtype=np.float32)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_histogram_integrated_and_lra_match_exact_gating(seed):
    x = _stepped_noise(np.random.default_rng(seed), 90.0)
    m = measure(x)
    z = window_energies(x, 0.4, 0.1)
    s = window_energies(x, 3.0, 0.1)
    assert m.integrated_lufs == pytest.approx(exact_integrated(z), abs=0.05)
    # Each percentile is read within its 0.01 dB bin: LRA within 0.02 LU.
    assert m.loudness_range_lu == pytest.approx(exact_lra(s), abs=0.02)
    # Maxima are not histogrammed: same windows (10 ms grid), same energies.
    assert m.momentary_max_lufs == pytest.approx(lufs(window_energies(x, 0.4, 0.01).max()),
                                                 abs=1e-6)
    assert m.short_term_max_lufs == pytest.approx(lufs(window_energies(x, 3.0, 0.01).max()),
                                                  abs=1e-6)


def test_history_matches_exact_momentary_and_short_term_windows(rng):
    x = _stepped_noise(rng, 12.0)
    h = loudness_history(x, FS, 0.1)
    np.testing.assert_allclose(h["time_s"], 0.1 * np.arange(1, 121), rtol=0, atol=1e-12)
    m_ref = lufs(window_energies(x, 0.4, 0.1))
    s_ref = lufs(window_energies(x, 3.0, 0.1))
    assert np.all(np.isneginf(h["momentary_lufs"][:3]))
    assert np.all(np.isneginf(h["short_term_lufs"][:29]))
    np.testing.assert_allclose(h["momentary_lufs"][3:], m_ref, rtol=0, atol=1e-6)
    np.testing.assert_allclose(h["short_term_lufs"][29:], s_ref, rtol=0, atol=1e-6)


# -- against pyloudnorm ------------------------------------------------------------

def _signal(kind: str, fs: int, channels: int) -> np.ndarray:
    rng = np.random.default_rng({"white": 11, "pink": 12, "music": 13}[kind] + channels)
    n = 12 * fs
    if kind == "white":
        x = rng.standard_normal((channels, n))
    elif kind == "pink":
        x = pink_noise(rng, channels, n)
    else:
        x = music_like(rng, channels, fs, 12.0)
    return to_level(x, -20.0)


def _pyln(x: np.ndarray, fs: int, filter_class: str) -> float:
    data = x.astype(np.float64).T
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pyln.Meter(fs, filter_class=filter_class).integrated_loudness(
            data[:, 0] if x.shape[0] == 1 else data)


def _hp_gain_db(fs: float) -> float:
    """Our stage 2 over libebur128's (b = [1, -2, 1] at every rate), dB."""
    def a0(r: float) -> float:
        k = math.tan(math.pi * HP_F0 / r)
        return 1 + k / HP_Q + k * k
    return 20 * math.log10(a0(48000) / a0(fs))


def _response_gap_db(fs: int, ours: LoudnessMeter) -> tuple[float, float]:
    """Min and max over 1 Hz..Nyquist of our K-weighting over pyloudnorm's
    default one (RBJ shelf at 1500 Hz, +4 dB, Q 0.707; RBJ high pass 38 Hz, Q 0.5)."""
    f = np.geomspace(1.0, 0.4999 * fs, 2000)
    h = np.ones(f.size, dtype=complex)
    for b, a in ours.k_weighting():
        h *= signal.freqz(b, a, f, fs=fs)[1]
    for stage in pyln.Meter(fs)._filters.values():
        h /= signal.freqz(stage.b, stage.a, f, fs=fs)[1]
    d = 20 * np.log10(np.abs(h))
    return float(d.min()), float(d.max())


@pytest.mark.parametrize("fs", [44100, 48000, 96000])
@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("kind", ["white", "pink", "music"])
def test_integrated_matches_pyloudnorm(kind, channels, fs):
    """pyloudnorm gates like BS.1770-4.  Its "DeMan" filters are the same
    prototypes as ours (libebur128's formulas), so the only expected gap is our
    high pass gain normalisation, exactly _hp_gain_db(fs); 1e-3 LU is left for
    pyloudnorm's float block edges (a block moved by one sample changes by at
    most 10 log10(1 + 1/17640) = 2.5e-4 dB).  Its default filters are RBJ
    designs (shelf at 1500 Hz, high pass with unit pass-band gain) that differ
    from ours by -0.013..+0.044 dB over the band (_response_gap_db): the
    reading must lie in that range, with 0.01 LU for block edges and gating."""
    x = _signal(kind, fs, channels)
    ours = measure(x, fs)
    got = ours.integrated_lufs
    assert got == pytest.approx(_pyln(x, fs, "DeMan") + _hp_gain_db(fs), abs=1e-3)
    ref = _pyln(x, fs, "K-weighting")
    lo, hi = _response_gap_db(fs, ours)
    assert ref + lo - 0.01 <= got <= ref + hi + 0.01
    assert got == pytest.approx(ref, abs=0.1)


# -- channels, weights, peaks --------------------------------------------------------

def test_six_channel_layout_ignores_lfe_and_weights_surrounds():
    one = to_level(pink_noise(np.random.default_rng(5), 1, 4 * FS), -30.0)[0]
    readings = []
    for ch in range(6):
        x = np.zeros((6, one.size), dtype=np.float32)
        x[ch] = one
        readings.append(measure(x).integrated_lufs)
    assert readings[3] == -math.inf  # LFE, weight 0
    for ch in (1, 2):
        assert readings[ch] == pytest.approx(readings[0], abs=1e-9)
    for ch in (4, 5):
        assert readings[ch] - readings[0] == pytest.approx(10 * math.log10(1.41), abs=1e-6)


def test_set_channel_weight_scales_that_channel_power():
    x = np.zeros((2, 4 * FS), dtype=np.float32)
    x[0] = to_level(pink_noise(np.random.default_rng(6), 1, 4 * FS), -25.0)[0]
    base = measure(x).integrated_lufs
    m = LoudnessMeter(FS, 2)
    m.set_channel_weight(0, 2.0)
    assert m.channel_weight(0) == 2.0
    m.process(x)
    assert m.integrated_lufs - base == pytest.approx(10 * math.log10(2.0), abs=1e-9)
    m.set_channel_weight(0, 0.0)
    m.reset()
    m.process(x)
    assert m.integrated_lufs == -math.inf


def test_sample_peak_is_exact_per_channel_and_overall(rng):
    x = (rng.standard_normal((3, FS)) * 0.1).astype(np.float32)
    x[1, 1234] = -0.875
    x[2] = 0.0
    m = measure(x)
    peaks = np.abs(x.astype(np.float64)).max(axis=1)
    got = m.sample_peak_per_channel_dbfs
    assert got[0] == pytest.approx(20 * np.log10(peaks[0]), rel=0, abs=1e-12)
    assert got[1] == pytest.approx(20 * np.log10(0.875), rel=0, abs=1e-12)
    assert got[2] == -math.inf
    assert m.sample_peak_dbfs == max(got)
    assert 10 ** (m.sample_peak_dbfs / 20) == pytest.approx(0.875, rel=1e-14)


# -- streaming behaviour --------------------------------------------------------------

def _figures(m: LoudnessMeter) -> tuple:
    r = m.read()
    return (r, m.integrated_lufs, m.loudness_range_lu, m.sample_peak_per_channel_dbfs)


def test_figures_do_not_depend_on_block_size(rng):
    x = _stepped_noise(rng, 3.6)
    x[1, 5000] = np.nan
    whole = measure(x)
    ref = _figures(whole)
    assert ref[0]["nonfinite"] == 1 and ref[0]["blocks"] == 36
    for block in (1, 64, 65, 8193):
        m = LoudnessMeter(FS, 2)
        process_blocks(lambda p, n, f, m=m: lib.ob_loudness_process(m._st, p, n, f), x.copy(),
                       block)
        assert _figures(m) == ref, f"block {block}"


def test_process_leaves_the_input_untouched(rng):
    x = (rng.standard_normal((2, FS)) * 0.3).astype(np.float32)
    before = x.copy()
    measure(x)
    assert np.array_equal(x, before)


def test_nonfinite_samples_are_measured_as_silence_and_counted(rng):
    x = to_level(pink_noise(rng, 2, 2 * FS), -20.0)
    bad = x.copy()
    zero = x.copy()
    idx = [10, 999, 48000, 70000]
    bad[0, idx] = [np.nan, np.inf, -np.inf, np.nan]
    zero[0, idx] = 0.0
    mb, mz = measure(bad), measure(zero)
    assert mb.read()["nonfinite"] == 4
    assert mb.integrated_lufs == mz.integrated_lufs
    assert mb.momentary_max_lufs == mz.momentary_max_lufs
    assert mb.sample_peak_dbfs == mz.sample_peak_dbfs


def test_nothing_measured_reads_minus_inf():
    m = LoudnessMeter(FS, 2)
    for v in (m.momentary_lufs, m.short_term_lufs, m.momentary_max_lufs,
              m.short_term_max_lufs, m.integrated_lufs, m.loudness_range_lu,
              m.sample_peak_dbfs, *m.sample_peak_per_channel_dbfs):
        assert v == -math.inf
    m.process(np.full((2, int(0.39 * FS)), 0.5, dtype=np.float32))  # < 400 ms
    assert m.momentary_lufs == -math.inf and m.integrated_lufs == -math.inf
    assert m.blocks == 3
    m2 = measure(np.zeros((2, 5 * FS), dtype=np.float32))  # digital silence: all gated
    assert m2.integrated_lufs == -math.inf and m2.loudness_range_lu == -math.inf
    assert m2.blocks == 50


def test_filter_state_decays_to_exact_zero_after_the_signal_stops(rng):
    x = np.zeros((2, 4 * FS), dtype=np.float32)
    x[:, :FS] = to_level(pink_noise(rng, 2, FS), -10.0)
    m = measure(x)
    assert m.momentary_lufs == -math.inf  # flushed state, no denormal residue


def test_reset_forgets_everything_but_the_weights(rng):
    x = to_level(pink_noise(rng, 2, 4 * FS), -18.0)
    m = LoudnessMeter(FS, 2)
    m.set_channel_weight(1, 0.5)
    m.process(x)
    first = _figures(m)
    m.reset()
    assert m.blocks == 0 and m.integrated_lufs == -math.inf and m.sample_peak_dbfs == -math.inf
    assert m.channel_weight(1) == 0.5
    m.process(x)
    assert _figures(m) == first


def test_integrated_loudness_convenience_and_mono():
    x = tone_sequence([(5.0, -23.0)], channels=1)
    mono = integrated_loudness(x[0], FS)
    assert mono == integrated_loudness(x, FS)
    # One channel of the stereo pair: -3.01 LU below the stereo reading.
    assert mono == pytest.approx(-23.0 - 10 * math.log10(2), abs=0.1)
    assert integrated_loudness(np.zeros(FS // 10), FS) == -math.inf


def test_latency_is_zero():
    assert LoudnessMeter(FS, 2).latency_samples == 0


def test_arguments_out_of_range_raise_value_errors_naming_them():
    with pytest.raises(ValueError, match="fs"):
        LoudnessMeter(4000, 2)
    with pytest.raises(ValueError, match="channels"):
        LoudnessMeter(FS, 0)
    with pytest.raises(ValueError, match="channels"):
        LoudnessMeter(FS, 65)
    m = LoudnessMeter(FS, 2)
    with pytest.raises(ValueError, match="ch"):
        m.set_channel_weight(2, 1.0)
    with pytest.raises(ValueError, match="weight"):
        m.set_channel_weight(0, -0.1)
    with pytest.raises(ValueError, match="weight"):
        m.set_channel_weight(0, float("nan"))
    with pytest.raises(ValueError, match="audio"):
        m.process(np.zeros((3, 10), dtype=np.float32))
    with pytest.raises(ValueError, match="audio"):
        m.process(np.zeros(10, dtype=np.float32))
    with pytest.raises(ValueError, match=r"audio\.T"):
        integrated_loudness(np.zeros((48000, 2)), FS)
    with pytest.raises(ValueError, match="hop_s"):
        loudness_history(np.zeros((2, FS)), FS, 0.001)
    # The C kernel refuses a channel-count mismatch without measuring.
    buf = planar(np.zeros((1, 4)))
    ptr = ffi.new("float *[]", [ffi.cast("float *", ffi.from_buffer(buf))])
    assert lib.ob_loudness_process(m._st, ptr, 1, 4) == lib.OB_ERR_ARG
    assert m.blocks == 0
