"""TPDF dither and noise shaping against the theory of subtractive-free dither
(Lipshitz, Wannamaker & Vanderkooy, "Quantization and dither: a theoretical
survey", JAES 1992): with TPDF of 2 LSB peak-to-peak the total error has mean 0
and variance LSB^2/4 whatever the input, and it is uncorrelated with the input."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from host.dsp.dither import Dither


@pytest.mark.parametrize("bits", [16, 24])
def test_output_lies_on_the_word_length_grid(bits, rng):
    x = (rng.standard_normal((2, 48000)) * 0.1).astype(np.float32)
    d = Dither(2, bits)
    y = d.process(x.copy())
    k = y.astype(np.float64) * 2.0 ** (bits - 1)
    assert np.array_equal(k, np.rint(k))
    assert k.max() <= 2 ** (bits - 1) - 1 and k.min() >= -(2 ** (bits - 1))


@pytest.mark.parametrize("offset_lsb", [0.0, 0.25, 0.5, 0.77])
def test_tpdf_error_moments_do_not_depend_on_the_input(offset_lsb):
    bits, n = 16, 400_000
    lsb = 2.0 ** -(bits - 1)
    x = np.full((1, n), (1000 + offset_lsb) * lsb, dtype=np.float32)
    err = (Dither(1, bits).process(x.copy()).astype(np.float64) - x) / lsb
    assert abs(err.mean()) < 0.005
    assert err.var() == pytest.approx(0.25, rel=0.02)


def test_error_is_uncorrelated_with_a_low_level_sine():
    """Undithered, a -90 dBFS sine quantised to 16 bits has harmonic distortion;
    dithered, the error spectrum is flat: no bin of the error stands out."""
    fs, n = 48000, 1 << 16
    t = np.arange(n) / fs
    x = (10 ** (-90 / 20) * np.sin(2 * np.pi * 1500 * t)).astype(np.float32)[None, :]
    err = Dither(1, 16, seed=7).process(x.copy())[0].astype(np.float64) - x[0]
    f, p = signal.welch(err, fs, nperseg=4096)
    band = (f > 100) & (f < 20000)
    # flat: every harmonic bin of the sine within 3 dB of the median noise floor
    for h in (1500, 3000, 4500, 7500):
        i = np.argmin(abs(f - h))
        assert 10 * np.log10(p[i] / np.median(p[band])) < 3.0


def test_first_order_shaping_follows_one_minus_z_inverse():
    fs, n = 48000, 1 << 18
    x = np.full((1, n), 0.1234567, dtype=np.float32)
    lsb = 2.0 ** -15
    err = (Dither(1, 16, "first-order").process(x.copy())[0].astype(np.float64) - x[0]) / lsb
    f, p = signal.welch(err, fs, nperseg=2048)
    w = 2 * np.pi * f / fs
    expected = 0.25 * np.abs(1 - np.exp(-1j * w)) ** 2 * 2 / fs  # one-sided PSD, LSB^2/Hz
    sel = (f > 2000) & (f < 22000)
    ratio_db = 10 * np.log10(p[sel] / expected[sel])
    assert np.all(np.abs(ratio_db) < 1.0)


def test_wannamaker_shaping_moves_noise_out_of_the_ear_sensitive_band():
    """The F-weighted filter lowers the error near 3-4 kHz and raises it near 15+ kHz
    compared with flat TPDF, as its published response shows."""
    fs, n = 44100, 1 << 18
    x = np.full((1, n), 0.01, dtype=np.float32)
    flat = Dither(1, 16).process(x.copy())[0].astype(np.float64) - x[0]
    shaped = Dither(1, 16, "wannamaker9").process(x.copy())[0].astype(np.float64) - x[0]
    f, pf = signal.welch(flat, fs, nperseg=2048)
    _, ps = signal.welch(shaped, fs, nperseg=2048)
    mid = (f > 2500) & (f < 4500)
    high = (f > 16000) & (f < 20000)
    assert 10 * np.log10(ps[mid].mean() / pf[mid].mean()) < -10
    assert 10 * np.log10(ps[high].mean() / pf[high].mean()) > 10


def test_dither_is_block_size_independent(rng):
    x = (rng.standard_normal((2, 20000)) * 0.3).astype(np.float32)
    whole = Dither(2, 16, "wannamaker9", seed=3).process(x.copy())
    for block in (1, 64, 65, 8193):
        d = Dither(2, 16, "wannamaker9", seed=3)
        y = x.copy()
        for s in range(0, y.shape[1], block):
            part = np.ascontiguousarray(y[:, s:s + block])
            y[:, s:s + block] = d.process(part)
        assert np.array_equal(y, whole), block


def test_overload_clips_to_the_largest_code():
    x = np.array([[1.5, -1.5, 1.0, -1.0]], dtype=np.float32)
    d = Dither(1, 16)
    k = d.to_int(d.process(x.copy()))
    assert k[0, 0] == 32767 and k[0, 1] == -32768 and k[0, 2] == 32767
