"""``outboard deliver SOURCE...``: render deliverables over every core
(:mod:`host.offline.batch`), with one table of what was written.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from host.cli.args import finite_float
from host.audiofile import remove_stale_parts, stale_parts_note
from host.errors import OutboardError
from host.model.release import PRESETS, preset_table
from host.offline.batch import DEFAULT_PRESETS, BatchInterrupted, plan, run_jobs


def cmd_deliver(args) -> int:
    if args.list:
        from rich.console import Console
        from rich.markup import escape
        from rich.table import Table

        t = Table("preset", "settings", "for", title="deliverable presets")
        for row in preset_table():
            t.add_row(*map(escape, row))
        Console().print(t)
        return 0
    if not args.sources:
        raise OutboardError("deliver: expected SOURCE files (prints or session files); "
                            "--list shows the presets")
    if args.jobs is not None and args.jobs < 1:
        raise OutboardError(f"--jobs: expected a number of processes >= 1, got {args.jobs}")
    jobs = plan(args.sources, args.preset, args.out, report=not args.no_report,
                max_limiting_db=args.max_limiting_db)
    removed = remove_stale_parts({j.output.parent for j in jobs})
    if removed:
        print(f"outboard: {stale_parts_note(removed)}", file=sys.stderr)
    t0 = time.monotonic()
    try:
        results = run_jobs(jobs, args.jobs, report=not args.no_report, show=not args.quiet)
    except BatchInterrupted as stop:
        _summary(stop.results, args, t0)
        for i, (_j, _s, e) in enumerate(stop.results):
            if e is not None and i not in stop.stopped:  # failed before the signal
                print(f"outboard: error: {e}", file=sys.stderr)
        print(f"outboard: {stop.summary()}", file=sys.stderr)
        return stop.exit_code
    failed = _summary(results, args, t0)
    for _, e in failed:
        print(f"outboard: error: {e}", file=sys.stderr)
    return 1 if failed else 0


def _summary(results, args, t0: float) -> list:
    """The table of the deliverables written (unless --quiet); returns the
    failed (job, error) pairs."""
    failed = [(j, e) for j, s, e in results if e is not None]
    if not args.quiet and len(failed) < len(results):
        print_table([(j, s) for j, s, _e in results if s is not None],
                    len(results), time.monotonic() - t0)
        folders = sorted({str(j.output.parent) for j, s, _e in results if s is not None})
        if folders:
            print(f"in {', '.join(folders)}"
                  + ("" if args.no_report else " (each with its report: .json and .png)"))
    for _j, s, _e in results:
        if s is not None and s["limiting_warning"]:
            print(f"outboard: warning: {s['file']}: {s['max_limiting_db']:.1f} dB of limiting, "
                  f"over the {s['limiting_warning_db']:g} dB warning threshold "
                  "(--max-limiting-db): expect audible distortion; a lower loudness target "
                  "limits less", file=sys.stderr)
    return failed



def print_table(done: list, total: int, seconds: float) -> None:
    """What was written, one row per deliverable, readable in 80 columns: the
    deliverable's name first (what tells the files of one print apart), the
    file name whole (folded onto a second line when long, never cut), loudness
    and true peak as measured on the file; notes under the table."""
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"{len(done)} of {total} deliverables in {seconds:.1f} s",
              caption="LUFS: integrated loudness, dBTP: true peak, limiting: the most "
              "gain reduction (dB, (!) over the warning); measured on the files written")
    t.add_column("deliverable", no_wrap=True)
    t.add_column("file", overflow="fold", ratio=1)
    t.add_column("LUFS", justify="right", no_wrap=True)
    t.add_column("dBTP", justify="right", no_wrap=True)
    t.add_column("limiting", justify="right", no_wrap=True)
    t.add_column("format", no_wrap=True)
    for j, s in done:
        bits = "32f" if s["bit_depth"] == "32f" else f"{s['bit_depth']}-bit"
        lim = "-" if not s["limiter"] else f"{s['max_limiting_db']:.1f}" + (
            " (!)" if s["limiting_warning"] else "")
        t.add_row(j.deliverable.name, Path(s["file"]).name, _fmt(s["integrated_lufs"], ""),
                  _fmt(s["true_peak_dbtp"], ""), lim,
                  f"{s['sample_rate'] / 1000:g} kHz {bits} {s['format'].upper()}")
    console = Console()
    console.print(t)
    for _j, s in done:
        if s["note"]:
            console.print(f"note: {Path(s['file']).name}: {s['note']}", markup=False,
                          highlight=False)


def add_parser(sub) -> None:
    p = sub.add_parser("deliver", help="render every deliverable (streaming, CD, vinyl...) "
                       "from prints or sessions, over all cores, with reports")
    p.add_argument("sources", nargs="*", type=Path, metavar="SOURCE",
                   help="prints (audio files) or session files ([release])")
    p.add_argument("--preset", metavar="NAMES",
                   help=f"comma-separated presets, of {', '.join(PRESETS)} (--list says what "
                   f"each is; default for a print: {','.join(DEFAULT_PRESETS)}; for a "
                   "session: its [release])")
    p.add_argument("--out", type=Path, metavar="DIR",
                   help="folder for the deliverables (default: the session's [release] "
                   "folder, or deliverables/ beside the print)")
    p.add_argument("--jobs", "-j", type=int, metavar="N",
                   help="worker processes (default: one per core)")
    p.add_argument("--no-report", action="store_true", help="no JSON/PNG reports")
    p.add_argument("--max-limiting-db", type=finite_float("dB"), metavar="DB",
                   help="warn about a deliverable whose limiter takes more than this, dB "
                   "of gain reduction, 0..60 (default: each deliverable's "
                   "max_limiting_db, else 6)")
    p.add_argument("--list", action="store_true", help="list the presets and exit")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress, no table")
    p.set_defaults(func=cmd_deliver)


def _fmt(v, unit: str) -> str:
    return "-inf" if v is None else f"{v:.2f} {unit}".rstrip()
