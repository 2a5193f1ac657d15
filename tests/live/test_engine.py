"""The real-time engine (native/engine.c, host/engine.py): the chain it
assembles, its ramps, NaN guard, rings and meters offline, and live on the
JACK server (dummy backend) through a PortAudio stream whose callback is C.

References: the offline Python chain (host.offline.chain.Chain: the same kernels run
one after the other by a different driver), scipy.signal (butter, sosfilt),
the RBJ cookbook formulas, closed-form ramps and static compressor curves,
EBU Tech 3341 case 1, pyloudnorm, and numpy's float32 arithmetic.
"""

from __future__ import annotations

import math
import sys
import time

import numpy as np
import pytest
from scipy import signal

from conftest import sine
from host.offline.chain import Chain
from host.model.config import parse_chain
from host.dsp.biquad import Equalizer
from host.dsp.compressor import Compressor
from host.dsp.limiter import Limiter
from host.live.engine import Engine

FS = 48000.0
RAMP = int(round(0.020 * FS))  # gain / bypass ramp, samples (20 ms)
HALF_DB = 20 * math.log10(0.5)  # gain whose float32 multiplier is exactly 0.5

MASTER = {"chain": [
    {"kind": "eq", "name": "tone", "bands": [
        {"type": "highpass", "freq_hz": 30.0, "order": 4, "family": "butterworth"},
        {"type": "peak", "freq_hz": 2500.0, "gain_db": 2.0, "q": 0.9},
        {"type": "highshelf", "freq_hz": 9000.0, "gain_db": -1.5, "slope": 0.8}]},
    {"kind": "compressor", "name": "glue", "threshold_db": -24.0, "ratio": 3.0,
     "attack_ms": 5.0, "release_ms": 80.0, "detector": "rms"},
    {"kind": "gain", "name": "trim", "gain_db": 3.0},
    {"kind": "limiter", "name": "lim", "ceiling_dbtp": -1.0, "release_ms": 40.0},
]}


def music_like(rng: np.random.Generator, channels: int, seconds: float) -> np.ndarray:
    """Planar float32: low-passed noise with bursts, loud enough to make the
    compressor and the limiter work."""
    n = int(seconds * FS)
    x = signal.lfilter(*signal.butter(1, 800.0, fs=FS), rng.standard_normal((channels, n)))
    x *= 0.25 / np.sqrt(np.mean(x ** 2))
    env = np.exp(-np.arange(2400) / 300.0)
    for k in range(0, n - 2400, 9000):
        x[:, k:k + 2400] += rng.standard_normal((channels, 2400)) * env
    return np.ascontiguousarray(x, dtype=np.float32)


def cfg(data: dict):
    return parse_chain(data, "<test>")


def offline(chain: dict, x: np.ndarray, frames: int | None = None, channels: int | None = None,
            **kw) -> np.ndarray:
    """A fresh engine's output for x followed by silence up to ``frames``."""
    channels = x.shape[0] if channels is None else channels
    n = x.shape[1] if frames is None else frames
    padded = np.zeros((channels, n), dtype=np.float32)
    padded[:, :x.shape[1]] = x[:, :n]
    return Engine(FS, channels, cfg(chain), **kw).process(padded)


# ---- the graph -----------------------------------------------------------------------

CHAINS = {
    "master": MASTER,
    "with-bypassed": {"chain": [
        {"kind": "compressor", "threshold_db": -30.0, "ratio": 8.0, "knee_db": 0.0},
        {"kind": "eq", "bypass": True, "bands": [
            {"type": "lowshelf", "freq_hz": 120.0, "gain_db": 6.0}]},
        {"kind": "gain", "gain_db": -2.0},
        {"kind": "gain", "bypass": True, "gain_db": 12.0},
        {"kind": "eq", "bands": [
            {"type": "lowpass", "freq_hz": 12000.0, "order": 4, "family": "linkwitz-riley"}]}]},
    "mid-side": {"chain": [
        {"kind": "compressor", "mode": "mid-side", "threshold_db": -20.0, "ratio": 2.0},
        {"kind": "limiter", "ceiling_dbtp": -3.0, "lookahead_ms": 3.0}]},
}


@pytest.mark.parametrize("name, channels", [(n, c) for n in CHAINS for c in (1, 2, 6)
                                            if n != "mid-side" or c == 2])
