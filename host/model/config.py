"""Chain and session files (TOML) -> validated dataclasses.

Every error names the file, the key path (``chain[2].ratio``) and what was
expected, in physical units, and nothing is clamped silently.  A hardware
insert's setting that its unit can only take rounded to its steps (3.3 dB
where the unit moves in 0.5 dB) loads, with an :class:`OutboardWarning` naming
the key, the value asked and the value the unit gets.

A chain file::

    [master]                 # optional defaults for `outboard master`
    target_lufs = -14.0      # LUFS, -40..-5
    ceiling_dbtp = -1.0      # dBTP, -20..0
    max_limiting_db = 6.0    # dB, 0..60: more limiting than this is a warning

    [[chain]]
    kind = "eq"              # eq | compressor | limiter | gain | hardware
    name = "tone"            # optional, unique: names it in reports and the store
    #                          (default: kind and position, "eq1")
    bands = [
      { type = "highpass", freq_hz = 25.0, order = 4, family = "butterworth" },
      { type = "peak", freq_hz = 3000.0, gain_db = 1.0, q = 0.8 },
    ]

    [[chain]]
    kind = "compressor"
    threshold_db = -20.0
    ratio = 2.0

    [[chain]]
    kind = "dynamic_eq"      # 1..4 bands whose gain follows their own band's level
    preset = "deess"         # or bands = [{ type = "peak", freq_hz = 7000.0, q = 1.0,
                             #   threshold_db = -30.0, ratio = 4.0, range_db = 12.0 }]

    [[chain]]
    kind = "saturation"
    drive_db = 4.0
    curve = "tape"           # tape | tube | soft_clip | hard_clip
    oversample = 8           # 2 | 4 | 8

    [[chain]]
    kind = "hardware"        # analog unit on interface outputs 3-4 / inputs 3-4
    name = "vari-mu"
    sends = [3, 4]           # 1-based interface outputs
    returns = [3, 4]         # 1-based interface inputs, one per send
    return_trim_db = "auto"  # dB -24..24, or "auto" (from the measured gain)
    polarity = "auto"        # 1, -1 or "auto" (from the measurement)
    mix = 1.0                # 0 (dry) .. 1 (wet)
    # MIDI recall (host.midi.recall): the unit's profile in devices/, its JACK MIDI
    # port (name or unique part) and channel; knobs in physical units; snapshots
    midi = { profile = "outboard_virtual_compressor", port = "gear-vari-mu", channel = 1 }
    settings = { threshold_db = -20.0, ratio = 2.0 }
    snapshots = { A = { ratio = 4.0 }, B = { threshold_db = -30.0 } }
"""

from __future__ import annotations

import difflib
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from host.dsp import dynamic_eq, imager, multiband, saturation
from host.dsp.compressor import RANGES as compressor_ranges
from host.dsp.crossover import check_crossovers
from host.dsp.kernel import ParamError, Range
from host._ffi import lib
from host.dsp.biquad import GAIN_KINDS
from host.dsp.limiter import CEILING_RANGE_DBTP, LOOKAHEAD_RANGE_MS, RELEASE_RANGE_MS
from host.errors import ConfigError, OutboardWarning
from host.midi.recall import MidiKeyError, check_insert_midi
from host.model.virtual_gear import GearSpec

Number = (int, float)

#: most inserts in one chain, for `run` and `print` (the C engine's table,
#: native/engine.h OB_ENGINE_MAX_INSERTS) and so for `master` and stems too
MAX_INSERTS = int(lib.OB_ENGINE_MAX_INSERTS)
#: highest interface channel (1-based) a session or a hardware insert may name: the
#: device channels the C engine can route (OB_ENGINE_MAX_DEVICE_CHANNELS)
MAX_DEVICE_CHANNEL = int(lib.OB_ENGINE_MAX_DEVICE_CHANNELS)


