"""Multiband compressor (native/multiband.c on native/crossover.c, host/dsp/multiband.py).

References: scipy.signal.butter and freqz / lfilter (the Linkwitz-Riley low
and high passes as squared Butterworths, their sums as the crossover
allpass, the bands as filter chains), the compressor kernel run alone on a
band, and the kernel's own output cut into blocks of other sizes.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from conftest import sine
from host.dsp.compressor import Compressor
from host.dsp.multiband import Multiband

FS = 48000.0
SLOPES = {"lr2": 2, "lr4": 4, "lr8": 8}


def impulse_response(mb: Multiband, n: int, channels: int = 2) -> np.ndarray:
    x = np.zeros((channels, n), dtype=np.float32)
    x[:, 0] = 0.5
    return mb.process(x)[0].astype(np.float64) / 0.5


def lr_pair(order: int, fc: float, fs: float) -> tuple[np.ndarray, np.ndarray]:
    """Second-order sections of the Linkwitz-Riley low and high pass of
    ``order``: a Butterworth of half the order, twice (scipy)."""
    lo = signal.butter(order // 2, fc, "low", fs=fs, output="sos")
    hi = signal.butter(order // 2, fc, "high", fs=fs, output="sos")
    return np.vstack([lo, lo]), np.vstack([hi, hi])


def allpass_response(order: int, xo: list[float], f: np.ndarray, fs: float) -> np.ndarray:
    """The crossovers' allpass: product over crossovers of LP + HP (LR2: LP - HP)."""
    h = np.ones(len(f), dtype=complex)
    for fc in xo:
        lo, hi = lr_pair(order, fc, fs)
        _, hl = signal.sosfreqz(lo, worN=f, fs=fs)
        _, hh = signal.sosfreqz(hi, worN=f, fs=fs)
        h *= hl + (hh if order != 2 else -hh)
    return h


def band_filter(order: int, xo: list[float], k: int, x: np.ndarray, fs: float) -> np.ndarray:
    """Band k of the tree, in float64 with scipy: the high passes of the
    crossovers below it (LR2: inverted), its own low pass (none for the top
    band), and the allpasses LP + HP (LR2: LP - HP) of the crossovers above
    the next one, which it does not meet."""
    sign = -1.0 if order == 2 else 1.0
    y = np.asarray(x, dtype=np.float64)
    for j in range(k):
        y = signal.sosfilt(lr_pair(order, xo[j], fs)[1], y) * sign
    if k < len(xo):
        y = signal.sosfilt(lr_pair(order, xo[k], fs)[0], y)
        for j in range(k + 1, len(xo)):
            lo, hi = lr_pair(order, xo[j], fs)
            y = signal.sosfilt(lo, y) + sign * signal.sosfilt(hi, y)
    return y


XOS = {2: [1000.0], 3: [200.0, 3000.0], 4: [120.0, 1000.0, 6000.0],
       5: [80.0, 400.0, 2000.0, 9000.0]}


@pytest.mark.parametrize("fs", [44100.0, 48000.0, 96000.0])
@pytest.mark.parametrize("slope", list(SLOPES))
@pytest.mark.parametrize("bands", [2, 3, 4, 5])
def test_unity_bands_sum_to_the_crossover_allpass_flat_within_0_01_db(fs, slope, bands):
    xo = XOS[bands]
    mb = Multiband(fs, 2, xo, slope=slope, ratio=1.0, makeup_db=0.0)
    n = 1 << 17
    h = np.fft.rfft(impulse_response(mb, n))
    f = np.fft.rfftfreq(n, 1.0 / fs)
    audio = (f >= 20.0) & (f <= 20000.0)
    mag_db = 20 * np.log10(np.abs(h[audio]))
    assert np.max(np.abs(mag_db)) < 0.01, np.max(np.abs(mag_db))
    # and it is that allpass, phase included (scipy's, from Butterworth sections)
    expect = allpass_response(SLOPES[slope], xo, f[audio], fs)
    err_db = 20 * np.log10(np.max(np.abs(h[audio] - expect)))
    assert err_db < -100.0, err_db