def test_engine_output_is_bit_identical_to_the_offline_python_chain(name, channels, rng):
    c = cfg(CHAINS[name])
    x = music_like(rng, channels, 0.5)
    ref = Chain(c, FS, channels).process(x.copy())
    eng = Engine(FS, channels, c, max_block=512)
    assert eng.latency_samples == Chain(c, FS, channels).latency_samples
    assert np.array_equal(eng.process(x), ref)


@pytest.mark.parametrize("fs", [44100.0, 96000.0])
def test_engine_output_does_not_depend_on_block_size(fs, rng):
    c = cfg(MASTER)
    x = music_like(rng, 2, 0.3)
    whole = Engine(fs, 2, c, max_block=65536).process(x)
    for block in (1, 64, 65, 8193):
        eng = Engine(fs, 2, c, max_block=8192)  # 8193 is also cut inside the engine
        parts = [eng.process(x[:, i:i + block]) for i in range(0, x.shape[1], block)]
        assert np.array_equal(np.concatenate(parts, axis=1), whole), block


def rbj_peak_sos(f0: float, q: float, gain_db: float, fs: float) -> np.ndarray:
    """Audio EQ Cookbook peaking EQ, as a scipy sos row."""
    a = 10 ** (gain_db / 40)
    w0 = 2 * math.pi * f0 / fs
    alpha = math.sin(w0) / (2 * q)
    b = [1 + alpha * a, -2 * math.cos(w0), 1 - alpha * a]
    den = [1 + alpha / a, -2 * math.cos(w0), 1 - alpha / a]
    return np.array([[*b, *den]]) / den[0]


def test_eq_only_engine_matches_scipy_sosfilt(rng):
    c = cfg({"chain": [{"kind": "eq", "bands": [
        {"type": "highpass", "freq_hz": 40.0, "order": 4, "family": "butterworth"},
        {"type": "peak", "freq_hz": 3000.0, "gain_db": 4.0, "q": 1.4}]}]})
    x = (rng.standard_normal((2, 24000)) * 0.2).astype(np.float32)
    sos = np.vstack([signal.butter(4, 40.0, "highpass", fs=FS, output="sos"),
                     rbj_peak_sos(3000.0, 1.4, 4.0, FS)])
    ref = signal.sosfilt(sos, x.astype(np.float64), axis=1)
    err = np.max(np.abs(Engine(FS, 2, c).process(x) - ref))
    assert 20 * np.log10(err / np.max(np.abs(ref))) < -120.0  # float32 output rounding


def test_gain_insert_is_the_float32_product_and_a_bypassed_limiter_a_pure_delay(rng):
    x = (rng.standard_normal((2, 5000)) * 0.7).astype(np.float32)
    half = Engine(FS, 2, cfg({"chain": [{"kind": "gain", "gain_db": HALF_DB}]}))
    assert np.array_equal(half.process(x), x * np.float32(0.5))
    g = Engine(FS, 2, cfg({"chain": [{"kind": "gain", "gain_db": 7.3}]}))
    assert np.array_equal(g.process(x), x * np.float32(10 ** (7.3 / 20)))
    lim = Engine(FS, 2, cfg({"chain": [{"kind": "limiter", "bypass": True,
                                        "ceiling_dbtp": -6.0}]}))
    lat = lim.latency_samples
    assert lat == Limiter(FS, 2).latency_samples > 0
    y = lim.process(x)
    assert np.array_equal(y[:, lat:], x[:, :-lat]) and not y[:, :lat].any()


# ---- parameters, ramps, bypass ------------------------------------------------------------

def test_gain_change_lands_at_the_next_block_and_ramps_linearly_over_20ms(rng):
    x = (rng.standard_normal((2, 6000)) * 0.3).astype(np.float32)
    eng = Engine(FS, 2, cfg({"chain": [{"kind": "gain", "name": "fader", "gain_db": 0.0}]}),
                 max_block=256)
    first = eng.process(x[:, :1000])
    eng.set_param("fader", gain_db=-12.0)
    second = eng.process(x[:, 1000:])
    assert np.array_equal(first, x[:, :1000])
    assert eng.meters()["param_frame"] == 1000
    g1 = 10 ** (-12 / 20)
    ramp = 1.0 + (g1 - 1.0) * np.arange(1, RAMP + 1) / RAMP  # closed form, per sample
    expect = x[:, 1000:1000 + RAMP].astype(np.float64) * ramp
    assert np.max(np.abs(second[:, :RAMP] - expect)) < 1e-7
    assert np.array_equal(second[:, RAMP:], x[:, 1000 + RAMP:] * np.float32(g1))


