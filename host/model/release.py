"""Deliverables: every format a release needs, rendered from the print.

A deliverable is a loudness target (or none), a true-peak ceiling, a final
limiter (or none), a sample rate, a bit depth with dither and a file format.
Built-in presets (``outboard deliver --list``):

============  ============  ===========  =========  ========  ===============================
preset        loudness      ceiling      limiter    format    why
============  ============  ===========  =========  ========  ===============================
streaming     -14 LUFS      -1.0 dBTP    yes        24-bit    Spotify / YouTube / Tidal
                                                    WAV       normalise to about -14 LUFS
apple         -16 LUFS      -1.0 dBTP    yes        24-bit    Apple Music (Sound Check)
broadcast     -23 LUFS      -1.0 dBTP    yes        24-bit    EBU R128 broadcast, 48 kHz
                                                    WAV 48k
club          -8 LUFS       -0.5 dBTP    yes        24-bit    a louder master for DJs / clubs
cd            the print's   -0.3 dBTP    yes        16-bit    Red Book: 44.1 kHz, 16-bit,
              (no target)                           44.1k     noise-shaped TPDF dither
vinyl         gain to the   (report)     no         24-bit    pre-master for the cutting
              TP at -6 dBTP                                   engineer: headroom, no limiting
============  ============  ===========  =========  ========  ===============================

Rates and formats not stated keep the print's.  A session adds its own under
``[release]``::

    [release]
    title = "Song (2024 Remaster)" # any printable text; file names TITLE.DELIVERABLE.EXT use
                                   # a safe form of it (default: the print's name)
    print = "song.print.wav"       # what `outboard print` writes, `outboard deliver` reads
    folder = "deliverables"        # where deliverables go (relative to the session)
    presets = ["streaming", "cd", "vinyl", "club"]

    [[release.deliverables]]
    name = "bandcamp"              # unique; letters, digits, - and _
    preset = "streaming"           # optional: start from a preset, override below
    target_lufs = -12.0            # LUFS, -40..-5 (omit: keep the print's loudness)
    ceiling_dbtp = -1.0            # dBTP, -20..0
    limiter = true                 # false: gain only, nothing limited
    peak_dbtp = -6.0               # dBTP, -40..0: gain-only, true peak here (limiter = false)
    sample_rate = 44100            # Hz, a standard rate, 8000..384000 (omit: the print's)
    bit_depth = "24"               # "16" | "24" | "32f"
    dither = "wannamaker9"         # 16-bit shaping: "none" | "first-order" | "wannamaker9"
    format = "flac"                # "wav" | "flac" | "aiff"
    max_limiting_db = 6.0          # dB, 0..60: more limiting than this is a warning

Each deliverable is measured on the file written (loudness, true peak) and gets
its report, ``TITLE.NAME.json`` and ``TITLE.NAME.png`` (host.offline.report).
"""

from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from host.model.config import MASTER, Param, _check_value, _Ctx, did_you_mean, unknown_key

#: dB of gain reduction in a limiter beyond which master and deliver warn
DEFAULT_MAX_LIMITING_DB = 6.0


@dataclass(frozen=True)
class Deliverable:
    """One output format of a release; units in the names."""

    name: str
    target_lufs: float | None = None      # LUFS; None keeps the print's loudness
    ceiling_dbtp: float = -1.0            # dBTP
    limiter: bool = True
    peak_dbtp: float | None = None        # dBTP, gain-only (limiter off): true peak here
    sample_rate: int | None = None        # Hz; None keeps the print's
    bit_depth: str = "24"                 # "16" | "24" | "32f"
    dither: str = "wannamaker9"           # shaping at 16 bits (24 bits: flat TPDF)
    format: str = "wav"                   # "wav" | "flac" | "aiff"
    description: str = ""
    max_limiting_db: float = DEFAULT_MAX_LIMITING_DB  # dB of limiting: more is a warning

    def settings(self):
        return MasterSettings(target_lufs=self.target_lufs, ceiling_dbtp=self.ceiling_dbtp,
                              bit_depth=self.bit_depth, sample_rate=self.sample_rate,
                              dither=self.dither, limiter=self.limiter,
                              peak_dbtp=self.peak_dbtp, max_limiting_db=self.max_limiting_db)

    def describe(self) -> str:
        loud = f"{self.target_lufs:g} LUFS" if self.target_lufs is not None else \
            "the print's loudness"
        if self.peak_dbtp is not None:
            loud = f"gain to a {self.peak_dbtp:g} dBTP true peak"
        lim = f"ceiling {self.ceiling_dbtp:g} dBTP" if self.limiter else "no limiter"
        rate = f"{self.sample_rate / 1000:g} kHz" if self.sample_rate else "print's rate"
        bits = "32-bit float" if self.bit_depth == "32f" else f"{self.bit_depth}-bit"
        return f"{loud}, {lim}, {rate}, {bits} {self.format.upper()}"


