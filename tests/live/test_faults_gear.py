"""Gear that vanishes or misbehaves on a hardware insert (issue 7).

The C callback is driven directly with simulated returns (as in
test_hardware_insert.py): a wire loop of known round trip, then silence
(unit gone), DC, full-scale oscillation, NaN or Inf.  The reference for the
protected output is numpy's shift of the program by the insert's latency L
(the dry path).  One test kills a VirtualGear process through JACK.
"""
from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest

from conftest import STUDIO_HEAD, patch_gear_into_stream

from host._ffi import ffi, lib
from host.model.config import parse_chain
from host.live.engine import Engine
from host.errors import ConfigError

FS = 48000.0
DIN = DOUT = 4
SENDS, RETS = (2, 3), (2, 3)   # 0-based device channels (config: 3, 4)
L = 64                          # round trip of the simulated loop, samples
RAMP = int(round(lib.OB_ENGINE_RAMP_MS * FS / 1000))


def cfg(chain: list[dict]) -> object:
    return parse_chain({"chain": chain})


def hw(**kw) -> dict:
    return {"kind": "hardware", "name": "unit", "sends": [3, 4], "returns": [3, 4],
            "latency_samples": float(L), **kw}


def make(**kw) -> Engine:
    eng = Engine(FS, 2, cfg([hw(**kw)]), max_block=64)
    assert lib.ob_engine_set_io(eng._e, DIN, DOUT, ffi.new("int[]", [0, 1]),
                                ffi.new("int[]", [0, 1]), 0, ffi.new("int[]", [0])) == lib.OB_OK
    return eng


def drive(eng: Engine, x: np.ndarray, fault, block: int = 64) -> np.ndarray:
    """Callback over program x (2, n); the returns are the sends L samples
    earlier (a wire loop), then fault(start, b, loop) replaces them."""
    nch, n = x.shape
    outs = np.zeros((DOUT, n), np.float32)
    for start in range(0, n, block):
        b = min(block, n - start)
        inp = np.zeros((b, DIN), np.float32)
        inp[:, :nch] = x[:, start:start + b].T
        idx = np.arange(start, start + b) - L
        loop = np.where(idx >= 0, outs[list(SENDS)][:, np.maximum(idx, 0)], 0.0)
        r = fault(start, b, loop.astype(np.float32))
        for c in range(nch):
            inp[:, RETS[c]] = r[c]
        o = np.full((b, DOUT), 9.0, np.float32)
        assert lib.ob_engine_pa_callback(ffi.from_buffer(inp), ffi.from_buffer(o), b, ffi.NULL,
                                         0, eng._e) == lib.OB_PA_CONTINUE
        outs[:, start:start + b] = o.T
    return outs


def after(t0: int, f):
    """Returns: the wire loop before sample t0, f(sample index, loop) from it."""
    def fault(start: int, b: int, loop: np.ndarray) -> np.ndarray:
        t = np.arange(start, start + b)
        return np.where(t < t0, loop, f(t, loop)).astype(np.float32)
    return fault


def delayed(x: np.ndarray, d: int) -> np.ndarray:
    return np.concatenate([np.zeros((x.shape[0], d), x.dtype), x[:, :x.shape[1] - d]], axis=1)


def program(rng, seconds: float, level: float = 0.3) -> np.ndarray:
    return rng.uniform(-level, level, (2, int(seconds * FS))).astype(np.float32)


def gear_events(eng: Engine) -> list[dict]:
    return [e for e in eng.events() if e["type"] != "clip"]


@pytest.mark.parametrize("policy", ["bypass", "stop"])
def test_lost_return_is_named_within_a_second_and_the_dry_path_stays_aligned(rng, policy):
    x = program(rng, 2.0)
    cut = int(0.5 * FS)
    eng = make(on_return_lost=policy)
    outs = drive(eng, x, after(cut, lambda t, loop: 0.0 * loop))
    ev = gear_events(eng)
    assert [(e["type"], e["insert"], e["action"]) for e in ev] == [("return_lost", "unit",
                                                                    policy)]
    # silent for 0.5 s + L after the cut (the return stopped at cut), found within 1 s
    assert ev[0]["frame"] == cut + int(0.5 * FS) + L - 1   # its last silent sample
    assert ev[0]["frame"] - cut <= FS
    want = delayed(x, L)   # the wire loop, then the dry path: both aligned at L
    assert np.array_equal(outs[:2, :cut], want[:, :cut])
    k = ev[0]["frame"] + RAMP + 64   # crossfade from the next block on
    assert np.array_equal(outs[:2, k:], want[:, k:])
    assert eng.stop_requested() == (ev[0] if policy == "stop" else None)


