"""Kernel inserts: the Python side of ``ob_engine_add_kernel`` (``native/engine.h``).

A C kernel that exports its verbs as an ``ob_kernel_ops`` table
(``const ob_kernel_ops *ob_<name>_ops(void)`` in its header) runs in the
real-time engine with no engine code of its own.  Its wrapper subclasses
:class:`KernelInsert` and gives:

- ``engine_kind``: its ``OB_INSERT_*`` id;
- ``RANGES``: every parameter as a :class:`Range` (unit, range, default), the
  one place its ranges are written; the chain schema
  (``host.model.config.KINDS``) is built from them;
- :meth:`KernelInsert.messages`: parameters (checked against ``RANGES`` and
  each other) turned into ``(param, index, value)`` triples for the kernel's
  ``set`` verb.  :meth:`KernelInsert.set` applies them to the kernel at once;
  ``host.live.engine.Engine.set_param`` sends the same triples through the
  engine's parameter ring (``OB_PARAM_KERNEL + param``), so offline and live
  reach the kernel by one path;
- ``meter_names``: one label per gain-reduction meter (e.g. per band), empty
  when the kernel has none.

The base class owns the C state (freed by a finalizer) and drives
``process``, ``reset``, ``latency`` and the meters through the ops table.
"""

from __future__ import annotations

import math
import numbers
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from host._ffi import ChannelPointers, check, ffi, lib, planar

__all__ = ["KernelInsert", "ParamError", "Range"]

FS_RANGE_HZ = (8000.0, 768000.0)


