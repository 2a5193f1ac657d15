"""Recall: put a session's outboard gear back where it was, over MIDI.

A hardware insert of a session names its unit's profile (``devices/*.toml``),
the JACK MIDI port and channel, and every knob in physical units::

    [[chain]]
    kind = "hardware"
    name = "varimu"
    ...
    midi = { profile = "outboard_virtual_compressor", port = "gear-varimu:midi_in", channel = 1 }
    settings = { threshold_db = -20.0, ratio = 2.0, attack_ms = 20.0 }
    snapshots = { A = { ratio = 4.0 }, B = { threshold_db = -30.0 } }

``midi`` keys: ``profile`` (a name in devices/ or a path; required), ``port``
(the unit's MIDI input: full JACK port name or a part matching exactly one
port; without it the unit's MIDI parameters cannot be sent and the recall of
that unit fails), ``channel`` (1..16, default the profile's), ``input``
(optional: the port the unit's SysEx dump replies come from, for
``--verify``; default: for a port ``CLIENT:midi_in``, ``CLIENT:midi_out``,
the virtual gear's convention).  ``settings``: every key a parameter of the
profile, its value in the parameter's range (or a position of a table law);
manual parameters are allowed (they go on the recall sheet).
``snapshots``: named tables of the same form, overriding ``settings``.
Everything is checked when the session loads (:func:`check_insert_midi`,
called by host.model.config); an error names the insert, the key and the range.

What is sent, per unit (:func:`plan`): every MIDI parameter of the profile
that has a value, from the snapshot, else ``settings``, else the profile's
``default``, in profile order, each as :func:`host.midi.encode.messages`
makes it (14-bit MSB then LSB, NRPN 99/98/6/38, bank + program, SysEx).
Parameters with no value anywhere are listed as ``unset`` (left as they are);
manual parameters are listed as "set by hand".

Sending (:func:`send`): per unit, open the port (a missing port is a one-line
error listing the ports that exist; the other units are still recalled), then
send every message with at least ``pace_ms`` between messages on the wire (the
profile's, or the caller's override; older gear drops bursts), counted in JACK
frames by :class:`host.midi.ports.MidiOutput`, so at any period size.  A unit whose port disappears
while its messages go out is reported as not recalled.  :func:`verify` asks
each unit whose profile has a dump request for its state and lists every
parameter that differs from the plan by more than its law's resolution.

:func:`recall_session` is what ``outboard run`` and ``outboard recall`` call.
Not real-time code: it runs in the control thread, before or beside a stream.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from host.errors import OutboardError
from host.midi import encode, laws
from host.midi.ports import MidiInput, MidiOutput, find_port, midi_destinations
from host.midi.profiles import list_profiles, load_profile

MIDI_KEYS = ("profile", "port", "channel", "input")
#: how long --verify waits for a dump reply, s, and how many times it asks (a request
#: or reply can be lost: a JACK client that is late for a cycle misses its MIDI)
DUMP_TIMEOUT_S = 1.0
DUMP_ATTEMPTS = 3


class MidiKeyError(ValueError):
    """A bad ``midi`` / ``settings`` / ``snapshots`` key: ``key`` (path below the
    insert, e.g. ``settings.ratio``) and ``message``."""

    def __init__(self, key: str, message: str):
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message


def _say(msg: str) -> None:
    print(f"outboard: {msg}", file=sys.stderr)


# ---- the session keys ---------------------------------------------------------------------


@dataclass
class UnitMidi:
    """The validated MIDI keys of one hardware insert."""

    insert: str
    profile: Any                      # host.midi.profiles.DeviceProfile
    port: str | None
    channel: int
    input: str | None
    settings: dict[str, float | str]
    snapshots: dict[str, dict[str, float | str]]

    def values(self, snapshot: str | None = None) -> dict[str, float | str]:
        """Settings with ``snapshot``'s overrides (OutboardError naming the snapshots
        this insert has when it has no such one)."""
        out = dict(self.settings)
        if snapshot is not None:
            if snapshot not in self.snapshots:
                have = ", ".join(self.snapshots) or "none"
                raise OutboardError(f"insert {self.insert}: no snapshot {snapshot!r} "
                                    f"(snapshots: {have})")
            out.update(self.snapshots[snapshot])
        return out

    def quantised(self) -> list[tuple[str, str]]:
        """(key below the insert, one-line note) for every value of ``settings``
        and ``snapshots`` that the unit gets otherwise than written
        (:func:`host.midi.laws.quantised`): ``("settings.comp_level_db",
        "3.3 dB asked; the unit gets 3.5 dB (0.5 dB steps)")``."""
        out = []
        tables = [("settings", self.settings)] + [(f"snapshots.{n}", t)
                                                  for n, t in self.snapshots.items()]
        for prefix, table in tables:
            for name, v in table.items():
                p = self.profile.parameters[name]
                got = laws.quantised(p, v)
                if got is not None:
                    unit = f" {p.unit}" if p.unit and not p.unit.startswith(":") else p.unit
                    step = laws.resolution(p, v)
                    here = " here" if p.law == "log" else ""
                    out.append((f"{prefix}.{name}", f"{v:g}{unit} asked; the unit gets "
                                f"{got:.4g}{unit} ({step:.3g}{unit} steps{here})"))
        return out


def _check_values(insert: str, profile: Any, prefix: str, table: Any) -> dict[str, float | str]:
    if not isinstance(table, Mapping):
        raise MidiKeyError(prefix, f"insert {insert!r}: expected a table of parameter = "
                           f"value, got {table!r}")
    out: dict[str, float | str] = {}
    for k, v in table.items():
        p = profile.parameters.get(k)
        if p is None:
            raise MidiKeyError(f"{prefix}.{k}", f"insert {insert!r}: not a parameter of profile "
                               f"{profile.id!r} (expected one of "
                               f"{', '.join(profile.parameters)})")
        try:
            out[k] = laws.check(p, v)
        except ValueError as exc:
            raise MidiKeyError(f"{prefix}.{k}", f"insert {insert!r}: {exc}") from None
    return out


def check_insert_midi(insert: str, params: Mapping[str, Any]) -> UnitMidi | None:
    """Validate the ``midi``, ``settings`` and ``snapshots`` keys of a hardware
    insert's parameters (loads the profile).  None when the insert has no
    ``midi`` key.  Raises :class:`MidiKeyError` (key path below the insert)."""
    midi = params.get("midi")
    if midi is None:
        for k in ("settings", "snapshots"):
            if params.get(k) is not None:
                raise MidiKeyError(k, f"insert {insert!r}: needs midi = {{ profile = ... }} "
                                   "(the profile gives the parameters and their ranges)")
        return None
    if not isinstance(midi, Mapping):
        raise MidiKeyError("midi", f"expected a table {{ profile, port, channel }}, got {midi!r}")
    for k in midi:
        if k not in MIDI_KEYS:
            raise MidiKeyError(f"midi.{k}", f"unknown key (expected one of "
                               f"{', '.join(MIDI_KEYS)})")
    name = midi.get("profile")
    if not isinstance(name, str) or not name:
        raise MidiKeyError("midi.profile", "missing; expected a profile name (a file stem in "
                           "devices/) or a path")

    try:
        profile = load_profile(name)
    except OutboardError as exc:
        raise MidiKeyError("midi.profile", f"insert {insert!r}: {exc}") from None
    except (FileNotFoundError, KeyError, ValueError) as exc:
        have = ", ".join(list_profiles()) or "none"
        raise MidiKeyError("midi.profile", f"insert {insert!r}: cannot load {name!r} ({exc}); "
                           f"profiles: {have}") from None
    for k in ("port", "input"):
        v = midi.get(k)
        if v is not None and (not isinstance(v, str) or not v.strip()):
            raise MidiKeyError(f"midi.{k}", f"expected a JACK MIDI port name (or a unique "
                               f"part of it), got {v!r}")
    ch = midi.get("channel", profile.midi_channel)
    if isinstance(ch, bool) or not isinstance(ch, int) or not 1 <= ch <= 16:
        raise MidiKeyError("midi.channel", f"expected an integer 1..16, got {ch!r}")
    settings = _check_values(insert, profile, "settings", params.get("settings") or {})
    snaps_raw = params.get("snapshots") or {}
    if not isinstance(snaps_raw, Mapping):
        raise MidiKeyError("snapshots", f"expected a table of NAME = {{ parameter = value }}, "
                           f"got {snaps_raw!r}")
    snapshots = {str(n): _check_values(insert, profile, f"snapshots.{n}", t)
                 for n, t in snaps_raw.items()}
    return UnitMidi(insert, profile, midi.get("port"), ch, midi.get("input"), settings,
                    snapshots)


def units(session: Any) -> list[UnitMidi]:
    """The MIDI units of a session's hardware inserts, in chain order."""
    out = []
    for ins in session.chain.inserts:
        if ins.kind == "hardware" and ins.params.get("midi") is not None:
            try:
                u = check_insert_midi(ins.name, ins.params)
            except MidiKeyError as exc:
                raise OutboardError(f"{session.path}: insert {ins.name}: {exc}") from None
            if u is not None:
                out.append(u)
    return out


