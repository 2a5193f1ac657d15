"""Per-deliverable reports (host.offline.report): figures against independent references.

References: pyloudnorm (BS.1770 loudness), numpy.corrcoef (correlation),
scipy.signal.welch (spectrum estimate), scipy.signal.resample_poly (true-peak
envelope), and signals whose figures follow from their definition.
"""

from __future__ import annotations

import json
import math
import struct

import numpy as np
import pyloudnorm
import pytest
from scipy import signal

from conftest import sine
from host.offline.report import measure_loudness, measure_program, plot_report, write_report

FS = 48000


def _pinkish(rng: np.random.Generator, seconds: float, channels: int = 2,
             fs: int = FS) -> np.ndarray:
    """Noise falling 3 dB/octave (1/f power), with a slow level swell so LRA > 0."""
    n = int(seconds * fs)
    spec = np.fft.rfft(rng.standard_normal((channels, n)), axis=1)
    f = np.fft.rfftfreq(n, 1 / fs)
    spec[:, 1:] /= np.sqrt(f[1:] / 1000.0)
    spec[:, 0] = 0
    x = np.fft.irfft(spec, n, axis=1)
    x *= 0.1 / np.sqrt(np.mean(x ** 2))
    swell = 10 ** ((-8 + 8 * np.sin(2 * np.pi * np.arange(n) / n)) / 20)
    return np.ascontiguousarray(x * swell, dtype=np.float32)


def _burst_program(with_burst: bool, fs: int = FS) -> np.ndarray:
    """4 s of a 997 Hz sine at -6 dBFS on both channels; optionally a 50 ms
    burst at t = 2.0 s of fs/4 at 45 degrees phase, amplitude sqrt(2): its
    samples peak at 1.0 (0 dBFS) and its true peak is sqrt(2), +3.01 dBTP
    (EBU Tech 3341 test 19 style).  The burst fades in and out over 2 ms so the
    switch itself does not ring above the burst's own peak."""
    x = sine(997, fs, 4.0, -6.0, channels=2)
    if with_burst:
        n0, nb = int(2.0 * fs), int(0.05 * fs)
        k = np.arange(nb)
        env = np.ones(nb)
        ramp = int(0.002 * fs)
        env[:ramp] = np.sin(np.pi / 2 * (np.arange(ramp) + 0.5) / ramp) ** 2
        env[-ramp:] = env[:ramp][::-1]
        burst = math.sqrt(2) * np.sin(np.pi / 2 * k + np.pi / 4)
        x[:, n0:n0 + nb] = (env * burst + (1 - env) * x[0, n0:n0 + nb]).astype(np.float32)
    return x


# -- loudness ---------------------------------------------------------------------------

@pytest.mark.parametrize("channels", [1, 2])
def test_integrated_and_lra_match_pyloudnorm(rng, channels):
    x = _pinkish(rng, 20.0, channels)
    rep = measure_program(x, FS)
    meter = pyloudnorm.Meter(FS)
    ref_i = meter.integrated_loudness(x.T.astype(np.float64))
    ref_lra = meter.loudness_range(x.T.astype(np.float64))
    s = rep["summary"]
    assert abs(s["integrated_lufs"] - ref_i) < 0.1
    assert s["loudness_range_lu"] > 3.0  # the swell is there to be measured
    assert abs(s["loudness_range_lu"] - ref_lra) < 0.1
    tp = s["true_peak_dbtp"]
    assert s["plr_db"] == pytest.approx(tp - s["integrated_lufs"], abs=0.02)


def test_running_integrated_ends_at_the_program_integrated(rng):
    x = _pinkish(rng, 12.0)
    rep = measure_program(x, FS)
    ld = rep["loudness"]
    assert len(ld["time_s"]) == 120
    assert ld["time_s"][-1] == pytest.approx(12.0, abs=1e-9)
    assert abs(ld["integrated_lufs"][-1] - rep["summary"]["integrated_lufs"]) < 0.05
    # a running integrated is None until the first 400 ms gating block
    assert ld["integrated_lufs"][0] is None and ld["integrated_lufs"][5] is not None


