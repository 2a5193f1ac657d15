"""TPDF dither with optional noise shaping (C kernel ``native/dither.c``)."""

from __future__ import annotations

import weakref

import numpy as np

from host._ffi import check, ffi, lib, planar, process_blocks

SHAPING = {
    "none": lib.OB_DITHER_SHAPE_NONE,
    "first-order": lib.OB_DITHER_SHAPE_FIRST,
    "wannamaker9": lib.OB_DITHER_SHAPE_WANNAMAKER9,
}


class Dither:
    """Quantise float audio to a word length with TPDF dither.

    Parameters
    ----------
    channels : int
        1..64.
    bits : int
        Target word length, 8..24 (16 and 24 are the delivery formats).
    shaping : str
        ``"none"`` (flat), ``"first-order"`` (error shaped by 1 - z^-1) or
        ``"wannamaker9"`` (9-tap psychoacoustic filter for 44.1/48 kHz).
    seed : int
        Seed of the per-channel noise generators (repeatable output).

    ``process`` leaves every sample on the grid ``k / 2**(bits-1)``; use
    :meth:`to_int` for the integers.  Latency: 0 samples.
    """

    def __init__(self, channels: int, bits: int = 16, shaping: str = "none", seed: int = 1):
        if shaping not in SHAPING:
            raise ValueError(f"shaping: expected one of {', '.join(SHAPING)}, got {shaping!r}")
        if not 8 <= bits <= 24:
            raise ValueError(f"bits: expected 8..24, got {bits}")
        if not 1 <= channels <= lib.OB_MAX_CHANNELS:
            raise ValueError(f"channels: expected 1..{lib.OB_MAX_CHANNELS}, got {channels}")
        st = lib.ob_dither_new(channels, bits, SHAPING[shaping], seed & 0xFFFFFFFF)
        if st == ffi.NULL:
            raise MemoryError("ob_dither_new failed")
        self._st = st
        self._fin = weakref.finalize(self, lib.ob_dither_free, st)
        self.channels, self.bits, self.shaping = channels, bits, shaping

    def set(self, bits: int, shaping: str) -> None:
        check(lib.ob_dither_set(self._st, bits, SHAPING[shaping]), "ob_dither_set")
        self.bits, self.shaping = bits, shaping

    def reset(self) -> None:
        lib.ob_dither_reset(self._st)

    @property
    def latency_samples(self) -> int:
        return int(lib.ob_dither_latency(self._st))

    def process(self, audio: np.ndarray) -> np.ndarray:
        """Dither and quantise planar float32 (channels, frames) audio in place."""
        a = planar(audio)
        return process_blocks(lambda p, n, f: lib.ob_dither_process(self._st, p, n, f), a)

    def to_int(self, quantised: np.ndarray) -> np.ndarray:
        """Integers k (int32) of audio already on the grid, in the word's range."""
        return np.rint(np.asarray(quantised, dtype=np.float64) * 2.0 ** (self.bits - 1)).astype(
            np.int32
        )
