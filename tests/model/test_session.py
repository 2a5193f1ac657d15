"""Session files: validation of the file alone, resolution against PortAudio,
and the embedded JACK studio (host.model.session)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from host.errors import ConfigError
from host.live.device import ResolvedDevice, StudioWarning, ensure_studio, resolve_device
from host.model.session import Session, load_session

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
EXAMPLES = ["session_jack_studio.toml", "session_8x8_interface.toml",
            "session_stereo_master.toml"]

BASE = """\
[interface]
device = "system"
hostapi = "JACK"
sample_rate = 48000
block_size = 128
latency = "low"
embedded_jack = true

[program]
inputs = [1, 2]
outputs = [1, 2]
monitor = [7, 8]

[[chain]]
kind = "eq"
bands = [{ type = "highpass", freq_hz = 25.0 }]

[[chain]]
kind = "compressor"
ratio = 2.0
"""


def write(tmp_path: Path, text: str, name: str = "session.toml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def session_with(tmp_path: Path, **replace: str) -> Session:
    """BASE with whole lines replaced: key ``"sample_rate"`` -> new line."""
    lines = []
    for line in BASE.splitlines():
        key = line.split("=")[0].strip()
        lines.append(replace.pop(key, line))
    assert not replace, f"no such line in BASE: {replace}"
    return load_session(write(tmp_path, "\n".join(lines) + "\n"))


def assert_one_line(msg: str, path: Path, key: str, *fragments: str) -> None:
    assert "\n" not in msg
    assert msg.startswith(f"{path}: "), msg
    assert key in msg, msg
    assert "expected" in msg, msg
    for f in fragments:
        assert f in msg, msg


# ------------------------------------------------------------------- the examples


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_sessions_validate(name: str) -> None:
    s = load_session(CONFIGS / name)
    assert s.path == CONFIGS / name
    assert len(s.program.inputs) == len(s.program.outputs) == 2
    assert not set(s.program.monitor) & set(s.program.outputs)
    assert s.chain.inserts, "every example has a chain"
    assert s.chain.inserts[-1].kind == "limiter"


def test_stereo_master_session_mirrors_the_stereo_master_chain() -> None:
    from host.model.session import load_chain

    s = load_session(CONFIGS / "session_stereo_master.toml")
    ref = load_chain(CONFIGS / "stereo_master.toml")
    assert [(i.kind, i.params, i.bands) for i in s.chain.inserts] == \
           [(i.kind, i.params, i.bands) for i in ref.inserts]


def test_a_session_file_works_as_a_chain_file_and_is_validated_whole(tmp_path: Path) -> None:
    from host.model.session import load_chain

    path = CONFIGS / "session_stereo_master.toml"
    assert load_chain(path).inserts == load_session(path).chain.inserts
    bad = write(tmp_path, BASE.replace("inputs = [1, 2]", "inputs = [0, 2]"))
    with pytest.raises(ConfigError, match=r"program\.inputs\[0\]"):
        load_chain(bad)


def test_jack_studio_session_resolves_against_the_test_server(jack_server) -> None:
    import sounddevice as sd

    s = load_session(CONFIGS / "session_jack_studio.toml")
    assert ensure_studio(s) is None        # the fixture's server runs: nothing started
    dev = resolve_device(s)
    assert isinstance(dev, ResolvedDevice)
    assert sd.query_devices(dev.index)["name"] == dev.name == "system"
    assert dev.hostapi == "JACK Audio Connection Kit"
    assert (dev.max_input_channels, dev.max_output_channels) == (8, 8)
    assert dev.default_samplerate == 48000


def test_defaults_of_optional_keys(tmp_path: Path) -> None:
    s = session_with(tmp_path, hostapi="", latency="", embedded_jack="", monitor="")
    assert s.interface.hostapi is None
    assert s.interface.latency == "low"
    assert s.interface.embedded_jack is False
    assert s.program.monitor == ()


def test_latency_in_seconds_is_a_float(tmp_path: Path) -> None:
    assert session_with(tmp_path, latency="latency = 0.005").interface.latency == 0.005


# ------------------------------------------------------------ errors in the file

FILE_ERRORS = {
    "unknown key with suggestion": (
        {"sample_rate": "sample_rte = 48000"}, "interface.sample_rte",
        ("unknown key", "did you mean 'sample_rate'?")),
    "unknown program key with suggestion": (
        {"monitor": "monitr = [7, 8]"}, "program.monitr", ("did you mean 'monitor'?",)),
    "unknown table with suggestion": (
        {"[program]": "[programme]"}, "programme", ("did you mean 'program'?",)),
    "wrong type": (
        {"sample_rate": 'sample_rate = "48000"'}, "interface.sample_rate",
        ("an integer 8000..384000 Hz", "'48000'")),
    "wrong type bool": (
        {"embedded_jack": 'embedded_jack = "yes"'}, "interface.embedded_jack",
        ("true or false",)),
    "rate too low": (
        {"sample_rate": "sample_rate = 4000"}, "interface.sample_rate", ("8000..384000 Hz",)),
    "rate too high": (
        {"sample_rate": "sample_rate = 768000"}, "interface.sample_rate", ("8000..384000 Hz",)),
    "block size too small": (
        {"block_size": "block_size = 8"}, "interface.block_size", ("16..8192 frames",)),
    "block size too large": (
        {"block_size": "block_size = 16384"}, "interface.block_size", ("16..8192 frames",)),
    "latency word": (
        {"latency": 'latency = "medium"'}, "interface.latency", ("'low', 'high'",)),
    "device missing": (
        {"device": ""}, "interface.device", ("missing",)),
    "channel 0": (
        {"inputs": "inputs = [0, 1]"}, "program.inputs[0]",
        ("channel number 1..64", "1-based", "got 0")),
    "channel not an integer": (
        {"outputs": 'outputs = [1, "2"]'}, "program.outputs[1]", ("channel number",)),
    "duplicate channels": (
        {"outputs": "outputs = [2, 2]"}, "program.outputs[1]",
        ("listed twice", "program.outputs[0]", "distinct")),
    "inputs/outputs count mismatch": (
        {"outputs": "outputs = [1, 2, 3]"}, "program.outputs",
        ("as many channels as program.inputs (2), got 3",)),
    "too many program channels": (
        {"inputs": "inputs = [1, 2, 3, 4, 5, 6, 7, 8, 9]",
         "outputs": "outputs = [1, 2, 3, 4, 5, 6, 7, 8, 9]", "monitor": ""},
        "program.inputs", ("1..8 channels", "got 9")),
    "monitor overlapping outputs": (
        {"monitor": "monitor = [3, 2]"}, "program.monitor[1]",
        ("also in program.outputs", "distinct")),
    "insert error in chain": (
        {"ratio": "ratio = 0.5"}, "chain[1].ratio", ("a number 1..100", "0.5")),
    "unknown insert key in chain": (
        {"ratio": "ratoi = 2.0"}, "chain[1].ratoi", ("did you mean 'ratio'?",)),
}


@pytest.mark.parametrize("case", list(FILE_ERRORS))
def test_file_error_is_one_line_naming_file_key_and_expectation(tmp_path: Path,
                                                                case: str) -> None:
    replace, key, fragments = FILE_ERRORS[case]
    with pytest.raises(ConfigError) as exc:
        session_with(tmp_path, **replace)
    assert_one_line(str(exc.value), tmp_path / "session.toml", key, *fragments)


#: a hardware insert on outputs/inputs 3-4 of BASE's program (in 1-2, out 1-2, monitor 7-8)
HARDWARE = """
[[chain]]
kind = "hardware"
name = "unit"
sends = [3, 4]
returns = [3, 4]
"""

ROUTING_ERRORS = {
    "send on a program output": (
        {"sends": "sends = [2, 3]"}, "chain[2].sends[0]",
        ("interface output 2 is also program.outputs[1]", "used by this insert alone")),
    "send on a monitor output": (
        {"sends": "sends = [3, 8]"}, "chain[2].sends[1]",
        ("interface output 8 is also program.monitor[1]",)),
    "return on a program input": (
        {"returns": "returns = [1, 4]"}, "chain[2].returns[0]",
        ("interface input 1 is also program.inputs[0]",)),
    "one send per program channel": (
        {"sends": "sends = [3]", "returns": "returns = [3]"}, "chain[2].sends",
        ("expected 2 interface outputs (one per program channel", "got 1")),
    "two inserts on the same sends": (
        {"second": HARDWARE.replace('"unit"', '"other"').replace("returns = [3, 4]",
                                                                 "returns = [5, 6]")},
        "chain[3].sends[0]", ("interface output 3 is also chain[2].sends[0] (insert 'unit')",)),
    "two inserts on the same returns": (
        {"second": HARDWARE.replace('"unit"', '"other"').replace("sends = [3, 4]",
                                                                 "sends = [5, 6]")},
        "chain[3].returns[0]", ("interface input 3 is also chain[2].returns[0] (insert 'unit')",)),
}


@pytest.mark.parametrize("case", list(ROUTING_ERRORS))
def test_hardware_routing_errors_are_one_line_at_load_before_any_device(tmp_path: Path,
                                                                        case: str) -> None:
    """They used to surface as ValueError tracebacks from the engine, after the
    JACK server had started; load_session opens nothing."""
    replace, key, fragments = ROUTING_ERRORS[case]
    second = replace.pop("second", "")
    hw = "\n".join(replace.pop(line.split("=")[0].strip(), line) for line in HARDWARE.splitlines())
    assert not replace
    p = write(tmp_path, BASE + hw + "\n" + second)
    with pytest.raises(ConfigError) as exc:
        load_session(p)
    assert_one_line(str(exc.value), p, key, *fragments)


@pytest.mark.parametrize(("replace", "extra", "key", "fragment"), [
    ({"inputs": "inputs = [1]", "outputs": "outputs = [1]", "monitor": ""},
     '\n[[chain]]\nkind = "compressor"\nmode = "mid-side"\n', "chain[2].mode",
     "'mid-side' needs a stereo program; [program] has 1 channel(s)"),
    ({"sample_rate": "sample_rate = 44100"},
     '\n[[chain]]\nkind = "eq"\nbands = [{ type = "lowpass", freq_hz = 30000.0 }]\n',
     "chain[2].bands[0].freq_hz", "expected below 22050 Hz (half of interface.sample_rate)"),
    ({"inputs": "inputs = [1]", "outputs": "outputs = [1]", "monitor": ""},
     '\n[[stems]]\nname = "a"\nfile = "a.wav"\n'
     'chain = [{ kind = "compressor", mode = "mid-side" }]\n', "stems[0].chain[0].mode",
     "needs a stereo program"),
])
def test_a_chain_the_program_cannot_run_is_one_line_at_load(tmp_path: Path, replace, extra,
                                                            key, fragment) -> None:
    """The kernels refused these with a ValueError once the engine was built,
    after the JACK server had started."""
    with pytest.raises(ConfigError) as exc:
        session_with(tmp_path, **replace, ratio="ratio = 2.0" + extra)
    assert_one_line(str(exc.value), tmp_path / "session.toml", key, fragment)


def test_hardware_inserts_on_channels_of_their_own_load(tmp_path: Path) -> None:
    second = HARDWARE.replace('"unit"', '"other"').replace("[3, 4]", "[5, 6]")
    s = load_session(write(tmp_path, BASE + HARDWARE + second))
    assert [i.params["sends"] for i in s.chain.inserts[2:]] == [[3, 4], [5, 6]]


def test_missing_file_and_bad_toml_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no such file"):
        load_session(tmp_path / "absent.toml")
    p = write(tmp_path, "[interface\n")
    with pytest.raises(ConfigError, match=r"TOML syntax error") as exc:
        load_session(p)
    assert str(exc.value).startswith(str(p))


# -------------------------------------------------- errors against the devices


DEVICE_ERRORS = {
    "device not present": (
        {"device": 'device = "Scarlett 18i20"'}, "interface.device",
        ("'Scarlett 18i20'", "present", "'system' [JACK 8/8]")),
    "host API not present": (
        {"hostapi": 'hostapi = "CoreAudio"'}, "interface.hostapi",
        ("'CoreAudio'", "JACK Audio Connection Kit")),
    "input channel beyond the device": (
        {"inputs": "inputs = [1, 9]"}, "program.inputs[1]",
        ("channel 9", "8 input channels", "'system'", "1..8")),
    "output channel beyond the device": (
        {"outputs": "outputs = [10, 2]"}, "program.outputs[0]",
        ("channel 10", "8 output channels", "1..8")),
    "monitor channel beyond the device": (
        {"monitor": "monitor = [8, 9]"}, "program.monitor[1]", ("8 output channels",)),
    "unsupported sample rate": (
        {"sample_rate": "sample_rate = 44100"}, "interface.sample_rate",
        ("refuses 44100 Hz", "48000 Hz")),
}


@pytest.mark.parametrize("case", list(DEVICE_ERRORS))
def test_device_error_is_one_line_naming_file_key_and_expectation(jack_server, tmp_path: Path,
                                                                  case: str) -> None:
    replace, key, fragments = DEVICE_ERRORS[case]
    s = session_with(tmp_path, **replace)
    with pytest.raises(ConfigError) as exc:
        resolve_device(s)
    assert_one_line(str(exc.value), tmp_path / "session.toml", key, *fragments)


@pytest.mark.parametrize(("sends", "returns", "key", "fragment"), [
    ([9, 10], [3, 4], "chain[2].sends[0]", "channel 9 is beyond the 8 output channels"),
    ([3, 4], [4, 12], "chain[2].returns[1]", "channel 12 is beyond the 8 input channels"),
])
def test_hardware_channels_beyond_the_device_are_one_line_before_streaming(
        fake_portaudio, tmp_path: Path, sends, returns, key, fragment) -> None:
    hw = HARDWARE.replace("sends = [3, 4]", f"sends = {sends}").replace(
        "returns = [3, 4]", f"returns = {returns}")
    s = load_session(write(tmp_path, BASE + hw))
    with pytest.raises(ConfigError) as exc:
        resolve_device(s)
    assert_one_line(str(exc.value), s.path, key, fragment, "'system' [JACK]", "1..8")


def test_the_embedded_studio_has_ports_for_the_hardware_inserts_too(monkeypatch,
                                                                     tmp_path: Path) -> None:
    """A send on output 12 gets a studio of 12 playback ports, not 8."""
    from host.live import device

    made = {}

    class Server:
        started_here = True

        def __init__(self, **kw):
            made.update(kw)

        def start(self):
            return self

    monkeypatch.setattr(device, "_running_jack", lambda: None)
    monkeypatch.setattr(device, "JackServer", Server)
    hw = HARDWARE.replace("sends = [3, 4]", "sends = [11, 12]").replace(
        "returns = [3, 4]", "returns = [9, 10]")
    assert isinstance(ensure_studio(load_session(write(tmp_path, BASE + hw))), Server)
    assert (made["capture"], made["playback"]) == (10, 12)


def test_device_name_part_is_case_insensitive(jack_server, tmp_path: Path) -> None:
    s = session_with(tmp_path, device='device = "SYST"', hostapi='hostapi = "jack"')
    assert resolve_device(s).name == "system"


FAKE_APIS = [{"name": "ALSA"}, {"name": "JACK Audio Connection Kit"}]


def fake_device(name: str, api: int, ins: int = 18, outs: int = 20) -> dict:
    return {"name": name, "hostapi": api, "max_input_channels": ins,
            "max_output_channels": outs, "default_samplerate": 48000.0}


@pytest.fixture
def fake_portaudio(monkeypatch):
    """Replace PortAudio's device list (only for the matching rules, which need
    more devices than the embedded studio has)."""
    import sounddevice as sd

    devices = [fake_device("Scarlett 18i20 USB: Audio (hw:1,0)", 0),
               fake_device("Scarlett 2i2 USB: Audio (hw:2,0)", 0, 2, 2),
               fake_device("system", 1, 8, 8),
               fake_device("system", 0, 2, 2),
               fake_device("system monitor", 1, 2, 2)]
    monkeypatch.setattr(sd, "query_hostapis", lambda: FAKE_APIS)
    monkeypatch.setattr(sd, "query_devices", lambda: devices)
    monkeypatch.setattr(sd, "check_input_settings", lambda **kw: None)
    monkeypatch.setattr(sd, "check_output_settings", lambda **kw: None)
    return devices


def test_ambiguous_device_part_lists_the_matches(fake_portaudio, tmp_path: Path) -> None:
    s = session_with(tmp_path, device='device = "scarlett"', hostapi="")
    with pytest.raises(ConfigError) as exc:
        resolve_device(s)
    assert_one_line(str(exc.value), tmp_path / "session.toml", "interface.device",
                    "matches 2 devices", "'Scarlett 18i20 USB: Audio (hw:1,0)' [ALSA 18/20]",
                    "'Scarlett 2i2 USB: Audio (hw:2,0)' [ALSA 2/2]", "unique part")


def test_same_name_under_two_host_apis_asks_for_hostapi(fake_portaudio, tmp_path: Path) -> None:
    s = session_with(tmp_path, hostapi="")
    with pytest.raises(ConfigError, match=r"set interface\.hostapi"):
        resolve_device(s)


def test_exact_name_wins_over_parts_and_hostapi_narrows(fake_portaudio, tmp_path: Path) -> None:
    dev = resolve_device(session_with(tmp_path))          # "system" under JACK, not "... monitor"
    assert (dev.index, dev.hostapi, dev.max_output_channels) == (2, "JACK Audio Connection Kit", 8)
    dev = resolve_device(session_with(tmp_path, device='device = "18i20"', hostapi="",
                                      inputs="inputs = [17, 18]", outputs="outputs = [19, 20]",
                                      monitor=""))
    assert (dev.index, dev.name) == (0, "Scarlett 18i20 USB: Audio (hw:1,0)")


# ------------------------------------------------------------------- the studio


@pytest.fixture
def no_new_server(monkeypatch):
    """Fail the test if ensure_studio tries to start a JACK server."""
    from host.sim import jack_server as js

    def refuse(self, *a, **k):
        raise AssertionError("ensure_studio started a server although one runs")

    monkeypatch.setattr(js.JackServer, "start", refuse)


def test_ensure_studio_uses_the_running_server(jack_server, no_new_server,
                                               tmp_path: Path) -> None:
    assert ensure_studio(session_with(tmp_path)) is None


def test_ensure_studio_reports_a_rate_mismatch_as_an_error(jack_server, no_new_server,
                                                           tmp_path: Path) -> None:
    s = session_with(tmp_path, sample_rate="sample_rate = 96000")
    with pytest.raises(ConfigError) as exc:
        ensure_studio(s)
    assert_one_line(str(exc.value), tmp_path / "session.toml", "interface.sample_rate",
                    "runs at 48000 Hz", "not 96000 Hz")


def test_ensure_studio_warns_of_a_period_mismatch(jack_server, no_new_server,
                                                  tmp_path: Path) -> None:
    s = session_with(tmp_path, block_size="block_size = 512")
    said: list[str] = []
    assert ensure_studio(s, warn=said.append) is None
    assert len(said) == 1
    msg = said[0]
    assert "\n" not in msg and msg.startswith(f"{tmp_path / 'session.toml'}: ")
    for f in ("interface.block_size", "period is 128 frames, not 512", "runs at 128 frames"):
        assert f in msg, msg
    with pytest.warns(StudioWarning, match=r"interface\.block_size"):
        ensure_studio(s)


def test_ensure_studio_leaves_other_host_apis_alone(no_new_server, tmp_path: Path) -> None:
    s = session_with(tmp_path, hostapi='hostapi = "ALSA"', sample_rate="sample_rate = 96000")
    assert ensure_studio(s) is None


STUDIO_SCRIPT = r"""
import json, sys
import jack
from host.live.device import ensure_studio, resolve_device
from host.model.session import load_session

