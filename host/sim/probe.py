"""A test probe for the studio: :class:`PlayRecordClient` plays a signal into
JACK ports and records others in the same process cycles (sample-exact loops
for the latency tests and ``outboard ping``'s cross-checks).
"""

from __future__ import annotations

import collections
import contextlib
import time
from collections.abc import Iterable, Sequence

import numpy as np

from host.errors import OutboardError
from host.sim.jack_server import quiet_libjack


class PlayRecordClient:
    """A JACK client that plays a signal on its outputs and records its inputs,
    sample-aligned: recorded sample ``t`` was captured in the same process
    cycle, at the same offset, as played sample ``t`` was sent.

    Parameters
    ----------
    name : str
        JACK client name.
    outputs, inputs : int
        Audio ports ``out_1..`` and ``in_1..``.
    midi_out : bool
        Also register ``midi_out``, fed by :meth:`send_midi`.

    Notes
    -----
    The process callback only copies slices of preallocated NumPy buffers
    (and writes queued MIDI events); it is the embedded studio's measuring
    tool (tests, latency pings), not the host engine.
    """

    def __init__(self, name: str = "outboard-probe", outputs: int = 1, inputs: int = 1,
                 midi_out: bool = False):
        import jack

        quiet_libjack()
        try:
            self.client = jack.Client(name, no_start_server=True)
        except jack.JackError as exc:
            raise OutboardError(f"JACK: no server answers ({exc}); start the studio first") \
                from None
        c = self.client
        self._outs = [c.outports.register(f"out_{i + 1}") for i in range(outputs)]
        self._ins = [c.inports.register(f"in_{i + 1}") for i in range(inputs)]
        self._midi = c.midi_outports.register("midi_out") if midi_out else None
        self._midi_queue: collections.deque[bytes] = collections.deque()
        self._job: tuple[np.ndarray, np.ndarray] | None = None
        self._pos = 0
        self.xruns = 0
        self.last_xruns = 0
        c.set_process_callback(self._process)
        c.set_xrun_callback(self._on_xrun)
        c.activate()

    def _on_xrun(self, delay_usecs: float) -> None:
        self.xruns += 1

    @property
    def name(self) -> str:
        return self.client.name

    @property
    def fs(self) -> float:
        return float(self.client.samplerate)

    @property
    def blocksize(self) -> int:
        return int(self.client.blocksize)

    @property
    def outputs(self) -> list[str]:
        return [p.name for p in self._outs]

    @property
    def inputs(self) -> list[str]:
        return [p.name for p in self._ins]

    @property
    def midi_output(self) -> str | None:
        return None if self._midi is None else self._midi.name

    def _process(self, frames: int) -> None:
        job = self._job
        if job is None:
            for p in self._outs:
                p.get_array().fill(0.0)
        else:
            play, rec = job
            pos = self._pos
            m = min(frames, play.shape[1] - pos)
            for ch, p in enumerate(self._outs):
                a = p.get_array()
                a[:m] = play[ch, pos:pos + m]
                a[m:] = 0.0
            for ch, p in enumerate(self._ins):
                rec[ch, pos:pos + m] = p.get_array()[:m]
            self._pos = pos + m
            if pos + m >= play.shape[1]:
                self._job = None
        if self._midi is not None:
            self._midi.clear_buffer()
            t = 0
            while self._midi_queue and t < frames:
                self._midi.write_midi_event(t, self._midi_queue.popleft())
                t += 1

    def play_record(self, signal: np.ndarray, frames: int | None = None,
                    timeout_s: float | None = None, attempts: int = 1,
                    pause_s: float = 0.0) -> np.ndarray:
        """Play ``signal`` from the start of a process cycle and record as long.

        Parameters
        ----------
        signal : np.ndarray
            ``(outputs, n)`` or 1-D (the same on every output), full-scale units.
        frames : int or None
            Frames to record (and play, the signal zero-padded); default ``n``.
        timeout_s : float or None
            Wall-clock limit per attempt; default 4 x the duration + 5 s.
        attempts : int
            Tries, 1..20.  A recording during which JACK reported an xrun is
            not trusted (a late client can hand over a stale block) and is
            made again, up to ``attempts`` times in all.
        pause_s : float
            Wait before a repeat, s (let a stateful gear, e.g. a compressor's
            release, settle back).

        Returns
        -------
        np.ndarray
            float32 ``(inputs, frames)``.  :attr:`last_xruns` is the number of
            xruns during the recording returned (0 unless every attempt had one).
        """
        x = np.asarray(signal, dtype=np.float32)
        if x.ndim == 1:
            x = np.tile(x, (len(self._outs), 1))
        if x.ndim != 2 or x.shape[0] != len(self._outs):
            raise ValueError(f"signal: expected ({len(self._outs)}, n) or (n,), "
                             f"got shape {np.shape(signal)}")
        total = x.shape[1] if frames is None else int(frames)
        if total <= 0:
            raise ValueError(f"frames: expected > 0, got {total}")
        if isinstance(attempts, bool) or not isinstance(attempts, int) or not 1 <= attempts <= 20:
            raise ValueError(f"attempts: expected an integer 1..20, got {attempts!r}")
        play = np.zeros((len(self._outs), total), np.float32)
        m = min(total, x.shape[1])
        play[:, :m] = x[:, :m]
        if timeout_s is None:
            timeout_s = 4.0 * total / self.fs + 5.0
        settle = 3.0 * self.blocksize / self.fs + 0.03  # xrun notices arrive asynchronously
        for attempt in range(attempts):
            if attempt:
                time.sleep(pause_s)
            rec = np.zeros((len(self._ins), total), np.float32)
            before = self.xruns
            self._pos = 0
            self._job = (play, rec)
            deadline = time.monotonic() + timeout_s
            while self._job is not None:
                if time.monotonic() > deadline:
                    self._job = None
                    raise OutboardError(f"{self.name}: played {self._pos} of {total} frames "
                                        f"in {timeout_s:g} s; is the JACK server running?")
                time.sleep(0.005)
            time.sleep(settle)
            self.last_xruns = self.xruns - before
            if self.last_xruns == 0:
                break
        return rec

    def send_midi(self, messages: Iterable[bytes | Sequence[int]]) -> None:
        """Queue MIDI messages; the next process cycles write them, one per frame."""
        if self._midi is None:
            raise OutboardError(f"{self.name}: made without midi_out")
        for m in messages:
            self._midi_queue.append(bytes(m))

    def wait_midi_sent(self, timeout_s: float = 2.0) -> None:
        """Wait until every queued MIDI message has been written to a cycle."""
        deadline = time.monotonic() + timeout_s
        while self._midi_queue:
            if time.monotonic() > deadline:
                raise OutboardError(f"{self.name}: MIDI not sent within {timeout_s:g} s")
            time.sleep(0.005)
        time.sleep(3 * self.blocksize / self.fs)  # the cycle that wrote the last one ends

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.deactivate()
        with contextlib.suppress(Exception):
            self.client.close()

    def __enter__(self) -> PlayRecordClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