def test_bypass_crossfades_linearly_over_20ms(rng):
    dc = np.full((1, 4000), 0.25, dtype=np.float32)
    eng = Engine(FS, 1, cfg({"chain": [{"kind": "gain", "name": "boost", "gain_db": 6.0}]}))
    g = np.float32(10 ** (6 / 20))
    head = eng.process(dc[:, :512])
    eng.set_param("boost", bypass=True)
    tail = eng.process(dc[:, 512:])[0]
    assert np.array_equal(head, dc[:, :512] * g)
    w = 1.0 - np.arange(1, RAMP + 1) / RAMP            # weight of the insert's output
    expect = w * 0.25 * float(g) + (1 - w) * 0.25
    assert np.max(np.abs(tail[:RAMP] - expect)) < 1e-7
    assert np.all(tail[RAMP:] == np.float32(0.25))


def test_a_bypassed_limiter_keeps_running_and_comes_back_on_its_own_signal(rng):
    """Bypassed, the limiter is a delay; switched in live, after the 20 ms
    crossfade its output is the one of a limiter that ran all along."""
    x = music_like(rng, 2, 0.4) * np.float32(4.0)
    eng = Engine(FS, 2, cfg({"chain": [{"kind": "limiter", "name": "lim", "bypass": True}]}))
    cut = 9600
    a = eng.process(x[:, :cut])
    eng.set_param("lim", bypass=False)
    b = eng.process(x[:, cut:])
    ref = Limiter(FS, 2).process(x.copy())
    lat = eng.latency_samples
    assert np.array_equal(a[:, lat:], x[:, :cut - lat])
    assert np.array_equal(b[:, RAMP:], ref[:, cut + RAMP:])


def test_eq_and_compressor_messages_equal_the_kernels_own_setters(rng):
    """Engine messages hit the right kernel and sections: the same change made
    through the wrappers at the same sample gives the same bits."""
    bands = MASTER["chain"][0]["bands"]
    comp = {k: v for k, v in MASTER["chain"][1].items() if k not in ("kind", "name")}
    c = cfg({"chain": MASTER["chain"][:2]})
    x = music_like(rng, 2, 0.3)
    cut = 5000
    eng = Engine(FS, 2, c, max_block=1024)
    y1 = eng.process(x[:, :cut])
    eng.set_param("tone", band=1, gain_db=-4.0, freq_hz=1800.0)
    eng.set_param("tone", band=0, freq_hz=60.0)
    eng.set_param("tone", band=2, bypass=True)
    eng.set_param("glue", threshold_db=-35.0, ratio=6.0, detector="peak", stereo_link=0.5)
    y2 = eng.process(x[:, cut:])

    eq = Equalizer(FS, 2, [dict(b) for b in cfg({"chain": MASTER["chain"][:1]}).inserts[0].bands])
    cp = Compressor(FS, 2, **comp)
    r1 = cp.process(eq.process(x[:, :cut].copy()))
    eq.set_band(1, {**cfg({"chain": MASTER["chain"][:1]}).inserts[0].bands[1],
                    "gain_db": -4.0, "freq_hz": 1800.0})
    eq.cascade.set_butterworth(0, "highpass", 4, 60.0)
    eq.cascade.bypass_section(3)
    cp.set(threshold_db=-35.0, ratio=6.0, detector="peak", stereo_link=0.5)
    r2 = cp.process(eq.process(np.ascontiguousarray(x[:, cut:])))
    assert bands[2]["type"] == "highshelf"
    assert np.array_equal(y1, r1) and np.array_equal(y2, r2)
    assert eng.meters()["params_applied"] == 7  # 3 eq messages, 4 compressor values


