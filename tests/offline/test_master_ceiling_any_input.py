"""`outboard master`'s ceiling holds on any finite input: a float file with
samples anywhere in float32's range (the issue: one sample of 1e18..1e30 gave a
master peaking at +36 dBTP against a -1 dBTP ceiling, exit 0).  Samples beyond
+60 dBFS are refused in one line naming the file, the channel and the time;
everything else is mastered under the ceiling."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from host.cli import main
from host.errors import AudioFileError
from host.model.config import ChainConfig
from host.model.release import MasterSettings
from host.offline.render import master

FS = 48000
#: one odd sample's magnitude: ordinary, hot, absurd (up to float32's largest)
MAGNITUDE = st.one_of(st.floats(0.0, 999.0, width=32),
                      st.floats(1000.0, float(np.finfo(np.float32).max), width=32),
                      st.sampled_from([1e18, 1e24, 1e30, float(np.finfo(np.float32).max)]))


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(st.tuples(st.integers(0, 2 * FS - 1), st.integers(0, 1), MAGNITUDE,
                                 st.sampled_from([1.0, -1.0])), min_size=1, max_size=4),
       bit_depth=st.sampled_from(["32f", "24", "16"]),
       ceiling=st.sampled_from([-1.0, -0.3, -6.0]))
def test_the_written_masters_sample_peak_never_exceeds_the_ceiling(tmp_path, values,
                                                                   bit_depth, ceiling):
    x = (np.random.default_rng(7).standard_normal((2 * FS, 2)) * 0.05).astype(np.float32)
    for at, ch, mag, sign in values:
        x[at, ch] = np.float32(sign * mag)
    src, dst = tmp_path / "in.wav", tmp_path / "out.wav"
    sf.write(src, x, FS, subtype="FLOAT")
    dst.unlink(missing_ok=True)
    absurd = np.abs(x) > 1000.0
    try:
        master(src, dst, settings=MasterSettings(ceiling_dbtp=ceiling, bit_depth=bit_depth))
    except AudioFileError as exc:
        assert absurd.any(), exc
        first, ch = np.argwhere(absurd)[0]
        assert f"(first at channel {ch + 1}, {first / FS:.3f} s: " in str(exc)
        assert not dst.exists()
        return
    assert not absurd.any()
    y, _ = sf.read(dst, dtype="float64")
    assert np.max(np.abs(y)) <= 10 ** (ceiling / 20)


def test_master_refuses_an_absurd_sample_in_one_line_and_writes_nothing(tmp_path, capsys):
    x = np.zeros((FS, 2), np.float32)
    x[FS // 2, 1] = 1e24
    src = tmp_path / "in.wav"
    sf.write(src, x, FS, subtype="FLOAT")
    assert main(["master", str(src), str(tmp_path / "out.wav"), "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"outboard: error: {src}: 1 sample beyond +60 dBFS (first at channel 2, "
                   "0.500 s: 1e+24, +480.0 dBFS); expected audio: full scale is 1.0, this is "
                   "not a level any signal reaches")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.wav"]


@pytest.mark.parametrize("value", [1e3, 999.0])
def test_a_hot_float_mix_is_mastered_under_the_ceiling(tmp_path, value):
    """The highest level still taken (+60 dBFS) goes through the chain's limiter
    with 61 dB of gain reduction and stays under the ceiling."""
    x = (np.random.default_rng(3).standard_normal((FS, 2)) * 0.05).astype(np.float32)
    x[FS // 3, 0] = value
    src, dst = tmp_path / "in.wav", tmp_path / "out.wav"
    sf.write(src, x, FS, subtype="FLOAT")
    res = master(src, dst, ChainConfig([], {}), MasterSettings(bit_depth="32f"))
    y, _ = sf.read(dst, dtype="float64")
    assert np.max(np.abs(y)) <= 10 ** (-1.0 / 20)
    assert res.max_limiting_db > 50