s = load_session(sys.argv[1])
server = ensure_studio(s)
try:
    print(json.dumps({"pid": server.proc.pid, "started_here": server.started_here}), flush=True)
    c = jack.Client("outboard-test-session", no_start_server=True)
    out = {"rate": c.samplerate, "period": c.blocksize,
           "capture": len(c.get_ports("system:capture_.*", is_audio=True)),
           "playback": len(c.get_ports("system:playback_.*", is_audio=True))}
    c.close()
    dev = resolve_device(s)
    out.update(device=dev.name, ins=dev.max_input_channels, outs=dev.max_output_channels,
               default_rate=dev.default_samplerate)
    print(json.dumps(out), flush=True)
finally:
    server.stop()
"""


def test_ensure_studio_starts_the_embedded_server_when_none_runs(tmp_path: Path) -> None:
    """In a child process under a JACK server name of its own
    (JACK_DEFAULT_SERVER): the shared test server is neither seen nor touched,
    and no process talks to two JACK servers (libjack keeps one per process).
    The server gets the session's rate and period and max(8, highest channel)
    ports, and is stopped by the caller."""
    import json
    import signal
    import subprocess
    import sys

    from host.sim.jack_server import jackd_path

    if jackd_path() is None:
        pytest.skip("jackd is not installed (Debian package jackd2)")
    s = session_with(tmp_path, sample_rate="sample_rate = 44100", block_size="block_size = 256",
                     outputs="outputs = [9, 10]", monitor="monitor = [3, 4]")
    name = f"outboard-test-session-{os.getpid()}"
    env = dict(os.environ, JACK_DEFAULT_SERVER=name)
    proc = subprocess.run([sys.executable, "-c", STUDIO_SCRIPT, str(s.path)], env=env,
                          cwd=Path(__file__).resolve().parents[2], capture_output=True,
                          text=True, timeout=60)
    lines = [json.loads(x) for x in proc.stdout.splitlines() if x.startswith("{")]
    pid = lines[0]["pid"] if lines else None
    if pid is not None:   # safety net: the child's own jackd must be gone
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            environ = b""
        if f"JACK_DEFAULT_SERVER={name}".encode() in environ.split(b"\0"):
            os.kill(pid, signal.SIGTERM)
            pytest.fail(f"the embedded server (pid {pid}) was still running after stop()")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert lines[0]["started_here"] is True
    assert lines[1] == {"rate": 44100, "period": 256, "capture": 8, "playback": 10,
                        "device": "system", "ins": 8, "outs": 10, "default_rate": 44100.0}
