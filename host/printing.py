"""``outboard print SESSION``: the master printed through the whole chain, gear included.

The program (``--input MIX``, or the session's ``[[stems]]`` summed to the
master bus) streams in real time through the session's chain: digital inserts
in the C engine, hardware inserts out of the interface and back, each return
compensated to the sample.  Around it:

* **pre-roll** (default 1 s of silence) goes through the chain first and is not
  recorded: the stream is settled and the gear at rest when the program starts;
* **post-roll** (default 1 s) after the program is recorded: the gear's tails
  (release, reverb) are part of the print.

The file is aligned with the input: its frame 0 is the program's frame 0, all
latency removed (the engine's own chain latency, and every insert's measured
round trip).  It is written under a temporary name and renamed when complete;
Ctrl-C deletes it; a fault that ends the stream (the audio server gone, a
hardware insert with ``on_return_lost = "stop"``, a full disk) keeps what was
printed as ``NAME.incomplete.EXT``, named as such.

Beside the print go ``NAME.json`` and ``NAME.png``: the print's report (input or
stems, device, inserts' round trips, recall, xruns with their time in the
program, events such as gear faults, and the program's loudness, true peak,
spectrum, correlation and gain reduction over time).  A print with an xrun or a
gear fault is marked ``"clean": false``; ``outboard print`` then exits 4.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path

from host.errors import OutboardError

DEFAULT_PRE_ROLL_S = 1.0
DEFAULT_POST_ROLL_S = 1.0
MAX_ROLL_S = 60.0
#: exit code of a print that completed with xruns or gear faults (see the report)
EXIT_NOT_CLEAN = 4
#: `outboard print --help` says what its exit code means
EXIT_CODES = """exit codes:
  0    printed, clean
  4    printed, but an xrun or a gear fault touched it (see NAME.json)
  3    the audio server went away (what was printed is kept as NAME.incomplete.EXT)
  1    another fault: gear lost with on_return_lost = "stop", disk full (kept the same way)
  2    bad input (one line names the file or key)
  130  Ctrl-C (nothing is kept)"""
#: engine events that make a print not clean
FAULTS = ("xrun", "nonfinite", "return_lost", "return_dc", "return_oscillation",
          "record_overrun", "playback_underrun")


@dataclass
class PrintResult:
    output: Path | None          # the print (or NAME.incomplete.EXT); None if nothing kept
    complete: bool
    clean: bool
    run: object                  # host.run.RunResult
    report: dict | None
    report_paths: tuple[Path, Path] | None


def _check_roll(name: str, v: float) -> float:
    if not (math.isfinite(v) and 0.0 <= v <= MAX_ROLL_S):
        raise OutboardError(f"--{name}: expected seconds, 0..{MAX_ROLL_S:g}, got {v}")
    return float(v)


def default_print_path(session) -> Path | None:
    """The session's ``[release] print`` file, if it names one."""
    release = getattr(session, "release", None)
    return None if release is None or release.print_path is None else release.print_path


def report_paths(output: Path) -> tuple[Path, Path]:
    """NAME.json and NAME.png beside a print or a deliverable."""
    return output.with_suffix(".json"), output.with_suffix(".png")


def print_session(session_path: Path, output: Path | None = None,
                  input_path: Path | None = None, *,
                  pre_roll_s: float = DEFAULT_PRE_ROLL_S,
                  post_roll_s: float = DEFAULT_POST_ROLL_S, view: bool = True,
                  recall: bool = True, snapshot: str | None = None, say=None,
                  report: bool = True) -> PrintResult:
    """Print a session; see the module docstring.

    Parameters
    ----------
    session_path : Path
        The session TOML.
    output : Path, optional
        .wav / .aif / .aiff (32-bit float) or .flac (24-bit); default the
        session's ``[release] print``.
    input_path : Path, optional
        The mix; default the session's stems.
    pre_roll_s, post_roll_s : float
        s, 0..60.
    """
    from host.run import check_record_path, program_source, stream_session
    from host.session import load_session

    say = say or (lambda msg: print(f"outboard: {msg}", file=sys.stderr))
    session = load_session(session_path)
    pre_roll_s = _check_roll("pre-roll", pre_roll_s)
    post_roll_s = _check_roll("post-roll", post_roll_s)
    if output is None:
        output = default_print_path(session)
        if output is None:
            raise OutboardError(f"{session_path}: where to print? give --output PRINT.wav "
                                "(or [release] print = \"FILE\" in the session)")
        if input_path is not None or getattr(session, "stems", None):
            output.parent.mkdir(parents=True, exist_ok=True)  # the session's folder for it
    output = Path(output)
    if input_path is None and not getattr(session, "stems", None):
        raise OutboardError(f"{session_path}: nothing to print: give --input MIX "
                            "(or [[stems]] in the session)")
    check_record_path(output, input_path)
    for p in report_paths(output):
        if input_path is not None and p.resolve() == Path(input_path).resolve():
            raise OutboardError(f"{p}: the print's report would overwrite the input")
    program, source = program_source(session, input_path, say)
    if len(program) == 0:
        raise OutboardError(f"{input_path or session_path}: the program is empty")
    fs = session.interface.sample_rate
    title = f"print {output.name}  ({Path(session.path).name}, {fs} Hz)"
    result = stream_session(session, program, output, view=view, say=say, recall=recall,
                            snapshot=snapshot, pre_roll_s=pre_roll_s, post_roll_s=post_roll_s,
                            printing=True, title=title)
    complete = result.stopped_by == "end" and result.recording_error is None \
        and result.recording == output
    # what happened to the printed part (an xrun in the pre-roll is reported, not counted)
    faults = [e for e in result.events if e["type"] in FAULTS and e["time_s"] >= 0]
    clean = complete and not faults
    rep = paths = None
    if report and result.recording is not None:
        rep = print_report(session, result, source, program_frames=len(program),
                           pre_roll_s=pre_roll_s, post_roll_s=post_roll_s, complete=complete,
                           clean=clean)
        paths = report_paths(result.recording)
        from host.report import write_report

        try:  # a full disk that cut the print short has no room for its report either
            write_report(paths[0], paths[1], rep, title=f"print {result.recording.name}")
        except (OSError, OutboardError) as exc:
            say(f"{paths[0]}: the print's report could not be written: "
                f"{exc.strerror or exc}" if isinstance(exc, OSError)
                else f"the print's report could not be written: {exc}")  # names the file
            paths = None
    return PrintResult(result.recording, complete, clean, result, rep, paths)


