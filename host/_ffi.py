"""Access to the compiled C kernels (``host._outboard``, built by cffi).

``ffi`` and ``lib`` are the cffi objects; ``ChannelPointers`` turns a planar
float32 NumPy array into the ``float **`` every ``*_process`` takes.
"""

from __future__ import annotations

import numpy as np

try:
    from host._outboard import ffi, lib
except ImportError as exc:  # pragma: no cover - only without a build
    raise ImportError(
        "outboard's C kernels are not built; run `make native` or `pip install -e .`"
    ) from exc


class KernelError(RuntimeError):
    """A C kernel refused its arguments or could not allocate."""


def check(status: int, what: str) -> None:
    """Turn a C status code into a typed exception naming the call."""
    if status == lib.OB_OK:
        return
    if status == lib.OB_ERR_NOMEM:
        raise MemoryError(f"{what}: out of memory")
    raise KernelError(f"{what}: argument out of range (status {status})")


def planar(x: np.ndarray) -> np.ndarray:
    """Return ``x`` as a C-contiguous float32 array shaped (channels, frames).

    A 1-D array is one channel.  The result may be ``x`` itself (processed in
    place) when it already has that layout.
    """
    a = np.asarray(x)
    if a.ndim == 1:
        a = a[np.newaxis, :]
    if a.ndim != 2:
        raise ValueError(f"expected (channels, frames) audio, got shape {a.shape}")
    return np.ascontiguousarray(a, dtype=np.float32)


class ChannelPointers:
    """``float **`` view of a planar float32 array, kept alive with it.

    Parameters
    ----------
    audio : np.ndarray
        C-contiguous float32, shape (channels, frames); processed in place.
    """

    def __init__(self, audio: np.ndarray):
        if audio.dtype != np.float32 or not audio.flags.c_contiguous or audio.ndim != 2:
            raise ValueError("ChannelPointers needs C-contiguous float32 (channels, frames)")
        self.audio = audio
        self.nch, self.frames = audio.shape
        base = ffi.cast("float *", ffi.from_buffer(audio))
        self.ptr = ffi.new("float *[]", max(self.nch, 1))
        for c in range(self.nch):
            self.ptr[c] = base + c * self.frames


def process_blocks(process, audio: np.ndarray, block: int = 65536) -> np.ndarray:
    """Run ``process(float **, nch, frames)`` over ``audio`` in place, block by block.

    ``audio`` must be planar float32 (see :func:`planar`).  Blocks are sliced
    by pointer arithmetic, so nothing is copied.
    """
    cp = ChannelPointers(audio)
    nch, n = audio.shape
    ptr = ffi.new("float *[]", max(nch, 1))
    for start in range(0, n, block):
        frames = min(block, n - start)
        for c in range(nch):
            ptr[c] = cp.ptr[c] + start
        process(ptr, nch, frames)
    return audio


def process_aligned(process, audio: np.ndarray, latency_samples: int) -> np.ndarray:
    """Process a whole planar (channels, frames) signal and return the output
    aligned with the input: ``latency_samples`` of silence are appended (the
    tail is flushed) and as many output samples dropped from the start.

    ``process(padded)`` processes the padded float32 copy and returns the
    output (it may work in place).  The one rule for every ``process_aligned``:
    no state is reset here; an owner that means "one whole signal from a fresh
    start" resets before calling (and says so).
    """
    n = audio.shape[1]
    padded = np.zeros((audio.shape[0], n + latency_samples), dtype=np.float32)
    padded[:, :n] = audio
    out = process(padded)
    return np.ascontiguousarray(out[:, latency_samples:])
