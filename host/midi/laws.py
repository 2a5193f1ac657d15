"""Value laws: a parameter's physical value <-> the raw integer MIDI carries.

A parameter (:class:`host.midi.profiles.Parameter`) has a physical range
``min..max`` in its ``unit`` and a raw range ``raw_min..raw_max`` (by default
the whole range of its message: 0..127 for a 7-bit CC or a program change,
0..16383 for a 14-bit CC or NRPN, the template's width for SysEx).  With
``n = raw_max - raw_min`` and ``k = raw - raw_min``:

``linear``
    ``value = min + (max - min) * k / n``.
``log``
    ``value = min * (max / min) ** (k / n)``, geometric, ``0 < min < max``.
``centred``
    Bipolar around ``centre`` (default ``(min + max) / 2``), which raw
    ``raw_centre`` (default ``raw_min + (n + 1) // 2``: 64 of 0..127, 8192 of
    0..16383) sets: ``value = centre + (centre - min) * (raw - raw_centre) /
    (raw_centre - raw_min)``.  One step is ``(centre - min) / (raw_centre -
    raw_min)``; with an even count of raw values the top one reads one step
    short of a symmetric ``max`` (the virtual EQ: 127 is +11.8125 dB of a
    -12..+12 dB knob) and values between it and ``max`` go to ``raw_max``.
``table``
    Detented steps: the raw range is divided equally among the entries,
    ``entry = floor(k * len(table) / (n + 1))`` (8 entries in 0..127: 16 raw
    values each); :func:`to_raw` sends the centre of the entry's raw values,
    which a receiver that rounds its division differently still reads as the
    same entry.  Entries are numbers or strings (a switch position); a value
    not in the table is an error naming the entries.  With ``table_raw`` (the raw
    value the unit's chart gives for each entry, increasing, the first one
    ``raw_min``) entry i is sent as ``table_raw[i]`` and read back from
    ``table_raw[i]`` up to the next entry's raw value.

These are exactly :class:`host.sim.gear.Knob`'s curves when the raw range is
the whole 7- or 14-bit range, and :func:`to_raw` picks the same raw value as
``Knob.raw`` (the raw value whose physical value is nearest, the lower one on
a tie) for linear, log and centred laws.

Resolution (:func:`resolution`) is the width of the raw step that contains a
value: ``(max - min) / n`` for linear, ``value * ((max / min) ** (1 / n) - 1)``
for log (about, relative), the centred step, 0 for a table (exact) and for a
manual parameter (no MIDI).  ``abs(from_raw(p, to_raw(p, v)) - v)`` is at
most half of it on the raw grid and at most one step above the top raw value
of a centred law.

What the unit gets (:func:`sent_value`) is ``from_raw(p, to_raw(p, v))``: the
value of the raw step sent.  :func:`quantised` tells when that is not the
value as written: when it differs from ``v`` by more than half a unit of the
last decimal ``v`` is written with (3.3 dB on the MMP-2's 0.5 dB grid is sent
as 3.5 dB; 50 % on a 7-bit knob, 49.6 %, is 50 % as written).  Sessions warn
about those (host.model.config) and recall sheets show the value the unit gets.

Out-of-range values raise :class:`ValueError` naming the parameter and its
range: nothing is clamped.
"""

from __future__ import annotations

import math
from numbers import Real
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from host.midi.profiles import Parameter

LAWS = ("linear", "log", "table", "centred")

#: Relative tolerance on the range ends (a value this close to min or max is in range).
RANGE_RTOL = 1e-9


def _fmt(x: float | str) -> str:
    return x if isinstance(x, str) else f"{x:g}"


#: a table longer than this is named by its first and last positions in messages
TABLE_TEXT_MAX = 12


def _range_text(p: Parameter) -> str:
    if p.law == "table":
        t = [_fmt(x) for x in p.table]
        if len(t) > TABLE_TEXT_MAX:
            t = [*t[:3], "...", t[-1] + f" ({len(t)} positions)"]
        return "one of " + ", ".join(t) + (f" {p.unit}" if p.unit else "")
    return f"{_fmt(p.min)}..{_fmt(p.max)}" + (f" {p.unit}" if p.unit else "")


def table_index(p: Parameter, value: float | str) -> int:
    """Index of ``value`` in a table parameter (ValueError naming the entries)."""
    for i, t in enumerate(p.table):
        if isinstance(t, str) or isinstance(value, str):
            if t == value:
                return i
        elif isinstance(value, Real) and not isinstance(value, bool) and \
                abs(float(value) - t) <= RANGE_RTOL * max(1.0, abs(t)):
            return i
    raise ValueError(f"{p.name}: {value!r} is not a position of this selector; "
                     f"expected {_range_text(p)}")


def check(p: Parameter, value: float | str) -> float | str:
    """Validate a physical value for ``p`` (MIDI or manual); return it normalised
    (a float, or the table's string entry).  ValueError names the parameter and
    its range; nothing is clamped."""
    if p.law == "table":
        return p.table[table_index(p, value)]
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise ValueError(f"{p.name}: expected a number in {_range_text(p)}, got {value!r}")
    v = float(value)
    tol = RANGE_RTOL * (p.max - p.min)
    if not p.min - tol <= v <= p.max + tol:
        raise ValueError(f"{p.name}: {v:g}{' ' + p.unit if p.unit else ''} is out of range "
                         f"{_range_text(p)}")
    return v