def test_momentary_and_short_term_of_a_steady_sine_match_pyloudnorm():
    x = sine(1000, FS, 6.0, -20.0, channels=2)
    ld = measure_program(x, FS)["loudness"]
    ref = pyloudnorm.Meter(FS).integrated_loudness(x[:, :3 * FS].T.astype(np.float64))
    t = np.array(ld["time_s"])
    late = t >= 3.5  # both windows full of steady sine
    m = np.array(ld["momentary_lufs"])[late]
    s = np.array(ld["short_term_lufs"])[late]
    assert np.all(np.abs(m - ref) < 0.05)
    assert np.all(np.abs(s - ref) < 0.05)
    # momentary exists from 0.4 s on, short-term from 3 s on
    assert ld["momentary_lufs"][2] is None and ld["momentary_lufs"][4] is not None
    assert ld["short_term_lufs"][28] is None and ld["short_term_lufs"][30] is not None


# -- stereo ------------------------------------------------------------------------------

def test_correlation_of_identical_inverted_and_independent_channels(rng):
    a = rng.standard_normal(5 * FS).astype(np.float32) * 0.2
    b = rng.standard_normal(5 * FS).astype(np.float32) * 0.2
    same = measure_program(np.stack([a, a]), FS)
    inv = measure_program(np.stack([a, -a]), FS)
    ind = measure_program(np.stack([a, b]), FS)
    assert same["summary"]["correlation"] == pytest.approx(1.0, abs=1e-6)
    assert inv["summary"]["correlation"] == pytest.approx(-1.0, abs=1e-6)
    assert abs(ind["summary"]["correlation"]) < 0.05
    assert all(abs(r - 1.0) < 1e-4 for r in same["stereo"]["correlation"])
    assert all(abs(r + 1.0) < 1e-4 for r in inv["stereo"]["correlation"])


def test_windowed_correlation_matches_numpy_corrcoef(rng):
    n = 6 * FS
    common = rng.standard_normal(n)
    # the correlation drifts from +0.9 to -0.9 over the program
    w = np.linspace(0.9, -0.9, n)
    left = common
    right = w * common + np.sqrt(1 - w ** 2) * rng.standard_normal(n)
    x = np.stack([left, right]).astype(np.float32) * 0.25
    st = measure_program(x, FS)["stereo"]
    win = int(0.4 * FS)
    assert len(st["time_s"]) == 57  # windows ending at 0.4, 0.5, ... 6.0 s
    for t, r in zip(st["time_s"], st["correlation"], strict=True):
        end = int(round(t * FS))
        ref = np.corrcoef(x[0, end - win:end].astype(np.float64),
                          x[1, end - win:end].astype(np.float64))[0, 1]
        assert abs(r - ref) < 1e-3
    assert st["correlation"][0] > 0.8 and st["correlation"][-1] < -0.8


def test_correlation_windows_of_silence_are_none():
    x = sine(440, FS, 3.0, -10.0, channels=2)
    x[:, FS:2 * FS] = 0.0
    st = measure_program(x, FS)["stereo"]
    t = np.array(st["time_s"])
    r = st["correlation"]
    silent = [r[i] for i in np.flatnonzero((t >= 1.45) & (t <= 2.0))]
    assert silent and all(v is None for v in silent)
    assert r[int(np.argmin(np.abs(t - 0.9)))] == pytest.approx(1.0, abs=1e-6)


def _corrcoef_or_rule(x: np.ndarray, y: np.ndarray) -> float | None:
    """The old definition of a window's figure: numpy.corrcoef of the two
    channels in float64; None if both are constant, 0.0 if only one is."""
    x, y = x.astype(np.float64), y.astype(np.float64)
    cx, cy = np.ptp(x) == 0.0, np.ptp(y) == 0.0
    if cx and cy:
        return None
    if cx or cy:
        return 0.0
    return float(np.corrcoef(x, y)[0, 1])


