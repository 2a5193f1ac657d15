"""True-peak meter against ITU-R BS.1770-4 Annex 2 and EBU Tech 3341.

References: the Tech 3341 true-peak cases 15-19 synthesised from their
definitions (/work/shared/REFERENCES.md), and an independent 16x
reconstruction by scipy.signal.resample_poly for random band-limited signals.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from host.dsp.limiter import TruePeakMeter, true_peak_dbtp

FS = 48000.0


def ebu_sine(fs: float, cycles_per_sample: float, phase_deg: float, amplitude: float,
             seconds: float = 0.5) -> np.ndarray:
    """Sine of the given amplitude (fraction of full scale) with 10 ms linear
    fades in and out, as in EBU Tech 3341 cases 15-19."""
    n = int(round(seconds * fs))
    k = np.arange(n)
    x = amplitude * np.sin(2 * np.pi * cycles_per_sample * k + np.deg2rad(phase_deg))
    fade = int(round(0.010 * fs))
    env = np.ones(n)
    env[:fade] = np.linspace(0.0, 1.0, fade)
    env[-fade:] = np.linspace(1.0, 0.0, fade)
    return (x * env).astype(np.float32)


def reference_dbtp(x: np.ndarray, up: int = 16) -> float:
    """Independent true peak: resample_poly x16 (Kaiser-windowed sinc), max |.|."""
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    pad = np.zeros((x.shape[0], 64))
    y = signal.resample_poly(np.concatenate([pad, x, pad], axis=1), up, 1, axis=1)
    return float(20 * np.log10(np.max(np.abs(y))))


def band_limited_noise(rng: np.random.Generator, n: int, top: float) -> np.ndarray:
    """White noise low-passed to `top` x fs (linear-phase FIR), peak 1.0."""
    taps = signal.firwin(255, 2 * top)
    x = signal.lfilter(taps, 1.0, rng.standard_normal(n + 512))[512:]
    return x / np.max(np.abs(x))


EBU_CASES = [
    # (case, cycles per sample, phase deg, amplitude, expected dBTP)
    (15, 1 / 4, 0.0, 0.50, -6.0),
    (16, 1 / 4, 45.0, 0.50, -6.0),
    (17, 1 / 6, 60.0, 0.50, -6.0),
    (18, 1 / 8, 67.5, 0.50, -6.0),
    (19, 1 / 4, 45.0, 1.41, 3.0),
]


@pytest.mark.parametrize("factor, under_db, over_db", [(4, 0.4, 0.2), (8, 0.15, 0.15)])
@pytest.mark.parametrize("case, cps, phase, amp, expected", EBU_CASES)
def test_ebu_tech3341_true_peak_cases_15_to_19(case, cps, phase, amp, expected, factor,
                                               under_db, over_db):
    x = ebu_sine(FS, cps, phase, amp)
    got = true_peak_dbtp(x, FS, oversample=factor)
    assert expected - under_db <= got <= expected + over_db, f"case {case}: {got:.3f} dBTP"


def test_sample_peak_fails_case_19_where_the_true_peak_meter_passes():
    """The case is discriminating: the samples of a fs/4 sine at 45 degrees sit
    3 dB below its peak."""
    x = ebu_sine(FS, 1 / 4, 45.0, 1.41)
    sample_peak_db = 20 * np.log10(np.max(np.abs(x)))
    assert sample_peak_db < 3.0 - 0.4 - 2.5
    assert true_peak_dbtp(x, FS) == pytest.approx(3.0, abs=0.2)


@pytest.mark.parametrize("factor, max_under_db", [(4, 0.69), (8, 0.17)])
def test_band_limited_noise_reads_within_the_grid_bound_of_a_16x_reference(rng, factor,
                                                                           max_under_db):
    """Per signal: under-read at most 1 - cos(pi / (2 factor)) of a peak at
    Nyquist, over-read at most 0.1 dB (filter ripple)."""
    diffs = []
    for _ in range(25):
        x = band_limited_noise(rng, 2048, top=0.40)
        diffs.append(true_peak_dbtp(x, FS, oversample=factor) - reference_dbtp(x))
    diffs = np.array(diffs)
    assert diffs.min() >= -max_under_db
    assert diffs.max() <= 0.1


def test_8x_reads_closer_to_the_reference_than_4x(rng):
    err4, err8 = [], []
    for _ in range(20):
        x = band_limited_noise(rng, 2048, top=0.45)
        ref = reference_dbtp(x)
        err4.append(abs(true_peak_dbtp(x, FS, 4) - ref))
        err8.append(abs(true_peak_dbtp(x, FS, 8) - ref))
    assert np.mean(err8) < np.mean(err4)


@pytest.mark.parametrize("fs, factor", [(44100.0, 4), (48000.0, 4), (88200.0, 4), (96000.0, 2),
                                        (176400.0, 2), (192000.0, 1)])
def test_default_factor_follows_bs1770_for_the_rate(fs, factor):
    assert TruePeakMeter(fs, 1).oversample == factor


def test_never_reads_below_the_sample_peak(rng):
    x = rng.uniform(-1, 1, 4096).astype(np.float32)
    for factor in (1, 2, 4, 8, 16):
        assert true_peak_dbtp(x, FS, factor) >= 20 * np.log10(np.max(np.abs(x))) - 1e-6


def test_a_peak_is_read_latency_samples_after_it_entered():
    """An impulse of 0.5 is read at its full value only once latency_samples
    more samples have arrived (before that, only the interpolator's lead-in)."""
    meter = TruePeakMeter(FS, 1)
    assert meter.latency_samples == 12
    meter.process(np.array([[0.0, 0.0, 0.5]], dtype=np.float32))
    meter.process(np.zeros((1, meter.latency_samples - 1), dtype=np.float32))
    assert meter.max_dbtp < 20 * np.log10(0.5) - 0.1
    meter.process(np.zeros((1, 1), dtype=np.float32))
    assert meter.max_dbtp == pytest.approx(20 * np.log10(0.5), abs=1e-6)


@pytest.mark.parametrize("block", [1, 64, 65, 8193])
def test_readings_do_not_depend_on_block_size(rng, block):
    n = 20000
    x = np.ascontiguousarray(rng.standard_normal((2, n)) * 0.3, dtype=np.float32)
    cuts = [0, 5000, 12345, n]
    whole = TruePeakMeter(FS, 2, 8)
    blocked = TruePeakMeter(FS, 2, 8)
    for a, b in zip(cuts[:-1], cuts[1:], strict=True):
        whole.process(x[:, a:b])
        for i in range(a, b, block):
            blocked.process(x[:, i:min(i + block, b)])
        assert blocked.max_dbtp_per_channel == whole.max_dbtp_per_channel


def test_per_channel_readings_and_audio_untouched():
    x = np.stack([ebu_sine(FS, 1 / 4, 45.0, 0.5), ebu_sine(FS, 1 / 8, 67.5, 0.25)])
    before = x.copy()
    meter = TruePeakMeter(FS, 2)
    meter.process(x)
    meter.flush()
    left, right = meter.max_dbtp_per_channel
    assert left == pytest.approx(-6.02, abs=0.05)
    assert right == pytest.approx(-12.04, abs=0.05)
    assert meter.max_dbtp == left
    assert np.array_equal(x, before)


def test_reset_clears_the_reading_and_silence_reads_minus_infinity():
    meter = TruePeakMeter(FS, 1)
    meter.process(np.ones((1, 100), dtype=np.float32))
    assert meter.max_dbtp > -1.0
    meter.reset()
    assert meter.max_dbtp == -np.inf
    meter.process(np.zeros((1, 100), dtype=np.float32))
    assert meter.max_dbtp == -np.inf


@pytest.mark.parametrize("kwargs, word", [
    ({"fs": 1000.0, "channels": 1}, "fs"),
    ({"fs": FS, "channels": 0}, "channels"),
    ({"fs": FS, "channels": 1, "oversample": 3}, "oversample"),
])
def test_bad_arguments_name_the_parameter(kwargs, word):
    with pytest.raises(ValueError, match=word):
        TruePeakMeter(**kwargs)


def test_wrong_channel_count_is_refused():
    with pytest.raises(ValueError, match="channel"):
        TruePeakMeter(FS, 2).process(np.zeros((1, 10), dtype=np.float32))
