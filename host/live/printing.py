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
gear fault, or whose gear was not recalled (a unit's MIDI port missing or gone:
its knobs are wherever they were), is marked ``"clean": false`` with the
reasons in ``"not_clean_because"``; ``outboard print`` then exits 4.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

from host.audiofile import container_format, make_folder, read_audio
from host.errors import OutboardError
from host.live.recorder import RECORD_DEPTH
from host.live.run import (
    check_recall,
    check_record_path,
    check_record_space,
    incomplete_path,
    program_source,
    session_files,
    stream_session,
    sweep_parts,
)
from host.model.session import load_session
from host.offline.report import measure_program, report_paths, write_report

DEFAULT_PRE_ROLL_S = 1.0
DEFAULT_POST_ROLL_S = 1.0
MAX_ROLL_S = 60.0
#: engine events that make a print not clean
FAULTS = ("xrun", "nonfinite", "return_lost", "return_dc", "return_oscillation",
          "record_overrun", "playback_underrun")


@dataclass
class PrintResult:
    output: Path | None          # the print (or NAME.incomplete.EXT); None if nothing kept
    complete: bool
    clean: bool
    run: object                  # host.live.run.RunResult
    report: dict | None
    report_paths: tuple[Path, Path] | None
    #: why the print is not clean (xruns, gear faults, units not recalled); [] if clean
    not_clean_because: list[str] = field(default_factory=list)


def _check_roll(name: str, v: float) -> float:
    if not (math.isfinite(v) and 0.0 <= v <= MAX_ROLL_S):
        raise OutboardError(f"--{name}: expected seconds, 0..{MAX_ROLL_S:g}, got {v}")
    return float(v)


def default_print_path(session) -> Path | None:
    """The session's ``[release] print`` file, if it names one."""
    release = getattr(session, "release", None)
    return None if release is None or release.print_path is None else release.print_path




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

    say = say or (lambda msg: print(f"outboard: {msg}", file=sys.stderr))
    session = load_session(session_path)
    check_recall(session, recall, snapshot)
    pre_roll_s = _check_roll("pre-roll", pre_roll_s)
    post_roll_s = _check_roll("post-roll", post_roll_s)
    if output is None:
        output = default_print_path(session)
        if output is None:
            raise OutboardError(f"{session_path}: where to print? give --output PRINT.wav "
                                "(or [release] print = \"FILE\" in the session)")
        if input_path is not None or getattr(session, "stems", None):
            make_folder(output.parent, f"{session_path}: release.print")  # its folder
    output = Path(output)
    if input_path is None and not getattr(session, "stems", None):
        raise OutboardError(f"{session_path}: nothing to print: give --input MIX "
                            "(or [[stems]] in the session)")
    # the print, what a fault keeps (NAME.incomplete.EXT) and their reports: none of
    # them may be a file the print reads (input, stems, session, profiles, store)
    files = session_files(session, input_path)
    check_record_path(output, files, "print")
    check_record_path(incomplete_path(output), files, "incomplete print")
    for kept in (output, incomplete_path(output)):
        for r, what in zip(report_paths(kept), ("report", "report's plot"), strict=True):
            files.claim(r, what)
    sweep_parts(output, say)
    program, source = program_source(session, input_path, say)
    if len(program) == 0:
        raise OutboardError(f"{input_path or session_path}: the program is empty")
    fs = session.interface.sample_rate
    # an AIFF print that would pass 4 GiB is refused now, not cut short hours in
    container_format(output, RECORD_DEPTH.get(output.suffix.lower(), "32f"),
                     len(program) + int(round(post_roll_s * fs)), program.shape[1])
    check_record_space(output, len(program) + round(post_roll_s * fs), program.shape[1])
    title = f"print {output.name}  ({Path(session.path).name}, {fs} Hz)"
    result = stream_session(session, program, output, view=view, say=say, recall=recall,
                            snapshot=snapshot, pre_roll_s=pre_roll_s, post_roll_s=post_roll_s,
                            printing=True, title=title)
    complete = result.stopped_by == "end" and result.recording_error is None \
        and result.recording == output
    # what happened to the printed part (an xrun in the pre-roll is reported, not counted)
    faults = [e for e in result.events if e["type"] in FAULTS and e["time_s"] >= 0]
    why = not_clean_because(result, faults)
    clean = complete and not why
    rep = paths = None
    if report and result.recording is not None:
        rep = print_report(session, result, source, program_frames=len(program),
                           pre_roll_s=pre_roll_s, post_roll_s=post_roll_s, complete=complete,
                           clean=clean)
        rep["print"]["not_clean_because"] = why
        paths = report_paths(result.recording)

        try:  # a full disk that cut the print short has no room for its report either
            write_report(paths[0], paths[1], rep, title=f"print {result.recording.name}",
                         status=print_status(rep["print"]))
        except (OSError, OutboardError) as exc:
            say(f"{paths[0]}: the print's report could not be written: "
                f"{exc.strerror or exc}" if isinstance(exc, OSError)
                else f"the print's report could not be written: {exc}")  # names the file
            paths = None
    return PrintResult(result.recording, complete, clean, result, rep, paths, why)


