"""One session owns its outputs and its gear: exclusive claims across processes.

Two streams feeding the same interface outputs, or the same outboard unit,
mix into each other (under JACK nothing stops them): a ping meets the other
stream's program and blames the cables, a print comes out not clean.  A
:class:`SessionStream <host.live.stream.SessionStream>` therefore claims, for
its whole life, every interface output it writes (program outputs, monitors,
hardware inserts' sends), every input its hardware inserts return on, and the
MIDI port of every unit it recalls; a second claimant is refused with one line
naming the holder's PID and command line::

    with Claims() as claims:
        claims.claim_all(session_claims(session, device))   # Busy: one line
        ...                                                  # the stream's life

A claim is an ``flock`` on a lock file under ``$XDG_RUNTIME_DIR/outboard-locks``
(else ``/tmp/outboard-locks``), one file per audio device and channel (for
JACK, per server: ``JACK_DEFAULT_SERVER``) and per MIDI port, as the session
names it; the holder writes its PID and command line into the file.  The
kernel drops an flock when its file is closed, which happens however the
process ends (exit, exception, SIGKILL): nothing stale is left to clean up.
The lock files stay (empty of meaning once unlocked).

Not real-time code: claims are taken before a stream opens.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shlex
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from host.errors import OutboardError
from host.live.device import JACK_HOSTAPI, ResolvedDevice
from host.midi.recall import units

#: how long a claimant waits for a new holder to have written who it is, s
HOLDER_WAIT_S = 0.2


class Busy(OutboardError):
    """What a session needs is held by another process (the message names it)."""

    def __init__(self, message: str, holder_pid: int | None):
        super().__init__(message)
        self.holder_pid = holder_pid


def lock_dir() -> Path:
    """``$XDG_RUNTIME_DIR/outboard-locks``, else ``/tmp/outboard-locks``."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    return Path(runtime) / "outboard-locks" if runtime else Path("/tmp/outboard-locks")


def jack_server_name() -> str:
    """The JACK server a client of this process talks to (libjack's rule)."""
    return os.environ.get("JACK_DEFAULT_SERVER") or "default"


def command_line() -> str:
    """This process's command as a user would type it (``outboard run s.toml``;
    ``python -c ...`` or ``python -m ...`` as the kernel has it)."""
    argv = list(sys.argv)
    if not argv or argv[0] in ("", "-c", "-m"):
        try:
            argv = Path("/proc/self/cmdline").read_bytes().decode(errors="replace").split("\0")
            argv = [a for a in argv if a] or [str(os.getpid())]
        except OSError:
            argv = [sys.executable, *argv[1:]]
    return shlex.join([Path(argv[0]).name, *argv[1:]])


