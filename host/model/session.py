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
    stem_lengths = "error"   # optional: "error" | "pad" (stems of different lengths)

    [[chain]]                # inserts, exactly as in chain files (host.model.config)
    kind = "eq"
    bands = [{ type = "highpass", freq_hz = 25.0 }]

    [[stems]]                # optional: stems instead of one mix (host.model.stems)
    name = "drums"           # unique, non-empty
    file = "stems/drums.wav" # relative to the session file's folder; not opened at load
    gain_db = -1.5           # dB, -60..24 (default 0)
    pan = 0.0                # balance -1 (left) .. +1 (right), constant power (default 0)
    mute = false             # optional
    chain = [{ kind = "compressor", threshold_db = -20.0, ratio = 2.0 }]  # software only

    [release]                # optional: the print and the deliverables (host.model.release)
    print = "song.print.wav" # where `outboard print` writes, `outboard deliver` reads
    folder = "deliverables"
    presets = ["streaming", "cd", "vinyl"]

``load_session(path)`` checks the file alone: types, ranges, unknown keys
(with did-you-mean hints), channel lists, and the chain, each failure one line
(``ConfigError``) that starts with the file and names the key path and what was
expected.  What the session is then checked against (the embedded JACK server,
the device PortAudio reports) is :mod:`host.live.device`.

None of this is real-time code: it runs before any stream opens.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from host.audiofile import FilesRead
from host.midi.profiles import profile_path
from host.model.config import (
    MAX_DEVICE_CHANNEL,
    ChainConfig,
    Param,
    _check_table,
    _Ctx,
    check_chain_for_program,
    parse_chain,
    unknown_key,
)
from host.model.release import Release, parse_release
from host.model.stems import STEM_LENGTHS, StemConfig, parse_stems
from host.tomlfile import load_toml


#: highest channel number a session may name (1-based): what the C engine can route
MAX_CHANNEL = MAX_DEVICE_CHANNEL
#: most program channels (inputs, and as many outputs)
MAX_PROGRAM_CHANNELS = 8
#: latency as a number: seconds, this range
LATENCY_S = (0.0001, 1.0)

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
#: [latency]: how hardware inserts get their round trip (see host.gear.inserts)
LATENCY: dict[str, Param] = {
    "measure_at_start": Param("bool", default=False),   # a quiet pre-roll ping every stream
    "on_stale": Param("choice", choices=("remeasure", "refuse"), default="remeasure"),
}




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
        ``"error"`` (default) or ``"pad"``: what host.offline.stems does with stems of
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
    stems: list[StemConfig] = field(default_factory=list)   # [[stems]] (host.model.stems)
    release: Release | None = None   # [release]: print file, deliverables (host.model.release)




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


def _check_routing(ctx: _Ctx, program: ProgramConfig, chain: ChainConfig) -> None:
    """Hardware inserts against the program and each other: one send and one
    return per program channel; a send on an interface output of its own (not a
    program output, a monitor or another insert's send); a return on an input of
    its own (not a program input or another insert's return)."""
    outs = {ch: f"program.outputs[{i}]" for i, ch in enumerate(program.outputs)}
    outs.update({ch: f"program.monitor[{i}]" for i, ch in enumerate(program.monitor)})
    ins = {ch: f"program.inputs[{i}]" for i, ch in enumerate(program.inputs)}
    n = len(program.inputs)
    for k, insert in enumerate(chain.inserts):
        if insert.kind != "hardware":
            continue
        key = f"chain[{k}]"
        for what, owner, io in (("sends", outs, "output"), ("returns", ins, "input")):
            chans = insert.params[what]
            if len(chans) != n:
                raise ctx.fail(f"{key}.{what}", f"expected {n} interface {io}s (one per "
                               f"program channel, as program.inputs), got {len(chans)}")
            for j, ch in enumerate(chans):
                if ch in owner:
                    raise ctx.fail(f"{key}.{what}[{j}]", f"interface {io} {ch} is also "
                                   f"{owner[ch]}; expected an {io} used by this insert alone")
                owner[ch] = f"{key}.{what}[{j}] (insert {insert.name!r})"


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
    check_chain_for_program(ctx, chain, len(program.inputs), interface.sample_rate)
    _check_routing(ctx, program, chain)
    latency = _check_table(ctx, "latency", data.get("latency", {}), LATENCY)
    stems = parse_stems(data.get("stems", []), source, len(program.inputs),
                        interface.sample_rate)
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


def files_read(session: Session, files: FilesRead | None = None) -> FilesRead:
    """What a command on ``session`` reads, for keeping its outputs off it
    (host.audiofile.FilesRead): the session file, its stems' audio files and its
    inserts' MIDI device profiles, added to ``files`` (a new one by default).
    The caller adds the rest it reads (an input mix, the measurement store) and
    claims its outputs."""
    files = files if files is not None else FilesRead()
    files.read(session.path, "the session file")
    folder = Path(session.path).parent
    for st in session.stems:
        files.read(st.path(folder), f"the file of stem {st.name!r} ({st.key}.file)")
    for ins in session.chain.inserts:
        midi = ins.params.get("midi")
        if isinstance(midi, dict) and isinstance(midi.get("profile"), str):
            files.read(profile_path(midi["profile"]),
                       f"the device profile of insert {ins.name!r}")
    return files


# ------------------------------------------------------------------------ devices














# ------------------------------------------------------------------------- studio


def load_chain(path: str | Path) -> ChainConfig:
    """Read and validate a chain file; raises ConfigError naming file and key.

    A session file (one with ``[interface]`` or ``[program]``) is validated
    whole (host.model.session) and its chain returned, so a live session's chain can
    master a file offline."""
    data = load_toml(path)
    if "interface" in data or "program" in data:
        cfg = parse_session(data, str(path)).chain
    else:
        cfg = parse_chain(data, str(path))
    cfg.path = Path(path)
    return cfg
