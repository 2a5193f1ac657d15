"""`outboard devices`: audio devices from PortAudio, MIDI ports from
python-rtmidi, as a table or JSON (host.cli.devices)."""

from __future__ import annotations

import argparse
import json
import os

import pytest

from host.cli.devices import add_parser, cmd_devices, list_audio_devices, list_midi_ports

JACK_API = "JACK Audio Connection Kit"


def test_audio_devices_include_the_jack_system_device_8_in_8_out(jack_server) -> None:
    import sounddevice as sd

    devices = list_audio_devices()
    jack_devs = [d for d in devices if d["hostapi"] == JACK_API]
    assert jack_devs, devices
    system = next(d for d in jack_devs if d["name"] == "system")
    assert (system["inputs"], system["outputs"]) == (8, 8)
    assert system["default_samplerate"] == 48000
    assert sd.query_devices(system["index"])["name"] == "system"
    assert set(system) == {"index", "name", "hostapi", "inputs", "outputs",
                           "default_samplerate"}


@pytest.fixture
def midi_client(jack_server):
    """A JACK client with one MIDI output and one MIDI input port."""
    import jack

    client = jack.Client("outboard-test-midi", no_start_server=True)
    out = client.midi_outports.register("recall_out")
    inp = client.midi_inports.register("recall_in")
    client.activate()
    yield out.name, inp.name
    client.deactivate()
    client.close()


def test_a_registered_jack_midi_port_shows_up(midi_client) -> None:
    out_name, in_name = midi_client
    midi = list_midi_ports()
    assert "jack" in midi["api"]
    # a client's MIDI output is a port outboard can receive from, and vice versa
    assert {"name": out_name, "api": "jack"} in midi["inputs"]
    assert {"name": in_name, "api": "jack"} in midi["outputs"]


def test_midi_listing_reports_an_absent_jack_server_without_crashing() -> None:
    """In a child process pointed at a JACK server name nobody runs (libjack
    keeps one server per process, so not in this one)."""
    import subprocess
    import sys
    from pathlib import Path

    env = dict(os.environ, JACK_DEFAULT_SERVER=f"outboard-test-absent-{os.getpid()}")
    proc = subprocess.run(
        [sys.executable, "-c", "import json; from host.cli.devices import list_midi_ports; "
         "print(json.dumps(list_midi_ports()))"],
        env=env, cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True,
        timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    midi = json.loads(proc.stdout)
    assert "jack" not in midi["api"]
    assert "JACK server not running" in midi["errors"]["jack"]
    assert all(p["api"] != "jack" for p in midi["inputs"] + midi["outputs"])
    assert "Cannot connect to server" not in proc.stderr   # libjack's own noise is hidden


def run_cli(capsys, *argv: str) -> str:
    p = argparse.ArgumentParser(prog="outboard")
    add_parser(p.add_subparsers(dest="command", required=True))
    args = p.parse_args(["devices", *argv])
    assert args.func is cmd_devices
    assert args.func(args) == 0
    return capsys.readouterr().out


def test_json_output_parses_and_has_both_keys(midi_client, capsys) -> None:
    data = json.loads(run_cli(capsys, "--json"))
    assert set(data) == {"audio", "midi"}
    assert any(d["name"] == "system" and d["hostapi"] == JACK_API for d in data["audio"])
    assert {"inputs", "outputs", "api"} <= set(data["midi"])
    assert midi_client[0] in [p["name"] for p in data["midi"]["inputs"]]


def test_table_prints_device_names_and_midi_ports(midi_client, capsys) -> None:
    out = run_cli(capsys)
    assert "system" in out and "JACK" in out
    assert midi_client[0] in out and midi_client[1] in out


def test_studio_flag_leaves_a_running_server_alone(jack_server, capsys) -> None:
    from host.sim.jack_server import server_running

    data = json.loads(run_cli(capsys, "--studio", "--json"))
    assert any(d["name"] == "system" for d in data["audio"])
    assert server_running()