@pytest.mark.parametrize("insert, params, match", [
    ("glue", {"threshold_db": -70.0}, r"'glue' \(compressor\): threshold_db: .*-60..0 dBFS"),
    ("glue", {"detector": "loud"}, r"'glue' \(compressor\): detector: .*'peak', 'rms'"),
    ("glue", {"sidechain_hpf_hz": 10.0}, r"sidechain_hpf_hz: .*20..500 Hz \(or 0 for off\)"),
    ("lim", {"ceiling_dbtp": 0.5}, r"'lim' \(limiter\): ceiling_dbtp: .*-20..0 dBTP"),
    ("lim", {"lookahead_ms": 2.0}, r"lookahead_ms: fixed"),
    ("trim", {"gain_db": 60.0}, r"'trim' \(gain\): gain_db: .*-48..48 dB"),
    ("trim", {"bypass": 1}, r"bypass: expected true or false"),
    ("tone", {"band": 1, "freq_hz": 5.0}, r"'tone' \(eq\): bands\[1\].freq_hz: .*10..40000 Hz"),
    ("tone", {"band": 0, "order": 8}, r"bands\[0\]: takes 4 filter sections, .* 2"),
    ("tone", {"band": 7, "gain_db": 1.0}, r"band: expected a band index 0..2"),
    ("tone", {"threshold_db": -10.0}, r"unknown parameter 'threshold_db'"),
    ("nope", {"gain_db": 0.0}, r"no insert named 'nope'"),
])
def test_set_param_refuses_out_of_range_values_naming_insert_unit_and_range(insert, params,
                                                                            match):
    eng = Engine(FS, 2, cfg(MASTER))
    with pytest.raises(ValueError, match=match):
        eng.set_param(insert, **params)
    assert eng.meters()["params_applied"] == 0


def test_a_kernel_refusal_is_reported_as_param_rejected():
    eng = Engine(FS, 1, cfg({"chain": [{"kind": "eq", "bands": [
        {"type": "peak", "freq_hz": 1000.0}]}]}))
    with pytest.raises(ValueError, match="mid-side"):
        Engine(FS, 1, cfg(CHAINS["mid-side"]))
    # a message the Python side lets through but the kernel refuses (slope too steep)
    eng._push([{"insert": 0, "param": 40, "section": 0, "type": 1, "freq_hz": 100.0,
                "q": 0.7, "gain_db": 24.0, "slope": 5.0}])
    eng.process(np.zeros((1, 64), dtype=np.float32))
    ev = eng.events()
    assert [e["type"] for e in ev] == ["param_rejected"] and ev[0]["value"] == 40
    assert eng.meters()["params_rejected"] == 1


# ---- NaN guard, rings -----------------------------------------------------------------------

def test_nonfinite_input_mutes_its_block_resets_the_chain_and_recovers(rng):
    x = music_like(rng, 2, 0.5)
    bad = 10000
    x[1, bad] = np.nan
    block = 128
    eng = Engine(FS, 2, cfg(MASTER), max_block=block)
    y = eng.process(x)
    start = bad - bad % block
    assert np.all(np.isfinite(y))
    assert not y[:, start:start + block].any()
    assert np.array_equal(y[:, :start], offline(MASTER, x[:, :start]))
    # after the muted block the chain starts again from cleared state
    assert np.array_equal(y[:, start + block:], offline(MASTER, x[:, start + block:]))
    ev = eng.events()
    assert ev == [{"type": "nonfinite", "insert": None, "insert_index": -1, "frame": start,
                   "value": 1.0}]
    assert eng.meters()["nonfinite"] == 1


def test_an_insert_that_overflows_to_inf_is_named_and_muted():
    x = np.full((1, 300), 1e37, dtype=np.float32)
    x[:, 200:] = 0.005
    eng = Engine(FS, 1, cfg({"chain": [{"kind": "gain", "name": "hot", "gain_db": 40.0}]}),
                 max_block=100)
    y = eng.process(x)
    assert not y[:, :200].any() and np.array_equal(y[:, 200:], x[:, 200:] * np.float32(100.0))
    ev = eng.events()
    assert [(e["type"], e["insert"], e["frame"], e["value"]) for e in ev] == [
        ("nonfinite", "hot", 0, 100.0), ("nonfinite", "hot", 100, 100.0)]


