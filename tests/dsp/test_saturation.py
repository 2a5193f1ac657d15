"""Saturation kernel (native/saturation.c, host/dsp/saturation.py).

References: each curve's formula evaluated in the test (numpy tanh, the cubic,
np.clip) followed by the DC blocker as scipy designs it
(``scipy.signal.butter(1, 3, "highpass", fs=fs)``); spectra by numpy's FFT
over a whole number of periods; numpy's float32 arithmetic for the dry path.

Aliasing of a full-scale 15 kHz sine at 48 kHz, tape curve, +12 dB drive
(largest component other than the sine, over 0..24 kHz), as measured here:
2x -30.3 dBFS, 4x -70.3 dBFS, 8x -114.2 dBFS.  Hard clip at +6 dB: 2x -54.6,
4x -73.3, 8x -75.2 dBFS (its corners are not band-limited by any factor).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import signal

from conftest import sine
from host._ffi import lib
from host.dsp.saturation import (CURVES, DC_BLOCK_HZ, FACTORS, LATENCY_SAMPLES, RANGES,
                                 Saturation)

FS = 48000
TUBE_BIAS = 0.25


def formula(curve: str, u: np.ndarray) -> np.ndarray:
    """The static curves as saturation.h defines them."""
    if curve == "tape":
        return np.tanh(u)
    if curve == "tube":
        tb = math.tanh(TUBE_BIAS)
        return (np.tanh(u + TUBE_BIAS) - tb) / (1.0 - tb * tb)
    if curve == "soft_clip":
        return np.where(np.abs(u) <= 1.5, u - 4.0 * u ** 3 / 27.0, np.sign(u))
    return np.clip(u, -1.0, 1.0)


def dc_blocked(x: np.ndarray, fs: float = FS) -> np.ndarray:
    b, a = signal.butter(1, DC_BLOCK_HZ, "highpass", fs=fs)
    return signal.lfilter(b, a, x)


def run(x: np.ndarray, oversample: int, fs: float = FS, **params) -> np.ndarray:
    s = Saturation(fs, x.shape[0], oversample=oversample, **params)
    return s.process(np.ascontiguousarray(x, dtype=np.float32).copy())


def in_blocks(s: Saturation, x: np.ndarray, block: int, events=()) -> np.ndarray:
    """Process x in blocks of ``block`` frames, also cut at each event's
    sample, where the event (a callable) runs first."""
    events = sorted(events, key=lambda e: e[0])
    cuts = sorted({0, x.shape[1], *[t for t, _ in events],
                   *range(0, x.shape[1], block)})
    y = x.copy()
    k = 0
    for a, b in zip(cuts[:-1], cuts[1:], strict=True):
        while k < len(events) and events[k][0] == a:
            events[k][1]()
            k += 1
        part = np.ascontiguousarray(y[:, a:b])
        s.process(part)
        y[:, a:b] = part
    return y


# ---- the curves ----------------------------------------------------------------------

@pytest.mark.parametrize("fs", [44100.0, 48000.0, 96000.0])
@pytest.mark.parametrize("oversample", FACTORS)
@pytest.mark.parametrize("curve, tol", [("tape", 1e-5), ("tube", 1e-5), ("soft_clip", 1e-5),
                                        ("hard_clip", 1e-3)])
def test_static_curve_at_low_frequency_matches_the_formula(curve, tol, oversample, fs):
    """A 50 Hz sine at 0.9 of full scale, +6 dB into the curve: the output is
    the formula of the delayed input, DC-blocked.  The hard clip's corners are
    band-limited by the filters (measured error 4e-4)."""
    x = sine(50.0, fs, 1.0, peak_dbfs=20 * math.log10(0.9))
    y = run(x, oversample, fs, drive_db=6.0, curve=curve)[0]
    ref = dc_blocked(formula(curve, 10 ** (6.0 / 20) * x[0].astype(np.float64)), fs)
    n = x.shape[1]
    err = np.abs(y[LATENCY_SAMPLES:] - ref[:n - LATENCY_SAMPLES])[2000:]
    assert err.max() < tol


ALIAS_LIMITS = {  # (curve, drive dB): {factor: limit dBFS}; measured values in the docstring
    ("tape", 12.0): {2: -27.0, 4: -67.0, 8: -100.0},
    ("hard_clip", 6.0): {2: -51.0, 4: -70.0, 8: -72.0},
}


@pytest.mark.parametrize("oversample", FACTORS)
@pytest.mark.parametrize("case", list(ALIAS_LIMITS), ids=lambda c: f"{c[0]}+{c[1]:g}dB")
def test_aliases_of_a_15khz_full_scale_sine_stay_below_the_stated_level(case, oversample):
    """The only harmonic of 15 kHz below 24 kHz is 15 kHz itself: everything
    else in the output spectrum is an alias (or filter leakage).  65536
    samples hold a whole number of periods (20480), so the FFT needs no
    window.  Tape at +12 dB must stay below -90 dBFS at 8x."""
    curve, drive = case
    n = 65536
    x = sine(15000.0, FS, (n + 20000) / FS)
    y = run(x, oversample, drive_db=drive, curve=curve)[0, -n:].astype(np.float64)
    spec = np.abs(np.fft.rfft(y)) / (n / 2)
    k0 = round(15000.0 * n / FS)
    assert spec[k0] > 0.5  # the tone is there
    spec[k0] = 0.0
    spec[0] = 0.0  # DC: the DC blocker's business, tested below
    worst = 20 * np.log10(spec.max())
    assert worst < ALIAS_LIMITS[case][oversample]
    if case == ("tape", 12.0) and oversample == 8:
        assert worst < -90.0


@pytest.mark.parametrize("oversample", FACTORS)
def test_tube_curve_output_has_no_dc(oversample):
    """The tube curve's mean over a 1 kHz sine at +12 dB drive is -0.22 of
    full scale; the DC blocker leaves less than 1e-6 once settled (its time
    constant is 53 ms)."""
    x = sine(1000.0, FS, 2.0)
    raw_mean = formula("tube", 4.0 * x[0].astype(np.float64)).mean()
    assert abs(raw_mean) > 0.1
    y = run(x, oversample, drive_db=12.0, curve="tube")[0]
    assert abs(y[-FS // 2:].astype(np.float64).mean()) < 1e-6


@pytest.mark.parametrize("oversample", FACTORS)
@pytest.mark.parametrize("curve", list(CURVES))
def test_quiet_signal_passes_flat_to_20khz_at_unity_gain(curve, oversample):
    """At -60 dBFS every curve is linear (unit slope at 0): sines from 100 Hz
    to 20 kHz come out at the DC blocker's own gain within 0.02 dB (ADAA's
    droop is undone by the decimator), delayed by the latency."""
    b, a = signal.butter(1, DC_BLOCK_HZ, "highpass", fs=FS)
    for f in (100.0, 1000.0, 5000.0, 10000.0, 15000.0, 18000.0, 20000.0):
        x = sine(f, FS, 0.5, peak_dbfs=-60.0)
        y = run(x, oversample, curve=curve)[0].astype(np.float64)
        seg = slice(8000, x.shape[1] - LATENCY_SAMPLES)
        got = np.sqrt(np.mean(y[LATENCY_SAMPLES:][seg] ** 2) /
                      np.mean(x[0, seg].astype(np.float64) ** 2))
        _, h = signal.freqz(b, a, worN=[f], fs=FS)
        assert abs(20 * np.log10(got / abs(h[0]))) < 0.02, f


@pytest.mark.parametrize("oversample", FACTORS)
def test_quiet_noise_comes_out_as_the_dc_blocked_input_delayed_by_the_latency(oversample, rng):
    """Band-limited noise (to 18 kHz) at -60 dBFS: output = DC-blocked input,
    T = 48 samples later, within -70 dB of the signal."""
    sos = signal.butter(12, 18000.0, fs=FS, output="sos")
    x = signal.sosfilt(sos, rng.standard_normal(FS // 2)) * 1e-3
    y = run(x[None], oversample)[0].astype(np.float64)
    ref = dc_blocked(x.astype(np.float32).astype(np.float64))
    r = y[LATENCY_SAMPLES:] - ref[:-LATENCY_SAMPLES]
    assert 10 * np.log10(np.mean(r[4000:] ** 2) / np.mean(ref[4000:] ** 2)) < -70.0
    assert Saturation(FS, 1, oversample=oversample).latency_samples == LATENCY_SAMPLES


@pytest.mark.parametrize("output_db", [0.0, -6.0, 3.5])
def test_mix_zero_is_the_input_delayed_by_the_latency_times_the_trim(output_db, rng):
    x = (rng.standard_normal((2, 5000)) * 0.5).astype(np.float32)
    y = run(x, 4, drive_db=24.0, curve="hard_clip", mix_pct=0.0, output_db=output_db)
    want = (x[:, :-LATENCY_SAMPLES].astype(np.float64) * 10 ** (output_db / 20)).astype(
        np.float32)
    assert np.array_equal(y[:, LATENCY_SAMPLES:], want)
    assert np.all(y[:, :LATENCY_SAMPLES] == 0.0)


def test_mix_is_a_linear_blend_of_the_aligned_dry_and_wet_paths(rng):
    x = (rng.standard_normal((1, 8000)) * 0.3).astype(np.float32)
    wet = run(x, 2, drive_db=12.0, curve="tube").astype(np.float64)
    dry = run(x, 2, drive_db=12.0, curve="tube", mix_pct=0.0).astype(np.float64)
    half = run(x, 2, drive_db=12.0, curve="tube", mix_pct=30.0).astype(np.float64)
    assert np.max(np.abs(half - (0.3 * wet + 0.7 * dry))) < 1e-6


# ---- streaming -----------------------------------------------------------------------

@pytest.mark.parametrize("fs", [44100.0, 96000.0])
@pytest.mark.parametrize("oversample", FACTORS)
def test_output_does_not_depend_on_block_size(oversample, fs, rng):
    """Bit-exact for blocks of 16, 64, 1024 (and 1, 65) across changes of
    every parameter, a curve change during a crossfade included."""
    x = (rng.standard_normal((2, 30000)) * 0.4).astype(np.float32)

    def make():
        s = Saturation(fs, 2, drive_db=6.0, curve="tape", oversample=oversample)
        ev = [(3000, lambda: s.set(curve="tube", drive_db=18.0)),
              (3100, lambda: s.set(curve="hard_clip")),  # waits for the first crossfade
              (9000, lambda: s.set(mix_pct=40.0, output_db=-3.0)),
              (15000, lambda: s.reset()),
              (15001, lambda: s.set(curve="soft_clip"))]
        return s, ev

    s, ev = make()
    whole = in_blocks(s, x, x.shape[1], ev)
    assert np.all(np.isfinite(whole))
    for block in (16, 64, 1024, 1, 65):
        s, ev = make()
        assert np.array_equal(in_blocks(s, x, block, ev), whole), block


def _hf_residual_dbfs(y: np.ndarray, f_sine: float, start: int) -> float:
    """Peak level (dBFS) of what lies above 4 x the sine's frequency, after ``start``."""
    hp = signal.butter(8, 4 * f_sine, "highpass", output="sos", fs=FS)
    r = signal.sosfilt(hp, np.asarray(y, dtype=np.float64), axis=-1)[..., start:]
    return 20 * np.log10(np.max(np.abs(r)) + 1e-300)