@pytest.mark.parametrize("slope", list(SLOPES))
def test_a_soloed_band_at_ratio_1_is_the_scipy_band_filter(slope, rng):
    xo = XOS[4]
    x = (rng.standard_normal((2, 24000)) * 0.2).astype(np.float32)
    for k in range(4):
        mb = Multiband(FS, 2, xo, slope=slope, ratio=1.0, bands=[
            {"solo": j == k} for j in range(4)])
        y = mb.process(x.copy()).astype(np.float64)
        ref = band_filter(SLOPES[slope], xo, k, x.astype(np.float64), FS)
        err = np.sqrt(np.mean((y - ref) ** 2)) / np.sqrt(np.mean(x.astype(float) ** 2))
        assert 20 * np.log10(err) < -120.0, (k, 20 * np.log10(err))


def test_each_band_is_the_compressor_kernel_on_that_band(rng):
    """Band 2 soloed, compressing: the output equals the compressor kernel run
    alone on the band as scipy filters it (the only difference: the band's
    rounding to float32 before either compressor)."""
    xo = XOS[4]
    params = dict(threshold_db=-30.0, ratio=4.0, knee_db=3.0, attack_ms=2.0, release_ms=60.0,
                  makeup_db=2.0, detector="rms", rms_window_ms=5.0, stereo_link=0.5,
                  sidechain_hpf_hz=0.0)
    x = (rng.standard_normal((2, 48000)) * 0.3).astype(np.float32)
    mb = Multiband(FS, 2, xo, bands=[{"solo": k == 2} for k in range(4)], **params)
    y = mb.process(x.copy())
    band = np.ascontiguousarray(band_filter(4, xo, 2, x.astype(np.float64), FS),
                                dtype=np.float32)
    ref = Compressor(FS, 2, **params).process(band)
    err = np.max(np.abs(y - ref)) / np.max(np.abs(ref))
    assert err < 1e-5, err   # -100 dB


def test_gain_reduction_is_metered_per_band_and_only_where_the_signal_is():
    """A loud 2.5 kHz sine, bands split at 200 / 1000 / 6000 Hz: band 3 (1-6 kHz)
    reads the compressor's static curve for that sine (RMS detector, hard knee:
    (L - T)(1 - 1/R), L its RMS level); bands 1, 2 and 4 hear only the crossover
    skirts and read almost nothing."""
    x = sine(2500.0, FS, 2.0, peak_dbfs=-6.0, channels=2)
    mb = Multiband(FS, 2, [200.0, 1000.0, 6000.0], threshold_db=-30.0, ratio=4.0, knee_db=0.0,
                   detector="rms", rms_window_ms=20.0, attack_ms=5.0, release_ms=50.0)
    mb.process(x[:, :FS_INT].copy())
    mb.take_gain_reduction_meters_db()
    mb.process(x[:, FS_INT:].copy())
    gr = mb.take_gain_reduction_meters_db()
    # the band's level: the sine through its band filter, by scipy
    level = 20 * np.log10(np.abs(band_gain(2, 2500.0)) * 10 ** (-6 / 20) / np.sqrt(2))
    expect = (level + 30.0) * (1 - 1 / 4)
    assert gr[2] == pytest.approx(expect, abs=0.1)
    assert max(gr[0], gr[1], gr[3]) < 0.05 * gr[2]
    assert mb.meter_names[2] == "band 3 (1000-6000 Hz)"


FS_INT = int(FS)


def band_gain(k: int, f: float) -> complex:
    """Band k's response at f (the filter chain of band_filter, by freqz)."""
    xo = [200.0, 1000.0, 6000.0]
    imp = np.zeros(1 << 15)
    imp[0] = 1.0
    h = band_filter(4, xo, k, imp, FS)
    return complex(np.sum(h * np.exp(-2j * np.pi * f / FS * np.arange(len(h)))))


def test_mute_bypass_and_solo_select_and_pass_bands(rng):
    """Muted band: the others' sum; bypassed band: its uncompressed band beside
    the compressed others; solo of two bands: their sum (band filters by scipy,
    the compressors alone on them)."""
    xo = [300.0, 3000.0]
    comp = dict(threshold_db=-40.0, ratio=6.0, knee_db=0.0, detector="rms", attack_ms=1.0)
    x = (rng.standard_normal((2, 24000)) * 0.3).astype(np.float32)
    bands = [np.ascontiguousarray(band_filter(4, xo, k, x.astype(np.float64), FS),
                                  dtype=np.float32) for k in range(3)]
    comped = [Compressor(FS, 2, **comp).process(b.copy()) for b in bands]

    def run(tables):
        return Multiband(FS, 2, xo, bands=tables, **comp).process(x.copy())

    def close(a, b):   # within -100 dB of the peak
        return np.max(np.abs(a - b)) <= 1e-5 * np.max(np.abs(b))

    assert close(run([{}, {"mute": True}, {}]), comped[0] + comped[2])
    assert close(run([{}, {"bypass": True}, {}]), comped[0] + bands[1] + comped[2])
    assert close(run([{"solo": True}, {}, {"solo": True}]), comped[0] + comped[2])
    assert close(run([{"solo": True, "mute": True}, {}, {"solo": True}]), comped[2])


