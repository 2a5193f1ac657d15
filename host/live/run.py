"""``outboard run SESSION``: the chain live, with meters, optionally recording.

The main thread feeds the program from a file (or the stream takes the
interface's live input), drains the record ring into a file through
:class:`host.live.recorder.Recorder`, and redraws the live view; the audio itself
runs only in the C engine's callback.  Ctrl-C stops cleanly: the stream is
stopped, what was recorded is finished as a valid file and renamed into place.

Faults end the run the same way, with the take kept: the audio server dying
(the engine's frame counter stops for ``STALL_S`` while the stream should run;
the dead stream is abandoned, not stopped, since PortAudio's JACK host API would
wait for it forever; exit code 3), and the disk filling (the recorder stops
writing and keeps what is on disk as a valid file; exit code 1).  Xruns are
reported with their time in the program (``RunResult.xruns_s``).
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from host.audiofile import (
    FilesRead,
    check_space,
    check_writable,
    expected_bytes,
    output_format,
    read_audio,
    remove_stale_parts,
    stale_parts_note,
)
from host.errors import OutboardError, deferred, interruption
from host.gear.inserts import store_path
from host.live.device import short_hostapi
from host.live.live_view import render
from host.live.recorder import RECORD_DEPTH, Recorder
from host.live.stream import SessionStream
from host.midi.recall import plan, recall_session, units
from host.model.session import files_read, load_session
from host.offline.stems import mix_stems

FEED_FRAMES = 8192
REFRESH_S = 0.1
#: wall time without a new engine frame, while the stream should run, that means
#: the audio server is gone (JACK killed or crashed), s
STALL_S = 1.0


@dataclass
class RunResult:
    seconds: float
    stopped_by: str  # "end" | "duration" | "interrupt" | "error" | "server" | "gear"
    recording: Path | None
    recorded_seconds: float
    meters: dict
    events: list[dict] = field(default_factory=list)
    latency_samples: int = 0             # the chain's, removed from the recording
    xruns_s: list[float] = field(default_factory=list)  # xrun times, s into the program
    # (meters["xruns"] counts the program's xruns too; more than len(xruns_s) only if
    # the engine's event ring overflowed, see meters["events_dropped"])
    recording_error: str | None = None   # why the recording stopped early (disk full...)
    #: dynamics inserts' gain reduction over the program: name -> [(s, max dB since the
    #: previous poll)], polled with the live view (every REFRESH_S)
    gr_trace: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    measurements: dict = field(default_factory=dict)  # hardware inserts' round trips
    device: str = ""
    recall: dict | None = None           # the MIDI recall's report, if one was sent
    #: the signal behind stopped_by "interrupt": SIGINT (Ctrl-C), SIGTERM, SIGHUP
    signum: int | None = None


def _prepare_input(path: Path, fs: int, channels: int, say) -> np.ndarray:
    """The program file as interleaved float32 (frames, channels) at ``fs``."""

    audio = read_audio(path)
    data = audio.data
    if audio.channels != channels:
        if audio.channels == 1:
            data = np.repeat(data, channels, axis=0)
        else:
            raise OutboardError(f"{path}: has {audio.channels} channels; the session's program "
                                f"has {channels} (program.inputs)")
    if audio.sample_rate != fs:
        import soxr

        say(f"resampling {path.name} from {audio.sample_rate} Hz to the session's {fs} Hz")
        return np.ascontiguousarray(soxr.resample(data.T, audio.sample_rate, fs, quality="VHQ"),
                                    dtype=np.float32)
    return np.ascontiguousarray(data.T, dtype=np.float32)


def program_source(session, input_path: Path | None, say) -> tuple[np.ndarray | None, dict]:
    """The program to stream: ``input_path`` if given, else the session's
    ``[[stems]]`` summed to the master bus (host.offline.stems), else None (the
    interface's live input).  Returns (interleaved float32 (frames, channels) at
    the session rate or None, a description for reports)."""
    fs, nch = session.interface.sample_rate, len(session.program.inputs)
    if input_path is not None:
        return _prepare_input(input_path, fs, nch, say), {"input": str(input_path)}
    if getattr(session, "stems", None):
        mix = mix_stems(session, say=say)
        for note in mix.notes:
            say(note)
        return mix.data, {"stems": mix.stems, "stem_notes": mix.notes,
                          "_gr_traces": mix.gr_traces}  # (for the print's report)
    return None, {"input": "live"}


def session_files(session, input_path: Path | None) -> FilesRead:
    """Every file streaming ``session`` reads (host.audiofile.FilesRead): the
    session, its stems and device profiles, the input mix, the measurement store."""
    files = files_read(session)
    if input_path is not None:
        files.read(input_path, "the input file")
    files.read(store_path(session.path), "the session's measurement store")
    return files


def check_record_path(record_path: Path, files: FilesRead, what: str = "recording") -> None:
    """One line now, not after the stream: the recording's format and folder,
    and that it is none of the files read (``files``) nor another output."""

    files.claim(record_path, what)
    output_format(record_path, "32f" if record_path.suffix.lower() != ".flac" else "24")
    check_writable(record_path)


def sweep_parts(path: Path, say) -> None:
    """Remove the part files beside ``path`` that a killed run left (their
    process is gone), and say so."""
    removed = remove_stale_parts([path.parent])
    if removed:
        say(stale_parts_note(removed))


def check_record_space(record_path: Path, frames: int | None, channels: int) -> None:
    """One line now, not when the disk fills: the recording's ``frames`` (None:
    a live input without --duration, no length to check) must fit."""
    if frames is not None:
        depth = RECORD_DEPTH.get(record_path.suffix.lower(), "32f")
        check_space([(record_path, expected_bytes(record_path, frames, channels, depth))])


def check_recall(session, recall: bool, snapshot: str | None) -> None:
    """One line now, not after the stream opens: a ``snapshot`` needs the recall
    on, a unit with MIDI recall, and a unit that has that snapshot."""
    if snapshot is None:
        return
    if not recall:
        raise OutboardError(f"--snapshot {snapshot} with --no-recall: a snapshot is sent "
                            "over MIDI at the start; expected one of the two, not both")
    if not units(session):
        raise OutboardError(f"{session.path}: --snapshot {snapshot}: no hardware insert has "
                            "MIDI recall (a midi = { profile, port } table); expected a "
                            "session with MIDI gear")
    plan(session, snapshot)  # the snapshot exists (else one line naming those that do)


def run_session(session_path: Path, input_path: Path | None = None,
                record_path: Path | None = None, duration_s: float | None = None,
                view: bool = True, say=None, recall: bool = True,
                snapshot: str | None = None) -> RunResult:
    """Stream a session; see the module docstring.  Returns what happened.

    The program is ``input_path``, else the session's stems, else the live input."""

    say = say or (lambda msg: print(f"outboard: {msg}", file=sys.stderr))
    session = load_session(session_path)
    check_recall(session, recall, snapshot)
    if duration_s is not None and not (duration_s > 0 and math.isfinite(duration_s)):
        raise OutboardError(f"--duration: expected a positive number of seconds, got {duration_s}")
    if record_path is not None:
        check_record_path(record_path, session_files(session, input_path))
        sweep_parts(record_path, say)
    program, _ = program_source(session, input_path, say)
    if record_path is not None:
        fs = session.interface.sample_rate
        lengths = ([len(program)] if program is not None else []) + \
            ([math.ceil(duration_s * fs)] if duration_s is not None else [])
        check_record_space(record_path, min(lengths) if lengths else None,
                           len(session.program.inputs))
    return stream_session(session, program, record_path, duration_s=duration_s, view=view,
                          say=say, recall=recall, snapshot=snapshot)


