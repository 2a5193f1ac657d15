"""``outboard print SESSION``: print the program through the whole chain in real
time (:mod:`host.live.printing`); exit 4 when the print is not clean.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path

from host.errors import signal_name
from host.live.printing import (
    DEFAULT_POST_ROLL_S,
    DEFAULT_PRE_ROLL_S,
    print_problems,
    print_session,
)


def cmd_print(args) -> int:
    res = print_session(args.session, args.output, args.input, pre_roll_s=args.pre_roll,
                        post_roll_s=args.post_roll, view=not args.quiet,
                        recall=not args.no_recall, snapshot=args.snapshot)
    r = res.run
    err = sys.stderr
    if r.stopped_by == "interrupt":
        signum = r.signum or signal.SIGINT
        print(f"outboard: print stopped by {signal_name(signum)}; no file was written",
              file=err)
        return 128 + signum
    if r.stopped_by == "server":
        print(f"outboard: the audio server stopped at {r.seconds:.1f} s into the program",
              file=err)
    if r.recording_error is not None:
        print(f"outboard: {r.recording_error}", file=err)
    if not res.complete:
        kept = (f"kept as {res.output} ({r.recorded_seconds:.2f} s, valid, incomplete)"
                if res.output is not None else "nothing could be kept")
        print(f"outboard: the print is incomplete; {kept}", file=err)
        return {"server": 3}.get(r.stopped_by, 1)
    s = res.report["summary"] if res.report else {}

    def fmt(v, unit):
        return "-inf" if v is None else f"{v:.1f} {unit}"

    print(f"printed {res.output} ({r.recorded_seconds:.2f} s, chain latency "
          f"{r.latency_samples} samples removed): integrated "
          f"{fmt(s.get('integrated_lufs'), 'LUFS')}, true peak "
          f"{fmt(s.get('true_peak_dbtp'), 'dBTP')}")
    if res.report_paths:
        print(f"report {res.report_paths[0]} and {res.report_paths[1]}")
    if not res.clean:
        # the same reasons as the status panel of the report's picture; every xrun listed
        what = print_problems(res.report["print"], xruns_listed=None) if res.report else []
        print("outboard: the print is NOT clean (" + "; ".join(what or ["see the report"])
              + "); marked in the report: print it again", file=err)
        return EXIT_NOT_CLEAN
    return 0



def add_parser(sub) -> None:
    import argparse

    p = sub.add_parser("print", help="print the master through the whole chain, hardware "
                       "inserts included, aligned to the sample; with a report",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog=EXIT_CODES)
    p.add_argument("session", type=Path, metavar="SESSION", help="session file (TOML)")
    p.add_argument("--input", type=Path, metavar="MIX",
                   help="the mix to print (default: the session's [[stems]])")
    p.add_argument("--output", "-o", type=Path, metavar="PRINT",
                   help=".wav/.aif (32-bit float) or .flac (24-bit); default: the session's "
                   "[release] print")
    p.add_argument("--pre-roll", type=float, default=DEFAULT_PRE_ROLL_S, metavar="S",
                   help=f"seconds of silence through the chain first, not printed "
                   f"(default {DEFAULT_PRE_ROLL_S:g})")
    p.add_argument("--post-roll", type=float, default=DEFAULT_POST_ROLL_S, metavar="S",
                   help=f"seconds printed after the program: the gear's tails "
                   f"(default {DEFAULT_POST_ROLL_S:g})")
    p.add_argument("--snapshot", metavar="NAME", help="recall this snapshot of the gear")
    p.add_argument("--no-recall", action="store_true",
                   help="do not send the session's MIDI settings to the gear first")
    p.add_argument("-q", "--quiet", action="store_true", help="no live view")
    p.set_defaults(func=cmd_print)


#: exit code of a print that completed with xruns or gear faults (see the report)
EXIT_NOT_CLEAN = 4



#: `outboard print --help` says what its exit code means
EXIT_CODES = """exit codes:
  0    printed, clean
  4    printed, but an xrun or a gear fault touched it, or a unit was not
       recalled (see NAME.json: "not_clean_because")
  3    the audio server went away (what was printed is kept as NAME.incomplete.EXT)
  1    another fault: gear lost with on_return_lost = "stop", disk full (kept the same way)
  2    bad input (one line names the file or key), or another session holds
       the outputs or the gear (one line names its PID and command)
  130  Ctrl-C (nothing is kept)
  143  SIGTERM (the same)"""
