"""Faults during `outboard print`, caused for real: the JACK server killed
mid-print, the virtual gear's process killed mid-print, the print frozen into
xruns, the disk filling.  A print is all or nothing under its own name: what a
fault cut short is kept as ``NAME.incomplete.EXT``, a valid file holding exactly
what the chain computed (checked against the offline engine, or against the
input itself for a wire unit), with a report that says it is incomplete; a print
that completed through a fault is marked not clean (exit 4) with the fault's
time in the program.

`outboard print` runs in a child process under a JACK server of its own
(JACK_DEFAULT_SERVER), never the shared test server; servers are stopped
cleanly after each test (a SIGKILLed jackd keeps its registry slot otherwise)."""

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

from conftest import STUDIO_HEAD, sine_and_noise, wait_part_file

from host.model.config import parse_chain

ROOT = Path(__file__).resolve().parents[2]
SESSION = ROOT / "configs" / "session_jack_studio.toml"   # digital chain, embedded_jack
FS = 48000
PRE = FS            # the default pre-roll, 1 s, in frames
POST = FS           # the default post-roll, 1 s, in frames
EXE = Path(sys.executable).parent / "outboard"

GEAR_SESSION = STUDIO_HEAD + """
[[chain]]
kind = "hardware"
name = "{name}"
sends = [3, 4]
returns = [3, 4]
on_return_lost = "{policy}"
latency_samples = [{rt}, {rt}]
virtual_gear = {{ delay_samples = {delay} }}
"""
#: the wire unit's own delay, and its round trip through a 128-frame JACK
#: period (two periods more: tests/test_print.py measures 30 + 256 by ping)
GEAR_DELAY = 20
GEAR_RT = GEAR_DELAY + 256


def program(seconds: float, seed: int = 7) -> np.ndarray:
    return sine_and_noise(seconds, seed, FS)


def offline_print(x: np.ndarray) -> np.ndarray:
    """What a print of ``x`` through the digital session holds: the offline
    engine fed the pre-roll's silence, the program and the post-roll's silence,
    aligned, the pre-roll dropped.  (frames + POST, 2) float32."""
    import tomllib

    from host.live.engine import Engine

    chain = parse_chain({"chain": tomllib.loads(SESSION.read_text())["chain"]})
    z = np.zeros((PRE, 2), np.float32)
    full = np.concatenate([z, x, np.zeros((POST, 2), np.float32)])
    return Engine(FS, 2, chain).process_aligned(np.ascontiguousarray(full.T)).T[PRE:]


def null_dbfs(a: np.ndarray, b: np.ndarray) -> float:
    return float(20 * np.log10(np.max(np.abs(a - b)) + 1e-30))


def wire_prefix_null_dbfs(y: np.ndarray, x: np.ndarray, until: int,
                          xruns_s: list[float]) -> float:
    """Null (dBFS) of a wire unit's print ``y`` against the input ``x`` over
    frames [0, until), leaving out what the machine's own xruns tore: a period
    the late gear client dropped or repeated reaches the print one round trip
    (and a period or two) before the xrun's stamp, so [T - (RT + 3 periods), T + 1
    period] around each xrun T.  At least 0.5 s must remain to compare."""
    keep = np.ones(until, bool)
    for t in xruns_s:
        lo, hi = int(t * FS) - (GEAR_RT + 3 * 128), int(t * FS) + 128
        keep[max(0, lo):max(0, min(until, hi))] = False
    assert keep.sum() >= FS // 2, xruns_s
    return null_dbfs(y[:until][keep], x[:until][keep])


# ---- private JACK servers (as tests/test_faults_run.py) --------------------------------------


# ---- the print as a child process -------------------------------------------------------------