def test_silent_program_with_silent_returns_is_not_a_lost_return(rng):
    x = program(rng, 2.0)
    x[:, int(0.2 * FS):] = 0.0   # the program pauses: the gear answers silence
    eng = make()
    outs = drive(eng, x, lambda start, b, loop: loop)
    assert gear_events(eng) == []
    assert np.array_equal(outs[:2], delayed(x, L))


def test_hot_program_through_working_gear_is_not_an_oscillation(rng):
    """A limited master near full scale: the return is as hot as the send."""
    x = np.sign(rng.uniform(-1, 1, (2, int(0.5 * FS)))).astype(np.float32) * np.float32(0.98)
    eng = make()
    outs = drive(eng, x, lambda start, b, loop: loop)
    assert gear_events(eng) == []
    assert np.array_equal(outs[:2], delayed(x, L))


def test_dc_on_a_return_is_caught_and_the_insert_bypassed(rng):
    x = program(rng, 0.6, 0.1)
    t0 = int(0.2 * FS)
    eng = make()
    outs = drive(eng, x, after(t0, lambda t, loop: loop + np.float32(0.4)))
    ev = gear_events(eng)
    assert [(e["type"], e["insert"]) for e in ev] == [("return_dc", "unit")]
    # one-pole mean (100 ms) of a 0.4 step (plus the program's mean) passes 0.1 after
    # about -0.1 s * ln(1 - 0.1 / 0.4) = 28.8 ms
    assert abs((ev[0]["frame"] - t0) / FS - 0.1 * np.log(4 / 3)) < 0.005
    assert ev[0]["value"] > 0.1
    k = ev[0]["frame"]
    want = delayed(x, L)
    # from the sample found on, the return is muted: the output is at most the dry path
    assert np.all(np.abs(outs[:2, k:]) <= np.abs(want[:, k:]) + 1e-7)
    assert np.array_equal(outs[:2, k + RAMP + 64:], want[:, k + RAMP + 64:])


def test_full_scale_oscillation_is_caught_within_50_ms_and_muted(rng):
    x = program(rng, 0.6, 0.1)
    t0 = int(0.2 * FS)
    osc = lambda t, loop: np.tile(0.99 * np.sin(2 * np.pi * 3000 * t / FS), (2, 1))  # noqa: E731
    eng = make()
    outs = drive(eng, x, after(t0, osc))
    ev = gear_events(eng)
    assert [(e["type"], e["insert"]) for e in ev] == [("return_oscillation", "unit")]
    k = ev[0]["frame"]
    assert 0.050 <= (k - t0) / FS <= 0.052   # 50 ms of it once the level test holds
    want = delayed(x, L)
    assert np.all(np.abs(outs[:2, k:]) <= np.abs(want[:, k:]) + 1e-7)
    assert np.abs(outs[:2, k:]).max() <= 0.1
    assert np.array_equal(outs[:2, k + RAMP + 64:], want[:, k + RAMP + 64:])


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_unit_returning_non_finite_values_is_muted_once_then_bypassed(rng, bad):
    x = program(rng, 0.3)
    t0 = 5000   # inside the block at 4992
    eng = make()
    eng._stream = object()   # events() treats the insert as live (no device here)
    try:
        outs = drive(eng, x, after(t0, lambda t, loop: np.full_like(loop, bad)))
        ev = gear_events(eng)
    finally:
        eng._stream = None
    assert [(e["type"], e["insert"], e["frame"], e["action"]) for e in ev] == [
        ("nonfinite", "unit", 4992, "bypass")]
    assert np.isfinite(outs).all()
    assert not outs[:2, 4992:5056].any()            # the guard muted that block
    want = delayed(x, L)   # then the aligned dry path, its history cleared by the guard
    assert not outs[:2, 5056:5056 + L].any()
    assert np.array_equal(outs[:2, 5056 + L:], want[:, 5056 + L:])
    assert eng.meters()["nonfinite"] == 1


def test_switching_the_insert_in_again_rearms_the_watch(rng):
    x = program(rng, 1.6)
    eng = make()
    drive(eng, x[:, :int(0.8 * FS)], after(int(0.1 * FS), lambda t, loop: 0.0 * loop))
    assert [e["type"] for e in gear_events(eng)] == ["return_lost"]
    eng.set_param("unit", bypass=False)
    outs = drive(eng, x[:, int(0.8 * FS):], lambda start, b, loop: 0.0 * loop)
    assert [e["type"] for e in gear_events(eng)] == ["return_lost"]
    assert np.isfinite(outs).all()


def test_on_return_lost_is_validated_in_the_session():
    with pytest.raises(ConfigError, match=r"chain\[0\]\.on_return_lost: expected"):
        cfg([hw(on_return_lost="ignore")])
    assert cfg([hw(on_return_lost="stop")]).inserts[0].params["on_return_lost"] == "stop"


