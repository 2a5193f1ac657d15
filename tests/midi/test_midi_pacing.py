"""MIDI recall pacing on the wire, at any JACK period (host.midi.ports.MidiOutput).

The reference is an independent JACK MIDI monitor written here (JACK-Client): a
client with one MIDI input that records each event's absolute frame time
(``last_frame_time`` of its cycle + the event's offset) and its bytes.  A
session recalls a paced profile (Roland MMP-2, pace 30 ms: bank select, program
change and SysEx DT1 messages) into it on private JACK servers at periods 64,
128 and 2048.  Every gap between consecutive messages must be at least the
pace, exactly in frames (``ceil(pace_ms * fs / 1000)``), and at most the pace
plus one period plus SLACK_FRAMES (a late cycle).  The same with a pace shorter
than a period (several messages per period); and a SysEx longer than a JACK
MIDI buffer must arrive whole, one piece per period, paced before and after.

libjack talks to one server per process, so each server's monitor and recall
run in a child process: this file run as a script (``main`` below), which
prints what the monitor saw as JSON.
"""

from __future__ import annotations

import json
import os
import math
import subprocess
import sys
from pathlib import Path

import jack
import pytest

from conftest import PRIVATE_JACK_RATE, STUDIO_HEAD
from host.midi.ports import MidiOutput
from host.midi.recall import plan, recall_session
from host.model.session import load_session

MONITOR = "pacing-monitor"
#: a late cycle of the sender or of the monitor may push one message a little
#: further than pace + one period, frames (1 ms at 48 kHz)
SLACK_FRAMES = 48
#: a pace shorter than every period tested, ms (24 frames at 48 kHz)
SHORT_PACE_MS = 0.5
#: bytes of a SysEx longer than a JACK2 MIDI buffer (32720 bytes per period)
LONG_SYSEX_BYTES = 40000
#: a run whose monitor lost messages (a late client under load) is run again
ATTEMPTS = 3

SESSION = STUDIO_HEAD + f"""
[[chain]]
kind = "hardware"
name = "mmp2"
sends = [3, 4]
returns = [3, 4]
midi = {{ profile = "roland_mmp2", port = "{MONITOR}:midi_in", channel = 16 }}
settings = {{ user_patch = "User #12", phantom_power_1 = "on", att_1_db = -6.0, \
comp_level_db = 3.5, exp_threshold_db = -40.0 }}
"""


def long_sysex(n: int = LONG_SYSEX_BYTES) -> bytes:
    """F0, a non-commercial ID (7D), a counting 7-bit body, F7."""
    return bytes([0xF0, 0x7D, *(i % 128 for i in range(n - 3)), 0xF7])


# ---- the child: monitor and sender on one server ---------------------------------------------


def main(session_path: str) -> None:
    """Start the monitor, recall the session at its profile's pace and at
    SHORT_PACE_MS, then send a CC, a long SysEx and a CC at 30 ms; print the
    events each phase saw (frames, hex bytes) and the period as JSON."""
    client = jack.Client(MONITOR, no_start_server=True)
    port = client.midi_inports.register("midi_in")
    events: list[tuple[int, int, bytes]] = []     # cycle's first frame, offset, bytes

    def process(frames: int) -> None:
        t0 = client.last_frame_time
        for offset, data in port.incoming_midi_events():
            events.append((t0, offset, bytes(data)))

    client.set_process_callback(process)
    client.activate()
    session = load_session(Path(session_path))
    phases = {}

    def take(name: str, ok: bool) -> None:
        phases[name] = {"ok": ok, "frames": [t0 + o for t0, o, _ in events],
                        "cycles": [t0 for t0, _, _ in events],
                        "bytes": [b.hex() for _, _, b in events]}
        events.clear()

    # recall's flush returns once the cycle that carried the last message has ended
    take("profile", recall_session(session, say=lambda m: None).ok)
    take("short", recall_session(session, say=lambda m: None, pace_ms=SHORT_PACE_MS).ok)
    with MidiOutput.open(f"{MONITOR}:midi_in", pace_ms=30.0) as out:
        for m in (b"\xbf\x07\x10", long_sysex(), b"\xbf\x07\x11"):
            out.send(m)
        out.flush()
    take("long", True)
    print(json.dumps({"period": client.blocksize, "fs": client.samplerate, **phases}))
    client.deactivate()
    client.close()


# ---- the tests --------------------------------------------------------------------------------


def run_child(server, session_path: Path) -> dict:
    tests = str(Path(__file__).resolve().parents[1])  # conftest, for the child's imports
    path = os.pathsep.join(filter(None, [tests, os.environ.get("PYTHONPATH")]))
    env = dict(server.env, PYTHONPATH=path)
    r = subprocess.run([sys.executable, __file__, str(session_path)], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def gaps(frames: list[int]) -> list[int]:
    return [b - a for a, b in zip(frames[:-1], frames[1:], strict=True)]


@pytest.fixture
def session_file(tmp_path) -> Path:
    path = tmp_path / "mmp2.toml"
    path.write_text(SESSION)
    return path


@pytest.mark.parametrize("period", [64, 128, 2048])
def test_recall_gaps_on_the_wire_hold_the_pace_at_any_period(private_jack, session_file,
                                                              period):
    (p,) = plan(load_session(session_file))
    assert p.pace_ms == 30.0 and len(p.messages) >= 8
    want = [m.hex() for m in p.messages]
    server = private_jack(period=period)
    for _ in range(ATTEMPTS):
        seen = run_child(server, session_file)
        if all(seen[k]["bytes"] == want for k in ("profile", "short")):
            break
    assert seen["period"] == period and seen["fs"] == PRIVATE_JACK_RATE
    for phase, pace_ms in (("profile", 30.0), ("short", SHORT_PACE_MS)):
        got = seen[phase]
        assert got["ok"], phase
        assert got["bytes"] == want, f"{phase}: messages lost, merged or reordered"
        least = math.ceil(pace_ms * PRIVATE_JACK_RATE / 1000)
        g = gaps(got["frames"])
        assert min(g) >= least, f"{phase} at period {period}: gaps {g}, pace {least} frames"
        assert max(g) <= least + period + SLACK_FRAMES, \
            f"{phase} at period {period}: gaps {g}, pace {least} frames"


def test_a_sysex_longer_than_a_jack_buffer_arrives_whole_one_piece_per_period(
        private_jack, session_file):
    period = 64
    server = private_jack(period=period)
    for _ in range(ATTEMPTS):
        got = run_child(server, session_file)["long"]
        data = [bytes.fromhex(h) for h in got["bytes"]]
        if data[:1] == [b"\xbf\x07\x10"] and data[-1:] == [b"\xbf\x07\x11"] \
                and b"".join(data[1:-1]) == long_sysex():
            break
    assert data[0] == b"\xbf\x07\x10" and data[-1] == b"\xbf\x07\x11"
    pieces = data[1:-1]
    assert b"".join(pieces) == long_sysex() and len(pieces) >= 2
    assert pieces[0][:1] == b"\xf0" and pieces[-1][-1:] == b"\xf7"
    f, cycles = got["frames"], got["cycles"][1:-1]
    least = math.ceil(30.0 * PRIVATE_JACK_RATE / 1000)
    assert f[1] - f[0] >= least                          # the pace before the SysEx
    assert min(gaps(cycles)) >= period                   # each piece in a later period
    assert f[-1] - f[-2] >= least                        # and the pace after the last


if __name__ == "__main__":
    main(sys.argv[1])
