"""Shared test fixtures: signal generators built from their definitions."""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import signal
import subprocess
import threading
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


# ---- BS.1770-4 loudness from its definition (48 kHz), per speaker layout ----------------

#: ITU-R BS.1770-4, Annex 1, Tables 1 and 2 (48 kHz)
BS1770_STAGE1 = ([1.53512485958697, -2.69169618940638, 1.19839281085285],
                 [1.0, -1.69065929318241, 0.73248077421585])
BS1770_STAGE2 = ([1.0, -2.0, 1.0], [1.0, -1.99004745483398, 0.99007225036621])
#: Table 3: Ls, Rs (and every surround at ear height)
SURROUND_WEIGHT = 1.41
_S = SURROUND_WEIGHT
#: WAVE_FORMAT_EXTENSIBLE channel mask -> the weights Table 3 gives its channels,
#: written out by hand
BS1770_LAYOUTS = {
    0x3F: [1, 1, 1, 0, _S, _S],              # 5.1: FL FR FC LFE BL BR
    0x60F: [1, 1, 1, 0, _S, _S],             # 5.1(side): FL FR FC LFE SL SR
    0x37: [1, 1, 1, _S, _S],                 # 5.0: FL FR FC BL BR
    0x607: [1, 1, 1, _S, _S],                # 5.0(side)
    0x63F: [1, 1, 1, 0, _S, _S, _S, _S],     # 7.1: FL FR FC LFE BL BR SL SR
    0xFF: [1, 1, 1, 0, _S, _S, 1, 1],        # 7.1(wide): ... FLC FRC (front, 1.0)
    0x707: [1, 1, 1, _S, _S, _S],            # 6.0: FL FR FC BC SL SR (no LFE)
    0x33: [1, 1, _S, _S],                    # quad: FL FR BL BR
    0x3: [1, 1],
    0x4: [1],
}


def bs1770_reference_lufs(x: np.ndarray, weights: list[float], fs: int = 48000) -> float:
    """Integrated loudness of planar ``x`` at 48 kHz from the definition: the
    published K-weighting, 400 ms blocks with 75 % overlap, gates -70 LUFS
    and -10 LU, channel ``weights``."""
    from scipy import signal

    assert fs == 48000, "the published coefficients are for 48 kHz"
    y = signal.lfilter(*BS1770_STAGE2,
                       signal.lfilter(*BS1770_STAGE1, x.astype(np.float64), axis=-1), axis=-1)
    block, step = int(0.4 * fs), int(0.1 * fs)
    starts = range(0, y.shape[1] - block + 1, step)
    z = np.array([np.asarray(weights, float) @ np.mean(y[:, s:s + block] ** 2, axis=1)
                  for s in starts])
    with np.errstate(divide="ignore"):
        lk = -0.691 + 10 * np.log10(z)
    z = z[lk >= -70.0]
    if z.size == 0:
        return -math.inf
    gate = -0.691 + 10 * np.log10(z.mean()) - 10.0
    z = z[-0.691 + 10 * np.log10(z) > gate]
    return float(-0.691 + 10 * np.log10(z.mean()))


class Toml(str):
    """TOML text to put into a session as it is (a value written as a test wrote it)."""


def toml_value(v) -> str:
    """A TOML value for a test session: strings, numbers, booleans, lists and
    inline tables (dict keys that are not bare words are quoted); :class:`Toml`
    as it is."""
    if isinstance(v, Toml):
        return str(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k if re.fullmatch(r'[A-Za-z0-9_-]+', k) else json.dumps(k)}"
                                f" = {toml_value(x)}" for k, x in v.items()) + " }"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, str):
        return json.dumps(v)
    return repr(v)


#: the embedded JACK studio's interface: 48 kHz, 128-frame periods
STUDIO_INTERFACE = {"device": "system", "hostapi": "JACK", "sample_rate": 48000,
                    "block_size": 128, "embedded_jack": True}
#: the program on interface channels 1-2
STUDIO_PROGRAM = {"inputs": [1, 2], "outputs": [1, 2]}


def session_toml(chain: list[dict] = (), *, stems: list[dict] = (), release: dict | None = None,
                 interface: dict | None = None, program: dict | None = None,
                 latency: dict | None = None) -> str:
    """The text of a session file: the studio's [interface] and [program]
    (``interface``/``program`` entries override or, set to None, remove keys),
    then [latency], [release], and one [[chain]] / [[stems]] table per dict.
    The one session builder of the tests."""
    def table(header: str, d: dict) -> str:
        return header + "\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in d.items()
                                       if v is not None)
    iface = {**STUDIO_INTERFACE, **(interface or {})}
    prog = {**STUDIO_PROGRAM, **(program or {})}
    parts = [table("[interface]", iface), table("[program]", prog)]
    if latency is not None:
        parts.append(table("[latency]", latency))
    if release is not None:
        parts.append(table("[release]", release))
    parts += [table("[[chain]]", c) for c in chain]
    parts += [table("[[stems]]", s) for s in stems]
    return "\n".join(parts)