def test_rings_never_block_overruns_and_lost_events_are_counted(rng):
    eng = Engine(FS, 2, cfg({"chain": []}), max_block=128, ring_seconds=0.01)  # 480 frames
    eng.set_record(True)
    x = (rng.standard_normal((2, 38 * 128)) * 0.1).astype(np.float32)
    y = eng.process(x)                 # nobody reads the record ring meanwhile
    m = eng.meters()
    assert m["record_frames"] == 3 * 128 and m["record_dropped"] == 35 * 128
    assert [e["type"] for e in eng.events()] == ["record_overrun"]
    assert np.array_equal(eng.record_read(10000), y[:, :384].T)
    eng.process(x[:, :128])           # room again: recording resumes, whole blocks
    assert eng.record_available == 128

    nan = np.full((1, 1500 * 4), np.nan, dtype=np.float32)
    e2 = Engine(FS, 1, cfg({"chain": []}), max_block=4)
    e2.process(nan)                    # 1500 events into a 1024-slot ring
    assert len(e2.events()) == 1024 and e2.meters()["events_dropped"] == 1500 - 1024


def test_callback_maps_device_channels_zeroes_the_rest_and_reports_xruns(rng):
    """The PortAudio callback called directly with interleaved buffers:
    program input from in_map, outputs through out_map and monitor_map,
    unmapped outputs zero, xrun flags posted (priming is not an xrun)."""
    from host._ffi import ffi, lib

    eng = Engine(FS, 2, cfg({"chain": [{"kind": "gain", "gain_db": HALF_DB}]}), max_block=100)
    e = eng._e
    imap, omap, mon = ffi.new("int[]", [3, 1]), ffi.new("int[]", [4, -1]), ffi.new("int[]", [0, 5])
    assert lib.ob_engine_set_io(e, 4, 6, imap, omap, 2, mon) == lib.OB_OK
    frames = 256  # more than max_block: cut in the callback
    inp = rng.uniform(-1, 1, (frames, 4)).astype(np.float32)
    out = np.full((frames, 6), 7.0, dtype=np.float32)
    flags = lib.OB_PA_INPUT_OVERFLOW | lib.OB_PA_PRIMING_OUTPUT
    rc = lib.ob_engine_pa_callback(ffi.from_buffer(inp), ffi.from_buffer(out), frames, ffi.NULL,
                                   flags, e)
    assert rc == lib.OB_PA_CONTINUE
    prog = inp[:, [3, 1]] * np.float32(0.5)
    assert np.array_equal(out[:, 4], prog[:, 0])
    assert np.array_equal(out[:, [0, 5]], prog) and not out[:, 1:4].any()
    assert eng.events() == [{"type": "xrun", "insert": None, "insert_index": -1, "frame": 0,
                             "value": float(lib.OB_PA_INPUT_OVERFLOW)}]
    m = eng.meters()
    assert (m["callbacks"], m["xruns"], m["frames"]) == (1, 1, frames)
    # a device output named twice, an input beyond the device: refused
    assert lib.ob_engine_set_io(e, 4, 6, imap, ffi.new("int[]", [0, 1]), 2, mon) < 0
    assert lib.ob_engine_set_io(e, 3, 6, imap, omap, 2, mon) < 0
    with pytest.raises(ValueError, match="in_map: expected 2"):
        eng.open_stream(0, [0], [0, 1])
    with pytest.raises(ValueError, match="used twice"):
        eng.open_stream(0, [0, 1], [0, 1], monitor_map=[1, 2])


def test_playback_ring_reports_an_underrun_once_and_the_end_once(rng):
    from host._ffi import ffi, lib

    eng = Engine(FS, 1, cfg({"chain": [{"kind": "gain", "gain_db": HALF_DB}]}), max_block=128)
    e = eng._e
    assert lib.ob_engine_set_io(e, 1, 1, ffi.new("int[]", [0]), ffi.new("int[]", [0]), 0,
                                ffi.NULL) == lib.OB_OK
    eng.set_source("playback")
    inp = np.zeros(128, dtype=np.float32)
    out = np.zeros(128, dtype=np.float32)

    def callback() -> np.ndarray:
        lib.ob_engine_pa_callback(ffi.from_buffer(inp), ffi.from_buffer(out), 128, ffi.NULL, 0,
                                  e)
        return out.copy()

    a = rng.uniform(-1, 1, 300).astype(np.float32)
    b = rng.uniform(-1, 1, 100).astype(np.float32)
    assert eng.playback_write(a) == 300 and eng.playback_queued == 300
    got = [callback() for _ in range(4)]          # 128, 128, 44 + underrun, 0
    assert eng.playback_write(b) == 100
    eng.playback_finish()
    got += [callback() for _ in range(2)]         # 100 then the end, silence
    expect = np.zeros(6 * 128, dtype=np.float32)
    expect[:300] = a * np.float32(0.5)
    expect[512:612] = b * np.float32(0.5)
    assert np.array_equal(np.concatenate(got), expect)
    assert [(ev["type"], ev["frame"], ev["value"]) for ev in eng.events()] == [
        ("playback_underrun", 256, 84.0), ("playback_end", 612, 0.0)]
    m = eng.meters()
    assert m["playback_underruns"] == 2 and m["playback_ended"] and m["playback_frames"] == 400