def _need_raw(p: Parameter) -> None:
    if p.send == "manual":
        raise ValueError(f"{p.name}: a manual parameter (set by hand, no MIDI value)")


def from_raw(p: Parameter, raw: int) -> float | str:
    """The physical value raw MIDI value ``raw`` (raw_min..raw_max) sets."""
    _need_raw(p)
    if isinstance(raw, bool) or not isinstance(raw, int) or not p.raw_min <= raw <= p.raw_max:
        raise ValueError(f"{p.name}: raw value expected an integer {p.raw_min}..{p.raw_max}, "
                         f"got {raw!r}")
    n = p.raw_max - p.raw_min
    k = raw - p.raw_min
    if p.law == "linear":
        return p.min + (p.max - p.min) * k / n
    if p.law == "log":
        return p.min * (p.max / p.min) ** (k / n)
    if p.law == "centred":
        half = float(p.raw_centre - p.raw_min)
        return (p.centre - p.min) * (raw - p.raw_centre) / half + p.centre
    if p.law == "table":
        if p.table_raw:
            return p.table[max(i for i, r in enumerate(p.table_raw) if r <= raw)]
        return p.table[(k * len(p.table)) // (n + 1)]
    raise ValueError(f"{p.name}: unknown law {p.law!r}")


def _continuous(p: Parameter, v: float) -> float:
    """Inverse of the law as a real raw position (not rounded)."""
    n = p.raw_max - p.raw_min
    if p.law == "linear":
        return p.raw_min + n * (v - p.min) / (p.max - p.min)
    if p.law == "log":
        return p.raw_min + n * math.log(v / p.min) / math.log(p.max / p.min)
    half = p.raw_centre - p.raw_min
    return p.raw_centre + half * (v - p.centre) / (p.centre - p.min)


def to_raw(p: Parameter, value: float | str) -> int:
    """The raw MIDI value for physical ``value``: the raw value whose physical
    value is nearest (the lower one on a tie); for a table, the centre of the
    entry's raw values.  ValueError when out of range (no clamping) or manual."""
    _need_raw(p)
    v = check(p, value)
    if p.law == "table":
        i = table_index(p, v)
        if p.table_raw:
            return p.table_raw[i]
        count = p.raw_max - p.raw_min + 1
        m = len(p.table)
        lo = -((-i * count) // m)             # ceil(i * count / m)
        hi = -((-(i + 1) * count) // m) - 1   # last raw of entry i
        return p.raw_min + (lo + hi) // 2
    assert isinstance(v, float)
    x = _continuous(p, v)
    base = min(max(math.floor(x), p.raw_min), p.raw_max)
    best, err = base, abs(from_raw(p, base) - v)
    for r in (base - 1, base + 1):
        if p.raw_min <= r <= p.raw_max:
            e = abs(from_raw(p, r) - v)
            if e < err or (e == err and r < best):
                best, err = r, e
    return best


def resolution(p: Parameter, value: float | str) -> float:
    """Width of the raw step containing ``value``, in the parameter's unit (0 for
    a table or a manual parameter); see the module docstring."""
    v = check(p, value)
    if p.send == "manual" or p.law == "table":
        return 0.0
    assert isinstance(v, float)
    n = p.raw_max - p.raw_min
    if p.law == "linear":
        return (p.max - p.min) / n
    if p.law == "centred":
        return (p.centre - p.min) / (p.raw_centre - p.raw_min)
    k = min(max(math.floor(_continuous(p, v)), p.raw_min), p.raw_max - 1)
    return float(from_raw(p, k + 1)) - float(from_raw(p, k))


def sent_value(p: Parameter, value: float | str) -> float | str:
    """The value the unit gets for ``value``: the physical value of the raw step
    :func:`to_raw` sends (a table position or a manual parameter: ``value``)."""
    v = check(p, value)
    if p.send == "manual" or p.law == "table":
        return v
    return from_raw(p, to_raw(p, v))


def written_tolerance(value: float) -> float:
    """Half a unit of the last decimal ``value`` is written with, as Python
    writes it shortest (3.3: 0.05; 200.0: 0.5; 0.125: 0.0005; 2.5e-05: 5e-07)."""
    mantissa, _, exp = repr(float(value)).lower().partition("e")
    decimals = len(mantissa.partition(".")[2].rstrip("0"))
    return 0.5 * 10.0 ** (int(exp or 0) - decimals)


def quantised(p: Parameter, value: float | str) -> float | None:
    """The value the unit gets when it is not ``value`` as written (see the module
    docstring): 3.5 for 3.3 dB in 0.5 dB steps; None when the unit gets ``value``
    (a table position, a manual parameter, or a step within the written precision)."""
    got = sent_value(p, value)
    if isinstance(got, str) or isinstance(value, str):
        return None
    v = float(value)
    return float(got) if abs(float(got) - v) > written_tolerance(v) * (1 + 1e-9) else None
