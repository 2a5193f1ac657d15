"""Dynamic equalizer (C kernel ``native/dynamic_eq.c``).

1 to 4 bands in series, each an RBJ cookbook peak, low shelf or high shelf
whose gain follows a detector on its own band: the kernel's input through
the cookbook band pass at the band's frequency and Q, mean-squared (time
constant 5 ms, or two periods of the band frequency when longer), linked
over the channels.  ``mode = "above"`` cuts by ``(L - threshold)(1 - 1/ratio)``
dB above the threshold, ``"below"`` by ``(threshold - L)(ratio - 1)`` dB
below it (downward expansion), at most ``range_db``, with attack and
release on the cut; the band's filter is the cookbook filter of gain
``gain_db - cut``.  Levels L are 10 log10 of the mean square (a full-scale
sine in the band reads -3.01 dB).  With the detector idle (mode above, far
below the threshold) each band is exactly its static cookbook filter.

``preset = "deess"`` is one band: a peak at 7 kHz, Q 1, cutting above a
-30 dB threshold at 4:1 (attack 1 ms, release 60 ms, at most 12 dB).

This module owns the ranges (:data:`BAND_RANGES`, :data:`RANGES`); the
chain schema is built from them.  Runs in the engine as a kernel insert
(:mod:`host.dsp.kernel`), one gain-reduction meter per band.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from host._ffi import lib
from host.dsp.kernel import KernelInsert, ParamError, Range, check_fs_channels

__all__ = ["DynamicEQ", "BAND_RANGES", "RANGES", "BAND_TYPES", "MODES", "PRESETS",
           "MAX_BANDS", "resolve_bands"]

MAX_BANDS = int(lib.OB_DEQ_MAX_BANDS)
BAND_TYPES: dict[str, int] = {"peak": lib.OB_DEQ_PEAK, "lowshelf": lib.OB_DEQ_LOWSHELF,
                              "highshelf": lib.OB_DEQ_HIGHSHELF}
MODES: dict[str, int] = {"above": lib.OB_DEQ_ABOVE, "below": lib.OB_DEQ_BELOW}
#: a band's keys: unit, range, default
BAND_RANGES: dict[str, Range] = {
    "type": Range("choice", choices=tuple(BAND_TYPES), default="peak"),
    "freq_hz": Range("number", 20.0, 20000.0, "Hz", 1000.0),
    "q": Range("number", 0.1, 10.0, "", 0.7071),
    "gain_db": Range("number", -24.0, 24.0, "dB (static gain)", 0.0),
    "threshold_db": Range("number", -80.0, 0.0, "dB", -20.0),
    "ratio": Range("number", 1.0, 100.0, "(ratio)", 2.0),
    "attack_ms": Range("number", 0.1, 500.0, "ms", 5.0),
    "release_ms": Range("number", 1.0, 5000.0, "ms", 100.0),
    "range_db": Range("number", 0.0, 24.0, "dB (most gain change)", 12.0),
    "mode": Range("choice", choices=tuple(MODES), default="above"),
}
PRESETS: dict[str, dict[str, Any]] = {
    "deess": {"type": "peak", "freq_hz": 7000.0, "q": 1.0, "gain_db": 0.0,
              "threshold_db": -30.0, "ratio": 4.0, "attack_ms": 1.0, "release_ms": 60.0,
              "range_db": 12.0, "mode": "above"},
}
#: the insert's own keys besides ``bands``
RANGES: dict[str, Range] = {"preset": Range("choice", choices=tuple(PRESETS))}

_IDS = {
    "type": lib.OB_DEQ_TYPE, "freq_hz": lib.OB_DEQ_FREQ_HZ, "q": lib.OB_DEQ_Q,
    "gain_db": lib.OB_DEQ_GAIN_DB, "threshold_db": lib.OB_DEQ_THRESHOLD_DB,
    "ratio": lib.OB_DEQ_RATIO, "attack_ms": lib.OB_DEQ_ATTACK_MS,
    "release_ms": lib.OB_DEQ_RELEASE_MS, "range_db": lib.OB_DEQ_RANGE_DB,
    "mode": lib.OB_DEQ_MODE,
}
_CHOICES = {"type": BAND_TYPES, "mode": MODES}


def check_band_key(where: str, key: str, value: Any, fs: float | None = None) -> Any:
    """One band key checked (``where`` prefixes the key in the error, e.g.
    ``bands[1].``); ``freq_hz`` also at most 0.45 fs when ``fs`` is given."""
    if key not in BAND_RANGES:
        raise ParamError(f"{where}{key}", f"unknown band key (expected one of "
                         f"{', '.join(BAND_RANGES)})")
    try:
        v = BAND_RANGES[key].check(key, value)
    except ValueError as exc:
        raise ParamError(f"{where}{key}", str(exc).split(": ", 1)[1]) from None
    if key == "freq_hz" and fs is not None and v > 0.45 * fs:
        raise ParamError(f"{where}{key}", f"expected at most 0.45 fs = {0.45 * fs:g} Hz at "
                         f"{fs:g} Hz, got {value!r}")
    return v


def resolve_bands(bands: Sequence[Mapping[str, Any]] | None, preset: str | None = None,
                  fs: float | None = None) -> list[dict[str, Any]]:
    """Complete band tables: each key checked, the rest from the defaults.

    With ``preset``, the preset's band is the base and ``bands`` (if given)
    must be one table whose keys override it.  Raises :class:`ParamError`
    naming the key (``bands[1].ratio``), its unit and range.
    """
    if preset is not None and preset not in PRESETS:
        raise ParamError("preset", f"expected one of {', '.join(map(repr, PRESETS))}, "
                         f"got {preset!r}")
    if bands is not None and (isinstance(bands, Mapping) or not isinstance(bands, Sequence)
                              or isinstance(bands, str)):
        raise ParamError("bands", f"expected an array of band tables, got {bands!r}")
    if preset is None:
        if not bands or len(bands) > MAX_BANDS:
            got = len(bands) if bands is not None else "none"
            raise ParamError("bands", f"expected 1..{MAX_BANDS} band tables (or "
                             f"preset = 'deess'), got {got}")
        base = [{k: r.default for k, r in BAND_RANGES.items()} for _ in bands]
    else:
        if bands is not None and len(bands) != 1:
            raise ParamError("bands", f"expected one band table with preset = {preset!r} "
                             f"(its keys override the preset's), got {len(bands)}")
        base = [dict(PRESETS[preset])]
        bands = bands or [{}]
    out = []
    for i, (table, b) in enumerate(zip(bands, base, strict=True)):
        if not isinstance(table, Mapping):
            raise ParamError(f"bands[{i}]", f"expected a table of band keys, got {table!r}")
        for key, value in table.items():
            b[key] = check_band_key(f"bands[{i}].", key, value, fs)
        out.append(b)
    return out


class DynamicEQ(KernelInsert):
    """Dynamic equalizer on planar float32 audio, processed in place.

    Parameters
    ----------
    fs : float
        Sample rate, Hz, 8000..768000.
    channels : int
        Channels, 1..64 (each band's gain is linked over them).
    bands : list of dict, optional
        1..4 band tables, run in series.  Keys (defaults in brackets):
        ``type`` "peak" / "lowshelf" / "highshelf" [peak]; ``freq_hz`` Hz,
        20..20000 and at most 0.45 fs [1000]; ``q`` 0.1..10 [0.7071];
        ``gain_db`` static gain, dB, -24..24 [0]; ``threshold_db`` dB,
        -80..0 [-20]; ``ratio`` 1..100 [2]; ``attack_ms`` 0.1..500 [5];
        ``release_ms`` 1..5000 [100]; ``range_db`` most gain change, dB,
        0..24 [12]; ``mode`` "above" (compress above the threshold) or
        "below" (expand below it) [above].
    preset : {"deess"}, optional
        A ready band; ``bands``, if given, is one table overriding its keys.

    Notes
    -----
    Latency 0; the output does not depend on the block size.  Frequency, Q,
    gains, threshold, ratio and range ramp along a raised cosine over 50 ms; a
    new mode crossfades and a new type fades through 0 dB (50 ms each way).
    """

    engine_kind = int(lib.OB_INSERT_DYNAMIC_EQ)
    RANGES = RANGES

    def __init__(self, fs: float, channels: int, bands: Sequence[Mapping[str, Any]] | None = None,
                 preset: str | None = None):
        fs, channels = check_fs_channels(fs, channels)
        self.fs = fs
        resolved = resolve_bands(bands, preset, fs)
        self.preset = preset
        self.bands = [dict(b) for b in resolved]
        st = lib.ob_dynamic_eq_new(fs, channels, len(resolved))
        self._own(st, lib.ob_dynamic_eq_free, lib.ob_dynamic_eq_ops(), fs, channels)
        for i, b in enumerate(resolved):
            for p, idx, v in self.messages(band=i, **b):
                self.engine_ops.set(self._st, p, idx, v)

    def messages(self, **params: Any) -> list[tuple[int, int, float]]:
        """Band keys (see the class) for ``band`` (an index), or for every band
        when ``band`` is not given, as ``(param, band, value)`` triples of
        ``ob_dynamic_eq_set``."""
        band = params.pop("band", None)
        n = len(self.bands)
        if band is not None and (isinstance(band, bool) or not isinstance(band, int) or
                                 not 0 <= band < n):
            raise ParamError("band", f"expected a band index 0..{n - 1}, got {band!r}")
        if "preset" in params:
            raise ParamError("preset", "fixed when the insert is built (set the band keys)")
        where = "" if band is None else f"bands[{band}]."
        out = []
        for key, value in params.items():
            v = check_band_key(where, key, value, self.fs)
            num = float(_CHOICES[key][v]) if key in _CHOICES else float(v)
            out.append((int(_IDS[key]), -1 if band is None else band, num))
        return out

    def _applied(self, params: dict[str, Any]) -> None:
        band = params.get("band")
        for b in range(len(self.bands)) if band is None else [band]:
            self.bands[b].update({k: v for k, v in params.items() if k != "band"})

    @property
    def meter_names(self) -> list[str]:
        return [f"band {i + 1} ({b['type']} {b['freq_hz']:g} Hz)"
                for i, b in enumerate(self.bands)]

    def gain_reduction_db(self, band: int) -> float:
        """Band ``band``'s gain change after the last sample, dB >= 0."""
        return float(lib.ob_dynamic_eq_gain_reduction_db(self._st, int(band)))

    @property
    def params(self) -> dict[str, Any]:
        """Current targets: ``preset`` and ``bands`` (complete tables)."""
        return {"preset": self.preset, "bands": [dict(b) for b in self.bands]}
