"""Faults during `outboard run`, caused for real: the JACK server killed mid-run,
the disk filling while recording, xruns.  The take and the file survive: what
was recorded is a valid file holding exactly what the chain computes (checked
against the offline engine), the exit is clean, and the host says what happened.

The server-killing tests run `outboard` in child processes under a JACK server
of their own (JACK_DEFAULT_SERVER), never the shared test server."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import forget_clients, private_server, sine_and_noise, wait_part_file

from host.cli import main
from host.model.config import parse_chain

ROOT = Path(__file__).resolve().parents[2]
SESSION = ROOT / "configs" / "session_jack_studio.toml"
FS = 48000
EXE = Path(sys.executable).parent / "outboard"


def program(seconds: float, seed: int = 7) -> np.ndarray:
    return sine_and_noise(seconds, seed, FS)


def offline(x: np.ndarray) -> np.ndarray:
    """What the session's chain computes for ``x`` (frames, ch), aligned."""
    import tomllib

    from host.live.engine import Engine

    chain = parse_chain({"chain": tomllib.loads(SESSION.read_text())["chain"]})
    return Engine(FS, 2, chain).process_aligned(np.ascontiguousarray(x.T)).T


def assert_prefix_of_chain_output(rec: np.ndarray, x: np.ndarray) -> None:
    assert len(rec) > 0 and np.all(np.isfinite(rec))
    assert np.array_equal(rec, offline(x)[:len(rec)])


def jackd_pids(server: str) -> list[int]:
    """jackd processes running under the server name ``server``."""
    pids = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            env = (d / "environ").read_bytes().split(b"\0")
            exe = (d / "cmdline").read_bytes().split(b"\0")[0]
        except OSError:
            continue
        if exe.endswith(b"jackd") and f"JACK_DEFAULT_SERVER={server}".encode() in env:
            pids.append(int(d.name))
    return pids


def wait_recording(folder: Path, seconds: float, proc: subprocess.Popen) -> float:
    return wait_part_file(folder, seconds, proc, "the run", FS)