# ---- the plan ----------------------------------------------------------------------------


@dataclass
class Step:
    """One parameter of a unit's recall."""

    name: str
    value: float | str
    unit: str
    send: str
    raw: int | None
    messages: list[bytes]
    resolution: float

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "unit": self.unit, "send": self.send,
                "raw": self.raw, "resolution": self.resolution,
                "bytes": [m.hex(" ") for m in self.messages]}


@dataclass
class UnitPlan:
    """What recall sends to one unit."""

    insert: str
    profile: str
    port: str | None
    input: str | None
    channel: int
    pace_ms: float
    steps: list[Step]
    manual: list[dict[str, Any]]
    unset: list[str]
    dump_request: bytes | None
    midi: UnitMidi = field(repr=False)

    @property
    def messages(self) -> list[bytes]:
        return [m for s in self.steps for m in s.messages]

    def to_dict(self) -> dict[str, Any]:
        return {"insert": self.insert, "profile": self.profile, "port": self.port,
                "channel": self.channel, "pace_ms": self.pace_ms,
                "parameters": [s.to_dict() for s in self.steps], "manual": self.manual,
                "unset": self.unset,
                "dump_request": None if self.dump_request is None else
                self.dump_request.hex(" ")}


def plan_unit(u: UnitMidi, snapshot: str | None = None,
              pace_ms: float | None = None) -> UnitPlan:
    """The recall plan of one unit (see the module docstring)."""

    values = u.values(snapshot)
    steps, manual, unset = [], [], []
    prof = u.profile
    for name, p in prof.parameters.items():
        v = values.get(name, p.default)
        if p.send == "manual":
            manual.append({"name": name, "value": v, "unit": p.unit,
                           "label": getattr(p, "label", None) or name,
                           "note": "set by hand (see the recall sheet)"})
            continue
        if v is None:
            unset.append(name)
            continue
        v = laws.check(p, v)
        steps.append(Step(name, v, p.unit, p.send, laws.to_raw(p, v),
                          [bytes(m) for m in encode.messages(prof, name, v, u.channel)],
                          laws.resolution(p, v)))
    req = encode.dump_request(prof, u.channel)
    return UnitPlan(u.insert, prof.id, u.port, u.input, u.channel,
                    float(prof.pace_ms if pace_ms is None else pace_ms), steps, manual, unset,
                    None if req is None else bytes(req), u)


