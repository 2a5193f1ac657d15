"""Biquad cascade (native/biquad.c, host/dsp/biquad.py) against independent references.

References: the RBJ Audio EQ Cookbook formulas written out below, the
cookbook's analog prototypes H(s) (the digital response at w equals H(j W)
with W = tan(w/2) / tan(w0/2), the bilinear transform it uses), the published
peaking vector, scipy.signal.butter / sosfilt / sosfreqz.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.signal as ss
from conftest import sine

from host._ffi import ffi, lib
from host.dsp.biquad import Equalizer, FilterCascade

RATES = (44100, 48000, 96000)
KINDS = ("peak", "lowshelf", "highshelf", "lowpass", "highpass", "bandpass", "notch", "allpass")
BLOCKS = (1, 64, 65, 8193)


# ---- references ------------------------------------------------------------

def cookbook(kind: str, fs: float, f0: float, q: float, gain_db: float = 0.0,
             slope: float | None = None) -> np.ndarray:
    """RBJ Audio EQ Cookbook coefficients, normalized: [b0, b1, b2, 1, a1, a2]."""
    a_ = 10 ** (gain_db / 40)
    w0 = 2 * math.pi * f0 / fs
    cw, sw = math.cos(w0), math.sin(w0)
    if slope is not None:
        alpha = sw / 2 * math.sqrt((a_ + 1 / a_) * (1 / slope - 1) + 2)
    else:
        alpha = sw / (2 * q)
    sq = 2 * math.sqrt(a_) * alpha
    if kind == "lowpass":
        b, a = [(1 - cw) / 2, 1 - cw, (1 - cw) / 2], [1 + alpha, -2 * cw, 1 - alpha]
    elif kind == "highpass":
        b, a = [(1 + cw) / 2, -(1 + cw), (1 + cw) / 2], [1 + alpha, -2 * cw, 1 - alpha]
    elif kind == "bandpass":
        b, a = [alpha, 0, -alpha], [1 + alpha, -2 * cw, 1 - alpha]
    elif kind == "notch":
        b, a = [1, -2 * cw, 1], [1 + alpha, -2 * cw, 1 - alpha]
    elif kind == "allpass":
        b, a = [1 - alpha, -2 * cw, 1 + alpha], [1 + alpha, -2 * cw, 1 - alpha]
    elif kind == "peak":
        b, a = [1 + alpha * a_, -2 * cw, 1 - alpha * a_], [1 + alpha / a_, -2 * cw, 1 - alpha / a_]
    elif kind == "lowshelf":
        b = [a_ * ((a_ + 1) - (a_ - 1) * cw + sq), 2 * a_ * ((a_ - 1) - (a_ + 1) * cw),
             a_ * ((a_ + 1) - (a_ - 1) * cw - sq)]
        a = [(a_ + 1) + (a_ - 1) * cw + sq, -2 * ((a_ - 1) + (a_ + 1) * cw),
             (a_ + 1) + (a_ - 1) * cw - sq]
    elif kind == "highshelf":
        b = [a_ * ((a_ + 1) + (a_ - 1) * cw + sq), -2 * a_ * ((a_ - 1) + (a_ + 1) * cw),
             a_ * ((a_ + 1) + (a_ - 1) * cw - sq)]
        a = [(a_ + 1) - (a_ - 1) * cw + sq, 2 * ((a_ - 1) - (a_ + 1) * cw),
             (a_ + 1) - (a_ - 1) * cw - sq]
    else:
        raise AssertionError(kind)
    b, a = np.array(b) / a[0], np.array(a) / a[0]
    return np.concatenate([b, a])


def prototype_db(kind: str, fs: float, f0: float, q: float, gain_db: float, f: np.ndarray,
                 slope: float | None = None) -> np.ndarray:
    """Cookbook analog prototype H(s) at s = j tan(pi f/fs) / tan(pi f0/fs), in dB."""
    a_ = 10 ** (gain_db / 40)
    if slope is not None:
        q = 1 / math.sqrt((a_ + 1 / a_) * (1 / slope - 1) + 2)
    s = 1j * np.tan(np.pi * f / fs) / math.tan(math.pi * f0 / fs)
    den = s * s + s / q + 1
    h = {
        "lowpass": lambda: 1 / den,
        "highpass": lambda: s * s / den,
        "bandpass": lambda: (s / q) / den,
        "notch": lambda: (s * s + 1) / den,
        "allpass": lambda: (s * s - s / q + 1) / den,
        "peak": lambda: (s * s + s * a_ / q + 1) / (s * s + s / (a_ * q) + 1),
        "lowshelf": lambda: a_ * (s * s + math.sqrt(a_) / q * s + a_)
        / (a_ * s * s + math.sqrt(a_) / q * s + 1),
        "highshelf": lambda: a_ * (a_ * s * s + math.sqrt(a_) / q * s + 1)
        / (s * s + math.sqrt(a_) / q * s + a_),
    }[kind]()
    return 20 * np.log10(np.abs(h))


def sos_db(sos: np.ndarray, f: np.ndarray, fs: float) -> np.ndarray:
    _, h = ss.sosfreqz(sos, worN=f, fs=fs)
    return 20 * np.log10(np.abs(h))


def grid(fs: float, n: int = 240) -> np.ndarray:
    return np.geomspace(10.0, 0.47 * fs, n)


def noise(rng: np.random.Generator, channels: int, frames: int, rms: float = 0.1) -> np.ndarray:
    return np.ascontiguousarray((rms * rng.standard_normal((channels, frames))).astype(np.float32))


def fade_in(x: np.ndarray, fs: float, ms: float = 50.0) -> np.ndarray:
    n = int(fs * ms / 1000)
    x[..., :n] *= (0.5 - 0.5 * np.cos(np.pi * np.arange(n) / n)).astype(np.float32)
    return x


def in_blocks(proc, x: np.ndarray, block: int, events=()) -> np.ndarray:
    """Process x in blocks of ``block`` frames; ``events`` are (frame, callable)
    applied when the stream reaches that frame (the block before is cut short)."""
    y = x.copy()
    stops = sorted(events) + [(y.shape[1], None)]
    pos = 0
    for stop, action in stops:
        while pos < stop:
            n = min(block, stop - pos)
            part = np.ascontiguousarray(y[:, pos:pos + n])
            proc.process(part)
            y[:, pos:pos + n] = part
            pos += n
        if action is not None:
            action()
    return y


SETTINGS = [  # kind, f0 (Hz), q, gain (dB), slope
    ("peak", 1000.0, 4.0, 2.0, None),
    ("peak", 80.0, 0.5, -9.0, None),
    ("peak", 15000.0, 8.0, 15.0, None),
    ("lowshelf", 120.0, 0.7071, 6.0, None),
    ("lowshelf", 90.0, 0.7071, -4.0, 0.7),
    ("highshelf", 9000.0, 1.5, -8.0, None),
    ("highshelf", 11000.0, 0.7071, 3.0, 1.0),
    ("lowpass", 200.0, 0.7071, 0.0, None),
    ("lowpass", 12000.0, 3.0, 0.0, None),
    ("highpass", 30.0, 0.5, 0.0, None),
    ("highpass", 5000.0, 2.0, 0.0, None),
    ("bandpass", 700.0, 2.0, 0.0, None),
    ("notch", 60.0, 10.0, 0.0, None),
    ("notch", 3000.0, 0.8, 0.0, None),
    ("allpass", 2000.0, 0.7, 0.0, None),
]
SETTING_IDS = [f"{k}-{f:g}Hz-q{q:g}-{g:+g}dB" + (f"-S{s:g}" if s else "")
               for k, f, q, g, s in SETTINGS]


def one_section(fs: float, kind: str, f0: float, q: float, g: float, s: float | None,
                channels: int = 1) -> FilterCascade:
    c = FilterCascade(fs, channels, 1)
    c.set_section(0, kind, f0, q=q, gain_db=g, slope=s)
    return c


# ---- RBJ sections ---------------------------------------------------------

def test_peaking_matches_published_cookbook_vector():
    c = one_section(44100, "peak", 1000.0, 4.0, 2.0, None)
    b0, b1, b2, _, a1, a2 = c.sos()[0]
    np.testing.assert_allclose([b0, b1, b2, a1, a2],
                               [1.004032, -1.948905, 0.964822, -1.948905, 0.968855], atol=1e-6)


@pytest.mark.parametrize("fs", RATES)
@pytest.mark.parametrize("setting", SETTINGS, ids=SETTING_IDS)
def test_rbj_coefficients_match_cookbook_formulas(fs, setting):
    kind, f0, q, g, s = setting
    got = one_section(fs, kind, f0, q, g, s).sos()[0]
    np.testing.assert_allclose(got, cookbook(kind, fs, f0, q, g, s), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("fs", RATES)
@pytest.mark.parametrize("setting", SETTINGS, ids=SETTING_IDS)
def test_rbj_magnitude_matches_analog_prototype_closed_form(fs, setting):
    kind, f0, q, g, s = setting
    f = grid(fs)
    ref = prototype_db(kind, fs, f0, q, g, f, s)
    got = sos_db(one_section(fs, kind, f0, q, g, s).sos(), f, fs)
    keep = ref > -120.0  # the notch's zero itself is -inf in both
    assert np.max(np.abs(got[keep] - ref[keep])) < 0.01


@pytest.mark.parametrize("fs", RATES)
@pytest.mark.parametrize("setting", SETTINGS, ids=SETTING_IDS)
def test_rbj_output_matches_sosfilt_on_noise(fs, setting, rng):
    kind, f0, q, g, s = setting
    x = noise(rng, 2, fs // 4)
    c = one_section(fs, kind, f0, q, g, s, channels=2)
    ref = ss.sosfilt(cookbook(kind, fs, f0, q, g, s), x.astype(np.float64), axis=-1)
    y = c.process(x.copy())
    assert np.max(np.abs(y - ref)) < 1e-5 * np.sqrt(np.mean(ref ** 2))


@pytest.mark.parametrize("channels", (1, 2, 6))
@pytest.mark.parametrize("fs", RATES)
def test_mixed_cascade_matches_sosfilt_for_each_channel(fs, channels, rng):
    c = FilterCascade(fs, channels, 12)
    ref = []
    for k, (kind, f0, q, g, s) in enumerate(SETTINGS[::2]):
        c.set_section(k, kind, f0, q=q, gain_db=g, slope=s)
        ref.append(cookbook(kind, fs, f0, q, g, s))
    x = noise(rng, channels, fs // 5)
    # different material per channel: each must be filtered on its own
    x *= np.linspace(0.5, 2.0, channels, dtype=np.float32)[:, None]
    want = ss.sosfilt(np.array(ref), x.astype(np.float64), axis=-1)
    y = c.process(x.copy())
    for ch in range(channels):
        rms = np.sqrt(np.mean(want[ch] ** 2))
        assert np.max(np.abs(y[ch] - want[ch])) < 1e-5 * rms


# ---- Butterworth and Linkwitz-Riley ------------------------------------------

@pytest.mark.parametrize("fs", RATES)
@pytest.mark.parametrize("kind", ("lowpass", "highpass"))
@pytest.mark.parametrize("order", range(2, 9))
def test_butterworth_matches_scipy_butter_magnitude(fs, kind, order):
    fc = 1000.0 if kind == "lowpass" else 150.0
    c = FilterCascade(fs, 1, 8)
    assert c.set_butterworth(0, kind, order, fc) == (order + 1) // 2
    sos = c.sos()
    assert sos.shape == ((order + 1) // 2, 6)
    if order % 2:  # one first-order section
        assert sos[0, 2] == 0.0 and sos[0, 5] == 0.0
    ref_sos = ss.butter(order, fc, btype=kind[:-4] if kind == "lowpass" else "highpass",
                        output="sos", fs=fs)
    f = grid(fs)
    ref = sos_db(ref_sos, f, fs)
    keep = ref > -200.0
    assert np.max(np.abs(sos_db(sos, f, fs)[keep] - ref[keep])) < 0.01


@pytest.mark.parametrize("order", (3, 8))
def test_butterworth_output_matches_sosfilt_of_scipy_design(order, rng):
    fs = 48000
    c = FilterCascade(fs, 2, 8)
    c.set_butterworth(0, "highpass", order, 40.0)
    x = noise(rng, 2, fs // 2)
    want = ss.sosfilt(ss.butter(order, 40.0, "highpass", output="sos", fs=fs),
                      x.astype(np.float64), axis=-1)
    y = c.process(x.copy())
    assert np.max(np.abs(y - want)) < 1e-5 * np.sqrt(np.mean(want ** 2))


@pytest.mark.parametrize("fs", RATES)
@pytest.mark.parametrize("order", (2, 4, 6, 8))
def test_linkwitz_riley_is_squared_butterworth_and_sums_flat(fs, order):
    fc = 2000.0
    lp, hp = FilterCascade(fs, 1, 4), FilterCascade(fs, 1, 4)
    n = 2 if order <= 4 else 4
    assert lp.set_linkwitz_riley(0, "lowpass", order, fc) == n
    assert hp.set_linkwitz_riley(0, "highpass", order, fc) == n
    f = grid(fs)
    _, h_lp = ss.sosfreqz(lp.sos(), worN=f, fs=fs)
    _, h_hp = ss.sosfreqz(hp.sos(), worN=f, fs=fs)
    # magnitude = Butterworth of half the order, squared (scipy's design)
    for h, btype in ((h_lp, "lowpass"), (h_hp, "highpass")):
        _, hb = ss.sosfreqz(ss.butter(order // 2, fc, btype, output="sos", fs=fs), worN=f, fs=fs)
        ref = 40 * np.log10(np.abs(hb))
        keep = ref > -200.0
        assert np.max(np.abs(20 * np.log10(np.abs(h))[keep] - ref[keep])) < 0.01
    # LR4/LR8 sum flat as LP + HP; LR2/LR6 with the high pass inverted
    total = h_lp + h_hp if order % 4 == 0 else h_lp - h_hp
    assert np.max(np.abs(20 * np.log10(np.abs(total)))) < 0.01
    for c in (lp, hp):
        at_fc = sos_db(c.sos(), np.array([fc]), fs)[0]
        assert abs(at_fc - (-6.0206)) < 0.01


# ---- block size, ramps, clicks ------------------------------------------------------

def _changing_cascade(fs: float, channels: int) -> tuple[FilterCascade, list]:
    c = FilterCascade(fs, channels, 8)
    c.set_butterworth(0, "highpass", 3, 30.0)
    c.set_section(2, "peak", 1000.0, q=1.5, gain_db=-4.0)
    c.set_section(3, "highshelf", 8000.0, gain_db=2.0, slope=0.8)
    events = [
        (3000, lambda: c.set_section(2, "peak", 2500.0, q=0.7, gain_db=9.0)),
        (3500, lambda: c.bypass_section(3)),                 # ramps to identity
        (7000, lambda: c.set_section(5, "lowpass", 9000.0, q=0.9)),  # first set: at once
        (9000, lambda: c.set_butterworth(0, "highpass", 4, 80.0)),
        (9100, lambda: c.set_section(2, "notch", 400.0, q=3.0)),     # mid-ramp retarget
        (12000, lambda: c.set_section(3, "lowshelf", 200.0, gain_db=-6.0)),  # back on
        (20000, lambda: c.reset()),
        (20001, lambda: c.set_section(6, "allpass", 300.0, q=0.5)),
    ]
    return c, events


@pytest.mark.parametrize("channels", (1, 2, 6))
def test_output_is_block_size_independent_across_parameter_changes(channels, rng):
    fs = 48000
    x = noise(rng, channels, 26000, rms=0.2)
    c, ev = _changing_cascade(fs, channels)
    whole = in_blocks(c, x, x.shape[1], ev)
    assert np.all(np.isfinite(whole))
    for block in BLOCKS:
        c, ev = _changing_cascade(fs, channels)
        y = in_blocks(c, x, block, ev)
        assert np.array_equal(y, whole), f"block {block}"


def _hf_residual_dbfs(y: np.ndarray, fs: float, f_sine: float, start: int) -> float:
    """Peak level (dBFS) of what lies above 4 x the sine's frequency, after ``start``."""
    hp = ss.butter(8, 4 * f_sine, "highpass", output="sos", fs=fs)
    r = ss.sosfilt(hp, np.asarray(y, dtype=np.float64), axis=-1)[..., start:]
    return 20 * np.log10(np.max(np.abs(r)) + 1e-300)


