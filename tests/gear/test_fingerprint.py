"""Sonic fingerprint of hardware inserts (host.gear.fingerprint) in the embedded studio:
a wire is flat and linear, an EQ's peak matches the RBJ cookbook's closed form,
a compressor's level curve matches its static curve (Giannoulis et al. 2012,
eq. 4), and `check` finds a knob moved over MIDI at the right frequencies /
levels by the right amount, and nothing on an unchanged unit."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import pytest
from conftest import Toml, write_session

from host.cli import fingerprint as fingerprint_cli
from host.gear import fingerprint as fpm
from host.errors import OutboardError
from host.model.session import load_session
from host.live.stream import SessionStream

FS = 48000


def session(tmp_path: Path, gear: str, name: str = "s.toml") -> Path:
    """A studio session with one hardware insert "unit" on sends/returns 3-4 and
    the virtual gear ``gear`` (TOML text) in it."""
    return write_session(tmp_path / name, [{"kind": "hardware", "name": "unit", "sends": [3, 4],
                                            "returns": [3, 4], "virtual_gear": Toml(gear)}],
                         interface={"sample_rate": FS})


def quiet(msg: str) -> None:
    pass


@pytest.fixture(autouse=True)
def short_silences(monkeypatch):
    """Shorter settle and tail than the defaults (1 s, 0.5 s): the gears here
    release within 100 ms and delay 40 samples, so the test file stays fast."""
    monkeypatch.setattr(fpm, "SETTLE_SECONDS", 0.5)
    monkeypatch.setattr(fpm, "TAIL_SECONDS", 0.2)


def rbj_peak_db(f: np.ndarray, f0: float, gain_db: float, q: float, fs: float) -> np.ndarray:
    """|H| of the Audio EQ Cookbook's peaking EQ (W3C note, R. Bristow-Johnson), dB."""
    A = 10 ** (gain_db / 40)
    w0 = 2 * math.pi * f0 / fs
    alpha = math.sin(w0) / (2 * q)
    b = np.array([1 + alpha * A, -2 * math.cos(w0), 1 - alpha * A])
    a = np.array([1 + alpha / A, -2 * math.cos(w0), 1 - alpha / A])
    z = np.exp(-1j * 2 * np.pi * np.asarray(f) / fs)
    h = (b[0] + b[1] * z + b[2] * z * z) / (a[0] + a[1] * z + a[2] * z * z)
    return 20 * np.log10(np.abs(h))


def static_gain_db(x: float, t: float, r: float, w: float) -> float:
    """Gain of a compressor's static curve at input level x (Giannoulis,
    Massberg & Reiss, JAES 2012, eq. 4: quadratic soft knee of width w)."""
    if 2 * (x - t) < -w:
        y = x
    elif w > 0 and 2 * abs(x - t) <= w:
        y = x + (1 / r - 1) * (x - t + w / 2) ** 2 / (2 * w)
    else:
        y = t + (x - t) / r
    return y - x


def send_cc(ss: SessionStream, messages: list[list[int]], expected: dict[str, float]) -> dict:
    """Send control changes to the insert's virtual gear and wait for its report."""
    from host.sim.probe import PlayRecordClient

    gear = ss.rack.units[0][0]
    with PlayRecordClient("fp-midi", outputs=0, inputs=0, midi_out=True) as probe:
        probe.client.connect(probe.midi_output, gear.midi_input)
        probe.send_midi(messages)
        probe.wait_midi_sent()
        knobs = gear.wait_for_knobs(expected, timeout_s=3.0, tol=0.02)
    ss.engine.wait_params()
    return knobs


# ---- pure analysis (no JACK) ---------------------------------------------------------------


def test_analysis_of_a_known_filter_and_delay_reads_the_closed_form():
    from scipy.signal import lfilter

    x = fpm.sweep_signal(FS, 1.0, -20.0)
    A = 10 ** (4.0 / 40)
    w0 = 2 * math.pi * 2000 / FS
    al = math.sin(w0) / 2
    b = [1 + al * A, -2 * math.cos(w0), 1 - al * A]
    a = [1 + al / A, -2 * math.cos(w0), 1 - al / A]
    y = np.concatenate([np.zeros(123), lfilter(b, a, np.concatenate([x, np.zeros(4000)]))])
    freqs = fpm.grid(FS)
    got = np.array(fpm.response_db(x, y, FS, freqs))
    ref = rbj_peak_db(np.array(freqs), 2000, 4.0, 1.0, FS)
    assert np.max(np.abs(got - ref)) < 0.05
    assert fpm.latency_samples(x, y) == 123


