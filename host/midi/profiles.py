"""Device profiles: what a unit's knobs are and how MIDI sets them (devices/*.toml).

A profile is a TOML file in ``devices/`` named after its id::

    # Source: <manual title, version, section/page> -- the MIDI chart the numbers come from.
    maker = "Elektron"
    model = "Analog Heat MKII"
    midi_channel = 1            # default channel, 1..16
    pace_ms = 5.0               # gap between messages at recall, ms, 0..1000
    source = "Analog Heat MKII User Manual, ENG OS1.10, appendix A MIDI CC"
    dump_request = "F0 ... F7"  # optional SysEx asking for the state (host.midi.encode)
    sysex_template = "F0 41 {ch+10} 00 00 3B 12 [ {address} {value} ] {checksum} F7"
    bank_select = "cc0_cc32"    # before a program change: CC 0 and 32 (default), "cc0"
                                # (CC 0 = bank 0..127 alone, as Strymon) or "none"
    notes = "..."               # optional free text

    [parameters.drive_db]       # physical name with its unit, as sessions spell it
    label = "Drive"             # recall-sheet label (default: the name)
    unit = "dB"
    min = 0.0
    max = 24.0
    law = "linear"              # linear | log | centred | table (default: table if a
                                # table is given, else linear); see host.midi.laws
    send = "cc"                 # cc | cc14 | nrpn | program | sysex | manual
    number = 20                 # CC (cc 0..119, cc14 0..31), NRPN 0..16383, program
                                # bank 0..16383; none for sysex and manual
    raw_min = 0                 # optional raw range, default the message's whole range
    raw_max = 127
    default = 0.0               # optional, must be in range
    detents = [0, 6, 12, 18, 24]  # optional printed positions (recall sheets)

Other parameter keys: ``table`` (list of numbers or strings: the positions of a switch
or selector, as the unit names them: ``"01C"``, ``"User #12"``),
``centre`` and ``raw_centre`` (centred law), ``table_raw`` (the raw value of each
table entry where the unit's chart gives them), ``sysex`` (the parameter's own
SysEx template) and ``address`` (hex bytes for ``{address}``), ``notes``.

Every profile must say where its numbers come from: the ``source`` key is
required, and real units also cite it in a comment at the top.  A profile
that does not validate raises :class:`host.errors.ConfigError` naming the file
and the key.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from numbers import Real
from pathlib import Path
from typing import Any

from host.errors import ConfigError
from host.midi import encode, laws
from host.tomlfile import load_toml

#: The folder of the shipped profiles.
DEVICES_DIR = Path(__file__).resolve().parents[2] / "devices"

SENDS = ("cc", "cc14", "nrpn", "program", "sysex", "manual")
#: How a program change selects its bank: CC 0 (MSB) and CC 32 (LSB) of a 14-bit bank
#: number; CC 0 alone carrying the bank (0..127); no bank select.
BANK_SELECT = ("cc0_cc32", "cc0", "none")
_RAW_FULL = {"cc": 127, "cc14": 16383, "nrpn": 16383, "program": 127}
_PROFILE_KEYS = ("id", "maker", "model", "midi_channel", "pace_ms", "source", "dump_request",
                 "sysex_template", "bank_select", "notes", "parameters")
_PARAM_KEYS = ("label", "unit", "min", "max", "law", "table", "send", "number", "sysex",
               "address", "default", "detents", "table_raw", "raw_min", "raw_max", "centre",
               "raw_centre", "notes")


@dataclass(frozen=True)
class Parameter:
    """One knob, switch or setting of a unit.

    Attributes
    ----------
    name : str
        Key in the profile and in session settings (``threshold_db``).
    unit : str
        Physical unit ("dB", "ms", ":1", "" for a switch).
    min, max : float or None
        Physical range; for a table, the smallest and largest numeric entry
        (None when the table holds strings).
    law : {"linear", "log", "table", "centred"}
        See :mod:`host.midi.laws`.
    table : tuple of (float or str)
        Positions of a table law, lowest raw first.
    send : {"cc", "cc14", "nrpn", "program", "sysex", "manual"}
        How MIDI sets it (:mod:`host.midi.encode`); manual: by hand only.
    number : int or None
        CC number (MSB for cc14), NRPN number, or program bank; None for
        sysex and manual.
    sysex : str or None
        The SysEx template (the profile's ``sysex_template`` when the
        parameter gives only an ``address``).
    default : float or str or None
        Value of a fresh session / the unit's factory setting.
    label : str
        Recall-sheet label.
    detents : tuple of float
        Printed positions of a manual knob (may be empty).
    raw_min, raw_max : int
        Raw MIDI range the law spans (0, 0 for manual).
    centre : float
        Centre value of a centred law (else the middle of the range).
    raw_centre : int
        Raw value of ``centre`` (centred law).
    address : bytes or None
        SysEx address bytes.
    table_raw : tuple of int
        Raw value of each table entry as the unit's chart gives it (empty:
        equal division of the raw range).
    """

    name: str
    unit: str
    min: float | None
    max: float | None
    law: str
    table: tuple[float | str, ...]
    send: str
    number: int | None
    sysex: str | None
    default: float | str | None
    label: str
    detents: tuple[float, ...] = ()
    raw_min: int = 0
    raw_max: int = 127
    centre: float = 0.0
    raw_centre: int = 64
    address: bytes | None = None
    table_raw: tuple[int, ...] = ()
    notes: str = ""
    sysex_tokens: list[encode.Token] = field(default_factory=list, compare=False, repr=False)

    @property
    def manual(self) -> bool:
        return self.send == "manual"


@dataclass(frozen=True)
class DeviceProfile:
    """A unit's MIDI implementation, loaded from ``devices/<id>.toml``."""

    id: str
    maker: str
    model: str
    midi_channel: int
    pace_ms: float
    source: str
    parameters: dict[str, Parameter]
    dump_request: str | None
    path: Path
    bank_select: str = "cc0_cc32"
    sysex_template: str | None = None
    notes: str = ""

    def midi_parameters(self) -> list[Parameter]:
        """Parameters MIDI can set, in profile order."""
        return [p for p in self.parameters.values() if not p.manual]

    def manual_parameters(self) -> list[Parameter]:
        """Parameters set by hand (for the recall sheet), in profile order."""
        return [p for p in self.parameters.values() if p.manual]