@pytest.mark.parametrize(("fs", "hop_s"), [(48000, 0.1), (44100, 0.013), (48000, 1.0),
                                           (96000, 0.03), (8000, 0.5)])
def test_windowed_correlation_equals_numpy_corrcoef_per_window_at_any_rate_and_hop(
        rng, fs, hop_s):
    """The window sums (no dot product per window) give each window's
    numpy.corrcoef to the report's 4 decimals, at hops that do and do not
    divide the 400 ms window, through the cases sums get wrong if done
    naively: a DC offset, digital silence, one constant channel, and a
    -110 dBFS tail after a loud DC-offset part (a running total would
    cancel it away)."""
    n = int(5.0 * fs)
    common = rng.standard_normal(n)
    x = np.stack([common, 0.6 * common + 0.8 * rng.standard_normal(n)]) * 0.2
    x[0] += 0.3                                        # DC on the left
    x[:, int(1.5 * fs):int(2.2 * fs)] = 0.0            # digital silence
    x[0, int(2.6 * fs):int(3.4 * fs)] = 0.25           # one channel constant
    x[:, int(4.2 * fs):] = 10 ** (-110 / 20) * rng.standard_normal((2, n - int(4.2 * fs)))
    x = x.astype(np.float32)
    st = measure_program(x, fs, hop_s=hop_s)["stereo"]
    win = int(round(0.4 * fs))
    hop = int(round(hop_s * fs))
    ends = np.arange(hop, n + 1, hop)
    ends = ends[ends >= win]
    assert st["time_s"] == pytest.approx(ends / fs, abs=6e-4)
    kinds = set()
    for end, r in zip(ends, st["correlation"], strict=True):
        ref = _corrcoef_or_rule(x[0, end - win:end], x[1, end - win:end])
        if ref is None:
            assert r is None, end
            kinds.add("silent")
        else:
            assert r is not None and abs(r - ref) <= 0.5e-4 + 1e-9, (end / fs, r, ref)
            kinds.add("constant" if ref == 0.0 else "quiet" if end > 4.7 * fs else "signal")
    assert kinds == {"silent", "constant", "quiet", "signal"}


def test_correlation_windows_carry_their_level_and_the_quiet_threshold(rng):
    """Each window's level is the RMS of both channels, its own mean removed
    (what decides whether its correlation means anything), dBFS; None for
    silence.  The threshold below which the plot greys a window is in the report."""
    x = (rng.standard_normal((2, 3 * FS)) * 0.1).astype(np.float32)
    x[:, 2 * FS:] *= 10 ** (-60 / 20)        # the last second 60 dB down
    x[:, FS:int(1.6 * FS)] = 0.0
    st = measure_program(x, FS)["stereo"]
    win = int(0.4 * FS)
    for t, level in zip(st["time_s"], st["level_dbfs"], strict=True):
        w = x[:, int(round(t * FS)) - win:int(round(t * FS))].astype(np.float64)
        power = np.mean((w - w.mean(axis=1, keepdims=True)) ** 2)
        if power == 0.0:
            assert level is None
        else:
            assert level == pytest.approx(10 * np.log10(power), abs=0.06)
    assert st["quiet_dbfs"] == -50.0
    assert st["level_dbfs"][-1] == pytest.approx(-80.0, abs=0.5)


