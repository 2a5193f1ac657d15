"""`outboard ping` and hardware inserts end to end in the embedded studio:
measured round trip = the virtual gear's configured delay + the JACK loop's
one period, agreement with jack_iodelay, stored measurements and staleness,
a silent return refused, and the null test of a compensated wire."""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import Toml, write_session
import soundfile as sf

from host.cli import main
from host.sim.jack_server import stop_process

PERIOD = 128  # the studio's JACK period
# The host's loop out through a JACK client and back adds whole periods:
# one at JACK's feedback edge (the gear runs after the host in the cycle, its
# output reaches the host the next cycle) and one inside PortAudio's JACK
# client, which hands the callback the previous cycle's buffers.  jack_iodelay,
# a plain JACK client, pays only the first.
LOOP = 2 * PERIOD
ROOT = Path(__file__).resolve().parents[2]


def session(tmp_path: Path, gear: str | None, latency: dict | None = None, name: str = "s.toml",
            chain_hw: bool = True, mix: float = 1.0, trim: str = '"auto"',
            polarity: str = '"auto"') -> Path:
    """gain "pre", hardware "unit" (sends/returns 3-4, virtual gear ``gear``:
    TOML text), eq "post"; ``latency``: the [latency] table."""
    hw = {"kind": "hardware", "name": "unit", "sends": [3, 4], "returns": [3, 4], "mix": mix,
          "polarity": Toml(polarity), "return_trim_db": Toml(trim)}
    if gear:
        hw["virtual_gear"] = Toml(gear)
    chain = [{"kind": "gain", "name": "pre", "gain_db": -3.0}, *([hw] if chain_hw else []),
             {"kind": "eq", "name": "post", "bands": [{"type": "peak", "freq_hz": 1000.0,
                                                       "gain_db": 2.0, "q": 1.0}]}]
    return write_session(tmp_path / name, chain, latency=latency)


def record(sess: Path, mix: Path, out: Path, capsys, attempts: int = 3) -> str:
    """`outboard run --record`, taken again (at most ``attempts`` times) when the
    run reports xruns: a late JACK client (the virtual gear's Python callback
    on a loaded machine) drops or repeats a period, which no null survives."""
    err = ""
    for _ in range(attempts):
        assert main(["run", str(sess), "--input", str(mix), "--record", str(out), "-q"]) == 0
        cap = capsys.readouterr()
        err = cap.err
        m = re.search(r"xruns (\d+)", cap.out)
        if m and int(m.group(1)) == 0:
            break
    return err  # of the take kept


def ping(path: Path, capsys, *extra: str) -> dict:
    code = main(["ping", str(path), "--insert", "unit", "--json", *extra])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


@pytest.mark.parametrize(("delay", "polarity", "gain_db"),
                         [(40.0, 1, 0.0), (37.25, -1, -6.0), (100.5, 1, 3.0)])
def test_ping_measures_the_gear_delay_plus_one_jack_period(jack_server, tmp_path, capsys,
                                                           delay, polarity, gain_db):
    p = session(tmp_path, f"{{ delay_samples = {delay}, polarity = {polarity}, "
                          f"gain_db = {gain_db} }}")
    r = ping(p, capsys)
    assert r["insert"] == "unit"
    assert r["latency_samples"] == pytest.approx(delay + LOOP, abs=0.05)
    assert r["latency_ms"] == pytest.approx((delay + LOOP) / 48.0, abs=0.002)
    assert r["polarity"] == polarity
    assert r["gain_db"] == pytest.approx(gain_db, abs=0.1)
    assert r["snr_db"] > 40
    assert [c["return"] for c in r["channels"]] == [1, 2]


def test_left_and_right_skew_is_measured_per_channel(jack_server, tmp_path, capsys):
    p = session(tmp_path, "{ delay_samples = [37.25, 38.6] }")
    r = ping(p, capsys)
    lat = [c["latency_samples"] for c in r["channels"]]
    assert lat == pytest.approx([37.25 + LOOP, 38.6 + LOOP], abs=0.05)
    assert r["skew_samples"] == pytest.approx(1.35, abs=0.05)


def test_repeated_measurements_agree_within_five_hundredths_of_a_sample(jack_server, tmp_path,
                                                                       capsys):
    p = session(tmp_path, "{ delay_samples = 61.7, noise_dbfs = -100.0 }")
    lats = [ping(p, capsys)["latency_samples"] for _ in range(3)]
    assert max(lats) - min(lats) <= 0.05


