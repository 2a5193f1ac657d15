"""``outboard demo``: the host at work with no sound card and no input file.

1. A stereo program (chords, bass, drums with fast transients) is synthesized.
2. The embedded studio starts (a JACK server on its dummy backend, when none
   runs) and the program streams in real time through the session
   ``configs/session_jack_studio.toml`` (EQ, compressor, limiter in the C
   engine), with the live meters, and is recorded aligned with the input.
3. Hybrid: ``configs/session_hybrid_studio.toml`` puts an analog-style
   compressor (virtual gear, 37.25/37.5 samples of converter skew) on a
   hardware insert; its recall sheet is drawn (the knobs set by hand among
   them), its round trip is measured with a quiet ping, and the program is
   printed through it (``outboard print``) compensated to the sample, with
   its report (JSON + PNG), where the session's ``[release] print`` says
   (``out/hybrid/print.wav``).
4. Stems: four synthesized stems, each with its short chain, summed to the
   master bus of ``configs/session_stems.toml`` and printed.
5. The session's deliverables (its ``[release]``: streaming, club, CD, vinyl,
   bandcamp) are rendered from the print over every core (``outboard
   deliver``), each with its report, into ``out/hybrid/deliverables``.
6. The 20 s program is mastered offline to -14 LUFS / -1 dBTP and both files
   are analysed; then loud through ``configs/loud_master.toml`` (EQ, 4-band
   multiband, imager, tape saturation, limiter), whose report draws the gain
   reduction of each band (``demo_master_loud.png``).

What it leaves is what the README's commands use: in the folder (``out/demo``)
``mix.wav`` (the 20 s program), ``stems/`` with ``session_stems.toml`` beside
them, ``demo_stems_print.wav``, ``recall_sheet.html`` and ``.png``; the hybrid
session's print and deliverables in ``out/hybrid/`` (:func:`write_inputs`
writes the synthesized ones, shorter if asked, for a test).
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import numpy as np
import soundfile as sf

from host.audiofile import atomic_path, read_audio
from host.errors import Interrupted
from host.gear.recall_sheet import write_sheet
from host.live.printing import print_session
from host.live.run import dsp_load_text, run_session
from host.model.release import MasterSettings
from host.model.session import load_chain, load_session
from host.offline.analysis import analyze_audio
from host.offline.batch import plan, run_jobs
from host.offline.render import master
from host.offline.report import measure_program, report_paths, write_report


def synth_program(fs: int = 48000, seconds: float = 20.0, seed: int = 2026) -> np.ndarray:
    """A music-like stereo program, (frames, 2) float32, about -20 LUFS."""
    rng = np.random.default_rng(seed)
    n = int(fs * seconds)
    t = np.arange(n) / fs
    x = np.zeros((n, 2))
    chords = [(110.0, 138.6, 164.8), (98.0, 123.5, 146.8), (87.3, 110.0, 130.8),
              (98.0, 123.5, 155.6)]
    bar = int(fs * 2.0)
    for b, start in enumerate(range(0, n, bar)):
        seg = slice(start, min(n, start + bar))
        tt = t[seg] - t[start]
        env = np.minimum(1.0, tt / 0.05) * np.exp(-tt / 3.0)
        for k, f in enumerate(chords[b % 4]):
            for h, a in ((1, 0.25), (2, 0.08), (3, 0.04)):
                s = a * env * np.sin(2 * np.pi * f * h * 2 * tt + k)
                x[seg, 0] += s * (0.4 + 0.2 * k / 2)
                x[seg, 1] += s * (0.6 - 0.2 * k / 2)
        x[seg, :] += (0.35 * env * np.sin(2 * np.pi * chords[b % 4][0] / 2 * tt))[:, None]
    beat = int(fs * 0.5)
    for i, start in enumerate(range(0, n - beat, beat)):
        k = np.arange(beat)
        if i % 2 == 0:  # kick
            hit = np.sin(2 * np.pi * (50 + 80 * np.exp(-k / (0.02 * fs))) * k / fs)
            hit *= np.exp(-k / (0.12 * fs))
            x[start:start + beat] += (0.9 * hit)[:, None]
        else:  # snare
            hit = rng.standard_normal(beat) * np.exp(-k / (0.05 * fs))
            x[start:start + beat, 0] += 0.5 * hit
            x[start:start + beat, 1] += 0.45 * hit
    x *= 10 ** (-20 / 20) / np.sqrt(np.mean(x**2))
    return x.astype(np.float32)


def synth_stems(fs: int = 48000, seconds: float = 6.0, seed: int = 7) -> dict[str, np.ndarray]:
    """Four stereo stems of a short song: drums, bass, music, vocals; each
    (frames, 2) float32, all the same length."""
    rng = np.random.default_rng(seed)
    n = int(fs * seconds)
    t = np.arange(n) / fs
    beat = int(fs * 0.5)
    drums = np.zeros((n, 2))
    k = np.arange(beat)
    for i, start in enumerate(range(0, n - beat, beat)):
        if i % 2 == 0:
            hit = np.sin(2 * np.pi * (50 + 80 * np.exp(-k / (0.02 * fs))) * k / fs)
            drums[start:start + beat] += (0.8 * hit * np.exp(-k / (0.12 * fs)))[:, None]
        else:
            hit = rng.standard_normal(beat) * np.exp(-k / (0.05 * fs))
            drums[start:start + beat] += (0.15 * hit)[:, None] * [1.0, 0.9]
    roots = np.array([55.0, 49.0, 43.65, 49.0])[(t // 1.5).astype(int) % 4]  # Hz, 1.5 s each
    phase = 2 * np.pi * np.cumsum(roots) / fs
    bass = (0.35 * np.sin(phase) + 0.08 * np.sin(2 * phase))[:, None] * [1.0, 1.0]
    music = np.stack([0.12 * np.sin(2 * phase * 2.5) + 0.06 * np.sin(2 * phase * 3),
                      0.12 * np.sin(2 * phase * 2.5 + 0.3) + 0.06 * np.sin(2 * phase * 4)], 1)
    vib = 440 + 6 * np.sin(2 * np.pi * 5.5 * t)
    vp = 2 * np.pi * np.cumsum(vib) / fs
    voice = sum(a * np.sin(h * vp) for h, a in ((1, 0.2), (2, 0.08), (3, 0.05), (5, 0.02)))
    vocals = (voice * (0.6 + 0.4 * np.sin(2 * np.pi * 0.5 * t) ** 2))[:, None] * [1.0, 1.0]
    return {name: x.astype(np.float32) for name, x in
            (("drums", drums), ("bass", bass), ("music", music), ("vocals", vocals))}


SESSION = Path(__file__).resolve().parents[2] / "configs" / "session_jack_studio.toml"
STEMS = SESSION.with_name("session_stems.toml")
HYBRID = SESSION.with_name("session_hybrid_studio.toml")
LOUD = SESSION.with_name("loud_master.toml")


def _write(path: Path, x: np.ndarray, subtype: str) -> None:
    """A demo file, written under a temporary name and renamed when complete."""
    with atomic_path(path) as tmp:
        sf.write(tmp, x, 48000, subtype=subtype, format="WAV")


def _stop_if_stopped(run) -> None:
    """A stream stopped by Ctrl-C or SIGTERM stops the demo too."""
    if run.stopped_by == "interrupt":
        raise Interrupted(run.signum or signal.SIGINT)


def write_inputs(folder: Path, seconds: float = 20.0, stem_seconds: float = 6.0) -> Path:
    """The synthesized files the demo starts from: ``mix.wav`` (``seconds`` long),
    ``stems/*.wav`` (``stem_seconds``) and ``session_stems.toml`` beside them (a
    copy of configs/session_stems.toml, whose stems/ are relative to it).
    Returns the mix."""
    folder.mkdir(parents=True, exist_ok=True)
    mix = folder / "mix.wav"
    _write(mix, synth_program(seconds=seconds), "PCM_24")
    (folder / "stems").mkdir(exist_ok=True)
    for name, x in synth_stems(seconds=stem_seconds).items():
        _write(folder / "stems" / f"{name}.wav", x, "FLOAT")
    with atomic_path(folder / STEMS.name) as tmp:
        tmp.write_text(STEMS.read_text())  # its stems/ are beside it
    return mix


def run_demo(folder: Path = Path("out/demo"), live_seconds: float = 8.0) -> int:
    mix = write_inputs(folder)
    print(f"synthesized {mix} (20 s, 48 kHz, 24-bit) and four stems in {folder / 'stems'}")

    live_in = folder / "demo_live_in.wav"
    _write(live_in, synth_program(seconds=live_seconds), "PCM_24")
    print(f"\nstreaming {live_seconds:.0f} s in real time through {SESSION.name} "
          "(embedded JACK studio, C engine):")
    live = run_session(SESSION, live_in, folder / "demo_live_print.wav")
    _stop_if_stopped(live)
    m = live.meters
    print(f"live: {live.seconds:.1f} s streamed, {m['callbacks']} callbacks, "
          f"xruns {m['xruns']}, {dsp_load_text(m)}, "
          f"recorded {live.recording} ({live.recorded_seconds:.2f} s, aligned with the input)")

    sheet = write_sheet(load_session(HYBRID), folder / "recall_sheet.html",
                        folder / "recall_sheet.png")
    print(f"\nhybrid: the recall sheet of {HYBRID.name} (every knob of its unit; those set by "
          f"hand framed): {sheet[0]} and {sheet[1]}")
    print(f"hybrid: printing through {HYBRID.name}: a hardware insert with virtual analog "
          "gear (1 s pre-roll, 1 s post-roll), to its [release] print")

    pr = print_session(HYBRID, None, live_in, view=False)
    _stop_if_stopped(pr.run)
    r = pr.run
    print(f"  printed {pr.output} ({r.recorded_seconds:.2f} s; chain latency "
          f"{r.latency_samples} samples removed; xruns {r.meters['xruns']}; "
          f"{'clean' if pr.clean else 'NOT clean: see the report'})")
    print(f"  report {pr.report_paths[0]} and {pr.report_paths[1]}")

    print(f"\nstems: {STEMS.name} (drums, bass, music, vocals, each with its chain) "
          "summed to the master bus and printed:")
    sp = print_session(folder / STEMS.name, folder / "demo_stems_print.wav", view=False)
    _stop_if_stopped(sp.run)
    print(f"  printed {sp.output} ({sp.run.recorded_seconds:.2f} s, "
          f"{'clean' if sp.clean else 'NOT clean: see the report'}), report "
          f"{sp.report_paths[1]}")

    print(f"\nthe deliverables of {HYBRID.name}'s [release] from its print (every core, one "
          "progress bar), measured on the files written:")
    jobs = plan([HYBRID])
    for job, summary, error in run_jobs(jobs, show=False):
        if error:
            print(f"  {job.label}: error: {error}")
            continue
        print(f"  {job.deliverable.name:10} {summary['integrated_lufs']:6.1f} LUFS "
              f"{summary['true_peak_dbtp']:6.1f} dBTP  {summary['sample_rate']} Hz "
              f"{summary['bit_depth']}-bit  {Path(summary['file']).name} (+ .json, .png)")

    out = folder / "demo_master_streaming.wav"
    print("\nmastering the 20 s program offline to -14 LUFS, -1 dBTP:")
    result = master(mix, out, settings=MasterSettings(target_lufs=-14.0, ceiling_dbtp=-1.0))
    with atomic_path(folder / "demo_master_streaming.json") as tmp:
        tmp.write_text(json.dumps(result.report(), indent=2))
    a, b = analyze_audio(read_audio(mix)), result.output_analysis
    print(f"\n{'':24}{'mix':>12}{'master':>12}")
    for key, unit in (("integrated_lufs", "LUFS"), ("loudness_range_lu", "LU"),
                      ("short_term_max_lufs", "LUFS"), ("true_peak_dbtp", "dBTP"),
                      ("sample_peak_dbfs", "dBFS")):
        print(f"{key:24}{a[key]:>8.1f} {unit:<4}{b[key]:>7.1f} {unit}")
    for s in result.stages:
        if s["max_gain_reduction_db"] is not None:
            print(f"{s['name']:24}max gain reduction {s['max_gain_reduction_db']:.1f} dB")
    print(f"\nwrote {out} and its report {folder / 'demo_master_streaming.json'}")
    loud_master(mix, folder)
    return 0


def loud_master(mix: Path, folder: Path) -> Path:
    """The program through configs/loud_master.toml (EQ, 4-band multiband,
    imager, tape saturation, limiter) to its [master] target, with a report
    whose gain-reduction panel shows each band of the multiband."""
    chain = load_chain(LOUD)
    out = folder / "demo_master_loud.wav"
    m = chain.master
    print(f"\nmastering it loud through {LOUD.name} (EQ, multiband, imager, saturation, "
          f"limiter) to {m['target_lufs']:g} LUFS, {m['ceiling_dbtp']:g} dBTP:")
    result = master(mix, out, chain, MasterSettings(target_lufs=m["target_lufs"],
                                                    ceiling_dbtp=m["ceiling_dbtp"]))
    w = result.written
    rep = measure_program(w.data, w.sample_rate, ceiling_dbtp=m["ceiling_dbtp"],
                          gain_reduction=result.gr_traces or None)
    json_path, png_path = report_paths(out)
    write_report(json_path, png_path, rep, f"{out.name} ({LOUD.name})")
    for s in result.stages:
        if s["max_gain_reduction_db"] is not None:
            print(f"  {s['name']:22}max gain reduction {s['max_gain_reduction_db']:.1f} dB")
    o = result.output_analysis
    print(f"wrote {out}: {o['integrated_lufs']:.1f} LUFS, {o['true_peak_dbtp']:.1f} dBTP; "
          f"report {png_path} (gain reduction of each band)")
    return out

