"""``outboard master IN OUT``: master a file offline (:mod:`host.offline.render`)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from host.cli.analyze import _fmt
from host.cli.args import finite_float
from host.errors import OutboardError
from host.model.config import MASTER, SAMPLE_RATES

#: files longer than this (seconds) get a progress bar
PROGRESS_MIN_S = 5.0



def cmd_master(args: argparse.Namespace) -> int:
    from host.audiofile import (
        FilesRead,
        atomic_path,
        check_writable,
        remove_stale_parts,
        stale_parts_note,
        write_error,
    )
    from host.model.config import default_chain
    from host.model.release import DEFAULT_MAX_LIMITING_DB, MasterSettings
    from host.model.session import load_chain
    from host.offline.render import master, overall_fraction

    config = load_chain(args.chain) if args.chain else default_chain()
    m = config.master
    settings = MasterSettings(
        target_lufs=args.target_lufs if args.target_lufs is not None else m.get("target_lufs"),
        ceiling_dbtp=args.ceiling_dbtp if args.ceiling_dbtp is not None
        else m.get("ceiling_dbtp", -1.0),
        bit_depth=args.bit_depth or m.get("bit_depth", "24"),
        sample_rate=args.sample_rate or m.get("sample_rate"),
        dither=m.get("dither", "wannamaker9"),
        max_limiting_db=args.max_limiting_db if args.max_limiting_db is not None
        else m.get("max_limiting_db", DEFAULT_MAX_LIMITING_DB),
    )
    for flag, key in (("--target-lufs", "target_lufs"), ("--ceiling-dbtp", "ceiling_dbtp"),
                      ("--max-limiting-db", "max_limiting_db")):
        p, v = MASTER[key], getattr(settings, key)
        if v is not None and not p.lo <= v <= p.hi:
            raise OutboardError(f"{flag}: expected {p.lo:g}..{p.hi:g} {p.unit}, got {v:g}")
    if args.sample_rate is not None and args.sample_rate not in SAMPLE_RATES:
        raise OutboardError(f"--sample-rate: expected a sample rate in Hz, one of "
                            f"{', '.join(map(str, SAMPLE_RATES))}; got {args.sample_rate}")
    # every output is checked against every file read (and the other outputs) now,
    # before any work: symlinks, hard links and .. included
    files = FilesRead()
    files.read(args.input, "the input file")
    if args.chain:
        files.read(args.chain, "the chain file")
    files.claim(args.output)
    png = None
    if args.report:
        if args.report.suffix.lower() != ".json":
            raise OutboardError(f"--report: expected a .json file (its plots go beside it "
                                f"as .png), got {str(args.report)!r}")
        png = args.report.with_suffix(".png")
        files.claim(args.report, "report")
        files.claim(png, "report's plot")
        check_writable(args.report)
    removed = remove_stale_parts([args.output.parent]
                                 + ([args.report.parent] if args.report else []))
    if removed:
        print(f"outboard: {stale_parts_note(removed)}", file=sys.stderr)

    import soundfile as sf

    try:
        long_file = sf.info(str(args.input)).duration > PROGRESS_MIN_S
    except Exception:  # noqa: BLE001 - read_audio gives the real message below
        long_file = False
    show = long_file and not args.quiet
    if show:
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        bar = Progress(TextColumn("{task.description:<10}"), BarColumn(),
                       TextColumn("{task.percentage:>3.0f}%"), TimeRemainingColumn(),
                       transient=True)
        task = bar.add_task("master", total=1.0)

        def progress(stage: str, frac: float) -> None:
            bar.update(task, completed=overall_fraction(stage, frac), description=stage)

        with bar:
            result = master(args.input, args.output, config, settings, progress,
                            files=files)
    else:
        result = master(args.input, args.output, config, settings, files=files)
    report = result.report()
    if args.report:
        try:
            with atomic_path(args.report) as tmp:
                tmp.write_text(json.dumps(report, indent=2) + "\n")
        except OSError as exc:  # a disk that filled once the audio was written
            raise write_error(args.report, exc.strerror or str(exc), exc.errno) from None
        from host.offline.report import measure_loudness, measure_program, plot_report

        out, src = result.written, result.source
        rep = measure_program(out.data, out.sample_rate,
                              ceiling_dbtp=settings.ceiling_dbtp,
                              gain_reduction=result.gr_traces or None,
                              channel_mask=out.channel_mask)
        if settings.target_lufs is not None:
            rep["target_lufs"] = settings.target_lufs
        before = measure_loudness(src.data, src.sample_rate)  # the input, drawn beside
        try:
            plot_report(rep, png, f"{result.output.name} (master of {Path(args.input).name})",
                        before=before)
        except OSError as exc:
            raise write_error(png, exc.strerror or str(exc), exc.errno) from None
    if not args.quiet:
        o = result.output_analysis
        print(f"wrote {result.output}: {_fmt(o['integrated_lufs'], 'LUFS')} integrated, "
              f"{_fmt(o['true_peak_dbtp'], 'dBTP')} true peak, "
              f"{o['sample_rate']} Hz, {settings.bit_depth}-bit")
    if result.note:
        print(f"outboard: warning: {result.note}", file=sys.stderr)
    return 0


def add_parser(sub) -> None:
    m = sub.add_parser("master", help="master a file: chain, loudness, true-peak ceiling, "
                       "rate, bit depth",
                       description="Master a mix offline: the chain (by default only a "
                       "subsonic high-pass: no compression unless asked), the loudness "
                       "target if one is given, the true-peak limiter at the ceiling, rate "
                       "conversion, dither.")
    m.add_argument("input", type=Path, metavar="IN", help="the mix (WAV, FLAC, AIFF...)")
    m.add_argument("output", type=Path, metavar="OUT", help=".wav, .flac, .aif or .aiff")
    m.add_argument("--chain", type=Path, help="chain TOML (default: a 20 Hz subsonic "
                   "high-pass and the true-peak limiter; no compression unless the chain "
                   "has a compressor, e.g. configs/master_glue.toml)")
    m.add_argument("--target-lufs", type=finite_float("LUFS"),
                   help="integrated loudness, -40..-5 (default: the chain file's [master] "
                   "value, else none: the mix's loudness is kept, but for what the limiter "
                   "takes off peaks above the ceiling)")
    m.add_argument("--ceiling-dbtp", type=finite_float("dBTP"), help="true-peak ceiling, "
                   "-20..0 (default -1)")
    m.add_argument("--bit-depth", choices=["16", "24", "32f"], help="default 24")
    m.add_argument("--sample-rate", type=int, metavar="HZ", help="output rate in Hz, a "
                   "standard one (44100, 48000, 96000...; soxr VHQ); default: the input's")
    m.add_argument("--report", type=Path, metavar="FILE.json", help="write a JSON report "
                   "here (and its plots beside it, as .png)")
    m.add_argument("--max-limiting-db", type=finite_float("dB"), metavar="DB",
                   help="warn when the limiter takes more than this, dB of gain reduction, "
                   "0..60 (default: the chain file's [master] value, else 6)")
    m.add_argument("-q", "--quiet", action="store_true", help="no progress, no summary")
    m.set_defaults(func=cmd_master)
