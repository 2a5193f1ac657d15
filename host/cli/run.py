"""``outboard run SESSION``: stream a session live with meters (:mod:`host.live.run`)."""

from __future__ import annotations

import argparse
import math
import signal
import sys
from pathlib import Path

from host.cli.args import finite_float
from host.errors import signal_name
from host.live.run import dsp_load_text, run_session


def cmd_run(args) -> int:
    r = run_session(args.session, args.input, args.record, args.duration,
                    view=not args.quiet, recall=not args.no_recall, snapshot=args.snapshot)
    m = r.meters
    if r.stopped_by == "server":
        kept = (f"recording kept: {r.recording} ({r.recorded_seconds:.1f} s)"
                if r.recording is not None else "nothing was recording")
        print(f"outboard: the audio server stopped at {r.seconds:.1f} s; {kept}",
              file=sys.stderr)
    if r.recording_error is not None:
        kept = (f"recording kept: {r.recording} ({r.recorded_seconds:.1f} s)"
                if r.recording is not None else "nothing could be kept")
        print(f"outboard: {r.recording_error}; {kept}", file=sys.stderr)
    how = {"end": "end of program", "duration": "--duration reached",
           "interrupt": f"stopped by {signal_name(r.signum or signal.SIGINT)}",
           "error": "stopped by an error",
           "server": "stopped: the audio server went away",
           "gear": "stopped: a hardware insert failed"}[r.stopped_by]
    integ = m["integrated_lufs"]
    print(f"{how} after {r.seconds:.2f} s: integrated {integ:.1f} LUFS, true peak "
          f"{m['true_peak_dbtp']:.1f} dBTP, xruns {m['xruns']}; {dsp_load_text(m)}"
          if math.isfinite(integ) else f"{how} after {r.seconds:.2f} s: xruns {m['xruns']}")
    if r.xruns_s:
        print(f"{len(r.xruns_s)} xrun{'s' if len(r.xruns_s) > 1 else ''} at "
              + ", ".join(f"{t:.2f} s" for t in r.xruns_s) + " into the program")
    if r.recording is not None:
        whole = "complete and valid" if r.stopped_by not in ("server", "gear") \
            and r.recording_error is None \
            else "valid, cut short"
        print(f"recorded {r.recording} ({r.recorded_seconds:.2f} s, {whole})")
    if r.stopped_by == "interrupt" and r.signum not in (None, signal.SIGINT):
        return 128 + r.signum  # SIGTERM: 143 (Ctrl-C is how a run is stopped: 0)
    return {"error": 1, "gear": 1, "server": 3}.get(r.stopped_by, 0)


#: `outboard run --help` says what its exit code means (cmd_run's last line)
EXIT_CODES = """exit codes:
  0    the program ended, --duration was reached, or Ctrl-C stopped it
       (the recording is complete and valid)
  1    stopped by a fault: a hardware insert lost with on_return_lost = "stop",
       or the recording failed (disk full); what was recorded is kept
  2    bad input (one line names the file or key)
  3    the audio server went away (what was recorded is kept)"""


def add_parser(sub) -> None:
    r = sub.add_parser("run", help="stream a session live through its chain, with meters",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog=EXIT_CODES)
    r.add_argument("session", type=Path, metavar="SESSION", help="session file (TOML)")
    r.add_argument("--input", type=Path, help="play this file as the program (default: the "
                   "interface's live input)")
    r.add_argument("--record", type=Path, metavar="OUT", help="record the processed program "
                   "(.wav/.aif: 32-bit float, .flac: 24-bit), aligned with the input")
    r.add_argument("--duration", type=finite_float("seconds"), metavar="S",
                   help="stop after S seconds")
    r.add_argument("--snapshot", metavar="NAME", help="recall this snapshot of the gear")
    r.add_argument("--no-recall", action="store_true",
                   help="do not send the session's MIDI settings to the gear on start")
    r.add_argument("-q", "--quiet", action="store_true", help="no live view")
    r.set_defaults(func=cmd_run)
