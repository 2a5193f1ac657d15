"""`outboard run --record` stopped for real, with the embedded JACK server it
started.  SIGTERM takes Ctrl-C's path: the take is finished as a valid file,
the server stopped, exit 143.  SIGKILL (nothing can be cleaned): the
watchdog stops the server all the same, and the next run removes the dead
run's part file and says so.  Each test runs `outboard` in a child process
under a server name of its own."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import soundfile as sf

from conftest import (
    children_of,
    forget_clients,
    private_server,
    process_alive,
    sine_and_noise,
    wait_gone,
    wait_part_file,
)

from host.audiofile import part_owner

ROOT = Path(__file__).resolve().parents[2]
SESSION = ROOT / "configs" / "session_jack_studio.toml"
EXE = Path(sys.executable).parent / "outboard"
FS = 48000


@pytest.fixture
def embedded(tmp_path):
    """An environment whose JACK server name no server uses yet (the run starts
    its embedded one), and a 20 s program; after the test, no server is left
    under that name and its registry slot is given back."""
    from host.sim.jack_server import jackd_path

    if jackd_path() is None:
        pytest.skip("jackd is not installed (Debian package jackd2)")
    name = f"{os.environ.get('JACK_DEFAULT_SERVER', 'outboard')}-sig-{os.getpid()}"
    env = dict(os.environ, JACK_DEFAULT_SERVER=name, JACK_NO_AUDIO_RESERVATION="1")
    mix = tmp_path / "mix.wav"
    sf.write(mix, sine_and_noise(20.0), FS, subtype="FLOAT")
    procs: list[int] = []  # the test adds the runs it starts, and their servers
    yield env, mix, procs
    left = [p for p in procs if process_alive(p)]
    for p in left:
        os.kill(p, signal.SIGKILL)
    if left:  # give back a killed server's registry slot
        private_server(name).stop()
    forget_clients(name)


def start_run(env, mix: Path, out: Path, *more: str) -> subprocess.Popen:
    return subprocess.Popen([str(EXE), "run", str(SESSION), "--input", str(mix), "--record",
                             str(out), "-q", *more], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def commands(pid: int) -> dict[int, list[bytes]]:
    """The command lines of the children of ``pid``."""
    out = {}
    for kid in children_of(pid):
        try:
            out[kid] = Path(f"/proc/{kid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
    return out


def jackd_of(pid: int) -> list[int]:
    """The jackd processes ``pid`` started."""
    return [k for k, cmd in commands(pid).items() if Path(cmd[0].decode()).name == "jackd"]


def own_processes(pid: int) -> tuple[int, int]:
    """(the embedded jackd, its watchdog) among the children of ``pid``."""
    watchdog = [k for k, cmd in commands(pid).items()
                if len(cmd) > 2 and cmd[1] == b"-c" and b"watch_server(" in cmd[2]]
    jackd = jackd_of(pid)
    assert len(jackd) == 1 and len(watchdog) == 1, (jackd, watchdog)
    return jackd[0], watchdog[0]


def test_sigterm_stops_a_recording_run_as_ctrl_c_does_with_its_embedded_server(
        embedded, tmp_path):
    env, mix, procs = embedded
    out = tmp_path / "rec.wav"
    proc = start_run(env, mix, out)
    procs.append(proc.pid)
    wait_part_file(tmp_path, 0.5, proc, fs=FS)
    jackd, watchdog = own_processes(proc.pid)
    procs.append(jackd)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 143, stderr
    assert "Traceback" not in stderr
    m = re.search(r"^stopped by SIGTERM after ([\d.]+) s", stdout, re.M)
    assert m, stdout
    assert f"recorded {out} (" in stdout
    assert abs(sf.info(out).frames / FS - float(m.group(1))) <= 0.25  # the take, finished
    assert not [p for p in tmp_path.iterdir() if ".part" in p.name]
    wait_gone([jackd, watchdog], "the run's embedded jackd and its watchdog")


def test_a_killed_run_stops_its_embedded_server_and_the_next_removes_its_part_file(
        embedded, tmp_path):
    env, mix, procs = embedded
    out = tmp_path / "rec.wav"
    proc = start_run(env, mix, out)
    procs.append(proc.pid)
    wait_part_file(tmp_path, 0.5, proc, fs=FS)
    jackd, watchdog = own_processes(proc.pid)
    procs.append(jackd)
    proc.kill()
    proc.communicate()
    wait_gone([jackd, watchdog], "the embedded jackd of a killed run")
    part = next(p for p in tmp_path.iterdir() if ".part" in p.name)
    assert part_owner(part) == proc.pid

    again = start_run(env, mix, out, "--duration", "0.3")
    procs.append(again.pid)
    jackd2: list[int] = []
    while again.poll() is None and not jackd2:  # (to check that it goes too)
        jackd2 = jackd_of(again.pid)
        time.sleep(0.01)
    procs.extend(jackd2)
    _, stderr = again.communicate(timeout=60)
    assert again.returncode == 0, stderr
    assert (f"outboard: removed 1 stale part file left by a stopped run (its process is "
            f"gone): {part}") in stderr.splitlines()
    assert not part.exists() and sf.info(out).frames > 0
    assert len(jackd2) == 1
    wait_gone(jackd2, "the second run's embedded jackd")