CHANGES = [  # (before, after): set_section keyword arguments of a peak band
    (dict(freq_hz=1000.0, q=1.0, gain_db=0.0), dict(freq_hz=1000.0, q=1.0, gain_db=12.0)),
    (dict(freq_hz=1000.0, q=2.0, gain_db=12.0), dict(freq_hz=1000.0, q=2.0, gain_db=-12.0)),
    (dict(freq_hz=600.0, q=4.0, gain_db=10.0), dict(freq_hz=1000.0, q=4.0, gain_db=10.0)),
]


@pytest.mark.parametrize("fs", RATES)
@pytest.mark.parametrize("change", CHANGES, ids=("gain-up", "gain-down", "freq-move"))
def test_peak_band_change_while_a_sine_plays_makes_no_click(fs, change):
    """Nothing above 4 x the sine frequency rises above -80 dBFS across the change.

    The same criterion fails (> -60 dBFS) for the two steady-state outputs
    spliced at the change, which is what an unramped switch does."""
    f_sine, t_change = 1000.0, int(0.15 * fs)
    x = fade_in(sine(f_sine, fs, 0.35, peak_dbfs=-20.0), fs)
    c = FilterCascade(fs, 1, 1)
    c.set_section(0, "peak", **change[0])
    y = in_blocks(c, x, 512, [(t_change, lambda: c.set_section(0, "peak", **change[1]))])
    start = int(0.1 * fs)
    assert _hf_residual_dbfs(y, fs, f_sine, start) < -80.0
    old = ss.sosfilt(cookbook("peak", fs, change[0]["freq_hz"], change[0]["q"],
                              change[0]["gain_db"]), x[0].astype(np.float64))
    new = ss.sosfilt(cookbook("peak", fs, change[1]["freq_hz"], change[1]["q"],
                              change[1]["gain_db"]), x[0].astype(np.float64))
    spliced = np.concatenate([old[:t_change], new[t_change:]])
    assert _hf_residual_dbfs(spliced, fs, f_sine, start) > -60.0


