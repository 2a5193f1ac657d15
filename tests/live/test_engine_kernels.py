"""Kernel inserts in the engine (ob_engine_add_kernel, native/engine.c): the
multiband and the imager in sessions, offline and live, their parameters
through the ring, their per-band meters, bypass and the NaN guard.

References: the offline Python chain (host.offline.chain.Chain, the same
kernels driven by another loop), the kernels' own setters (KernelInsert.set,
the same messages applied directly), a Blackman-Harris spectrum (numpy /
scipy.signal.windows) for the splatter of a parameter change, and a sine.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from conftest import sine, write_session
from host._ffi import ffi, lib
from host.dsp.imager import Imager
from host.dsp.multiband import Multiband
from host.live.engine import Engine
from host.model.config import parse_chain
from host.model.session import load_session
from host.offline.chain import Chain

FS = 48000.0

LOUD = [
    {"kind": "eq", "name": "tone", "bands": [
        {"type": "highpass", "freq_hz": 25.0, "order": 4, "family": "butterworth"},
        {"type": "peak", "freq_hz": 3000.0, "gain_db": 1.5, "q": 0.8}]},
    {"kind": "multiband", "name": "mb", "crossovers_hz": [120.0, 1000.0, 6000.0],
     "slope": "lr4", "threshold_db": -26.0, "ratio": 2.5, "attack_ms": 8.0,
     "release_ms": 120.0, "detector": "rms",
     "bands": [{"threshold_db": -22.0, "ratio": 3.0, "mode": "mid-side"}, {},
               {"makeup_db": 1.0}, {"ratio": 1.5, "stereo_link": 0.5}]},
    {"kind": "imager", "name": "width", "crossovers_hz": [300.0, 5000.0],
     "bands": [{"width": 0.8}, {"width": 1.1}, {"width": 1.3}], "mono_below_hz": 110.0},
    {"kind": "limiter", "name": "lim", "ceiling_dbtp": -1.0, "release_ms": 50.0},
]


def program(rng: np.random.Generator, seconds: float) -> np.ndarray:
    """Planar float32 stereo: partly correlated low-passed noise with bursts."""
    n = int(seconds * FS)
    x = signal.lfilter(*signal.butter(1, 2000.0, fs=FS), rng.standard_normal((2, n)))
    x[1] = 0.6 * x[0] + 0.4 * x[1]
    x *= 0.3 / np.sqrt(np.mean(x ** 2))
    env = np.exp(-np.arange(2400) / 300.0)
    for k in range(0, n - 2400, 11000):
        x[:, k:k + 2400] += 0.5 * rng.standard_normal((2, 2400)) * env
    return np.ascontiguousarray(x, dtype=np.float32)


@pytest.mark.parametrize("max_block", [64, 1024, 4096])
def test_a_session_with_multiband_and_imager_runs_in_the_engine_bit_identical_to_chain(
        tmp_path, rng, max_block):
    """The session file (as `outboard run` / `print` read it) builds the
    engine; its offline output equals the Python Chain's to the bit."""
    session = load_session(write_session(tmp_path / "loud.toml", LOUD))
    assert [i.kind for i in session.chain.inserts] == ["eq", "multiband", "imager", "limiter"]
    fs, nch = session.interface.sample_rate, len(session.program.inputs)
    x = program(rng, 2.0)
    eng = Engine(fs, nch, session.chain, max_block=max_block)
    chain = Chain(session.chain, fs, nch)
    assert eng.latency_samples == chain.latency_samples
    assert np.array_equal(eng.process(x.copy()), chain.process(x.copy(), block_frames=1000))
    m = eng.meters()
    bands = m["gain_reduction_bands_max_db"]["mb"]
    assert list(bands) == ["band 1 (< 120 Hz)", "band 2 (120-1000 Hz)",
                           "band 3 (1000-6000 Hz)", "band 4 (> 6000 Hz)"]
    assert max(bands.values()) > 1.0
    assert m["gain_reduction_db"]["mb"] == pytest.approx(
        max(m["gain_reduction_bands_db"]["mb"].values()))


