"""``outboard devices``: the audio devices PortAudio sees and the MIDI ports.

Prints what a session file's ``[interface]`` table can name: each PortAudio
device with its host API, channel counts and default rate, and the MIDI ports
python-rtmidi finds (JACK MIDI first, then every other compiled API; a machine
without an ALSA sequencer or a JACK server gets a note, not a crash).
``--studio`` starts the embedded JACK studio first (so a machine without a
sound card shows the "system" device and JACK MIDI) and stops it afterwards.

Not real-time code.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
from collections.abc import Iterator
from typing import Any

from host.live.device import load_sounddevice, short_hostapi


def list_audio_devices() -> list[dict[str, Any]]:
    """The audio devices PortAudio reports now.

    Returns
    -------
    list of dict
        One per device: ``index`` (PortAudio index), ``name``, ``hostapi``
        (full host API name), ``inputs`` and ``outputs`` (channel counts),
        ``default_samplerate`` (Hz).
    """
    sd = load_sounddevice()
    apis = [a["name"] for a in sd.query_hostapis()]
    out = []
    for i, d in enumerate(sd.query_devices()):
        out.append({"index": int(d.get("index", i)), "name": d["name"],
                    "hostapi": apis[d["hostapi"]],
                    "inputs": int(d["max_input_channels"]),
                    "outputs": int(d["max_output_channels"]),
                    "default_samplerate": float(d["default_samplerate"])})
    return out


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Send file descriptor 2 to /dev/null for the duration: alsa-lib and
    libjack print their own complaints there when an API is absent, and the
    failure is reported in the result instead."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def list_midi_ports() -> dict[str, Any]:
    """The MIDI ports python-rtmidi finds, JACK MIDI first.

    Returns
    -------
    dict
        ``inputs``: ports outboard can receive from (other clients' outputs);
        ``outputs``: ports outboard can send to; each a list of
        ``{"name": ..., "api": ...}``.  ``api``: the rtmidi APIs that answered
        (``["jack"]``, or ``[]``); ``errors``: API name -> why it did not.
    """
    result: dict[str, Any] = {"inputs": [], "outputs": [], "api": [], "errors": {}}
    try:
        import rtmidi
    except ImportError as exc:
        result["errors"]["rtmidi"] = f"python-rtmidi not importable ({exc})"
        return result
    try:
        from host.sim.jack_server import quiet_libjack

        quiet_libjack()
    except OSError:
        pass  # no libjack: the JACK API below fails and says so
    compiled = list(rtmidi.get_compiled_api())
    order = [a for a in (rtmidi.API_UNIX_JACK,) if a in compiled]
    order += [a for a in compiled if a not in order and a != rtmidi.API_RTMIDI_DUMMY]
    for api in order:
        name = rtmidi.get_api_name(api)
        try:
            with _quiet_stderr():
                mi = rtmidi.MidiIn(api, name="outboard devices")
                try:
                    mo = rtmidi.MidiOut(api, name="outboard devices")
                    try:
                        ins, outs = mi.get_ports(), mo.get_ports()
                    finally:
                        mo.delete()
                finally:
                    mi.delete()
        except Exception as exc:  # noqa: BLE001 - rtmidi raises SystemError & co.
            result["errors"][name] = str(exc).strip() or type(exc).__name__
            continue
        result["api"].append(name)
        result["inputs"] += [{"name": p, "api": name} for p in ins]
        result["outputs"] += [{"name": p, "api": name} for p in outs]
    return result


def _print_table(audio: list[dict[str, Any]], midi: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    t = Table(title="Audio devices (PortAudio)", title_justify="left")
    for col, just in (("#", "right"), ("name", "left"), ("host API", "left"),
                      ("in", "right"), ("out", "right"), ("default rate", "right")):
        t.add_column(col, justify=just)
    for d in audio:
        t.add_row(str(d["index"]), d["name"], short_hostapi(d["hostapi"]), str(d["inputs"]),
                  str(d["outputs"]), f"{d['default_samplerate']:g} Hz")
    if audio:
        console.print(t)
    else:
        console.print("Audio devices (PortAudio): none; `outboard devices --studio` starts "
                      "the embedded JACK studio")
    console.print("session files name a device by its name (or a unique part) in "
                  "[interface] device, and its host API in hostapi", style="dim",
                  markup=False, highlight=False)
    console.print()
    apis = ", ".join(midi["api"]) or "none answered"
    console.print(f"MIDI ports (python-rtmidi; APIs: {apis})")
    for key, what in (("inputs", "inputs (outboard receives from)"),
                      ("outputs", "outputs (outboard sends to)")):
        ports = midi[key]
        console.print(f"  {what}:" + ("" if ports else " none"), highlight=False)
        for p in ports:
            console.print(f"    {p['name']}  [{p['api']}]", markup=False, highlight=False)
    for api, why in midi["errors"].items():
        console.print(f"  {api}: {why}", style="dim", markup=False, highlight=False)


def cmd_devices(args: argparse.Namespace) -> int:
    """List audio devices and MIDI ports (table, or ``--json``); ``--studio``
    runs the embedded JACK studio for the listing."""
    server = None
    if getattr(args, "studio", False):
        from host.sim.jack_server import JackServer

        server = JackServer().start()
    try:
        audio = list_audio_devices()
        midi = list_midi_ports()
    finally:
        if server is not None and server.started_here:
            server.stop()
    if getattr(args, "json", False):
        print(json.dumps({"audio": audio, "midi": midi}))
    else:
        _print_table(audio, midi)
    return 0


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``outboard devices`` on an ``add_subparsers()`` object."""
    p = subparsers.add_parser(
        "devices", help="list audio devices and MIDI ports (names for session files)",
        description="List the audio devices PortAudio sees (name, host API, channels, "
                    "default rate) and the MIDI ports python-rtmidi finds.")
    p.add_argument("--json", action="store_true",
                   help='print one JSON object {"audio": [...], "midi": {...}}')
    p.add_argument("--studio", action="store_true",
                   help="start the embedded JACK studio (dummy backend, 48 kHz, 8 in / 8 out) "
                        "for the listing if no JACK server runs, and stop it after")
    p.set_defaults(func=cmd_devices)
    return p
