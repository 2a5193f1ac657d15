"""The Linkwitz-Riley crossover shared by the multiband and the imager
(``native/crossover.c``, used inside those kernels): its slopes, its
frequency range and the checks of a crossover list."""

from __future__ import annotations

from typing import Any

from host.dsp.kernel import ParamError, Range

__all__ = ["SLOPES", "CROSSOVER_RANGE", "check_crossovers", "crossover_order"]

#: crossover slopes: Linkwitz-Riley order (12, 24, 48 dB/octave)
SLOPES = {"lr2": 2, "lr4": 4, "lr8": 8}
#: one crossover frequency, Hz (also at most 0.45 fs)
CROSSOVER_RANGE = Range("number", 10.0, 20000.0, "Hz")


def check_crossovers(value: Any, max_bands: int, fs: float | None = None,
                     key: str = "crossovers_hz", least: int = 1) -> list[float]:
    """Crossover frequencies, checked: least..max_bands-1 numbers in 10..20000 Hz
    (and at most 0.45 fs when ``fs`` is given), strictly increasing.  Raises
    :class:`ParamError` naming the key (``crossovers_hz[2]``) and the range."""
    n = len(value) if isinstance(value, list | tuple) else None
    if n is None or not least <= n <= max_bands - 1:
        raise ParamError(key, f"expected an array of {least}..{max_bands - 1} frequencies in "
                         f"Hz ({least + 1}..{max_bands} bands), got "
                         f"{f'{n} ({n + 1} bands)' if n is not None else repr(value)}")
    out: list[float] = []
    for i, f in enumerate(value):
        k = f"{key}[{i}]"
        try:
            v = CROSSOVER_RANGE.check(k, f)
        except ValueError as exc:
            raise ParamError(k, str(exc).split(": ", 1)[1]) from None
        if fs is not None and v > 0.45 * fs:
            raise ParamError(k, f"expected at most 0.45 fs = {0.45 * fs:g} Hz at {fs:g} Hz, "
                             f"got {f!r}")
        if out and not v > out[-1]:
            raise ParamError(k, f"expected strictly increasing frequencies, got {v:g} Hz "
                             f"after {out[-1]:g} Hz")
        out.append(v)
    return out


def crossover_order(old: list[float], new: list[float]) -> list[int]:
    """An order of crossover moves that keeps the targets strictly increasing
    after each one (the kernels refuse a crossover that would pass its
    neighbour): rises from the top down, then falls from the bottom up."""
    ups = [k for k in range(len(new)) if new[k] > old[k]]
    downs = [k for k in range(len(new)) if new[k] < old[k]]
    return ups[::-1] + downs


def crossover_moves(param_id: int, old: list[float], value: Any, max_bands: int,
                    fs: float) -> list[tuple[int, int, float]]:
    """The parameter changes (id, crossover index, Hz) that move a live
    insert's crossovers from ``old`` to ``value``, in an order the kernel takes
    (:func:`crossover_order`); the band count is fixed once the insert is built."""
    new = check_crossovers(value, max_bands, fs)
    if len(new) != len(old):
        raise ParamError("crossovers_hz", f"expected {len(old)} frequencies (the band count "
                         f"is fixed), got {len(new)}")
    return [(param_id, k, new[k]) for k in crossover_order(old, new)]


def check_band_tables(bands: Any, crossovers: list[float]) -> int:
    """The band count the ``crossovers`` make; ``bands`` (None, or one table
    per band) must match it."""
    nb = len(crossovers) + 1
    if bands is not None and (not isinstance(bands, list) or len(bands) != nb):
        n = len(crossovers)
        raise ParamError("bands", f"expected {nb} band tables (one per band, for "
                         f"{n} crossover{'s' if n != 1 else ''}), got "
                         f"{len(bands) if isinstance(bands, list) else repr(bands)}")
    return nb