def test_kernel_messages_through_the_ring_equal_the_kernels_own_setters(rng):
    """Engine.set_param between two blocks and KernelInsert.set at the same
    sample give the same bits: the ring carries OB_PARAM_KERNEL + the
    kernel's id with the band as section, and the engine calls its set."""
    chain = parse_chain({"chain": LOUD[1:3]})
    x = program(rng, 1.0)
    half = x.shape[1] // 2 - 7   # not on a block or grid line
    changes = {"mb": dict(band=2, threshold_db=-34.0, makeup_db=2.0, bypass=False),
               "width": dict(band=0, width=0.2)}
    eng = Engine(FS, 2, chain, max_block=256)
    first = eng.process(np.ascontiguousarray(x[:, :half]))
    for name, p in changes.items():
        eng.set_param(name, **p)
    second = eng.process(np.ascontiguousarray(x[:, half:]))
    mb = Multiband(FS, 2, bands=chain.inserts[0].bands, **chain.inserts[0].params)
    im = Imager(FS, 2, bands=chain.inserts[1].bands, **chain.inserts[1].params)
    ref = x.copy()
    a = np.ascontiguousarray(ref[:, :half])
    im.process(mb.process(a))
    mb.set(**changes["mb"])
    im.set(**changes["width"])
    b = np.ascontiguousarray(ref[:, half:])
    im.process(mb.process(b))
    assert np.array_equal(first, a) and np.array_equal(second, b)
    assert eng.meters()["params_applied"] == 4 and eng.meters()["params_rejected"] == 0


def splatter_db(y: np.ndarray, f0: float, beside_hz: float = 50.0) -> float:
    """Energy more than ``beside_hz`` from f0, re the whole (Blackman-Harris
    window, so the sine's own leakage there is below -90 dB)."""
    w = signal.windows.blackmanharris(y.shape[-1])
    p = np.abs(np.fft.rfft(y * w)) ** 2
    f = np.fft.rfftfreq(y.shape[-1], 1.0 / FS)
    return float(10 * np.log10(p[np.abs(f - f0) > beside_hz].sum() / p.sum()))


