"""Recall sheets: ``outboard recall-sheet SESSION --out FILE.html [--png FILE.png]``.

A recall sheet shows, for each hardware insert whose ``midi`` key names a
device profile (:mod:`host.midi.profiles`), every parameter of the unit at
the session's value (or a snapshot's, ``--snapshot``), drawn the way the
front panel looks, so an assistant can set the rack by hand:

* a **knob** for a continuous parameter: its travel of :data:`SWEEP_DEG`
  degrees (7:30 to 4:30 o'clock), ticks at the profile's ``detents`` (the
  printed positions) or, without them, at 0, 1/4, 1/2, 3/4 and all of the
  travel, labelled with their values; the pointer at the value; the value
  with its unit printed under it;
* a **selector** (a stepped knob) for a table law of 3 to
  :data:`SELECTOR_MAX` positions, every position ticked and named as the
  unit names it;
* a **wheel** for a table of more positions (a patch or preset selector: the
  BigSky's 300 presets): a stepped window showing the set position by its
  name on the unit (``01C``, ``User #12``), its neighbours above and below,
  and which position of how many it is;
* a **switch** for a table law of 2 positions, both printed, the set one
  marked.

What is printed is what the unit gets: a MIDI value the unit can only take
rounded to its steps (:func:`host.midi.laws.quantised`: 3.3 dB on a 0.5 dB
grid) is drawn and printed at the step it lands on (3.5 dB) with "asked 3.3 dB"
under it.  A parameter the session does not set (neither its ``settings`` nor
the snapshot) shows the profile's default, marked "default" (grey).

Pointer position (fraction ``u`` of the travel, angle ``-135 + 270 u``
degrees clockwise from straight up), by the parameter's law
(:func:`position`): linear ``(v - min) / (max - min)``; log
``ln(v / min) / ln(max / min)``; centred: ``min .. centre`` on the first
half of the travel and ``centre .. max`` on the second (the centre points
straight up); table: ``index / (positions - 1)``.  This is where a pot with
that law points; it is not the MIDI value.

Parameters marked ``send = "manual"`` (no MIDI) come first, framed, under
"Set by hand"; the MIDI ones follow under "Recalled over MIDI (check)".
The HTML is one self-contained file (inline CSS and SVG, no external
resources); each control's SVG is as wide as its texts need, long labels
wrap.  The PNG is drawn with matplotlib (Agg) from the same geometry in a
grid; a text that would leave its cell is set smaller until it fits
(:func:`png_figure` returns the cells for checking).
"""

from __future__ import annotations

import html
import math
import textwrap
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from host.audiofile import atomic_path, check_writable
from host.errors import OutboardError
from host.midi import laws
from host.midi.laws import table_index
from host.midi.recall import units

#: travel of a knob, degrees (centred on straight up)
SWEEP_DEG = 270.0
START_DEG = -SWEEP_DEG / 2
#: knobs per row in the PNG
PNG_COLUMNS = 5
#: a table law of more positions than this is drawn as a wheel (see the module docstring)
SELECTOR_MAX = 12
#: a control's label wraps at this many characters
LABEL_CHARS = 22


# ---- geometry -----------------------------------------------------------------------------


def position(p: Any, value: float | str) -> float:
    """Fraction of the knob's travel (0..1) at which ``value`` sits, by ``p.law``
    (see the module docstring).  ValueError names the parameter and its range."""
    if p.law == "table":
        n = len(p.table)
        return 0.5 if n == 1 else table_index(p, value) / (n - 1)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{p.name}: expected a number {p.min:g}..{p.max:g} {p.unit}, "
                         f"got {value!r}")
    v, lo, hi = float(value), float(p.min), float(p.max)
    if not lo - 1e-9 * (hi - lo) <= v <= hi + 1e-9 * (hi - lo):
        raise ValueError(f"{p.name}: {v:g} {p.unit} is out of range {lo:g}..{hi:g} {p.unit}")
    if p.law == "log":
        u = math.log(v / lo) / math.log(hi / lo)
    elif p.law == "centred":
        c = float(getattr(p, "centre", (lo + hi) / 2))
        u = 0.5 * (v - lo) / (c - lo) if v <= c else 0.5 + 0.5 * (v - c) / (hi - c)
    else:
        u = (v - lo) / (hi - lo)
    return min(1.0, max(0.0, u))