@dataclass(frozen=True)
class Param:
    """One key of a table: its type, range and unit, for checking and messages."""

    kind: str                      # "number" | "int" | "choice" | "bool" | "str" |
    #                                "channels" (array of ints lo..hi) | "numbers" (a number
    #                                or an array of them, lo..hi) | "polarity" | "table" |
    #                                "bands" (array of band tables, checked by kind)
    #                                "rate" (one of SAMPLE_RATES, Hz)
    lo: float | None = None
    hi: float | None = None
    unit: str = ""
    default: Any = None
    choices: tuple = ()
    required: bool = False
    zero_ok: bool = False          # 0 allowed as "off" besides lo..hi
    # for "number": strings accepted besides a number (e.g. "auto")

    def describe(self) -> str:
        if self.kind in ("number", "int"):
            what = "an integer" if self.kind == "int" else "a number"
            rng = f" {_fmt(self.lo)}..{_fmt(self.hi)}" if self.lo is not None else ""
            off = " (or 0 for off)" if self.zero_ok else ""
            unit = f" {self.unit}" if self.unit else ""
            alt = "".join(f" or {c!r}" for c in self.choices)
            return f"{what}{rng}{unit}{off}{alt}"
        if self.kind == "choice":
            return "one of " + ", ".join(repr(c) for c in self.choices)
        if self.kind == "bool":
            return "true or false"
        if self.kind == "channels":
            return f"a non-empty array of integers {_fmt(self.lo)}..{_fmt(self.hi)} {self.unit}"
        if self.kind == "numbers":
            unit = f" {self.unit}" if self.unit else ""
            rng = f" {_fmt(self.lo)}..{_fmt(self.hi)}" if self.hi is not None else \
                f" >= {_fmt(self.lo)}"
            return f"a number{rng}{unit} or an array of them (one per return)"
        if self.kind == "polarity":
            alt = " or " + ", ".join(repr(c) for c in self.choices) if self.choices else ""
            return f"1 or -1{alt}"
        if self.kind == "table":
            return "a table"
        if self.kind == "crossovers":
            return "an array of strictly increasing frequencies in Hz"
        if self.kind == "rate":
            return "a sample rate in Hz, one of " + ", ".join(map(str, SAMPLE_RATES))
        return "a string"


def _fmt(v: float | None) -> str:
    return "" if v is None else (str(int(v)) if float(v).is_integer() else str(v))


EQ_TYPES = ("peak", "lowshelf", "highshelf", "lowpass", "highpass", "bandpass", "notch",
            "allpass")
BAND = {
    "type": Param("choice", choices=EQ_TYPES, required=True),
    "freq_hz": Param("number", 10.0, 40000.0, "Hz", required=True),
    "gain_db": Param("number", -24.0, 24.0, "dB", 0.0),
    "q": Param("number", 0.1, 30.0, "", 0.7071),
    "slope": Param("number", 0.1, 1.0, "(shelf slope S)"),
    "order": Param("int", 1, 8, "", 2),
    "family": Param("choice", choices=("rbj", "butterworth", "linkwitz-riley")),
}
def param_of(r: Range, required: bool = False) -> Param:
    """The schema entry of a kernel parameter whose range its dsp module owns."""
    return Param(r.kind, r.lo, r.hi, r.unit, r.default, r.choices, required, r.zero_ok)


def params_of(ranges: dict[str, Range], defaults: bool = True) -> dict[str, Param]:
    """Schema entries of a kernel's ranges (``defaults=False``: a key left out
    stays out, as in a band table that only overrides)."""
    return {k: param_of(r if defaults else Range(r.kind, r.lo, r.hi, r.unit, None, r.choices,
                                                  r.zero_ok))
            for k, r in ranges.items()}


#: a multiband band's table and an imager band's (keys only where given)
MULTIBAND_BAND = params_of(multiband.BAND_RANGES, defaults=False)
IMAGER_BAND = params_of(imager.BAND_RANGES, defaults=False)
#: a dynamic EQ band's table (keys only where given: defaults, or a preset's band,
#: fill the rest in host.dsp.dynamic_eq.resolve_bands)
DYNAMIC_EQ_BAND = params_of(dynamic_eq.BAND_RANGES, defaults=False)