@pytest.mark.parametrize("insert, change", [
    ({"kind": "multiband", "name": "k", "crossovers_hz": [200.0, 2000.0, 8000.0],
      "threshold_db": -30.0, "ratio": 2.0, "detector": "rms", "rms_window_ms": 50.0},
     dict(band=1, threshold_db=-36.0)),
    ({"kind": "multiband", "name": "k", "crossovers_hz": [200.0, 2000.0, 8000.0],
      "threshold_db": -30.0, "ratio": 2.0, "detector": "rms", "rms_window_ms": 50.0},
     dict(band=1, makeup_db=3.0)),
    ({"kind": "imager", "name": "k", "crossovers_hz": [300.0, 4000.0]},
     dict(band=1, width=1.5)),
    ({"kind": "multiband", "name": "k", "crossovers_hz": [200.0, 2000.0, 8000.0],
      "threshold_db": -30.0, "ratio": 2.0, "detector": "rms", "rms_window_ms": 50.0},
     dict(crossovers_hz=[200.0, 1500.0, 8000.0])),
], ids=["threshold -6 dB", "makeup +3 dB", "width 1 -> 1.5", "crossover 2 -> 1.5 kHz"])
def test_a_parameter_change_while_a_sine_plays_spreads_under_minus_80_db(insert, change):
    """A 1 kHz sine (-12 dBFS, its right channel 0.3 rad later, so there is
    side to widen) plays 2 s; at 1 s the band it is in changes through the
    ring (or the crossover above it moves closer, shifting its phase).
    Energy beyond +-50 Hz of the sine stays below -80 dB re the sine (the
    same run without the change: below -95 dB)."""
    n = int(2 * FS)
    t = np.arange(n) / FS
    x = np.ascontiguousarray(0.25 * np.stack([np.sin(2 * np.pi * 1000.0 * t),
                                              np.sin(2 * np.pi * 1000.0 * t + 0.3)]),
                             dtype=np.float32)
    chain = parse_chain({"chain": [insert]})
    eng = Engine(FS, 2, chain, max_block=64)
    a = eng.process(np.ascontiguousarray(x[:, :n // 2]))
    eng.set_param("k", **change)
    b = eng.process(np.ascontiguousarray(x[:, n // 2:]))
    y = np.concatenate([a, b], axis=1)
    assert not np.array_equal(y[:, -1000:], Engine(FS, 2, chain).process(x)[:, -1000:])
    for c in range(2):
        assert splatter_db(y[c], 1000.0) < -80.0, (c, splatter_db(y[c], 1000.0))
    steady = Engine(FS, 2, chain, max_block=64).process(x)
    assert splatter_db(steady[0], 1000.0) < -95.0


def test_bypass_nan_guard_and_meters_work_for_kernel_inserts(rng):
    """A bypassed multiband crossfades to its dry path (latency 0: the input
    itself) and keeps running; a NaN in the program mutes the block, resets
    the kernels (the output after it equals a fresh engine's on the rest)."""
    chain = parse_chain({"chain": [{**LOUD[1], "bypass": True}, LOUD[2]]})
    x = program(rng, 1.0)
    eng = Engine(FS, 2, chain, max_block=512)
    im = Imager(FS, 2, bands=chain.inserts[1].bands, **chain.inserts[1].params)
    assert np.array_equal(eng.process(x.copy()), im.process(x.copy()))
    assert eng.meters()["gain_reduction_max_db"]["mb"] > 0.0   # it ran, bypassed
    eng.reset()
    eng.events()
    start = eng.meters()["frames"]
    bad = x.copy()
    bad[0, 1000] = np.nan
    y = eng.process(bad)
    assert np.all(y[:, 512:1024] == 0.0)
    events = [e for e in eng.events() if e["type"] == "nonfinite"]
    assert [(e["insert"], e["frame"] - start) for e in events] == [(None, 512)]
    fresh = Engine(FS, 2, chain, max_block=512)
    fresh.process(np.zeros((2, 1024), dtype=np.float32))
    fresh.reset()
    assert np.array_equal(y[:, 1024:], fresh.process(np.ascontiguousarray(x[:, 1024:])))


def test_bad_kernel_parameters_are_refused_before_the_ring_naming_the_key(rng):
    chain = parse_chain({"chain": LOUD[1:3]})
    eng = Engine(FS, 2, chain)
    with pytest.raises(ValueError, match=r"insert 'mb' \(multiband\): bands\[1\]\.ratio: "
                                         r"expected a number 1\.\.100 \(ratio\), got 0"):
        eng.set_param("mb", band=1, ratio=0)
    with pytest.raises(ValueError, match=r"insert 'mb' \(multiband\): crossovers_hz\[1\]: "
                                         r"expected strictly increasing"):
        eng.set_param("mb", crossovers_hz=[500.0, 400.0, 6000.0])
    with pytest.raises(ValueError, match=r"insert 'mb' \(multiband\): band: expected a band "
                                         r"index 0\.\.3, got 4"):
        eng.set_param("mb", band=4, mute=True)
    with pytest.raises(ValueError, match=r"insert 'width' \(imager\): width: expected a number "
                                         r"0\.\.2"):
        eng.set_param("width", width=3.0)
    with pytest.raises(ValueError, match=r"slope: fixed when the insert is built"):
        eng.set_param("width", slope="lr8")
    assert eng.meters()["params_applied"] == 0


def test_the_engine_refuses_kernel_messages_for_other_inserts_and_reports_a_kernel_refusal():
    """C level: OB_PARAM_KERNEL + id to a built-in insert is refused at push;
    a value the kernel's set refuses posts param_rejected naming the insert."""
    chain = parse_chain({"chain": [{"kind": "gain", "gain_db": 0.0}, LOUD[1]]})
    eng = Engine(FS, 2, chain)
    msg = ffi.new("ob_param_msg *")
    msg.insert, msg.param, msg.section, msg.value = 0, lib.OB_PARAM_KERNEL + 0, 0, -20.0
    assert lib.ob_engine_param_push(eng._e, msg) == lib.OB_ERR_ARG
    msg.insert, msg.value = 1, -99.0   # threshold out of the compressor's range
    assert lib.ob_engine_param_push(eng._e, msg) == lib.OB_OK
    eng.process(np.zeros((2, 64), dtype=np.float32))
    ev = eng.events()
    assert [(e["type"], e["insert"], e["value"]) for e in ev] == [
        ("param_rejected", "mb", float(lib.OB_PARAM_KERNEL))]
    assert lib.ob_engine_insert_kind(eng._e, 1) == lib.OB_INSERT_MULTIBAND


def test_live_playback_through_multiband_and_imager_records_the_offline_bits(jack_server, rng):
    """In a PortAudio stream on the JACK server, the C callback runs the kernel
    inserts: the recording equals offline processing of the same input."""
    from test_engine import stream_playback

    chain = parse_chain({"chain": LOUD})
    x = program(rng, 1.0)
    eng = Engine(FS, 2, chain, ring_seconds=1.0)
    with eng:
        eng.open_stream("system", [0, 1], [0, 1], source="playback", record=True)
        rec, events = stream_playback(eng, x)
    assert [e for e in events if e["type"] in ("playback_underrun", "record_overrun")] == []
    n = rec.shape[1]
    padded = np.zeros((2, n), dtype=np.float32)
    padded[:, :x.shape[1]] = x
    assert np.array_equal(rec, Engine(FS, 2, chain).process(padded))


def test_a_sine_gives_gain_reduction_in_its_band_only_on_the_engine_meters():
    chain = parse_chain({"chain": [{"kind": "multiband", "name": "mb",
                                    "crossovers_hz": [200.0, 1000.0, 6000.0],
                                    "threshold_db": -30.0, "ratio": 4.0, "knee_db": 0.0,
                                    "detector": "rms"}]})
    eng = Engine(FS, 2, chain, max_block=480)
    eng.process(sine(2500.0, FS, 1.0, -6.0, channels=2))
    bands = list(eng.meters()["gain_reduction_bands_db"]["mb"].values())
    assert bands[2] > 10.0 and max(bands[0], bands[1], bands[3]) < 0.5
