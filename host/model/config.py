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

    [[chain]]
    kind = "eq"              # eq | compressor | limiter | gain | hardware
    name = "tone"            # optional label for reports
    bands = [
      { type = "highpass", freq_hz = 25.0, order = 4, family = "butterworth" },
      { type = "peak", freq_hz = 3000.0, gain_db = 1.0, q = 0.8 },
    ]

    [[chain]]
    kind = "compressor"
    threshold_db = -20.0
    ratio = 2.0

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
import tomllib
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from host.dsp.compressor import DETECTORS, MODES
from host.dsp.compressor import RANGES as COMP
from host.dsp.limiter import CEILING_RANGE_DBTP, LOOKAHEAD_RANGE_MS, RELEASE_RANGE_MS
from host.errors import ConfigError, OutboardWarning
from host.midi.recall import MidiKeyError, check_insert_midi
from host.model.virtual_gear import GearSpec

Number = (int, float)


@dataclass(frozen=True)
class Param:
    """One key of a table: its type, range and unit, for checking and messages."""

    kind: str                      # "number" | "int" | "choice" | "bool" | "str" |
    #                                "channels" (array of ints lo..hi) | "numbers" (a number
    #                                or an array of them, lo..hi) | "polarity" | "table" |
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
COMMON = {
    "kind": Param("choice", choices=("eq", "compressor", "limiter", "gain", "hardware"),
                  required=True),
    "name": Param("str"),
    "bypass": Param("bool", default=False),
}
KINDS: dict[str, dict[str, Param]] = {
    "eq": {"bands": Param("bands", required=True)},
    "compressor": {
        "threshold_db": Param("number", *COMP["threshold_db"], "dBFS", -18.0),
        "ratio": Param("number", *COMP["ratio"], "(ratio)", 2.0),
        "knee_db": Param("number", *COMP["knee_db"], "dB", 6.0),
        "attack_ms": Param("number", *COMP["attack_ms"], "ms", 10.0),
        "release_ms": Param("number", *COMP["release_ms"], "ms", 100.0),
        "makeup_db": Param("number", *COMP["makeup_db"], "dB", 0.0),
        "detector": Param("choice", choices=tuple(DETECTORS), default="peak"),
        "rms_window_ms": Param("number", *COMP["rms_window_ms"], "ms", 10.0),
        "stereo_link": Param("number", *COMP["stereo_link"], "(0 = unlinked, 1 = linked)", 1.0),
        "mode": Param("choice", choices=tuple(MODES), default="stereo"),
        "sidechain_hpf_hz": Param("number", 20.0, 500.0, "Hz", 0.0, zero_ok=True),
    },
    "limiter": {
        "ceiling_dbtp": Param("number", *CEILING_RANGE_DBTP, "dBTP", -1.0),
        "release_ms": Param("number", *RELEASE_RANGE_MS, "ms", 50.0),
        "lookahead_ms": Param("number", *LOOKAHEAD_RANGE_MS, "ms", 1.5),
    },
    "gain": {"gain_db": Param("number", -48.0, 48.0, "dB", 0.0, required=True)},
    "hardware": {
        "sends": Param("channels", 1, 64, "(1-based interface outputs)", required=True),
        "returns": Param("channels", 1, 64, "(1-based interface inputs)", required=True),
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
            if p.kind == "bands":
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
    else:
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
    inserts: list[Insert] = []
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
        name = params.pop("name", None) or f"{kind}{i + 1}"
        bypass = params.pop("bypass", False)
        params.pop("kind")
        inserts.append(Insert(kind, name, params, bypass, bands))
    return ChainConfig(inserts, master)


def load_toml(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    try:
        text = p.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such file") from None
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read ({exc.strerror})") from None
    try:
        return tomllib.loads(text.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: not UTF-8 text; expected a TOML file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: TOML syntax error: {exc}") from None




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