PRESETS: dict[str, Deliverable] = {d.name: d for d in (
    Deliverable("streaming", -14.0, -1.0, description="Spotify, YouTube, Tidal, Amazon: "
                "normalised to about -14 LUFS"),
    Deliverable("apple", -16.0, -1.0, description="Apple Music with Sound Check"),
    Deliverable("broadcast", -23.0, -1.0, sample_rate=48000,
                description="EBU R128 broadcast"),
    Deliverable("club", -8.0, -0.5, description="a louder master for DJs and clubs"),
    Deliverable("cd", None, -0.3, sample_rate=44100, bit_depth="16", dither="wannamaker9",
                description="Red Book CD: 44.1 kHz, 16-bit, noise-shaped TPDF dither; keeps "
                "the print's loudness (a louder CD: a [[release.deliverables]] with "
                "preset = \"cd\" and target_lufs)"),
    Deliverable("vinyl", None, -6.0, limiter=False, peak_dbtp=-6.0,
                description="pre-master for the cutting engineer: 6 dB of headroom, "
                "no final limiting"),
)}

EXTENSIONS = {"wav": ".wav", "flac": ".flac", "aiff": ".aiff"}
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")

DELIVERABLE_KEYS: dict[str, Param] = {
    "name": Param("str", required=True),
    "preset": Param("choice", choices=tuple(PRESETS)),
    "target_lufs": Param("number", -40.0, -5.0, "LUFS"),
    "ceiling_dbtp": MASTER["ceiling_dbtp"],
    "limiter": Param("bool"),
    "peak_dbtp": Param("number", -40.0, 0.0, "dBTP"),
    "sample_rate": Param("rate"),
    "bit_depth": Param("choice", choices=("16", "24", "32f")),
    "dither": Param("choice", choices=("none", "first-order", "wannamaker9")),
    "format": Param("choice", choices=tuple(EXTENSIONS)),
    "description": Param("str"),
    "max_limiting_db": MASTER["max_limiting_db"],
}
RELEASE_KEYS = ("title", "print", "folder", "presets", "deliverables")
#: most UTF-8 bytes of a file-name stem made from a title: file systems take 255 per
#: name, and TITLE.DELIVERABLE.EXT (and its temporary .TITLE....part name) need the rest
MAX_STEM_BYTES = 120
#: characters no file name gets: path separators and those Windows refuses
_UNSAFE = set('/\\<>:"|?*')


def file_stem(title: str) -> str:
    """A file-name stem for ``title``, safe on every common file system.

    Letters (of any script) and digits are kept, as is other printable
    punctuation; spaces become ``_`` (runs of them one); path separators,
    ``<>:"|?*`` and control or format characters are dropped; no leading dot or
    dash (a hidden file, an option) and no trailing dot; at most
    ``MAX_STEM_BYTES`` of UTF-8, cut at a character.  Unicode is composed (NFC),
    so a name typed on macOS and one typed elsewhere are the same file.
    ``""`` if nothing usable is left.
    """
    out = []
    for ch in unicodedata.normalize("NFC", title):
        if ch.isspace():
            out.append("_")
        elif ch not in _UNSAFE and unicodedata.category(ch)[0] != "C":
            out.append(ch)
    stem = re.sub(r"_{2,}", "_", "".join(out)).strip("_").lstrip(".-").rstrip(".")
    raw = stem.encode("utf-8")
    if len(raw) > MAX_STEM_BYTES:
        stem = raw[:MAX_STEM_BYTES].decode("utf-8", "ignore").rstrip("_.")
    return stem


@dataclass
class Release:
    """A session's ``[release]``: where the print is and what to deliver from it."""

    title: str | None
    print_path: Path | None
    folder: Path | None
    deliverables: list[Deliverable]


