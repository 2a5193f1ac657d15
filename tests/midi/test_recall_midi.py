"""MIDI recall (host.midi.recall, host.cli.recall) onto virtual gear over real JACK MIDI.

The gear (host.sim.gear, its own process) reports every knob it holds; those
reports are the reference: each recalled knob must land within the resolution
of its MIDI law (host.midi.laws.resolution) of the session's value, and the
audio through the recalled compressor must follow the static curve of the
recalled threshold and ratio (Giannoulis et al., JAES 2012, eq. 4, hard knee).
Expected bytes come from the MIDI specification (CC, 14-bit pair, NRPN 99/98/6/38,
Roland checksum) as parsed by mido, not from the encoder under test alone.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import time
from pathlib import Path

import mido
import numpy as np
import pytest
from conftest import write_session as session_file

from host.errors import ConfigError
from host.midi import encode, laws
from host.midi.profiles import load_profile
from host.midi.recall import plan, recall_session, verify_session
from host.cli.recall import EXIT_NOT_RECALLED, add_parser
from host.model.session import load_session
from host.model.virtual_gear import GearSpec
from host.sim.probe import PlayRecordClient
from host.sim.virtual_gear import VirtualGear

PID = os.getpid()
COMP = f"trm-comp-{PID}"
EQ = f"trm-eq-{PID}"
EQ_BANDS = [{"type": "peak", "freq_hz": 1000.0, "gain_db": 0.0, "q": 1.0},
            {"type": "highpass", "freq_hz": 30.0},
            {"type": "lowshelf", "freq_hz": 100.0, "gain_db": 0.0},
            {"type": "highshelf", "freq_hz": 8000.0, "gain_db": 0.0}]
COMP_SETTINGS = {"threshold_db": -30.0, "ratio": 4.0, "attack_ms": 0.1, "release_ms": 500.0,
                 "makeup_db": 1.5}
EQ_SETTINGS = {"bands[0].gain_db": 6.0, "bands[2].gain_db": -3.3, "bands[3].gain_db": 11.9}
SNAPSHOTS = {"A": {"ratio": 2.0, "threshold_db": -20.0}, "B": {"ratio": 10.0}}
ATTEMPTS = 4


def write_session(path: Path, units: list[dict]) -> Path:
    """A session file with one hardware insert per unit (name, midi, settings, snapshots)."""
    chain = [{"kind": "hardware", "name": u["name"], "sends": [3 + 2 * i, 4 + 2 * i],
              "returns": [3 + 2 * i, 4 + 2 * i],
              **{k: u[k] for k in ("midi", "settings", "snapshots") if k in u}}
             for i, u in enumerate(units)]
    return session_file(path, chain, interface={"embedded_jack": None})


def comp_unit(port: str = COMP, **kw) -> dict:
    return {"name": "varimu", "midi": {"profile": "outboard_virtual_compressor", "port": port,
                                       "channel": 1},
            "settings": COMP_SETTINGS, "snapshots": SNAPSHOTS, **kw}


def eq_unit(port: str = EQ) -> dict:
    return {"name": "pultec", "midi": {"profile": "outboard_virtual_eq", "port": port,
                                       "channel": 2},
            "settings": EQ_SETTINGS}


def landed(gear: VirtualGear, profile, values: dict, timeout_s: float = 1.5) -> list[str]:
    """Knobs of ``values`` the gear does not (yet) report within their law's resolution."""
    deadline = time.monotonic() + timeout_s
    while True:
        knobs = gear.knobs()
        off = []
        for name, v in values.items():
            p = profile.parameters[name]
            if p.send == "manual":
                continue
            tol = laws.resolution(p, v) + 1e-9
            if name not in knobs or abs(knobs[name] - v) > tol:
                off.append(f"{name}: gear {knobs.get(name)!r}, asked {v:g} (+-{tol:g})")
        if not off or time.monotonic() > deadline:
            return off
        time.sleep(0.02)


def recall_until_landed(session, checks, snapshot=None, **kw):
    """Recall; redo it (up to ATTEMPTS times) only while some knob did not land: a late
    client can lose a cycle's MIDI events under load (see host.sim.gear, Xruns)."""
    for _ in range(ATTEMPTS):
        report = recall_session(session, snapshot, say=lambda m: None, **kw)
        off = [o for gear, prof, vals in checks for o in landed(gear, prof, vals)]
        if not off:
            return report
    pytest.fail(f"knobs did not land after {ATTEMPTS} recalls: {'; '.join(off)}")