def test_quiet_correlation_windows_are_greyed_not_drawn_as_a_phase_fault(rng):
    """3 s of correlated program, then a 1 s post-roll of an inverted noise
    floor at -70 dBFS (correlation -1, a 'phase fault' if drawn as one): the
    stereo panel draws the program's correlation in colour and the post-roll's
    windows greyed, with no red fill and a legend saying why."""
    from matplotlib.figure import Figure

    from host.offline.report import _plot_stereo

    a = rng.standard_normal(3 * FS) * 0.2
    floor = rng.standard_normal(FS) * 10 ** (-70 / 20)
    x = np.stack([np.r_[a, floor], np.r_[0.9 * a, -floor]]).astype(np.float32)
    rep = measure_program(x, FS)
    t = np.array(rep["stereo"]["time_s"])
    ax = Figure().add_subplot()
    _plot_stereo(ax, rep)
    drawn = [ln for ln in ax.get_lines() if ln.get_color() == "purple"]
    assert len(drawn) == 1
    y = np.asarray(drawn[0].get_ydata(), dtype=float)
    quiet = t > 3.0 + 0.4                                   # windows wholly in the post-roll
    assert np.all(np.isnan(y[quiet])) and np.all(y[t <= 3.0] > 0.99)
    red = [c for c in ax.collections if c.get_facecolor().size
           and np.allclose(c.get_facecolor()[0][:3], (1.0, 0.0, 0.0))]
    assert all(not len(p.vertices) or p.vertices[:, 0].max() <= 3.0 + 1e-9
               for c in red for p in c.get_paths())
    assert [t.get_text() for t in ax.get_legend().get_texts()] == \
        ["window below -50 dBFS RMS: not judged"]


def test_measure_loudness_of_an_input_agrees_with_pyloudnorm_and_the_full_report():
    """A master's 'before' (measure_loudness) is the loudness part of
    measure_program: the same history, integrated loudness and LRA."""
    x = _pinkish(np.random.default_rng(4), 12.0)
    before = measure_loudness(x, FS)
    full = measure_program(x, FS)
    assert before["loudness"] == full["loudness"]
    assert before["integrated_lufs"] == full["summary"]["integrated_lufs"]
    assert before["loudness_range_lu"] == full["summary"]["loudness_range_lu"]
    ref = pyloudnorm.Meter(FS).integrated_loudness(x.T.astype(np.float64))
    assert before["integrated_lufs"] == pytest.approx(ref, abs=0.1)


def test_a_masters_plot_draws_the_input_beside_the_output():
    """With ``before`` the loudness panel draws the input's short-term
    loudness (its own data) and integrated level, and names both LRAs."""
    from matplotlib.figure import Figure

    from host.offline.report import _plot_loudness

    rng = np.random.default_rng(6)
    x = _pinkish(rng, 10.0)
    louder = np.clip(x * 3.0, -1, 1)
    before, rep = measure_loudness(x, FS), measure_program(louder, FS)
    ax = Figure().add_subplot()
    _plot_loudness(ax, rep, before)
    lines = {ln.get_label(): ln for ln in ax.get_lines()}
    lra_in = f"{before['loudness_range_lu']:.1f} LU"
    lra_out = f"{rep['summary']['loudness_range_lu']:.1f} LU"
    mine = lines[f"input short-term (LRA {lra_in})"]
    assert np.array_equal(np.asarray(mine.get_ydata(), dtype=float),
                          np.array([np.nan if v is None else v for v in
                                    before["loudness"]["short_term_lufs"]]), equal_nan=True)
    assert f"output short-term (LRA {lra_out})" in lines
    assert f"input integrated {before['integrated_lufs']:.1f} LUFS" in lines
    assert f"LRA {lra_in}" in ax.get_title(loc="left") and \
        f"LRA {lra_out}" in ax.get_title(loc="left")


def test_mono_loss_identical_independent_and_cancelling(rng):
    a = rng.standard_normal(8 * FS).astype(np.float32) * 0.1
    b = rng.standard_normal(8 * FS).astype(np.float32) * 0.1
    same = measure_program(np.stack([a, a]), FS)["summary"]
    ind = measure_program(np.stack([a, b]), FS)["summary"]
    inv = measure_program(np.stack([a, -a]), FS)["summary"]
    assert same["mono_loss_lu"] == pytest.approx(0.0, abs=0.01)
    assert same["mono_cancels"] is False
    assert ind["mono_loss_lu"] == pytest.approx(10 * math.log10(2), abs=0.2)
    assert inv["mono_loss_lu"] is None and inv["mono_cancels"] is True


