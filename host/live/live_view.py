"""The terminal view of a running stream: meters a person can read at a glance.

Built from the engine's meter dict; refreshed by the main thread (never the
audio thread) a few times a second with rich.
"""

from __future__ import annotations

import math

from rich.console import Group
from rich.table import Table
from rich.text import Text

BAR_WIDTH = 30
FLOOR_DB = -60.0


def bar(db: float | None, width: int = BAR_WIDTH, warn: float = -6.0, over: float = -0.1) -> Text:
    """A horizontal meter from FLOOR_DB to 0 dBFS: green, yellow above ``warn``,
    red above ``over``."""
    if db is None or not math.isfinite(db):
        return Text("·" * width, style="dim")
    frac = min(1.0, max(0.0, (db - FLOOR_DB) / -FLOOR_DB))
    n = int(round(frac * width))
    style = "red" if db > over else "yellow" if db > warn else "green"
    return Text("█" * n, style=style) + Text("·" * (width - n), style="dim")


def fmt_db(v: float | None, unit: str = "") -> str:
    if v is None or not math.isfinite(v):
        return "  -inf" + (f" {unit}" if unit else "")
    return f"{v:6.1f}" + (f" {unit}" if unit else "")


def clock(seconds: float) -> str:
    m, s = divmod(max(0.0, seconds), 60)
    return f"{int(m):02d}:{s:04.1f}"


def render(title: str, position_s: float, total_s: float | None, m: dict,
           gr_names: list[str], recording: str | None, events: list[str],
           show_left: bool = False) -> Group:
    """One frame of the live view.

    ``m`` holds: in_peak_dbfs, out_peak_dbfs (lists per channel),
    momentary_lufs, short_term_lufs, integrated_lufs, true_peak_dbtp,
    gain_reduction_db (list per insert, None for non-dynamics), xruns,
    dsp_load (the last callback's time over its block's duration),
    dsp_load_max (the worst callback since the start: what the summary
    says), nonfinite.  ``show_left``: the time left too (a print).
    """
    t = Table.grid(padding=(0, 1))
    t.add_column(justify="left", min_width=12, max_width=24)
    t.add_column()
    t.add_column(justify="right")
    where = clock(position_s) + (f" / {clock(total_s)}" if total_s else "")
    if show_left and total_s:
        frac = min(1.0, max(0.0, position_s / total_s))
        n = int(round(frac * BAR_WIDTH))
        head_bar = Text("\n" + "progress".ljust(13)) + Text("█" * n, style="cyan") + \
            Text("·" * (BAR_WIDTH - n), style="dim")
        left = clock(total_s - min(total_s, max(0.0, position_s)))
        where_left = f"  {frac * 100:3.0f} %  {left} left" + \
            ("  (pre-roll)" if position_s <= 0 else "")
    head = Text(title, style="bold") + Text(f"   {where}")
    if show_left and total_s:
        head += head_bar + Text(where_left)
    if recording:
        head += Text(f"\n● rec {recording}", style="red")
    for label, key in (("in", "in_peak_dbfs"), ("out", "out_peak_dbfs")):
        for c, v in enumerate(m.get(key, [])):
            t.add_row(f"{label} {c + 1}", bar(v), fmt_db(v, "dBFS"))
    t.add_row("momentary", bar(m.get("momentary_lufs"), warn=-14, over=-9),
              fmt_db(m.get("momentary_lufs"), "LUFS"))
    t.add_row("short-term", bar(m.get("short_term_lufs"), warn=-14, over=-9),
              fmt_db(m.get("short_term_lufs"), "LUFS"))
    t.add_row("integrated", Text(""), fmt_db(m.get("integrated_lufs"), "LUFS"))
    t.add_row("true peak", bar(m.get("true_peak_dbtp"), warn=-3, over=-1.0),
              fmt_db(m.get("true_peak_dbtp"), "dBTP"))
    for name, gr in zip(gr_names, m.get("gain_reduction_db", []), strict=False):
        if gr is None:
            continue
        n = int(round(min(1.0, gr / 20.0) * BAR_WIDTH))
        t.add_row(f"GR {name}"[:24], Text("█" * n, style="magenta") +
                  Text("·" * (BAR_WIDTH - n), style="dim"), f"{gr:6.1f} dB")
    load = m.get("dsp_load", 0.0) * 100
    load_max = m.get("dsp_load_max", 0.0) * 100
    xr = m.get("xruns", 0)
    t.add_row("DSP load", Text(f"{load:5.1f} % now, worst callback {load_max:5.1f} % "
                               "since start"),
              Text(f"xruns {xr}", style="red" if xr else "green"))
    if m.get("nonfinite"):
        t.add_row("NaN/Inf", Text(f"{m['nonfinite']} blocks muted", style="red bold"), "")
    for e in events[-4:]:
        t.add_row("event", Text(e, style="yellow"), "")
    return Group(head, t)