# ---- meters ------------------------------------------------------------------------------

def test_meters_read_ebu_case_1_and_the_known_peaks():
    """EBU Tech 3341 case 1: stereo 1 kHz at -23 dBFS reads M = -23.0 +-0.1
    LUFS after 1 s; a 1 kHz sine sampled at 48 kHz hits its peak exactly."""
    x = sine(1000.0, FS, 1.0, -23.0, channels=2)
    eng = Engine(FS, 2, cfg({"chain": []}))
    eng.process(x)
    m = eng.meters()
    assert abs(m["momentary_lufs"] - (-23.0)) <= 0.1
    peak_db = 20 * np.log10(np.max(np.abs(x)))
    assert np.allclose(m["input_peak_dbfs"], peak_db, atol=1e-6)
    assert np.allclose(m["output_peak_dbfs"], peak_db, atol=1e-6)
    assert abs(m["true_peak_dbtp"] - (-23.0)) <= 0.1
    assert m["short_term_lufs"] == -math.inf  # 3 s window not yet full
    assert eng.meters()["output_peak_dbfs"] == [-math.inf, -math.inf]  # taken by the read


def test_integrated_loudness_matches_pyloudnorm(rng):
    import pyloudnorm

    x = music_like(rng, 2, 3.0) * np.float32(0.5)
    eng = Engine(FS, 2, cfg({"chain": []}))
    eng.process(x)
    ref = pyloudnorm.Meter(int(FS)).integrated_loudness(x.T.astype(np.float64))
    assert abs(eng.meters()["integrated_lufs"] - ref) <= 0.1


def test_gain_reduction_meter_reads_the_static_curve():
    """RMS detector, hard knee: a -10 dBFS sine (-13.01 dB mean-square level)
    over a -30 dBFS threshold at 4:1 is reduced by (x - T)(1 - 1/R) = 12.74 dB."""
    c = cfg({"chain": [{"kind": "compressor", "name": "comp", "threshold_db": -30.0,
                        "ratio": 4.0, "knee_db": 0.0, "detector": "rms", "rms_window_ms": 20.0,
                        "attack_ms": 5.0, "release_ms": 50.0}]})
    x = sine(1000.0, FS, 0.6, -10.0, channels=2)
    eng = Engine(FS, 2, c, max_block=480)
    y = eng.process(x)
    level = 10 * math.log10(10 ** (-10 / 10) / 2)
    expect = (level - (-30.0)) * (1 - 1 / 4)
    m = eng.meters()
    assert abs(m["gain_reduction_db"]["comp"] - expect) < 0.1
    assert m["gain_reduction_max_db"]["comp"] >= m["gain_reduction_db"]["comp"]
    rms = lambda a: np.sqrt(np.mean(a.astype(np.float64) ** 2))  # noqa: E731
    measured = 20 * math.log10(rms(x[:, -9600:]) / rms(y[:, -9600:]))
    assert abs(measured - expect) < 0.1


# ---- live, on the JACK server ----------------------------------------------------------

