"""`outboard run` on the embedded JACK studio: the live path prints exactly
what the offline engine computes, stops on --duration or Ctrl-C with a
complete recording, and refuses bad sessions in one line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from host.cli import main
from host.model.config import parse_chain

ROOT = Path(__file__).resolve().parents[2]
SESSION = ROOT / "configs" / "session_jack_studio.toml"


def program(fs=48000, seconds=3.0, seed=11) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(fs * seconds)
    t = np.arange(n) / fs
    x = 0.3 * np.sin(2 * np.pi * 220 * t)[:, None] * np.array([1.0, 0.8])
    x += 0.05 * rng.standard_normal((n, 2))
    x[int(fs * 1.0):int(fs * 1.2)] *= 3.0  # a loud passage for the dynamics
    return x.astype(np.float32)


@pytest.fixture
def mix(tmp_path) -> Path:
    p = tmp_path / "mix.wav"
    sf.write(p, program(), 48000, subtype="FLOAT")
    return p


def test_run_records_the_same_samples_as_the_offline_engine(jack_server, mix, tmp_path, capsys):
    import tomllib

    from host.live.engine import Engine

    out = tmp_path / "rec.wav"
    code = main(["run", str(SESSION), "--input", str(mix), "--record", str(out), "-q"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "end of program" in captured.out
    rec, fs = sf.read(out, dtype="float32")
    x, _ = sf.read(mix, dtype="float32")
    assert rec.shape == x.shape  # aligned: latency removed, tail flushed
    chain = parse_chain({"chain": tomllib.loads(SESSION.read_text())["chain"]})
    offline = Engine(fs, 2, chain).process_aligned(np.ascontiguousarray(x.T)).T
    assert np.array_equal(rec, offline)
    # and the chain did something: not a copy of the input
    assert np.max(np.abs(rec - x)) > 1e-3


def test_duration_stops_the_run_with_a_complete_recording(jack_server, mix, tmp_path, capsys):
    out = tmp_path / "rec.flac"
    code = main(["run", str(SESSION), "--input", str(mix), "--record", str(out),
                 "--duration", "1.0", "-q"])
    assert code == 0
    info = sf.info(out)
    assert info.subtype == "PCM_24"
    assert 0.8 * 48000 <= info.frames <= 1.3 * 48000
    assert not [p for p in tmp_path.iterdir() if ".part" in p.name]


def test_ctrl_c_leaves_a_valid_recording(jack_server, tmp_path):
    mix = tmp_path / "long.wav"
    sf.write(mix, program(seconds=20.0), 48000, subtype="FLOAT")
    out = tmp_path / "rec.wav"
    exe = Path(sys.executable).parent / "outboard"
    proc = subprocess.Popen([str(exe), "run", str(SESSION), "--input", str(mix), "--record",
                             str(out), "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # wait until it is recording
        parts = [p for p in tmp_path.iterdir() if ".part" in p.name]
        if parts and parts[0].stat().st_size > 48000 * 8:
            break
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    assert "stopped by Ctrl-C" in stdout
    info = sf.info(out)
    assert info.frames > 48000 // 2
    data, _ = sf.read(out)
    assert np.all(np.isfinite(data))
    assert not [p for p in tmp_path.iterdir() if ".part" in p.name]


@pytest.mark.parametrize(("edit", "needle"), [
    ('device = "system"', 'device = "Scarlett 99i99"'),
    ("inputs = [1, 2]", "inputs = [1, 2, 3]"),
])
def test_bad_session_is_one_line_error(jack_server, tmp_path, capsys, edit, needle):
    bad = tmp_path / "bad.toml"
    text = SESSION.read_text()
    assert edit in text
    bad.write_text(text.replace(edit, needle, 1))
    code = main(["run", str(bad), "--duration", "0.5", "-q"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith(f"outboard: error: {bad}: ")


HYBRID = ROOT / "configs" / "session_hybrid_studio.toml"


@pytest.mark.parametrize(("args", "needle"), [
    (["run", HYBRID, "--snapshot", "A", "--no-recall"],
     "--snapshot A with --no-recall: a snapshot is sent over MIDI at the start; expected one"),
    (["print", HYBRID, "--snapshot", "B", "--no-recall", "-o", "p.wav", "--input", "mix.wav"],
     "--snapshot B with --no-recall"),
    (["run", SESSION, "--snapshot", "A"],
     f"{SESSION}: --snapshot A: no hardware insert has MIDI recall"),
    (["print", HYBRID, "--snapshot", "C", "-o", "p.wav", "--input", "mix.wav"],
     f"{HYBRID}: no hardware insert has a snapshot 'C' (snapshots: A, B)"),
])
def test_snapshot_requests_are_refused_in_one_line_before_any_stream(monkeypatch, mix, capsys,
                                                                      args, needle):
    """--snapshot with --no-recall was silently ignored; an unknown snapshot was
    found only once the JACK server and the gear were up."""
    from host.live import run

    def no_stream(*a, **k):
        raise AssertionError("a stream was opened")

    monkeypatch.setattr(run, "SessionStream", no_stream)
    monkeypatch.chdir(mix.parent)
    assert main([str(a) for a in args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("outboard: error: ") and needle in err


@pytest.mark.parametrize(("command", "size"), [("run", "1.2 MB"), ("print", "1.5 MB")])
def test_a_recording_that_cannot_fit_is_refused_before_any_stream(monkeypatch, mix, small_disk,
                                                                  capsys, command, size):
    """3 s of 32-bit float stereo (run; print adds its 1 s post-roll) on a
    256 KiB disk: refused with the figures, not when the disk fills."""
    from host.live import run

    def no_stream(*a, **k):
        raise AssertionError("a stream was opened")

    monkeypatch.setattr(run, "SessionStream", no_stream)
    out = small_disk / "take.wav"
    flag = "--record" if command == "run" else "--output"
    assert main([command, str(SESSION), "--input", str(mix), flag, str(out), "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"outboard: error: {out}: not enough space in {small_disk}: about {size} "
                   "to write, 262.1 kB free")
def test_live_view_and_summary_give_the_same_dsp_load_the_worst_callback_since_start(
        jack_server, mix, monkeypatch):
    """The live view's "worst callback" and the summary's are one quantity: the
    longest callback since the start over its block's duration.  The engine
    keeps only the worst since the previous meter read (each 0.1 s refresh), so
    the view once showed that, the summary the run's worst (2.0 % against
    37.3 %).  Every frame shown is the running maximum (never falls) and the
    summary is the last of them, or a later callback's if worse."""
    import io

    from rich.console import Console

    from host.live import run as run_mod

    shown: list[float] = []
    texts: list[str] = []
    real = run_mod.render

    def spy(title, position_s, total_s, m, *a, **k):
        shown.append(m["dsp_load_max"])
        group = real(title, position_s, total_s, m, *a, **k)
        console = Console(width=120, record=True, file=io.StringIO())
        console.print(group)
        texts.append(console.export_text())
        return group

    monkeypatch.setattr(run_mod, "render", spy)
    r = run_mod.run_session(SESSION, mix, None, duration_s=1.5, view=True)
    m = r.meters
    assert len(shown) >= 5
    assert shown == sorted(shown) and shown[-1] <= m["dsp_load_max"]
    assert f"worst callback {shown[-1] * 100:5.1f} % since start" in texts[-1]
    assert 0.0 < m["dsp_load_mean"] <= m["dsp_load_max"]
    assert -0.5 <= m["dsp_load_max_at_s"] <= r.seconds + 0.2
    assert run_mod.dsp_load_text(m) == (
        f"DSP load: worst callback {m['dsp_load_max'] * 100:.1f} % at "
        f"{m['dsp_load_max_at_s']:.1f} s, mean {m['dsp_load_mean'] * 100:.1f} %")