COMMON = {
    "kind": Param("choice", choices=("eq", "compressor", "limiter", "gain", "hardware",
                                     "multiband", "imager", "saturation", "dynamic_eq"),
                  required=True),
    "name": Param("str"),
    "bypass": Param("bool", default=False),
}
KINDS: dict[str, dict[str, Param]] = {
    "eq": {"bands": Param("bands", required=True)},
    "compressor": params_of(compressor_ranges),
    # crossovers_hz: checked whole by host.dsp.crossover.check_crossovers; the
    # compressor keys are every band's defaults, a band's table overrides them
    "multiband": {"crossovers_hz": Param("crossovers", required=True),
                  **params_of(multiband.RANGES), "bands": Param("bands")},
    "imager": {"crossovers_hz": Param("crossovers"), **params_of(imager.RANGES),
               "bands": Param("bands")},
    "saturation": params_of(saturation.RANGES),
    # bands: 1..4 band tables, or preset = "deess" (and at most one table overriding it)
    "dynamic_eq": {**params_of(dynamic_eq.RANGES), "bands": Param("bands")},
    "limiter": {
        "ceiling_dbtp": Param("number", *CEILING_RANGE_DBTP, "dBTP", -1.0),
        "release_ms": Param("number", *RELEASE_RANGE_MS, "ms", 50.0),
        "lookahead_ms": Param("number", *LOOKAHEAD_RANGE_MS, "ms", 1.5),
    },
    "gain": {"gain_db": Param("number", -48.0, 48.0, "dB", 0.0, required=True)},
    "hardware": {
        "sends": Param("channels", 1, MAX_DEVICE_CHANNEL, "(1-based interface outputs)",
                       required=True),
        "returns": Param("channels", 1, MAX_DEVICE_CHANNEL, "(1-based interface inputs)",
                         required=True),
        "send_trim_db": Param("number", -24.0, 24.0, "dB", 0.0),
        "return_trim_db": Param("number", -24.0, 24.0, "dB", 0.0, choices=("auto",)),
        "polarity": Param("polarity", default=1, choices=("auto",)),
        "mix": Param("number", 0.0, 1.0, "(0 = dry, 1 = wet)", 1.0),
        "latency_samples": Param("numbers", 0.0, None, "samples (measured round trip)"),
        "ping_level_dbfs": Param("number", -60.0, -6.0, "dBFS", -20.0),
        # `recall --fingerprint`: the loudest level sine (a compressor's curve shows)
        "fingerprint_max_dbfs": Param("number", -60.0, 0.0, "dBFS", -6.0),
        "virtual_gear": Param("table"),
        # live: a return lost (or DC, oscillating, non-finite) bypasses the insert; then
        # "bypass" runs on through the aligned dry path, "stop" stops the host (default
        # "bypass", applied by host.live.engine)
        "on_return_lost": Param("choice", choices=("bypass", "stop")),
        # MIDI recall (host.midi.recall): { profile, port, channel, input }, the knobs in
        # physical units, and named snapshots overriding them
        "midi": Param("table"),
        "settings": Param("table"),
        "snapshots": Param("table"),
    },
}
#: Hz: the rates a master or a deliverable may be converted to (anything else, 12345 Hz,
#: is a typing slip far more often than a format someone needs)
SAMPLE_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 88200, 96000,
                176400, 192000, 352800, 384000)

MASTER = {
    "target_lufs": Param("number", -40.0, -5.0, "LUFS"),
    "ceiling_dbtp": Param("number", *CEILING_RANGE_DBTP, "dBTP"),
    "bit_depth": Param("choice", choices=("16", "24", "32f")),
    "sample_rate": Param("rate"),
    "dither": Param("choice", choices=("none", "first-order", "wannamaker9")),
    "max_limiting_db": Param("number", 0.0, 60.0, "dB (of gain reduction)"),
}


@dataclass
class Insert:
    """One insert of a chain: ``kind`` plus its validated parameters."""

    kind: str
    name: str
    params: dict[str, Any]
    bypass: bool = False
    bands: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ChainConfig:
    inserts: list[Insert]
    master: dict[str, Any]
    path: Path | None = None


def did_you_mean(word: str, choices) -> str:
    """``"; did you mean 'x'?"`` for the closest of ``choices``, or ``""``."""
    near = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1)
    return f"; did you mean {near[0]!r}?" if near else ""


def unknown_key(ctx: _Ctx, prefix: str, key: str, allowed) -> ConfigError:
    """The one-line error for a key no schema knows: its path, what is allowed,
    and the closest allowed key."""
    return ctx.fail(f"{prefix}.{key}" if prefix else key,
                    f"unknown key (expected one of {', '.join(allowed)})"
                    f"{did_you_mean(key, allowed)}")


class _Ctx:
    def __init__(self, source: str):
        self.source = source

    def fail(self, key: str, msg: str) -> ConfigError:
        return ConfigError(f"{self.source}: {key}: {msg}")


