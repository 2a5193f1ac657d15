"""One streaming deliverable (-14 LUFS, -1 dBTP, 24-bit WAV) from a 20 s print,
against what a user would script instead: pyloudnorm to measure, one gain to
the target, pedalboard's true-peak BrickwallLimiter, soundfile to write (one
pass: the limiter then leaves the file under the target, which the row names).

Ours (``host.offline.deliverables.render_deliverable``, report off) reads the file,
iterates the gain until the limited program is within 0.05 LU of the target,
dithers, writes atomically and measures the file written.  Both rows name the
loudness and true peak reached, measured by pyloudnorm and a 16x oversampler.

Also the batch: four deliverables (streaming, club, CD, vinyl) in one process
against the same over every core (``host.offline.batch.run_jobs``).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from common import Row, best_time  # noqa: E402

FS = 48000


def _tp16(x: np.ndarray) -> float:
    from scipy.signal import resample_poly

    return 20 * np.log10(np.max(np.abs(resample_poly(x, 16, 1, axis=0))))


def run() -> list[Row]:
    import pedalboard
    import pyloudnorm

    from host.offline.batch import plan, run_jobs
    from host.model.release import PRESETS
    from host.offline.deliverables import render_deliverable
    from host.live.demo import synth_program

    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as d:
        src = Path(d) / "print.wav"
        x = synth_program(FS, 20.0)
        sf.write(src, x, FS, subtype="FLOAT")
        ours_out = Path(d) / "ours.wav"
        ref_out = Path(d) / "ref.wav"

        def ours() -> None:
            render_deliverable(src, PRESETS["streaming"], ours_out, report=False)

        meter = pyloudnorm.Meter(FS)

        def ref() -> None:
            y, fs = sf.read(src, dtype="float32")
            gain = -14.0 - meter.integrated_loudness(y)
            z = (y * np.float32(10 ** (gain / 20))).T
            lim = pedalboard.BrickwallLimiter(ceiling_db=-1.0, release_ms=50.0, true_peak=True)
            out = lim(z, fs)
            sf.write(ref_out, out.T, fs, subtype="PCM_24")

        ours_s = best_time(ours, repeat=3, min_time=0.0)
        ref_s = best_time(ref, repeat=3, min_time=0.0)
        yo, _ = sf.read(ours_out)
        yr, _ = sf.read(ref_out)
        lo, lr = meter.integrated_loudness(yo), meter.integrated_loudness(yr)
        rows.append(Row(f"deliver streaming, 20 s stereo (ours {lo:.2f} LUFS {_tp16(yo):+.2f} "
                        f"dBTP; script {lr:.2f} LUFS {_tp16(yr):+.2f} dBTP)",
                        x.size, ours_s, "pyloudnorm + pedalboard.BrickwallLimiter + write",
                        ref_s))

        jobs = plan([src], "streaming,club,cd,vinyl", Path(d) / "out")
        t0 = time.perf_counter()
        run_jobs(jobs, workers=os.cpu_count(), report=False, show=False)
        many = time.perf_counter() - t0
        t0 = time.perf_counter()
        run_jobs(jobs, workers=1, report=False, show=False)
        one = time.perf_counter() - t0
        rows.append(Row(f"4 deliverables over {os.cpu_count()} processes", 4 * x.size, many,
                        "the same, 1 process", one))
    return rows


if __name__ == "__main__":
    for r in run():
        print(f"{r.name}: ours {r.ours_s:.3f} s, {r.ref_name} {r.ref_s:.3f} s, "
              f"x{r.speedup:.2f}")