def stream_session(session, program: np.ndarray | None, record_path: Path | None, *,
                   duration_s: float | None = None, view: bool = True, say=None,
                   recall: bool = True, snapshot: str | None = None,
                   pre_roll_s: float = 0.0, post_roll_s: float = 0.0,
                   printing: bool = False, title: str | None = None) -> RunResult:
    """Open the session's stream, recall and prepare its inserts, stream
    ``program`` (or the live input) and record it aligned; the shared core of
    `outboard run` and `outboard print`.

    ``pre_roll_s`` of silence goes through the chain (hardware included) before
    the program and is not recorded; ``post_roll_s`` after it is recorded (the
    tails of the gear).  ``printing``: a print is all or nothing under its name:
    Ctrl-C deletes it; a fault (server gone, gear stop, disk full) keeps what was
    recorded as ``NAME.incomplete.EXT`` instead (RunResult.recording).
    """

    say = say or (lambda msg: print(f"outboard: {msg}", file=sys.stderr))
    fs, nch = session.interface.sample_rate, len(session.program.inputs)
    pre = int(round(pre_roll_s * fs))
    post = int(round(post_roll_s * fs))
    source = "playback" if program is not None else "input"
    with SessionStream(session, source, record_path is not None, say) as ss:
        recall_report = None
        if recall and units(session):  # the gear back where the session says, before measuring
            recall_report = recall_session(session, snapshot, say=lambda msg: None)
            for line in recall_report.text().splitlines():
                say(line)
        ss.prepare_inserts()
        engine, dev = ss.engine, ss.device
        lat = engine.latency_samples
        length = None
        if program is not None:  # pre-roll, program, post-roll, then flush the chain's latency
            length = len(program) + post
            program = np.concatenate([np.zeros((pre, nch), dtype=np.float32), program,
                                      np.zeros((post + lat, nch), dtype=np.float32)])
        recorder = None
        if record_path is not None:
            engine.record_read(1 << 30)  # whatever a ping left behind

            def skip() -> int | None:
                m = engine.meters()
                if program is None:
                    return lat
                first = m["playback_first_frame"]
                return None if first < 0 else first - m["record_first_frame"] + lat + pre

            recorder = Recorder(record_path, fs, nch, engine.record_read, skip_frames=skip,
                                limit_frames=length)
        title = title or (f"{Path(session.path).name}  {dev.name} "
                          f"[{short_hostapi(dev.hostapi)}] {fs} Hz")
        try:
            result = _loop(engine, program, recorder, record_path, duration_s, view, title, lat,
                           fs, pre, printing)
        except BaseException:  # (a stop before the loop could take it): no part file left
            if recorder is not None and recorder.kept is None:
                recorder.abort()
            raise
        result.measurements = {k: (v.summary() if hasattr(v, "summary") else v)
                               for k, v in ss.measurements.items()}
        result.device = dev.name
        if recall_report is not None:
            result.recall = recall_report.to_dict()
        if result.stopped_by == "server":
            _forget_dead_server(ss)
        return result


