"""Shared test fixtures: signal generators built from their definitions."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20261125)


def sine(freq_hz: float, fs: float, seconds: float, peak_dbfs: float = 0.0,
         phase_rad: float = 0.0, channels: int = 1) -> np.ndarray:
    """Planar float32 (channels, frames) sine of the given peak level."""
    n = int(round(seconds * fs))
    t = np.arange(n) / fs
    x = (10 ** (peak_dbfs / 20)) * np.sin(2 * np.pi * freq_hz * t + phase_rad)
    return np.ascontiguousarray(np.tile(x, (channels, 1)), dtype=np.float32)


#: the [interface] and [program] tables of a session in the embedded JACK studio:
#: 48 kHz, 128-frame periods, the program on interface channels 1-2 (lines that
#: follow it still belong to [program] until the next table)
STUDIO_HEAD = """
[interface]
device = "system"
hostapi = "JACK"
sample_rate = 48000
block_size = 128
embedded_jack = true

[program]
inputs = [1, 2]
outputs = [1, 2]
"""


def sine_and_noise(seconds: float, seed: int = 7, fs: int = 48000) -> np.ndarray:
    """A stereo program: a 220 Hz sine (right 0.8 of left) and a little noise,
    (frames, 2) float32."""
    rng = np.random.default_rng(seed)
    n = int(fs * seconds)
    t = np.arange(n) / fs
    x = 0.3 * np.sin(2 * np.pi * 220 * t)[:, None] * np.array([1.0, 0.8])
    x += 0.05 * rng.standard_normal((n, 2))
    return x.astype(np.float32)


@pytest.fixture(scope="session")
def jack_server():
    """The embedded studio's JACK server (dummy backend, 48 kHz, 128 frames,
    8 in / 8 out), started once for the session through host.sim, the same
    code `make demo` uses.  Skips only where jackd cannot exist."""
    from host.sim.jack_server import JackServer, jackd_path, server_running

    if jackd_path() is None and not server_running():
        pytest.skip("jackd is not installed (Debian package jackd2)")
    server = JackServer().start()
    yield server
    if server.started_here:
        server.stop()


# ---- private JACK servers and a disk to fill (fault tests) ---------------------------------

#: Hz; the private servers' rate (the sessions' too)
PRIVATE_JACK_RATE = 48000
#: frames; the private servers' period unless a test asks for another
PRIVATE_JACK_PERIOD = 128


class PrivateJack:
    """jackd on the dummy backend under a server name of its own, ``period``
    frames per cycle."""

    def __init__(self, name: str, period: int = PRIVATE_JACK_PERIOD):
        self.name = name
        self.period = period
        self.env = dict(os.environ, JACK_DEFAULT_SERVER=name, JACK_NO_AUDIO_RESERVATION="1")
        self.proc: subprocess.Popen | None = None
        self.killed = False

    def start(self) -> PrivateJack:
        import shutil

        exe = shutil.which("jackd")
        self.proc = subprocess.Popen([exe, "--no-realtime", "-d", "dummy", "-r",
                                      str(PRIVATE_JACK_RATE), "-p",
                                      str(self.period), "-C", "8", "-P", "8"], env=self.env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        probe = "import jack; jack.Client('probe', no_start_server=True).close()"
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"private jackd exited at start ({self.proc.returncode})")
            if subprocess.run([sys.executable, "-c", probe], env=self.env,
                              capture_output=True).returncode == 0:
                return self
            time.sleep(0.2)
        self.kill()
        pytest.fail("private jackd did not answer within 15 s")

    def kill(self) -> None:
        """SIGKILL: the server dies without a word to its clients, and leaves
        its slot in JACK's shm registry (8 slots) taken; ``stop()`` after a
        ``kill()`` gives it back."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
            self.killed = True

    def stop(self) -> None:
        """Stop cleanly (SIGTERM), so that the server unregisters itself.  A
        server killed before is started again under its name first: jackd
        reclaims a dead server's registry slot by name, and frees it on exit."""
        if self.killed and (self.proc is None or self.proc.poll() is not None):
            self.killed = False
            self.start()
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None


@pytest.fixture
def private_jack(request):
    """Start a private JACK server (one name per test; a second start reuses
    it, like a studio starting its server again): ``private_jack(period=...)``,
    frames, default PRIVATE_JACK_PERIOD.  All stopped cleanly after."""
    from host.sim.jack_server import jackd_path

    if jackd_path() is None:
        pytest.skip("jackd is not installed (Debian package jackd2)")
    tag = re.sub(r"[^A-Za-z0-9-]", "-", request.node.name[5:30])
    name = f"outboard-faults-{os.getpid()}-{tag}"
    servers: list[PrivateJack] = []

    def make(period: int = PRIVATE_JACK_PERIOD) -> PrivateJack:
        for old in servers:  # the new server reclaims a killed one's registry slot
            old.killed = False
        s = PrivateJack(name, period).start()
        servers.append(s)
        return s

    yield make
    for s in reversed(servers):
        s.stop()
    forget_clients(name)


def forget_clients(server: str) -> None:
    """Remove what a client that died with its server leaves in /dev/shm
    (its semaphore file; a clean server exit removes the rest)."""
    for p in Path("/dev/shm").glob(f"jack_sem.*_{server}_*"):
        p.unlink(missing_ok=True)


@pytest.fixture
def small_disk(tmp_path):
    """A 256 KiB tmpfs: about 0.68 s of float32 stereo at 48 kHz."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill (needs root): {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def wait_part_file(folder: Path, seconds: float, proc: subprocess.Popen,
                   what: str = "the run", fs: int = PRIVATE_JACK_RATE) -> float:
    """Wait until the recording's .part file in ``folder`` holds ``seconds`` of
    float32 stereo (the stream is at least that far into the program: the
    recorder follows it by up to ~0.2 s); returns the seconds it holds."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        parts = [p for p in folder.iterdir() if ".part" in p.name]
        if parts:
            held = max(0, parts[0].stat().st_size - 88) / (8 * fs)
            if held >= seconds:
                return held
        time.sleep(0.02)
    proc.kill()
    pytest.fail(f"{what} did not write {seconds} s within 30 s")


def patch_gear_into_stream(client, before: set[str], gear, sends: list[int],
                           returns: list[int]) -> None:
    """Put a VirtualGear between a PortAudio stream's device channels (0-based
    ``sends`` out, ``returns`` in): the stream's ports are the PortAudio ports
    that appeared since ``before`` (names of all ports then); their default
    connections are undone first.  PortAudio numbers its JACK ports with a
    process-wide counter (a second stream gets in_4.. / out_4..), so device
    channel k is the k-th new port."""
    ours = {p.name for p in client.get_ports()} - before

    def nth(kind: str) -> list[str]:
        names = [q for q in ours if q.startswith("PortAudio") and f":{kind}_" in q]
        return sorted(names, key=lambda q: int(q.rsplit("_", 1)[1]))
    out_ports = [nth("out")[c] for c in sends]
    in_ports = [nth("in")[c] for c in returns]
    for p in out_ports:
        for q in client.get_all_connections(p):
            client.disconnect(p, q)
    for p in in_ports:
        for q in client.get_all_connections(p):
            client.disconnect(q, p)
    gear.wire(client, out_ports, in_ports)