def parse_deliverable(ctx: _Ctx, where: str, raw: Any) -> Deliverable:
    """One ``[[release.deliverables]]`` table -> Deliverable (checked)."""
    if not isinstance(raw, dict):
        raise ctx.fail(where, f"expected a table, got {raw!r}")
    for k in raw:
        if k not in DELIVERABLE_KEYS:
            raise unknown_key(ctx, where, k, DELIVERABLE_KEYS)
    if "name" not in raw:
        raise ctx.fail(f"{where}.name", "missing; expected a name like \"bandcamp\"")
    vals = {k: _check_value(ctx, f"{where}.{k}", DELIVERABLE_KEYS[k], v) for k, v in raw.items()}
    if not NAME_RE.match(vals["name"]):
        raise ctx.fail(f"{where}.name", "expected letters, digits, - and _ (it names files), "
                       f"got {vals['name']!r}")
    base = PRESETS[vals.pop("preset")] if "preset" in vals else Deliverable(vals["name"])
    d = replace(base, **vals)
    if d.peak_dbtp is not None and d.limiter:
        raise ctx.fail(f"{where}.peak_dbtp", "a true-peak level is for a deliverable with "
                       "limiter = false (with a limiter, use ceiling_dbtp)")
    if d.peak_dbtp is not None and d.target_lufs is not None:
        raise ctx.fail(f"{where}.peak_dbtp", "expected either target_lufs or peak_dbtp, "
                       "not both")
    if d.format == "flac" and d.bit_depth == "32f":
        raise ctx.fail(f"{where}.bit_depth", "FLAC holds 16 or 24 bits, not 32-bit float")
    return d


def parse_release(ctx: _Ctx, raw: Any, session_dir: Path) -> Release | None:
    """A session's ``[release]`` table (None if absent); paths resolve against
    the session's folder."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ctx.fail("release", f"expected a table [release], got {raw!r}")
    for k in raw:
        if k not in RELEASE_KEYS:
            raise unknown_key(ctx, "release", k, RELEASE_KEYS)

    def text(key: str) -> str | None:
        v = raw.get(key)
        if v is None:
            return None
        if not isinstance(v, str) or not v.strip():
            raise ctx.fail(f"release.{key}", f"expected a non-empty string, got {v!r}")
        return v

    title = text("title")
    if title is not None and not title.isprintable():
        raise ctx.fail("release.title", f"expected printable text (no tabs, line breaks or "
                       f"control characters), got {title!r}")
    if title is not None and not any(c.isalnum() for c in file_stem(title)):
        raise ctx.fail("release.title", f"expected a letter or digit to name the files, "
                       f"got {title!r}")
    pr, folder = text("print"), text("folder")
    presets = raw.get("presets", [])
    if not isinstance(presets, list):
        raise ctx.fail("release.presets", f"expected an array of preset names "
                       f"({', '.join(PRESETS)}), got {presets!r}")
    out: list[Deliverable] = []
    for i, p in enumerate(presets):
        if not isinstance(p, str) or p not in PRESETS:
            raise ctx.fail(f"release.presets[{i}]", f"unknown preset {p!r} (expected one of "
                           f"{', '.join(PRESETS)}){did_you_mean(p, PRESETS)}")
        out.append(PRESETS[p])
    custom = raw.get("deliverables", [])
    if not isinstance(custom, list):
        raise ctx.fail("release.deliverables", "expected an array of tables "
                       "[[release.deliverables]]")
    for i, d in enumerate(custom):
        out.append(parse_deliverable(ctx, f"release.deliverables[{i}]", d))
    seen: set[str] = set()
    for d in out:
        if d.name in seen:
            raise ctx.fail("release", f"deliverable {d.name!r} is listed twice (presets and "
                           "deliverables share names)")
        seen.add(d.name)

    def resolve(v: str | None) -> Path | None:
        if v is None:
            return None
        return Path(os.path.normpath(session_dir / v)) if not Path(v).is_absolute() else Path(v)

    return Release(title, resolve(pr), resolve(folder), out)


def preset_table() -> list[tuple[str, str, str]]:
    """(name, settings, what for) of every built-in preset."""
    return [(d.name, d.describe(), d.description) for d in PRESETS.values()]


def deliverable_fields() -> list[str]:
    return [f.name for f in fields(Deliverable)]


@dataclass
class MasterSettings:
    target_lufs: float | None = None      # LUFS; None: keep the chain's level
    ceiling_dbtp: float = -1.0            # dBTP
    bit_depth: str = "24"                 # "16" | "24" | "32f"
    sample_rate: int | None = None        # Hz; None: keep the input's
    dither: str = "wannamaker9"           # shaping for 16-bit; 24-bit uses flat TPDF
    limiter: bool = True                  # False: no final limiter, gain only
    peak_dbtp: float | None = None        # dBTP; gain-only: put the true peak here
    #: s; the dynamics stages' gain reduction is traced at this resolution (reports)
    trace_s: float = 0.1
    #: dB; more gain reduction than this in a limiter is a warning (the note)
    max_limiting_db: float = DEFAULT_MAX_LIMITING_DB