def value_at(p: Any, u: float) -> float | str:
    """Inverse of :func:`position`: the value at fraction ``u`` of the travel."""
    if p.law == "table":
        return p.table[int(round(u * (len(p.table) - 1)))]
    lo, hi = float(p.min), float(p.max)
    if p.law == "log":
        return lo * (hi / lo) ** u
    if p.law == "centred":
        c = float(getattr(p, "centre", (lo + hi) / 2))
        return lo + (c - lo) * 2 * u if u <= 0.5 else c + (hi - c) * (2 * u - 1)
    return lo + (hi - lo) * u


def angle_deg(u: float) -> float:
    """Pointer angle, degrees clockwise from straight up, for travel fraction ``u``."""
    return START_DEG + SWEEP_DEG * u


def fmt_number(v: float) -> str:
    if v == 0:
        return "0"
    a = abs(v)
    s = f"{v:.4g}" if 0.01 <= a < 1e5 else f"{v:.3g}"
    return s


def fmt_value(v: float | str, unit: str) -> str:
    """``-20 dBFS``, ``2:1``, ``in``: a value with its unit as printed on the sheet."""
    text = v if isinstance(v, str) else fmt_number(float(v))
    if not unit:
        return text
    return f"{text}{unit}" if unit.startswith(":") else f"{text} {unit}"


def log_marks(lo: float, hi: float, most: int = 7) -> list[float]:
    """Round tick values for a log knob: the ends and the 1-2-5 steps between
    (1-3 steps, then decades, when 1-2-5 gives more than ``most``)."""
    ratio = math.log(hi / lo)
    for series in ((1, 2, 5), (1, 3), (1,)):
        inner = [m * 10.0 ** e for e in range(math.floor(math.log10(lo)) - 1,
                                               math.ceil(math.log10(hi)) + 1)
                 for m in series]
        inner = [v for v in inner if lo < v < hi and math.log(v / lo) / ratio > 0.06
                 and math.log(hi / v) / ratio > 0.06]
        if len(inner) + 2 <= most:
            break
    return [lo, *inner, hi]


@dataclass
class Control:
    """One parameter as drawn: see the module docstring."""

    name: str
    label: str
    unit: str
    value: float | str             # what the unit gets
    kind: str                      # "knob" | "selector" | "wheel" | "switch"
    u: float                       # travel fraction 0..1
    angle: float                   # degrees clockwise from straight up
    ticks: list[tuple[float, str]]  # (travel fraction, label); a wheel: every position
    manual: bool
    how: str                       # "by hand" or the MIDI message kind and number
    range_text: str
    source: str = "session"        # "session", "snapshot NAME" or "default" (the profile's)
    asked: float | None = None     # the value written, when the unit gets another (value)
    step: float | None = None      # the unit's step there, when asked is set

    @property
    def value_text(self) -> str:
        return fmt_value(self.value, self.unit)

    @property
    def note(self) -> str:
        """The line under the value: what was asked when the unit gets another
        value, "default" when the session does not set it, else empty."""
        if self.asked is not None:
            return f"asked {fmt_value(self.asked, self.unit)}"
        return "default" if self.source == "default" else ""

    @property
    def index(self) -> int:
        """A table's position (0-based) the control is set to."""
        return int(round(self.u * (len(self.ticks) - 1))) if len(self.ticks) > 1 else 0

    def label_lines(self) -> list[str]:
        return textwrap.wrap(self.label, LABEL_CHARS) or [self.label]


