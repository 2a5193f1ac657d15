"""Stereo imager (native/imager.c on native/crossover.c, host/dsp/imager.py).

References: the input itself (bit for bit), scipy.signal.butter / sosfilt /
sosfreqz (the crossovers' allpass, the Linkwitz-Riley high pass of the bass
mono), mid/side arithmetic in float64, and the kernel's own output cut into
blocks of other sizes.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from host.dsp.imager import Imager

FS = 48000.0


def stereo_noise(rng: np.random.Generator, n: int, corr: float = 0.3) -> np.ndarray:
    """Planar float32 (2, n): partly correlated noise (side and mid both present)."""
    a, b = rng.standard_normal((2, n)) * 0.2
    return np.ascontiguousarray(np.stack([a, corr * a + (1 - corr) * b]), dtype=np.float32)


def lr4(fc: float, kind: str) -> np.ndarray:
    sos = signal.butter(2, fc, kind, fs=FS, output="sos")
    return np.vstack([sos, sos])


def allpass(x: np.ndarray, xo: list[float]) -> np.ndarray:
    """The LR4 crossovers' allpass (LP + HP per crossover), by scipy in float64."""
    y = np.asarray(x, dtype=np.float64)
    for fc in xo:
        y = signal.sosfilt(lr4(fc, "low"), y) + signal.sosfilt(lr4(fc, "high"), y)
    return y