def test_mono_program_has_no_stereo_figures():
    rep = measure_program(sine(440, FS, 2.0, -10.0)[0], FS)
    s = rep["summary"]
    assert s["channels"] == 1
    assert s["correlation"] is None and s["mono_loss_lu"] is None and s["mono_cancels"] is None
    assert rep["stereo"] is None and list(rep["spectrum"]["level_db"]) == ["mid"]


# -- spectrum ----------------------------------------------------------------------------

def _band_of(spec: dict, f_hz: float) -> int:
    lo, hi = np.array(spec["band_lo_hz"]), np.array(spec["band_hi_hz"])
    return int(np.flatnonzero((lo <= f_hz) & (f_hz < hi))[0])


@pytest.mark.parametrize("channels", [1, 2])
def test_full_scale_sine_reads_0_db_in_its_band(channels):
    spec = measure_program(sine(1000, FS, 5.0, 0.0, channels=channels), FS)["spectrum"]
    mid = spec["level_db"]["mid"]
    i = _band_of(spec, 1000.0)
    assert abs(mid[i]) < 0.5
    for f in (250.0, 4000.0):  # two octaves away
        j = _band_of(spec, f)
        assert mid[j] is None or mid[j] < mid[i] - 60
    if channels == 2:  # L = R: nothing on the side
        side = spec["level_db"]["side"]
        assert side[i] is None or side[i] < -100
    f = np.array(spec["freq_hz"])
    assert f[0] == pytest.approx(19.7, abs=0.1) and f[-1] < 20500
    assert np.allclose(np.diff(np.log2(f)), 1 / 6, atol=1e-3)


@pytest.mark.parametrize("freq_hz", [31.5, 100.0, 5000.0])
def test_sine_at_minus_12_dbfs_reads_minus_12_db(freq_hz):
    spec = measure_program(sine(freq_hz, FS, 6.0, -12.0), FS)["spectrum"]
    assert spec["level_db"]["mid"][_band_of(spec, freq_hz)] == pytest.approx(-12.0, abs=0.5)


def test_band_levels_sum_welch_power_of_noise(rng):
    """Broadband: the band powers integrate scipy.signal.welch's estimate."""
    x = _pinkish(rng, 10.0, channels=2)
    spec = measure_program(x, FS)["spectrum"]
    side = (x[0].astype(np.float64) - x[1]) / 2
    f, p = signal.welch(side, FS, window="hann", nperseg=8192, scaling="density")
    df = f[1] - f[0]
    for i in range(0, len(spec["freq_hz"]), 4):
        lo, hi = spec["band_lo_hz"][i], spec["band_hi_hz"][i]
        if hi - lo < 8 * df:  # the reference needs many bins per band
            continue
        sel = (f >= lo) & (f < hi)
        ref = 10 * math.log10(p[sel].sum() * df / 0.5)
        assert spec["level_db"]["side"][i] == pytest.approx(ref, abs=0.6)


# -- true peak and overs -----------------------------------------------------------------

def test_burst_above_ceiling_is_exactly_one_over():
    rep = measure_program(_burst_program(True), FS, ceiling_dbtp=-1.0)
    overs = rep["overs"]
    assert len(overs) == 1 and rep["summary"]["overs_count"] == 1
    o = overs[0]
    assert abs(o["time_s"] - 2.0) < 0.015
    assert 2.0 - 0.015 < o["peak_time_s"] < 2.05 + 0.015
    assert abs(o["end_s"] - 2.05) < 0.015
    assert o["dbtp"] == pytest.approx(20 * math.log10(math.sqrt(2)), abs=0.3)
    assert o["channel"] == 1
    assert rep["summary"]["overs_ceiling_dbtp"] == -1.0
    assert rep["summary"]["sample_peak_dbfs"] == pytest.approx(0.0, abs=0.01)


