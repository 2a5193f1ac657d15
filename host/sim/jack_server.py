"""Start (or find) a JACK server for the embedded studio and the tests.

``JackServer`` runs ``jackd -d dummy`` (real-time scheduling where allowed) with enough ports for a
program pair plus hardware inserts, when no JACK server is running already,
and stops it when done.  A server that was already running is used and left
alone.  PortAudio enumerates JACK only when it initialises, so
``reinit_portaudio()`` is called after the server comes up.

Not real-time code: this is set-up and tear-down.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from host.errors import OutboardError

DEFAULT_RATE = 48000
DEFAULT_PERIOD = 128
DEFAULT_PORTS = 8


def jackd_path() -> str | None:
    return shutil.which("jackd")


def quiet_libjack() -> None:
    """Silence libjack's own error/info printing (it reports every failed
    connection attempt on stderr); outboard reports what matters itself."""
    import jack

    jack.set_error_function(lambda msg: None)
    jack.set_info_function(lambda msg: None)


def server_running() -> bool:
    """True if a JACK server answers (JACK-Client, without starting one)."""
    import jack

    quiet_libjack()
    try:
        c = jack.Client("outboard-probe", no_start_server=True)
    except jack.JackError:
        return False
    c.close()
    return True


def reinit_portaudio() -> None:
    """Make PortAudio (through sounddevice) enumerate the devices again, so a
    JACK server started after import is seen."""
    import sounddevice as sd

    sd._terminate()
    sd._initialize()


def stop_process_group(proc: subprocess.Popen, timeout_s: float = 5.0) -> None:
    """SIGTERM a server started in its own session (process group), SIGKILL it
    if it does not leave within ``timeout_s``.  A SIGKILLed jackd keeps its slot
    in JACK's server registry, so SIGTERM comes first."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@dataclass
class JackServer:
    """A JACK server on the dummy backend (or the one already running).

    Parameters
    ----------
    rate : int
        Sample rate in Hz.
    period : int
        Frames per period (the block size JACK clients see).
    capture, playback : int
        Number of system capture / playback ports (the "interface" channels).
    realtime : bool or None
        Run the server (and so its clients' process threads) with SCHED_FIFO
        priority.  None (default): try real-time and fall back to
        ``--no-realtime`` where the system refuses it.  With real-time
        scheduling the studio keeps its deadlines on a loaded machine.
    """

    rate: int = DEFAULT_RATE
    period: int = DEFAULT_PERIOD
    capture: int = DEFAULT_PORTS
    playback: int = DEFAULT_PORTS
    proc: subprocess.Popen | None = None
    log_path: Path | None = None
    started_here: bool = False
    realtime: bool | None = None

    def start(self, timeout_s: float = 10.0) -> JackServer:
        if server_running():
            self.started_here = False
            reinit_portaudio()
            return self
        exe = jackd_path()
        if exe is None:
            raise OutboardError("jackd: not found; install Debian's jackd2 (make setup does)")
        if self.realtime is None:
            try:
                self.realtime = True
                return self._launch(exe, timeout_s)
            except OutboardError:
                self.realtime = False
        return self._launch(exe, timeout_s)

    def _launch(self, exe: str, timeout_s: float) -> JackServer:
        fd, log = tempfile.mkstemp(prefix="outboard-jackd-", suffix=".log")
        self.log_path = Path(log)
        mode = ["-R", "-P", "70"] if self.realtime else ["--no-realtime"]
        cmd = [exe, *mode, "-d", "dummy", "-r", str(self.rate), "-p",
               str(self.period), "-C", str(self.capture), "-P", str(self.playback)]
        env = dict(os.environ, JACK_NO_AUDIO_RESERVATION="1")
        self.proc = subprocess.Popen(cmd, stdout=fd, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=env,
                                     start_new_session=True)
        os.close(fd)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                tail = self.log_path.read_text(errors="replace").strip().splitlines()[-3:]
                self.proc = None
                self.log_path.unlink(missing_ok=True)
                self.log_path = None
                raise OutboardError("jackd: exited at start: " + " | ".join(tail))
            if server_running():
                self.started_here = True
                reinit_portaudio()
                return self
            time.sleep(0.1)
        self.stop()
        raise OutboardError(f"jackd: did not answer within {timeout_s:.0f} s")

    def stop(self) -> None:
        """Stop a server started here.  PortAudio is shut down first (its JACK
        host API asserts if the server vanishes under it) and re-initialised
        after, without JACK."""
        import sounddevice as sd

        if self.proc is not None:
            sd._terminate()
            stop_process_group(self.proc)
            self.proc = None
            sd._initialize()
        if self.log_path is not None:
            self.log_path.unlink(missing_ok=True)
            self.log_path = None

    def __enter__(self) -> JackServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        if self.started_here:
            self.stop()