def ms(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = x.astype(np.float64)
    return 0.5 * (x[0] + x[1]), 0.5 * (x[0] - x[1])


def rel_db(err: np.ndarray, ref: np.ndarray) -> float:
    e = np.sqrt(np.mean(np.square(err)))
    return -np.inf if e == 0 else 20 * np.log10(e / np.sqrt(np.mean(np.square(ref))))


def test_width_1_with_one_band_is_the_input_bit_for_bit(rng):
    x = stereo_noise(rng, 48000)
    for kw in ({}, {"width": 1.0}, {"width": 1.0, "mono_below_hz": 0.0}):
        assert np.array_equal(Imager(FS, 2, **kw).process(x.copy()), x)


def test_width_1_with_bands_is_the_crossover_allpass_on_l_and_r_within_minus_140_db(rng):
    """Three bands at width 1: L and R each pass the crossovers' allpass
    (scipy, float64), the image unchanged, within -140 dB (float32 output)."""
    xo = [250.0, 4000.0]
    x = stereo_noise(rng, 48000)
    y = Imager(FS, 2, xo, width=1.0).process(x.copy())
    ref = allpass(x, xo)
    assert rel_db(y - ref, ref) < -140.0, rel_db(y - ref, ref)


@pytest.mark.parametrize("xo", [[], [300.0], [200.0, 2000.0, 8000.0]])
def test_width_0_gives_l_equal_to_r(xo, rng):
    x = stereo_noise(rng, 48000)
    y = Imager(FS, 2, xo, width=0.0).process(x.copy())
    assert np.array_equal(y[0], y[1])
    mid = ms(x)[0] if not xo else allpass(ms(x)[0], xo)
    assert rel_db(y[0] - mid, mid) < -130.0


def test_width_scales_the_side_of_each_band_alone():
    """Two bands split at 1 kHz, widths 0.5 and 1.8: the side of a 200 Hz and
    of a 6 kHz sine is scaled by |0.5 LP + 1.8 HP| at its frequency (the LR4
    pair by scipy: mostly one band's width, a little of the other's through
    the skirt), within 0.01 dB; the mid of both keeps its level."""
    n = int(FS)
    t = np.arange(n) / FS
    for f in (200.0, 6000.0):
        x = np.stack([0.3 * np.sin(2 * np.pi * f * t), 0.1 * np.sin(2 * np.pi * f * t + 0.7)])
        x = np.ascontiguousarray(x, dtype=np.float32)
        y = Imager(FS, 2, [1000.0], bands=[{"width": 0.5}, {"width": 1.8}]).process(x.copy())
        m0, s0 = ms(x[:, n // 2:])
        m1, s1 = ms(y[:, n // 2:])
        _, hl = signal.sosfreqz(lr4(1000.0, "low"), worN=[f], fs=FS)
        _, hh = signal.sosfreqz(lr4(1000.0, "high"), worN=[f], fs=FS)
        expect_db = 20 * np.log10(abs(0.5 * hl[0] + 1.8 * hh[0]))
        assert 20 * np.log10(np.std(s1) / np.std(s0)) == pytest.approx(expect_db, abs=0.01), f
        assert 20 * np.log10(np.std(m1) / np.std(m0)) == pytest.approx(0.0, abs=0.01), f


def test_bass_mono_leaves_no_side_below_the_split_and_keeps_the_rest(rng):
    """mono_below_hz = 200 (LR4 split): a side-only 18 Hz sine (more than a
    decade below) leaves under -80 dB of side; the side above follows the
    LR4 high pass (scipy), -6 dB at the split and within 0.05 dB of unity
    two octaves up; the mid keeps its level at every frequency (allpass)."""
    n = int(2 * FS)
    t = np.arange(n) / FS
    im = Imager(FS, 2, mono_below_hz=200.0)
    hp = lr4(200.0, "high")
    for f in (18.0, 100.0, 200.0, 800.0, 5000.0):
        side = 0.25 * np.sin(2 * np.pi * f * t)
        mid = 0.25 * np.sin(2 * np.pi * f * t + 1.0)
        x = np.ascontiguousarray(np.stack([mid + side, mid - side]), dtype=np.float32)
        im.reset()
        m1, s1 = ms(im.process(x.copy())[:, n // 2:])
        m0, s0 = ms(x[:, n // 2:])
        side_db = 20 * np.log10(np.std(s1) / np.std(s0))
        _, h = signal.sosfreqz(hp, worN=[f], fs=FS)
        if f < 20.0:
            assert side_db < -80.0, (f, side_db)
        else:
            assert side_db == pytest.approx(20 * np.log10(abs(h[0])), abs=0.01), f
        assert 20 * np.log10(np.std(m1) / np.std(m0)) == pytest.approx(0.0, abs=0.01), f
    # on noise: what is left of the side below 100 Hz is at least 40 dB down
    x = stereo_noise(rng, int(4 * FS), corr=0.0)
    y = im.process(x.copy())
    _, s0 = ms(x)
    _, s1 = ms(y)
    low = lr4(50.0, "low")
    e0 = np.mean(signal.sosfilt(low, s0)[int(FS):] ** 2)
    e1 = np.mean(signal.sosfilt(low, s1)[int(FS):] ** 2)
    assert 10 * np.log10(e1 / e0) < -40.0


def test_output_does_not_depend_on_block_size(rng):
    x = stereo_noise(rng, 20000)

    def run(block: int) -> np.ndarray:
        im = Imager(FS, 2, [300.0, 3000.0], slope="lr8", width=1.2, mono_below_hz=120.0)
        out = x.copy()
        changes = {4096: dict(band=1, width=0.3), 8192: dict(mono_below_hz=0.0),
                   12288: dict(crossovers_hz=[500.0, 3000.0]), 16384: dict(mono_below_hz=90.0)}
        for start in range(0, x.shape[1], block):
            if start in changes:
                im.set(**changes[start])
            part = np.ascontiguousarray(out[:, start:start + block])
            out[:, start:start + block] = im.process(part)
        return out

    ref = run(4096)
    for block in (16, 64, 1024, 1):
        assert np.array_equal(run(block), ref), block
    for block in (65, 8193):
        assert np.array_equal(run(block)[:, :4096], ref[:, :4096]), block


@pytest.mark.parametrize("kwargs, message", [
    (dict(width=2.5), "width: expected a number 0..2 (0 = mono, 1 = unchanged, 2 = side "
                      "doubled), got 2.5"),
    (dict(crossovers_hz=[100.0, 200.0, 300.0, 400.0]),
     "crossovers_hz: expected an array of 0..3 frequencies in Hz (1..4 bands), got 4"),
    (dict(crossovers_hz=[400.0, 400.0]), "crossovers_hz[1]: expected strictly increasing"),
    (dict(mono_below_hz=10.0), "mono_below_hz: expected a number 20..1000 Hz (or 0 for off), "
                               "got 10.0"),
    (dict(crossovers_hz=[300.0], bands=[{"width": -1}, {}]),
     "bands[0].width: expected a number 0..2"),
    (dict(channels=1), "channels: the imager works on stereo (2 channels), got 1"),
])
def test_bad_parameters_give_one_line_naming_the_key_and_range(kwargs, message):
    kwargs = {"channels": 2, **kwargs}
    with pytest.raises(ValueError) as err:
        Imager(FS, **kwargs)
    assert message in str(err.value)
    assert "\n" not in str(err.value)
