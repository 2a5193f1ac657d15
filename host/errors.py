"""Exceptions that reach the user as one clear line, and the stop signals
(Ctrl-C, SIGTERM, SIGHUP) turned into one of them."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class OutboardError(Exception):
    """A problem the user can fix: the message names the file, key or port and
    what was expected.  The CLI prints it as one line and exits non-zero."""


class ConfigError(OutboardError):
    """A session or chain file that does not validate."""


class AudioFileError(OutboardError):
    """An audio file that cannot be read or written as asked."""


class Interrupted(KeyboardInterrupt):
    """A stop asked by a signal: Ctrl-C (SIGINT), SIGTERM, or the terminal
    closing (SIGHUP).  A KeyboardInterrupt, so that every clean path Ctrl-C
    takes (a recording finished, temporary files removed, the stream and the
    embedded server stopped), SIGTERM takes too; ``signum`` tells them apart."""

    def __init__(self, signum: int = signal.SIGINT):
        super().__init__(signum)
        self.signum = int(signum)
        #: files written before the stop by other processes of the command (workers)
        self.written: list = []

    @property
    def what(self) -> str:
        """How the user would name it: "Ctrl-C", "SIGTERM", "SIGHUP"."""
        return signal_name(self.signum)

    @property
    def exit_code(self) -> int:
        """The shell's code for a death by this signal: 130, 143, 129."""
        return 128 + self.signum


def signal_name(signum: int) -> str:
    """``"Ctrl-C"`` for SIGINT, else the signal's name (``"SIGTERM"``)."""
    if signum == signal.SIGINT:
        return "Ctrl-C"
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def interruption(exc: BaseException) -> Interrupted:
    """``exc`` as an Interrupted (a bare KeyboardInterrupt is Ctrl-C)."""
    return exc if isinstance(exc, Interrupted) else Interrupted(signal.SIGINT)


#: the signals that stop a command cleanly (SIGHUP only where the system has it)
STOP_SIGNALS = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP")
                     if hasattr(signal, n))
#: stop_signals()' state: the signal raised (or held by deferred()), and how deep in deferred()
_stop = {"signum": None, "raised": False, "defer": 0}


def _on_stop_signal(signum, frame) -> None:
    if _stop["signum"] is not None:
        return  # the clean-up the first one started is not cut short
    _stop["signum"] = signum
    if _stop["defer"] == 0:
        _stop["raised"] = True
        raise Interrupted(signum)


@contextmanager
def stop_signals() -> Iterator[None]:
    """While inside: the first of SIGINT, SIGTERM or SIGHUP raises
    :class:`Interrupted` in the main thread; later ones are ignored, so the
    clean-up the first one started is not cut short (SIGKILL still ends the
    process at once).  The previous handlers are restored on the way out.
    Outside the main thread, does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _stop.update(signum=None, raised=False, defer=0)
    # (a signal ignored by whoever started us stays ignored: nohup, a background job)
    old = {s: signal.signal(s, _on_stop_signal) for s in STOP_SIGNALS
           if signal.getsignal(s) is not signal.SIG_IGN}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


@contextmanager
def deferred() -> Iterator[None]:
    """Finish what is inside before a stop signal (under :func:`stop_signals`)
    is raised: a signal that comes meanwhile is raised on the way out (a
    recording being finished is finished, then the command stops), unless
    something else is raised from inside."""
    _stop["defer"] += 1
    try:
        yield
    finally:
        _stop["defer"] -= 1
    if _stop["defer"] == 0 and _stop["signum"] is not None and not _stop["raised"]:
        _stop["raised"] = True
        raise Interrupted(_stop["signum"])


class OutboardWarning(UserWarning):
    """Something the user should know but that stops nothing (a session value
    the unit cannot take exactly): the CLI prints it as one line,
    ``outboard: warning: ...``, naming the file and key."""