def _fmt(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


class ParamError(ValueError):
    """A bad parameter of a kernel: ``key`` (e.g. ``crossovers_hz[2]``) and
    ``message`` (what was expected, with unit and range, and what came)."""

    def __init__(self, key: str, message: str):
        super().__init__(f"{key}: {message}")
        self.key, self.message = key, message


@dataclass(frozen=True)
class Range:
    """One parameter of a kernel: kind, range, unit and default.

    ``kind`` is ``"number"``, ``"int"``, ``"choice"`` or ``"bool"``; numbers
    lie in ``lo..hi`` (or are 0 when ``zero_ok``: "off").
    """

    kind: str
    lo: float | None = None
    hi: float | None = None
    unit: str = ""
    default: Any = None
    choices: tuple = ()
    zero_ok: bool = False

    def describe(self) -> str:
        if self.kind in ("number", "int"):
            what = "an integer" if self.kind == "int" else "a number"
            unit = f" {self.unit}" if self.unit else ""
            off = " (or 0 for off)" if self.zero_ok else ""
            return f"{what} {_fmt(self.lo)}..{_fmt(self.hi)}{unit}{off}"
        if self.kind == "choice":
            return "one of " + ", ".join(repr(c) for c in self.choices)
        return "true or false"

    def check(self, key: str, value: Any) -> Any:
        """``value`` checked, as float / int / str / bool; ``ValueError`` naming
        ``key``, the range and the unit otherwise."""
        bad = ValueError(f"{key}: expected {self.describe()}, got {value!r}")
        if self.kind in ("number", "int"):
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or \
                    not math.isfinite(value):
                raise bad
            if self.kind == "int" and not float(value).is_integer():
                raise bad
            if self.zero_ok and value == 0:
                return 0 if self.kind == "int" else 0.0
            if not self.lo <= value <= self.hi:
                raise bad
            return int(value) if self.kind == "int" else float(value)
        if self.kind == "choice":
            if value not in self.choices:
                raise bad
            return value
        if not isinstance(value, bool):
            raise bad
        return value


def check_fs_channels(fs: float, channels: int, max_channels: int = 64) -> tuple[float, int]:
    """The common constructor arguments, checked (one-line errors)."""
    if isinstance(fs, bool) or not isinstance(fs, numbers.Real) or not (
            FS_RANGE_HZ[0] <= fs <= FS_RANGE_HZ[1]):
        raise ValueError(f"fs: sample rate, expected {FS_RANGE_HZ[0]:g}..{FS_RANGE_HZ[1]:g} Hz, "
                         f"got {fs!r}")
    if isinstance(channels, bool) or not isinstance(channels, (int, np.integer)) or not (
            1 <= channels <= max_channels):
        raise ValueError(f"channels: expected an integer 1..{max_channels}, got {channels!r}")
    return float(fs), int(channels)


class KernelInsert:
    """Base of the wrappers whose C kernel the engine runs as a kernel insert.

    A subclass makes its C state and calls :meth:`_own` with it, its free
    function and its ops table.  Audio is planar float32 ``(channels,
    frames)``, processed in place; the output does not depend on how a signal
    is cut into blocks.
    """

    engine_kind: int = -1
    RANGES: dict[str, Range] = {}

    def _own(self, st: Any, free: Callable[[Any], None], ops: Any, fs: float,
             channels: int) -> None:
        if st == ffi.NULL:
            raise MemoryError(f"{type(self).__name__}: the C kernel could not be made")
        self._st = st
        self.engine_ops = ops
        self.fs, self.channels = fs, channels
        self._fin = weakref.finalize(self, free, st)

    # ---- parameters -----------------------------------------------------------------

    def messages(self, **params: Any) -> list[tuple[int, int, float]]:
        """Check ``params`` (all of them, before anything applies) and return
        the ``(param, index, value)`` triples of the kernel's ``set`` verb that
        apply them.  Pure: neither the kernel nor this object changes.
        Raises ``ValueError`` naming the key, its unit and range."""
        raise NotImplementedError

    def _applied(self, params: dict[str, Any]) -> None:
        """Record parameters once their messages were applied (subclasses)."""

    def set(self, **params: Any) -> None:
        """Set parameters now (targets: process ramps to them).  Not while
        another thread is inside :meth:`process` (call it between blocks)."""
        for p, idx, v in self.messages(**params):
            check(self.engine_ops.set(self._st, p, idx, v), f"{type(self).__name__} set")
        self._applied(params)

    # ---- processing ------------------------------------------------------------------

    def process(self, audio: np.ndarray) -> np.ndarray:
        """Process planar float32 ``(channels, frames)`` audio in place and
        return it (delayed by :attr:`latency_samples`).  The C call is
        real-time safe; this wrapper allocates the channel pointers."""
        if not isinstance(audio, np.ndarray) or audio.dtype != np.float32 or \
                not audio.flags.c_contiguous:
            raise ValueError("audio: expected a C-contiguous float32 numpy array "
                             "(processed in place)")
        a2 = audio[np.newaxis, :] if audio.ndim == 1 else audio
        if a2.ndim != 2 or a2.shape[0] != self.channels:
            raise ValueError(f"audio: expected shape ({self.channels}, frames), "
                             f"got {audio.shape}")
        if a2.shape[1] == 0:
            return audio
        cp = ChannelPointers(a2)
        ptr = ffi.new("float *[]", self.channels)
        step = 1 << 30
        for start in range(0, a2.shape[1], step):
            n = min(step, a2.shape[1] - start)
            for c in range(self.channels):
                ptr[c] = cp.ptr[c] + start
            self.engine_ops.process(self._st, ptr, self.channels, n)
        return audio

    def process_aligned(self, audio: np.ndarray) -> np.ndarray:
        """A whole signal from a fresh start (resets first), output aligned
        with the input (latency removed, tail flushed)."""
        from_planar = planar(audio)
        self.reset()
        n, lat = from_planar.shape[1], self.latency_samples
        padded = np.zeros((self.channels, n + lat), dtype=np.float32)
        padded[:, :n] = from_planar
        out = np.ascontiguousarray(self.process(padded)[:, lat:])
        return out[0] if np.ndim(audio) == 1 else out

    def reset(self) -> None:
        """Clear the signal history and the meters; parameters are kept."""
        self.engine_ops.reset(self._st)

    @property
    def latency_samples(self) -> int:
        """Latency the kernel adds, samples."""
        return int(self.engine_ops.latency(self._st))

    # ---- meters ----------------------------------------------------------------------

    @property
    def meter_names(self) -> list[str]:
        """Labels of the gain-reduction meters (e.g. one per band); [] for none."""
        return []

    def take_gain_reduction_meters_db(self) -> list[float]:
        """Largest gain reduction of each meter since the previous take, dB >= 0;
        restarts them."""
        ops = self.engine_ops
        if ops.gr_meters == ffi.NULL:
            return []
        return [float(ops.take_gr(self._st, k)) for k in range(int(ops.gr_meters(self._st)))]

    def take_max_gain_reduction_db(self) -> float:
        """Largest gain reduction over every meter since the previous take, dB."""
        return max(self.take_gain_reduction_meters_db(), default=0.0)


#: the kernels' shared constant, here for wrappers that need it
MAX_CHANNELS = int(lib.OB_MAX_CHANNELS)