def print_report(session, run, source: dict, *, program_frames: int, pre_roll_s: float,
                 post_roll_s: float, complete: bool, clean: bool) -> dict:
    """The print's report: what was printed, how, and what went wrong, plus the
    measurements of the file written (host.report.measure_program)."""
    import numpy as np

    from host.audiofile import read_audio
    from host.report import measure_program

    fs = session.interface.sample_rate
    audio = read_audio(run.recording)
    source = dict(source)
    gr = dict(source.pop("_gr_traces", None) or {})  # the stems' own dynamics, offline
    gr.update({name: (np.array([t for t, _ in tr], dtype=float),
                      np.array([g for _, g in tr], dtype=float))
               for name, tr in run.gr_trace.items() if tr})
    limiters = [i for i in session.chain.inserts if i.kind == "limiter" and not i.bypass]
    ceiling = limiters[-1].params.get("ceiling_dbtp") if limiters else None
    rep = measure_program(audio.data, audio.sample_rate, ceiling_dbtp=ceiling,
                          gain_reduction=gr or None)
    m = run.meters
    in_file = [t for t in run.xruns_s if t >= 0]
    rep["print"] = {
        "file": str(run.recording),
        "session": str(session.path),
        "complete": complete,
        "clean": clean,
        "stopped_by": run.stopped_by,
        "recording_error": run.recording_error,
        "program": source,
        "program_seconds": round(program_frames / fs, 3),
        "printed_seconds": round(run.recorded_seconds, 3),
        "pre_roll_s": pre_roll_s,
        "post_roll_s": post_roll_s,
        "sample_rate": fs,
        "block_size": session.interface.block_size,
        "device": run.device,
        "chain_latency_samples": run.latency_samples,
        "inserts": run.measurements,
        "recall": run.recall,
        "xruns": {"count": len(in_file), "at_s": in_file,
                  "in_pre_roll": len(run.xruns_s) - len(in_file),
                  "engine_count": m["xruns"]},
        "events": [{"type": e["type"], "insert": e.get("insert") or None,
                    "time_s": e["time_s"]} for e in run.events if e["type"] != "playback_end"],
        "nonfinite_blocks": m["nonfinite"],
        "dsp_load_max_percent": round(m["dsp_load_max"] * 100, 2),
    }
    return rep


def cmd_print(args) -> int:
    res = print_session(args.session, args.output, args.input, pre_roll_s=args.pre_roll,
                        post_roll_s=args.post_roll, view=not args.quiet,
                        recall=not args.no_recall, snapshot=args.snapshot)
    r = res.run
    err = sys.stderr
    if r.stopped_by == "interrupt":
        print("outboard: print stopped by Ctrl-C; no file was written", file=err)
        return 130
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
        pr = res.report["print"] if res.report else {}
        xr = pr.get("xruns", {}).get("at_s", [])
        what = []
        if xr:
            what.append(f"{len(xr)} xrun{'s' if len(xr) > 1 else ''} at "
                        + ", ".join(f"{t:.2f} s" for t in xr))
        for e in pr.get("events", []):
            if e["type"] != "xrun" and e["type"] in FAULTS:
                where = f" in {e['insert']}" if e["insert"] else ""
                what.append(f"{e['type'].replace('_', ' ')}{where} at {e['time_s']:.2f} s")
        print("outboard: the print is NOT clean (" + "; ".join(what or ["see the report"])
              + "); marked in the report: print it again", file=err)
        return EXIT_NOT_CLEAN
    return 0


def add_print_parser(sub) -> None:
    import argparse

    p = sub.add_parser("print", help="print the master through the whole chain, hardware "
                       "inserts included, aligned to the sample; with a report",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog=EXIT_CODES)
    p.add_argument("session", type=Path, metavar="SESSION")
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
