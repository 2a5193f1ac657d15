"""Multiband compressor (C kernel ``native/multiband.c``, crossover ``native/crossover.c``).

2 to 5 bands split by Linkwitz-Riley crossovers (LR2, LR4 or LR8), each band
compressed by the compressor kernel (:mod:`host.dsp.compressor`, all its
parameters per band) with solo, bypass and mute, the bands summed.  The bands
sum to the crossovers' allpass: with every band at ratio 1 and makeup 0 the
output is the input with a flat magnitude and the crossovers' phase.  Runs
in the engine as a kernel insert (:mod:`host.dsp.kernel`), with one
gain-reduction meter per band.  Linear-phase crossovers are not offered.
"""

from __future__ import annotations

from typing import Any

from host._ffi import ffi, lib
from host.dsp.compressor import DETECTORS, MODES
from host.dsp.compressor import RANGES as COMPRESSOR_RANGES
from host.dsp.crossover import SLOPES, check_band_tables, check_crossovers, crossover_moves
from host.dsp.kernel import KernelInsert, ParamError, Range, check_fs_channels

__all__ = ["Multiband", "RANGES", "BAND_RANGES", "MAX_BANDS"]

MAX_BANDS = int(lib.OB_MULTIBAND_MAX_BANDS)
_SWITCHES = {"solo": lib.OB_MULTIBAND_SOLO, "bypass": lib.OB_MULTIBAND_BYPASS,
             "mute": lib.OB_MULTIBAND_MUTE}
_COMP_IDS = {name: getattr(lib, f"OB_MULTIBAND_{name.upper()}") for name in COMPRESSOR_RANGES}
_CHOICES = {"detector": DETECTORS, "mode": MODES}

#: a band: the compressor's parameters, and its switches
BAND_RANGES: dict[str, Range] = {
    **COMPRESSOR_RANGES,
    **{k: Range("bool", default=False) for k in _SWITCHES},
}
#: the insert's own keys (besides ``bands``, one table of BAND_RANGES per band):
#: the compressor's parameters here are every band's defaults
RANGES: dict[str, Range] = {
    "slope": Range("choice", choices=tuple(SLOPES), default="lr4"),
    **COMPRESSOR_RANGES,
}


def _band_label(k: int, xo: list[float]) -> str:
    if k == 0:
        return f"band 1 (< {xo[0]:g} Hz)"
    if k == len(xo):
        return f"band {k + 1} (> {xo[-1]:g} Hz)"
    return f"band {k + 1} ({xo[k - 1]:g}-{xo[k]:g} Hz)"


