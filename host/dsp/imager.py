"""Stereo imager (C kernel ``native/imager.c``): mid/side width per band and bass mono.

Up to 4 bands split by Linkwitz-Riley crossovers (as the multiband's), each
with a width 0..2 (0 = mono, 1 = unchanged, 2 = side doubled), and
``mono_below_hz``: the side removed below a frequency with an LR4 split (bass
mono for vinyl cutting).  One band, width 1, bass mono off: the output is the
input bit for bit.  With crossovers, L and R both pass the crossovers'
allpass (flat magnitude, the image unchanged).  Runs in the engine as a
kernel insert (:mod:`host.dsp.kernel`).
"""

from __future__ import annotations

from typing import Any

from host._ffi import ffi, lib
from host.dsp.crossover import SLOPES, check_band_tables, check_crossovers, crossover_moves
from host.dsp.kernel import KernelInsert, ParamError, Range, check_fs_channels

__all__ = ["Imager", "RANGES", "BAND_RANGES", "MAX_BANDS"]

MAX_BANDS = int(lib.OB_IMAGER_MAX_BANDS)
#: a band's keys
BAND_RANGES: dict[str, Range] = {
    "width": Range("number", 0.0, 2.0, "(0 = mono, 1 = unchanged, 2 = side doubled)", 1.0),
}
#: the insert's own keys (besides ``crossovers_hz`` and ``bands``); ``width`` is every
#: band's default
RANGES: dict[str, Range] = {
    "slope": Range("choice", choices=tuple(SLOPES), default="lr4"),
    "width": BAND_RANGES["width"],
    "mono_below_hz": Range("number", 20.0, 1000.0, "Hz", 0.0, zero_ok=True),
}


class Imager(KernelInsert):
    """Stereo imager on planar float32 ``(2, frames)`` audio (L, R), in place.

    Parameters
    ----------
    fs : float
        Sample rate, Hz, 8000..768000.
    channels : int
        Must be 2.
    crossovers_hz : sequence of float
        0..3 band crossovers, Hz, 10..20000 and at most 0.45 fs, strictly
        increasing (1..4 bands).
    slope : {"lr2", "lr4", "lr8"}
        Band crossovers' Linkwitz-Riley order (fixed).
    width : float
        Every band's width, 0..2 (0 = mono, 1 = unchanged, 2 = side doubled).
    bands : list of dict, optional
        One table per band, lowest first: ``width``.
    mono_below_hz : float
        Side removed below this frequency (LR4 split), Hz, 20..1000, or 0
        (off).

    Notes
    -----
    Latency 0.  Width and bass mono on/off ramp linearly over 20 ms; the
    crossovers (and the bass-mono frequency while on) glide over 10 ms in
    log frequency.  Output does not depend on the block size.
    """

    engine_kind = int(lib.OB_INSERT_IMAGER)
    RANGES = RANGES

    def __init__(self, fs: float, channels: int = 2, crossovers_hz: Any = (),
                 slope: str = "lr4", width: float = 1.0,
                 bands: list[dict[str, Any]] | None = None, mono_below_hz: float = 0.0):
        fs, channels = check_fs_channels(fs, channels)
        if channels != 2:
            raise ParamError("channels", f"the imager works on stereo (2 channels), got "
                             f"{channels}")
        xo = check_crossovers(list(crossovers_hz), MAX_BANDS, fs, least=0)
        slope = RANGES["slope"].check("slope", slope)
        nb = check_band_tables(bands, xo)
        self.crossovers_hz = xo
        self.slope = slope
        self.widths = [1.0] * nb
        self.mono_below_hz = 0.0
        st = lib.ob_imager_new(fs, SLOPES[slope], nb, ffi.new("double[]", xo or [0.0]))
        self._own(st, lib.ob_imager_free, lib.ob_imager_ops(), fs, channels)
        self.set(width=width, mono_below_hz=mono_below_hz)
        for b, table in enumerate(bands or []):
            if table:
                self.set(band=b, **table)

    @property
    def bands(self) -> int:
        return len(self.crossovers_hz) + 1

    def messages(self, **params: Any) -> list[tuple[int, int, float]]:
        """``width`` (with ``band``: that band's, else every band's),
        ``mono_below_hz``, ``crossovers_hz`` (all of them, glided)."""
        band = params.pop("band", None)
        if band is not None and (isinstance(band, bool) or not isinstance(band, int) or
                                 not 0 <= band < self.bands):
            raise ParamError("band", f"expected a band index 0..{self.bands - 1}, got {band!r}")
        where = "" if band is None else f"bands[{band}]."
        out: list[tuple[int, int, float]] = []
        for key, value in params.items():
            if band is not None and key != "width":
                raise ParamError(f"{where}{key}", "unknown band parameter (expected width)")
            if key == "crossovers_hz":
                out.extend(crossover_moves(int(lib.OB_IMAGER_CROSSOVER_HZ), self.crossovers_hz,
                                           value, MAX_BANDS, self.fs))
                continue
            if key == "slope":
                raise ParamError("slope", "fixed when the insert is built (it sets the "
                                 "filter order)")
            if key not in ("width", "mono_below_hz"):
                raise ParamError(key, "unknown parameter (expected one of width, "
                                 "mono_below_hz, crossovers_hz, band)")
            try:
                v = RANGES[key].check(key, value)
            except ValueError as exc:
                raise ParamError(f"{where}{key}", str(exc).split(": ", 1)[1]) from None
            if key == "mono_below_hz" and v > 0.45 * self.fs:
                raise ParamError(key, f"expected at most 0.45 fs = {0.45 * self.fs:g} Hz, "
                                 f"got {value!r}")
            pid = lib.OB_IMAGER_WIDTH if key == "width" else lib.OB_IMAGER_MONO_BELOW_HZ
            out.append((int(pid), -1 if band is None else band, float(v)))
        return out

    def _applied(self, params: dict[str, Any]) -> None:
        band = params.get("band")
        if "width" in params:
            for b in range(self.bands) if band is None else [band]:
                self.widths[b] = float(params["width"])
        if "mono_below_hz" in params:
            self.mono_below_hz = float(params["mono_below_hz"])
        if "crossovers_hz" in params:
            self.crossovers_hz = [float(f) for f in params["crossovers_hz"]]

    @property
    def params(self) -> dict[str, Any]:
        """Current targets."""
        return {"crossovers_hz": list(self.crossovers_hz), "slope": self.slope,
                "widths": list(self.widths), "mono_below_hz": self.mono_below_hz}