#: streams whose audio server died: never stopped nor closed (PortAudio's JACK
#: host API would wait for a callback that cannot come), only kept referenced
_ABANDONED: list = []


def _abandon_stream(engine) -> None:
    """Detach a dead server's stream from the engine, so that leaving the
    session (SessionStream's engine.stop/close) does not wait on it forever.
    PortAudio is then not terminated at exit either (it would wait the same way)."""
    import atexit

    import sounddevice as sd

    atexit.unregister(sd._exit_handler)
    stream = engine._box.pop("stream", None)
    engine._stream = None
    if stream is not None:
        _ABANDONED.append(stream)


def _forget_dead_server(ss) -> None:
    """An embedded JACK server that died needs no stopping; stopping it would
    terminate PortAudio, which waits on the dead stream (see _abandon_stream)."""
    studio = ss.studio
    proc = getattr(studio, "proc", None)
    if proc is not None and proc.poll() is not None:
        studio.proc = None


def level_change_db(before: tuple[float, float], now: tuple[float, float], channels: int,
                    frames: float, floor_dbfs: float = -60.0) -> float | None:
    """A hardware insert's level change between two meter reads, dB: its
    returns' energy over its aligned dry path's (``energy_return`` /
    ``energy_dry`` differences); None when the dry path was quieter than
    ``floor_dbfs`` (mean square over ``channels`` x ``frames``) or nothing ran."""
    dry, ret = now[0] - before[0], now[1] - before[1]
    if dry <= channels * frames * 10 ** (floor_dbfs / 10) or ret <= 0:
        return None
    return 10 * math.log10(ret / dry)


def dsp_load_text(m: dict) -> str:
    """The DSP load of a run as its summaries say it: the worst single callback
    since the start (its time in the block's duration; when, to within a meter
    read) and the mean of the last-callback samples taken every REFRESH_S."""
    at = m.get("dsp_load_max_at_s")
    when = f" at {at:.1f} s" if at is not None else ""
    return (f"DSP load: worst callback {m['dsp_load_max'] * 100:.1f} %{when}, mean "
            f"{m.get('dsp_load_mean', m['dsp_load']) * 100:.1f} %")