@dataclass
class UnitSheet:
    insert: str
    maker: str
    model: str
    profile: str
    port: str | None
    channel: int
    controls: list[Control] = field(default_factory=list)


def control(p: Any, value: float | str, source: str = "session") -> Control:
    """The drawing of parameter ``p`` set to ``value`` (from ``source``): at the
    value the unit gets (:func:`host.midi.laws.quantised`)."""
    asked = step = None
    if p.send != "manual":
        got = laws.quantised(p, value)
        if got is not None:
            asked, step, value = float(value), laws.resolution(p, value), got
    u = position(p, value)
    if p.law == "table":
        n = len(p.table)
        kind = "switch" if n == 2 else ("selector" if n <= SELECTOR_MAX else "wheel")
        ticks = [(i / max(1, n - 1), t if isinstance(t, str) else fmt_number(float(t)))
                 for i, t in enumerate(p.table)]
        names = [t for _, t in ticks]
        if n > SELECTOR_MAX:
            names = [*names[:3], "...", names[-1], f"({n} positions)"]
        rng = f"{', '.join(names)} {p.unit}".strip()
    else:
        kind = "knob"
        marks = list(p.detents) if getattr(p, "detents", ()) else \
            (log_marks(p.min, p.max) if p.law == "log" else [value_at(p, k / 4) for k in range(5)])
        ticks = [(position(p, float(m)), fmt_number(float(m))) for m in marks]
        rng = f"{fmt_number(p.min)}..{fmt_number(p.max)} {p.unit}".strip() + f" ({p.law})"
        if step is not None:
            rng += f", {fmt_value(step, p.unit)} steps"
    manual = p.send == "manual"
    how = "by hand" if manual else (f"{p.send} {p.number}" if p.number is not None
                                    else p.send)
    return Control(p.name, getattr(p, "label", None) or p.name, p.unit, value, kind, u,
                   angle_deg(u), ticks, manual, how, rng, source, asked, step)


def sheets(session: Any, snapshot: str | None = None) -> list[UnitSheet]:
    """A :class:`UnitSheet` per hardware insert with a profile, manual parameters
    first.  A ``snapshot`` must exist in at least one unit; units without it show
    their ``settings``; a parameter set nowhere shows the profile's default,
    marked so."""

    us = units(session)
    if not us:
        raise OutboardError(f"{session.path}: no hardware insert names a device profile "
                            "(midi = { profile = ... }); nothing to draw")
    if snapshot is not None and not any(snapshot in u.snapshots for u in us):
        have = sorted({n for u in us for n in u.snapshots})
        raise OutboardError(f"{session.path}: no hardware insert has a snapshot {snapshot!r} "
                            f"(snapshots: {', '.join(have) or 'none'})")
    out = []
    for u in us:
        snap = u.snapshots.get(snapshot, {}) if snapshot is not None else {}
        prof = u.profile
        sheet = UnitSheet(u.insert, prof.maker, prof.model, prof.id, u.port, u.channel)
        for name, p in prof.parameters.items():
            if name in snap:
                v, source = snap[name], f"snapshot {snapshot}"
            elif name in u.settings:
                v, source = u.settings[name], "session"
            else:
                v, source = p.default, "default"
            if v is None:
                continue
            try:
                sheet.controls.append(control(p, v, source))
            except ValueError as exc:
                raise OutboardError(f"{session.path}: insert {u.insert}: {exc}") from None
        sheet.controls.sort(key=lambda c: not c.manual)  # stable: profile order within
        out.append(sheet)
    return out


# ---- SVG / HTML ---------------------------------------------------------------------------

_R = 34.0        # knob radius, px
_W, _H = 170, 160   # the smallest cell, px
_CY = 72.0       # knob centre, px from the top
#: Helvetica advance widths, em: a generous estimate (an SVG has no text metrics)
_NARROW, _WIDE = set("il.,:;'|!ftjrI() "), set("MWmw@%#&")