def _check_value(ctx: _Ctx, key: str, p: Param, v: Any) -> Any:
    bad = ctx.fail(key, f"expected {p.describe()}, got {v!r}")
    if p.kind == "number" and isinstance(v, str) and p.choices:
        if v not in p.choices:
            raise bad
        return v
    if p.kind == "channels":
        if not isinstance(v, list) or not v:
            raise bad
        return [_check_value(ctx, f"{key}[{i}]", Param("int", p.lo, p.hi, p.unit), x)
                for i, x in enumerate(v)]
    if p.kind == "numbers":
        vals = v if isinstance(v, list) else [v]
        if not vals:
            raise bad
        out = []
        for i, x in enumerate(vals):
            if isinstance(x, bool) or not isinstance(x, Number) or not math.isfinite(x) or (
                    p.lo is not None and x < p.lo) or (p.hi is not None and x > p.hi):
                k = f"{key}[{i}]" if isinstance(v, list) else key
                raise ctx.fail(k, f"expected {p.describe()}, got {x!r}")
            out.append(float(x))
        return out if isinstance(v, list) else out[0]
    if p.kind == "polarity":
        if isinstance(v, str) and v in p.choices:
            return v
        if isinstance(v, bool) or not isinstance(v, Number) or v not in (1, -1):
            raise bad
        return int(v)
    if p.kind == "table":
        if not isinstance(v, dict):
            raise bad
        return dict(v)
    if p.kind in ("number", "int"):
        if isinstance(v, bool) or not isinstance(v, Number):
            raise bad
        if p.kind == "int" and not (isinstance(v, int) or float(v).is_integer()):
            raise bad
        if not math.isfinite(v):
            raise bad
        if p.zero_ok and v == 0:
            return 0
        if (p.lo is not None and v < p.lo) or (p.hi is not None and v > p.hi):
            raise bad
        return int(v) if p.kind == "int" else float(v)
    if p.kind == "rate":
        if isinstance(v, bool) or not isinstance(v, Number) or v not in SAMPLE_RATES:
            raise bad
        return int(v)
    if p.kind == "choice":
        if isinstance(v, int) and not isinstance(v, bool) and str(v) in p.choices:
            return str(v)
        if v not in p.choices:
            raise bad
        return v
    if p.kind == "bool":
        if not isinstance(v, bool):
            raise bad
        return v
    if p.kind == "str":
        if not isinstance(v, str):
            raise bad
        return v
    raise AssertionError(p.kind)


def _check_table(ctx: _Ctx, prefix: str, table: Any, schema: dict[str, Param]) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise ctx.fail(prefix, f"expected a table, got {table!r}")
    out: dict[str, Any] = {}
    for k in table:
        if k not in schema:
            raise unknown_key(ctx, prefix, k, schema)
    for k, p in schema.items():
        key = f"{prefix}.{k}" if prefix else k
        if k in table:
            if p.kind in ("bands", "crossovers"):   # checked whole by the kind
                continue
            out[k] = _check_value(ctx, key, p, table[k])
        elif p.required:
            raise ctx.fail(key, f"missing; expected {p.describe()}")
        elif p.default is not None:
            out[k] = p.default
    return out


def _check_band(ctx: _Ctx, key: str, band: Any) -> dict[str, Any]:
    b = _check_table(ctx, key, band, BAND)
    t = b["type"]
    if t in ("lowpass", "highpass"):
        fam = b.get("family") or ("butterworth" if b["order"] != 2 else "rbj")
        b["family"] = fam
        if fam == "rbj" and b["order"] != 2:
            raise ctx.fail(f"{key}.order", "expected 2 for family 'rbj' (use butterworth or "
                           "linkwitz-riley for other orders)")
        if fam == "butterworth" and not 2 <= b["order"] <= 8:
            raise ctx.fail(f"{key}.order", f"expected an integer 2..8, got {b['order']}")
        if fam == "linkwitz-riley" and b["order"] not in (2, 4, 6, 8):
            raise ctx.fail(f"{key}.order", f"expected 2, 4, 6 or 8 for linkwitz-riley, "
                           f"got {b['order']}")
    if b.get("gain_db") and t not in GAIN_KINDS:
        raise ctx.fail(f"{key}.gain_db", f"only for {', '.join(GAIN_KINDS)} bands; {t!r} takes "
                       f"no gain: expected 0 or no gain_db, got {b['gain_db']:g}")
    if t not in ("lowpass", "highpass"):
        for k in ("order", "family"):
            if k in band:
                raise ctx.fail(f"{key}.{k}", f"only for lowpass/highpass bands, not {t!r}")
        b.pop("order", None)
        if "slope" in band and t not in ("lowshelf", "highshelf"):
            raise ctx.fail(f"{key}.slope", f"only for lowshelf/highshelf bands, not {t!r}")
    return b