def hw_label(insert: str) -> str:
    """How a hardware insert's gain reduction is named in traces and reports."""
    return f"{insert} (hardware: return vs send)"


def incomplete_path(path: Path) -> Path:
    """Where a print cut short by a fault is kept: NAME.incomplete.EXT."""
    return path.with_name(f"{path.stem}.incomplete{path.suffix}")


def _loop(engine, program, recorder, record_path, duration_s, view, title, lat, fs,
          pre: int = 0, printing: bool = False) -> RunResult:
    total_s = None if program is None else (len(program) - lat - pre) / fs
    if duration_s is not None:
        total_s = duration_s if total_s is None else min(total_s, duration_s)
    gr_names = list(engine.meters()["gain_reduction_db"])  # the dynamics inserts
    events: list[dict] = []
    lines: list[str] = []
    pos = 0
    stopped_by = "end"
    signum = None
    live = None
    if view:
        from rich.console import Console
        from rich.live import Live

        live = Live(console=Console(stderr=True), refresh_per_second=10, transient=False)

    def feed() -> None:
        nonlocal pos
        if program is None or pos >= len(program):
            return
        space = engine.playback_space
        if space > 0:
            n = min(space, len(program) - pos)
            pos += engine.playback_write(program[pos:pos + n])
            if pos >= len(program):
                engine.playback_finish()

    m0 = engine.meters()
    engine.events()  # drop what the set-up (pings) posted
    engine.reset_meters()
    start_frame = m0["frames"]
    xruns_before = m0["xruns"]  # the set-up's, not the program's
    if recorder is not None:
        engine.set_record(True)
        recorder.start()
    feed()
    m = engine.meters()
    # DSP load: each callback's time over its block's duration; the engine keeps the
    # worst callback since the previous read, this keeps the worst since the start
    # (and about when: between two reads) and the mean of the last-callback samples
    load_max, load_max_at, load_sum, load_n = 0.0, None, 0.0, 0
    gr_max = {n: 0.0 for n in gr_names}
    gr_trace: dict[str, list[tuple[float, float]]] = {n: [] for n in gr_names}
    hw_names = list(m["hardware"])
    hw_prev: dict[str, tuple[float, float]] = {}
    hw_frames = m0["frames"]  # engine frame of the previous energies
    last_frames, last_advance = m["frames"], time.monotonic()
    try:
        if live is not None:
            live.start()
        while True:
            feed()
            for e in engine.events():
                events.append(e)
                if e["type"] not in ("playback_end",):
                    where = f" in {e['insert']}" if e["insert"] else ""
                    at = (e['frame'] - start_frame - pre) / fs
                    lines.append(f"{e['type']}{where} at {at:.2f} s")
            fault = engine.stop_requested()  # a hardware insert set on_return_lost = "stop"
            if fault is not None:
                stopped_by = "gear"
                lines.append(f"stopping: {fault['type']} in {fault['insert']}")
                print(f"outboard: insert {fault['insert']}: {fault['type'].replace('_', ' ')} "
                      f"at {(fault['frame'] - start_frame - pre) / fs:.2f} s; stopping "
                      "(on_return_lost = \"stop\")", file=sys.stderr)
                break
            m = engine.meters()
            t = (m["frames"] - start_frame - pre) / fs  # s into the program
            if m["dsp_load_max"] > load_max:
                load_max, load_max_at = m["dsp_load_max"], t
            load_sum, load_n = load_sum + m["dsp_load"], load_n + 1
            for n in gr_names:
                gr_max[n] = max(gr_max[n], m["gain_reduction_max_db"][n])
                bands = m["gain_reduction_bands_max_db"].get(n)
                if t >= 0 and bands:   # a multiband: one trace per band
                    for b, v in bands.items():
                        gr_trace.setdefault(f"{n}: {b}", []).append((round(t, 3), v))
                elif t >= 0:
                    gr_trace[n].append((round(t, 3), m["gain_reduction_max_db"][n]))
            for n in hw_names:  # an analog unit's gain reduction: its returns vs its send
                cur = (m["hardware"][n]["energy_dry"], m["hardware"][n]["energy_return"])
                before = hw_prev.get(n, cur)
                hw_prev[n] = cur
                change = level_change_db(before, cur, len(m["output_peak_dbfs"]),
                                         m["frames"] - hw_frames)
                if t >= 0 and change is not None:
                    gr_trace.setdefault(hw_label(n), []).append((round(t, 3),
                                                                 max(0.0, -change)))
            hw_frames = m["frames"]
            now = time.monotonic()
            if m["frames"] != last_frames:
                last_frames, last_advance = m["frames"], now
            elif now - last_advance > STALL_S:  # the callback stopped coming: server gone
                stopped_by = "server"
                break
            if live is not None:
                gr = [m["gain_reduction_max_db"].get(n) for n in gr_names]
                shown = dict(m, in_peak_dbfs=m["input_peak_dbfs"],
                             out_peak_dbfs=m["output_peak_dbfs"], gain_reduction_db=gr,
                             dsp_load_max=load_max)  # since the start, as the summary
                rec = None
                if recorder is not None:
                    rec = f"{record_path}  {recorder.seconds:.1f} s"
                live.update(render(title, min(t, total_s or t), total_s, shown, gr_names, rec,
                                   lines, show_left=printing))
            if program is not None and m["playback_ended"]:
                break
            if duration_s is not None and t >= duration_s:
                stopped_by = "duration"
                break
            if recorder is not None and recorder.error:
                stopped_by = "error"
                break
            time.sleep(REFRESH_S)
    except KeyboardInterrupt as exc:  # Ctrl-C, SIGTERM, SIGHUP (host.errors.stop_signals)
        stopped_by = "interrupt"
        signum = interruption(exc).signum
    finally:
        with deferred():  # a stop signal now waits until the take is finished
            if stopped_by == "server":
                _abandon_stream(engine)
            else:
                engine.stop()
            if live is not None:
                live.stop()
                print(file=sys.stderr)
    with deferred():
        return _finish(engine, recorder, events, gr_max, gr_trace, gr_names,
                       (load_max, load_max_at, load_sum, load_n), xruns_before, start_frame,
                       stopped_by, signum, program, lat, pre, fs, printing)