def plan(session: Any, snapshot: str | None = None,
         pace_ms: float | None = None) -> list[UnitPlan]:
    """Every MIDI unit's plan.  A ``snapshot`` must exist in at least one unit;
    units without it recall their ``settings``."""
    us = units(session)
    if snapshot is not None and us and not any(snapshot in u.snapshots for u in us):
        have = sorted({n for u in us for n in u.snapshots})
        raise OutboardError(f"{session.path}: no hardware insert has a snapshot {snapshot!r} "
                            f"(snapshots: {', '.join(have) or 'none'})")
    if pace_ms is not None and (not math.isfinite(pace_ms) or not 0 <= pace_ms <= 1000):
        raise ValueError(f"pace_ms: expected 0..1000 ms, got {pace_ms!r}")
    return [plan_unit(u, snapshot if snapshot in u.snapshots else None, pace_ms) for u in us]


def dry_run_text(plans: list[UnitPlan]) -> str:
    """The exact bytes per unit, hex, one message per line."""
    lines = []
    for p in plans:
        lines.append(f"[{p.insert}] profile {p.profile}, port {p.port or '(none)'}, "
                     f"channel {p.channel}, {len(p.messages)} messages, {p.pace_ms:g} ms apart")
        for s in p.steps:
            v = s.value if isinstance(s.value, str) else f"{s.value:g}"
            got = laws.quantised(p.midi.profile.parameters[s.name], s.value)
            gets = "" if got is None else f", the unit gets {got:.4g}"
            lines.append(f"  {s.name} = {v} {s.unit} ({s.send}, raw {s.raw}{gets}): "
                         + " | ".join(m.hex(" ") for m in s.messages))
        for m in p.manual:
            v = m["value"]
            shown = "(no value)" if v is None else (v if isinstance(v, str) else f"{v:g}")
            lines.append(f"  {m['name']} = {shown} {m['unit']}: set by hand (recall sheet)")
        if p.unset:
            lines.append(f"  not in the session (left as they are): {', '.join(p.unset)}")
    return "\n".join(lines)