@pytest.mark.parametrize("change", [dict(drive_db=12.0), dict(mix_pct=0.0),
                                    dict(output_db=-12.0)], ids=lambda c: next(iter(c)))
def test_drive_mix_and_trim_changes_ramp_without_clicks(change):
    """A -40 dBFS 1 kHz sine stays in the curve's linear region, so nothing
    above 4 kHz should appear: the raised-cosine ramp keeps it below -110
    dBFS (measured: drive -122, mix -138, trim -144), where the same change
    applied at once (two steady outputs spliced) makes a click above -80 dBFS
    (measured -56, -73, -76)."""
    x = sine(1000.0, FS, 0.3, peak_dbfs=-40.0)
    x[0, :480] *= np.linspace(0.0, 1.0, 480, dtype=np.float32)
    t = int(0.15 * FS)
    s = Saturation(FS, 1, drive_db=-6.0, oversample=2)
    y = in_blocks(s, x, 256, [(t, lambda: s.set(**change))])
    start = int(0.05 * FS)
    assert _hf_residual_dbfs(y, 1000.0, start) < -110.0
    before = run(x, 2, drive_db=-6.0)
    after = run(x, 2, **{"drive_db": -6.0, **change})
    spliced = np.concatenate([before[:, :t], after[:, t:]], axis=1)
    assert _hf_residual_dbfs(spliced, 1000.0, start) > -80.0