class Multiband(KernelInsert):
    """Multiband compressor on planar float32 audio, processed in place.

    Parameters
    ----------
    fs : float
        Sample rate, Hz, 8000..768000.
    channels : int
        Channels, 1..64 (a band in ``mode = "mid-side"`` needs 2).
    crossovers_hz : sequence of float
        1..4 crossover frequencies, Hz, 10..20000 and at most 0.45 fs,
        strictly increasing: 2..5 bands.
    slope : {"lr2", "lr4", "lr8"}
        Linkwitz-Riley crossovers of 12, 24 or 48 dB/octave (fixed).
    bands : list of dict, optional
        One table per band (lowest first), each with any compressor key
        (as :class:`host.dsp.compressor.Compressor`: ``threshold_db`` dBFS
        -60..0, ``ratio`` 1..100, ``knee_db``, ``attack_ms``, ``release_ms``,
        ``makeup_db``, ``detector``, ``rms_window_ms``, ``stereo_link``,
        ``mode``, ``sidechain_hpf_hz``) and the switches ``solo``, ``bypass``,
        ``mute`` (bool).
    **defaults
        Compressor keys applied to every band before its own table.

    Notes
    -----
    Latency 0.  Parameter changes ramp (the compressor's 10 ms one-pole;
    solo/bypass/mute 20 ms linear; crossovers glide 10 ms in log frequency);
    the output does not depend on the block size.  Gain reduction is metered
    per band (:meth:`take_gain_reduction_meters_db`).
    """

    engine_kind = int(lib.OB_INSERT_MULTIBAND)
    RANGES = RANGES

    def __init__(self, fs: float, channels: int, crossovers_hz: Any, slope: str = "lr4",
                 bands: list[dict[str, Any]] | None = None, **defaults: Any):
        fs, channels = check_fs_channels(fs, channels)
        xo = check_crossovers(crossovers_hz, MAX_BANDS, fs)
        slope = RANGES["slope"].check("slope", slope)
        nb = check_band_tables(bands, xo)
        self.crossovers_hz = xo
        self.slope = slope
        self.band_params = [{k: r.default for k, r in BAND_RANGES.items()} for _ in range(nb)]
        st = lib.ob_multiband_new(fs, channels, SLOPES[slope], nb, ffi.new("double[]", xo))
        self._own(st, lib.ob_multiband_free, lib.ob_multiband_ops(), fs, channels)
        self.set(**{k: v for k, v in defaults.items()})
        for b, table in enumerate(bands or []):
            if table:
                self.set(band=b, **table)

    @property
    def bands(self) -> int:
        return len(self.crossovers_hz) + 1

    @property
    def meter_names(self) -> list[str]:
        return [_band_label(k, self.crossovers_hz) for k in range(self.bands)]

    def messages(self, **params: Any) -> list[tuple[int, int, float]]:
        """``band`` (index 0..bands-1; absent: every band) with band keys
        (compressor keys, ``solo``, ``bypass``, ``mute``); or, without
        ``band``, ``crossovers_hz`` (all of them, glided)."""
        band = params.pop("band", None)
        if band is not None and (isinstance(band, bool) or not isinstance(band, int) or
                                 not 0 <= band < self.bands):
            raise ParamError("band", f"expected a band index 0..{self.bands - 1}, got {band!r}")
        idx = -1 if band is None else band
        where = "" if band is None else f"bands[{band}]."
        out: list[tuple[int, int, float]] = []
        for key, value in params.items():
            if key == "crossovers_hz" and band is None:
                out.extend(crossover_moves(int(lib.OB_MULTIBAND_CROSSOVER_HZ), self.crossovers_hz,
                                           value, MAX_BANDS, self.fs))
                continue
            if key == "slope":
                raise ParamError("slope", "fixed when the insert is built (it sets the "
                                 "filter order)")
            if key not in BAND_RANGES or (key in _SWITCHES and band is None):
                known = [*BAND_RANGES] if band is not None else \
                    ["crossovers_hz", *COMPRESSOR_RANGES, "band"]
                raise ParamError(f"{where}{key}", f"unknown parameter (expected one of "
                                 f"{', '.join(known)})")
            try:
                v = BAND_RANGES[key].check(key, value)
            except ValueError as exc:
                raise ParamError(f"{where}{key}", str(exc).split(": ", 1)[1]) from None
            if key == "mode" and v == "mid-side" and self.channels != 2:
                raise ParamError(f"{where}mode", f"'mid-side' needs 2 channels, have "
                                 f"{self.channels}")
            if key in _SWITCHES:
                out.append((int(_SWITCHES[key]), idx, 1.0 if v else 0.0))
            else:
                num = _CHOICES[key][v] if key in _CHOICES else v
                out.append((int(_COMP_IDS[key]), idx, float(num)))
        return out

    def _applied(self, params: dict[str, Any]) -> None:
        p = dict(params)
        band = p.pop("band", None)
        if "crossovers_hz" in p:
            self.crossovers_hz = [float(f) for f in p.pop("crossovers_hz")]
        for b in range(self.bands) if band is None else [band]:
            self.band_params[b].update(p)

    @property
    def params(self) -> dict[str, Any]:
        """Current targets: ``crossovers_hz``, ``slope`` and ``bands`` (one dict per band)."""
        return {"crossovers_hz": list(self.crossovers_hz), "slope": self.slope,
                "bands": [dict(b) for b in self.band_params]}
