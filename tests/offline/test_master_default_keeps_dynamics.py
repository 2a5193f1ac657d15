"""`outboard master` with no --chain and no --target-lufs leaves a mix's
dynamics alone: the default chain has no compressor (a subsonic high-pass and
the true-peak limiter), so a mix whose true peak is under the ceiling keeps
its loudness and loudness range; compression happens when a chain asks for it
(configs/master_glue.toml).  Measured with pyloudnorm (independent of ours)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf

from host.audiofile import read_audio
from host.cli import main
from host.model.config import default_chain
from host.model.session import load_chain
from host.offline.analysis import analyze_audio

GLUE = Path(__file__).parents[2] / "configs" / "master_glue.toml"
FS = 48000


def dynamic_mix(seed: int = 3) -> np.ndarray:
    """Sections of a tone with noise from quiet to loud (about -12 LUFS, LRA about
    17 LU, true peak about -2 dBTP: under the default -1 dBTP ceiling)."""
    rng = np.random.default_rng(seed)
    t = np.arange(4 * FS) / FS
    parts = []
    for level_db in (-30, -24, -14, -12, -26, -13):
        s = np.stack([np.sin(2 * np.pi * 110 * t) + 0.5 * np.sin(2 * np.pi * 220 * t + 1)
                      + 0.3 * rng.standard_normal(t.size) for _ in range(2)], 1)
        parts.append(s * 10 ** (level_db / 20) / np.sqrt(np.mean(s**2)))
    return np.concatenate(parts).astype(np.float32)


def loudness(path: Path) -> float:
    y, fs = sf.read(path)
    return pyloudnorm.Meter(fs).integrated_loudness(y)


@pytest.fixture
def mix(tmp_path) -> Path:
    p = tmp_path / "mix.wav"
    sf.write(p, dynamic_mix(), FS, subtype="FLOAT")
    return p


def test_the_default_chain_has_no_compressor():
    assert [i.kind for i in default_chain().inserts] == ["eq", "limiter"]


def test_master_without_a_target_keeps_the_mix_loudness_and_range(mix, tmp_path):
    out = tmp_path / "master.wav"
    assert main(["master", str(mix), str(out), "-q"]) == 0
    assert loudness(out) == pytest.approx(loudness(mix), abs=0.05)
    a, b = analyze_audio(read_audio(mix)), analyze_audio(read_audio(out))
    assert a["loudness_range_lu"] > 12
    assert b["loudness_range_lu"] == pytest.approx(a["loudness_range_lu"], abs=0.1)


def test_compression_is_there_when_a_chain_asks_for_it(mix, tmp_path):
    out = tmp_path / "glued.wav"
    assert main(["master", str(mix), str(out), "--chain", str(GLUE), "-q"]) == 0
    assert loudness(out) < loudness(mix) - 1.0   # the glue compressor took level off


def test_master_default_toml_is_the_default_chain_written_out():
    written = load_chain(GLUE.with_name("master_default.toml"))
    assert written.inserts == default_chain().inserts
