"""Loudness of surround files end to end: `outboard analyze` and `outboard master`
weight the channels by the file's WAVE_FORMAT_EXTENSIBLE channel mask (read from
its fmt chunk), else by the standard layout of its channel count, and a master
keeps its input's layout.  Reference: BS.1770-4 from its definition
(tests/dsp/test_loudness_layouts.py) with the weights written out by hand."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import soundfile as sf

from conftest import BS1770_LAYOUTS as LAYOUTS
from conftest import bs1770_reference_lufs as reference_lufs

from host.audiofile import wav_channel_mask, write_audio
from host.cli import main
from host.model.config import ChainConfig
from host.model.release import MasterSettings
from host.offline.render import master

FS = 48000


def analyze(path, capsys) -> dict:
    assert main(["analyze", str(path), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def lfe_only(channels: int) -> np.ndarray:
    x = np.zeros((channels, 3 * FS), np.float32)
    x[3] = (0.5 * np.sin(2 * np.pi * 50 * np.arange(3 * FS) / FS)).astype(np.float32)
    return x


def test_a_7_1_file_with_a_tone_on_the_lfe_alone_has_no_loudness(tmp_path, capsys):
    """The issue: -12.6 LUFS, the LFE counted at full weight."""
    sf.write(tmp_path / "lfe.wav", lfe_only(8).T, FS, subtype="PCM_24")   # plain: no mask
    assert analyze(tmp_path / "lfe.wav", capsys)["integrated_lufs"] is None
    write_audio(tmp_path / "lfe_wide.wav", lfe_only(8), FS, "24", channel_mask=0xFF)
    assert wav_channel_mask(tmp_path / "lfe_wide.wav") == 0xFF
    assert analyze(tmp_path / "lfe_wide.wav", capsys)["integrated_lufs"] is None


def test_a_5_1_flac_with_a_tone_on_the_lfe_alone_has_no_loudness(tmp_path, capsys):
    sf.write(tmp_path / "lfe.flac", lfe_only(6).T, FS)
    assert analyze(tmp_path / "lfe.flac", capsys)["integrated_lufs"] is None


@pytest.mark.parametrize("mask", [0x707, 0xFF])
def test_analyze_weights_the_channels_by_the_files_mask(tmp_path, capsys, rng, mask):
    n = len(LAYOUTS[mask])
    x = (rng.standard_normal((n, 4 * FS)) * 0.05).astype(np.float32)
    write_audio(tmp_path / "x.wav", x, FS, "32f", channel_mask=mask)
    got = analyze(tmp_path / "x.wav", capsys)["integrated_lufs"]
    assert got == pytest.approx(reference_lufs(x, LAYOUTS[mask]), abs=0.05)
    # and not as if the layout were the standard one of the count
    std = [1, 1, 1, 0, 1.41, 1.41] + [1.41] * (n - 6)
    assert abs(reference_lufs(x, std) - reference_lufs(x, LAYOUTS[mask])) > 0.3


@pytest.mark.parametrize("ext", [".wav", ".flac"])
def test_a_master_keeps_its_inputs_layout_and_reaches_the_target_by_it(tmp_path, rng, ext):
    """6.0 (L R C BC Ls Rs, no LFE): the fourth channel is a surround (1.41), not
    an LFE (0).  The master's loudness is reached and measured by that layout."""
    x = (rng.standard_normal((6, 6 * FS)) * 0.05).astype(np.float32)
    x[3] *= 4.0  # loud back centre: ignoring it as an "LFE" would be off by dB
    src = tmp_path / "in.wav"
    write_audio(src, x, FS, "32f", channel_mask=0x707)
    dst = tmp_path / f"out{ext}"
    res = master(src, dst, ChainConfig([], {}), MasterSettings(target_lufs=-20.0,
                                                               bit_depth="24"))
    assert res.target_reached
    y = sf.read(dst, dtype="float32", always_2d=True)[0].T
    assert reference_lufs(y, LAYOUTS[0x707]) == pytest.approx(-20.0, abs=0.1)
    assert res.output_analysis["integrated_lufs"] == pytest.approx(-20.0, abs=0.1)
    if ext == ".wav":
        assert wav_channel_mask(dst) == 0x707
    assert not math.isnan(res.gain_db)