def _check_hardware(ctx: _Ctx, key: str, params: dict[str, Any]) -> None:
    """Cross-key checks of a hardware insert (sends, returns, latencies, virtual gear)."""
    sends, returns = params["sends"], params["returns"]
    if len(returns) != len(sends):
        raise ctx.fail(f"{key}.returns", f"expected {len(sends)} inputs (one per send), "
                       f"got {len(returns)}")
    for what, chans in (("sends", sends), ("returns", returns)):
        dup = sorted({c for c in chans if chans.count(c) > 1})
        if dup:
            raise ctx.fail(f"{key}.{what}", f"interface channel {dup[0]} is listed twice")
    lat = params.get("latency_samples")
    if isinstance(lat, list) and len(lat) != len(returns):
        raise ctx.fail(f"{key}.latency_samples", f"expected one number or {len(returns)} "
                       f"(one per return), got {len(lat)}")
    if any(params.get(k) is not None for k in ("midi", "settings", "snapshots")):
        try:
            unit = check_insert_midi(params.get("name") or key, params)
        except MidiKeyError as exc:
            raise ctx.fail(f"{key}.{exc.key}", exc.message) from None
        for k, note in unit.quantised() if unit is not None else ():
            warnings.warn(f"{ctx.source}: {key}.{k}: {note}", OutboardWarning, stacklevel=2)
    gear = params.get("virtual_gear")
    if gear is not None:
        table = {"channels": len(sends), **gear, "name": gear.get("name", "gear")}
        try:
            GearSpec.from_dict(table)
        except (ValueError, TypeError) as exc:
            msg = str(exc)
            sub, sep, rest = msg.partition(": ")
            if sep and " " not in sub:
                raise ctx.fail(f"{key}.virtual_gear.{sub}", rest) from None
            raise ctx.fail(f"{key}.virtual_gear", msg) from None


def _check_kernel_bands(ctx: _Ctx, key: str, kind: str, raw: dict[str, Any],
                        params: dict[str, Any]) -> list[dict[str, Any]]:
    """A multiband's or an imager's crossovers and band tables (one per band,
    only the keys given).  The sample rate's limit (0.45 fs) is checked when
    the insert is built."""
    mod = multiband if kind == "multiband" else imager
    try:
        xo = check_crossovers(raw.get("crossovers_hz", []), mod.MAX_BANDS,
                              least=1 if kind == "multiband" else 0)
    except ParamError as exc:
        raise ctx.fail(f"{key}.{exc.key}", exc.message) from None
    params["crossovers_hz"] = xo
    rb = raw.get("bands")
    if rb is None:
        return []
    nb = len(xo) + 1
    if not isinstance(rb, list) or len(rb) != nb:
        got = f"{len(rb)}" if isinstance(rb, list) else repr(rb)
        raise ctx.fail(f"{key}.bands", f"expected {nb} band tables for {len(xo)} "
                       f"crossover{'s' if len(xo) != 1 else ''}, got {got}")
    schema = MULTIBAND_BAND if kind == "multiband" else IMAGER_BAND
    return [_check_table(ctx, f"{key}.bands[{j}]", b, schema) for j, b in enumerate(rb)]


def _check_dynamic_eq(ctx: _Ctx, key: str, raw: dict[str, Any],
                      params: dict[str, Any]) -> list[dict[str, Any]]:
    """A dynamic EQ's band tables, complete (each key checked, then the
    defaults or the preset's band for the rest).  The sample rate's limit
    (0.45 fs) is checked when the insert is built."""
    rb = raw.get("bands")
    tables = None
    if rb is not None:
        if not isinstance(rb, list):
            raise ctx.fail(f"{key}.bands", f"expected an array of band tables, got {rb!r}")
        tables = [_check_table(ctx, f"{key}.bands[{j}]", b, DYNAMIC_EQ_BAND)
                  for j, b in enumerate(rb)]
    try:
        return dynamic_eq.resolve_bands(tables, params.get("preset"))
    except ParamError as exc:
        raise ctx.fail(f"{key}.{exc.key}", exc.message) from None


