"""The host's handle on a virtual unit: :class:`VirtualGear` starts
``python -m host.sim.gear`` as its own process, waits for its ready report,
wires its ports, reads its reports (knobs, xruns, errors) and stops it.

Not real-time code: set-up, reports and tear-down in the main thread.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import re
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from typing import Any

from host.errors import OutboardError
from host.model.virtual_gear import GearSpec
from host.sim.jack_server import quiet_libjack, stop_process


def _port_client() -> Any:
    import jack

    quiet_libjack()
    try:
        return jack.Client(f"outboard-watch-{os.getpid()}", no_start_server=True)
    except jack.JackError as exc:
        raise OutboardError(f"JACK: no server answers ({exc}); start the studio first") from None




class VirtualGear:
    """A virtual unit in its own process, seen from the host.

    Parameters
    ----------
    spec : GearSpec
        What the unit is.

    Notes
    -----
    Not real-time code: start, stop, wiring and reports are set-up.  The
    gear process is ended when this object is stopped, used as a context
    manager, garbage collected, or when the host process dies (the gear
    watches its stdin).
    """

    def __init__(self, spec: GearSpec):
        if not isinstance(spec, GearSpec):
            raise ValueError(f"spec: expected a GearSpec, got {type(spec).__name__}")
        self.spec = spec
        self.proc: subprocess.Popen | None = None
        self._cond = threading.Condition()
        self._reports: collections.deque[dict[str, Any]] = collections.deque(maxlen=4096)
        self._knobs: dict[str, float] = {}
        self._stderr: collections.deque[str] = collections.deque(maxlen=20)
        self._threads: list[threading.Thread] = []
        self._fin: weakref.finalize | None = None

    # ports

    @property
    def inputs(self) -> list[str]:
        """Full names of the gear's audio inputs (``NAME:in_1`` ...)."""
        return [f"{self.spec.name}:in_{i + 1}" for i in range(self.spec.channels)]

    @property
    def outputs(self) -> list[str]:
        """Full names of the gear's audio outputs (``NAME:out_1`` ...)."""
        return [f"{self.spec.name}:out_{i + 1}" for i in range(self.spec.channels)]

    @property
    def midi_input(self) -> str | None:
        """Full name of the gear's MIDI input, or None."""
        return f"{self.spec.name}:midi_in" if self.spec.midi else None

    @property
    def midi_output(self) -> str | None:
        """Full name of the gear's MIDI output (SysEx dump replies), or None."""
        return f"{self.spec.name}:midi_out" if self.spec.midi else None

    # life cycle

    def start(self, timeout_s: float = 15.0) -> VirtualGear:
        """Spawn the gear process and wait until its JACK ports exist.

        Raises
        ------
        OutboardError
            The process exited, or its ports did not appear within
            ``timeout_s`` seconds (the message quotes the gear's last words).
        """
        if self.proc is not None:
            raise OutboardError(f"gear {self.spec.name}: already started")
        cmd = [sys.executable, "-m", "host.sim.gear", "--stop-on-stdin-eof",
               "--spec", self.spec.to_json()]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, bufsize=1)
        self._fin = weakref.finalize(self, stop_process, self.proc)
        self._threads = [threading.Thread(target=self._read_stdout, daemon=True),
                         threading.Thread(target=self._read_stderr, daemon=True)]
        for t in self._threads:
            t.start()
        want = set(self.inputs + self.outputs
                   + ([self.midi_input, self.midi_output] if self.spec.midi else []))
        probe = _port_client()
        try:
            deadline = time.monotonic() + timeout_s
            while True:
                if self.proc.poll() is not None:
                    self._join()
                    raise OutboardError(f"gear {self.spec.name}: exited at start "
                                        f"(status {self.proc.returncode}): {self._last_words()}")
                have = {p.name for p in probe.get_ports(re.escape(self.spec.name) + ":.*")}
                if want <= have and self._ready():
                    return self
                if time.monotonic() > deadline:
                    missing = ", ".join(sorted(want - have)) or "none (no ready report)"
                    self.stop()
                    raise OutboardError(f"gear {self.spec.name}: ports not there after "
                                        f"{timeout_s:g} s (missing: {missing}); "
                                        f"{self._last_words()}")
                time.sleep(0.02)
        finally:
            probe.close()

    def _ready(self) -> bool:
        with self._cond:
            return any(r.get("event") == "ready" for r in self._reports)

    def _last_words(self) -> str:
        with self._cond:
            errs = [r["message"] for r in self._reports if r.get("event") == "error"]
        tail = errs[-1:] or list(self._stderr)[-3:]
        return " | ".join(tail) or "no output"

    def stop(self) -> None:
        """End the gear process (its JACK client and connections go with it)."""
        if self.proc is None:
            return
        with contextlib.suppress(OSError):
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        stop_process(self.proc)
        self._join()
        if self._fin is not None:
            self._fin.detach()
        self.proc = None

    def _join(self) -> None:
        for t in self._threads:
            t.join(timeout=2.0)
        for f in (self.proc.stdout, self.proc.stderr):
            with contextlib.suppress(OSError):
                f.close()

    def __enter__(self) -> VirtualGear:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # reports

    def _read_stdout(self) -> None:
        for line in self.proc.stdout:
            try:
                rep = json.loads(line)
            except ValueError:
                rep = {"event": "text", "line": line.rstrip("\n")}
            with self._cond:
                self._reports.append(rep)
                if isinstance(rep.get("knobs"), dict):
                    self._knobs = dict(rep["knobs"])
                self._cond.notify_all()

    def _read_stderr(self) -> None:
        for line in self.proc.stderr:
            self._stderr.append(line.rstrip("\n"))

    def knobs(self) -> dict[str, float]:
        """The knob values of the gear's latest report (names as in the CC map)."""
        with self._cond:
            return dict(self._knobs)

    def reports(self) -> list[dict[str, Any]]:
        """All reports received so far (oldest first, up to the last 4096)."""
        with self._cond:
            return list(self._reports)

    def wait_for_knobs(self, expected: Mapping[str, float], timeout_s: float = 2.0,
                       tol: float = 1e-9) -> dict[str, float]:
        """Wait until the gear reports every knob of ``expected`` within ``tol``.

        Returns the reported knobs.  Raises :class:`OutboardError` naming the
        knobs that did not land (reported value against expected).
        """
        deadline = time.monotonic() + timeout_s

        def off() -> dict[str, tuple[float | None, float]]:
            return {k: (self._knobs.get(k), v) for k, v in expected.items()
                    if k not in self._knobs or abs(self._knobs[k] - v) > tol}

        with self._cond:
            while off():
                left = deadline - time.monotonic()
                if left <= 0:
                    bad = ", ".join(f"{k}={got!r} (expected {want:g})"
                                    for k, (got, want) in off().items())
                    raise OutboardError(f"gear {self.spec.name}: knobs did not land within "
                                        f"{timeout_s:g} s: {bad}")
                self._cond.wait(left)
            return dict(self._knobs)

    # wiring

    def _pairs(self, sends: Sequence[str], returns: Sequence[str]) -> list[tuple[str, str]]:
        for what, ports in (("sends", sends), ("returns", returns)):
            if len(ports) > self.spec.channels:
                raise ValueError(f"{what}: gear {self.spec.name} has {self.spec.channels} "
                                 f"channels, got {len(ports)} ports")
        return ([(s, g) for s, g in zip(sends, self.inputs, strict=False)]
                + [(g, r) for g, r in zip(self.outputs, returns, strict=False)])

    def wire(self, client: Any, sends: Sequence[str], returns: Sequence[str]) -> None:
        """Connect host outputs ``sends[i]`` -> ``in_{i+1}`` and ``out_{i+1}`` -> host
        inputs ``returns[i]`` through ``client`` (a jack.Client); existing ones are kept."""
        import jack

        for src, dst in self._pairs(sends, returns):
            try:
                client.connect(src, dst)
            except jack.JackErrorCode as exc:
                if "already exists" not in str(exc):
                    raise OutboardError(f"gear {self.spec.name}: cannot connect {src} -> "
                                        f"{dst} ({exc})") from None
            except jack.JackError as exc:
                raise OutboardError(f"gear {self.spec.name}: cannot connect {src} -> {dst} "
                                    f"({exc})") from None

    def unwire(self, client: Any, sends: Sequence[str], returns: Sequence[str]) -> None:
        """Undo :meth:`wire` (connections that are not there are ignored)."""
        import jack

        for src, dst in self._pairs(sends, returns):
            with contextlib.suppress(jack.JackError):
                client.disconnect(src, dst)