@pytest.fixture
def comp_gear(jack_server):
    spec = GearSpec(COMP, channels=1, processing="compressor", midi=True,
                    compressor={"knee_db": 0.0})
    with VirtualGear(spec) as g:
        yield g


@pytest.fixture
def eq_gear(jack_server):
    spec = GearSpec(EQ, channels=2, processing="eq", bands=EQ_BANDS, midi=True, midi_channel=2)
    with VirtualGear(spec) as g:
        yield g


def run_cli(argv: list[str]) -> tuple[int, str]:
    ap = argparse.ArgumentParser()
    add_parser(ap.add_subparsers())
    args = ap.parse_args(["recall", *argv])
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = args.func(args)
    return code, out.getvalue()


# ---- session keys ---------------------------------------------------------------------------


def test_session_midi_keys_validate_at_load_naming_insert_parameter_and_range(tmp_path):
    s = load_session(write_session(tmp_path / "ok.toml", [comp_unit()]))
    assert s.chain.inserts[0].params["settings"]["ratio"] == 4.0
    bad = comp_unit(settings={"threshold_db": -50.0})
    with pytest.raises(ConfigError, match=r"chain\[0\]\.settings\.threshold_db: insert "
                                          r"'varimu': threshold_db: -50 dBFS is out of range "
                                          r"-40\.\.0 dBFS"):
        load_session(write_session(tmp_path / "range.toml", [bad]))
    bad = comp_unit(snapshots={"A": {"ratio": 5.0}})
    with pytest.raises(ConfigError, match=r"snapshots\.A\.ratio: insert 'varimu'.*1, 1\.5, 2"):
        load_session(write_session(tmp_path / "table.toml", [bad]))
    bad = comp_unit(settings={"treshold_db": -20.0})
    with pytest.raises(ConfigError, match=r"settings\.treshold_db: .*not a parameter"):
        load_session(write_session(tmp_path / "name.toml", [bad]))
    bad = comp_unit()
    bad["midi"] = {**bad["midi"], "channel": 17}
    with pytest.raises(ConfigError, match=r"midi\.channel: expected an integer 1\.\.16"):
        load_session(write_session(tmp_path / "ch.toml", [bad]))
    bad["midi"] = {"profile": "no_such_unit", "port": "x"}
    with pytest.raises(ConfigError, match=r"midi\.profile: insert 'varimu'"):
        load_session(write_session(tmp_path / "prof.toml", [bad]))
    with pytest.raises(ConfigError, match=r"settings: insert 'varimu': needs midi"):
        load_session(write_session(tmp_path / "nomidi.toml",
                                   [{"name": "varimu", "settings": {"ratio": 2.0}}]))


def test_manual_parameters_are_accepted_and_listed_as_set_by_hand(tmp_path):
    u = comp_unit(settings={**COMP_SETTINGS, "mode": "modern"})
    s = load_session(write_session(tmp_path / "s.toml", [u]))
    (p,) = plan(s)
    manual = {m["name"]: m["value"] for m in p.manual}
    assert manual["mode"] == "modern" and "mode" not in {st.name for st in p.steps}
    assert {st.name for st in p.steps} == {"threshold_db", "ratio", "attack_ms", "release_ms",
                                           "makeup_db"}


# ---- dry run --------------------------------------------------------------------------------