@pytest.mark.skipif(shutil.which("jack_iodelay") is None, reason="jack_iodelay not installed")
def test_ping_agrees_with_jack_iodelay_on_the_same_gear(jack_server, tmp_path, capsys):
    import jack

    from host.model.virtual_gear import GearSpec
    from host.sim.virtual_gear import VirtualGear

    delay = 57.25
    p = session(tmp_path, f"{{ delay_samples = {delay} }}")
    ours = ping(p, capsys)["latency_samples"]
    spec = GearSpec("iodelay-gear", channels=1, delay_samples=delay)
    client = jack.Client("outboard-test-iodelay", no_start_server=True)
    proc = subprocess.Popen(["jack_iodelay"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True)
    try:
        with VirtualGear(spec) as gear:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not client.get_ports("jack_delay:"):
                time.sleep(0.1)
            gear.wire(client, ["jack_delay:out"], ["jack_delay:in"])
            values = []
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and len(values) < 8:
                line = proc.stdout.readline()
                m = re.search(r"([\d.]+) frames\s+[\d.]+ ms total roundtrip", line)
                if m:
                    values.append(float(m.group(1)))
    finally:
        stop_process(proc)
        client.close()
    assert values, "jack_iodelay printed no measurement"
    theirs = float(np.median(values[2:] or values))
    # jack_iodelay's loop pays JACK's feedback period; ours pays PortAudio's too
    assert theirs == pytest.approx(delay + PERIOD, abs=0.1)
    assert ours - PERIOD == pytest.approx(theirs, abs=0.1)


def test_a_silent_return_is_an_error_not_a_number(jack_server, tmp_path, capsys):
    p = session(tmp_path, None)  # no unit patched: the returns hear the dummy inputs' silence
    code = main(["ping", str(p), "--insert", "unit", "--json"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "insert unit: return channel 1" in err[0]


def test_save_then_run_uses_the_stored_figure_and_stale_ones_are_handled(jack_server, tmp_path,
                                                                         capsys):
    p = session(tmp_path, "{ delay_samples = 30.0 }")
    r = ping(p, capsys, "--save")
    store = p.with_name(p.stem + ".measured.json")
    assert r["saved_to"] == str(store) and store.exists()
    data = json.loads(store.read_text())
    assert data["inserts"]["unit"]["sample_rate"] == 48000
    # a stored figure from another device is stale: remeasured by default ...
    data["inserts"]["unit"]["device"] = "another interface"
    store.write_text(json.dumps(data))
    code = main(["run", str(p), "--duration", "0.3", "-q"])
    err = capsys.readouterr().err
    assert code == 0 and "stale" in err and "measuring again" in err
    # ... refused when the session says so
    p2 = session(tmp_path, "{ delay_samples = 30.0 }", {"on_stale": "refuse"},
                 name="s.toml")
    store.write_text(json.dumps(data))
    code = main(["run", str(p2), "--duration", "0.3", "-q"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and "stale" in err[-1] and "insert unit" in err[-1]


def test_null_compensated_wire_against_the_chain_without_it(jack_server, tmp_path, capsys):
    """A wire unit at 100% wet, compensated, subtracted from the same chain
    without the insert: residual at or below -90 dBFS."""
    rng = np.random.default_rng(4)
    fs = 48000
    x = (0.2 * rng.standard_normal((int(fs * 1.5), 2))).astype(np.float32)
    mix = tmp_path / "mix.wav"
    sf.write(mix, x, fs, subtype="FLOAT")
    with_hw = session(tmp_path, "{ delay_samples = 45.0 }", name="hw.toml", trim="0.0",
                      polarity="1")
    without = session(tmp_path, None, name="plain.toml", chain_hw=False)
    a, b = tmp_path / "a.wav", tmp_path / "b.wav"
    for sess, out in ((with_hw, a), (without, b)):
        record(sess, mix, out, capsys)
    ya, _ = sf.read(a)
    yb, _ = sf.read(b)
    assert ya.shape == yb.shape == x.shape
    residual = 20 * np.log10(np.max(np.abs(ya - yb)) + 1e-20)
    assert residual <= -90.0


def test_auto_return_trim_brings_the_unit_back_to_unity(jack_server, tmp_path, capsys):
    """Gain staging: a wire unit losing 6 dB with an inverted output, trimmed
    and flipped from its measurement, matches the chain without it."""
    rng = np.random.default_rng(5)
    fs = 48000
    x = (0.2 * rng.standard_normal((fs, 2))).astype(np.float32)
    mix = tmp_path / "mix.wav"
    sf.write(mix, x, fs, subtype="FLOAT")
    hw = session(tmp_path, "{ delay_samples = 45.0, gain_db = -6.0, polarity = -1 }",
                 name="hw.toml")
    plain = session(tmp_path, None, name="plain.toml", chain_hw=False)
    a, b = tmp_path / "a.wav", tmp_path / "b.wav"
    for sess, out in ((hw, a), (plain, b)):
        record(sess, mix, out, capsys)
    ya, _ = sf.read(a)
    yb, _ = sf.read(b)
    level = 20 * np.log10(np.sqrt(np.mean(ya**2)) / np.sqrt(np.mean(yb**2)))
    assert level == pytest.approx(0.0, abs=0.05)
    assert np.corrcoef(ya[:, 0], yb[:, 0])[0, 1] > 0.9999


def test_measure_at_start_pings_in_the_stream_instead_of_trusting_the_store(
        jack_server, tmp_path, capsys):
    """Some interfaces change their latency between stream opens: with
    [latency] measure_at_start the stored figure (here deliberately wrong) is
    ignored and a pre-roll ping in the stream itself sets the compensation."""
    rng = np.random.default_rng(6)
    fs = 48000
    x = (0.2 * rng.standard_normal((fs, 2))).astype(np.float32)
    mix = tmp_path / "mix.wav"
    sf.write(mix, x, fs, subtype="FLOAT")
    hw = session(tmp_path, "{ delay_samples = 45.0 }", {"measure_at_start": True},
                 name="hw.toml", trim="0.0", polarity="1")
    ping(hw, capsys, "--save")
    store = hw.with_name("hw.measured.json")
    data = json.loads(store.read_text())
    data["inserts"]["unit"]["latency_samples"] = [1000.0, 1000.0]  # wrong, and not stale
    store.write_text(json.dumps(data))
    plain = session(tmp_path, None, name="plain.toml", chain_hw=False)
    a, b = tmp_path / "a.wav", tmp_path / "b.wav"
    assert "measured round trip" in record(hw, mix, a, capsys)
    record(plain, mix, b, capsys)
    ya, _ = sf.read(a)
    yb, _ = sf.read(b)
    assert 20 * np.log10(np.max(np.abs(ya - yb)) + 1e-20) <= -90.0


def test_a_ping_frozen_into_xruns_is_taken_again_and_never_blames_the_cables(
        private_jack, tmp_path):
    """`outboard ping` frozen (SIGSTOP) for 0.15 s every 0.35 s, on a JACK server
    of its own: the server reports xruns during every ping (0.5 s, then a 0.5 s
    tail).  The ping says so and is taken again; then either two torn pings
    measured alike (the freezes moved the return with the send) and the
    measurement is the gear's delay plus the loop's, or one line refuses,
    naming the xruns.  Nothing blames the cables or the gear's power (what a
    torn return's low SNR used to say)."""
    import os
    import signal
    import sys

    p = session(tmp_path, "{ delay_samples = 40.0 }")
    server = private_jack()
    exe = Path(sys.executable).parent / "outboard"
    proc = subprocess.Popen([str(exe), "ping", str(p), "--insert", "unit", "--json"],
                            env=server.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + 60
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGSTOP)
                time.sleep(0.15)
                os.kill(proc.pid, signal.SIGCONT)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "Traceback" not in stderr
    assert "cable" not in stderr and "power" not in stderr
    lines = stderr.strip().splitlines()
    again = [ln for ln in lines if "pinging again" in ln]
    assert again and all(re.fullmatch(r"outboard: insert unit: the audio server reported \d+ "
                                      r"xruns? during the ping; pinging again \([23] of 3\)", ln)
                         for ln in again), lines
    if proc.returncode == 0:
        assert lines[-1] == ("outboard: insert unit: the audio server reported xruns during "
                             "the pings, but two of them measure alike (within 0.05 samples): "
                             "taken")
        assert json.loads(stdout)["latency_samples"] == pytest.approx(40.0 + LOOP, abs=0.05)
    else:
        assert proc.returncode == 2, stderr
        assert re.fullmatch(r"outboard: error: insert unit: the audio server reported xruns "
                            r"during every ping \(\d+, \d+, \d+ in 3 pings\): a ping torn by "
                            r"an xrun cannot be measured; free the CPU \(other audio programs, "
                            r"a larger block size\) and ping again", lines[-1]), lines[-1]