@pytest.mark.parametrize("old, new", [("tape", "hard_clip"), ("soft_clip", "tape"),
                                      ("hard_clip", "soft_clip")])
def test_a_curve_change_crossfades_between_the_two_curves_outputs(old, new):
    """Driven hard, the curves differ: during the change the output stays
    between what each curve alone gives (a stale ADAA state would spike far
    outside), and it ends on the new curve.  (Not with the tube curve: its DC
    makes the DC blocker's slow transient differ between the runs.)"""
    x = sine(200.0, FS, 0.3, peak_dbfs=-3.0)
    t = 6000
    s = Saturation(FS, 1, drive_db=9.0, curve=old, oversample=4)
    y = in_blocks(s, x, 128, [(t, lambda: s.set(curve=new))])[0].astype(np.float64)
    a = run(x, 4, drive_db=9.0, curve=old)[0].astype(np.float64)
    b = run(x, 4, drive_db=9.0, curve=new)[0].astype(np.float64)
    assert np.array_equal(y[:t], a[:t])
    lo, hi = np.minimum(a, b) - 2e-3, np.maximum(a, b) + 2e-3
    assert np.all((y >= lo) & (y <= hi))
    fade = int(lib.OB_SAT_RAMP_MS * FS / 1000)
    settled = t + fade + 2 * LATENCY_SAMPLES
    assert np.max(np.abs(y[settled:] - b[settled:])) < 2e-3