def _finish(engine, recorder, events, gr_max, gr_trace, gr_names, load, xruns_before,
            start_frame, stopped_by, signum, program, lat, pre, fs, printing) -> RunResult:
    """After the stream: the meters, and the recording finished (or, for a
    print stopped by a signal, deleted).  ``load``: the DSP load seen so far
    (worst, when in the program s, sum, count of the meter reads)."""
    load_max, load_max_at, load_sum, load_n = load
    events.extend(engine.events())
    m = engine.meters()
    m["xruns"] -= xruns_before
    if m["dsp_load_max"] > load_max:
        load_max, load_max_at = m["dsp_load_max"], (m["frames"] - start_frame - pre) / fs
    m["dsp_load_max"] = load_max          # the worst callback since the start
    m["dsp_load_max_at_s"] = None if load_max_at is None else round(load_max_at, 2)
    m["dsp_load_mean"] = load_sum / load_n if load_n else m["dsp_load"]
    m["gain_reduction_max_db"] = {n: max(gr_max[n], m["gain_reduction_max_db"][n])
                                  for n in gr_names}
    saved = None
    rec_s = 0.0
    rec_err = None
    if recorder is not None and printing and stopped_by == "interrupt":
        recorder.abort()  # a print is whole or not at all
        recorder = None
    elif recorder is not None and printing and stopped_by != "end":
        recorder.path = incomplete_path(recorder.path)  # never under the print's own name
    if recorder is not None:
        try:
            saved = recorder.close()
        except OutboardError as exc:
            rec_err = str(exc)
            saved = recorder.kept
        rec_s = recorder.seconds
    # the program's time 0: its first frame taken from the playback ring (live input: the start)
    t0 = m["playback_first_frame"] if program is not None else -1
    t0 = t0 if t0 >= 0 else start_frame
    for e in events:  # s into the program (a print's pre-roll: negative, not in the file)
        e["time_s"] = round((e["frame"] - t0 - pre) / fs, 3)
        if pre == 0:
            e["time_s"] = max(0.0, e["time_s"])
    xruns_s = [e["time_s"] for e in events if e["type"] == "xrun"]
    return RunResult(max(0.0, (m["frames"] - start_frame - pre) / fs), stopped_by, saved, rec_s,
                     m, events, lat, xruns_s, rec_err, gr_trace, signum=signum)