# ---- sending and verifying ------------------------------------------------------------------


@dataclass
class UnitResult:
    """How the recall of one unit went."""

    insert: str
    port: str | None
    recalled: bool
    sent: int = 0
    error: str | None = None
    manual: list[str] = field(default_factory=list)
    verified: bool | None = None          # None: not asked or not possible
    differences: list[dict[str, Any]] = field(default_factory=list)
    verify_note: str | None = None
    unchecked: list[str] = field(default_factory=list)   # MIDI parameters a dump lacks

    def to_dict(self) -> dict[str, Any]:
        return {"insert": self.insert, "port": self.port, "recalled": self.recalled,
                "sent": self.sent, "error": self.error, "manual": self.manual,
                "verified": self.verified, "differences": self.differences,
                "verify_note": self.verify_note, "unchecked": self.unchecked}


@dataclass
class RecallReport:
    """The outcome of a recall: one :class:`UnitResult` per MIDI unit."""

    snapshot: str | None
    units: list[UnitResult]
    plans: list[UnitPlan] = field(default_factory=list, repr=False)
    verify_only: bool = False             # verify_session: nothing was sent

    @property
    def ok(self) -> bool:
        """Every unit recalled (and, where verified, nothing differs)."""
        return all(u.recalled and u.verified is not False for u in self.units)

    @property
    def recalled(self) -> list[str]:
        return [u.insert for u in self.units if u.recalled]

    @property
    def failed(self) -> list[str]:
        return [u.insert for u in self.units if not u.recalled]

    def to_dict(self) -> dict[str, Any]:
        return {"snapshot": self.snapshot, "ok": self.ok, "recalled": self.recalled,
                "not_recalled": self.failed, "units": [u.to_dict() for u in self.units],
                "plans": [p.to_dict() for p in self.plans]}

    def text(self) -> str:
        lines = []
        for u in self.units:
            if u.recalled and self.verify_only:
                lines.append(f"{u.insert}: read back from {u.port} (nothing sent)")
            elif u.recalled:
                lines.append(f"{u.insert}: recalled ({u.sent} messages to {u.port})")
            else:
                lines.append(f"{u.insert}: NOT recalled: {u.error}")
            if u.manual:
                lines.append(f"{u.insert}: set by hand (see the recall sheet): "
                             f"{', '.join(u.manual)}")
            if u.verified is True:
                lines.append(f"{u.insert}: verified, every parameter in the dump as recalled")
            elif u.verified is False:
                for d in u.differences:
                    lines.append(f"{u.insert}: {d['name']} differs: unit reports {d['got']}, "
                                 f"session {d['want']} {d['unit']} (resolution "
                                 f"{d['resolution']:g})")
            if u.verified is not None and u.unchecked:
                lines.append(f"{u.insert}: not in the unit's dump (not verified): "
                             f"{', '.join(u.unchecked)}")
            if u.verify_note:
                lines.append(f"{u.insert}: {u.verify_note}")
        lines.append(f"recalled: {', '.join(self.recalled) or 'none'}; not recalled: "
                     f"{', '.join(self.failed) or 'none'}")
        return "\n".join(lines)


def send_unit(p: UnitPlan, say: Callable[[str], None] = _say) -> UnitResult:
    """Open the unit's port, send its messages paced, close.  Never raises for a
    missing or vanishing port: the result says so (``error``), once, in the
    report's text; ``say`` is not told again."""

    res = UnitResult(p.insert, p.port, False, manual=[m["name"] for m in p.manual])
    msgs = p.messages
    if not msgs:
        res.recalled = True
        return res
    if p.port is None:
        res.error = "no midi.port in the session"
        return res
    try:
        out = MidiOutput.open(p.port, pace_ms=p.pace_ms)
    except OutboardError as exc:
        res.error = str(exc)
        return res
    with out:
        res.port = out.destination
        try:
            for m in msgs:              # paced in JACK frames by the output
                out.send(m)
                res.sent += 1
            out.flush()
        except OutboardError as exc:
            res.error = str(exc)
            return res
        if not out.present():
            res.error = f"port {out.destination} vanished during the recall"
            return res
    res.recalled = True
    return res


def _reply_port(p: UnitPlan, destination: str | None) -> str | None:
    if p.input:
        return p.input
    if destination and destination.endswith(":midi_in"):
        return destination[:-len("midi_in")] + "midi_out"
    return None