def test_dry_run_prints_the_encoders_bytes_and_opens_no_port(tmp_path):
    path = write_session(tmp_path / "s.toml", [comp_unit("not-there"), eq_unit("nor-this")])
    code, out = run_cli([str(path), "--dry-run", "--json", "--snapshot", "A"])
    assert code == 0
    units = json.loads(out)["units"]
    comp, eq = load_profile("outboard_virtual_compressor"), load_profile("outboard_virtual_eq")
    values = {**COMP_SETTINGS, **SNAPSHOTS["A"]}
    got = {p["name"]: p["bytes"] for p in units[0]["parameters"]}
    assert got == {k: [m.hex(" ") for m in encode.messages(comp, k, v, 1)]
                   for k, v in values.items()}
    got = {p["name"]: p["bytes"] for p in units[1]["parameters"] if p["name"] in EQ_SETTINGS}
    assert got == {k: [m.hex(" ") for m in encode.messages(eq, k, v, 2)]
                   for k, v in EQ_SETTINGS.items()}
    # Independently of the encoder: the MIDI spec's forms, as mido parses them.
    thr = [mido.Message.from_bytes(bytes.fromhex(h)) for h in
           next(p for p in units[0]["parameters"] if p["name"] == "threshold_db")["bytes"]]
    # linear -40..0 dBFS in 14 bits: 8191.5, the nearest raw value (the lower on a tie)
    raw = math.ceil((-20.0 + 40.0) / 40.0 * 16383 - 0.5)
    assert [(m.type, m.channel, m.control, m.value) for m in thr] == [
        ("control_change", 0, 20, raw >> 7), ("control_change", 0, 52, raw & 127)]
    band0 = [mido.Message.from_bytes(bytes.fromhex(h)) for h in
             next(p for p in units[1]["parameters"] if p["name"] == "bands[0].gain_db")["bytes"]]
    assert [(m.channel, m.control, m.value) for m in band0] == [(1, 20, 64 + 32)]  # +6 dB
    code, text = run_cli([str(path), "--dry-run"])
    assert code == 0 and "[varimu]" in text and "[pultec]" in text
    assert " | ".join(m.hex(" ") for m in encode.messages(comp, "threshold_db", -30.0, 1)) in text
    assert "mode = vintage" in text and "set by hand" in text


# ---- recall onto the gear -------------------------------------------------------------------


def test_recall_lands_every_knob_on_compressor_and_eq(tmp_path, comp_gear, eq_gear):
    s = load_session(write_session(tmp_path / "s.toml", [comp_unit(), eq_unit()]))
    comp, eq = load_profile("outboard_virtual_compressor"), load_profile("outboard_virtual_eq")
    report = recall_until_landed(s, [(comp_gear, comp, COMP_SETTINGS),
                                     (eq_gear, eq, EQ_SETTINGS)])
    assert report.ok and report.recalled == ["varimu", "pultec"]
    assert report.units[0].port == f"{COMP}:midi_in"
    knobs = eq_gear.knobs()
    assert knobs["bands[0].gain_db"] == 6.0          # 7-bit centred: exact on the grid
    assert abs(knobs["bands[3].gain_db"] - 11.9) <= 12 / 64   # top step (+11.8125)
    # the EQ listens on channel 2 only: a channel-1 message would not have landed
    assert {r["channel"] for r in eq_gear.reports() if r.get("event") == "knobs"} == {2}