def parse_chain(data: dict[str, Any], source: str = "<chain>") -> ChainConfig:
    """Validate a parsed chain table (``[master]`` and ``[[chain]]``)."""
    ctx = _Ctx(source)
    top = {"master": Param("table"), "chain": Param("array")}
    for k in data:
        if k not in top:
            raise ctx.fail(k, f"unknown key (expected master, chain){did_you_mean(k, top)}")
    master = _check_table(ctx, "master", data.get("master", {}), MASTER)
    chain = data.get("chain", [])
    if not isinstance(chain, list):
        raise ctx.fail("chain", "expected an array of tables ([[chain]])")
    if len(chain) > MAX_INSERTS:
        raise ctx.fail("chain", f"expected at most {MAX_INSERTS} inserts, got {len(chain)}")
    inserts: list[Insert] = []
    names: dict[str, int] = {}
    for i, raw in enumerate(chain):
        key = f"chain[{i}]"
        if not isinstance(raw, dict):
            raise ctx.fail(key, f"expected a table, got {raw!r}")
        kind = raw.get("kind")
        if kind is None:
            raise ctx.fail(f"{key}.kind", f"missing; expected {COMMON['kind'].describe()}")
        _check_value(ctx, f"{key}.kind", COMMON["kind"], kind)
        schema = {**COMMON, **KINDS[kind]}
        params = _check_table(ctx, key, raw, schema)
        bands: list[dict[str, Any]] = []
        if kind == "eq":
            rb = raw["bands"]
            if not isinstance(rb, list) or not rb:
                raise ctx.fail(f"{key}.bands", "expected a non-empty array of band tables")
            if len(rb) > 16:
                raise ctx.fail(f"{key}.bands", f"expected at most 16 bands, got {len(rb)}")
            bands = [_check_band(ctx, f"{key}.bands[{j}]", b) for j, b in enumerate(rb)]
        if kind == "hardware":
            _check_hardware(ctx, key, params)
        if kind in ("multiband", "imager"):
            bands = _check_kernel_bands(ctx, key, kind, raw, params)
        if kind == "dynamic_eq":
            bands = _check_dynamic_eq(ctx, key, raw, params)
        given = params.pop("name", None)
        name = given or f"{kind}{i + 1}"
        if name in names:  # the measurement store and the reports key inserts by name
            raise ctx.fail(f"{key}.name", f"{name!r}{'' if given else ' (its default name)'} "
                           f"is also the name of chain[{names[name]}]; expected unique insert "
                           "names (measurements and reports are kept by name)")
        names[name] = i
        bypass = params.pop("bypass", False)
        params.pop("kind")
        inserts.append(Insert(kind, name, params, bypass, bands))
    return ChainConfig(inserts, master)


def check_chain_for_program(ctx: _Ctx, chain: ChainConfig, channels: int, sample_rate: int,
                            prefix: str = "chain") -> None:
    """A chain against the program it will run on, known in a session: a
    mid-side compressor needs a stereo program, and an EQ band lies below half
    the sample rate (the kernels refuse both)."""
    for k, ins in enumerate(chain.inserts):
        if ins.kind == "compressor" and ins.params.get("mode") == "mid-side" and channels != 2:
            raise ctx.fail(f"{prefix}[{k}].mode", f"'mid-side' needs a stereo program; "
                           f"[program] has {channels} channel(s): expected 'stereo'")
        for j, band in enumerate(ins.bands):  # EQ and dynamic EQ bands have a frequency
            if "freq_hz" in band and band["freq_hz"] >= sample_rate / 2:
                raise ctx.fail(f"{prefix}[{k}].bands[{j}].freq_hz", f"expected below "
                               f"{sample_rate / 2:g} Hz (half of interface.sample_rate), got "
                               f"{band['freq_hz']:g}")


#: the chain `outboard master` uses when none is given: a subsonic high-pass and the
#: final true-peak limiter.  No compressor: the dynamics are the mix's unless a chain
#: asks for compression (configs/master_glue.toml), so a master without a loudness
#: target keeps the mix's loudness and range, but for peaks above the ceiling.
DEFAULT_CHAIN = {
    "chain": [
        {"kind": "eq", "name": "subsonic", "bands": [
            {"type": "highpass", "freq_hz": 20.0, "order": 4, "family": "butterworth"}]},
        {"kind": "limiter", "name": "limiter", "ceiling_dbtp": -1.0, "release_ms": 50.0},
    ]
}


def default_chain() -> ChainConfig:
    return parse_chain(DEFAULT_CHAIN, "<default chain>")