@pytest.mark.parametrize("slope", list(SLOPES))
def test_output_does_not_depend_on_block_size(slope, rng):
    """Compressing, with parameter changes and a crossover move between blocks
    at the same absolute positions: 16, 64, 1024 frames (and 1, 65, 8193) give
    the same bits as the whole signal at once."""
    x = (rng.standard_normal((2, 20000)) * 0.3).astype(np.float32)

    def run(block: int) -> np.ndarray:
        mb = Multiband(FS, 2, [150.0, 1200.0, 7000.0], slope=slope, threshold_db=-24.0,
                       ratio=3.0, detector="rms")
        out = x.copy()
        changes = {4096: dict(band=1, threshold_db=-36.0, makeup_db=3.0),
                   8192: dict(band=2, bypass=True), 12288: dict(crossovers_hz=[200., 1000., 7000.]),
                   16384: dict(band=0, mute=True)}
        for start in range(0, x.shape[1], block):
            for at, ch in changes.items():
                if start == at:
                    mb.set(**ch)
            part = np.ascontiguousarray(out[:, start:start + block])
            out[:, start:start + block] = mb.process(part)
        return out

    ref = run(4096)   # every change lands on a multiple of the block
    for block in (16, 64, 1024, 1, 65, 8193):
        if all(at % block == 0 for at in (4096, 8192, 12288, 16384)):
            assert np.array_equal(run(block), ref), block
    # blocks that do not divide the change points: the output up to the first one
    for block in (65, 8193):
        y = run(block)
        assert np.array_equal(y[:, :4096], ref[:, :4096]), block


@pytest.mark.parametrize("kwargs, message", [
    (dict(crossovers_hz=[1000.0, 500.0]), "crossovers_hz[1]: expected strictly increasing"),
    (dict(crossovers_hz=[100.0, 200.0, 300.0, 400.0, 500.0]),
     "crossovers_hz: expected an array of 1..4 frequencies in Hz (2..5 bands), got 5"),
    (dict(crossovers_hz=[]), "crossovers_hz: expected an array of 1..4"),
    (dict(crossovers_hz=[5.0]), "crossovers_hz[0]: expected a number 10..20000 Hz, got 5.0"),
    (dict(crossovers_hz=[30000.0]), "crossovers_hz[0]: expected a number 10..20000 Hz"),
    (dict(crossovers_hz=[100.0], slope="lr6"), "slope: expected one of 'lr2', 'lr4', 'lr8'"),
    (dict(crossovers_hz=[100.0], bands=[{}]), "bands: expected 2 band tables"),
    (dict(crossovers_hz=[100.0], bands=[{"ratio": 0.5}, {}]),
     "bands[0].ratio: expected a number 1..100 (ratio), got 0.5"),
    (dict(crossovers_hz=[100.0], bands=[{}, {"solo": 1}]),
     "bands[1].solo: expected true or false, got 1"),
    (dict(crossovers_hz=[100.0], threshold_db=-70.0),
     "threshold_db: expected a number -60..0 dBFS, got -70.0"),
])
def test_bad_parameters_give_one_line_naming_the_key_and_range(kwargs, message):
    with pytest.raises(ValueError) as err:
        Multiband(FS, 2, **kwargs)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_a_crossover_above_0_45_fs_is_refused_at_the_rate():
    with pytest.raises(ValueError, match=r"crossovers_hz\[0\]: expected at most 0.45 fs = "
                                         r"3600 Hz at 8000 Hz"):
        Multiband(8000.0, 2, [5000.0])
    with pytest.raises(ValueError, match="mode: 'mid-side' needs 2 channels"):
        Multiband(FS, 1, [500.0], mode="mid-side")