def _level_db(probe: PlayRecordClient, x: np.ndarray, fs: float, f0: float) -> float:
    """Median per-block amplitude of ``f0`` over the last 100 ms of the take (a block
    a late client handed over stale is the same steady sine, so it cannot bias it)."""
    n = probe.blocksize
    rec = probe.play_record(np.tile(x, (probe_outputs(probe), 1)), len(x))[0]
    t = np.arange(n) / fs
    a = np.stack([np.sin(2 * np.pi * f0 * t), np.cos(2 * np.pi * f0 * t), np.ones(n)], 1)
    blocks = range((len(x) - int(0.1 * fs)) // n, len(x) // n)
    amps = [np.hypot(*np.linalg.lstsq(a, rec[b * n:(b + 1) * n].astype(float),
                                      rcond=None)[0][:2]) for b in blocks]
    return float(20 * np.log10(np.median(amps)))


def probe_outputs(probe: PlayRecordClient) -> int:
    return len(probe.outputs)


def test_recalled_compressor_follows_the_static_curve_of_each_snapshot(tmp_path, comp_gear):
    s = load_session(write_session(tmp_path / "s.toml", [comp_unit()]))
    prof = load_profile("outboard_virtual_compressor")
    # The recall (python-rtmidi, which keeps the GIL while libjack opens its
    # client) runs while no Python-callback JACK client lives in this process:
    # otherwise the server waits on the probe's callback, the callback on the
    # GIL, and the GIL on the server.
    f0, level = 997.0, -6.0
    for snap in ("A", None, "B"):
        values = {**COMP_SETTINGS, **(SNAPSHOTS[snap] if snap else {})}
        recall_until_landed(s, [(comp_gear, prof, values)], snapshot=snap)
        knobs = comp_gear.knobs()
        t_db, ratio, makeup = knobs["threshold_db"], knobs["ratio"], knobs["makeup_db"]
        assert ratio == values["ratio"]
        want = t_db + (level - t_db) / ratio + makeup      # Giannoulis eq. 4, hard knee
        with PlayRecordClient(f"trm-probe-{PID}", outputs=1, inputs=1) as probe:
            comp_gear.wire(probe.client, probe.outputs, probe.inputs)
            fs = probe.fs
            x = (10 ** (level / 20) * np.sin(2 * np.pi * f0 * np.arange(int(0.4 * fs)) / fs))
            got = _level_db(probe, x, fs, f0)
            for _ in range(ATTEMPTS):
                if abs(got - want) <= 0.25 or probe.last_xruns == 0:
                    break
                got = _level_db(probe, x, fs, f0)
            assert abs(got - want) <= 0.25, (f"snapshot {snap}: out {got:.2f} dB, static "
                                             f"curve {want:.2f} dB")


def test_snapshot_overrides_only_its_own_keys(tmp_path, comp_gear):
    s = load_session(write_session(tmp_path / "s.toml", [comp_unit()]))
    prof = load_profile("outboard_virtual_compressor")
    recall_until_landed(s, [(comp_gear, prof, {**COMP_SETTINGS, **SNAPSHOTS["B"]})],
                        snapshot="B")
    knobs = comp_gear.knobs()
    assert knobs["ratio"] == 10.0
    assert abs(knobs["threshold_db"] + 30.0) <= 40 / 16383
    with pytest.raises(Exception, match=r"no hardware insert has a snapshot 'C'.*A, B"):
        recall_session(s, "C", say=lambda m: None)


# ---- ports that are not there ---------------------------------------------------------------


def test_missing_port_lists_the_ports_and_the_other_units_are_recalled(tmp_path, comp_gear):
    path = write_session(tmp_path / "s.toml", [comp_unit(), eq_unit(f"absent-eq-{PID}")])
    code, out = run_cli([str(path), "--json"])
    assert code == EXIT_NOT_RECALLED
    rep = json.loads(out)
    assert rep["recalled"] == ["varimu"] and rep["not_recalled"] == ["pultec"]
    err = rep["units"][1]["error"]
    assert f"'absent-eq-{PID}' is not present" in err and f"{COMP}:midi_in" in err
    assert "\n" not in err
    code, out = run_cli([str(path)])
    assert code == EXIT_NOT_RECALLED
    assert "pultec: NOT recalled: MIDI output port" in out
    assert "recalled: varimu; not recalled: pultec" in out


def test_a_missing_port_is_said_once(tmp_path, jack_server, capsys):
    path = write_session(tmp_path / "s.toml", [eq_unit(f"absent-eq-{PID}")])
    ap = argparse.ArgumentParser()
    add_parser(ap.add_subparsers())
    args = ap.parse_args(["recall", str(path)])
    assert args.func(args) == EXIT_NOT_RECALLED
    out, err = capsys.readouterr()
    said = (out + err).count(f"'absent-eq-{PID}' is not present")
    assert said == 1, out + err
    assert "pultec: NOT recalled: MIDI output port" in out


def test_a_unit_whose_gear_dies_between_units_is_reported_not_recalled(tmp_path, comp_gear):
    spec = GearSpec(EQ, channels=2, processing="eq", bands=EQ_BANDS, midi=True, midi_channel=2)
    eq_gear = VirtualGear(spec).start()
    try:
        s = load_session(write_session(tmp_path / "s.toml", [comp_unit(), eq_unit()]))
        assert all(u.port for u in plan(s))

        def say(msg: str) -> None:       # the first unit is done: pull the second's plug
            if msg == "insert varimu: recalled":
                eq_gear.stop()

        report = recall_session(s, say=say)
    finally:
        eq_gear.stop()
    assert report.recalled == ["varimu"] and report.failed == ["pultec"] and not report.ok
    assert "not present" in report.units[1].error


# ---- NRPN, SysEx and verify -----------------------------------------------------------------

NRPN_SYSEX_PROFILE = """\
# The virtual compressor driven by NRPN and SysEx (host/sim/gear.py, module docstring,
# sections NRPN and SysEx): NRPN number = the knob's CC, SysEx DT1 address = the CC.
maker = "outboard"
model = "virtual compressor, NRPN and SysEx"
midi_channel = 1
pace_ms = 0.5
source = "host/sim/gear.py: module docstring, MIDI (NRPN, SysEx)"
sysex_template = "F0 7D {ch} 12 [ {address} {value:2} ] {checksum} F7"
dump_request = "F0 7D {ch} 11 [ 00 00 ] {checksum} F7"

[parameters.threshold_db]
unit = "dBFS"
min = -40.0
max = 0.0
send = "nrpn"
number = 20

[parameters.ratio]
unit = ":1"
table = [1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 10.0, 20.0]
send = "sysex"
address = "15"

[parameters.attack_ms]
unit = "ms"
min = 0.1
max = 100.0
law = "log"
send = "sysex"
address = "16"

[parameters.release_ms]
unit = "ms"
min = 10.0
max = 2000.0
law = "log"
send = "nrpn"
number = 23

[parameters.makeup_db]
unit = "dB"
min = 0.0
max = 24.0
send = "sysex"
address = "18"
"""


@pytest.fixture
def sysex_session(tmp_path):
    prof = tmp_path / "virtual_comp_nrpn_sysex.toml"
    prof.write_text(NRPN_SYSEX_PROFILE)
    u = comp_unit(snapshots={})
    u["midi"] = {**u["midi"], "profile": str(prof)}
    return load_session(write_session(tmp_path / "s.toml", [u])), load_profile(prof)


def test_nrpn_and_sysex_recall_lands_and_verify_agrees(sysex_session, comp_gear):
    s, prof = sysex_session
    (p,) = plan(s)
    by = {st.name: st for st in p.steps}
    nrpn = [mido.Message.from_bytes(m) for m in by["threshold_db"].messages]
    assert [m.control for m in nrpn] == [99, 98, 6, 38]
    assert [nrpn[0].value, nrpn[1].value] == [0, 20]
    (sx,) = by["makeup_db"].messages
    raw = round(1.5 / 24.0 * 16383)
    body = [0x18, raw >> 7, raw & 127]
    assert sx == bytes([0xF0, 0x7D, 0, 0x12, *body, (128 - sum(body) % 128) % 128, 0xF7])
    assert mido.Message.from_bytes(sx).type == "sysex"
    report = recall_until_landed(s, [(comp_gear, prof, COMP_SETTINGS)], verify=True)
    via = {r["changed"].popitem()[0]: r["via"] for r in comp_gear.reports()
           if r.get("event") == "knobs"}
    assert via == {"threshold_db": "nrpn", "ratio": "sysex", "attack_ms": "sysex",
                   "release_ms": "nrpn", "makeup_db": "sysex"}
    u = report.units[0]
    assert u.verified is True and u.differences == [], report.text()
    assert any(r.get("event") == "dump_request" for r in comp_gear.reports())


def test_verify_reports_a_knob_moved_behind_the_hosts_back(sysex_session, comp_gear):
    s, prof = sysex_session
    recall_until_landed(s, [(comp_gear, prof, COMP_SETTINGS)])
    with PlayRecordClient(f"trm-hand-{PID}", outputs=0, inputs=0, midi_out=True) as hand:
        hand.client.connect(hand.midi_output, comp_gear.midi_input)
        for _ in range(ATTEMPTS):                       # makeup to 12 dB by a plain CC
            hand.send_midi([bytes([0xB0, 24, 64])])
            hand.wait_midi_sent()
            if abs(comp_gear.knobs()["makeup_db"] - 24 * 64 / 127) < 1e-9:
                break
    report = verify_session(s, say=lambda m: None)
    (u,) = report.units
    assert u.verified is False and not report.ok
    assert len(u.differences) == 1, report.text()
    (d,) = u.differences
    assert d["name"] == "makeup_db" and d["want"] == 1.5
    assert abs(d["got"] - 24 * 64 / 127) <= 24 / 16383
    assert "makeup_db differs" in report.text()


def test_recall_cli_on_the_embedded_studio_starts_the_gear_and_recalls(tmp_path, jack_server):
    src = (Path(__file__).parents[2] / "configs" / "session_hybrid_studio.toml").read_text()
    lines = [ln for ln in src.splitlines() if not ln.startswith(("midi =", "settings =",
                                                                  "snapshots ="))]
    i = next(k for k, ln in enumerate(lines) if ln.startswith("virtual_gear ="))
    lines[i + 1:i + 1] = ['midi = { profile = "outboard_virtual_compressor", '
                          'port = "gear-varimu:midi_in" }',
                          'settings = { threshold_db = -30.0, ratio = 4.0, mode = "modern" }']
    path = tmp_path / "hybrid.toml"
    path.write_text("\n".join(lines) + "\n")
    code, out = run_cli([str(path), "--json"])
    rep = json.loads(out)
    assert code == 0 and rep["recalled"] == ["varimu"], out
    assert rep["units"][0]["port"] == "gear-varimu:midi_in"
    assert "mode" in rep["units"][0]["manual"]