@pytest.mark.parametrize("channels", (1, 2, 6))
def test_bypass_and_return_of_a_band_while_a_sine_plays_makes_no_click(channels):
    """A bypassed section stops running; coming back it must pick up the live
    signal's history, or its first samples click."""
    fs, f_sine = 48000, 1000.0
    x = fade_in(sine(f_sine, fs, 0.4, peak_dbfs=-20.0, channels=channels), fs)
    c = FilterCascade(fs, channels, 3)
    c.set_section(0, "lowshelf", 100.0, gain_db=-3.0)
    c.set_section(1, "peak", 1000.0, q=1.0, gain_db=12.0)
    c.set_section(2, "highshelf", 8000.0, gain_db=2.0)
    events = [(int(0.12 * fs), lambda: (c.bypass_section(0), c.bypass_section(1))),
              (int(0.25 * fs), lambda: c.set_section(1, "peak", 1000.0, q=1.0, gain_db=12.0)),
              (int(0.26 * fs), lambda: c.set_section(0, "lowshelf", 100.0, gain_db=-3.0))]
    y = in_blocks(c, x, 480, events)
    assert _hf_residual_dbfs(y, fs, f_sine, int(0.1 * fs)) < -80.0


@pytest.mark.parametrize("fs", RATES)
def test_after_the_ramp_output_equals_sosfilt_with_new_coefficients(fs, rng):
    x = noise(rng, 2, int(0.4 * fs), rms=0.2)
    c = FilterCascade(fs, 2, 2)
    c.set_section(0, "peak", 1000.0, q=1.0, gain_db=0.0)
    c.set_section(1, "lowshelf", 100.0, gain_db=3.0)
    t_change = int(0.1 * fs)
    y = in_blocks(c, x, 1000, [(t_change, lambda: (
        c.set_section(0, "peak", 1000.0, q=1.0, gain_db=12.0),
        c.set_section(1, "lowshelf", 150.0, gain_db=-3.0)))])
    assert c.ramp_samples == round(0.020 * fs)
    want = ss.sosfilt(np.array([cookbook("peak", fs, 1000.0, 1.0, 12.0),
                                cookbook("lowshelf", fs, 150.0, 0.7071, -3.0)]),
                      x.astype(np.float64), axis=-1)
    settled = t_change + c.ramp_samples + int(0.1 * fs)  # the ramp, then 100 ms to settle
    err = np.max(np.abs(y[:, settled:] - want[:, settled:]))
    assert err < 1e-5 * np.sqrt(np.mean(want ** 2))
    # during the ramp the output is neither the old nor the new filter's
    assert np.max(np.abs(y[:, t_change:t_change + c.ramp_samples]
                         - want[:, t_change:t_change + c.ramp_samples])) > 1e-3