def test_no_burst_no_over():
    rep = measure_program(_burst_program(False), FS, ceiling_dbtp=-1.0)
    assert rep["overs"] == [] and rep["summary"]["overs_count"] == 0
    assert rep["summary"]["true_peak_dbtp"] == pytest.approx(-6.02, abs=0.05)


def test_overs_closer_than_10_ms_merge_and_farther_ones_do_not():
    x = sine(997, FS, 3.0, -20.0)
    for t0 in (1.0, 1.006, 2.0, 2.03):  # 2 ms clicks: 6 ms apart, then 30 ms apart
        i = int(t0 * FS)
        x[0, i:i + 96] = 0.95
    over = measure_program(x, FS, ceiling_dbtp=-1.0)["overs"]
    assert [round(o["time_s"], 2) for o in over] == [1.0, 2.0, 2.03]
    assert abs(over[0]["end_s"] - 1.008) < 0.0025


def test_overs_on_the_second_channel_name_it():
    x = _burst_program(True)
    x[0] = sine(997, FS, 4.0, -6.0)[0]
    o = measure_program(x, FS, ceiling_dbtp=-1.0)["overs"]
    assert len(o) == 1 and o[0]["channel"] == 2


def test_default_ceiling_is_0_dbtp():
    rep = measure_program(_burst_program(True), FS)
    assert rep["summary"]["overs_ceiling_dbtp"] == 0.0 and len(rep["overs"]) == 1


@pytest.mark.parametrize("fs", [44100, 48000])
def test_true_peak_envelope_matches_4x_polyphase_reference(rng, fs):
    x = (rng.standard_normal((2, 3 * fs)) * 0.2).astype(np.float32)
    rep = measure_program(x, fs, hop_s=0.1)
    tp = rep["true_peak"]
    up = np.abs(signal.resample_poly(x.astype(np.float64), 4, 1, axis=1)).max(axis=0)
    hop = int(round(0.1 * fs)) * 4
    ref = [20 * math.log10(up[i * hop:(i + 1) * hop].max()) for i in range(len(tp["dbtp"]))]
    assert np.max(np.abs(np.array(tp["dbtp"]) - ref)) < 0.1
    assert max(tp["dbtp"]) == pytest.approx(rep["summary"]["true_peak_dbtp"], abs=0.01)
    assert tp["time_s"][-1] == pytest.approx(3.0)


# -- gain reduction ----------------------------------------------------------------------

def test_gain_reduction_is_kept_and_thinned_to_2000_points_keeping_its_peaks():
    t = np.arange(10000) * 0.01
    g = np.abs(np.sin(t)) * 3.0
    g[7777] = 9.5
    rep = measure_program(sine(100, FS, 1.0, -10.0), FS,
                          gain_reduction={"bus comp": (t, g), "limiter": (t[:50], g[:50])})
    gr = rep["gain_reduction"]
    assert len(gr["bus comp"]["gr_db"]) == 2000 and len(gr["limiter"]["gr_db"]) == 50
    assert gr["bus comp"]["max_db"] == 9.5 and max(gr["bus comp"]["gr_db"]) == 9.5
    i = gr["bus comp"]["gr_db"].index(9.5)
    assert gr["bus comp"]["time_s"][i] == pytest.approx(77.77)
    assert np.all(np.diff(gr["bus comp"]["time_s"]) > 0)


# -- JSON and PNG ------------------------------------------------------------------------