def not_clean_because(run, faults: list[dict]) -> list[str]:
    """What makes a print not clean, one phrase each: its xruns, the gear faults
    in it (``faults``: engine events of FAULTS in the program), and every unit
    the recall did not reach (the print is then not of the session's settings)."""
    why = []
    xr = [e["time_s"] for e in faults if e["type"] == "xrun"]
    if xr:
        why.append(f"{len(xr)} xrun{'s' if len(xr) > 1 else ''} at "
                   + ", ".join(f"{t:.2f} s" for t in xr))
    for e in faults:
        if e["type"] != "xrun":
            where = f" in {e['insert']}" if e.get("insert") else ""
            why.append(f"{e['type'].replace('_', ' ')}{where} at {e['time_s']:.2f} s")
    for u in (run.recall or {}).get("units", []):
        if not u["recalled"]:
            why.append(f"insert {u['insert']} not recalled ({u['error']}): its settings "
                       "are not the session's")
    return why


def print_report(session, run, source: dict, *, program_frames: int, pre_roll_s: float,
                 post_roll_s: float, complete: bool, clean: bool) -> dict:
    """The print's report: what was printed, how, and what went wrong, plus the
    measurements of the file written (host.offline.report.measure_program)."""
    import numpy as np

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
                          gain_reduction=gr or None, channel_mask=audio.channel_mask)
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
        "dsp_load_max_percent": round(m["dsp_load_max"] * 100, 2),   # worst callback
        "dsp_load_max_at_s": m["dsp_load_max_at_s"],
        "dsp_load_mean_percent": round(m["dsp_load_mean"] * 100, 2),
    }
    return rep


#: xrun times listed one by one in the report's picture (all are in the JSON)
STATUS_XRUNS_LISTED = 8
#: how the picture names what stopped an incomplete print
_STOPPED_BY = {"server": "the audio server went away", "gear": "a hardware insert failed",
               "error": "the recording failed", "interrupt": "Ctrl-C"}


def _times(at_s: list[float], most: int | None) -> str:
    most = len(at_s) if most is None else most
    shown = ", ".join(f"{t:.2f} s" for t in at_s[:most])
    return shown + (f" and {len(at_s) - most} more" if len(at_s) > most else "")


def print_problems(pr: dict, xruns_listed: int | None = STATUS_XRUNS_LISTED) -> list[str]:
    """Why a print is not clean, one phrase each (``pr``: its report's ``print``
    part): the xruns in the printed part with their times (the first
    ``xruns_listed``; None: all), the gear faults in it (engine events of
    FAULTS, with the insert and time), and every unit the recall did not reach
    (its knobs are not the session's)."""
    out = []
    xr = pr["xruns"]["at_s"]
    if xr:
        out.append(f"{len(xr)} xrun{'s' if len(xr) > 1 else ''} at "
                   f"{_times(xr, xruns_listed)}")
    for e in pr["events"]:
        if e["type"] != "xrun" and e["type"] in FAULTS and e["time_s"] >= 0:
            where = f" in {e['insert']}" if e["insert"] else ""
            out.append(f"{e['type'].replace('_', ' ')}{where} at {e['time_s']:.2f} s")
    for u in (pr.get("recall") or {}).get("units", []):
        if not u["recalled"]:
            out.append(f"insert {u['insert']} not recalled ({u['error']})")
    return out