def test_first_setting_after_new_and_after_reset_takes_effect_at_once(rng):
    fs = 48000
    x = noise(rng, 1, 4000)
    c = FilterCascade(fs, 1, 1)
    c.set_section(0, "peak", 1000.0, q=1.0, gain_db=12.0)
    want = ss.sosfilt(cookbook("peak", fs, 1000.0, 1.0, 12.0), x[0].astype(np.float64))
    np.testing.assert_allclose(c.process(x.copy())[0], want, atol=1e-6)
    c.reset()
    c.set_section(0, "highpass", 300.0, q=0.7071)
    want = ss.sosfilt(cookbook("highpass", fs, 300.0, 0.7071), x[0].astype(np.float64))
    np.testing.assert_allclose(c.process(x.copy())[0], want, atol=1e-6)


def test_bypassed_section_passes_input_bit_exact_once_its_ringing_has_died(rng):
    """Bypass crossfades to dry over the ramp, runs until the section's own
    ringing has fallen 140 dB (here < 50 ms), then stops running."""
    fs = 48000
    x = noise(rng, 2, 8000)
    c = FilterCascade(fs, 2, 3)
    c.set_section(1, "peak", 500.0, q=2.0, gain_db=6.0)
    y = in_blocks(c, x, 256, [(1000, lambda: c.bypass_section(1))])
    assert c.sections_used == 0
    np.testing.assert_array_equal(c.sos(), np.zeros((0, 6)))
    done = 1000 + c.ramp_samples + int(0.05 * fs)
    assert not np.array_equal(y[:, 1000:done], x[:, 1000:done])
    assert np.array_equal(y[:, done:], x[:, done:])
    # and it comes back through a ramp from the live signal: equals sosfilt once settled
    y = in_blocks(c, x, 256, [(100, lambda: c.set_section(1, "peak", 500.0, q=2.0,
                                                          gain_db=-6.0))])
    want = ss.sosfilt(cookbook("peak", fs, 500.0, 2.0, -6.0), x.astype(np.float64), axis=-1)
    tail = 100 + c.ramp_samples + 2000
    assert np.max(np.abs(y[:, tail:] - want[:, tail:])) < 1e-6