def _demo_program(fs: int = FS, seconds: float = 20.0) -> tuple[np.ndarray, dict]:
    """A realistic master: kick, snare, bass, hats, a wide pad, a breakdown with
    the pad out of phase (12..14 s), a crescendo, bus compression and a -1 dBTP limiter with
    +8 dB into it, then two intentional overs put in after the limiter."""
    from host.dsp.compressor import Compressor
    from host.dsp.limiter import Limiter

    rng = np.random.default_rng(7)
    n = int(seconds * fs)
    t = np.arange(n) / fs
    beat = 0.5  # 120 BPM
    ph = t % beat
    kick = np.sin(2 * np.pi * (45 * ph + 60 * 0.03 * (1 - np.exp(-ph / 0.03)))) * np.exp(-ph / 0.15)
    sn_ph = (t + beat / 2) % (2 * beat)
    snare = signal.lfilter(*signal.butter(2, [200, 6000], "bandpass", fs=fs),
                           rng.standard_normal(n)) * np.exp(-sn_ph / 0.08) * (sn_ph < 0.4)
    bass_f = np.where((t // 2) % 2 == 0, 55.0, 73.4)
    bass = 0.5 * np.sin(2 * np.pi * np.cumsum(bass_f) / fs)
    hat = signal.lfilter(*signal.butter(2, 7000, "highpass", fs=fs), rng.standard_normal((2, n)))
    hat *= np.exp(-((t % (beat / 2)) / 0.02))
    pad = np.empty((2, n))
    pad[0] = sum(np.sin(2 * np.pi * f * t + p) for f, p in ((220, 0.0), (277, 1.0), (330, 2.0)))
    pad[1] = sum(np.sin(2 * np.pi * f * t + p) for f, p in ((221, 0.3), (276, 1.7), (331, 2.9)))
    brk = (t > 12.0) & (t < 14.0)  # a breakdown: drums and bass out, the pad badly phased
    pad[1, brk] = -pad[0, brk]
    drums_on = np.convolve(np.where(brk, 0.0, 1.0), np.ones(480) / 480, mode="same")
    kick, snare, bass = kick * drums_on, snare * drums_on, bass * drums_on
    swell = 10 ** ((np.clip(t, 0, 16) / 16 * 10 - 10) / 20)  # +10 dB crescendo
    mix = np.empty((2, n))
    for c in (0, 1):
        mix[c] = 0.9 * kick + 0.3 * snare + bass + 0.05 * hat[c] + 0.2 * pad[c]
    mix *= 0.25 * swell
    x = mix.astype(np.float32)
    comp = Compressor(fs, 2, threshold_db=-16.0, ratio=2.0, attack_ms=30.0, release_ms=120.0)
    lim = Limiter(fs, 2, ceiling_dbtp=-1.0)
    gain = np.float32(10 ** (8 / 20))
    block = int(0.01 * fs)
    out = np.zeros((2, n + lim.latency_samples), dtype=np.float32)
    gr_c, gr_l = [], []
    for s in range(0, n + lim.latency_samples, block):
        b = np.zeros((2, block), dtype=np.float32)
        e = min(n, s + block)
        if s < n:
            b[:, :e - s] = x[:, s:e]
        b = comp.process(np.ascontiguousarray(b)) * gain
        b = np.ascontiguousarray(b, dtype=np.float32)
        lim.process(b)
        out[:, s:s + block] = b[:, :min(block, out.shape[1] - s)]
        gr_c.append(comp.take_max_gain_reduction_db())
        gr_l.append(lim.take_max_gain_reduction_db())
    y = np.ascontiguousarray(out[:, lim.latency_samples:])
    bump = np.hanning(480)
    for t0, peak in ((6.3, 1.12), (15.05, 1.2)):  # two intentional overs (10 ms bumps)
        i = int(t0 * fs)
        if i + 480 <= n:
            k = peak / float(np.abs(y[:, i:i + 480]).max())
            y[:, i:i + 480] *= (1 + (k - 1) * bump).astype(np.float32)
    tb = np.arange(len(gr_c)) * block / fs
    return y, {"bus comp": (tb, np.array(gr_c)), "limiter": (tb, np.array(gr_l))}


def test_report_json_has_no_nan_and_png_is_a_readable_1600x1800_image(tmp_path):
    import matplotlib.image as mpimg

    x, gr = _demo_program(seconds=8.0)
    rep = measure_program(x, FS, ceiling_dbtp=-1.0, gain_reduction=gr)
    rep["target_lufs"] = -14.0
    jp, pp = tmp_path / "m.json", tmp_path / "m.png"
    write_report(jp, pp, rep, "demo - streaming")
    text = jp.read_text()
    back = json.loads(text)
    json.dumps(back, allow_nan=False)
    assert back["summary"] == rep["summary"] and back["overs"] == rep["overs"]
    assert len(back["overs"]) == 1  # the over at 6.3 s
    head = pp.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    w, h = struct.unpack(">II", head[16:24])
    assert (w, h) == (1600, 1800)
    img = mpimg.imread(pp)
    assert img.shape[:2] == (1800, 1600) and float(img[..., :3].std()) > 0.05
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json", "m.png"]  # no temp left


def test_plot_of_a_mono_short_program_without_dynamics_still_draws(tmp_path):
    rep = measure_program(sine(440, FS, 0.3, -10.0)[0], FS)  # shorter than any window
    assert rep["summary"]["integrated_lufs"] is None
    json.dumps(rep, allow_nan=False)
    plot_report(rep, tmp_path / "short.png", "short")
    assert (tmp_path / "short.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("frames", [1, 2])
def test_a_one_or_two_frame_program_reports_and_draws(tmp_path, frames):
    """One frame had a Hann window of one zero, and its spectrum divided by it."""
    rep = measure_program(np.full((2, frames), 0.1, dtype=np.float32), FS)
    json.dumps(rep, allow_nan=False)
    assert set(rep["spectrum"]["level_db"]["mid"]) == {None}  # no power once the mean is off
    plot_report(rep, tmp_path / "tiny.png", "tiny")


def test_silence_reports_none_not_nan(tmp_path):
    rep = measure_program(np.zeros((2, 2 * FS), dtype=np.float32), FS)
    json.dumps(rep, allow_nan=False)
    s = rep["summary"]
    assert s["integrated_lufs"] is None and s["true_peak_dbtp"] is None
    assert s["correlation"] is None and s["mono_cancels"] is False
    plot_report(rep, tmp_path / "silence.png", "silence")


# -- bad input ---------------------------------------------------------------------------

@pytest.mark.parametrize("data, expected", [
    (np.zeros((2, 10, 3), dtype=np.float32), "data: expected planar audio"),
    (np.zeros((2, 0), dtype=np.float32), "data: expected at least one frame"),
    (np.zeros((48000, 2), dtype=np.float32), "pass data.T"),
    (np.full((2, 100), np.nan, dtype=np.float32), "data: expected finite samples"),
])
def test_bad_data_is_a_one_line_value_error_naming_data(data, expected):
    with pytest.raises(ValueError, match=expected) as exc:
        measure_program(data, FS)
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize("kwargs, expected", [
    ({"hop_s": 0.001}, "hop_s: expected 0.01..60 s"),
    ({"ceiling_dbtp": "loud"}, "ceiling_dbtp: expected a level in dBTP"),
    ({"gain_reduction": {"comp": ([0, 1], [0.0])}}, r"gain_reduction\['comp'\]"),
])
def test_bad_options_name_their_key(kwargs, expected):
    with pytest.raises(ValueError, match=expected):
        measure_program(np.zeros((2, FS), dtype=np.float32), FS, **kwargs)


def test_write_report_refuses_nan(tmp_path):
    with pytest.raises(ValueError, match="report: expected JSON-ready"):
        write_report(tmp_path / "a.json", tmp_path / "a.png", {"x": float("nan")}, "t")
    assert list(tmp_path.iterdir()) == []