# ---- JACK: the gear's process dies mid-stream ------------------------------------------------


def test_killed_virtual_gear_is_reported_within_a_second_and_output_stays_aligned(jack_server):
    import jack

    from host.model.virtual_gear import GearSpec
    from host.sim.virtual_gear import VirtualGear

    Lj = 100
    eng = Engine(FS, 2, cfg([hw(latency_samples=float(Lj))]))
    spec = GearSpec("faults-wire", channels=2, delay_samples=[10.0, 10.0])
    n = int(6 * FS)
    t = np.arange(n) / FS
    prog = (0.25 * np.stack([np.sin(2 * np.pi * 441 * t), np.sin(2 * np.pi * 552 * t)])
            ).astype(np.float32)
    client = jack.Client("outboard-faults-gear", no_start_server=True)
    with client, eng, VirtualGear(spec) as gear:
        before = {p.name for p in client.get_ports()}
        eng.open_stream("system", [0, 1], [0, 1], source="playback", record=True)
        patch_gear_into_stream(client, before, gear, SENDS, RETS)
        written = eng.playback_write(np.ascontiguousarray(prog.T))
        eng.start()
        rec: list[np.ndarray] = []
        pos = written
        deadline = time.monotonic() + 8.0
        killed_at = None
        while time.monotonic() < deadline:
            if pos < n:
                pos += eng.playback_write(np.ascontiguousarray(prog[:, pos:].T))
            rec.append(eng.record_read(1 << 16))
            frames = eng.meters()["frames"]
            if killed_at is None and frames > 1.0 * FS:
                killed_at = eng.meters()["frames"]
                os.kill(gear.proc.pid, signal.SIGKILL)
            if killed_at is not None and frames > killed_at + 2.5 * FS:
                break
            time.sleep(0.02)
        events = eng.events()
        m = eng.meters()
        eng.stop()
        rec.append(eng.record_read(1 << 20))
    lost = [e for e in events if e["type"] == "return_lost"]
    assert [(e["insert"], e["action"]) for e in lost] == [("unit", "bypass")], events
    assert not [e for e in events if e["type"] == "nonfinite"]
    assert 0 < lost[0]["frame"] - killed_at <= FS
    y = np.concatenate(rec)
    k0 = m["record_first_frame"] - m["playback_first_frame"]   # program frame of y[0] + Lj
    start = lost[0]["frame"] + RAMP + 4096 - m["record_first_frame"]
    stop = min(y.shape[0], n + Lj - k0)
    assert stop - start > FS
    want = prog[:, k0 + start - Lj:k0 + stop - Lj].T
    assert np.array_equal(y[start:stop], want)


def test_run_stops_when_a_unit_with_on_return_lost_stop_vanishes(jack_server, tmp_path):
    """`outboard run` on a session whose hardware insert says
    on_return_lost = "stop": kill the virtual unit mid-run; the run names the
    insert, stops with exit 1, and the recording so far is a valid file."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    import soundfile as sf

    fs = 48000
    rng = np.random.default_rng(9)
    x = (0.2 * rng.standard_normal((fs * 20, 2))).astype(np.float32)
    mix = tmp_path / "mix.wav"
    sf.write(mix, x, fs, subtype="FLOAT")
    name = f"stopunit{os.getpid()}"
    sess = tmp_path / "s.toml"
    sess.write_text(STUDIO_HEAD + f"""
[[chain]]
kind = "hardware"
name = "{name}"
sends = [3, 4]
returns = [3, 4]
on_return_lost = "stop"
latency_samples = [{20 + 256}, {20 + 256}]
virtual_gear = {{ delay_samples = 20.0 }}
""")
    out = tmp_path / "rec.wav"
    exe = Path(sys.executable).parent / "outboard"
    proc = subprocess.Popen([str(exe), "run", str(sess), "--input", str(mix), "--record",
                             str(out), "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + 30
    killed = False
    while time.monotonic() < deadline and not killed:
        parts = [p for p in tmp_path.iterdir() if ".part" in p.name]
        if parts and parts[0].stat().st_size > fs * 8:
            r = subprocess.run(["pgrep", "-f", f"gear-{name}"], capture_output=True, text=True)
            for pid in r.stdout.split():
                os.kill(int(pid), signal.SIGKILL)
                killed = True
        time.sleep(0.1)
    assert killed, "the virtual unit never came up"
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 1, stderr
    assert f"insert {name}: return lost" in stderr
    assert "stopped: a hardware insert failed" in stdout
    info = sf.info(out)
    assert 0.5 * fs < info.frames < 15 * fs
