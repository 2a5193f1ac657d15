"""Wiring virtual gear into the embedded studio.

In the embedded studio the "interface" is the JACK server's system ports and
the host is PortAudio's JACK client (its ports ``in_0..``/``out_0..``, 0-based,
connected to system:capture_N / system:playback_N).  A hardware insert whose
session entry has a ``virtual_gear`` table gets a virtual unit
(:class:`host.sim.gear.VirtualGear`, its own process) wired between the
host's send outputs and return inputs instead of the system ports, through
the JACK API, exactly where a patch bay would put a real unit.
"""

from __future__ import annotations

import contextlib
import re
from typing import Any

from host.errors import OutboardError
from host.model.virtual_gear import GearSpec
from host.sim.jack_server import quiet_libjack
from host.sim.virtual_gear import VirtualGear


def portaudio_client_name(stream: Any) -> str:
    """The JACK client name of this process's PortAudio (one client serves all
    its JACK streams), from PortAudio's own PaJack_GetClientName; ``stream``
    must be an open JACK stream."""
    import sounddevice as sd
    from cffi import FFI

    ffi = FFI()
    ffi.cdef("int PaJack_GetClientName(const char **clientName);")  # pa_jack.h
    lib = ffi.dlopen(sd._libname)
    out = ffi.new("const char **")
    if lib.PaJack_GetClientName(out) != 0 or out[0] == ffi.NULL:
        raise OutboardError("the audio stream is not a JACK stream; virtual gear needs the "
                            "embedded studio (hostapi = \"JACK\")")
    return ffi.string(out[0]).decode()


class StudioRack:
    """The virtual units of a session's hardware inserts, started and patched.

    Parameters
    ----------
    inserts : list of (name, sends, returns, gear_table)
        ``sends``/``returns`` are 1-based interface channels; ``gear_table`` the
        insert's validated ``virtual_gear`` dict.
    client_name : str
        The host's JACK client (see :func:`portaudio_client_name`).
    device_channels : (int, int)
        Input and output channels the host's stream opened.
    """

    def __init__(self, inserts: list[tuple[str, list[int], list[int], dict]], client_name: str,
                 device_channels: tuple[int, int]):
        self.inserts = inserts
        self.client_name = client_name
        self.device_channels = device_channels
        self.inputs: list[str] = []
        self.outputs: list[str] = []
        self.units: list[tuple[Any, list[str], list[str]]] = []
        self._client = None

    def start(self) -> StudioRack:
        import jack

        quiet_libjack()
        self._client = jack.Client("outboard-patchbay", no_start_server=True)
        # PortAudio numbers its JACK ports with a counter that runs across the
        # process (a second stream gets in_8.. / out_10..): the stream's ports
        # are the client's last `channels` ports of each direction, in order.
        def ports(is_input: bool, n: int) -> list[str]:
            own = self._client.get_ports(f"^{re.escape(self.client_name)}:", is_audio=True,
                                         is_input=is_input, is_output=not is_input)
            names = sorted((p.name for p in own), key=lambda s: int(s.rsplit("_", 1)[1]))
            return names[-n:]

        self.inputs = ports(True, self.device_channels[0])
        self.outputs = ports(False, self.device_channels[1])
        try:
            for name, sends, returns, table in self.inserts:
                safe = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in name)
                spec = GearSpec.from_dict({"channels": len(sends), **table,
                                           "name": f"gear-{safe}"})
                gear = VirtualGear(spec).start()
                send_ports = [self.outputs[s - 1] for s in sends]
                ret_ports = [self.inputs[r - 1] for r in returns]
                # unplug the interface's own jacks for these channels, then patch the unit
                for p in send_ports:
                    for q in self._client.get_all_connections(p):
                        self._client.disconnect(p, q.name)
                for p in ret_ports:
                    for q in self._client.get_all_connections(p):
                        self._client.disconnect(q.name, p)
                gear.wire(self._client, send_ports, ret_ports)
                self.units.append((gear, send_ports, ret_ports))
        except Exception:
            self.stop()
            raise
        return self

    def unplug(self, insert: str) -> None:
        """Pull the cables of one unit (fault injection, tests)."""
        for (gear, s, r), (name, *_rest) in zip(self.units, self.inserts, strict=False):
            if name == insert:
                gear.unwire(self._client, s, r)

    def stop(self) -> None:
        for gear, _s, _r in self.units:
            with contextlib.suppress(Exception):
                gear.stop()
        self.units.clear()
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()
            self._client = None

    def __enter__(self) -> StudioRack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
