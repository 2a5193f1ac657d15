"""Biquad filter cascades and the config-driven equalizer (C kernel ``native/biquad.c``).

:class:`FilterCascade` is a thin owner of one ``ob_biquad`` state: up to
``max_sections`` second-order sections in series, RBJ Audio EQ Cookbook
designs, Butterworth and Linkwitz-Riley high/low passes.  :class:`Equalizer`
builds a cascade from band tables as a chain config gives them.

Coefficients are computed in C; :meth:`FilterCascade.sos` reports them in
SciPy's layout so any result can be checked with ``scipy.signal``.

Parameter changes after the first are ramped in C over
``FilterCascade.ramp_samples`` (20 ms), per sample, so they do not click; the
output does not depend on the block size.  Latency: 0 samples.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Mapping, Sequence
from numbers import Real
from typing import Any

import numpy as np

from host._ffi import check, ffi, lib, planar, process_blocks

KINDS: dict[str, int] = {
    "peak": lib.OB_BIQUAD_PEAK,
    "lowshelf": lib.OB_BIQUAD_LOWSHELF,
    "highshelf": lib.OB_BIQUAD_HIGHSHELF,
    "lowpass": lib.OB_BIQUAD_LOWPASS,
    "highpass": lib.OB_BIQUAD_HIGHPASS,
    "bandpass": lib.OB_BIQUAD_BANDPASS,
    "notch": lib.OB_BIQUAD_NOTCH,
    "allpass": lib.OB_BIQUAD_ALLPASS,
}
GAIN_KINDS = ("peak", "lowshelf", "highshelf")
SHELF_KINDS = ("lowshelf", "highshelf")
PASS_KINDS = ("lowpass", "highpass")
FAMILIES = ("rbj", "butterworth", "linkwitz-riley")
GAIN_DB_RANGE = (-48.0, 48.0)
BUTTERWORTH_ORDERS = range(2, 9)
LINKWITZ_RILEY_ORDERS = (2, 4, 6, 8)
FS_RANGE = (1000.0, 1536000.0)


def butterworth_sections(order: int) -> int:
    """Sections a Butterworth high/low pass of ``order`` (2..8) takes."""
    return (order + 1) // 2


def linkwitz_riley_sections(order: int) -> int:
    """Sections a Linkwitz-Riley high/low pass of ``order`` (2, 4, 6, 8) takes."""
    return 2 * butterworth_sections(order // 2) if order > 2 else 2


def _number(name: str, value: Any, unit: str = "") -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise ValueError(f"{name}: expected a finite number{unit}, got {value!r}")
    return float(value)


def _integer(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, Real) or not float(value).is_integer():
        raise ValueError(f"{name}: expected an integer, got {value!r}")
    return int(value)


class FilterCascade:
    """Up to ``max_sections`` biquad sections in series, for ``channels`` channels.

    Parameters
    ----------
    fs : float
        Sample rate, Hz, 1000..1536000.
    channels : int
        Channel count, 1..64.
    max_sections : int
        Capacity, 1..64 sections.  Unset sections pass the signal through
        and cost nothing.

    Notes
    -----
    The first setting of a section after construction or :meth:`reset` takes
    effect at once; later ones ramp the coefficients over
    :attr:`ramp_samples` (20 ms) so they do not click.  Setters and
    :meth:`process` must be called from one thread.  The C process function
    is real-time safe; these Python methods are not (they may allocate).
    """

    def __init__(self, fs: float, channels: int, max_sections: int = 16):
        fs = _number("fs", fs, " Hz")
        if not FS_RANGE[0] <= fs <= FS_RANGE[1]:
            raise ValueError(f"fs: expected {FS_RANGE[0]:g}..{FS_RANGE[1]:g} Hz, got {fs:g}")
        channels = _integer("channels", channels)
        if not 1 <= channels <= lib.OB_MAX_CHANNELS:
            raise ValueError(f"channels: expected 1..{lib.OB_MAX_CHANNELS}, got {channels}")
        max_sections = _integer("max_sections", max_sections)
        if not 1 <= max_sections <= lib.OB_BIQUAD_MAX_SECTIONS:
            raise ValueError(f"max_sections: expected 1..{lib.OB_BIQUAD_MAX_SECTIONS}, "
                             f"got {max_sections}")
        st = lib.ob_biquad_new(fs, channels, max_sections)
        if st == ffi.NULL:
            raise MemoryError("ob_biquad_new failed")
        self._st = st
        self._fin = weakref.finalize(self, lib.ob_biquad_free, st)
        self._coef = ffi.new("double[5]")
        self.fs = fs
        self.channels = channels
        self.max_sections = max_sections

    # -- argument checks ----------------------------------------------------

    def _index(self, index: Any, count: int = 1) -> int:
        index = _integer("index", index)
        if not 0 <= index <= self.max_sections - count:
            need = f" ({count} sections needed)" if count > 1 else ""
            raise ValueError(f"index: expected 0..{self.max_sections - count}{need} in a "
                             f"cascade of {self.max_sections} sections, got {index}")
        return index

    def _freq(self, freq_hz: Any) -> float:
        f = _number("freq_hz", freq_hz, " Hz")
        if not 0.0 < f < 0.5 * self.fs:
            raise ValueError(f"freq_hz: expected 0 < freq_hz < {0.5 * self.fs:g} Hz "
                             f"(fs/2), got {f:g}")
        return f

    @staticmethod
    def _kind(kind: Any, allowed: Sequence[str]) -> str:
        if kind not in allowed:
            raise ValueError(f"kind: expected one of {', '.join(map(repr, allowed))}, "
                             f"got {kind!r}")
        return kind

    # -- setters --------------------------------------------------------------

    def set_section(self, index: int, kind: str, freq_hz: float, q: float = 0.7071,
                    gain_db: float = 0.0, slope: float | None = None) -> None:
        """Set one section to an RBJ Audio EQ Cookbook filter.

        Parameters
        ----------
        index : int
            Section, 0..max_sections-1.
        kind : str
            ``"peak"``, ``"lowshelf"``, ``"highshelf"``, ``"lowpass"``,
            ``"highpass"``, ``"bandpass"`` (0 dB peak), ``"notch"`` or ``"allpass"``.
        freq_hz : float
            Centre, corner or shelf midpoint frequency, Hz, 0 < freq_hz < fs/2.
        q : float
            Quality factor, > 0 (0.7071: Butterworth low/high pass).  Shelves
            ignore it when ``slope`` is given.
        gain_db : float
            Gain of peak and shelves, dB, -48..+48.  Other kinds take no gain.
        slope : float or None
            Shelf slope S (shelves only), > 0; 1 is the steepest slope without
            overshoot.  It must keep (A + 1/A)(1/S - 1) + 2 > 0, A = 10^(gain_db/40).
        """
        kind = self._kind(kind, tuple(KINDS))
        index = self._index(index)
        f = self._freq(freq_hz)
        g = _number("gain_db", gain_db, " dB")
        if kind in GAIN_KINDS:
            if not GAIN_DB_RANGE[0] <= g <= GAIN_DB_RANGE[1]:
                raise ValueError(f"gain_db: expected -48..+48 dB, got {g:g}")
        elif g != 0.0:
            raise ValueError(f"gain_db: only for {', '.join(GAIN_KINDS)}; {kind!r} takes no "
                             f"gain, got {g:g} dB")
        s = 0.0
        if slope is not None:
            if kind not in SHELF_KINDS:
                raise ValueError(f"slope: only for lowshelf/highshelf, not {kind!r}")
            s = _number("slope", slope)
            a = 10.0 ** (g / 40.0)
            if not (s > 0.0 and (a + 1.0 / a) * (1.0 / s - 1.0) + 2.0 > 0.0):
                s_max = (a + 1 / a) / (a + 1 / a - 2) if a != 1.0 else math.inf
                raise ValueError(f"slope: expected 0 < slope < {s_max:.4g} at gain_db={g:g} "
                                 f"(shelf slope S), got {s:g}")
        else:
            q = _number("q", q)
            if not q > 0.0:
                raise ValueError(f"q: expected q > 0, got {q:g}")
        qv = float(q) if slope is None else 0.7071
        check(lib.ob_biquad_set_rbj(self._st, index, KINDS[kind], f, qv, g, s),
              "ob_biquad_set_rbj")

    def set_butterworth(self, index: int, kind: str, order: int, freq_hz: float) -> int:
        """Set a Butterworth low or high pass in sections ``index``, ``index + 1``, ...

        Parameters
        ----------
        index : int
            First section.
        kind : str
            ``"lowpass"`` or ``"highpass"``.
        order : int
            2..8 (slope 6 dB/oct per order; odd orders use a first-order section).
        freq_hz : float
            -3.01 dB corner, Hz, 0 < freq_hz < fs/2.

        Returns
        -------
        int
            Sections used, ``(order + 1) // 2``.
        """
        kind = self._kind(kind, PASS_KINDS)
        order = _integer("order", order)
        if order not in BUTTERWORTH_ORDERS:
            raise ValueError(f"order: expected 2..8 for a Butterworth filter, got {order}")
        index = self._index(index, butterworth_sections(order))
        f = self._freq(freq_hz)
        n = lib.ob_biquad_set_butterworth(self._st, index, KINDS[kind], order, f)
        check(min(n, 0), "ob_biquad_set_butterworth")
        return int(n)

    def set_linkwitz_riley(self, index: int, kind: str, order: int, freq_hz: float) -> int:
        """Set a Linkwitz-Riley low or high pass (a squared Butterworth of half the order).

        Parameters
        ----------
        index : int
            First section.
        kind : str
            ``"lowpass"`` or ``"highpass"``.
        order : int
            2, 4, 6 or 8.  LP and HP of orders 4 and 8 sum flat; orders 2 and 6
            sum flat with the high pass inverted (LP - HP).
        freq_hz : float
            Crossover frequency (-6.02 dB), Hz, 0 < freq_hz < fs/2.

        Returns
        -------
        int
            Sections used: 2 for orders 2 and 4, 4 for orders 6 and 8.
        """
        kind = self._kind(kind, PASS_KINDS)
        order = _integer("order", order)
        if order not in LINKWITZ_RILEY_ORDERS:
            raise ValueError(f"order: expected 2, 4, 6 or 8 for a Linkwitz-Riley filter, "
                             f"got {order}")
        index = self._index(index, linkwitz_riley_sections(order))
        f = self._freq(freq_hz)
        n = lib.ob_biquad_set_linkwitz_riley(self._st, index, KINDS[kind], order, f)
        check(min(n, 0), "ob_biquad_set_linkwitz_riley")
        return int(n)

    def set_coefficients(self, index: int, sos_row: Sequence[float]) -> None:
        """Set one section from a row in SciPy's layout ``[b0, b1, b2, a0, a1, a2]``.

        The row is normalized by ``a0``; it must be stable (|a2| < 1 and
        |a1| < 1 + a2 after normalization).
        """
        index = self._index(index)
        row = np.asarray(sos_row, dtype=np.float64)
        if row.shape != (6,) or not np.all(np.isfinite(row)) or row[3] == 0.0:
            raise ValueError(f"sos_row: expected 6 finite numbers [b0, b1, b2, a0, a1, a2] "
                             f"with a0 != 0, got {sos_row!r}")
        b0, b1, b2, a0, a1, a2 = row / row[3]
        if not (abs(a2) < 1.0 and abs(a1) < 1.0 + a2):
            raise ValueError(f"sos_row: unstable section (need |a2| < 1 and |a1| < 1 + a2), "
                             f"got a1={a1:g}, a2={a2:g}")
        c = ffi.new("double[5]", [b0, b1, b2, a1, a2])
        check(lib.ob_biquad_set_coeffs(self._st, index, c), "ob_biquad_set_coeffs")

    def bypass_section(self, index: int) -> None:
        """Set a section to identity (bypass).

        The change is a wet/dry crossfade over :attr:`ramp_samples`; the
        section then runs until its own ringing has fallen 140 dB and costs
        nothing afterwards.  Setting it again fades it back in the same way.
        """
        check(lib.ob_biquad_set_identity(self._st, self._index(index)),
              "ob_biquad_set_identity")

    # -- inspection -----------------------------------------------------------

    @property
    def sections_used(self) -> int:
        """1 + the highest section index that is not identity (0: all identity)."""
        return int(lib.ob_biquad_sections_used(self._st))

    @property
    def ramp_samples(self) -> int:
        """Length of a parameter ramp, samples (20 ms at ``fs``)."""
        return int(lib.ob_biquad_ramp_samples(self._st))

    @property
    def latency_samples(self) -> int:
        """Latency added, samples: 0."""
        return int(lib.ob_biquad_latency(self._st))

    def sos(self) -> np.ndarray:
        """Target coefficients of sections ``0 .. sections_used - 1``.

        Returns
        -------
        np.ndarray
            float64, shape (sections_used, 6), SciPy layout
            ``[b0, b1, b2, 1, a1, a2]``; identity rows for bypassed sections.
        """
        n = self.sections_used
        out = np.zeros((n, 6))
        for k in range(n):
            check(lib.ob_biquad_get_coeffs(self._st, k, self._coef), "ob_biquad_get_coeffs")
            c = self._coef
            out[k] = (c[0], c[1], c[2], 1.0, c[3], c[4])
        return out

    # -- processing -------------------------------------------------------------

    def reset(self) -> None:
        """Clear the signal history; the next setting of each section is immediate."""
        lib.ob_biquad_reset(self._st)

    def process(self, audio: np.ndarray) -> np.ndarray:
        """Filter audio in place.

        Parameters
        ----------
        audio : np.ndarray
            Planar float32 ``(channels, frames)``, or 1-D for a mono cascade.
            Other dtypes or layouts are converted to a new float32 array.

        Returns
        -------
        np.ndarray
            The filtered audio (``audio`` itself when it was C-contiguous
            float32), the same shape as ``audio``.
        """
        a = planar(audio)
        if a.shape[0] != self.channels:
            raise ValueError(f"audio: expected {self.channels} channels, got {a.shape[0]} "
                             f"(shape {np.shape(audio)})")
        st = self._st
        process_blocks(lambda p, n, f: lib.ob_biquad_process(st, p, n, f), a, 1 << 20)
        return a[0] if np.ndim(audio) == 1 else a


BAND_KEYS = ("type", "freq_hz", "gain_db", "q", "slope", "order", "family")


class Equalizer:
    """A parametric equalizer built from band tables, as a chain config gives them.

    Parameters
    ----------
    fs : float
        Sample rate, Hz.
    channels : int
        Channel count, 1..64.
    bands : sequence of mapping
        Each band: ``type`` (peak, lowshelf, highshelf, lowpass, highpass,
        bandpass, notch, allpass), ``freq_hz`` (Hz, 0 < f < fs/2),
        ``gain_db`` (dB, -48..+48, peak and shelves; default 0), ``q``
        (> 0, default 0.7071), ``slope`` (shelf slope S, shelves only),
        ``order`` (lowpass/highpass: 2..8, default 2) and ``family``
        (lowpass/highpass: ``"rbj"``, ``"butterworth"``, ``"linkwitz-riley"``;
        default ``"rbj"`` when order is 2 and q is given, else
        ``"butterworth"``).  ``q`` is ignored by the Butterworth and
        Linkwitz-Riley families, ``gain_db`` = 0 by kinds without gain.

    Bands run in the order given.  Latency: 0 samples.
    """

    def __init__(self, fs: float, channels: int, bands: Sequence[Mapping[str, Any]]):
        if isinstance(bands, Mapping) or not isinstance(bands, Sequence):
            raise ValueError(f"bands: expected a list of band tables, got {type(bands).__name__}")
        plans = [self._plan(i, b, fs) for i, b in enumerate(bands)]
        total = sum(p["sections"] for p in plans)
        if total > lib.OB_BIQUAD_MAX_SECTIONS:
            raise ValueError(f"bands: need {total} sections, at most "
                             f"{lib.OB_BIQUAD_MAX_SECTIONS} fit one equalizer")
        self.cascade = FilterCascade(fs, channels, max(total, 1))
        self._first: list[int] = []
        k = 0
        for plan in plans:
            self._first.append(k)
            k += plan["sections"]
        self._plans = plans
        for i, plan in enumerate(plans):
            self._apply(i, plan)

    @staticmethod
    def _plan(i: int, band: Any, fs: float) -> dict[str, Any]:
        """Normalize band ``i``: defaults filled, family resolved, sections counted."""
        where = f"bands[{i}]"
        if not isinstance(band, Mapping):
            raise ValueError(f"{where}: expected a table of band parameters, got {band!r}")
        unknown = [k for k in band if k not in BAND_KEYS]
        if unknown:
            raise ValueError(f"{where}: unknown key {unknown[0]!r} (expected "
                             f"{', '.join(BAND_KEYS)})")
        kind = band.get("type")
        if kind not in KINDS:
            raise ValueError(f"{where}.type: expected one of {', '.join(map(repr, KINDS))}, "
                             f"got {kind!r}")
        if "freq_hz" not in band:
            raise ValueError(f"{where}.freq_hz: missing (Hz, 0 < freq_hz < fs/2)")
        plan: dict[str, Any] = {"type": kind, "freq_hz": band["freq_hz"],
                                "gain_db": band.get("gain_db", 0.0),
                                "q": band.get("q", 0.7071), "slope": band.get("slope")}
        if kind not in GAIN_KINDS and plan["gain_db"] not in (0, 0.0):
            raise ValueError(f"{where}.gain_db: only for {', '.join(GAIN_KINDS)}; {kind!r} "
                             f"takes no gain, got {plan['gain_db']!r}")
        if kind not in SHELF_KINDS and plan["slope"] is not None:
            raise ValueError(f"{where}.slope: only for lowshelf/highshelf bands, not {kind!r}")
        if kind in PASS_KINDS:
            order = band.get("order", 2)
            try:
                order = _integer("order", order)
            except ValueError as exc:
                raise ValueError(f"{where}.{exc}") from None
            family = band.get("family")
            if family is None:
                family = "rbj" if order == 2 and "q" in band else "butterworth"
            if family not in FAMILIES:
                raise ValueError(f"{where}.family: expected one of "
                                 f"{', '.join(map(repr, FAMILIES))}, got {family!r}")
            if family == "rbj" and order != 2:
                raise ValueError(f"{where}.order: expected 2 for family 'rbj' (use "
                                 f"'butterworth' or 'linkwitz-riley' for order {order})")
            if family == "butterworth" and order not in BUTTERWORTH_ORDERS:
                raise ValueError(f"{where}.order: expected 2..8 for 'butterworth', got {order}")
            if family == "linkwitz-riley" and order not in LINKWITZ_RILEY_ORDERS:
                raise ValueError(f"{where}.order: expected 2, 4, 6 or 8 for "
                                 f"'linkwitz-riley', got {order}")
            plan["order"], plan["family"] = order, family
            plan["sections"] = {"rbj": 1, "butterworth": butterworth_sections(order),
                                "linkwitz-riley": linkwitz_riley_sections(order)}[family]
        else:
            for key in ("order", "family"):
                if key in band:
                    raise ValueError(f"{where}.{key}: only for lowpass/highpass bands, "
                                     f"not {kind!r}")
            plan["family"], plan["sections"] = "rbj", 1
        return plan

    def _apply(self, i: int, plan: dict[str, Any]) -> None:
        c, k = self.cascade, self._first[i]
        try:
            if plan["family"] == "butterworth":
                c.set_butterworth(k, plan["type"], plan["order"], plan["freq_hz"])
            elif plan["family"] == "linkwitz-riley":
                c.set_linkwitz_riley(k, plan["type"], plan["order"], plan["freq_hz"])
            else:
                c.set_section(k, plan["type"], plan["freq_hz"], q=plan["q"],
                              gain_db=plan["gain_db"], slope=plan["slope"])
        except ValueError as exc:
            raise ValueError(f"bands[{i}] ({plan['type']}).{exc}") from None

    def set_band(self, index: int, band: Mapping[str, Any]) -> None:
        """Change band ``index`` while audio runs (ramped, no click).

        The new band must take as many sections as the old one (same family
        and order for low/high passes).
        """
        index = _integer("index", index)
        if not 0 <= index < len(self._plans):
            raise ValueError(f"index: expected 0..{len(self._plans) - 1}, got {index}")
        plan = self._plan(index, band, self.cascade.fs)
        if plan["sections"] != self._plans[index]["sections"]:
            raise ValueError(f"bands[{index}]: takes {plan['sections']} sections, the band it "
                             f"replaces {self._plans[index]['sections']}; build a new Equalizer")
        self._apply(index, plan)
        self._plans[index] = plan

    @property
    def bands(self) -> list[dict[str, Any]]:
        """The bands as applied (defaults filled, family resolved)."""
        return [{k: v for k, v in p.items() if k != "sections"} for p in self._plans]

    @property
    def latency_samples(self) -> int:
        """Latency added, samples: 0."""
        return self.cascade.latency_samples

    def sos(self) -> np.ndarray:
        """All sections in SciPy layout, shape (n, 6); see :meth:`FilterCascade.sos`."""
        return self.cascade.sos()

    def reset(self) -> None:
        """Clear the signal history."""
        self.cascade.reset()

    def process(self, audio: np.ndarray) -> np.ndarray:
        """Equalize planar float32 ``(channels, frames)`` audio in place (1-D: mono)."""
        return self.cascade.process(audio)