def test_level_steps_stay_under_their_peaks_and_the_sweep_under_its_true_peak():
    from host.gear.latency import true_peak

    s = fpm.level_signal(FS, [-40.0, -10.0])
    assert np.max(np.abs(s)) <= 10 ** (-10 / 20) + 1e-9
    x = fpm.sweep_signal(FS, 1.0, -20.0)
    assert 20 * math.log10(true_peak(x)) <= -20.0
    assert fpm.grid(32000)[-1] == 12500.0


def test_levels_above_the_ceiling_are_left_out_and_a_bad_ceiling_is_refused():
    assert fpm._levels(-6.0, None) == [-40.0, -30.0, -20.0, -10.0]
    assert fpm._levels(-25.0, None) == [-40.0, -30.0]
    with pytest.raises(OutboardError, match=r"fingerprint_max_dbfs: expected -60..0 dBFS"):
        fpm._levels(3.0, None)


def test_compare_reports_only_beyond_the_tolerance_and_names_where():
    def fp(resp: list[float], gains: list[float]) -> fpm.Fingerprint:
        i = fpm.InsertFingerprint("unit", [500.0, 630.0, 800.0, 1000.0], [resp], -20.0, 1000.0,
                                  [-20.0, -10.0], [gains])
        return fpm.Fingerprint("s.toml", FS, 128, "system", "now", {"unit": i})

    a = fp([0, 0, 0, 0], [0, 0])
    r = fpm.compare(a, fp([0.1, 2.0, 3.0, 0.2], [0.0, -1.0]))
    assert [(d.what, d.at, d.delta_db) for d in r.differences] == [
        ("response", 630.0, 2.0), ("response", 800.0, 3.0), ("level", -10.0, -1.0)]
    text = "\n".join(r.lines())
    assert "630 Hz..800 Hz: +3.00 dB at 800 Hz" in text and "-10 dBFS -1.00 dB" in text
    assert fpm.compare(a, fp([0.4, -0.4, 0, 0], [0.3, 0])).clean


def test_a_missing_or_corrupt_store_is_one_clear_error(tmp_path):
    with pytest.raises(OutboardError, match=r"s\.fingerprint\.json: no stored fingerprint"):
        fpm.load(tmp_path / "s.toml")
    (tmp_path / "s.fingerprint.json").write_text("{not json")
    with pytest.raises(OutboardError, match="not a valid fingerprint store"):
        fpm.load(tmp_path / "s.toml")


# ---- in the embedded studio ------------------------------------------------------------