def write_session(path: Path, chain: list[dict] = (), **kw) -> Path:
    """Write :func:`session_toml` to ``path``; returns ``path``."""
    path.write_text(session_toml(chain, **kw))
    return path


#: the [interface] and [program] tables of a session in the embedded JACK studio
#: (lines that follow it still belong to [program] until the next table)
STUDIO_HEAD = session_toml()


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


def private_server(name: str, period: int = PRIVATE_JACK_PERIOD):
    """jackd on the dummy backend under a server name of its own (host.sim's
    JackServer, isolated: probed from child processes, never reused), started."""
    from host.sim.jack_server import JackServer

    return JackServer(rate=PRIVATE_JACK_RATE, period=period, realtime=False, name=name,
                      isolated=True).start(timeout_s=15.0)


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
    servers: list = []

    def make(period: int = PRIVATE_JACK_PERIOD):
        for old in servers:  # the new server reclaims a killed one's registry slot
            old.killed = False
        s = private_server(name, period)
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


@contextlib.contextmanager
def tmpfs(mnt: Path, size: str):
    """A tmpfs of ``size`` (mount's units: 256k, 8m) mounted at ``mnt`` while
    inside; skips the test where it cannot be mounted (needs root)."""
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a {size} tmpfs to fill (needs root): {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


@pytest.fixture
def small_disk(tmp_path):
    """A 256 KiB tmpfs: about 0.68 s of float32 stereo at 48 kHz."""
    with tmpfs(tmp_path / "disk", "256k") as mnt:
        yield mnt


class FillingDisk:
    """An 8 MiB tmpfs that another writer fills while a run records on it:
    the run's own free-space check at its start passes, then the disk fills."""

    def __init__(self, mnt: Path):
        self.path = mnt
        self.ballast = mnt / "ballast"
        #: the recording's .part file once the disk was filled (then it has
        #: ``leave_bytes`` more to grow, give or take a page)
        self.part_bytes = 0

    def fill(self, leave_bytes: int) -> None:
        """Write a ballast file that leaves ``leave_bytes`` free."""
        import shutil

        n = shutil.disk_usage(self.path).free - leave_bytes
        with open(self.ballast, "ab") as f:
            while n > 0:
                f.write(bytes(min(n, 1 << 20)))
                n -= 1 << 20
        self.part_bytes = sum(p.stat().st_size for p in self.path.iterdir() if ".part" in p.name)

    def fill_when_recording(self, min_bytes: int, leave_bytes: int) -> threading.Thread:
        """In a thread: once a .part file holds ``min_bytes``, fill the disk."""
        def wait_then_fill() -> None:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if any(p.stat().st_size >= min_bytes for p in self.path.iterdir()
                       if ".part" in p.name):
                    self.fill(leave_bytes)
                    return
                time.sleep(0.01)
        t = threading.Thread(target=wait_then_fill, daemon=True)
        t.start()
        return t


@pytest.fixture
def filling_disk(tmp_path):
    """A :class:`FillingDisk` (an 8 MiB tmpfs; needs root)."""
    with tmpfs(tmp_path / "disk", "8m") as mnt:
        yield FillingDisk(mnt)


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


# ---- processes: signals sent for real, and what is left after -----------------------------

def process_alive(pid: int) -> bool:
    """True if ``pid`` runs (a zombie, dead but not yet reaped, does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def children_of(pid: int) -> list[int]:
    """The live processes whose parent is ``pid``."""
    kids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                kids.append(int(d.name))
    return kids


def wait_gone(pids, what: str, seconds: float = 30.0) -> None:
    """Wait until none of ``pids`` runs; fail naming ``what`` if one still does."""
    deadline = time.monotonic() + seconds
    while any(process_alive(p) for p in pids):
        if time.monotonic() > deadline:
            left = [p for p in pids if process_alive(p)]
            for p in left:
                os.kill(p, signal.SIGKILL)
            pytest.fail(f"{what} still running: {left}")
        time.sleep(0.05)


def wait_for_file(folder: Path, pattern: str, proc: subprocess.Popen,
                  seconds: float = 60.0) -> Path:
    """The first file in ``folder`` matching the glob ``pattern`` (polled
    tightly); fails if ``proc`` exits first or none comes within ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        hits = list(folder.glob(pattern))
        if hits:
            return hits[0]
        if proc.poll() is not None:
            pytest.fail(f"exited ({proc.returncode}) before {pattern} appeared: "
                        f"{proc.communicate()}")
        time.sleep(0.002)
    proc.kill()
    pytest.fail(f"no {pattern} in {folder} within {seconds:g} s")
