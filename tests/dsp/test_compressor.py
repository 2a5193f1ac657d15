"""Compressor kernel (native/compressor.c) against references written out here.

References: the static curve with quadratic knee, eq. 4 of Giannoulis, Massberg
& Reiss, "Digital Dynamic Range Compressor Design -- A Tutorial and Analysis",
JAES 2012; the one-pole step response 1 - exp(-t/tau) documented in
native/compressor.h; the RBJ Audio EQ Cookbook high pass (coefficients written
below, magnitude from scipy.signal.freqz).  Nothing is compared with the
kernel's own output except where the claim is self-consistency (block size,
reset).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import signal

from host.dsp.compressor import RAMP_MS, Compressor
from conftest import sine

FS = 48000


# ---- references ---------------------------------------------------------------------


def curve_out_db(x_db: float, threshold_db: float, ratio: float, knee_db: float) -> float:
    """Static curve y_G(x_G), Giannoulis et al. 2012 eq. 4 (1/R = 0 for R >= 100)."""
    inv_r = 0.0 if ratio >= 100 else 1.0 / ratio
    over = x_db - threshold_db
    if 2 * over <= -knee_db:
        return x_db
    if 2 * over >= knee_db:
        return threshold_db + over * inv_r
    return x_db + (inv_r - 1) * (over + knee_db / 2) ** 2 / (2 * knee_db)


def curve_gr_db(x_db: float, threshold_db: float, ratio: float, knee_db: float) -> float:
    return x_db - curve_out_db(x_db, threshold_db, ratio, knee_db)


def rbj_highpass(f0: float, fs: float, q: float) -> tuple[np.ndarray, np.ndarray]:
    """Audio EQ Cookbook HPF coefficients (b, a), not normalised."""
    w0 = 2 * math.pi * f0 / fs
    alpha = math.sin(w0) / (2 * q)
    cw = math.cos(w0)
    b = np.array([(1 + cw) / 2, -(1 + cw), (1 + cw) / 2])
    a = np.array([1 + alpha, -2 * cw, 1 - alpha])
    return b, a


def flat_tone(fs: float, level_dbfs: float, seconds: float) -> np.ndarray:
    """Tone at fs/4, phase 45 degrees: every sample has magnitude 10^(level/20).

    The peak detector then sees a constant level, so gain reduction follows
    the ballistics alone (as in the EBU true-peak case at fs/4, 45 degrees).
    """
    n = np.arange(int(round(seconds * fs)))
    return np.sign(np.sin(np.pi / 2 * n + np.pi / 4)) * 10 ** (level_dbfs / 20)


def rms_db(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return 10 * np.log10(np.mean(np.asarray(x, dtype=np.float64) ** 2, axis=axis))


def f32(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.atleast_2d(x), dtype=np.float32)


LEVELS = np.arange(-60.0, 0.0 + 1e-9, 3.0)
CURVES = [  # (threshold dBFS, ratio, knee dB)
    (-20.0, 4.0, 0.0),
    (-30.0, 2.0, 12.0),
    (-12.0, 100.0, 6.0),
    (-40.0, 8.0, 24.0),
    (-60.0, 1.5, 0.0),
]


# ---- static curve -------------------------------------------------------------------


@pytest.mark.parametrize("threshold_db,ratio,knee_db", CURVES)
def test_static_curve_peak_detector_matches_giannoulis_eq4(threshold_db, ratio, knee_db):
    # One 1 kHz sine per channel at each level, link 0 (channels independent);
    # peak detection holds the crest with a fast attack and a long release.
    seconds = 0.3
    x = np.vstack([sine(1000, FS, seconds, lv)[0] for lv in LEVELS])
    y = x.copy()
    comp = Compressor(FS, len(LEVELS), threshold_db=threshold_db, ratio=ratio, knee_db=knee_db,
                      attack_ms=0.01, release_ms=5000, stereo_link=0.0)
    comp.process(y)
    tail = slice(-4800, None)  # last 100 ms, 100 periods
    out_db = LEVELS + rms_db(y[:, tail]) - rms_db(x[:, tail])
    want = np.array([curve_out_db(lv, threshold_db, ratio, knee_db) for lv in LEVELS])
    np.testing.assert_allclose(out_db, want, atol=0.1)
    assert comp.gain_reduction_db == pytest.approx(
        curve_gr_db(LEVELS.max(), threshold_db, ratio, knee_db), abs=0.1)


@pytest.mark.parametrize("threshold_db,ratio,knee_db", CURVES)
def test_static_curve_rms_detector_matches_eq4_at_sine_rms_level(threshold_db, ratio, knee_db):
    seconds = 0.5
    x = np.vstack([sine(1000, FS, seconds, lv)[0] for lv in LEVELS])
    y = x.copy()
    comp = Compressor(FS, len(LEVELS), threshold_db=threshold_db, ratio=ratio, knee_db=knee_db,
                      attack_ms=10, release_ms=100, detector="rms", rms_window_ms=10,
                      stereo_link=0.0)
    comp.process(y)
    tail = slice(-4800, None)
    in_db = rms_db(x[:, tail])  # the sine's RMS level, peak - 3.01 dB
    np.testing.assert_allclose(in_db, LEVELS - 10 * np.log10(2), atol=1e-3)
    want = np.array([curve_out_db(lv, threshold_db, ratio, knee_db) for lv in in_db])
    np.testing.assert_allclose(rms_db(y[:, tail]), want, atol=0.1)


def test_ratio_one_is_bit_transparent(rng):
    x = f32(rng.standard_normal((2, 4800)) * 0.5)
    y = x.copy()
    Compressor(FS, 2, threshold_db=-60, ratio=1.0, knee_db=0).process(y)
    np.testing.assert_array_equal(y, x)


def test_rms_detector_follows_one_pole_mean_square_with_window_time_constant():
    # Silence then a flat-magnitude tone: the RMS level is documented as
    # 10 log10(A^2 (1 - exp(-t/T_W))); with a fast attack the gain reduction
    # follows the static curve of that level.
    window_ms, lv, thr = 50.0, -6.0, -40.0
    x = f32(np.concatenate([np.zeros(480), flat_tone(FS, lv, 0.3)]))
    y = x.copy()
    Compressor(FS, 1, threshold_db=thr, ratio=4, knee_db=0, attack_ms=0.01, release_ms=5000,
               detector="rms", rms_window_ms=window_ms).process(y)
    n = np.arange(1, x.shape[1] - 480 + 1)
    level = lv + 10 * np.log10(1 - np.exp(-n / (window_ms * 1e-3 * FS)))
    want = np.array([curve_gr_db(v, thr, 4, 0) for v in level])
    got = 20 * np.log10(np.abs(x[0, 480:]) / np.abs(y[0, 480:]))
    start = int(0.002 * FS)  # skip the first 2 ms, where the level rises by dB per sample
    np.testing.assert_allclose(got[start:], want[start:], atol=0.05)


# ---- ballistics -----------------------------------------------------------------------


def crossing_time_ms(curve: np.ndarray, level: float, rising: bool, fs: float) -> float:
    """Time (ms from sample 0) where ``curve`` first crosses ``level``, interpolated."""
    hit = curve >= level if rising else curve <= level
    k = int(np.argmax(hit))
    assert hit[k] and k > 0
    frac = (level - curve[k - 1]) / (curve[k] - curve[k - 1])
    return (k - 1 + frac) / fs * 1000


@pytest.mark.parametrize("fs", [44100, 48000, 96000])
@pytest.mark.parametrize("attack_ms,release_ms", [(1.0, 50.0), (5.0, 500.0), (30.0, 120.0)])
def test_attack_and_release_reach_63_percent_in_their_time_constants(fs, attack_ms, release_ms):
    # -40 -> -10 dBFS step and back, threshold -30, 4:1, hard knee: the gain
    # reduction target steps 0 -> 15 dB -> 0.  Documented: 1 - 1/e of the step
    # is covered in attack_ms (rising) and release_ms (falling).
    thr, ratio = -30.0, 4.0
    full = curve_gr_db(-10.0, thr, ratio, 0.0)
    pre, loud = 0.05, 10 * attack_ms / 1000
    x = np.concatenate([flat_tone(fs, -40, pre), flat_tone(fs, -10, loud),
                        flat_tone(fs, -40, 5 * release_ms / 1000)])
    x = f32(x)
    y = x.copy()
    Compressor(fs, 1, threshold_db=thr, ratio=ratio, knee_db=0, attack_ms=attack_ms,
               release_ms=release_ms).process(y)
    gr = 20 * np.log10(np.abs(x[0].astype(np.float64)) / np.abs(y[0]))
    n1, n2 = int(round(pre * fs)), int(round(pre * fs)) + int(round(loud * fs))
    t_att = crossing_time_ms(gr[n1:n2], full * (1 - math.exp(-1)), True, fs)
    t_rel = crossing_time_ms(gr[n2:], gr[n2 - 1] * math.exp(-1), False, fs)
    assert gr[n2 - 1] == pytest.approx(full, abs=0.01)
    assert t_att == pytest.approx(attack_ms, rel=0.05)
    assert t_rel == pytest.approx(release_ms, rel=0.05)


# ---- stereo link ---------------------------------------------------------------------


def link_case(link: float) -> tuple[np.ndarray, np.ndarray, Compressor]:
    """Loud 1 kHz sine in L, a quiet 300 Hz sine (below the knee) in R."""
    seconds = 0.3
    x = np.vstack([sine(1000, FS, seconds, -6.0)[0], sine(300, FS, seconds, -50.0)[0]])
    y = x.copy()
    comp = Compressor(FS, 2, threshold_db=-30, ratio=4, knee_db=6, attack_ms=0.01,
                      release_ms=5000, stereo_link=link)
    comp.process(y)
    return x, y, comp


def channel_gain_db(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    tail = slice(-4800, None)
    return rms_db(y[:, tail]) - rms_db(x[:, tail])


def test_link_one_reduces_quiet_channel_by_the_loud_channels_gain():
    x, y, _ = link_case(1.0)
    g = channel_gain_db(x, y)
    want = -curve_gr_db(-6.0, -30, 4, 6)
    assert g[0] == pytest.approx(want, abs=0.1)
    assert g[1] == pytest.approx(g[0], abs=0.01)


def test_link_zero_leaves_quiet_channel_untouched():
    x, y, _ = link_case(0.0)
    np.testing.assert_array_equal(y[1], x[1])
    assert channel_gain_db(x, y)[0] == pytest.approx(-curve_gr_db(-6.0, -30, 4, 6), abs=0.1)


def test_link_half_interpolates_gain_reduction_in_db():
    x, y, _ = link_case(0.5)
    g = channel_gain_db(x, y)
    full = curve_gr_db(-6.0, -30, 4, 6)
    assert g[0] == pytest.approx(-full, abs=0.1)
    assert g[1] == pytest.approx(-0.5 * full, abs=0.1)


# ---- mid-side ---------------------------------------------------------------------------


def test_mid_side_mono_signal_keeps_side_zero_and_compresses_mid_per_curve():
    x = sine(1000, FS, 0.3, -6.0, channels=2)
    y = x.copy()
    Compressor(FS, 2, threshold_db=-24, ratio=3, knee_db=12, attack_ms=0.01, release_ms=5000,
               stereo_link=0.0, mode="mid-side").process(y)
    side = 0.5 * (y[0].astype(np.float64) - y[1])
    assert np.all(side == 0.0)
    mid = 0.5 * (y[0].astype(np.float64) + y[1])
    got = -6.0 + rms_db(mid[-4800:]) - rms_db(x[0, -4800:])
    assert got == pytest.approx(curve_out_db(-6.0, -24, 3, 12), abs=0.1)


def test_mid_side_compresses_side_only():
    # L = m + s, R = m - s: a quiet mid (300 Hz, -50 dBFS, below the knee) and a
    # loud side (1 kHz, -6 dBFS).  Link 0: mid passes at unity, side follows
    # the curve.
    seconds = 0.3
    m = sine(300, FS, seconds, -50.0)[0].astype(np.float64)
    s = sine(1000, FS, seconds, -6.0)[0].astype(np.float64)
    x = f32(np.vstack([m + s, m - s]))
    y = x.copy()
    Compressor(FS, 2, threshold_db=-24, ratio=3, knee_db=0, attack_ms=0.01, release_ms=5000,
               stereo_link=0.0, mode="mid-side").process(y)
    mid_in = 0.5 * (x[0].astype(np.float64) + x[1])
    side_in = 0.5 * (x[0].astype(np.float64) - x[1])
    mid_out = 0.5 * (y[0].astype(np.float64) + y[1])
    side_out = 0.5 * (y[0].astype(np.float64) - y[1])
    np.testing.assert_allclose(mid_out, mid_in, atol=1e-7)  # float32 rounding of L, R
    got = -6.0 + rms_db(side_out[-4800:]) - rms_db(side_in[-4800:])
    assert got == pytest.approx(curve_out_db(-6.0, -24, 3, 0), abs=0.1)


def test_mid_side_needs_two_channels():
    with pytest.raises(ValueError, match="mode"):
        Compressor(FS, 1, mode="mid-side")
    with pytest.raises(ValueError, match="mode"):
        Compressor(FS, 6).set(mode="mid-side")


# ---- sidechain high pass ----------------------------------------------------------------


def test_sidechain_hpf_reduces_gain_reduction_by_rbj_highpass_magnitude():
    # A -6 dBFS 40 Hz tone into a limiter-like hard knee (ratio 100: slope 1).
    # With the 200 Hz sidechain high pass the detector sees the tone lowered by
    # |H(40 Hz)|, so the gain reduction drops by exactly that many dB.
    f_tone, f_hp, thr = 40.0, 200.0, -40.0
    seconds = 1.0
    x = sine(f_tone, FS, seconds, -6.0)[0].astype(np.float64)
    fade = int(0.2 * FS)  # raised-cosine fade-in: no filter onset transient to hold
    x[:fade] *= 0.5 - 0.5 * np.cos(np.pi * np.arange(fade) / fade)
    x = f32(x)
    tail = slice(-int(0.25 * FS), None)  # 10 periods of 40 Hz
    gr = {}
    for hz in (0.0, f_hp):
        y = x.copy()
        Compressor(FS, 1, threshold_db=thr, ratio=100, knee_db=0, attack_ms=0.01,
                   release_ms=5000, sidechain_hpf_hz=hz).process(y)
        gr[hz] = float(rms_db(x[0, tail]) - rms_db(y[0, tail]))
    b, a = rbj_highpass(f_hp, FS, 1 / math.sqrt(2))
    _, h = signal.freqz(b, a, worN=[f_tone], fs=FS)
    h_db = 20 * math.log10(abs(h[0]))
    assert h_db < -20  # the reference itself: ~ -28 dB for 2nd order, an octave-and-more down
    assert gr[0.0] == pytest.approx(-6.0 - thr, abs=0.5)
    assert gr[0.0] - gr[f_hp] == pytest.approx(-h_db, abs=0.5)


# ---- parameter ramps ----------------------------------------------------------------------


def ramp_step_limit_db(change_db: float, fs: float) -> float:
    """Largest per-sample move of a one-pole ramp of RAMP_MS over ``change_db``."""
    return abs(change_db) * (1 - math.exp(-1 / (RAMP_MS * 1e-3 * fs)))


def test_makeup_change_ramps_without_steps_and_reaches_new_makeup():
    # Below threshold, so the gain is the makeup alone; flat-magnitude tone so
    # y/x is the gain at every sample.
    x = f32(flat_tone(FS, -40.0, 0.5))
    y = x.copy()
    comp = Compressor(FS, 1, threshold_db=-20, makeup_db=0.0)
    half = x.shape[1] // 2
    a, b = y[:, :half].copy(), y[:, half:].copy()
    comp.process(a)
    comp.set(makeup_db=12.0)
    comp.process(b)
    gain_db = 20 * np.log10(np.abs(np.hstack([a, b])[0].astype(np.float64)) / np.abs(x[0]))
    assert np.all(gain_db[:half] == 0.0)
    steps = np.abs(np.diff(gain_db))
    assert steps.max() <= ramp_step_limit_db(12.0, FS) + 1e-4  # float32 rounding of y
    assert steps.max() < 0.05
    settle = half + int(10 * RAMP_MS * 1e-3 * FS)
    np.testing.assert_allclose(gain_db[settle:], 12.0, atol=0.01)


RAMP_CASES = {  # name: (program, its frequency Hz, parameters at start, change mid-stream)
    "threshold": ("flat", None, {}, {"threshold_db": -30.0}),
    "ratio": ("flat", None, {}, {"ratio": 20.0}),
    "knee": ("flat", None, {"threshold_db": -3.0}, {"knee_db": 24.0}),
    "link": ("flat", None, {"stereo_link": 0.0}, {"stereo_link": 1.0}),
    "detector": ("sine", 4000.0, {"detector": "rms"}, {"detector": "peak"}),
    "sidechain-hpf": ("dc", None, {"sidechain_hpf_hz": 500.0}, {"sidechain_hpf_hz": 0.0}),
}


@pytest.mark.parametrize("case", list(RAMP_CASES))
def test_parameter_change_mid_stream_moves_gain_no_faster_than_the_ramp(case):
    # Channel 0: the program at -3 dBFS; channel 1: a constant probe far below
    # the knee, so y1/x1 is the applied gain at every sample (link 1, or the
    # link itself is the change).  Each change raises the gain reduction, which
    # the fast attack would turn into a step within a sample or two if the
    # parameter jumped (a fall is paced by the release anyway).  Ramped, the
    # target moves by at most delta*(1 - exp(-k/(RAMP_MS fs))) in k samples; a
    # peak detector on a sine takes up an increase only at the crests, so
    # there k is half a period.  The "dc" program (faded in over 50 ms, so the
    # high pass has no onset) is what the sidechain high pass removes entirely.
    program, freq, start, change = RAMP_CASES[case]
    seconds = 0.3
    if program == "flat":
        prog, hold = flat_tone(FS, -3.0, seconds), 1
    elif program == "dc":
        prog, hold = np.full(int(seconds * FS), 10 ** (-3.0 / 20)), 1
        fade = int(0.05 * FS)
        prog[:fade] *= 0.5 - 0.5 * np.cos(np.pi * np.arange(fade) / fade)
    else:
        prog, hold = sine(freq, FS, seconds, -3.0)[0], int(FS / freq / 2)
    probe = np.full_like(prog, 10 ** (-70 / 20))
    x = f32(np.vstack([prog, probe]))
    y = x.copy()
    params = dict(threshold_db=-12, ratio=4, knee_db=0, attack_ms=0.01, release_ms=5000,
                  stereo_link=1.0)
    comp = Compressor(FS, 2, **{**params, **start})
    half = x.shape[1] // 2
    a, b = y[:, :half].copy(), y[:, half:].copy()
    comp.process(a)
    comp.set(**change)
    comp.process(b)
    gain_db = 20 * np.log10(np.hstack([a, b])[1].astype(np.float64) / x[1])
    steps = np.abs(np.diff(gain_db))
    before = steps[half // 2: half - 1].max()
    after = steps[half - 1:].max()
    delta = gain_db[half - 1] - gain_db[-1]
    limit = delta * (1 - math.exp(-hold / (RAMP_MS * 1e-3 * FS))) + 2 * before + 1e-3
    assert delta > 1.0  # the change does raise the gain reduction
    assert after <= limit, (before, after, delta)


STARTS = {  # name: (parameters at start, change that starts a detector or filter)
    "peak-to-rms": ({}, {"detector": "rms"}),
    "hpf-on-rms": ({"detector": "rms"}, {"sidechain_hpf_hz": 200.0}),
    "hpf-on-peak": ({}, {"sidechain_hpf_hz": 200.0}),
}


@pytest.mark.parametrize("case", list(STARTS))
def test_detector_or_filter_switched_on_starts_warm_without_gain_bump(case):
    # Only the detector in use runs, so a switch starts one.  Program: a
    # steady flat-magnitude tone at fs/4 (|x|^2 is its mean square, so peak
    # and RMS read the same level) with a probe channel as in the ramp test.
    # The settled gain after the switch comes from the references: the curve
    # at the level the new detector sees, i.e. for the high pass the RBJ
    # filter (scipy.signal.lfilter) applied to the tone: its mean square, or
    # its sample peak (the filter's phase shift moves the samples).  The
    # gain must move only towards it: a cold filter or RMS averager shows up
    # as a gain bump (less or more reduction for a while) beyond either end.
    start, change = STARTS[case]
    seconds = 0.6
    prog = flat_tone(FS, -3.0, seconds)
    probe = np.full_like(prog, 10 ** (-70 / 20))
    x = f32(np.vstack([prog, probe]))
    y = x.copy()
    params = dict(threshold_db=-12, ratio=4, knee_db=0, attack_ms=0.01, release_ms=50,
                  stereo_link=1.0)  # a short release, so that a dip in reduction shows
    comp = Compressor(FS, 2, **{**params, **start})
    half = int(0.2 * FS)
    a_, b_ = y[:, :half].copy(), y[:, half:].copy()
    comp.process(a_)
    comp.set(**change)
    comp.process(b_)
    gain_db = 20 * np.log10(np.hstack([a_, b_])[1].astype(np.float64) / x[1])

    seen = prog
    if "sidechain_hpf_hz" in change:
        b, a = rbj_highpass(change["sidechain_hpf_hz"], FS, 1 / math.sqrt(2))
        seen = signal.lfilter(b, a, prog)
    tail = seen[-4800:]
    level = (rms_db(tail) if {**start, **change}.get("detector") == "rms"
             else 20 * np.log10(np.max(np.abs(tail))))
    want_before = -curve_gr_db(-3.0, -12, 4, 0)
    want_after = -curve_gr_db(float(level), -12, 4, 0)
    assert gain_db[half - 1] == pytest.approx(want_before, abs=0.01)
    assert gain_db[-1] == pytest.approx(want_after, abs=0.01)
    lo, hi = min(want_before, want_after), max(want_before, want_after)
    assert gain_db[half:].min() >= lo - 0.01
    assert gain_db[half:].max() <= hi + 0.01


@pytest.mark.parametrize("before,after", [("stereo", "mid-side"), ("mid-side", "stereo")])
def test_mode_switch_is_click_free(before, after):
    # Different gains in L and R (link 0), then switch mode: the output matrix
    # crossfades.  A click is broadband; the tones (1 kHz, 700 Hz) and their
    # gain modulation are not, so the output above 6 kHz (8th-order Butterworth
    # high pass, zero phase) measures it.  An instant switch here leaves about
    # 1.6e-2 (-36 dBFS); the ramp's start, a corner in the gain, ~4e-5.
    seconds = 0.3
    x = f32(np.vstack([sine(1000, FS, seconds, -3.0)[0], sine(700, FS, seconds, -30.0)[0]]))
    y = x.copy()
    comp = Compressor(FS, 2, threshold_db=-30, ratio=4, knee_db=0, stereo_link=0.0, mode=before)
    half = x.shape[1] // 2
    a, b = y[:, :half].copy(), y[:, half:].copy()
    comp.process(a)
    comp.set(mode=after)
    comp.process(b)
    out = np.hstack([a, b]).astype(np.float64)
    sos = signal.butter(8, 6000, "highpass", fs=FS, output="sos")
    hf = np.abs(signal.sosfiltfilt(sos, out, axis=1))
    around = hf[:, half - 1000: half + int(0.05 * FS)].max()
    assert around < 3e-4, around  # -70 dBFS


# ---- block size, reset, meters ----------------------------------------------------------


def run_in_blocks(comp: Compressor, x: np.ndarray, block: int) -> np.ndarray:
    y = x.copy()
    for s in range(0, y.shape[1], block):
        blk = np.ascontiguousarray(y[:, s:s + block])
        comp.process(blk)
        y[:, s:s + block] = blk
    return y


BLOCK_CASES = {
    "mono-peak-hpf": (1, dict(sidechain_hpf_hz=80.0, knee_db=0.0),
                      dict(threshold_db=-30.0, makeup_db=6.0)),
    "stereo-ms-rms": (2, dict(mode="mid-side", detector="rms", stereo_link=0.3,
                              sidechain_hpf_hz=150.0),
                      dict(mode="stereo", detector="peak", sidechain_hpf_hz=0.0)),
    "stereo-linked": (2, dict(stereo_link=1.0, knee_db=12.0),
                      dict(mode="mid-side", ratio=100.0)),
    "six-half-link": (6, dict(stereo_link=0.5, detector="rms", knee_db=12.0, attack_ms=0.5),
                      dict(stereo_link=0.0, release_ms=20.0, knee_db=0.0)),
}


@pytest.mark.parametrize("case", list(BLOCK_CASES))
def test_output_does_not_depend_on_block_size(case, rng):
    nch, params, change = BLOCK_CASES[case]
    n = 12000
    env = np.repeat(10 ** (rng.uniform(-40, 0, size=n // 1000) / 20), 1000)
    x = f32(rng.standard_normal((nch, n)) * env * 0.5)
    half = n // 2
    outs, meters = [], []
    for block in (n, 1, 64, 65, 8193):
        base = dict(threshold_db=-24.0, ratio=4.0, attack_ms=2.0, release_ms=80.0)
        comp = Compressor(FS, nch, **{**base, **params})
        first = run_in_blocks(comp, x[:, :half], block)
        comp.set(**change)
        second = run_in_blocks(comp, x[:, half:], block)
        outs.append(np.hstack([first, second]))
        meters.append(comp.gain_reduction_db)
    for out in outs[1:]:
        np.testing.assert_array_equal(out, outs[0])
    assert len(set(meters)) == 1
    assert not np.array_equal(outs[0], x)


def test_reset_restores_the_fresh_state(rng):
    x = f32(rng.standard_normal((2, 4800)) * 0.5)
    comp = Compressor(FS, 2, threshold_db=-30, ratio=6, detector="rms", sidechain_hpf_hz=100.0)
    comp.process(f32(rng.standard_normal((2, 4800))))
    comp.reset()
    y1 = x.copy()
    comp.process(y1)
    y2 = x.copy()
    Compressor(FS, 2, threshold_db=-30, ratio=6, detector="rms",
               sidechain_hpf_hz=100.0).process(y2)
    np.testing.assert_array_equal(y1, y2)


def test_meters_report_current_and_read_and_clear_peak_gain_reduction():
    comp = Compressor(FS, 1, threshold_db=-30, ratio=4, knee_db=0, attack_ms=1, release_ms=50)
    loud = f32(flat_tone(FS, -10, 0.1))
    comp.process(loud)
    full = curve_gr_db(-10, -30, 4, 0)
    assert comp.gain_reduction_db == pytest.approx(full, abs=0.01)
    quiet = f32(flat_tone(FS, -40, 0.5))
    comp.process(quiet)  # releases to ~0 within the block
    assert comp.gain_reduction_db < 0.01
    assert comp.take_max_gain_reduction_db() == pytest.approx(full, abs=0.01)
    assert comp.take_max_gain_reduction_db() == 0.0
    comp.process(quiet)
    assert comp.take_max_gain_reduction_db() < 0.01


def test_latency_is_zero_and_mono_accepts_1d():
    comp = Compressor(FS, 1)
    assert comp.latency_samples == 0
    x = sine(1000, FS, 0.05, -3.0)[0]
    y = x.copy()
    assert comp.process(y) is y
    assert not np.array_equal(y, x)


# ---- argument checking --------------------------------------------------------------------


@pytest.mark.parametrize("name,value,needle", [
    ("threshold_db", 1.0, "dBFS, expected -60..0"),
    ("threshold_db", -61.0, "dBFS, expected -60..0"),
    ("ratio", 0.5, "expected 1..100"),
    ("ratio", 101.0, "expected 1..100"),
    ("knee_db", 25.0, "dB, expected 0..24"),
    ("attack_ms", 0.001, "ms, expected 0.01..500"),
    ("release_ms", 6000.0, "ms, expected 1..5000"),
    ("makeup_db", 30.0, "dB, expected -24..24"),
    ("rms_window_ms", 0.5, "ms, expected 1..300"),
    ("stereo_link", 1.5, "expected 0..1"),
    ("sidechain_hpf_hz", 10.0, "Hz, expected 0 (off) or 20..500"),
    ("sidechain_hpf_hz", float("nan"), "Hz"),
    ("detector", "avg", "peak, rms"),
    ("mode", "ms", "stereo, mid-side"),
])
def test_out_of_range_parameter_raises_value_error_naming_unit_and_range(name, value, needle):
    comp = Compressor(FS, 2)
    with pytest.raises(ValueError, match=name) as err:
        comp.set(**{name: value})
    assert needle in str(err.value)
    with pytest.raises(ValueError, match=name):
        Compressor(FS, 2, **{name: value})


def test_bad_audio_is_refused_not_silently_copied():
    comp = Compressor(FS, 2)
    with pytest.raises(ValueError, match="float32"):
        comp.process(np.zeros((2, 16)))
    with pytest.raises(ValueError, match="shape"):
        comp.process(np.zeros((3, 16), dtype=np.float32))
    with pytest.raises(ValueError, match="contiguous"):
        comp.process(np.zeros((16, 2), dtype=np.float32).T)
    with pytest.raises(ValueError, match="fs"):
        Compressor(1000, 2)
    with pytest.raises(ValueError, match="channels"):
        Compressor(FS, 0)


def test_pedalboard_agrees_roughly_on_a_loud_steady_tone():
    # Sanity only (different design: JUCE's linear-domain ballistics): both
    # should take a -6 dBFS tone through -30 dBFS 4:1 down by roughly 18 dB.
    pedalboard = pytest.importorskip("pedalboard")
    x = sine(1000, FS, 0.5, -6.0)
    ref = pedalboard.Compressor(threshold_db=-30, ratio=4, attack_ms=1, release_ms=200)
    y_ref = ref.process(x.copy(), FS)
    y = x.copy()
    Compressor(FS, 1, threshold_db=-30, ratio=4, knee_db=0, attack_ms=1,
               release_ms=200).process(y)
    ours = float(rms_db(y[0, -4800:]) - rms_db(x[0, -4800:]))
    theirs = float(rms_db(y_ref[0, -4800:]) - rms_db(x[0, -4800:]))
    assert ours == pytest.approx(-18.0, abs=1.5)
    assert ours == pytest.approx(theirs, abs=3.0)
