"""``outboard analyze FILE``: EBU R128 / BS.1770 figures of a file, as a table or JSON."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def _fmt(v: float | None, unit: str) -> str:
    return "-inf" if v is None else f"{v:.1f} {unit}" if unit else f"{v}"



def cmd_analyze(args: argparse.Namespace) -> int:
    from host.audiofile import read_audio
    from host.offline.analysis import analyze_audio

    result = analyze_audio(read_audio(args.file))
    if args.json:
        print(json.dumps(result, indent=None))
        return 0
    from rich.console import Console
    from rich.table import Table

    t = Table(title=str(args.file), title_justify="left")
    t.add_column("measure")
    t.add_column("value", justify="right")
    rows = [
        ("Integrated loudness", _fmt(result["integrated_lufs"], "LUFS")),
        ("Loudness range", _fmt(result["loudness_range_lu"], "LU")),
        ("Momentary max", _fmt(result["momentary_max_lufs"], "LUFS")),
        ("Short-term max", _fmt(result["short_term_max_lufs"], "LUFS")),
        ("True peak", _fmt(result["true_peak_dbtp"], "dBTP")),
        ("Sample peak", _fmt(result["sample_peak_dbfs"], "dBFS")),
        ("Duration", f"{result['duration_s']:.3f} s"),
        ("Sample rate", f"{result['sample_rate']} Hz"),
        ("Channels", str(result["channels"])),
    ]
    for r in rows:
        t.add_row(*r)
    Console().print(t)
    return 0


def add_parser(sub) -> None:
    a = sub.add_parser("analyze", help="loudness (EBU R128) and peaks of an audio file",
                       description="Measure an audio file as EBU R128 / ITU-R BS.1770-4 "
                       "define it: integrated loudness, loudness range, momentary and "
                       "short-term maxima, true peak (Annex 2: 4x oversampled below "
                       "96 kHz) and sample peak.")
    a.add_argument("file", type=Path, metavar="FILE",
                   help="the audio file to measure (WAV, FLAC, AIFF: what libsndfile reads)")
    a.add_argument("--json", action="store_true", help="print one JSON object")
    a.set_defaults(func=cmd_analyze)