def text_width(s: str, size: float, bold: bool = False) -> float:
    """Estimated width of ``s`` at ``size`` px (Helvetica), never under the real one
    by much: used to size each control's SVG so no text is cut."""
    em = sum(0.32 if c in _NARROW else 0.95 if c in _WIDE else
             0.72 if c.isupper() else 0.58 for c in s)
    return em * size * (1.08 if bold else 1.0)


def _polar(cx: float, cy: float, r: float, deg: float) -> tuple[float, float]:
    a = math.radians(deg)
    return cx + r * math.sin(a), cy - r * math.cos(a)


def _e(s: str) -> str:
    return html.escape(str(s), quote=True)


def _anchor(deg: float) -> str:
    return "middle" if abs(deg) < 20 else ("start" if deg > 0 else "end")


def _wheel_rows(c: Control) -> list[tuple[str, str]]:
    """(name, role) of the wheel's three rows: previous, set, next ("" past an end)."""
    names = [t for _, t in c.ticks]
    i = c.index
    return [(names[i - 1] if i > 0 else "", "prev"), (names[i], "set"),
            (names[i + 1] if i + 1 < len(names) else "", "next")]


#: one text of a control's SVG: x (from the centre line), y, anchor, text, size px, bold,
#: CSS class
SvgText = tuple[float, float, str, str, float, bool, str]


def svg_texts(c: Control) -> tuple[int, int, list[SvgText]]:
    """The control's SVG size and texts: (width, height, texts), every text inside
    the width by :func:`text_width`; what :func:`svg_control` draws and what a test
    checks."""
    texts: list[SvgText] = []

    def tick(x: float, y: float, anchor: str, label: str, on: bool) -> None:
        texts.append((x, y, anchor, label, 10.0, on, "tick on" if on else "tick"))

    if c.kind == "switch":
        labels = [t for _, t in c.ticks]
        tick(24.0, _CY - 13, "start", labels[1], c.index == 1)
        tick(24.0, _CY + 21, "start", labels[0], c.index == 0)
        bottom = _CY + 34
    elif c.kind == "wheel":
        for (name, role), y in zip(_wheel_rows(c), (_CY - 22, _CY + 6, _CY + 32), strict=True):
            if name and role == "set":
                texts.append((0.0, y, "middle", name, 16.0, True, "tick on"))
            elif name:
                texts.append((0.0, y, "middle", name, 11.0, False, "tick"))
        texts.append((0.0, _CY + 58, "middle", f"position {c.index + 1} of {len(c.ticks)}",
                      10.0, False, "tick"))
        bottom = _CY + 64
    else:
        for tu, label in c.ticks:
            a = angle_deg(tu)
            xt, yt = _polar(0.0, _CY, _R + 18, a)
            tick(xt, yt + 3, _anchor(a), label,
                 c.kind == "selector" and label == c.ticks[c.index][1])
        bottom = _CY + _R + 12
    y = bottom + 22
    for line in c.label_lines():
        texts.append((0.0, y, "middle", line, 12.0, False, "label"))
        y += 15
    y += 3
    texts.append((0.0, y, "middle", c.value_text, 14.0, True, "value"))
    if c.note:
        y += 15
        texts.append((0.0, y, "middle", c.note, 11.0, False, "note"))
    half = _W / 2
    for x, _y, anchor, t, size, bold, _cls in texts:
        w = text_width(t, size, bold)
        reach = abs(x) + w if anchor != "middle" else abs(x) + w / 2
        half = max(half, reach + 6)
    return 2 * math.ceil(half), max(_H, math.ceil(y + 10)), texts


