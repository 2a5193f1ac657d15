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
* a **selector** (a stepped knob) for a table law of 3 positions or more,
  one labelled tick per position;
* a **switch** for a table law of 2 positions, both printed, the set one
  marked.

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
resources); the PNG is drawn with matplotlib (Agg) from the same geometry.
"""

from __future__ import annotations

import html
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from host.audiofile import atomic_path, check_writable
from host.errors import OutboardError
from host.midi.laws import table_index
from host.midi.recall import units

#: travel of a knob, degrees (centred on straight up)
SWEEP_DEG = 270.0
START_DEG = -SWEEP_DEG / 2
#: knobs per row in the PNG
PNG_COLUMNS = 5


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
    value: float | str
    kind: str                      # "knob" | "selector" | "switch"
    u: float                       # travel fraction 0..1
    angle: float                   # degrees clockwise from straight up
    ticks: list[tuple[float, str]]  # (travel fraction, label)
    manual: bool
    how: str                       # "by hand" or the MIDI message kind and number
    range_text: str

    @property
    def value_text(self) -> str:
        return fmt_value(self.value, self.unit)


@dataclass
class UnitSheet:
    insert: str
    maker: str
    model: str
    profile: str
    port: str | None
    channel: int
    controls: list[Control] = field(default_factory=list)


def control(p: Any, value: float | str) -> Control:
    """The drawing of parameter ``p`` at ``value``."""
    u = position(p, value)
    if p.law == "table":
        kind = "switch" if len(p.table) == 2 else "selector"
        ticks = [(i / max(1, len(p.table) - 1), fmt_value(t, "") if isinstance(t, str)
                  else fmt_number(float(t))) for i, t in enumerate(p.table)]
        rng = ", ".join(t if isinstance(t, str) else fmt_number(float(t)) for t in p.table)
        rng = f"{rng} {p.unit}".strip()
    else:
        kind = "knob"
        marks = list(p.detents) if getattr(p, "detents", ()) else \
            (log_marks(p.min, p.max) if p.law == "log" else [value_at(p, k / 4) for k in range(5)])
        ticks = [(position(p, float(m)), fmt_number(float(m))) for m in marks]
        rng = f"{fmt_number(p.min)}..{fmt_number(p.max)} {p.unit}".strip() + f" ({p.law})"
    manual = p.send == "manual"
    how = "by hand" if manual else (f"{p.send} {p.number}" if p.number is not None
                                    else p.send)
    return Control(p.name, getattr(p, "label", None) or p.name, p.unit, value, kind, u,
                   angle_deg(u), ticks, manual, how, rng)


def sheets(session: Any, snapshot: str | None = None) -> list[UnitSheet]:
    """A :class:`UnitSheet` per hardware insert with a profile, manual parameters
    first.  A ``snapshot`` must exist in at least one unit; units without it show
    their ``settings``; a parameter set nowhere shows the profile's default."""

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
        values = u.values(snapshot if snapshot in u.snapshots else None)
        prof = u.profile
        sheet = UnitSheet(u.insert, prof.maker, prof.model, prof.id, u.port, u.channel)
        for name, p in prof.parameters.items():
            v = values.get(name, p.default)
            if v is None:
                continue
            try:
                sheet.controls.append(control(p, v))
            except ValueError as exc:
                raise OutboardError(f"{session.path}: insert {u.insert}: {exc}") from None
        sheet.controls.sort(key=lambda c: not c.manual)  # stable: profile order within
        out.append(sheet)
    return out


# ---- SVG / HTML ---------------------------------------------------------------------------

_R = 34.0        # knob radius, px
_W, _H = 170, 160


def _polar(cx: float, cy: float, r: float, deg: float) -> tuple[float, float]:
    a = math.radians(deg)
    return cx + r * math.sin(a), cy - r * math.cos(a)


def _e(s: str) -> str:
    return html.escape(str(s), quote=True)