def start_print(sess: Path, mix: Path, out: Path, env: dict, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([str(EXE), "print", str(sess), "--input", str(mix), "--output",
                             str(out), "-q", *extra], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen, timeout: float, what: str) -> tuple[str, str]:
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail(f"outboard print hung {what}")


def wait_printing(folder: Path, seconds: float, proc: subprocess.Popen) -> float:
    return wait_part_file(folder, seconds, proc, "the print", FS)


def gear_pids(parent: int, unit: str) -> list[int]:
    """The virtual-gear processes that `outboard print` (pid ``parent``) spawned
    for the hardware insert ``unit`` (host.sim.studio names them gear-UNIT)."""
    pids = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
            cmd = (d / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == parent and b"host.sim.gear" in cmd and f"gear-{unit}".encode() in cmd:
            pids.append(int(d.name))
    return pids


def no_part_left(folder: Path) -> None:
    assert not [p.name for p in folder.iterdir() if ".part" in p.name]


def report_of(path: Path) -> dict:
    return json.loads(path.with_suffix(".json").read_text())


# ---- the tests ----------------------------------------------------------------------------------


def test_server_killed_mid_print_keeps_an_incomplete_valid_file_and_a_new_server_prints_again(
        private_jack, tmp_path):
    x = program(20.0)
    mix = tmp_path / "mix.wav"
    sf.write(mix, x, FS, subtype="FLOAT")
    out = tmp_path / "print.wav"
    kept = tmp_path / "print.incomplete.wav"
    server = private_jack()
    proc = start_print(SESSION, mix, out, server.env)
    wait_printing(tmp_path, 1.0, proc)
    server.kill()  # SIGKILL: the server dies, nothing is said to its clients
    stdout, stderr = finish(proc, 20, "after the JACK server died")
    assert proc.returncode == 3, stderr
    assert "Traceback" not in stderr and "Fatal" not in stderr, stderr
    said = [ln for ln in stderr.splitlines() if "audio server stopped" in ln]
    assert len(said) == 1, stderr
    m = re.fullmatch(r"outboard: the audio server stopped at ([\d.]+) s into the program", said[0])
    assert m, said[0]
    line = [ln for ln in stderr.splitlines() if "the print is incomplete" in ln]
    assert line == [f"outboard: the print is incomplete; kept as {kept} "
                    f"({sf.info(kept).frames / FS:.2f} s, valid, incomplete)"], stderr
    assert not out.exists()  # never under the print's own name
    info = sf.info(kept)     # a valid, finished file
    assert info.samplerate == FS and info.channels == 2 and info.subtype == "FLOAT"
    assert 1.0 <= info.frames / FS <= float(m.group(1)) + 0.05
    y, _ = sf.read(kept, dtype="float32")
    assert np.all(np.isfinite(y))
    want = offline_print(x)
    assert np.array_equal(y, want[:len(y)])  # the chain's output, to the bit
    rep = report_of(kept)
    assert rep["print"]["complete"] is False and rep["print"]["clean"] is False
    assert rep["print"]["stopped_by"] == "server"
    assert rep["print"]["printed_seconds"] == pytest.approx(len(y) / FS, abs=1e-3)
    no_part_left(tmp_path)

    # a new server (under the same name): the same print completes, whole
    server = private_jack()
    proc = start_print(SESSION, mix, out, server.env)
    stdout, stderr = finish(proc, 60, "on a new server")
    assert proc.returncode in (0, 4), stderr
    rep = report_of(out)
    if proc.returncode == 4:  # a loaded machine: only xruns may mark it
        assert rep["print"]["xruns"]["count"] >= 1, stderr
    assert rep["print"]["complete"] is True
    y2, _ = sf.read(out, dtype="float32")
    assert y2.shape == (len(x) + POST, 2)
    assert np.array_equal(y2[:len(x)], want[:len(x)])
    # the post-roll's decaying tail: the EQ flushes states under -600 dB every 256
    # samples counted from the stream's start (native/biquad.c), which the offline
    # engine counts from the pre-roll: bits may differ there, 300 dB down
    assert np.max(np.abs(y2 - want)) <= 1e-15
    no_part_left(tmp_path)


@pytest.mark.parametrize("policy", ["bypass", "stop"])
def test_gear_killed_mid_print_is_reported_and_the_print_is_marked(private_jack, tmp_path,
                                                                   policy):
    """A wire unit on a hardware insert; its process is SIGKILLed once 1 s of
    the print is on disk.  "bypass": the print goes on through the dry path,
    aligned, and completes not clean (exit 4) with the return_lost event in the
    report; "stop": the print stops (exit 1) and is kept as NAME.incomplete.wav.
    The reference is the input itself: what a wire unit gives back, and what the
    aligned dry path carries."""
    seconds = 5.0
    x = program(seconds, seed=11)
    mix = tmp_path / "mix.wav"
    sf.write(mix, x, FS, subtype="FLOAT")
    unit = f"wire{os.getpid()}{policy}"
    sess = tmp_path / "s.toml"
    sess.write_text(GEAR_SESSION.format(name=unit, policy=policy, rt=GEAR_RT, delay=GEAR_DELAY))
    out = tmp_path / "print.wav"
    server = private_jack()
    proc = start_print(sess, mix, out, server.env, "--post-roll", "0")
    at = wait_printing(tmp_path, 1.0, proc)
    pids = gear_pids(proc.pid, unit)
    assert len(pids) == 1, "the virtual unit's process was not found"
    os.kill(pids[0], signal.SIGKILL)
    stdout, stderr = finish(proc, 30, "after its gear died")
    assert "Traceback" not in stderr, stderr
    before = int(at * FS)  # on disk before the kill: the wire unit's output
    if policy == "bypass":
        assert proc.returncode == 4, stderr
        y, _ = sf.read(out, dtype="float32")
        assert y.shape == x.shape and np.all(np.isfinite(y))
        p = report_of(out)["print"]
        assert wire_prefix_null_dbfs(y, x, before, p["xruns"]["at_s"]) <= -90.0
        assert null_dbfs(y[-FS:], x[-FS:]) <= -90.0  # bypassed: the dry program, aligned
        assert p["complete"] is True and p["clean"] is False
        lost = [e for e in p["events"] if e["type"] == "return_lost"]
        assert [e["insert"] for e in lost] == [unit], p["events"]
        # the return falls silent at the kill, found after 0.5 s of silence (+ round trip)
        assert at + 0.4 <= lost[0]["time_s"] <= at + 1.5, (at, lost)
        assert lost[0]["time_s"] <= seconds - 1.0   # so the last second is after it
        line = [ln for ln in stderr.splitlines() if "NOT clean" in ln]
        assert len(line) == 1, stderr
        assert f"return lost in {unit} at {lost[0]['time_s']:.2f} s" in line[0]
    else:
        assert proc.returncode == 1, stderr
        assert re.search(rf"^outboard: insert {unit}: return lost at [\d.]+ s; stopping",
                         stderr, re.M), stderr
        assert not out.exists()
        kept = tmp_path / "print.incomplete.wav"
        assert f"the print is incomplete; kept as {kept} (" in stderr
        info = sf.info(kept)
        assert info.samplerate == FS and info.channels == 2
        assert at <= info.frames / FS < seconds - 1.0
        y, _ = sf.read(kept, dtype="float32")
        assert np.all(np.isfinite(y))
        p = report_of(kept)["print"]
        assert wire_prefix_null_dbfs(y, x, before, p["xruns"]["at_s"]) <= -90.0
        assert p["complete"] is False and p["clean"] is False and p["stopped_by"] == "gear"
        assert [e["insert"] for e in p["events"] if e["type"] == "return_lost"] == [unit]
    no_part_left(tmp_path)


def test_xrun_during_a_print_marks_it_not_clean_with_its_time(private_jack, tmp_path):
    """The print is frozen (SIGSTOP) for 0.3 s about 1 s into the program: JACK
    misses its deadline, the engine posts xruns; the print completes, not clean
    (exit 4), with the xruns' time in the program in the report and on stderr."""
    x = program(4.0)
    mix = tmp_path / "mix.wav"
    sf.write(mix, x, FS, subtype="FLOAT")
    out = tmp_path / "print.wav"
    server = private_jack()
    proc = start_print(SESSION, mix, out, server.env)
    at = wait_printing(tmp_path, 1.0, proc)
    os.kill(proc.pid, signal.SIGSTOP)
    time.sleep(0.3)
    os.kill(proc.pid, signal.SIGCONT)
    stdout, stderr = finish(proc, 60, "after a freeze")
    assert proc.returncode == 4, stderr
    assert "Traceback" not in stderr, stderr
    p = report_of(out)["print"]
    assert p["complete"] is True and p["clean"] is False
    xr = p["xruns"]
    assert xr["count"] >= 1 and len(xr["at_s"]) == xr["count"], xr
    assert any(at - 0.1 <= t <= at + 0.6 for t in xr["at_s"]), (at, xr)
    assert all(0 <= t <= len(x) / FS + 1.1 for t in xr["at_s"]), xr
    line = [ln for ln in stderr.splitlines() if "NOT clean" in ln]
    assert len(line) == 1, stderr
    n = xr["count"]
    m = re.match(rf"outboard: the print is NOT clean \({n} xruns? at ((?:[\d.]+ s(?:, )?)+)",
                 line[0])
    assert m, line[0]
    shown = [float(v) for v in re.findall(r"([\d.]+) s", m.group(1))]
    assert shown == pytest.approx(xr["at_s"], abs=0.006)
    y, _ = sf.read(out, dtype="float32")
    assert y.shape == (len(x) + POST, 2)   # complete: the whole program and its post-roll
    no_part_left(tmp_path)


def test_disk_full_during_a_print_keeps_what_was_printed_as_incomplete(private_jack, filling_disk,
                                                                        tmp_path):
    """The disk fills 0.2 s into a 5 s print (another writer leaves it 200 KiB
    once the print has started; the print's own check of the free space at its
    start passed): the print stops (exit 1), says the disk is full in one line
    naming the file, and keeps what made it to disk as NAME.incomplete.wav, the
    chain's output to the bit.  Its report has no room left: the host says so
    in one line and writes none (no .part of either is left behind)."""
    x = program(5.0)
    mix = tmp_path / "mix.wav"
    sf.write(mix, x, FS, subtype="FLOAT")
    disk = filling_disk.path
    out = disk / "print.wav"
    kept = disk / "print.incomplete.wav"
    server = private_jack()
    proc = start_print(SESSION, mix, out, server.env)
    wait_printing(disk, 0.2, proc)
    filling_disk.fill(200 * 1024)
    stdout, stderr = finish(proc, 60, "on a full disk")
    assert "Traceback" not in stderr, stderr
    assert proc.returncode == 1, stderr
    said = [ln for ln in stderr.splitlines() if "disk is full" in ln]
    assert said == [f"outboard: {out}: recording stopped: no space left on device (the disk is "
                    "full)"], stderr
    assert not out.exists()
    info = sf.info(kept)     # a valid file: its header tells what it holds
    assert info.samplerate == FS and info.channels == 2 and info.subtype == "FLOAT"
    # what was on disk when it filled and what fitted in the 200 KiB left, no more
    assert 0.1 * FS < info.frames < (filling_disk.part_bytes + 200 * 1024 + 4096) / 8
    assert f"the print is incomplete; kept as {kept} ({info.frames / FS:.2f} s, valid, " \
        "incomplete)" in stderr
    y, _ = sf.read(kept, dtype="float32")
    assert np.array_equal(y, offline_print(x)[:len(y)])
    report = kept.with_suffix(".json")
    assert f"outboard: {report}: the print's report could not be written: No space left " \
        "on device" in stderr.splitlines()
    assert sorted(p.name for p in disk.iterdir()) == ["ballast", kept.name]  # no .part/report