@pytest.mark.parametrize("fs", RATES)
def test_extreme_valid_settings_stay_finite_through_ramps(fs, rng):
    nyq = 0.5 * fs
    x = noise(rng, 2, int(0.1 * fs), rms=0.5)
    x[:, 100] = 1.0
    settings = [(k, f, q, g) for k in KINDS for f in (10.0, 0.49 * nyq, 0.999 * nyq)
                for q in (0.1, 20.0) for g in ((-24.0, 24.0) if k in ("peak", "lowshelf",
                                                                    "highshelf") else (0.0,))]
    c = FilterCascade(fs, 2, 1)
    step = max(1, x.shape[1] // len(settings))
    events = [(i * step, (lambda s=s: c.set_section(0, s[0], s[1], q=s[2], gain_db=s[3])))
              for i, s in enumerate(settings)]
    y = in_blocks(c, x, 333, events)
    assert np.all(np.isfinite(y))
    for kind, f, q, g in settings:  # each frozen filter: stable, finite response
        sos = one_section(fs, kind, f, q, g, None).sos()
        assert np.all(np.abs(np.roots(np.r_[1.0, sos[0, 4:]])) < 1.0)


def test_state_recovers_after_a_nan_in_the_input(rng):
    c = FilterCascade(48000, 1, 1)
    c.set_section(0, "lowpass", 1000.0, q=0.7071)
    x = noise(rng, 1, 4096)
    x[0, 10] = np.nan
    y = c.process(x)
    assert np.all(np.isfinite(y[0, 512:]))


# ---- arguments ------------------------------------------------------------------

@pytest.mark.parametrize("call, name", [
    (lambda c: c.set_section(0, "peak", 24000.0, q=1.0, gain_db=1.0), "freq_hz"),
    (lambda c: c.set_section(0, "peak", 0.0, q=1.0, gain_db=1.0), "freq_hz"),
    (lambda c: c.set_section(0, "peak", 1000.0, q=0.0, gain_db=1.0), "q"),
    (lambda c: c.set_section(0, "peak", 1000.0, q=1.0, gain_db=48.5), "gain_db"),
    (lambda c: c.set_section(0, "lowshelf", 100.0, gain_db=12.0, slope=6.0), "slope"),
    (lambda c: c.set_section(0, "notch", 100.0, slope=1.0), "slope"),
    (lambda c: c.set_section(0, "bell", 100.0), "kind"),
    (lambda c: c.set_section(4, "peak", 100.0), "index"),
    (lambda c: c.set_butterworth(0, "lowpass", 9, 100.0), "order"),
    (lambda c: c.set_butterworth(0, "lowpass", 1, 100.0), "order"),
    (lambda c: c.set_butterworth(2, "lowpass", 5, 100.0), "index"),
    (lambda c: c.set_linkwitz_riley(0, "highpass", 3, 100.0), "order"),
    (lambda c: c.set_linkwitz_riley(1, "highpass", 8, 100.0), "index"),
    (lambda c: c.set_coefficients(0, [1, 0, 0, 1, 0, 1.0]), "sos_row"),
])
def test_out_of_range_arguments_raise_value_error_naming_the_parameter(call, name):
    c = FilterCascade(48000, 1, 4)
    with pytest.raises(ValueError, match=name):
        call(c)
    assert c.sections_used == 0  # nothing was changed


def test_c_setters_refuse_out_of_range_arguments():
    st = lib.ob_biquad_new(48000.0, 1, 4)
    try:
        err = lib.OB_ERR_ARG
        assert lib.ob_biquad_set_rbj(st, 0, lib.OB_BIQUAD_PEAK, 24000.0, 1.0, 0.0, 0.0) == err
        assert lib.ob_biquad_set_rbj(st, 0, lib.OB_BIQUAD_PEAK, 1000.0, -1.0, 0.0, 0.0) == err
        assert lib.ob_biquad_set_rbj(st, 0, lib.OB_BIQUAD_PEAK, 1000.0, 1.0, -49.0, 0.0) == err
        assert lib.ob_biquad_set_rbj(st, 4, lib.OB_BIQUAD_PEAK, 1000.0, 1.0, 0.0, 0.0) == err
        assert lib.ob_biquad_set_rbj(st, 0, 8, 1000.0, 1.0, 0.0, 0.0) == err
        assert lib.ob_biquad_set_butterworth(st, 0, lib.OB_BIQUAD_LOWPASS, 1, 100.0) == err
        assert lib.ob_biquad_set_butterworth(st, 0, lib.OB_BIQUAD_PEAK, 4, 100.0) == err
        assert lib.ob_biquad_set_linkwitz_riley(st, 0, lib.OB_BIQUAD_LOWPASS, 5, 100.0) == err
        assert lib.ob_biquad_set_linkwitz_riley(st, 1, lib.OB_BIQUAD_LOWPASS, 8, 100.0) == err
        assert lib.ob_biquad_set_coeffs(st, 0, ffi.new("double[5]", [1, 0, 0, -2.5, 0.9])) == err
        assert lib.ob_biquad_sections_used(st) == 0
        assert lib.ob_biquad_latency(st) == 0
    finally:
        lib.ob_biquad_free(st)
    assert lib.ob_biquad_new(48000.0, 0, 4) == ffi.NULL
    assert lib.ob_biquad_new(48000.0, 2, 0) == ffi.NULL
    assert lib.ob_biquad_new(48000.0, 2, lib.OB_BIQUAD_MAX_SECTIONS + 1) == ffi.NULL


def test_set_coefficients_and_sos_round_trip_in_scipy_layout(rng):
    fs = 48000
    ref = ss.butter(4, [300.0, 3000.0], "bandpass", output="sos", fs=fs)
    c = FilterCascade(fs, 1, 4)
    for k, row in enumerate(ref):
        c.set_coefficients(k, 2.0 * row)  # a0 = 2: normalized on the way in
    np.testing.assert_allclose(c.sos(), ref, rtol=1e-15, atol=1e-15)
    x = noise(rng, 1, 4000)
    want = ss.sosfilt(ref, x[0].astype(np.float64))
    assert np.max(np.abs(c.process(x)[0] - want)) < 1e-5 * np.sqrt(np.mean(want ** 2))


# ---- Equalizer ------------------------------------------------------------------

FIVE_BAND = [  # configs/stereo_master.toml
    {"type": "highpass", "freq_hz": 28.0, "order": 4, "family": "linkwitz-riley"},
    {"type": "lowshelf", "freq_hz": 90.0, "gain_db": 1.0, "slope": 0.7},
    {"type": "peak", "freq_hz": 320.0, "gain_db": -1.5, "q": 1.2},
    {"type": "peak", "freq_hz": 2800.0, "gain_db": 0.8, "q": 0.9},
    {"type": "highshelf", "freq_hz": 11000.0, "gain_db": 1.5, "q": 0.7},
]


@pytest.mark.parametrize("fs", RATES)
def test_equalizer_from_config_bands_matches_independent_design(fs, rng):
    eq = Equalizer(fs, 2, FIVE_BAND)
    assert eq.latency_samples == 0
    hp = ss.butter(2, 28.0, "highpass", output="sos", fs=fs)
    ref = np.vstack([hp, hp,
                     cookbook("lowshelf", fs, 90.0, 0.0, 1.0, slope=0.7),
                     cookbook("peak", fs, 320.0, 1.2, -1.5),
                     cookbook("peak", fs, 2800.0, 0.9, 0.8),
                     cookbook("highshelf", fs, 11000.0, 0.7, 1.5)])
    f = grid(fs)
    keep = sos_db(ref, f, fs) > -150
    assert np.max(np.abs(sos_db(eq.sos(), f, fs) - sos_db(ref, f, fs))[keep]) < 0.01
    x = noise(rng, 2, fs // 4)
    want = ss.sosfilt(ref, x.astype(np.float64), axis=-1)
    assert np.max(np.abs(eq.process(x.copy()) - want)) < 1e-5 * np.sqrt(np.mean(want ** 2))


def test_equalizer_family_defaults_follow_order_and_q():
    fs = 48000
    eq = Equalizer(fs, 1, [
        {"type": "lowpass", "freq_hz": 8000.0, "q": 2.0},                  # rbj, 1 section
        {"type": "lowpass", "freq_hz": 8000.0},                            # butterworth 2
        {"type": "highpass", "freq_hz": 30.0, "order": 5},                 # butterworth 5
        {"type": "highpass", "freq_hz": 30.0, "order": 6, "family": "linkwitz-riley"},
        {"type": "notch", "freq_hz": 50.0, "q": 8.0, "gain_db": 0.0},
    ])
    assert [b["family"] for b in eq.bands] == ["rbj", "butterworth", "butterworth",
                                               "linkwitz-riley", "rbj"]
    assert eq.sos().shape == (1 + 1 + 3 + 4 + 1, 6)
    np.testing.assert_allclose(eq.sos()[0], cookbook("lowpass", fs, 8000.0, 2.0), rtol=1e-12)
    np.testing.assert_allclose(eq.sos()[1], ss.butter(2, 8000.0, output="sos", fs=fs)[0],
                               rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("band, name", [
    ({"type": "bell", "freq_hz": 100.0}, "type"),
    ({"type": "peak"}, "freq_hz"),
    ({"type": "peak", "freq_hz": 100.0, "gain": 3.0}, "gain"),
    ({"type": "peak", "freq_hz": 30000.0}, "freq_hz"),
    ({"type": "peak", "freq_hz": 100.0, "order": 4}, "order"),
    ({"type": "lowpass", "freq_hz": 100.0, "order": 4, "family": "rbj"}, "order"),
    ({"type": "lowpass", "freq_hz": 100.0, "order": 5, "family": "linkwitz-riley"}, "order"),
    ({"type": "highpass", "freq_hz": 100.0, "family": "bessel"}, "family"),
    ({"type": "notch", "freq_hz": 100.0, "slope": 0.5}, "slope"),
    ({"type": "lowpass", "freq_hz": 100.0, "gain_db": 3.0}, "gain_db"),
])
def test_equalizer_rejects_bad_bands_naming_band_and_key(band, name):
    with pytest.raises(ValueError, match=rf"bands\[1\].*{name}"):
        Equalizer(44100, 2, [{"type": "peak", "freq_hz": 1000.0}, band])


def test_equalizer_set_band_ramps_to_the_new_band(rng):
    fs = 48000
    eq = Equalizer(fs, 1, FIVE_BAND[:3])
    x = noise(rng, 1, 12000)
    new = {"type": "peak", "freq_hz": 500.0, "gain_db": 4.0, "q": 2.0}
    y = in_blocks(eq, x, 1024, [(1000, lambda: eq.set_band(2, new))])
    ref = eq.sos()
    np.testing.assert_allclose(ref[3], cookbook("peak", fs, 500.0, 2.0, 4.0), rtol=1e-12)
    want = ss.sosfilt(ref, x[0].astype(np.float64))
    tail = 1000 + eq.cascade.ramp_samples + 4000
    assert np.max(np.abs(y[0, tail:] - want[tail:])) < 1e-5 * np.sqrt(np.mean(want ** 2))
    with pytest.raises(ValueError, match="sections"):
        eq.set_band(0, {"type": "highpass", "freq_hz": 28.0, "order": 8,
                        "family": "linkwitz-riley"})
