"""Command line: ``outboard analyze | master | run | ping | recall | recall-sheet |
devices | demo``.

Every user error ends in one line on stderr naming the file, key or setting
and what was expected, and a non-zero exit (2); nothing is half-written.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from host import __version__
from host.errors import OutboardError

EXIT_USER_ERROR = 2
#: files longer than this (seconds) get a progress bar
PROGRESS_MIN_S = 5.0


def _fmt(v: float | None, unit: str) -> str:
    return "-inf" if v is None else f"{v:.1f} {unit}" if unit else f"{v}"


def cmd_analyze(args: argparse.Namespace) -> int:
    from host.analysis import analyze_audio
    from host.audiofile import read_audio

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


def cmd_master(args: argparse.Namespace) -> int:
    from host.audiofile import atomic_path, check_writable
    from host.config import default_chain, load_chain
    from host.render import MasterSettings, master, overall_fraction

    config = load_chain(args.chain) if args.chain else default_chain()
    m = config.master
    settings = MasterSettings(
        target_lufs=args.target_lufs if args.target_lufs is not None else m.get("target_lufs"),
        ceiling_dbtp=args.ceiling_dbtp if args.ceiling_dbtp is not None
        else m.get("ceiling_dbtp", -1.0),
        bit_depth=args.bit_depth or m.get("bit_depth", "24"),
        sample_rate=args.sample_rate or m.get("sample_rate"),
        dither=m.get("dither", "wannamaker9"),
    )
    if settings.target_lufs is not None and not -40 <= settings.target_lufs <= -5:
        raise OutboardError(f"--target-lufs: expected -40..-5 LUFS, got {settings.target_lufs}")
    if not -20 <= settings.ceiling_dbtp <= 0:
        raise OutboardError(f"--ceiling-dbtp: expected -20..0 dBTP, got {settings.ceiling_dbtp}")
    if settings.sample_rate is not None and not 8000 <= settings.sample_rate <= 384000:
        raise OutboardError(f"--sample-rate: expected 8000..384000 Hz, got {settings.sample_rate}")
    if args.report:
        check_writable(args.report)

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
            result = master(args.input, args.output, config, settings, progress)
    else:
        result = master(args.input, args.output, config, settings)
    report = result.report()
    if args.report:
        with atomic_path(args.report) as tmp:
            tmp.write_text(json.dumps(report, indent=2) + "\n")
        from host.report import measure_program, plot_report

        out = result.written
        rep = measure_program(out.data, out.sample_rate, ceiling_dbtp=settings.ceiling_dbtp,
                              gain_reduction=result.gr_traces or None)
        if settings.target_lufs is not None:
            rep["target_lufs"] = settings.target_lufs
        plot_report(rep, args.report.with_suffix(".png"), f"{result.output.name} (master)")
    if not args.quiet:
        o = result.output_analysis
        print(f"wrote {result.output}: {_fmt(o['integrated_lufs'], 'LUFS')} integrated, "
              f"{_fmt(o['true_peak_dbtp'], 'dBTP')} true peak, "
              f"{o['sample_rate']} Hz, {settings.bit_depth}-bit")
    if result.note:
        print(f"outboard: warning: {result.note}", file=sys.stderr)
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from host.run import cmd_run

    return cmd_run(args)


def _cmd_ping(args: argparse.Namespace) -> int:
    from host.ping import cmd_ping

    return cmd_ping(args)


def cmd_demo(args: argparse.Namespace) -> int:
    from host.demo import run_demo

    return run_demo(args.out)


def _float(name: str):
    def conv(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not math.isfinite(v):
            raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
        return v
    conv.__name__ = name
    return conv


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="outboard",
        description="Real-time host for hybrid analog/digital mastering.")
    p.add_argument("--version", action="version", version=f"outboard {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    a = sub.add_parser("analyze", help="loudness (EBU R128) and peaks of an audio file")
    a.add_argument("file", type=Path)
    a.add_argument("--json", action="store_true", help="print one JSON object")
    a.set_defaults(func=cmd_analyze)

    m = sub.add_parser("master", help="master a file: chain, loudness, true-peak ceiling, "
                       "rate, bit depth")
    m.add_argument("input", type=Path, metavar="IN")
    m.add_argument("output", type=Path, metavar="OUT", help=".wav, .flac, .aif or .aiff")
    m.add_argument("--chain", type=Path, help="chain TOML (default: high-pass, glue "
                   "compressor, true-peak limiter)")
    m.add_argument("--target-lufs", type=_float("LUFS"),
                   help="integrated loudness, -40..-5 (default: the chain file's [master] "
                   "value, else no loudness change)")
    m.add_argument("--ceiling-dbtp", type=_float("dBTP"), help="true-peak ceiling, -20..0 "
                   "(default -1)")
    m.add_argument("--bit-depth", choices=["16", "24", "32f"], help="default 24")
    m.add_argument("--sample-rate", type=int, help="output rate in Hz (soxr VHQ)")
    m.add_argument("--report", type=Path, help="write a JSON report here (and its plots "
                   "beside it, as .png)")
    m.add_argument("-q", "--quiet", action="store_true", help="no progress, no summary")
    m.set_defaults(func=cmd_master)

    r = sub.add_parser("run", help="stream a session live through its chain, with meters")
    r.add_argument("session", type=Path, metavar="SESSION")
    r.add_argument("--input", type=Path, help="play this file as the program (default: the "
                   "interface's live input)")
    r.add_argument("--record", type=Path, metavar="OUT", help="record the processed program "
                   "(.wav/.aif: 32-bit float, .flac: 24-bit), aligned with the input")
    r.add_argument("--duration", type=_float("seconds"), metavar="S",
                   help="stop after S seconds")
    r.add_argument("--snapshot", metavar="NAME", help="recall this snapshot of the gear")
    r.add_argument("--no-recall", action="store_true",
                   help="do not send the session's MIDI settings to the gear on start")
    r.add_argument("-q", "--quiet", action="store_true", help="no live view")
    r.set_defaults(func=_cmd_run)

    p_ = sub.add_parser("ping", help="measure a hardware insert's round trip (latency, "
                        "polarity, gain, SNR)")
    p_.add_argument("session", type=Path, metavar="SESSION")
    p_.add_argument("--insert", metavar="NAME", help="the hardware insert (default: all)")
    p_.add_argument("--json", action="store_true", help="print JSON")
    p_.add_argument("--save", action="store_true", help="store the result beside the session")
    p_.set_defaults(func=_cmd_ping)

    from host.batch import add_deliver_parser
    from host.printing import add_print_parser

    add_print_parser(sub)
    add_deliver_parser(sub)

    from host.recall_cli import add_recall_parser
    from host.recall_sheet import add_recall_sheet_parser

    add_recall_parser(sub)
    add_recall_sheet_parser(sub)

    from host.devices import add_devices_parser

    add_devices_parser(sub)

    d = sub.add_parser("demo", help="the whole host at work on synthesized audio: stream, print "
                       "through virtual gear, deliver, master")
    d.add_argument("--out", type=Path, default=Path("out/demo"), help="folder for the files")
    d.set_defaults(func=cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except OutboardError as exc:
        print(f"outboard: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("outboard: interrupted; nothing was written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