def test_reset_restores_the_fresh_state(rng):
    x = (rng.standard_normal((2, 4000)) * 0.5).astype(np.float32)
    s = Saturation(FS, 2, drive_db=10.0, curve="tube", oversample=8)
    s.process(x.copy())
    s.reset()
    assert np.array_equal(s.process(x.copy()), run(x, 8, drive_db=10.0, curve="tube"))


def test_mono_accepts_1d_and_bad_audio_is_refused():
    s = Saturation(FS, 1)
    y = s.process(np.zeros(100, dtype=np.float32))
    assert y.shape == (100,)
    with pytest.raises(ValueError, match=r"expected shape \(1, frames\)"):
        s.process(np.zeros((2, 100), dtype=np.float32))


# ---- parameters ----------------------------------------------------------------------

@pytest.mark.parametrize("kw, needle", [
    (dict(drive_db=40.0), "drive_db: expected a number -12..36 dB, got 40.0"),
    (dict(mix_pct=-1), "mix_pct: expected a number 0..100 %, got -1"),
    (dict(output_db=float("nan")), "output_db: expected a number -24..24 dB, got nan"),
    (dict(curve="fuzz"), "curve: expected one of 'tape', 'tube', 'soft_clip', 'hard_clip', "
                         "got 'fuzz'"),
    (dict(oversample=16), "oversample: expected 2, 4 or 8 (times), got 16"),
    (dict(drive_db=True), "drive_db: expected a number -12..36 dB, got True"),
])
def test_bad_parameter_raises_one_line_naming_key_unit_and_range(kw, needle):
    with pytest.raises(ValueError) as exc:
        Saturation(FS, 2, **kw)
    assert needle in str(exc.value) and "\n" not in str(exc.value)


@pytest.mark.parametrize("name", ["drive_db", "mix_pct", "output_db"])
def test_c_setters_take_exactly_the_python_ranges(name):
    """The wrapper owns the ranges; the kernel must accept the same edges and
    refuse just outside them."""
    lo, hi = RANGES[name].lo, RANGES[name].hi
    st = Saturation(FS, 1)._st
    setter = getattr(lib, f"ob_saturation_set_{name}")
    assert setter(st, lo) == lib.OB_OK and setter(st, hi) == lib.OB_OK
    for bad in (lo - 1e-9, hi + 1e-9, math.nan):
        assert setter(st, bad) == lib.OB_ERR_ARG
    assert lib.ob_saturation_set_curve(st, len(CURVES)) == lib.OB_ERR_ARG
    assert lib.ob_saturation_set(st, 99, -1, 0.0) == lib.OB_ERR_ARG