def svg_control(c: Control) -> str:
    """One control as an inline SVG (``data-param``, ``data-angle`` for tools)."""
    width, height, texts = svg_texts(c)
    cx, cy = width / 2, _CY
    cls = f"ctl {c.kind}" + (" default" if c.source == "default" else "")
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" class="{cls}" data-param="{_e(c.name)}" '
             f'data-angle="{c.angle:.2f}" role="img" aria-label="{_e(c.label)}: '
             f'{_e(c.value_text)}">']
    if c.kind == "switch":
        parts.append(f'<rect x="{cx - 16}" y="{cy - 34}" width="32" height="68" rx="6" '
                     'class="body"/>')
        ty = cy - 17 if c.index == 1 else cy + 17
        parts.append(f'<rect x="{cx - 12}" y="{ty - 13}" width="24" height="26" rx="4" '
                     'class="lever"/>')
    elif c.kind == "wheel":
        wmax = max(text_width(t, 16.0, True) for _, t in c.ticks) + 24
        parts.append(f'<rect x="{cx - wmax / 2:.1f}" y="{cy - 40}" width="{wmax:.1f}" '
                     'height="84" rx="6" class="window"/>')
        parts.append(f'<rect x="{cx - wmax / 2 + 3:.1f}" y="{cy - 12}" width="{wmax - 6:.1f}" '
                     'height="24" rx="3" class="set"/>')
    else:
        x0, y0 = _polar(cx, cy, _R + 4, START_DEG)
        x1, y1 = _polar(cx, cy, _R + 4, START_DEG + SWEEP_DEG)
        parts.append(f'<path d="M {x0:.2f} {y0:.2f} A {_R + 4} {_R + 4} 0 1 1 {x1:.2f} '
                     f'{y1:.2f}" class="arc"/>')
        for tu, _label in c.ticks:
            a = angle_deg(tu)
            xa, ya = _polar(cx, cy, _R + 2, a)
            xb, yb = _polar(cx, cy, _R + 9, a)
            parts.append(f'<line x1="{xa:.2f}" y1="{ya:.2f}" x2="{xb:.2f}" y2="{yb:.2f}" '
                         'class="tk"/>')
        parts.append(f'<circle cx="{cx}" cy="{cy}" r="{_R}" class="body"/>')
        parts.append(f'<g class="pointer" transform="rotate({c.angle:.2f} {cx} {cy})">'
                     f'<line x1="{cx}" y1="{cy}" x2="{cx}" y2="{cy - _R + 4}"/></g>')
    for x, y, anchor, t, size, _bold, role in texts:
        parts.append(f'<text x="{cx + x:.2f}" y="{y:.2f}" text-anchor="{anchor}" '
                     f'class="{role}" font-size="{size:g}">{_e(t)}</text>')
    parts.append("</svg>")
    return "".join(parts)


_CSS = """
body{font-family:Helvetica,Arial,sans-serif;margin:24px;color:#111}
h1{font-size:22px;margin:0 0 4px} .meta{color:#444;margin:0 0 16px}
section.unit{border:2px solid #333;border-radius:8px;padding:12px 16px;margin:0 0 20px;
 page-break-inside:avoid}
h2{font-size:18px;margin:0 0 2px} h3{font-size:14px;margin:12px 0 4px}
.grid{display:flex;flex-wrap:wrap;gap:6px}
.cell{border:1px solid #bbb;border-radius:6px;padding:2px}
.cell.manual{border:3px solid #d35400;background:#fff6ee}
svg .body{fill:#2b2b2b;stroke:#000} svg .lever{fill:#ddd;stroke:#000}
svg .window{fill:#f4f4f4;stroke:#333;stroke-width:1.5}
svg .set{fill:#fff6ee;stroke:#d35400;stroke-width:1.5}
svg .arc{fill:none;stroke:#999;stroke-width:2} svg .tk{stroke:#333;stroke-width:1.5}
svg .pointer line{stroke:#fff;stroke-width:4;stroke-linecap:round}
svg .tick{fill:#333} svg .tick.on{font-weight:bold;fill:#d35400}
svg .label{fill:#333} svg .value{font-weight:bold;fill:#000}
svg .note{fill:#d35400} svg.default .value{fill:#777} svg.default .note{fill:#777}
table{border-collapse:collapse;margin-top:8px;font-size:13px}
td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}
tr.manual td{background:#fff6ee} tr.default td{color:#777}
"""


