"""One session owns its outputs and its gear (host.live.locks): a second process
asking for an output, an insert's channels or a unit's MIDI port that a stream
holds is refused in one line naming the holder's PID and command line; the
claim goes with the process however it ends.

The claims are exercised between real processes: small Python holders, and two
real `outboard run` (and a `print`) on the embedded studio."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import soundfile as sf

from conftest import sine_and_noise

from host.live.device import JACK_HOSTAPI, ResolvedDevice
from host.live.locks import Busy, Claims, holder, lock_dir, session_claims
from host.model.session import load_session

ROOT = Path(__file__).resolve().parents[2]
HYBRID = ROOT / "configs" / "session_hybrid_studio.toml"     # outputs 1-2, monitors 7-8, varimu 3-4
DIGITAL = ROOT / "configs" / "session_jack_studio.toml"      # outputs 1-2, monitors 7-8
EXE = Path(sys.executable).parent / "outboard"
HOLD = ("import sys; from host.live.locks import Claims; claims = Claims(); "
        "claims.claim_all([(k, k) for k in sys.argv[1:]]); print('held', flush=True); "
        "sys.stdin.read(); claims.release()")


def key(name: str) -> str:
    return f"test:{os.getpid()}:{name}"


def hold(*keys: str) -> subprocess.Popen:
    """A process holding ``keys`` until its stdin closes (or it is killed)."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, *keys], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout.readline() == "held\n", proc.stderr.read()
    return proc


def test_a_claim_held_by_another_process_is_refused_naming_its_pid_and_command():
    a = key("out1")
    proc = hold(a)
    try:
        with Claims() as claims, pytest.raises(Busy) as exc:
            claims.claim(a, "interface 'x' output 1")
        assert exc.value.holder_pid == proc.pid
        cmd = shlex.join([Path(sys.executable).name, "-c", HOLD, a])
        assert str(exc.value) == (f"interface 'x' output 1 is in use by pid {proc.pid} "
                                  f"({cmd}); wait for it to finish or stop it")
        assert holder(a) == (proc.pid, cmd)
    finally:
        proc.stdin.close()
        proc.wait(timeout=10)
    with Claims() as claims:     # the holder ended: free
        claims.claim(a, "interface 'x' output 1")
        assert claims.keys == [a]
    # let go: its lock file is gone too (the folder does not fill up run after run)
    assert not [f for f in lock_dir().iterdir() if f"test_{os.getpid()}_out1" in f.name]


def test_a_claim_goes_with_its_process_even_when_killed():
    a = key("out2")
    proc = hold(a)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert holder(a) is None
    with Claims() as claims:
        claims.claim(a, "interface 'x' output 2")


def test_claiming_a_set_is_all_or_nothing():
    """A set whose third claim is held elsewhere: the first two are given back."""
    a, b, c = key("a"), key("b"), key("c")
    proc = hold(c)
    try:
        with Claims() as claims:
            with pytest.raises(Busy):
                claims.claim_all([(a, "a"), (b, "b"), (c, "c")])
            assert claims.keys == []
        other = hold(a, b)           # another process can have them
        other.stdin.close()
        other.wait(timeout=10)
    finally:
        proc.stdin.close()
        proc.wait(timeout=10)


def test_a_session_claims_its_outputs_monitors_inserts_and_midi_port():
    """Per JACK server: the same device on two servers is two devices."""
    s = load_session(HYBRID)
    dev = ResolvedDevice(0, "system", JACK_HOSTAPI, 8, 8, 48000.0)
    server = os.environ.get("JACK_DEFAULT_SERVER") or "default"
    got = dict(session_claims(s, dev))
    pre = f"audio:jack:{server}:system"
    name = f"interface 'system' (JACK server {server!r})"
    assert got == {
        f"{pre}:out:1": f"{name} output 1 (the program's)",
        f"{pre}:out:2": f"{name} output 2 (the program's)",
        f"{pre}:out:7": f"{name} output 7 (the monitors')",
        f"{pre}:out:8": f"{name} output 8 (the monitors')",
        f"{pre}:out:3": f"{name} output 3 (insert varimu's send)",
        f"{pre}:out:4": f"{name} output 4 (insert varimu's send)",
        f"{pre}:in:3": f"{name} input 3 (insert varimu's return)",
        f"{pre}:in:4": f"{name} input 4 (insert varimu's return)",
        f"midi:jack:{server}:gear-varimu:midi_in":
            f"MIDI port 'gear-varimu:midi_in' (JACK server {server!r})",
    }


# ---- two real streams on the embedded studio ---------------------------------------------------


def out1_key() -> str:
    server = os.environ.get("JACK_DEFAULT_SERVER") or "default"
    return f"audio:jack:{server}:system:out:1"


def start_run(sess: Path, mix: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([str(EXE), "run", str(sess), "--input", str(mix), *extra, "-q"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_holding(proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while (holder(out1_key()) or (None,))[0] != proc.pid:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the first run never claimed its outputs"
        time.sleep(0.05)


@pytest.fixture
def mix(tmp_path) -> Path:
    p = tmp_path / "mix.wav"
    sf.write(p, sine_and_noise(12.0), 48000, subtype="FLOAT")
    return p


def test_a_second_run_or_print_through_the_same_hybrid_session_is_refused_naming_the_first(
        jack_server, mix, tmp_path):
    """`outboard run` A streams the hybrid session (its outputs, the virtual
    compressor's send and return, its MIDI port).  A second `run` and a `print`
    through the same session are refused at once, exit 2, one line naming A's
    PID and command, and touch nothing (no file, no gear started); A finishes
    normally; then a run starts again."""
    a = start_run(HYBRID, mix, "--duration", "6")
    try:
        wait_holding(a)
        cmd = f"outboard run {HYBRID} --input {mix} --duration 6 -q"
        want = (f"outboard: error: interface 'system' (JACK server "
                f"{os.environ.get('JACK_DEFAULT_SERVER') or 'default'!r}) output 1 (the "
                f"program's) is in use by pid {a.pid} ({cmd}); wait for it to finish or stop it")
        b = start_run(HYBRID, mix, "--duration", "1", "--record", str(tmp_path / "b.wav"))
        out, err = b.communicate(timeout=60)
        assert b.returncode == 2 and err.strip().splitlines() == [want], err
        p = subprocess.run([str(EXE), "print", str(HYBRID), "--input", str(mix), "--output",
                            str(tmp_path / "print.wav"), "-q"], cwd=ROOT, capture_output=True,
                           text=True, timeout=60)
        assert p.returncode == 2 and p.stderr.strip().splitlines() == [want], p.stderr
        assert sorted(f.name for f in tmp_path.iterdir()) == ["mix.wav"]
        assert a.poll() is None            # A streams on
        out, err = a.communicate(timeout=60)
        assert a.returncode == 0, err
        assert "--duration reached" in out
    finally:
        if a.poll() is None:
            a.kill()
            a.communicate()
    again = start_run(HYBRID, mix, "--duration", "0.5")
    out, err = again.communicate(timeout=60)
    assert again.returncode == 0, err


def test_a_run_killed_mid_stream_leaves_its_outputs_free(jack_server, mix):
    """SIGKILL: no exit handler runs, yet the kernel drops the claims with the
    process; the next run on the same outputs starts."""
    a = start_run(DIGITAL, mix, "--duration", "20")
    try:
        wait_holding(a)
    finally:
        a.kill()
        a.communicate()
    assert holder(out1_key()) is None
    b = start_run(DIGITAL, mix, "--duration", "0.3")
    out, err = b.communicate(timeout=60)
    assert b.returncode == 0, err