def stream_playback(eng: Engine, x: np.ndarray, hog_s: float = 0.0) -> tuple[np.ndarray, list]:
    """Play planar x through eng (stream open, source=playback, record on);
    feed and drain the rings from this thread until playback ends; returns
    the recording (planar) and the events.  With hog_s, this thread holds the
    GIL that long (no switch) while the stream runs."""
    inter = np.ascontiguousarray(x.T)
    n = inter.shape[0]
    pos = eng.playback_write(inter)
    if pos == n:
        eng.playback_finish()
    chunks, events, ended, hogged = [], [], False, hog_s == 0.0
    eng.start()
    deadline = time.monotonic() + 20.0 + n / FS
    while not ended:
        assert time.monotonic() < deadline, "playback did not end"
        if pos < n:
            pos += eng.playback_write(inter[pos:])
            if pos == n:
                eng.playback_finish()
        if not hogged and eng.meters()["frames"] > n // 4:
            hogged = True
            before = eng.meters()["frames"]
            old = sys.getswitchinterval()
            sys.setswitchinterval(10.0)
            try:
                t_end = time.perf_counter() + hog_s
                while time.perf_counter() < t_end:
                    pass
            finally:
                sys.setswitchinterval(old)
            assert eng.meters()["frames"] - before >= 10 * 128, "audio stalled with the GIL"
        chunks.append(eng.record_read(1 << 16))
        new = eng.events()
        events += new
        ended = any(e["type"] == "playback_end" for e in new)
        time.sleep(0.005)
    time.sleep(0.05)  # a few blocks of the tail
    eng.stop()
    chunks.append(eng.record_read(1 << 20))
    events += eng.events()
    return np.ascontiguousarray(np.concatenate(chunks).T), events


def test_live_playback_records_the_same_bits_as_offline_processing(jack_server, rng):
    """Playback ring -> chain -> record ring inside the C callback: the
    recording equals offline processing of the same input with offset 0 (both
    rings carry the program path of the same callback, so no device latency
    sits between them), even while Python holds the GIL."""
    x = music_like(rng, 2, 1.5)
    eng = Engine(FS, 2, cfg(MASTER), ring_seconds=1.0)
    with eng:
        eng.open_stream("system", [0, 1], [0, 1], source="playback", record=True)
        rec, events = stream_playback(eng, x, hog_s=0.3)
        m = eng.meters()
    n = x.shape[1]
    assert [e for e in events if e["type"] in ("playback_underrun", "record_overrun")] == []
    assert [e["frame"] for e in events if e["type"] == "playback_end"] == [n]
    assert m["record_first_frame"] == 0 and m["playback_frames"] == n
    assert rec.shape[1] > n + eng.latency_samples
    assert np.array_equal(rec, offline(MASTER, x, rec.shape[1]))
    assert m["callbacks"] > 0 and 0.0 < m["dsp_load"] < 1.0


