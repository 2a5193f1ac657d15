"""Session files (TOML): which interface, which channels, which chain.

A session says where the program comes from and goes to on a real (or the
embedded) audio interface, and the chain of inserts in between::

    [interface]
    device = "system"        # PortAudio device: exact name, or a unique part of it
    hostapi = "JACK"         # optional: unique part of the host API name
    sample_rate = 48000      # Hz, 8000..384000
    block_size = 128         # frames, 16..8192 (under JACK the server's period decides)
    latency = "low"          # optional: "low" | "high" | seconds, 0.0001..1
    embedded_jack = true     # optional (default false): start the embedded JACK server

    [program]
    inputs = [1, 2]          # interface inputs carrying the program, 1-based
    outputs = [1, 2]         # interface outputs for the processed program
    monitor = [7, 8]         # optional: a copy of the program output
    stem_lengths = "error"   # optional: "error" | "pad" (stems of different lengths, host.stems)

    [[chain]]                # inserts, exactly as in chain files (host.config)
    kind = "eq"
    bands = [{ type = "highpass", freq_hz = 25.0 }]

    [[stems]]                # optional: stems instead of one mix (host.stems)
    name = "drums"           # unique, non-empty
    file = "stems/drums.wav" # relative to the session file's folder; not opened at load
    gain_db = -1.5           # dB, -60..24 (default 0)
    pan = 0.0                # balance -1 (left) .. +1 (right), constant power (default 0)
    mute = false             # optional
    chain = [{ kind = "compressor", threshold_db = -20.0, ratio = 2.0 }]  # software only

    [release]                # optional: the print and the deliverables (host.deliverables)
    print = "song.print.wav" # where `outboard print` writes, `outboard deliver` reads
    folder = "deliverables"
    presets = ["streaming", "cd", "vinyl"]

Three steps, each failing with one line (``ConfigError``) that starts with the
file and names the key path and what was expected:

1. ``load_session(path)`` checks the file alone: types, ranges, unknown keys
   (with did-you-mean hints), channel lists, and the chain.
2. ``ensure_studio(session)`` starts the embedded JACK server when the session
   asks for it and none runs, or checks the running server's rate and period.
3. ``resolve_device(session)`` checks the session against what PortAudio
   reports: the device, its channel counts, and the sample rate.

None of this is real-time code: it runs before any stream opens.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from host.config import (
    ChainConfig,
    Param,
    _check_table,
    _Ctx,
    load_toml,
    parse_chain,
    unknown_key,
)
from host.errors import OutboardError
from host.deliverables import Release, parse_release
from host.stems import STEM_LENGTHS, StemConfig, parse_stems

if TYPE_CHECKING:
    from host.sim.jack_server import JackServer

#: highest channel number a session may name (1-based); real interfaces stay far below
MAX_CHANNEL = 256
#: most program channels (inputs, and as many outputs)
MAX_PROGRAM_CHANNELS = 8
#: fewest system ports the embedded JACK server gets (the test studio's 8 in / 8 out)
MIN_STUDIO_PORTS = 8
#: latency as a number: seconds, this range
LATENCY_S = (0.0001, 1.0)
#: PortAudio's name of the JACK host API
JACK_HOSTAPI = "JACK Audio Connection Kit"

INTERFACE: dict[str, Param] = {
    "device": Param("str", required=True),
    "hostapi": Param("str"),
    "sample_rate": Param("int", 8000, 384000, "Hz", required=True),
    "block_size": Param("int", 16, 8192, "frames", required=True),
    "latency": Param("str"),          # checked by _check_latency ("low" | "high" | seconds)
    "embedded_jack": Param("bool", default=False),
}
PROGRAM_KEYS = ("inputs", "outputs", "monitor", "stem_lengths")
TOP_KEYS = ("interface", "program", "chain", "latency", "stems", "release")
#: [latency]: how hardware inserts get their round trip (see host.inserts)
LATENCY: dict[str, Param] = {
    "measure_at_start": Param("bool", default=False),   # a quiet pre-roll ping every stream
    "on_stale": Param("choice", choices=("remeasure", "refuse"), default="remeasure"),
}


class StudioWarning(UserWarning):
    """Something the user should know but that does not stop the session
    (the running JACK server's period differs from ``interface.block_size``)."""


@dataclass(frozen=True)
class InterfaceConfig:
    """The ``[interface]`` table.

    Attributes
    ----------
    device : str
        PortAudio device name, or a unique case-insensitive part of it.
    hostapi : str or None
        Unique case-insensitive part of the host API name (``"JACK"``, ``"ALSA"``).
    sample_rate : int
        Hz, 8000..384000.
    block_size : int
        Frames per block, 16..8192 (under JACK the server's period decides).
    latency : str or float
        ``"low"``, ``"high"`` or seconds (0.0001..1), as PortAudio takes it.
    embedded_jack : bool
        Start the embedded JACK server (host.sim) if no JACK server runs.
    """

    device: str
    sample_rate: int
    block_size: int
    hostapi: str | None = None
    latency: str | float = "low"
    embedded_jack: bool = False


@dataclass(frozen=True)
class ProgramConfig:
    """The ``[program]`` table: interface channels, 1-based, as printed on it.

    Attributes
    ----------
    inputs : tuple of int
        Input channels carrying the program (1..8 of them).
    outputs : tuple of int
        Output channels for the processed program (as many as ``inputs``).
    monitor : tuple of int
        Output channels for a copy of the program output (empty, or as many as
        ``outputs``, none of them in ``outputs``).
    stem_lengths : str
        ``"error"`` (default) or ``"pad"``: what host.stems does with stems of
        different lengths (pad: silence at the end of the shorter ones).
    """

    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    monitor: tuple[int, ...] = ()
    stem_lengths: str = "error"

    @property
    def highest_input(self) -> int:
        return max(self.inputs)

    @property
    def highest_output(self) -> int:
        return max(self.outputs + self.monitor)


@dataclass
class Session:
    """A validated session file."""

    path: Path
    interface: InterfaceConfig
    program: ProgramConfig
    chain: ChainConfig
    latency: dict[str, Any] = field(default_factory=lambda: {"measure_at_start": False,
                                                             "on_stale": "remeasure"})
    stems: list[StemConfig] = field(default_factory=list)   # [[stems]] (host.stems)
    release: Release | None = None   # [release]: print file, deliverables (host.deliverables)


@dataclass(frozen=True)
class ResolvedDevice:
    """The PortAudio device a session names, as PortAudio reports it.

    Attributes
    ----------
    index : int
        PortAudio device index (what sounddevice's ``device=`` takes).
    name : str
        Full device name.
    hostapi : str
        Full host API name (``"JACK Audio Connection Kit"``, ``"ALSA"``).
    max_input_channels, max_output_channels : int
        Channel counts of the device.
    default_samplerate : float
        Hz.
    """

    index: int
    name: str
    hostapi: str
    max_input_channels: int
    max_output_channels: int
    default_samplerate: float


# --------------------------------------------------------------------------- file


def _check_latency(ctx: _Ctx, v: Any) -> str | float:
    lo, hi = LATENCY_S
    if v in ("low", "high"):
        return v
    if isinstance(v, int | float) and not isinstance(v, bool) and lo <= v <= hi:
        return float(v)
    raise ctx.fail("interface.latency", f"expected 'low', 'high' or a number {lo}..{hi:g} s, "
                   f"got {v!r}")


def _check_channels(ctx: _Ctx, key: str, v: Any) -> tuple[int, ...]:
    if not isinstance(v, list):
        raise ctx.fail(key, f"expected an array of channel numbers like [1, 2], got {v!r}")
    seen: dict[int, int] = {}
    for i, ch in enumerate(v):
        if isinstance(ch, bool) or not isinstance(ch, int) or not 1 <= ch <= MAX_CHANNEL:
            raise ctx.fail(f"{key}[{i}]", f"expected a channel number 1..{MAX_CHANNEL} "
                           f"(1-based, as printed on the interface), got {ch!r}")
        if ch in seen:
            raise ctx.fail(f"{key}[{i}]", f"channel {ch} is listed twice (also {key}"
                           f"[{seen[ch]}]); expected distinct channels")
        seen[ch] = i
    return tuple(v)


def _check_program(ctx: _Ctx, raw: Any) -> ProgramConfig:
    if not isinstance(raw, dict):
        raise ctx.fail("program", f"expected a table [program], got {raw!r}")
    for k in raw:
        if k not in PROGRAM_KEYS:
            raise unknown_key(ctx, "program", k, PROGRAM_KEYS)
    for k in ("inputs", "outputs"):
        if k not in raw:
            raise ctx.fail(f"program.{k}", "missing; expected an array of channel numbers "
                           "like [1, 2]")
    ins = _check_channels(ctx, "program.inputs", raw["inputs"])
    outs = _check_channels(ctx, "program.outputs", raw["outputs"])
    mon = _check_channels(ctx, "program.monitor", raw.get("monitor", []))
    if not 1 <= len(ins) <= MAX_PROGRAM_CHANNELS:
        raise ctx.fail("program.inputs", f"expected 1..{MAX_PROGRAM_CHANNELS} channels, "
                       f"got {len(ins)}")
    if len(outs) != len(ins):
        raise ctx.fail("program.outputs", f"expected as many channels as program.inputs "
                       f"({len(ins)}), got {len(outs)}")
    if mon and len(mon) != len(outs):
        raise ctx.fail("program.monitor", f"expected as many channels as program.outputs "
                       f"({len(outs)}) or none, got {len(mon)}")
    for i, ch in enumerate(mon):
        if ch in outs:
            raise ctx.fail(f"program.monitor[{i}]", f"output {ch} is also in program.outputs; "
                           "expected monitor outputs distinct from the program outputs")
    stem_lengths = raw.get("stem_lengths", "error")
    if stem_lengths not in STEM_LENGTHS:
        raise ctx.fail("program.stem_lengths", "expected one of "
                       f"{', '.join(map(repr, STEM_LENGTHS))}, got {stem_lengths!r}")
    return ProgramConfig(ins, outs, mon, stem_lengths)


def parse_session(data: dict[str, Any], source: str = "<session>") -> Session:
    """Validate a parsed session table; raises ConfigError naming ``source`` and the key."""
    ctx = _Ctx(source)
    for k in data:
        if k not in TOP_KEYS:
            raise unknown_key(ctx, "", k, TOP_KEYS)
    for k in ("interface", "program"):
        if k not in data:
            raise ctx.fail(k, f"missing; expected a table [{k}]")
    raw_if = data["interface"]
    if not isinstance(raw_if, dict):
        raise ctx.fail("interface", f"expected a table [interface], got {raw_if!r}")
    iface = _check_table(ctx, "interface", {k: v for k, v in raw_if.items() if k != "latency"},
                         INTERFACE)
    latency = _check_latency(ctx, raw_if["latency"]) if "latency" in raw_if else "low"
    for k in ("device", "hostapi"):
        if k in iface and not iface[k].strip():
            raise ctx.fail(f"interface.{k}", "expected a non-empty string")
    interface = InterfaceConfig(device=iface["device"], sample_rate=iface["sample_rate"],
                                block_size=iface["block_size"], hostapi=iface.get("hostapi"),
                                latency=latency, embedded_jack=iface["embedded_jack"])
    program = _check_program(ctx, data["program"])
    chain = parse_chain({"chain": data["chain"]} if "chain" in data else {}, source)
    latency = _check_table(ctx, "latency", data.get("latency", {}), LATENCY)
    stems = parse_stems(data.get("stems", []), source, len(program.inputs))
    release = parse_release(ctx, data.get("release"), Path(source).parent)
    return Session(Path(source), interface, program, chain, latency, stems=stems,
                   release=release)


def load_session(path: str | Path) -> Session:
    """Read and validate a session file (the file alone; no device is opened).

    Raises
    ------
    ConfigError
        One line: the file, the key path (``program.inputs[1]``) and what was
        expected.
    """
    session = parse_session(load_toml(path), str(path))
    session.path = Path(path)
    session.chain.path = Path(path)
    return session


# ------------------------------------------------------------------------ devices


def load_sounddevice():
    """The sounddevice module; OutboardError (one line) if PortAudio is missing."""
    try:
        import sounddevice
    except OSError as exc:  # libportaudio missing
        raise OutboardError(f"PortAudio: cannot load ({exc}); install Debian's "
                            "libportaudio2 (make setup does)") from None
    return sounddevice


def short_hostapi(name: str) -> str:
    """``"JACK Audio Connection Kit"`` -> ``"JACK"``; other names unchanged."""
    return "JACK" if name == JACK_HOSTAPI else name


def _is_jack(hostapi: str | None) -> bool:
    """True if a session's ``hostapi`` part names PortAudio's JACK host API."""
    return hostapi is not None and hostapi.strip().lower() in JACK_HOSTAPI.lower()


def _pick(part: str, names: list[str]) -> list[int]:
    """Indices of ``names`` matching ``part``: exact (case-insensitive) matches
    if any, else the names containing it."""
    p = part.strip().lower()
    exact = [i for i, n in enumerate(names) if n.lower() == p]
    return exact or [i for i, n in enumerate(names) if p in n.lower()]


def _describe(devs: list[dict], apis: list[str]) -> str:
    if not devs:
        return "none"
    return ", ".join(f"{d['name']!r} [{short_hostapi(apis[d['hostapi']])} "
                     f"{d['max_input_channels']}/{d['max_output_channels']}]" for d in devs)


def resolve_device(session: Session) -> ResolvedDevice:
    """Find the session's device in PortAudio and check channels and rate.

    Under JACK, call ``ensure_studio`` first (PortAudio sees only a server that
    runs when it initialises).

    Raises
    ------
    ConfigError
        One line naming the file and ``interface.device`` (listing the devices
        present, or the ambiguous matches), ``interface.hostapi``,
        ``program.inputs[i]`` / ``program.outputs[i]`` / ``program.monitor[i]``
        (with the device's channel count) or ``interface.sample_rate``.
    """
    sd = load_sounddevice()
    ctx = _Ctx(str(session.path))
    iface, prog = session.interface, session.program
    apis = [a["name"] for a in sd.query_hostapis()]
    devs = [dict(d) for d in sd.query_devices()]
    for i, d in enumerate(devs):
        d.setdefault("index", i)
    no_jack = ""
    if JACK_HOSTAPI not in apis and (_is_jack(iface.hostapi) or iface.hostapi is None):
        no_jack = ("; no JACK server is running (set interface.embedded_jack = true, or "
                   "start jackd)")
    if iface.hostapi is not None:
        hits = _pick(iface.hostapi, apis)
        if not hits:
            raise ctx.fail("interface.hostapi", f"no host API matches {iface.hostapi!r}; "
                           f"expected a part of one present: {', '.join(apis) or 'none'}"
                           f"{no_jack}")
        if len(hits) > 1:
            raise ctx.fail("interface.hostapi", f"{iface.hostapi!r} matches "
                           f"{', '.join(apis[i] for i in hits)}; expected a unique part")
        candidates = [d for d in devs if d["hostapi"] == hits[0]]
        where = f" under {short_hostapi(apis[hits[0]])}"
    else:
        candidates, where = devs, ""
    hits = _pick(iface.device, [d["name"] for d in candidates])
    if not hits:
        raise ctx.fail("interface.device", f"no audio device{where} matches {iface.device!r}; "
                       f"expected one of those present (name [host API in/out]): "
                       f"{_describe(devs, apis)}{no_jack}")
    if len(hits) > 1:
        extra = "" if iface.hostapi else " or set interface.hostapi"
        raise ctx.fail("interface.device", f"{iface.device!r} matches {len(hits)} devices: "
                       f"{_describe([candidates[i] for i in hits], apis)}; expected a unique "
                       f"part of one name{extra}")
    d = candidates[hits[0]]
    dev = ResolvedDevice(index=int(d["index"]), name=d["name"], hostapi=apis[d["hostapi"]],
                         max_input_channels=int(d["max_input_channels"]),
                         max_output_channels=int(d["max_output_channels"]),
                         default_samplerate=float(d["default_samplerate"]))
    label = f"{dev.name!r} [{short_hostapi(dev.hostapi)}]"
    for key, chans, n, what in (("program.inputs", prog.inputs, dev.max_input_channels, "input"),
                                ("program.outputs", prog.outputs, dev.max_output_channels,
                                 "output"),
                                ("program.monitor", prog.monitor, dev.max_output_channels,
                                 "output")):
        for i, ch in enumerate(chans):
            if ch > n:
                rng = f"1..{n}" if n else "none (the device has no such channels)"
                raise ctx.fail(f"{key}[{i}]", f"channel {ch} is beyond the {n} {what} "
                               f"channels of {label}; expected {rng}")
    for check, channels, what in ((sd.check_input_settings, prog.highest_input, "input"),
                                  (sd.check_output_settings, prog.highest_output, "output")):
        try:
            check(device=dev.index, channels=channels, samplerate=iface.sample_rate,
                  dtype="float32")
        except sd.PortAudioError as exc:
            msg = exc.args[0] if exc.args else str(exc)
            raise ctx.fail("interface.sample_rate", f"{label} refuses {iface.sample_rate} Hz "
                           f"for {channels} {what} channels ({msg}); expected a rate it "
                           f"supports, e.g. its default {dev.default_samplerate:g} Hz") from None
    return dev


# ------------------------------------------------------------------------- studio


def _running_jack() -> tuple[int, int] | None:
    """(sample rate in Hz, period in frames) of the running JACK server, or None."""
    from host.sim.jack_server import quiet_libjack

    try:
        import jack
    except OSError as exc:  # libjack missing
        raise OutboardError(f"JACK: cannot load libjack ({exc}); install Debian's "
                            "libjack-jackd2-0 (make setup does)") from None
    quiet_libjack()
    try:
        client = jack.Client("outboard-session", no_start_server=True)
    except jack.JackError:
        return None
    try:
        return int(client.samplerate), int(client.blocksize)
    finally:
        client.close()


def _default_warn(msg: str) -> None:
    warnings.warn(msg, StudioWarning, stacklevel=3)


def ensure_studio(session: Session,
                  warn: Callable[[str], None] | None = None) -> JackServer | None:
    """Start the embedded JACK studio if the session asks for it and no JACK
    server runs; otherwise check the running server against the session.

    Acts when ``interface.embedded_jack`` is true and ``interface.hostapi`` is
    JACK or unset, or when ``interface.hostapi`` is JACK.  The embedded server
    runs the dummy backend at ``interface.sample_rate`` with a period of
    ``interface.block_size`` and max(8, highest channel used) capture and
    playback ports.

    Parameters
    ----------
    session : Session
        A loaded session.
    warn : callable, optional
        Receives a one-line warning when the running server's period is not
        ``interface.block_size`` (JACK decides the block size; the session
        runs at the server's period).  Default: ``warnings.warn`` with
        ``StudioWarning``.

    Returns
    -------
    JackServer or None
        The server started here (the caller stops it with ``.stop()``), or
        None when nothing was started.

    Raises
    ------
    ConfigError
        A running JACK server's rate is not ``interface.sample_rate``.
    OutboardError
        jackd is missing or did not start.
    """
    iface, prog = session.interface, session.program
    if not (_is_jack(iface.hostapi)
            or (iface.embedded_jack and iface.hostapi is None)):
        return None
    running = _running_jack()
    if running is None:
        if not iface.embedded_jack:
            return None
        from host.sim.jack_server import JackServer

        server = JackServer(rate=iface.sample_rate, period=iface.block_size,
                            capture=max(MIN_STUDIO_PORTS, prog.highest_input),
                            playback=max(MIN_STUDIO_PORTS, prog.highest_output)).start()
        if server.started_here:
            return server
        running = _running_jack()  # another one came up meanwhile: check it below
        if running is None:
            return None
    rate, period = running
    ctx = _Ctx(str(session.path))
    if rate != iface.sample_rate:
        raise ctx.fail("interface.sample_rate", f"the running JACK server runs at {rate} Hz, "
                       f"not {iface.sample_rate} Hz; expected {rate} (JACK decides the rate), "
                       "or stop that server so the embedded one can start")
    if period != iface.block_size:
        (warn or _default_warn)(
            f"{session.path}: interface.block_size: the running JACK server's period is "
            f"{period} frames, not {iface.block_size}; JACK decides the block size, so the "
            f"session runs at {period} frames")
    return None
