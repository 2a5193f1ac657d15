"""The audio device a session names: the embedded JACK server started or
checked (``ensure_studio``), then the session checked against what PortAudio
reports (``resolve_device``): device, channel counts, sample rate.

None of this is real-time code: it runs before any stream opens.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

from host.errors import OutboardError, OutboardWarning
from host.model.config import _Ctx
from host.model.session import Session
from host.sim.jack_server import JackServer, quiet_libjack

#: fewest system ports the embedded JACK server gets (the test studio's 8 in / 8 out)
MIN_STUDIO_PORTS = 8



#: PortAudio's name of the JACK host API
JACK_HOSTAPI = "JACK Audio Connection Kit"



class StudioWarning(OutboardWarning):
    """Something the user should know but that does not stop the session
    (the running JACK server's period differs from ``interface.block_size``)."""



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



def channel_lists(session: Session) -> list[tuple[str, tuple[int, ...], str]]:
    """(key, 1-based interface channels, "input" or "output") of every channel list
    the session names: the program's, then each hardware insert's sends and returns."""
    prog = session.program
    out = [("program.inputs", prog.inputs, "input"), ("program.outputs", prog.outputs, "output"),
           ("program.monitor", prog.monitor, "output")]
    for k, ins in enumerate(session.chain.inserts):
        if ins.kind == "hardware":
            out += [(f"chain[{k}].sends", tuple(ins.params["sends"]), "output"),
                    (f"chain[{k}].returns", tuple(ins.params["returns"]), "input")]
    return out


def highest_channels(session: Session) -> tuple[int, int]:
    """(highest input, highest output) the session uses, hardware inserts included."""
    lists = channel_lists(session)
    return tuple(max([ch for _, chans, w in lists if w == what for ch in chans] + [1])
                 for what in ("input", "output"))


def resolve_device(session: Session) -> ResolvedDevice:
    """Find the session's device in PortAudio and check channels and rate.

    Under JACK, call ``ensure_studio`` first (PortAudio sees only a server that
    runs when it initialises).

    Raises
    ------
    ConfigError
        One line naming the file and ``interface.device`` (listing the devices
        present, or the ambiguous matches), ``interface.hostapi``,
        ``program.inputs[i]`` / ``program.outputs[i]`` / ``program.monitor[i]`` /
        a hardware insert's ``chain[k].sends[i]`` / ``chain[k].returns[i]``
        (with the device's channel count) or ``interface.sample_rate``.
    """
    sd = load_sounddevice()
    ctx = _Ctx(str(session.path))
    iface = session.interface
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
    for key, chans, what in channel_lists(session):
        n = dev.max_input_channels if what == "input" else dev.max_output_channels
        for i, ch in enumerate(chans):
            if ch > n:
                rng = f"1..{n}" if n else "none (the device has no such channels)"
                raise ctx.fail(f"{key}[{i}]", f"channel {ch} is beyond the {n} {what} "
                               f"channels of {label}; expected {rng}")
    highest_in, highest_out = highest_channels(session)
    for check, channels, what in ((sd.check_input_settings, highest_in, "input"),
                                  (sd.check_output_settings, highest_out, "output")):
        try:
            check(device=dev.index, channels=channels, samplerate=iface.sample_rate,
                  dtype="float32")
        except sd.PortAudioError as exc:
            msg = exc.args[0] if exc.args else str(exc)
            raise ctx.fail("interface.sample_rate", f"{label} refuses {iface.sample_rate} Hz "
                           f"for {channels} {what} channels ({msg}); expected a rate it "
                           f"supports, e.g. its default {dev.default_samplerate:g} Hz") from None
    return dev



def _running_jack() -> tuple[int, int] | None:
    """(sample rate in Hz, period in frames) of the running JACK server, or None."""

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
    iface = session.interface
    if not (_is_jack(iface.hostapi)
            or (iface.embedded_jack and iface.hostapi is None)):
        return None
    running = _running_jack()
    if running is None:
        if not iface.embedded_jack:
            return None

        highest_in, highest_out = highest_channels(session)
        server = JackServer(rate=iface.sample_rate, period=iface.block_size,
                            capture=max(MIN_STUDIO_PORTS, highest_in),
                            playback=max(MIN_STUDIO_PORTS, highest_out)).start()
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