def test_live_input_reaches_program_outputs_and_monitors(jack_server, rng):
    """A JACK client plays noise into the stream's input ports and records its
    outputs: every period that comes back is exactly 0.5 x a period sent
    (gain insert, float32 product) and the monitor pair carries the same
    samples.  The JACK graph itself (dummy backend, asynchronous mode, not
    real-time) may repeat or drop a period under load, so periods are matched
    one by one and 90 % must arrive at the one delay of the graph."""
    import jack

    period = jack_server.period
    nblk = 94
    n = nblk * period
    sig = rng.uniform(-0.5, 0.5, (2, n)).astype(np.float32)
    rec = np.zeros((4, n + 32 * period), dtype=np.float32)
    st = {"armed": False, "pos": 0, "rpos": 0, "xruns": 0}
    client = jack.Client("outboard-engine-test")
    sends = [client.outports.register(f"send_{c}") for c in range(2)]
    returns = [client.inports.register(f"return_{c}") for c in range(4)]

    @client.set_xrun_callback
    def xrun(delay):
        st["xruns"] += 1

    @client.set_process_callback
    def process(frames):
        p0 = st["pos"] if st["armed"] else n
        k = max(0, min(frames, n - p0))
        for c, p in enumerate(sends):
            buf = p.get_array()
            buf[:k] = sig[c, p0:p0 + k]
            buf[k:] = 0.0
        if not st["armed"]:
            return
        st["pos"] = p0 + k
        r0 = st["rpos"]
        m = min(frames, rec.shape[1] - r0)
        for c, p in enumerate(returns):
            rec[c, r0:r0 + m] = p.get_array()[:m]
        st["rpos"] = r0 + m

    eng = Engine(FS, 2, cfg({"chain": [{"kind": "gain", "gain_db": HALF_DB}]}))
    with client, eng:
        before = {p.name for p in client.get_ports()}
        eng.open_stream("system", [0, 1], [0, 1], monitor_map=[2, 3], source="input")
        ours = sorted({p.name for p in client.get_ports()} - before)
        pa_in = [p for p in ours if ":in_" in p]
        pa_out = [p for p in ours if ":out_" in p]
        assert len(pa_in) == 2 and len(pa_out) == 4, ours
        eng.start()
        for c in range(2):
            client.connect(sends[c], pa_in[c])
        for c in range(4):
            client.connect(pa_out[c], returns[c])
        time.sleep(0.05)  # new connections take effect at a later cycle
        st["armed"] = True
        deadline = time.monotonic() + 20.0
        while st["rpos"] < rec.shape[1]:
            assert time.monotonic() < deadline, "JACK client did not record"
            time.sleep(0.01)
        eng.stop()
    half = sig * np.float32(0.5)
    sent = {half[:, j * period:(j + 1) * period].tobytes(): j for j in range(nblk)}
    delays = []
    for i in range(rec.shape[1] // period):
        blk = rec[:, i * period:(i + 1) * period]
        if not blk.any():
            continue
        j = sent.get(np.ascontiguousarray(blk[:2]).tobytes())
        assert j is not None, f"period {i} is not 0.5 x any period sent ({st['xruns']} xruns)"
        assert np.array_equal(blk[2:], blk[:2]), f"monitors differ in period {i}"
        delays.append(i - j)
    nominal = max(set(delays), key=delays.count)
    assert delays.count(nominal) >= 0.9 * nblk, (delays, st["xruns"])


def test_live_gain_change_lands_within_one_block_and_ramps_without_click(jack_server):
    x = sine(1000.0, FS, 0.8, -6.0, channels=2)
    n = x.shape[1]
    eng = Engine(FS, 2, cfg({"chain": [{"kind": "gain", "name": "fader", "gain_db": 0.0}]}))
    inter = np.ascontiguousarray(x.T)
    with eng:
        eng.open_stream("system", [0, 1], [0, 1], source="playback", record=True)
        assert eng.playback_write(inter) == n
        eng.playback_finish()
        eng.start()
        deadline = time.monotonic() + 20.0
        while eng.meters()["frames"] < n // 3:
            assert time.monotonic() < deadline
            time.sleep(0.005)
        f0 = eng.meters()["frames"]
        eng.set_param("fader", gain_db=-12.0)
        f1 = eng.meters()["frames"]
        while not eng.meters()["playback_ended"]:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        eng.stop()
        rec = eng.record_read(2 * n).T
        p = eng.meters()["param_frame"]
    assert f0 <= p <= f1 + 128 and p % 128 == 0  # the first block after the push
    g1 = 10 ** (-12 / 20)
    ramp = 1.0 + (g1 - 1.0) * np.arange(1, RAMP + 1) / RAMP
    assert np.array_equal(rec[:, :p], x[:, :p])
    assert np.max(np.abs(rec[:, p:p + RAMP] - x[:, p:p + RAMP] * ramp)) < 1e-7
    assert np.array_equal(rec[:, p + RAMP:n], x[:, p + RAMP:] * np.float32(g1))
    # no click: the gain moves by at most 1/RAMP of the change per sample
    idx = np.arange(p - 100, p + RAMP + 100)
    idx = idx[np.abs(x[0, idx]) > 0.05]
    gain = rec[0, idx].astype(np.float64) / x[0, idx]
    assert np.max(np.abs(np.diff(gain) / np.diff(idx))) <= (1 - g1) / RAMP * 1.001


def test_live_nan_in_playback_mutes_one_block_and_processing_recovers(jack_server, rng):
    x = music_like(rng, 2, 0.6)
    bad = 14000
    x[0, bad] = np.nan
    eng = Engine(FS, 2, cfg(MASTER))
    with eng:
        eng.open_stream("system", [0, 1], [0, 1], source="playback", record=True)
        rec, events = stream_playback(eng, x)
    block = jack_server.period
    start = bad - bad % block
    nf = [e for e in events if e["type"] == "nonfinite"]
    assert nf == [{"type": "nonfinite", "insert": None, "insert_index": -1, "frame": start,
                   "value": 1.0}]
    assert np.all(np.isfinite(rec))
    assert not rec[:, start:start + block].any()
    assert np.array_equal(rec[:, :start], offline(MASTER, x[:, :start]))
    after = x[:, start + block:]
    assert np.array_equal(rec[:, start + block:],
                          offline(MASTER, after, rec.shape[1] - start - block))
