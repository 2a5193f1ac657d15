"""The saturation and dynamic EQ kinds in the real-time engine (kernel inserts,
``ob_engine_add_kernel``): offline through ``Engine.process`` against the
offline ``Chain`` (bit-exact), parameter changes through the parameter ring
against the kernels' own setters and against spectral splatter, bypass, the
meters, and live on the JACK server through the C callback.

References: the offline Python chain (host.offline.chain.Chain), the kernel
wrappers driven directly, the RBJ cookbook peak (written out here) for the
gain a band change must reach.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import signal

from conftest import sine
from host.dsp.dynamic_eq import DynamicEQ
from host.dsp.saturation import LATENCY_SAMPLES, Saturation
from host.live.engine import Engine
from host.model.config import parse_chain
from host.offline.chain import Chain

FS = 48000.0
RAMP = int(round(0.020 * FS))  # engine bypass ramp, samples

CHAIN = {"chain": [
    {"kind": "eq", "name": "tone", "bands": [
        {"type": "highpass", "freq_hz": 30.0, "order": 4, "family": "butterworth"}]},
    {"kind": "dynamic_eq", "name": "deq", "bands": [
        {"type": "peak", "freq_hz": 2500.0, "q": 1.5, "threshold_db": -30.0, "ratio": 3.0},
        {"type": "lowshelf", "freq_hz": 120.0, "gain_db": 3.0, "mode": "below",
         "threshold_db": -35.0, "range_db": 6.0}]},
    {"kind": "saturation", "name": "sat", "drive_db": 6.0, "curve": "tube", "mix_pct": 70.0,
     "oversample": 4},
    {"kind": "dynamic_eq", "name": "deess", "preset": "deess"},
    {"kind": "limiter", "name": "lim", "ceiling_dbtp": -1.0},
]}


def cfg(data: dict):
    return parse_chain(data, "<test>")


def music_like(rng: np.random.Generator, channels: int, seconds: float) -> np.ndarray:
    """Planar float32: noise tilted down, with bursts (the dynamic bands move)."""
    n = int(seconds * FS)
    x = signal.lfilter(*signal.butter(1, 2000.0, fs=FS), rng.standard_normal((channels, n)))
    x *= 0.2 / np.sqrt(np.mean(x ** 2))
    env = np.exp(-np.arange(2400) / 300.0)
    for k in range(0, n - 2400, 7000):
        x[:, k:k + 2400] += rng.standard_normal((channels, 2400)) * env
    return np.ascontiguousarray(x, dtype=np.float32)


@pytest.mark.parametrize("channels", [1, 2, 6])
def test_engine_output_is_bit_identical_to_the_offline_chain(channels, rng):
    c = cfg(CHAIN)
    x = music_like(rng, channels, 0.5)
    ref = Chain(c, FS, channels).process(x.copy(), block_frames=4096)
    eng = Engine(FS, channels, c, max_block=512)
    assert eng.latency_samples == Chain(c, FS, channels).latency_samples
    assert eng.insert_latency("sat") == LATENCY_SAMPLES
    assert np.array_equal(eng.process(x), ref)


def test_engine_output_does_not_depend_on_block_size(rng):
    c = cfg(CHAIN)
    x = music_like(rng, 2, 0.3)
    whole = Engine(FS, 2, c, max_block=65536).process(x)
    for block in (1, 16, 64, 65, 1024, 8193):
        eng = Engine(FS, 2, c, max_block=8192)
        parts = [eng.process(x[:, i:i + block]) for i in range(0, x.shape[1], block)]
        assert np.array_equal(np.concatenate(parts, axis=1), whole), block


def test_messages_through_the_ring_equal_the_kernels_own_setters(rng):
    """The same changes made through the wrappers at the same sample give the
    same bits: the ring reaches the right kernel, parameter and band."""
    c = cfg({"chain": CHAIN["chain"][1:3]})
    x = music_like(rng, 2, 0.3)
    cut = 5000
    eng = Engine(FS, 2, c, max_block=1024)
    y1 = eng.process(x[:, :cut])
    eng.set_param("deq", band=1, gain_db=-2.0, mode="above", freq_hz=90.0)
    eng.set_param("deq", ratio=5.0)                       # every band
    eng.set_param("sat", drive_db=12.0, curve="soft_clip", output_db=-3.0)
    y2 = eng.process(x[:, cut:])

    deq = DynamicEQ(FS, 2, c.inserts[0].bands)
    sat = Saturation(FS, 2, **c.inserts[1].params)
    r1 = sat.process(deq.process(x[:, :cut].copy()))
    deq.set(band=1, gain_db=-2.0, mode="above", freq_hz=90.0)
    deq.set(ratio=5.0)
    sat.set(drive_db=12.0, curve="soft_clip", output_db=-3.0)
    r2 = sat.process(deq.process(np.ascontiguousarray(x[:, cut:])))
    assert np.array_equal(y1, r1) and np.array_equal(y2, r2)
    assert eng.meters()["params_applied"] == 7


def _hf_residual_dbfs(y: np.ndarray, f_sine: float, start: int) -> float:
    hp = signal.butter(8, 4 * f_sine, "highpass", output="sos", fs=FS)
    r = signal.sosfilt(hp, np.asarray(y, dtype=np.float64), axis=-1)[..., start:]
    return 20 * np.log10(np.max(np.abs(r)) + 1e-300)


def peak_gain_db(f0: float, q: float, gain_db: float, f: float) -> float:
    """|H(f)| of the RBJ cookbook peak, dB."""
    A = 10 ** (gain_db / 40)
    w0 = 2 * math.pi * f0 / FS
    al = math.sin(w0) / (2 * q)
    b = [1 + al * A, -2 * math.cos(w0), 1 - al * A]
    a = [1 + al / A, -2 * math.cos(w0), 1 - al / A]
    _, h = signal.freqz(b, a, worN=[f], fs=FS)
    return 20 * math.log10(abs(h[0]))


def spread_db(y: np.ndarray, f0: float, beside_hz: float = 50.0) -> float:
    """Energy more than ``beside_hz`` from f0, re the whole (Blackman-Harris
    window: the sine's own leakage there is far below -100 dB)."""
    w = signal.windows.blackmanharris(y.shape[-1])
    p = np.abs(np.fft.rfft(np.asarray(y, dtype=np.float64) * w)) ** 2
    f = np.fft.rfftfreq(y.shape[-1], 1.0 / FS)
    return float(10 * np.log10(p[np.abs(f - f0) > beside_hz].sum() / p.sum()))


@pytest.mark.parametrize("gain_db, spread_limit", [(3.0, -70.0), (12.0, -58.0), (-12.0, -58.0)])
def test_a_band_gain_change_through_the_ring_ramps_without_splatter(gain_db, spread_limit):
    """A -20 dBFS 1 kHz sine through an idle dynamic EQ band; its static gain
    changes through the parameter ring while the sine plays in blocks of 256.
    The raised-cosine ramp (50 ms) keeps the energy beyond +-50 Hz of the sine
    under the limit (measured: -74 dB for 3 dB, -61 dB for 12 dB; a one-pole
    ramp gave -53 and -47), nothing above 4 kHz rises above -100 dBFS, and the
    sine ends at the cookbook filter's new gain.  The two steady outputs
    spliced at the change (an unramped switch) go above -60 dBFS above 4 kHz."""
    band = {"type": "peak", "freq_hz": 1000.0, "q": 1.0, "gain_db": 0.0, "threshold_db": 0.0}
    c = cfg({"chain": [{"kind": "dynamic_eq", "name": "deq", "bands": [band]}]})
    x = sine(1000.0, FS, 1.0, peak_dbfs=-20.0)
    eng = Engine(FS, 1, c, max_block=256)
    t = 24064  # a block boundary: the message lands there
    parts = [eng.process(x[:, i:i + 256]) for i in range(0, t, 256)]
    eng.set_param("deq", band=0, gain_db=gain_db)
    parts += [eng.process(x[:, i:i + 256]) for i in range(t, x.shape[1], 256)]
    y = np.concatenate(parts, axis=1)
    assert eng.meters()["param_frame"] == t
    assert spread_db(y[0], 1000.0) < spread_limit
    assert _hf_residual_dbfs(y, 1000.0, 4800) < -100.0
    tail = y[0, -4800:].astype(np.float64)
    level = 20 * np.log10(np.sqrt(2 * np.mean(tail ** 2)))
    assert level == pytest.approx(-20.0 + peak_gain_db(1000.0, 1.0, gain_db, 1000.0), abs=0.01)
    old = Engine(FS, 1, c).process(x)
    new = Engine(FS, 1, cfg({"chain": [{"kind": "dynamic_eq", "name": "deq",
                                        "bands": [dict(band, gain_db=gain_db)]}]})).process(x)
    spliced = np.concatenate([old[:, :t], new[:, t:]], axis=1)
    assert _hf_residual_dbfs(spliced, 1000.0, 4800) > -60.0


@pytest.mark.parametrize("change, spread_limit", [
    (dict(output_db=3.0), -70.0), (dict(mix_pct=50.0), -62.0), (dict(drive_db=-6.0), -64.0),
    (dict(curve="soft_clip"), -75.0)], ids=lambda v: str(v))
def test_a_saturation_change_through_the_ring_ramps_without_splatter(change, spread_limit):
    """In the curve's linear region (a -12 dBFS 1 kHz sine, -12 dB drive, hard
    clip: no harmonics at all), a change through the ring spreads only what
    its 50 ms raised-cosine ramp makes (measured: trim +3 dB -75 dB, mix
    100 -> 50 % -67 dB (the dry and wet paths differ by the DC blocker's
    phase), drive +6 dB -69 dB, a curve crossfade -80 dB)."""
    c = cfg({"chain": [{"kind": "saturation", "name": "sat", "drive_db": -12.0,
                        "curve": "hard_clip"}]})
    x = sine(1000.0, FS, 2.0, peak_dbfs=-12.0)
    eng = Engine(FS, 1, c, max_block=64)
    a = eng.process(x[:, :48000])
    eng.set_param("sat", **change)
    y = np.concatenate([a, eng.process(x[:, 48000:])], axis=1)
    assert spread_db(Engine(FS, 1, c).process(x)[0], 1000.0) < -100.0
    assert spread_db(y[0], 1000.0) < spread_limit


def test_a_bypassed_saturation_is_the_input_delayed_by_its_latency(rng):
    """Bypass keeps the insert's latency: the engine's dry path is delayed by
    the 48 samples the kernel reports, so switching it out and back lines up."""
    c = cfg({"chain": [{"kind": "saturation", "name": "sat", "drive_db": 18.0,
                        "curve": "hard_clip"}]})
    x = music_like(rng, 2, 0.2)
    eng = Engine(FS, 2, c, max_block=1024)
    eng.set_param("sat", bypass=True)
    y = eng.process(x)
    lat = eng.latency_samples
    assert lat == LATENCY_SAMPLES
    assert np.array_equal(y[:, lat + RAMP:], x[:, RAMP:x.shape[1] - lat])


def test_dynamic_eq_meters_show_per_band_gain_reduction():
    c = cfg({"chain": [{"kind": "dynamic_eq", "name": "deess", "preset": "deess"},
                       {"kind": "saturation", "name": "sat"}]})
    eng = Engine(FS, 2, c)
    eng.process(sine(7000.0, FS, 0.5, peak_dbfs=-6.0, channels=2))
    m = eng.meters()
    assert m["gain_reduction_max_db"]["deess"] == pytest.approx(12.0, abs=0.01)
    assert m["gain_reduction_bands_max_db"]["deess"] == {
        "band 1 (peak 7000 Hz)": pytest.approx(12.0, abs=0.01)}
    assert "sat" not in m["gain_reduction_db"]


@pytest.mark.parametrize("insert, params, match", [
    ("sat", {"drive_db": 40.0}, r"'sat' \(saturation\): drive_db: expected a number -12..36 dB"),
    ("sat", {"curve": "fuzz"}, r"curve: expected one of 'tape', 'tube', 'soft_clip'"),
    ("sat", {"oversample": 8}, r"oversample: fixed when the insert is built"),
    ("deq", {"band": 1, "ratio": 0.5}, r"'deq' \(dynamic_eq\): bands\[1\].ratio: expected a "
                                       r"number 1..100"),
    ("deq", {"band": 2, "gain_db": 1.0}, r"band: expected a band index 0..1, got 2"),
    ("deq", {"freq_hz": 30000.0}, r"freq_hz: expected a number 20..20000 Hz"),
    ("deq", {"preset": "deess"}, r"preset: fixed when the insert is built"),
    ("deq", {"band": 0, "knee_db": 3.0}, r"bands\[0\].knee_db: unknown band key"),
])
def test_set_param_refuses_bad_values_naming_insert_key_unit_and_range(insert, params, match):
    eng = Engine(FS, 2, cfg(CHAIN))
    with pytest.raises(ValueError, match=match):
        eng.set_param(insert, **params)
    assert eng.meters()["params_applied"] == 0


def test_live_playback_records_the_same_bits_as_offline_processing(jack_server, rng):
    """Playback ring -> chain (with both kinds) -> record ring inside the C
    callback on the JACK server: the recording equals offline processing."""
    from test_engine import stream_playback

    x = music_like(rng, 2, 1.0)
    eng = Engine(FS, 2, cfg(CHAIN), ring_seconds=1.0)
    with eng:
        eng.open_stream("system", [0, 1], [0, 1], source="playback", record=True)
        rec, events = stream_playback(eng, x)
    assert [e for e in events if e["type"] in ("playback_underrun", "record_overrun")] == []
    padded = np.zeros((2, rec.shape[1]), dtype=np.float32)
    padded[:, :x.shape[1]] = x
    assert np.array_equal(rec, Engine(FS, 2, cfg(CHAIN)).process(padded))
