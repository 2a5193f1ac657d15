"""A master's report against the work it describes, and its correlation windows.

Rows:

* the 400 ms correlation windows of 30 s of stereo, from per-hop sums
  (``host.offline.report._stereo``) against the former definition, one
  ``np.dot`` per window (thousands of small products: a threaded BLAS makes
  them slow on a busy machine; run it with ``OPENBLAS_NUM_THREADS=1`` to see
  the difference shrink);
* ``outboard master --report`` on 30 s and 180 s programs: the report
  (``measure_program`` of the file written, ``measure_loudness`` of the input,
  ``plot_report``'s PNG) against the render it describes (``master()`` with
  the default chain and a -14 LUFS target).  The ratio is render / report: a
  report under 30 % of its render reads 3.3x or more.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from common import Row, best_time  # noqa: E402

FS = 48000


def _program(seconds: float) -> np.ndarray:
    """Music-like stereo (frames, 2): partials swelling, noise bursts, -20 dBFS RMS."""
    rng = np.random.default_rng(3)
    n = int(seconds * FS)
    t = np.arange(n) / FS
    x = np.zeros((n, 2))
    for f, pan in ((110, 0.4), (220, 0.6), (330, 0.5), (1760, 0.3)):
        s = np.sin(2 * np.pi * f * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 0.1 * t + f))
        x += s[:, None] * np.array([1 - pan, pan])
    x += 0.3 * rng.standard_normal((n, 2)) * (np.sin(2 * np.pi * 2 * t) > 0.9)[:, None]
    return (x * 0.1 / np.sqrt(np.mean(x ** 2))).astype(np.float32)


def _windows_by_dot(data: np.ndarray, hop: int) -> list:
    from host.offline.report import CORRELATION_WINDOW_S, _pearson

    win = int(round(CORRELATION_WINDOW_S * FS))
    ends = np.arange(hop, data.shape[1] + 1, hop)
    return [_pearson(data[0, e - win:e], data[1, e - win:e]) for e in ends[ends >= win]]


def _master_row(folder: Path, seconds: float) -> Row:
    from host.model.config import default_chain
    from host.model.release import MasterSettings
    from host.offline.render import master
    from host.offline.report import measure_loudness, measure_program, plot_report

    src, dst = folder / "mix.wav", folder / "master.wav"
    sf.write(src, _program(seconds), FS, subtype="FLOAT")
    settings = MasterSettings(target_lufs=-14.0)
    result = []

    def render() -> None:
        result[:] = [master(src, dst, default_chain(), settings)]

    def report() -> None:
        r = result[0]
        rep = measure_program(r.written.data, r.written.sample_rate, ceiling_dbtp=-1.0,
                              gain_reduction=r.gr_traces or None)
        before = measure_loudness(r.source.data, r.source.sample_rate)
        plot_report(rep, folder / "master.png", "bench", before=before)

    render_s = best_time(render, repeat=3, min_time=0.0)
    report_s = best_time(report, repeat=3, min_time=0.0)   # (warmed: fonts loaded)
    return Row(f"master --report, {seconds:.0f} s stereo: the report (measure + PNG) vs its "
               f"render; report = {report_s / render_s:.0%} of it", 2 * int(seconds * FS),
               report_s, "the render (master(), -14 LUFS)", render_s)


def run() -> list[Row]:
    from host.offline.report import _stereo

    data = np.ascontiguousarray(_program(30.0).T)
    hop = FS // 10
    rows = [Row("report: 400 ms correlation windows, 30 s stereo (per-hop sums)",
                data.size, best_time(lambda: _stereo(data, FS, hop), repeat=3),
                "np.dot per window (BLAS)",
                best_time(lambda: _windows_by_dot(data, hop), repeat=3))]
    with tempfile.TemporaryDirectory() as d:
        rows += [_master_row(Path(d), seconds) for seconds in (30.0, 180.0)]
    return rows


if __name__ == "__main__":
    for r in run():
        print(f"{r.name}: ours {r.ours_s:.3f} s, {r.ref_name} {r.ref_s:.3f} s, "
              f"x{r.speedup:.2f}")