def render_html(units: Sequence[UnitSheet], session_path: str,
                snapshot: str | None = None) -> str:
    """The whole sheet as one self-contained HTML document."""
    when = time.strftime("%Y-%m-%d %H:%M")
    snap = f", snapshot {_e(snapshot)}" if snapshot else ", session settings"
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>Recall sheet: {_e(Path(session_path).name)}</title>",
           f"<style>{_CSS}</style></head><body>",
           f"<h1>Recall sheet: {_e(Path(session_path).name)}</h1>",
           f'<p class="meta">{_e(session_path)}{snap}; made {when}. Orange frames: set by '
           "hand (no MIDI). The rest is recalled over MIDI: check it. Values are what the "
           "unit gets (\"asked\": what the session says, where the unit's steps differ); "
           "grey \"default\": the profile's value, the session does not set it.</p>"]
    for s in units:
        midi = (f"MIDI port {_e(s.port)}, channel {s.channel}" if s.port
                else f"no MIDI port (channel {s.channel})")
        out.append(f'<section class="unit" data-insert="{_e(s.insert)}">'
                   f"<h2>Insert {_e(s.insert)}: {_e(s.maker)} {_e(s.model)}</h2>"
                   f'<p class="meta">profile {_e(s.profile)}; {midi}</p>')
        for title, group in (("Set by hand", [c for c in s.controls if c.manual]),
                             ("Recalled over MIDI (check)",
                              [c for c in s.controls if not c.manual])):
            if not group:
                continue
            out.append(f"<h3>{title}</h3><div class=\"grid\">")
            for c in group:
                cls = "cell manual" if c.manual else "cell"
                out.append(f'<div class="{cls}">{svg_control(c)}</div>')
            out.append("</div>")
        out.append("<table><tr><th>parameter</th><th>value</th><th>range</th>"
                   "<th>set</th><th>from</th></tr>")
        for c in s.controls:
            cls = " ".join(k for k, on in (("manual", c.manual),
                                            ("default", c.source == "default")) if on)
            cls = f' class="{cls}"' if cls else ""
            asked = (f" <small>(asked {_e(fmt_value(c.asked, c.unit))})</small>"
                     if c.asked is not None else "")
            source = "profile default" if c.source == "default" else c.source
            out.append(f'<tr{cls} data-param="{_e(c.name)}"><td>{_e(c.label)} '
                       f"<small>({_e(c.name)})</small></td><td><b>{_e(c.value_text)}</b>"
                       f"{asked}</td><td>{_e(c.range_text)}</td><td>{_e(c.how)}</td>"
                       f"<td>{_e(source)}</td></tr>")
        out.append("</table></section>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


# ---- PNG ----------------------------------------------------------------------------------

_ORANGE, _GREY = "#d35400", "#777"


def png_figure(units: Sequence[UnitSheet], session_path: str,
               snapshot: str | None = None) -> tuple[Any, list[tuple[list[Any], tuple]]]:
    """The sheet as a matplotlib figure (Agg) and its cells: [(texts, (x0, x1, y0,
    y1))] in the axes' units (inches, y down); every text of a cell lies inside it
    (a text that would not is set smaller until it does)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Arc, Circle, FancyBboxPatch, Rectangle

    cols = PNG_COLUMNS
    rows_per = [max(1, math.ceil(len(s.controls) / cols)) for s in units]
    cell_w, cell_h, head = 2.4, 2.75, 0.9
    height = 0.8 + sum(head + r * cell_h + 0.3 for r in rows_per)
    width = cols * cell_w + 0.4
    fig = plt.figure(figsize=(width, height), dpi=120)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)     # y grows downwards, like the page
    ax.axis("off")
    cells: list[tuple[list[Any], tuple]] = []
    page: list[Any] = []
    snap = f"snapshot {snapshot}" if snapshot else "session settings"
    page.append(ax.text(0.2, 0.35, f"Recall sheet: {Path(session_path).name} ({snap})",
                        fontsize=16, weight="bold", va="center"))
    page.append(ax.text(0.2, 0.62, "orange frame = set by hand (no MIDI); others recalled over "
                        "MIDI; values are what the unit gets; grey \"default\" = the profile's, "
                        "not set by the session", fontsize=9, color="#444", va="center"))
    cells.append((page, (0.0, width, 0.0, 0.8)))
    y = 0.8
    for s, nrows in zip(units, rows_per, strict=True):
        ax.add_patch(Rectangle((0.1, y), width - 0.2, head + nrows * cell_h + 0.1,
                               fill=False, lw=1.5, ec="#333"))
        midi = f"MIDI {s.port}, ch {s.channel}" if s.port else "no MIDI port"
        cells.append(([ax.text(0.25, y + 0.35, f"Insert {s.insert}: {s.maker} {s.model}",
                               fontsize=13, weight="bold", va="center"),
                       ax.text(0.25, y + 0.68, f"profile {s.profile}; {midi}", fontsize=9,
                               color="#444", va="center")], (0.1, width - 0.1, y, y + head)))
        for i, c in enumerate(s.controls):
            x0 = 0.2 + (i % cols) * cell_w
            y0 = y + head + (i // cols) * cell_h
            cx, cy, r = x0 + cell_w / 2, y0 + 1.0, 0.55
            texts = []
            if c.manual:
                ax.add_patch(FancyBboxPatch((x0 + 0.05, y0 + 0.02), cell_w - 0.1, cell_h - 0.1,
                                            boxstyle="round,pad=0.02", fc="#fff6ee",
                                            ec=_ORANGE, lw=2.5))
            if c.kind == "switch":
                on = c.index
                ax.add_patch(Rectangle((cx - 0.22, cy - 0.55), 0.44, 1.1, fc="#2b2b2b",
                                       ec="k"))
                ly = cy - 0.27 if on else cy + 0.27
                ax.add_patch(Rectangle((cx - 0.17, ly - 0.22), 0.34, 0.44, fc="#ddd", ec="k"))
                for lab, yy, active in ((c.ticks[1][1], cy - 0.27, on == 1),
                                        (c.ticks[0][1], cy + 0.27, on == 0)):
                    texts.append(ax.text(cx + 0.32, yy, lab, fontsize=9, va="center",
                                         weight="bold" if active else "normal",
                                         color=_ORANGE if active else "#333"))
            elif c.kind == "wheel":
                ax.add_patch(FancyBboxPatch((cx - 0.75, cy - 0.65), 1.5, 1.1,
                                            boxstyle="round,pad=0.03", fc="#f4f4f4", ec="#333",
                                            lw=1.2))
                ax.add_patch(Rectangle((cx - 0.7, cy - 0.27), 1.4, 0.34, fc="#fff6ee",
                                       ec=_ORANGE, lw=1.2))
                for (name, role), yy in zip(_wheel_rows(c), (cy - 0.45, cy - 0.1, cy + 0.25),
                                            strict=True):
                    if name:
                        texts.append(ax.text(cx, yy, name, ha="center", va="center",
                                             fontsize=13 if role == "set" else 9,
                                             weight="bold" if role == "set" else "normal",
                                             color=_ORANGE if role == "set" else "#555"))
                texts.append(ax.text(cx, cy + 0.62, f"position {c.index + 1} of "
                                     f"{len(c.ticks)}", ha="center", va="center", fontsize=7,
                                     color="#333"))
            else:
                # matplotlib angles: counter-clockwise from +x; y axis is flipped here
                ax.add_patch(Arc((cx, cy), 2 * (r + 0.07), 2 * (r + 0.07),
                                 theta1=90 - 135, theta2=90 + 135, color="#999", lw=1.5))
                for tu, lab in c.ticks:
                    a = math.radians(angle_deg(tu))
                    sx, sy = math.sin(a), -math.cos(a)
                    ax.plot([cx + (r + 0.04) * sx, cx + (r + 0.14) * sx],
                            [cy + (r + 0.04) * sy, cy + (r + 0.14) * sy], color="#333", lw=1.2)
                    ha = {"middle": "center", "start": "left", "end": "right"}[
                        _anchor(angle_deg(tu))]
                    on = c.kind == "selector" and lab == c.ticks[c.index][1]
                    texts.append(ax.text(cx + (r + 0.2) * sx, cy + (r + 0.2) * sy, lab,
                                         fontsize=7, ha=ha, va="center",
                                         weight="bold" if on else "normal",
                                         color=_ORANGE if on else "#333"))
                ax.add_patch(Circle((cx, cy), r, fc="#2b2b2b", ec="k"))
                a = math.radians(c.angle)
                ax.plot([cx, cx + (r - 0.06) * math.sin(a)], [cy, cy - (r - 0.06) * math.cos(a)],
                        color="white", lw=4, solid_capstyle="round")
            ly = y0 + 1.88
            for line in c.label_lines():
                texts.append(ax.text(cx, ly, line, fontsize=9, ha="center", va="center",
                                     color="#333"))
                ly += 0.17
            default = c.source == "default"
            texts.append(ax.text(cx, ly + 0.08, c.value_text, fontsize=12, ha="center",
                                 va="center", weight="bold", color=_GREY if default else "k"))
            if c.note:
                texts.append(ax.text(cx, ly + 0.3, c.note, fontsize=8, ha="center",
                                     va="center", color=_GREY if default else _ORANGE))
            cells.append((texts, (x0 + 0.04, x0 + cell_w - 0.04, y0, y0 + cell_h)))
        y += head + nrows * cell_h + 0.3
    _fit(fig, ax, cells)
    return fig, cells


def text_box(fig: Any, ax: Any, t: Any) -> tuple[float, float, float, float]:
    """A text's extent in the axes' units (x0, x1, y0, y1; y down)."""
    bb = t.get_window_extent(fig.canvas.get_renderer())
    (xa, ya), (xb, yb) = ax.transData.inverted().transform([[bb.x0, bb.y0], [bb.x1, bb.y1]])
    return min(xa, xb), max(xa, xb), min(ya, yb), max(ya, yb)


def _fit(fig: Any, ax: Any, cells: list[tuple[list[Any], tuple]]) -> None:
    """Set every text that leaves its cell smaller (down to 5 pt) until it fits."""
    for texts, (x0, x1, _y0, _y1) in cells:
        for t in texts:
            while t.get_fontsize() > 5:
                a, b, _, _ = text_box(fig, ax, t)
                if a >= x0 and b <= x1:
                    break
                t.set_fontsize(t.get_fontsize() - 0.5)


def render_png(units: Sequence[UnitSheet], path: Path, session_path: str,
               snapshot: str | None = None) -> None:
    """Draw the sheet with matplotlib (Agg) into ``path`` (PNG, 120 dpi)."""
    import matplotlib.pyplot as plt

    fig, _cells = png_figure(units, session_path, snapshot)
    fig.savefig(path, format="png")
    plt.close(fig)


# ---- command ------------------------------------------------------------------------------


def write_sheet(session: Any, out: Path, png: Path | None = None,
                snapshot: str | None = None) -> list[Path]:
    """Write the HTML (and the PNG when ``png`` is given), atomically; returns the paths."""

    units = sheets(session, snapshot)
    check_writable(out)
    if png is not None:
        check_writable(png)
    written = []
    with atomic_path(out) as tmp:
        tmp.write_text(render_html(units, str(session.path), snapshot), encoding="utf-8")
    written.append(out)
    if png is not None:
        with atomic_path(png) as tmp:
            render_png(units, tmp, str(session.path), snapshot)
        written.append(png)
    return written
