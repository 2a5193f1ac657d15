"""Deliverables rendered from the print: each one mastered to its preset's
loudness, ceiling, rate and bit depth (:func:`host.offline.render.master`),
measured on the file written, with its report (JSON + PNG).  What a
deliverable is, the presets and the ``[release]`` tables: :mod:`host.model.release`.
"""

from __future__ import annotations

from pathlib import Path

from host.audiofile import write_error
from host.model.config import ChainConfig
from host.model.release import EXTENSIONS, Deliverable, file_stem
from host.offline.render import master
from host.offline.report import measure_program, report_paths, write_report


def output_path(folder: Path, title: str, d: Deliverable) -> Path:
    """TITLE.NAME.EXT in ``folder``, TITLE made safe as a file name
    (host.model.release.file_stem)."""
    return Path(folder) / f"{file_stem(title)}.{d.name}{EXTENSIONS[d.format]}"


def render_deliverable(src: Path, d: Deliverable, dst: Path, *, report: bool = True,
                       source_note: str = "", progress=None) -> dict:
    """Render one deliverable from the print ``src`` into ``dst`` (atomically),
    measure the file written and write its report (``dst`` with .json / .png).

    Returns a summary: deliverable, file, integrated_lufs, true_peak_dbtp (both
    measured on the file written), sample_rate, bit_depth, target_reached, note,
    report paths.  A job that fails leaves nothing: if its report cannot be
    made, the deliverable just written is removed too.
    """

    res = master(src, dst, ChainConfig([], {}), d.settings(), progress)
    o = res.output_analysis
    summary = {
        "deliverable": d.name, "description": d.description, "settings": d.describe(),
        "source": str(src), "file": str(dst),
        "integrated_lufs": o["integrated_lufs"], "true_peak_dbtp": o["true_peak_dbtp"],
        "loudness_range_lu": o["loudness_range_lu"], "sample_rate": o["sample_rate"],
        "bit_depth": d.bit_depth, "format": d.format,
        "target_lufs": d.target_lufs, "ceiling_dbtp": d.ceiling_dbtp if d.limiter else None,
        "peak_dbtp": d.peak_dbtp, "limiter": d.limiter,
        "gain_db": round(res.gain_db, 2), "target_reached": res.target_reached,
        "max_limiting_db": round(res.max_limiting_db, 2),
        "limiting_warning_db": d.max_limiting_db if d.limiter else None,
        "limiting_warning": d.limiter and res.max_limiting_db > d.max_limiting_db,
        "note": res.note, "report": None,
    }
    if report:
        try:
            summary["report"] = _report(res, d, dst, summary, source_note)
        except BaseException as exc:
            for p in (dst, *report_paths(dst)):
                p.unlink(missing_ok=True)
            if isinstance(exc, OSError):  # (a disk that filled after the audio: one line)
                raise write_error(report_paths(dst)[0], exc.strerror or str(exc),
                                  exc.errno) from None
            raise
    return summary


def _report(res, d: Deliverable, dst: Path, summary: dict, source_note: str) -> list[str]:
    """Measure the deliverable written and write its report; the report's paths."""
    out = res.written
    ceiling = d.ceiling_dbtp if d.limiter else (d.peak_dbtp if d.peak_dbtp is not None
                                                else d.ceiling_dbtp)
    rep = measure_program(out.data, out.sample_rate, ceiling_dbtp=ceiling,
                          gain_reduction=res.gr_traces or None,
                          channel_mask=out.channel_mask)
    if d.target_lufs is not None:
        rep["target_lufs"] = d.target_lufs
    rep["deliverable"] = dict(summary, render=res.report(), source_note=source_note)
    jp, pp = report_paths(dst)
    write_report(jp, pp, rep, title=f"{dst.name}  ({d.name}: {d.describe()})")
    return [str(jp), str(pp)]