def test_a_wire_gear_is_flat_and_its_level_curve_linear(jack_server, tmp_path, capsys):
    s = load_session(session(tmp_path, '{ delay_samples = 37.25 }'))
    args = argparse.Namespace(session=s.path, check=False, json=False)
    assert fingerprint_cli.cmd_fingerprint(args) == 0
    path = tmp_path / "s.fingerprint.json"
    assert f"saved to {path}" in capsys.readouterr().out
    data = json.loads(path.read_text())
    assert data["sample_rate"] == FS and data["device"] and data["measured_at"]
    fp = fpm.load(s.path).inserts["unit"]
    assert fp.freqs_hz[0] == 31.5 and fp.freqs_hz[-1] == 16000.0
    assert fp.levels_dbfs == [-40.0, -30.0, -20.0, -10.0]  # ceiling -6 dBFS by default
    resp = np.array(fp.response_db)
    gains = np.array(fp.level_gain_db)
    assert resp.shape == (2, 28) and np.max(np.abs(resp)) < 0.1, resp
    assert np.max(np.abs(gains)) < 0.1, gains
    assert all(lat > 37 for lat in fp.latency_samples)
    args = argparse.Namespace(session=s.path, check=True, json=True, tolerance_db=0.5)
    assert fingerprint_cli.cmd_fingerprint(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["clean"] and report["checked"] == ["unit"] and report["differences"] == []


def test_an_eq_gear_shows_its_peak_as_the_rbj_closed_form(jack_server, tmp_path):
    gear = ('{ delay_samples = 40, processing = "eq", bands = [{ type = "peak", '
            'freq_hz = 1000.0, gain_db = 6.0, q = 1.0 }] }')
    s = load_session(session(tmp_path, gear))
    with SessionStream(s, "playback", say=quiet) as ss:
        fp = fpm.fingerprint_stream(ss).inserts["unit"]
    f = np.array(fp.freqs_hz)
    ref = rbj_peak_db(f, 1000.0, 6.0, 1.0, FS)
    for r in fp.response_db:
        r = np.array(r)
        assert abs(r[f == 1000.0][0] - 6.0) < 0.5
        assert np.max(np.abs(r - ref)) < 0.25, np.round(r - ref, 3)
        # the level curve of a linear unit at 1 kHz: the peak's gain at every level
        assert np.max(np.abs(np.array(fp.level_gain_db) - ref[f == 1000.0][0])) < 0.1


def test_a_compressor_gears_level_curve_is_its_static_curve(jack_server, tmp_path):
    gear = ('{ delay_samples = 40, processing = "compressor", compressor = { threshold_db = '
            '-30.0, ratio = 4.0, knee_db = 6.0, attack_ms = 1.0, release_ms = 100.0 } }')
    s = load_session(session(tmp_path, gear))
    with SessionStream(s, "playback", say=quiet) as ss:
        fp = fpm.fingerprint_stream(ss).inserts["unit"]
    want = [static_gain_db(x, -30.0, 4.0, 6.0) for x in fp.levels_dbfs]
    for g in fp.level_gain_db:
        assert np.max(np.abs(np.array(g) - want)) < 0.5, (g, want)


def test_check_is_clean_unchanged_and_finds_an_eq_knob_moved_over_midi(jack_server, tmp_path):
    gear = ('{ delay_samples = 40, processing = "eq", midi = true, bands = [{ type = "peak", '
            'freq_hz = 1000.0, gain_db = 6.0, q = 1.0 }] }')
    s = load_session(session(tmp_path, gear))
    with SessionStream(s, "playback", say=quiet) as ss:
        stored = fpm.fingerprint_stream(ss)
        same = fpm.check_stream(ss, stored)
        assert same.clean and same.max_abs_db["unit"] < 0.1, same.lines()
        send_cc(ss, [[0xB0, 20, 64]], {"bands[0].gain_db": 0.0})  # centred: 64 = 0 dB
        moved = fpm.check_stream(ss, stored)
    assert not moved.clean
    f = np.array(stored.inserts["unit"].freqs_hz)
    want = -rbj_peak_db(f, 1000.0, 6.0, 1.0, FS)  # now flat: the change is minus the peak
    resp = {(d.channel, d.at): d.delta_db for d in moved.differences if d.what == "response"}
    for ch in (1, 2):
        hit = sorted(at for c, at in resp if c == ch)
        assert hit == [float(x) for x in f[np.abs(want) > 0.5]], hit
        for at in hit:
            assert abs(resp[(ch, at)] - want[f == at][0]) < 0.25
    lev = [d for d in moved.differences if d.what == "level"]
    assert len(lev) == 8 and all(abs(d.delta_db + 6.0) < 0.5 for d in lev)
    text = "\n".join(moved.lines())
    assert "unit: DIFFERS" in text and "at 1 kHz" in text


def test_check_finds_a_compressor_threshold_moved_at_the_loud_levels_only(jack_server,
                                                                          tmp_path):
    gear = ('{ delay_samples = 40, processing = "compressor", midi = true, compressor = { '
            'threshold_db = -30.0, ratio = 4.0, knee_db = 0.0, attack_ms = 1.0, '
            'release_ms = 100.0 } }')
    s = load_session(session(tmp_path, gear))
    with SessionStream(s, "playback", say=quiet) as ss:
        stored = fpm.fingerprint_stream(ss)
        # CC 20: threshold, linear -40..0 dBFS; raw 79 -> -40 + 40 * 79 / 127 = -15.12
        thr = -40 + 40 * 79 / 127
        send_cc(ss, [[0xB0, 20, 79]], {"threshold_db": thr})
        moved = fpm.check_stream(ss, stored)
    levels = stored.inserts["unit"].levels_dbfs
    want = {x: static_gain_db(x, thr, 4.0, 0.0) - static_gain_db(x, -30.0, 4.0, 0.0)
            for x in levels}  # 0 at -40 and -30, +7.5 at -20, +11.2 at -10
    for ch in (1, 2):
        got = {d.at: d.delta_db for d in moved.differences
               if d.what == "level" and d.channel == ch}
        assert sorted(got) == [x for x in levels if abs(want[x]) > 0.5]
        for x, v in got.items():
            assert abs(v - want[x]) < 0.5, (x, v, want[x])


def test_check_of_a_session_without_a_fingerprint_is_one_clear_error(jack_server, tmp_path):
    s = load_session(session(tmp_path, '{ delay_samples = 37 }'))
    with pytest.raises(OutboardError, match="no stored fingerprint"):
        fingerprint_cli.check_session(s, quiet)