def svg_control(c: Control) -> str:
    """One control as an inline SVG (``data-param``, ``data-angle`` for tools)."""
    cx, cy = _W / 2, 72.0
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" '
             f'viewBox="0 0 {_W} {_H}" class="ctl {c.kind}" data-param="{_e(c.name)}" '
             f'data-angle="{c.angle:.2f}" role="img" aria-label="{_e(c.label)}: '
             f'{_e(c.value_text)}">']
    if c.kind == "switch":
        labels = [t for _, t in c.ticks]
        on = 1 if c.u > 0.5 else 0
        parts.append(f'<rect x="{cx - 16}" y="{cy - 34}" width="32" height="68" rx="6" '
                     'class="body"/>')
        ty = cy - 17 if on == 1 else cy + 17
        parts.append(f'<rect x="{cx - 12}" y="{ty - 13}" width="24" height="26" rx="4" '
                     'class="lever"/>')
        for i, (t, y) in enumerate(((labels[1], cy - 17), (labels[0], cy + 17))):
            cls = "tick on" if (1 - i) == on else "tick"
            parts.append(f'<text x="{cx + 24}" y="{y + 4}" class="{cls}">{_e(t)}</text>')
    else:
        x0, y0 = _polar(cx, cy, _R + 4, START_DEG)
        x1, y1 = _polar(cx, cy, _R + 4, START_DEG + SWEEP_DEG)
        parts.append(f'<path d="M {x0:.2f} {y0:.2f} A {_R + 4} {_R + 4} 0 1 1 {x1:.2f} '
                     f'{y1:.2f}" class="arc"/>')
        for tu, label in c.ticks:
            a = angle_deg(tu)
            xa, ya = _polar(cx, cy, _R + 2, a)
            xb, yb = _polar(cx, cy, _R + 9, a)
            xt, yt = _polar(cx, cy, _R + 18, a)
            anchor = "middle" if abs(a) < 20 else ("start" if a > 0 else "end")
            parts.append(f'<line x1="{xa:.2f}" y1="{ya:.2f}" x2="{xb:.2f}" y2="{yb:.2f}" '
                         'class="tk"/>')
            parts.append(f'<text x="{xt:.2f}" y="{yt + 3:.2f}" text-anchor="{anchor}" '
                         f'class="tick">{_e(label)}</text>')
        parts.append(f'<circle cx="{cx}" cy="{cy}" r="{_R}" class="body"/>')
        parts.append(f'<g class="pointer" transform="rotate({c.angle:.2f} {cx} {cy})">'
                     f'<line x1="{cx}" y1="{cy}" x2="{cx}" y2="{cy - _R + 4}"/></g>')
    parts.append(f'<text x="{cx}" y="{_H - 26}" text-anchor="middle" class="label">'
                 f'{_e(c.label)}</text>')
    parts.append(f'<text x="{cx}" y="{_H - 8}" text-anchor="middle" class="value">'
                 f'{_e(c.value_text)}</text>')
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
svg .arc{fill:none;stroke:#999;stroke-width:2} svg .tk{stroke:#333;stroke-width:1.5}
svg .pointer line{stroke:#fff;stroke-width:4;stroke-linecap:round}
svg .tick{font-size:10px;fill:#333} svg .tick.on{font-weight:bold;fill:#d35400}
svg .label{font-size:12px;fill:#333} svg .value{font-size:14px;font-weight:bold;fill:#000}
table{border-collapse:collapse;margin-top:8px;font-size:13px}
td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}
tr.manual td{background:#fff6ee}
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
           "hand (no MIDI). The rest is recalled over MIDI: check it.</p>"]
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
                   "<th>set</th></tr>")
        for c in s.controls:
            cls = ' class="manual"' if c.manual else ""
            out.append(f'<tr{cls} data-param="{_e(c.name)}"><td>{_e(c.label)} '
                       f"<small>({_e(c.name)})</small></td><td><b>{_e(c.value_text)}</b></td>"
                       f"<td>{_e(c.range_text)}</td><td>{_e(c.how)}</td></tr>")
        out.append("</table></section>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


# ---- PNG ----------------------------------------------------------------------------------


def render_png(units: Sequence[UnitSheet], path: Path, session_path: str,
               snapshot: str | None = None) -> None:
    """Draw the sheet with matplotlib (Agg) into ``path`` (PNG, 120 dpi)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Arc, Circle, FancyBboxPatch, Rectangle

    cols = PNG_COLUMNS
    rows_per = [max(1, math.ceil(len(s.controls) / cols)) for s in units]
    cell_w, cell_h, head = 2.4, 2.5, 0.9
    height = 0.8 + sum(head + r * cell_h + 0.3 for r in rows_per)
    width = cols * cell_w + 0.4
    fig = plt.figure(figsize=(width, height), dpi=120)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)     # y grows downwards, like the page
    ax.axis("off")
    snap = f"snapshot {snapshot}" if snapshot else "session settings"
    ax.text(0.2, 0.35, f"Recall sheet: {Path(session_path).name} ({snap})", fontsize=16,
            weight="bold", va="center")
    ax.text(0.2, 0.62, "orange frame = set by hand (no MIDI); others recalled over MIDI",
            fontsize=9, color="#444", va="center")
    y = 0.8
    for s, nrows in zip(units, rows_per, strict=True):
        ax.add_patch(Rectangle((0.1, y), width - 0.2, head + nrows * cell_h + 0.1,
                               fill=False, lw=1.5, ec="#333"))
        ax.text(0.25, y + 0.35, f"Insert {s.insert}: {s.maker} {s.model}", fontsize=13,
                weight="bold", va="center")
        midi = f"MIDI {s.port}, ch {s.channel}" if s.port else "no MIDI port"
        ax.text(0.25, y + 0.68, f"profile {s.profile}; {midi}", fontsize=9, color="#444",
                va="center")
        for i, c in enumerate(s.controls):
            x0 = 0.2 + (i % cols) * cell_w
            y0 = y + head + (i // cols) * cell_h
            cx, cy, r = x0 + cell_w / 2, y0 + 1.0, 0.55
            if c.manual:
                ax.add_patch(FancyBboxPatch((x0 + 0.05, y0 + 0.02), cell_w - 0.1, cell_h - 0.1,
                                            boxstyle="round,pad=0.02", fc="#fff6ee",
                                            ec="#d35400", lw=2.5))
            if c.kind == "switch":
                on = 1 if c.u > 0.5 else 0
                ax.add_patch(Rectangle((cx - 0.22, cy - 0.55), 0.44, 1.1, fc="#2b2b2b",
                                       ec="k"))
                ly = cy - 0.27 if on else cy + 0.27
                ax.add_patch(Rectangle((cx - 0.17, ly - 0.22), 0.34, 0.44, fc="#ddd", ec="k"))
                for lab, yy, active in ((c.ticks[1][1], cy - 0.27, on == 1),
                                        (c.ticks[0][1], cy + 0.27, on == 0)):
                    ax.text(cx + 0.32, yy, lab, fontsize=9, va="center",
                            weight="bold" if active else "normal",
                            color="#d35400" if active else "#333")
            else:
                # matplotlib angles: counter-clockwise from +x; y axis is flipped here
                ax.add_patch(Arc((cx, cy), 2 * (r + 0.07), 2 * (r + 0.07),
                                 theta1=90 - 135, theta2=90 + 135, color="#999", lw=1.5))
                for tu, lab in c.ticks:
                    a = math.radians(angle_deg(tu))
                    sx, sy = math.sin(a), -math.cos(a)
                    ax.plot([cx + (r + 0.04) * sx, cx + (r + 0.14) * sx],
                            [cy + (r + 0.04) * sy, cy + (r + 0.14) * sy], color="#333", lw=1.2)
                    ha = "center" if abs(angle_deg(tu)) < 20 else \
                        ("left" if angle_deg(tu) > 0 else "right")
                    ax.text(cx + (r + 0.2) * sx, cy + (r + 0.2) * sy, lab, fontsize=7,
                            ha=ha, va="center", color="#333")
                ax.add_patch(Circle((cx, cy), r, fc="#2b2b2b", ec="k"))
                a = math.radians(c.angle)
                ax.plot([cx, cx + (r - 0.06) * math.sin(a)], [cy, cy - (r - 0.06) * math.cos(a)],
                        color="white", lw=4, solid_capstyle="round")
            ax.text(cx, y0 + 1.95, c.label, fontsize=9, ha="center", va="center",
                    color="#333")
            ax.text(cx, y0 + 2.22, c.value_text, fontsize=12, ha="center", va="center",
                    weight="bold")
        y += head + nrows * cell_h + 0.3
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