def _file_name(key: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", key)[:120]
    return f"{safe}-{hashlib.sha1(key.encode()).hexdigest()[:8]}.lock"


class Claims:
    """Held claims, released together (context manager).  ``claim`` takes one
    ``key`` (the resource) described as ``what`` (for the refusal) or raises
    :class:`Busy`; claims are not re-entrant, not even in one process."""

    def __init__(self) -> None:
        self._fds: dict[str, tuple[int, Path]] = {}

    def __enter__(self) -> Claims:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    @property
    def keys(self) -> list[str]:
        return list(self._fds)

    def claim_all(self, claims: Iterable[tuple[str, str]]) -> None:
        """Claim every (key, what) in key order (so that two claimants of an
        overlapping set never each hold a part); on a refusal, those just taken
        are released again."""
        taken = []
        try:
            for key, what in sorted(dict(claims).items(), key=_claim_order):
                self.claim(key, what)
                taken.append(key)
        except BaseException:
            for key in taken:
                self._drop(key)
            raise

    def claim(self, key: str, what: str) -> None:
        d = lock_dir()
        path = d / _file_name(key)
        while True:
            try:
                d.mkdir(parents=True, exist_ok=True)
                if d == Path("/tmp/outboard-locks"):
                    with contextlib.suppress(PermissionError):  # shared by every user
                        d.chmod(0o1777)
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
            except OSError as exc:
                raise OutboardError(f"{d}: cannot keep the lock for {what} there "
                                    f"({exc.strerror or exc})") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                pid, cmd = _holder(fd)
                os.close(fd)
                who = f"pid {pid} ({cmd})" if pid is not None else "another process"
                raise Busy(f"{what} is in use by {who}; wait for it to finish or stop it",
                           pid) from None
            if _same_file(fd, path):
                break
            os.close(fd)  # a holder released (and removed) it between open and flock
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n{command_line()}\n".encode(), 0)
        except OSError as exc:
            os.close(fd)
            raise OutboardError(f"{path}: cannot write the lock for {what} "
                                f"({exc.strerror or exc})") from None
        self._fds[key] = (fd, path)

    def _drop(self, key: str) -> None:
        held = self._fds.pop(key, None)
        if held is not None:
            fd, path = held
            with contextlib.suppress(OSError):
                path.unlink()  # still locked: no claimant can take the name meanwhile
            os.close(fd)       # closing the file drops the flock

    def release(self) -> None:
        for key in list(self._fds):
            self._drop(key)


def _same_file(fd: int, path: Path) -> bool:
    """The locked file is still the one under ``path`` (not removed by a holder
    that released it after we opened it)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return False
    own = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (own.st_dev, own.st_ino)


def _claim_order(item: tuple[str, str]) -> tuple:
    """One order for every claimant: outputs, then inputs, then MIDI ports; by
    device and channel number (so a refusal names the first output in conflict)."""
    key = item[0]
    m = re.fullmatch(r"(.*):(out|in):(\d+)", key)
    if m:
        return (0 if m.group(2) == "out" else 1, m.group(1), int(m.group(3)), key)
    return (2, key, 0, key)


def holder(key: str) -> tuple[int, str] | None:
    """Who holds ``key`` as it wrote itself in the lock file: (PID, command
    line), or None (no such file, or the PID in it is gone).  Only reads: it
    never takes the lock, so it cannot make a claimant fail."""
    try:
        text = (lock_dir() / _file_name(key)).read_text(errors="replace")
    except OSError:
        return None
    pid, _, cmd = text.partition("\n")
    if not pid.strip().isdigit() or not _alive(int(pid)):
        return None
    return int(pid), cmd.strip()


def _holder(fd: int) -> tuple[int | None, str]:
    """The PID and command line the holder wrote (it may be writing them now)."""
    deadline = time.monotonic() + HOLDER_WAIT_S
    while True:
        text = os.pread(fd, 4096, 0).decode(errors="replace")
        pid, _, cmd = text.partition("\n")
        if pid.strip().isdigit() and cmd.endswith("\n") and _alive(int(pid)):
            return int(pid), cmd.strip()   # (a dead PID: a former holder's, not yet replaced)
        if time.monotonic() > deadline:
            return None, ""
        time.sleep(0.01)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:   # another user's
        return True
    return True


def device_key(device: ResolvedDevice) -> tuple[str, str]:
    """(key prefix, how a refusal names the device): under JACK the device is
    the server's, so the server's name is part of it."""
    if device.hostapi == JACK_HOSTAPI:
        server = jack_server_name()
        return (f"audio:jack:{server}:{device.name}",
                f"interface {device.name!r} (JACK server {server!r})")
    return f"audio:{device.hostapi}:{device.name}", f"interface {device.name!r}"


def session_claims(session: Any, device: ResolvedDevice) -> list[tuple[str, str]]:
    """What a stream of ``session`` on ``device`` must own, as (key, what):
    each output it writes (program outputs, monitors, hardware sends), each
    input a hardware insert returns on, each unit's MIDI port."""
    prefix, dev = device_key(device)
    out: dict[str, str] = {}
    prog = session.program
    for ch in prog.outputs:
        out.setdefault(f"{prefix}:out:{ch}", f"{dev} output {ch} (the program's)")
    for ch in prog.monitor:
        out.setdefault(f"{prefix}:out:{ch}", f"{dev} output {ch} (the monitors')")
    for ins in session.chain.inserts:
        if ins.kind != "hardware":
            continue
        for ch in ins.params["sends"]:
            out.setdefault(f"{prefix}:out:{ch}", f"{dev} output {ch} (insert {ins.name}'s send)")
        for ch in ins.params["returns"]:
            out.setdefault(f"{prefix}:in:{ch}", f"{dev} input {ch} (insert {ins.name}'s return)")
    out.update(midi_claims(u.port for u in units(session) if u.port))
    return list(out.items())


def midi_claims(ports: Iterable[str]) -> list[tuple[str, str]]:
    """(key, what) of each MIDI port (JACK MIDI: per server), as the session names it."""
    server = jack_server_name()
    return [(f"midi:jack:{server}:{p}", f"MIDI port {p!r} (JACK server {server!r})")
            for p in ports]