class _Ctx:
    def __init__(self, path: Path):
        self.path = path

    def fail(self, key: str, msg: str) -> ConfigError:
        return ConfigError(f"{self.path}: {key}: {msg}")


def _int(ctx: _Ctx, key: str, v: Any, lo: int, hi: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise ctx.fail(key, f"expected an integer {lo}..{hi}, got {v!r}")
    return v


def _num(ctx: _Ctx, key: str, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, Real) or not math.isfinite(v):
        raise ctx.fail(key, f"expected a finite number, got {v!r}")
    return float(v)


def _str(ctx: _Ctx, key: str, v: Any, allow_empty: bool = False) -> str:
    if not isinstance(v, str) or (not allow_empty and not v.strip()):
        raise ctx.fail(key, f"expected {'a' if allow_empty else 'a non-empty'} string, "
                            f"got {v!r}")
    return v


def _hex_bytes(ctx: _Ctx, key: str, v: Any) -> bytes:
    text = _str(ctx, key, v)
    try:
        out = bytes(int(t, 16) for t in text.split())
    except ValueError:
        raise ctx.fail(key, f"expected hex bytes such as \"00 00 10\", got {v!r}") from None
    if any(b > 0x7F for b in out) or any(len(t) != 2 for t in text.split()):
        raise ctx.fail(key, f"expected 7-bit hex bytes 00..7F, got {v!r}")
    return out


def _parameter(ctx: _Ctx, name: str, d: Any, prof: dict[str, Any]) -> Parameter:
    k = f"parameters.{name}"
    if not isinstance(d, dict):
        raise ctx.fail(k, f"expected a table of keys, got {d!r}")
    for key in d:
        if key not in _PARAM_KEYS:
            raise ctx.fail(f"{k}.{key}", f"unknown key; expected one of {', '.join(_PARAM_KEYS)}")
    if "send" not in d:
        raise ctx.fail(f"{k}.send", f"missing; expected one of {', '.join(SENDS)}")
    send = d["send"]
    if send not in SENDS:
        raise ctx.fail(f"{k}.send", f"expected one of {', '.join(SENDS)}, got {send!r}")
    law = d.get("law", "table" if "table" in d else "linear")
    if law not in laws.LAWS:
        raise ctx.fail(f"{k}.law", f"expected one of {', '.join(laws.LAWS)}, got {law!r}")
    unit = _str(ctx, f"{k}.unit", d.get("unit", ""), allow_empty=True)
    label = _str(ctx, f"{k}.label", d.get("label", name))

    # how it is sent
    number = d.get("number")
    if send in ("cc", "cc14", "nrpn") and number is None:
        raise ctx.fail(f"{k}.number", f"missing; send = {send} needs a controller number")
    if send in ("sysex", "manual") and number is not None:
        raise ctx.fail(f"{k}.number", f"send = {send} takes no number")
    if send == "cc":
        number = _int(ctx, f"{k}.number", number, 0, 119)  # 120..127: channel mode
    elif send == "cc14":
        number = _int(ctx, f"{k}.number", number, 0, 31)   # LSB on number + 32
    elif send == "nrpn":
        number = _int(ctx, f"{k}.number", number, 0, 16383)
    elif send == "program":
        number = _int(ctx, f"{k}.number", 0 if number is None else number, 0, 16383)
    address = _hex_bytes(ctx, f"{k}.address", d["address"]) if "address" in d else None
    sysex = tokens = None
    if send == "sysex":
        sysex = d.get("sysex", prof.get("sysex_template"))
        if sysex is None:
            raise ctx.fail(f"{k}.sysex", "missing (and the profile has no sysex_template)")
        where = f"{k}.sysex" if "sysex" in d else "sysex_template"
        if address is None and isinstance(sysex, str) and "{address}" in sysex.split():
            raise ctx.fail(f"{k}.address", f"missing; expected hex bytes such as \"00 00 10\" "
                           f"for the {{address}} in {where}")
        try:
            tokens = encode.parse_template(sysex, address=address)
        except ValueError as exc:  # the template itself: name the key that holds it
            raise ctx.fail(where, str(exc)) from None
        full = encode.value_raw_max(tokens)
    elif "sysex" in d:
        raise ctx.fail(f"{k}.sysex", f"only for send = sysex, not {send}")
    else:
        full = _RAW_FULL.get(send, 0)
    if send == "manual":
        for key in ("raw_min", "raw_max", "raw_centre"):
            if key in d:
                raise ctx.fail(f"{k}.{key}", "a manual parameter has no raw MIDI range")
        raw_min, raw_max = 0, 0
    else:
        hi = full if send != "program" else 128 * 16384 - 1
        raw_min = _int(ctx, f"{k}.raw_min", d.get("raw_min", 0), 0, hi)
        raw_max = _int(ctx, f"{k}.raw_max", d.get("raw_max", full), 0, hi)
        if raw_max <= raw_min:
            raise ctx.fail(f"{k}.raw_max", f"must be greater than raw_min ({raw_min}), "
                                           f"got {raw_max}")
        if send == "program":  # what the bank select can carry (host.midi.encode)
            bank_select = prof.get("bank_select", "cc0_cc32")
            if bank_select == "none" and raw_max > 127:
                raise ctx.fail(f"{k}.raw_max", f"expected 0..127 with bank_select = \"none\" "
                                               f"(a program change alone), got {raw_max}")
            top, limit = number + raw_max // 128, 127 if bank_select == "cc0" else 16383
            if bank_select != "none" and top > limit:
                raise ctx.fail(f"{k}.number", f"bank {number} + raw_max {raw_max} // 128 = "
                                              f"{top}; expected at most {limit}, what "
                                              f"bank_select = {bank_select!r} sends")

    # the law and its range
    table: tuple[float | str, ...] = ()
    table_raw: tuple[int, ...] = ()
    centre = 0.0
    raw_centre = 0
    if law == "table":
        t = d.get("table")
        if not isinstance(t, list) or not t:
            raise ctx.fail(f"{k}.table", f"a table law needs a non-empty list, got {t!r}")
        for i, e in enumerate(t):
            if isinstance(e, bool) or not isinstance(e, (str, Real)) or (
                    isinstance(e, Real) and not math.isfinite(e)):
                raise ctx.fail(f"{k}.table[{i}]", f"expected a number or a string, got {e!r}")
        table = tuple(e if isinstance(e, str) else float(e) for e in t)
        if len(set(table)) != len(table):
            raise ctx.fail(f"{k}.table", "entries must be distinct")
        for key in ("min", "max", "centre", "raw_centre"):
            if key in d:
                raise ctx.fail(f"{k}.{key}", "a table law takes its range from the table")
        nums = [e for e in table if not isinstance(e, str)]
        lo = min(nums) if len(nums) == len(table) else None
        hi_v = max(nums) if len(nums) == len(table) else None
        if send != "manual" and raw_max - raw_min + 1 < len(table):
            raise ctx.fail(f"{k}.table", f"{len(table)} entries but only "
                                         f"{raw_max - raw_min + 1} raw values")
        if "table_raw" in d:
            tr = d["table_raw"]
            if send == "manual":
                raise ctx.fail(f"{k}.table_raw", "a manual parameter has no raw values")
            if (not isinstance(tr, list) or len(tr) != len(table)
                    or any(isinstance(r, bool) or not isinstance(r, int) for r in tr)
                    or tr[0] != raw_min or any(b <= a for a, b in zip(tr, tr[1:], strict=False))
                    or tr[-1] > raw_max):
                raise ctx.fail(f"{k}.table_raw", f"expected {len(table)} increasing integers "
                                                 f"from raw_min ({raw_min}) up to raw_max "
                                                 f"({raw_max}), got {tr!r}")
            table_raw = tuple(tr)
    else:
        for key in ("table", "table_raw"):
            if key in d:
                raise ctx.fail(f"{k}.{key}", f"only for law = table, not {law}")
        for key in ("min", "max"):
            if key not in d:
                raise ctx.fail(f"{k}.{key}", f"missing; law {law} needs a range")
        lo, hi_v = _num(ctx, f"{k}.min", d["min"]), _num(ctx, f"{k}.max", d["max"])
        if not lo < hi_v:
            raise ctx.fail(f"{k}.max", f"must be greater than min ({lo:g}), got {hi_v:g}")
        if law == "log" and lo <= 0:
            raise ctx.fail(f"{k}.min", f"a log law needs min > 0, got {lo:g}")
        if law == "centred":
            centre = _num(ctx, f"{k}.centre", d.get("centre", (lo + hi_v) / 2))
            if not lo < centre < hi_v:
                raise ctx.fail(f"{k}.centre", f"must lie inside min..max ({lo:g}..{hi_v:g}), "
                                              f"got {centre:g}")
            if send != "manual":
                dflt = raw_min + (raw_max - raw_min + 1) // 2
                raw_centre = _int(ctx, f"{k}.raw_centre", d.get("raw_centre", dflt),
                                  raw_min + 1, raw_max - 1)
        elif "centre" in d or "raw_centre" in d:
            raise ctx.fail(f"{k}.centre" if "centre" in d else f"{k}.raw_centre",
                           f"only for law = centred, not {law}")

    p = Parameter(name=name, unit=unit, min=lo, max=hi_v, law=law, table=table, send=send,
                  number=number, sysex=sysex, default=None, label=label, raw_min=raw_min,
                  raw_max=raw_max, centre=centre, raw_centre=raw_centre, address=address,
                  table_raw=table_raw,
                  notes=_str(ctx, f"{k}.notes", d.get("notes", ""), allow_empty=True),
                  sysex_tokens=tokens or [])
    if law == "centred" and send != "manual":
        step = laws.resolution(p, centre)
        top, bottom = laws.from_raw(p, raw_max), laws.from_raw(p, raw_min)
        tol = 1e-9 * (hi_v - lo)
        if not (top - tol <= hi_v <= top + step + tol):
            raise ctx.fail(f"{k}.max", f"the top raw value {raw_max} reads {top:g}; max must "
                                       f"be that or up to one step ({step:g}) above")
        if abs(bottom - lo) > tol:
            raise ctx.fail(f"{k}.min", f"raw {raw_min} reads {bottom:g}, not min {lo:g} "
                                       f"(check centre and raw_centre)")
    detents: tuple[float, ...] = ()
    if "detents" in d:
        dt = d["detents"]
        if not isinstance(dt, list):
            raise ctx.fail(f"{k}.detents", f"expected a list of values, got {dt!r}")
        try:
            detents = tuple(laws.check(p, v) for v in dt)  # type: ignore[misc]
        except ValueError as exc:
            raise ctx.fail(f"{k}.detents", str(exc)) from None
    default = None
    if "default" in d:
        try:
            default = laws.check(p, d["default"])
        except ValueError as exc:
            raise ctx.fail(f"{k}.default", str(exc)) from None
    return Parameter(**{**p.__dict__, "default": default, "detents": detents})


def profile_path(name_or_path: str | Path) -> Path:
    """The file of a profile: ``devices/NAME.toml`` for a profile id, else the path
    given (a ``.toml`` file, or anything with a ``/``)."""
    s = str(name_or_path)
    if s.endswith(".toml") or "/" in s or isinstance(name_or_path, Path):
        return Path(name_or_path)
    return DEVICES_DIR / f"{s}.toml"


def load_profile(name_or_path: str | Path) -> DeviceProfile:
    """Load a device profile.

    Parameters
    ----------
    name_or_path : str or Path
        A profile id (file stem in ``devices/``, e.g. ``"outboard_virtual_compressor"``)
        or the path of a ``.toml`` file.

    Raises
    ------
    ConfigError
        Not found (the message lists the shipped profiles), not TOML, or a key
        that does not validate (the message names the file and the key).
    """
    s = str(name_or_path)
    path = profile_path(name_or_path)
    if not path.is_file():
        raise ConfigError(f"device profile {s!r}: no file {path}; shipped profiles: "
                          f"{', '.join(list_profiles())}")
    ctx = _Ctx(path)
    d = load_toml(path)
    for key in d:
        if key not in _PROFILE_KEYS:
            raise ctx.fail(key, f"unknown key; expected one of {', '.join(_PROFILE_KEYS)}")
    for key in ("maker", "model", "source"):
        if key not in d:
            raise ctx.fail(key, "missing" + ("; cite the manual and section the MIDI "
                                             "implementation comes from" if key == "source"
                                             else ""))
    pid = _str(ctx, "id", d.get("id", path.stem))
    channel = _int(ctx, "midi_channel", d.get("midi_channel", 1), 1, 16)
    pace = d.get("pace_ms", 0.0)
    pace = _num(ctx, "pace_ms", pace)
    if not 0.0 <= pace <= 1000.0:
        raise ctx.fail("pace_ms", f"expected 0..1000 ms, got {pace:g}")
    bank_select = d.get("bank_select", "cc0_cc32")
    if bank_select not in BANK_SELECT:
        raise ctx.fail("bank_select", f"expected one of {', '.join(BANK_SELECT)}, "
                                      f"got {bank_select!r}")
    tmpl = d.get("sysex_template")
    if tmpl is not None:
        _str(ctx, "sysex_template", tmpl)
    dump = d.get("dump_request")
    if dump is not None:
        try:
            encode.parse_template(_str(ctx, "dump_request", dump), want_value=False)
        except ValueError as exc:
            raise ctx.fail("dump_request", str(exc)) from None
    params = d.get("parameters")
    if not isinstance(params, dict) or not params:
        raise ctx.fail("parameters", "expected at least one [parameters.NAME] table")
    parameters = {name: _parameter(ctx, name, pd, d) for name, pd in params.items()}
    return DeviceProfile(id=pid, maker=_str(ctx, "maker", d["maker"]),
                         model=_str(ctx, "model", d["model"]), midi_channel=channel,
                         pace_ms=pace, source=_str(ctx, "source", d["source"]),
                         parameters=parameters, dump_request=dump, path=path,
                         bank_select=bank_select, sysex_template=tmpl,
                         notes=_str(ctx, "notes", d.get("notes", ""), allow_empty=True))


def list_profiles() -> list[str]:
    """Ids of the shipped profiles (``devices/*.toml``), sorted."""
    return sorted(p.stem for p in DEVICES_DIR.glob("*.toml"))
