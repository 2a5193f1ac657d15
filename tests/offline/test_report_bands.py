"""Reports of masters through the multiband and the imager: gain reduction per
band in the report's panel, and the imager's effect on the stereo figures.

References: numpy's Pearson correlation and mid/side arithmetic, and the
multiband kernel's own per-band meters.
"""

from __future__ import annotations

import json

import numpy as np
import soundfile as sf

from host.model.config import parse_chain
from host.offline.chain import Chain
from host.offline.render import MasterSettings, master
from host.offline.report import measure_program, write_report

FS = 48000


def stereo_program(rng: np.random.Generator, seconds: float, corr: float) -> np.ndarray:
    """Planar float32: noise whose L/R correlation is about ``corr``, a loud
    low band (so the low compressor works) and a quiet top."""
    n = int(seconds * FS)
    a, b = rng.standard_normal((2, n))
    x = np.stack([a, corr * a + np.sqrt(1 - corr ** 2) * b]) * 0.1
    t = np.arange(n) / FS
    x += 0.4 * np.sin(2 * np.pi * 60.0 * t)
    return np.ascontiguousarray(x, dtype=np.float32)


def test_master_reports_gain_reduction_per_multiband_band(tmp_path, rng):
    """`master` with a 3-band multiband: the report holds one gain-reduction
    trace per band, named after the insert and the band's range; the low band,
    where the loud 60 Hz sits, reduces most, as the kernel's own meters say."""
    src = tmp_path / "mix.wav"
    sf.write(src, stereo_program(rng, 4.0, 0.5).T, FS, subtype="FLOAT")
    chain = {"chain": [
        {"kind": "multiband", "name": "mb", "crossovers_hz": [150.0, 3000.0],
         "threshold_db": -30.0, "ratio": 3.0, "detector": "rms"},
        {"kind": "limiter", "name": "lim", "ceiling_dbtp": -1.0}]}
    res = master(src, tmp_path / "out.wav", parse_chain(chain),
                 MasterSettings(target_lufs=-14.0, ceiling_dbtp=-1.0))
    names = ["mb: band 1 (< 150 Hz)", "mb: band 2 (150-3000 Hz)", "mb: band 3 (> 3000 Hz)"]
    assert [n for n in res.gr_traces if n.startswith("mb")] == names
    per_band = res.stages[0]["max_gain_reduction_db_bands"]
    assert list(per_band) == [n.split(": ", 1)[1] for n in names]
    assert res.stages[0]["max_gain_reduction_db"] == max(per_band.values())
    rep = measure_program(res.written.data, FS, gain_reduction=res.gr_traces)
    gr = rep["gain_reduction"]
    low, mid, top = (gr[n]["max_db"] for n in names)
    assert low > 5.0 and low > mid and low > top
    ref = Chain(parse_chain(chain), FS, 2).stages[0].processor
    assert ref.meter_names == [n.split(": ", 1)[1] for n in names]
    write_report(tmp_path / "r.json", tmp_path / "r.png", rep, "mb")
    assert json.loads((tmp_path / "r.json").read_text())["gain_reduction"][names[0]]["max_db"] \
        == low
    assert (tmp_path / "r.png").stat().st_size > 10000


def test_report_correlation_and_mono_loss_follow_the_imager_width(rng):
    """Width 0 makes L = R: correlation 1, no mono loss.  Width 1.6 lowers the
    correlation below the input's and raises the mono loss; each figure equals
    numpy's on the output."""
    x = stereo_program(rng, 3.0, 0.6)
    x -= np.sin(2 * np.pi * 60.0 * np.arange(x.shape[1]) / FS).astype(np.float32) * 0.4
    base = measure_program(x, FS)["summary"]
    out = {}
    for w in (0.0, 1.6):
        cfg = parse_chain({"chain": [{"kind": "imager", "width": w}]})
        y = Chain(cfg, FS, 2).process(x.copy())
        out[w] = measure_program(y, FS)["summary"]
        r = np.corrcoef(y[0].astype(float), y[1].astype(float))[0, 1]
        assert out[w]["correlation"] == round(float(r), 4)
    assert out[0.0]["correlation"] == 1.0 and abs(out[0.0]["mono_loss_lu"]) < 0.01
    assert out[1.6]["correlation"] < base["correlation"] - 0.2
    assert out[1.6]["mono_loss_lu"] > base["mono_loss_lu"] + 0.5
