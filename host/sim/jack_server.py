"""Start (or find) a JACK server for the embedded studio and the tests.

``JackServer`` runs ``jackd -d dummy`` (real-time scheduling where allowed) with enough ports for a
program pair plus hardware inserts, when no JACK server is running already,
and stops it when done.  A server that was already running is used and left
alone.  PortAudio enumerates JACK only when it initialises, so
``reinit_portaudio()`` is called after the server comes up.

A server started here never outlives the process that started it, however
that process ends (SIGKILL included): a small watchdog process
(:func:`watch_server`) waits on a pipe whose write end only the host holds;
when the pipe closes (the host stopped the server, or died) it stops the
server if it still runs.  (jackd's own temporary mode, ``-T``, does not do
it: it quits when its first client leaves, and the host's probes and streams
come and go.)

Not real-time code: this is set-up and tear-down.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import subprocess
import sys
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


def server_env(name: str | None = None) -> dict[str, str]:
    """The environment a JACK client (or jackd) needs to reach server ``name``
    (None: the one ``$JACK_DEFAULT_SERVER`` names, else "default")."""
    env = dict(os.environ, JACK_NO_AUDIO_RESERVATION="1")
    if name is not None:
        env["JACK_DEFAULT_SERVER"] = name
    return env


def server_running(name: str | None = None, isolated: bool = False) -> bool:
    """True if the JACK server ``name`` answers (without starting one).

    ``isolated``: ask from a child process.  libjack binds a process to the
    first server it talks to and keeps a killed server's registry in mind, so
    a process that must not be tied to a private server (a test, a bench
    parent) probes it from a child."""
    if isolated:
        probe = "import jack; jack.Client('outboard-probe', no_start_server=True).close()"
        return subprocess.run([sys.executable, "-c", probe], env=server_env(name),
                              capture_output=True).returncode == 0
    import jack

    quiet_libjack()
    try:
        c = jack.Client("outboard-probe", no_start_server=True, servername=name)
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


def stop_process(proc: subprocess.Popen, timeout_s: float = 5.0, group: bool = False) -> None:
    """End a child process: SIGTERM, then SIGKILL if it has not left within
    ``timeout_s``.  ``group``: signal its whole process group (a server
    started in its own session).  A SIGKILLed jackd keeps its slot in JACK's
    server registry, so SIGTERM comes first."""
    if proc.poll() is not None:
        return
    send = (lambda sig: os.killpg(proc.pid, sig)) if group else proc.send_signal
    send(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        send(signal.SIGKILL)
        proc.wait()


def stop_process_group(proc: subprocess.Popen, timeout_s: float = 5.0) -> None:
    """:func:`stop_process` of a process started in its own session (process group)."""
    stop_process(proc, timeout_s, group=True)


#: s the watchdog lets a server drop the dead host's clients before SIGTERM (sent
#: at once, jackd often takes 5 s to leave instead of a few ms)
SETTLE_S = 0.5
#: s a server gets to leave after the watchdog's SIGTERM before SIGKILL
WATCHDOG_KILL_S = 15.0


def watch_server(pid: int, pidfd: int, log: str) -> None:
    """The watchdog of a server started by a host (run as ``python -c``).

    Waits until its stdin, a pipe only the host can write, closes (the host
    stopped the server, or died, however), then stops the server ``pid`` if it
    still runs (SIGTERM after SETTLE_S, so that it gives back its slot in
    JACK's registry; SIGKILL after WATCHDOG_KILL_S more) and removes its
    ``log`` (nobody is left to read it).  ``pidfd`` (-1 where the system has
    none) names the server for good: no process that gets its pid later can
    be signalled by mistake."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(OSError):
        while os.read(0, 4096):
            pass

    def gone(timeout_s: float) -> bool:
        if pidfd < 0:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True
            time.sleep(timeout_s)
            return False
        return bool(select.select([pidfd], [], [], timeout_s)[0])

    def send(sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            if pidfd >= 0:
                signal.pidfd_send_signal(pidfd, sig)
            else:
                os.kill(pid, sig)

    if gone(0) or gone(SETTLE_S):
        return  # stopped by the host (or dead already): its log is the host's
    send(signal.SIGTERM)
    deadline = time.monotonic() + WATCHDOG_KILL_S
    while not gone(0.1) and time.monotonic() < deadline:
        pass
    if not gone(0):
        send(signal.SIGKILL)
    if log:
        with contextlib.suppress(OSError):
            os.unlink(log)


def _pidfd(pid: int) -> int:
    """A pidfd of our child ``pid`` (Linux 5.3+), else -1."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return -1


@dataclass
class JackServer:
    """A JACK server on the dummy backend (or the one already running): the
    one server helper of the embedded studio, the tests and the benches.

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
    name : str or None
        Server name (``jackd -n``); clients reach it with
        ``JACK_DEFAULT_SERVER=name`` (:attr:`env`).  None: the default server.
    isolated : bool
        A private server for tests and benches: never reuse a running one of
        the same name, probe it from child processes (:func:`server_running`),
        and leave this process's PortAudio alone (its clients are children).
    keep_log : bool
        Keep jackd's log (:attr:`log_path`, one line per xrun) after
        :meth:`stop`, for a bench to read; :meth:`cleanup` removes it.
    """

    rate: int = DEFAULT_RATE
    period: int = DEFAULT_PERIOD
    capture: int = DEFAULT_PORTS
    playback: int = DEFAULT_PORTS
    proc: subprocess.Popen | None = None
    log_path: Path | None = None
    started_here: bool = False
    realtime: bool | None = None
    name: str | None = None
    isolated: bool = False
    keep_log: bool = False
    killed: bool = False
    #: the watchdog that stops the server if this process dies, and our end of its pipe
    watchdog: subprocess.Popen | None = None
    watch_fd: int | None = None

    @property
    def env(self) -> dict[str, str]:
        """Environment for a child process that must use this server."""
        return server_env(self.name)

    def _answers(self) -> bool:
        return server_running(self.name, isolated=self.isolated)

    def start(self, timeout_s: float = 10.0) -> JackServer:
        if not self.isolated and self._answers():
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
        if self.log_path is None:
            fd, log = tempfile.mkstemp(prefix=f"outboard-jackd-{self.name or 'default'}-",
                                       suffix=".log")
            os.close(fd)
            self.log_path = Path(log)
        mode = ["-R", "-P", "70"] if self.realtime else ["--no-realtime"]
        named = ["-n", self.name] if self.name is not None else []
        cmd = [exe, *named, *mode, "-d", "dummy", "-r", str(self.rate), "-p",
               str(self.period), "-C", str(self.capture), "-P", str(self.playback)]
        self._unwatch()  # (a server killed before and started again: the old watchdog goes)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=self.env,
                                         start_new_session=True)
        self._watch()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                tail = self.log_path.read_text(errors="replace").strip().splitlines()[-3:]
                self.proc = None
                self._unwatch()
                self.cleanup()
                raise OutboardError(f"jackd{' -n ' + self.name if self.name else ''}: "
                                    "exited at start: " + " | ".join(tail))
            if self._answers():
                self.started_here = True
                if not self.isolated:
                    reinit_portaudio()
                return self
            time.sleep(0.1)
        self.stop()
        raise OutboardError(f"jackd: did not answer within {timeout_s:.0f} s")

    def kill(self) -> None:
        """SIGKILL the server (fault tests): it dies without a word to its
        clients and leaves its slot in JACK's shm registry (8 slots) taken;
        :meth:`stop` after a kill gives it back."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
            self.killed = True

    def stop(self) -> None:
        """Stop a server started here, cleanly (SIGTERM), so it unregisters
        itself.  A server killed before is started again under its name first:
        jackd reclaims a dead server's registry slot by name, and frees it on
        exit.  PortAudio is shut down first (its JACK host API asserts if the
        server vanishes under it) and re-initialised after, without JACK."""
        if self.killed and (self.proc is None or self.proc.poll() is not None):
            self.killed = False
            self._launch(jackd_path() or "jackd", 10.0)
        if self.proc is not None:
            if self.isolated:
                stop_process_group(self.proc)
            else:
                import sounddevice as sd

                sd._terminate()
                stop_process_group(self.proc)
                sd._initialize()
            self.proc = None
        self._unwatch()
        if not self.keep_log:
            self.cleanup()

    def _watch(self) -> None:
        """Start the watchdog of the server just launched (see watch_server).
        The pipe's write end is not inheritable: no child of ours holds it."""
        r, w = os.pipe()
        pidfd = _pidfd(self.proc.pid)
        code = (f"from host.sim.jack_server import watch_server; "
                f"watch_server({self.proc.pid}, {pidfd}, {str(self.log_path)!r})")
        try:
            self.watchdog = subprocess.Popen(
                [sys.executable, "-c", code], stdin=r, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, pass_fds=[pidfd] if pidfd >= 0 else [],
                start_new_session=True)
        except OSError:
            os.close(w)
            raise
        finally:
            os.close(r)
            if pidfd >= 0:
                os.close(pidfd)
        self.watch_fd = w

    def _unwatch(self) -> None:
        """Let the watchdog go (the server is stopped, or was not ours to stop)."""
        if self.watch_fd is not None:
            os.close(self.watch_fd)
            self.watch_fd = None
        if self.watchdog is not None:
            try:
                self.watchdog.wait(timeout=SETTLE_S + 5.0)
            except subprocess.TimeoutExpired:
                self.watchdog.kill()
                self.watchdog.wait()
            self.watchdog = None

    def cleanup(self) -> None:
        """Remove jackd's log."""
        if self.log_path is not None:
            self.log_path.unlink(missing_ok=True)
            self.log_path = None

    def __enter__(self) -> JackServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        if self.started_here:
            self.stop()
