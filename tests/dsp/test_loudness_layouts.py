"""Loudness of surround layouts: BS.1770-4 channel weights (Table 3: L, R, C 1.0;
surrounds 1.41; the LFE not measured) follow the speaker layout, given by a
WAV's WAVE_FORMAT_EXTENSIBLE channel mask, else the standard order of the
channel count (6: L R C LFE Ls Rs; 8: L R C LFE Ls Rs Lrs Rrs).

References: BS.1770-4 computed here from its definition (the published 48 kHz
K-weighting coefficients, 400 ms blocks with 75 % overlap, -70 LUFS and -10 LU
gates) with the weights written out per layout, EBU Tech 3341 case 6, and
pyloudnorm for the 5.0 layout it knows."""

from __future__ import annotations

import math

import numpy as np
import pyloudnorm as pyln
import pytest

from conftest import BS1770_LAYOUTS as LAYOUTS
from conftest import SURROUND_WEIGHT as S
from conftest import bs1770_reference_lufs as reference_lufs

from host.dsp.loudness import LoudnessMeter, channel_weights, integrated_loudness

FS = 48000
def tone(seconds: float, dbfs: float, hz: float = 1000.0) -> np.ndarray:
    n = int(seconds * FS)
    return (10 ** (dbfs / 20) * np.sin(2 * np.pi * hz * np.arange(n) / FS)).astype(np.float32)


@pytest.mark.parametrize("mask", sorted(LAYOUTS))
def test_the_weights_of_each_layout_are_bs1770s(mask):
    assert channel_weights(len(LAYOUTS[mask]), mask) == pytest.approx(LAYOUTS[mask])


def test_without_a_mask_the_channel_count_gives_the_standard_layout():
    assert channel_weights(6) == [1, 1, 1, 0, S, S]
    assert channel_weights(8) == [1, 1, 1, 0, S, S, S, S]
    assert channel_weights(5) == [1, 1, 1, S, S]
    assert channel_weights(4) == [1, 1, 1, 1] and channel_weights(2) == [1, 1]
    assert channel_weights(6, 0) == channel_weights(6)          # mask 0: unassigned
    assert channel_weights(4, 0x3) == [1, 1, 1, 1]               # channels beyond the mask
    # the C meter's own defaults agree (the live engine's meters use them)
    for n in (1, 2, 5, 6, 8):
        m = LoudnessMeter(FS, n)
        assert [m.channel_weight(c) for c in range(n)] == pytest.approx(channel_weights(n))


@pytest.mark.parametrize("channels,mask,lfe", [(6, None, 3), (6, 0x3F, 3), (8, None, 3),
                                              (8, 0x63F, 3), (8, 0xFF, 3)])
def test_a_tone_on_the_lfe_alone_has_no_loudness(channels, mask, lfe):
    """The issue: an LFE-only 7.1 file read -12.6 LUFS (the LFE at full weight)."""
    x = np.zeros((channels, 3 * FS), np.float32)
    x[lfe] = tone(3.0, -6.0, 60.0)
    assert integrated_loudness(x, FS, mask) == -math.inf


@pytest.mark.parametrize("mask", [None, 0x37, 0x607])
def test_ebu3341_case_6_in_a_5_0_layout_reads_minus_23(mask):
    """EBU Tech 3341 case 6: 1 kHz at -28 dBFS (L, R), -24 (C), -30 (Ls, Rs), 20 s;
    5.0 with back (0x37) or side (0x607) surrounds, or no mask (5 channels)."""
    levels = [-28.0, -28.0, -24.0, -30.0, -30.0]
    x = np.array([tone(20.0, lv) for lv in levels])
    assert integrated_loudness(x, FS, mask) == pytest.approx(-23.0, abs=0.1)
    ref = pyln.Meter(FS).integrated_loudness(x.T.astype(np.float64))
    assert integrated_loudness(x, FS, mask) == pytest.approx(ref, abs=0.05)


@pytest.mark.parametrize("mask", [0x3F, 0x707, 0x63F, 0xFF, None])
def test_every_layout_matches_the_definition(mask, rng):
    n = 6 if mask in (0x3F, 0x707) else 8
    weights = LAYOUTS[mask] if mask is not None else [1, 1, 1, 0, S, S, S, S]
    x = (rng.standard_normal((n, 4 * FS)) * 10 ** (rng.uniform(-30, -10, (n, 1)) / 20)
         ).astype(np.float32)
    assert integrated_loudness(x, FS, mask) == pytest.approx(reference_lufs(x, weights),
                                                             abs=0.05)