def _insert_line(name: str, m: dict) -> str:
    if m.get("source") == "session":
        lat = m["latency_samples"]
        lat = lat if isinstance(lat, list) else [lat]
        return (f"insert {name}: round trip {' / '.join(f'{v:g}' for v in lat)} samples "
                "(set in the session, not measured)")
    lat = " / ".join(f"{c['latency_samples']:.3f}" for c in m["channels"])
    return (f"insert {name}: round trip {lat} samples ({m['latency_ms']:.3f} ms), skew "
            f"{m['skew_samples']:.3f}, polarity {'+' if m['polarity'] > 0 else '-'}, gain "
            f"{round(m['gain_db'], 2) + 0.0:+.2f} dB, SNR {m['snr_db']:.0f} dB")  # no -0.00


def _recall_line(recall: dict | None) -> str:
    if not recall or not recall.get("units"):
        return "recall: none sent (no MIDI units, or --no-recall)"
    snap = f"snapshot {recall['snapshot']}: " if recall.get("snapshot") else ""
    done = [f"{u['insert']} recalled ({u['sent']} messages to {u['port']})"
            for u in recall["units"] if u["recalled"]]
    failed = [u["insert"] for u in recall["units"] if not u["recalled"]]
    return (f"recall: {snap}{'; '.join(done) or 'nothing recalled'}"
            + (f"; NOT recalled: {', '.join(failed)}" if failed else ""))


def print_status(pr: dict) -> dict:
    """The status panel of a print's picture (host.offline.report.plot_report):
    clean or not and why (:func:`print_problems`), the inserts' round trips,
    the recall, the stream; the xruns and gear faults as marks on the time
    axis.  ``pr`` is the report's ``print`` part."""
    problems = print_problems(pr)
    if not pr["complete"]:
        why = _STOPPED_BY.get(pr["stopped_by"], pr["stopped_by"])
        headline = f"INCOMPLETE: {why} at {pr['printed_seconds']:.2f} s"
        if pr.get("recording_error"):
            problems.insert(0, pr["recording_error"])
    elif pr["clean"] and not problems:
        headline = "CLEAN"
    else:
        headline = "NOT CLEAN: print it again"
    lines = [_insert_line(k, v) for k, v in pr["inserts"].items()]
    lines.append(_recall_line(pr.get("recall")))
    pre = pr["xruns"]["in_pre_roll"]
    at = pr.get("dsp_load_max_at_s")
    lines.append(f"DSP load: worst callback {pr['dsp_load_max_percent']:.1f} %"
                 + (f" at {at:.1f} s" if at is not None else "")
                 + f", mean {pr['dsp_load_mean_percent']:.1f} % (time in the callback / "
                 "the block's duration)")
    lines.append(f"{pr['device']}, {pr['sample_rate']} Hz, {pr['block_size']}-frame blocks; "
                 f"chain latency {pr['chain_latency_samples']} samples removed; pre-roll "
                 f"{pr['pre_roll_s']:g} s, post-roll {pr['post_roll_s']:g} s"
                 + (f"; {pre} xrun{'s' if pre > 1 else ''} in the pre-roll (not printed)"
                    if pre else ""))
    marks = [{"time_s": t, "label": f"xrun {t:.2f} s", "color": "red"}
             for t in pr["xruns"]["at_s"]]
    marks += [{"time_s": e["time_s"], "color": "darkorange",
               "label": e["type"].replace("_", " ") + (f": {e['insert']}" if e["insert"] else "")}
              for e in pr["events"]
              if e["type"] != "xrun" and e["type"] in FAULTS and e["time_s"] >= 0]
    return {"ok": pr["complete"] and pr["clean"] and not problems, "headline": headline,
            "problems": problems, "lines": lines, "marks": sorted(marks, key=lambda m: m["time_s"])}