def test_server_killed_mid_run_keeps_the_recording_exits_cleanly_and_runs_again(
        private_jack, tmp_path):
    x = program(20.0)
    mix = tmp_path / "mix.wav"
    sf.write(mix, x, FS, subtype="FLOAT")
    out = tmp_path / "rec.wav"
    server = private_jack()
    proc = subprocess.Popen([str(EXE), "run", str(SESSION), "--input", str(mix), "--record",
                             str(out), "-q"], env=server.env, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    wait_recording(tmp_path, 1.0, proc)
    server.kill()  # SIGKILL: the server dies, nothing is said to its clients
    try:
        stdout, stderr = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("outboard run hung after the JACK server died")
    assert proc.returncode == 3, stderr
    assert "Traceback" not in stderr and "Fatal" not in stderr, stderr
    said = [ln for ln in stderr.splitlines() if "audio server stopped" in ln]
    assert len(said) == 1, stderr
    m = re.fullmatch(r"outboard: the audio server stopped at ([\d.]+) s; recording kept: "
                     r"(.+) \(([\d.]+) s\)", said[0])
    assert m, said[0]
    assert Path(m.group(2)) == out
    info = sf.info(out)  # a valid, finished file
    assert abs(info.frames / FS - float(m.group(3))) <= 0.05
    assert 1.0 <= info.frames / FS <= float(m.group(1)) + 0.05
    rec, _ = sf.read(out, dtype="float32")
    assert_prefix_of_chain_output(rec, x)
    assert not [p for p in tmp_path.iterdir() if ".part" in p.name]

    # started again (a new server), the session runs again
    server = private_jack()
    out2 = tmp_path / "again.wav"
    again = subprocess.run([str(EXE), "run", str(SESSION), "--input", str(mix), "--record",
                            str(out2), "--duration", "0.5", "-q"], env=server.env, cwd=ROOT,
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 0, again.stderr
    assert "--duration reached" in again.stdout
    rec2, _ = sf.read(out2, dtype="float32")
    assert len(rec2) >= 0.4 * FS
    assert_prefix_of_chain_output(rec2, x)


@pytest.mark.parametrize("ext", [".wav", ".flac"])
def test_disk_full_stops_recording_keeps_a_valid_file_and_says_so(jack_server, filling_disk,
                                                                   tmp_path, capsys, ext):
    """Another writer leaves the disk 200 KiB once the recording holds 64 kB
    (the run's check of the free space at its start passed)."""
    x = program(20.0 if ext == ".flac" else 5.0)  # FLAC packs more into the disk
    mix = tmp_path / "mix.wav"
    sf.write(mix, x, FS, subtype="FLOAT")
    small_disk = filling_disk.path
    out = small_disk / f"rec{ext}"
    filling_disk.fill_when_recording(64_000, 200 * 1024)
    t0 = time.monotonic()
    code = main(["run", str(SESSION), "--input", str(mix), "--record", str(out), "-q"])
    wall = time.monotonic() - t0
    cap = capsys.readouterr()
    assert code == 1, cap.err
    assert "stopped by an error" in cap.out
    assert "valid, cut short" in cap.out
    said = [ln for ln in cap.err.splitlines() if "recording stopped" in ln]
    assert len(said) == 1, cap.err
    assert "the disk is full" in said[0] and f"recording kept: {out} (" in said[0]
    assert wall < len(x) / FS  # stopped early, not at the end of the program
    info = sf.info(out)
    assert info.frames > 0.1 * FS
    rec, _ = sf.read(out, dtype="float32")
    if ext == ".wav":
        assert_prefix_of_chain_output(rec, x)
    else:  # 24-bit: the chain's output to within its quantisation
        ref = offline(x)[:len(rec)]
        assert np.max(np.abs(rec - ref)) <= 2.0 ** -23 * 1.01
    assert not [p for p in small_disk.iterdir() if ".part" in p.name]


SPY = """
import json, sys
import host.live.run as run
real = run.run_session
def spy(*a, **k):
    r = real(*a, **k)
    with open(sys.argv[1], "w") as f:
        json.dump({"xruns_s": r.xruns_s, "xruns": r.meters["xruns"],
                   "events": [e for e in r.events if e["type"] == "xrun"]}, f)
    return r
run.run_session = spy
from host.cli import main
sys.exit(main(sys.argv[2:]))
"""


def test_xruns_are_counted_and_reported_with_their_time_in_the_program(private_jack, tmp_path):
    """The run is frozen (SIGSTOP) for 0.3 s about 1 s into the program: JACK
    misses its deadline, the engine posts xruns, and the run lists them in
    seconds into the program; the RunResult carries the same times."""
    x = program(4.0)
    mix = tmp_path / "mix.wav"
    sf.write(mix, x, FS, subtype="FLOAT")
    out = tmp_path / "rec.wav"
    res = tmp_path / "result.json"
    server = private_jack()
    proc = subprocess.Popen([sys.executable, "-c", SPY, str(res), "run", str(SESSION), "--input",
                             str(mix), "--record", str(out), "-q"], env=server.env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    at = wait_recording(tmp_path, 1.0, proc)
    os.kill(proc.pid, signal.SIGSTOP)
    time.sleep(0.3)
    os.kill(proc.pid, signal.SIGCONT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    r = json.loads(res.read_text())
    assert r["xruns"] >= 1 and len(r["xruns_s"]) == len(r["events"]) == r["xruns"], r
    # the freeze is about `at` s into the program (the recorder lags the stream
    # by up to ~0.2 s: the stream is ahead of the part file, never behind)
    assert any(at - 0.1 <= t <= at + 0.5 for t in r["xruns_s"]), (at, r)
    assert all(0 <= t <= len(x) / FS + 0.1 for t in r["xruns_s"])
    line = [ln for ln in stdout.splitlines() if "xrun" in ln and "into the program" in ln]
    assert len(line) == 1, stdout
    shown = [float(v) for v in re.findall(r"([\d.]+) s", line[0])]
    assert shown == pytest.approx(r["xruns_s"], abs=0.006)
    assert line[0].startswith(f"{len(r['xruns_s'])} xrun")


def test_embedded_server_killed_mid_run_then_the_run_starts_it_again(tmp_path):
    """No server runs under this name: `outboard run` starts its embedded JACK
    server, which is killed mid-run; the run ends cleanly with the recording
    kept, and the next run starts a server of its own again and completes."""
    from host.sim.jack_server import jackd_path

    if jackd_path() is None:
        pytest.skip("jackd is not installed (Debian package jackd2)")
    name = f"outboard-faults-{os.getpid()}-embedded"
    env = dict(os.environ, JACK_DEFAULT_SERVER=name, JACK_NO_AUDIO_RESERVATION="1")
    x = program(20.0)
    mix = tmp_path / "mix.wav"
    sf.write(mix, x, FS, subtype="FLOAT")
    out = tmp_path / "rec.wav"
    clean = False
    try:
        proc = subprocess.Popen([str(EXE), "run", str(SESSION), "--input", str(mix), "--record",
                                 str(out), "-q"], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        wait_recording(tmp_path, 1.0, proc)
        pids = jackd_pids(name)
        assert len(pids) == 1
        os.kill(pids[0], signal.SIGKILL)
        try:
            stdout, stderr = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail("outboard run hung after its embedded JACK server died")
        assert proc.returncode == 3, stderr
        assert "Traceback" not in stderr and "Fatal" not in stderr, stderr
        assert re.search(r"^outboard: the audio server stopped at [\d.]+ s; recording kept: "
                         rf"{re.escape(str(out))} \([\d.]+ s\)$", stderr, re.M), stderr
        rec, _ = sf.read(out, dtype="float32")
        assert len(rec) >= FS
        assert_prefix_of_chain_output(rec, x)

        out2 = tmp_path / "again.wav"
        again = subprocess.run([str(EXE), "run", str(SESSION), "--input", str(mix), "--record",
                                str(out2), "--duration", "0.5", "-q"], env=env, cwd=ROOT,
                               capture_output=True, text=True, timeout=60)
        assert again.returncode == 0, again.stderr
        assert sf.info(out2).frames >= 0.4 * FS
        clean = not jackd_pids(name)  # stopped cleanly by the run that started it
    finally:
        for pid in jackd_pids(name):
            os.kill(pid, signal.SIGKILL)
        if not clean:  # give back the dead server's registry slot
            private_server(name).stop()
        forget_clients(name)