def verify_unit(p: UnitPlan, res: UnitResult, timeout_s: float = DUMP_TIMEOUT_S) -> None:
    """Ask the unit for its state (dump request) and fill ``res.verified`` and
    ``res.differences`` (beyond each law's resolution)."""

    if p.dump_request is None:
        res.verify_note = f"profile {p.profile} has no dump request; not verified"
        return
    src = _reply_port(p, res.port)
    if src is None:
        res.verify_note = "no midi.input port for the dump reply; not verified"
        return
    # what a dump carries: the SysEx parameters (host.midi.encode.parse_dump)
    want = {s.name: s for s in p.steps if s.send == "sysex"}
    res.unchecked = [s.name for s in p.steps if s.send != "sysex"]
    if not want:
        res.verify_note = f"profile {p.profile}'s dump carries no parameter sent; not verified"
        return

    def parsed(data: list[bytes]) -> dict[str, Any] | None:
        try:
            got = encode.parse_dump(p.midi.profile, b"".join(data))
        except ValueError:
            return None
        return got if got and set(want) <= set(got) else None

    try:
        with MidiInput.open(src) as inp, MidiOutput.open(res.port or p.port or "",
                                                         pace_ms=p.pace_ms) as out:
            time.sleep(0.05)  # both connections made before the request goes out
            inp.drain()
            for _ in range(DUMP_ATTEMPTS):
                out.send(p.dump_request)
                out.flush()
                data = inp.receive(timeout_s, until=lambda d: parsed(d) is not None)
                if parsed(data) is not None:
                    break
    except OutboardError as exc:
        res.verified = False
        res.verify_note = f"cannot verify: {exc}"
        return
    got = parsed(data)
    if got is None:
        res.verified = False
        res.verify_note = (f"no complete dump reply from {src} to {DUMP_ATTEMPTS} requests, "
                           f"{timeout_s:g} s each ({len(data)} messages to the last)")
        return
    for name, s in want.items():
        g = got[name]
        if isinstance(s.value, str) or isinstance(g, str):
            bad = g != s.value
        else:
            bad = abs(float(g) - float(s.value)) > s.resolution * (1 + 1e-9) + 1e-12
        if bad:
            res.differences.append({"name": name, "want": s.value, "got": g, "unit": s.unit,
                                    "resolution": s.resolution})
    res.verified = not res.differences


def send(plans: list[UnitPlan], say: Callable[[str], None] = _say, verify: bool = False,
         snapshot: str | None = None) -> RecallReport:
    """Recall every unit in turn (see the module docstring); never stops at a
    failed unit."""
    report = RecallReport(snapshot, [], plans)
    for p in plans:
        say(f"insert {p.insert}: recalling {len(p.messages)} messages on "
            f"{p.port or '(no port)'}, channel {p.channel}")
        res = send_unit(p, say)
        if verify and res.recalled:
            verify_unit(p, res)
        report.units.append(res)
        say(f"insert {p.insert}: {'recalled' if res.recalled else 'not recalled'}")
    return report


def verify_session(session: Any, snapshot: str | None = None,
                   say: Callable[[str], None] = _say) -> RecallReport:
    """Read every unit back without sending its settings (a check only)."""
    plans = plan(session, snapshot)
    report = RecallReport(snapshot, [], plans, verify_only=True)
    for p in plans:
        res = UnitResult(p.insert, p.port, True, manual=[m["name"] for m in p.manual])
        if p.port is not None:
            try:
                res.port = midi_destinations()[find_port(p.port, midi_destinations())]
            except OutboardError as exc:
                res.recalled, res.error = False, str(exc)
        if res.recalled:
            verify_unit(p, res)
        report.units.append(res)
    return report


def recall_session(session: Any, snapshot: str | None = None,
                   say: Callable[[str], None] = _say, *, pace_ms: float | None = None,
                   verify: bool = False) -> RecallReport:
    """Recall a loaded session's MIDI gear (what ``outboard run`` calls on start).

    The JACK server and the units (virtual gear included) must already be up:
    inside a :class:`host.live.stream.SessionStream`, call it after entering.

    Returns
    -------
    RecallReport
        ``.ok`` false when a unit was not recalled (missing or vanishing
        port) or, with ``verify``, differs; ``.text()`` is the summary.
    """
    return send(plan(session, snapshot, pace_ms), say=say, verify=verify, snapshot=snapshot)
