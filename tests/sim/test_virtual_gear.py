"""Virtual outboard gear (host.sim.gear) on the embedded studio's JACK server.

A test client in this process plays a known signal into a gear's inputs and
records its outputs in the same process cycles (host.sim.gear.PlayRecordClient:
its callback only copies slices of preallocated buffers).  What comes back is
checked against references computed here: FFT phase-shift delays of a
band-limited periodic signal, the compressor's static curve from Giannoulis et
al. (JAES 2012, eq. 4), the CC maps as documented.
"""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
import scipy.signal

from host.errors import OutboardError
from host.sim.fractional_delay import FIR_GROUP_DELAY_ERROR_SAMPLES, FIR_RESIDUAL_DB, delay_plan
from host.model.virtual_gear import GearSpec
from host.sim.probe import PlayRecordClient
from host.sim.virtual_gear import VirtualGear

PID = os.getpid()
# A loop from the test client's outputs back to its inputs through the gear (another
# client) adds one whole JACK period to the gear's own delay, every run: JACK runs a
# cycle's clients in graph order and marks the connection that closes the loop as a
# feedback connection, whose data is read one cycle later.  Whether the probe runs
# before the gear (the gear -> probe edge is the feedback one) or after it (the
# probe -> gear edge is), the signal crosses exactly one cycle boundary.
# test_wire_gear_delays_scales_and_inverts checks it for both wiring orders.
LOOP_PERIODS = 1
# When a client is late (an xrun; frequent on this loaded 2-core machine with a non-RT
# dummy server), the next one can be handed a stale or half-written block: seen here under
# load as whole blocks one period old and torn ones, and as lost MIDI events.  So a take
# that misses its reference is redone, but only if JACK reported an xrun during it; a
# miss without an xrun fails at once.
ATTEMPTS = 12


def band_limited_period(rng: np.random.Generator, period: int, fs: float,
                        peak: float) -> np.ndarray:
    """One period of a flat-spectrum multi-sine, 20 Hz .. 0.4 fs, random phases."""
    f = np.fft.rfftfreq(period, 1 / fs)
    spec = np.where((f >= 20.0) & (f <= 0.4 * fs),
                    np.exp(2j * np.pi * rng.random(len(f))), 0.0)
    x = np.fft.irfft(spec, period)
    return x * (peak / np.max(np.abs(x)))


def periodic_delay(x: np.ndarray, delay: float) -> np.ndarray:
    """Circular delay of one period of a band-limited periodic signal by FFT phase shift
    (exact for such a signal, fractional delays included)."""
    k = np.arange(len(x) // 2 + 1)
    return np.fft.irfft(np.fft.rfft(x) * np.exp(-2j * np.pi * k * delay / len(x)), len(x))


def exact_take(probe: PlayRecordClient, x: np.ndarray, frames: int, check) -> None:
    """Record up to ATTEMPTS takes until ``check(rec)`` (which returns a list of failure
    messages) passes; a failing take is excused only when JACK reported an xrun in it."""
    for _ in range(ATTEMPTS):
        before = probe.xruns
        rec = probe.play_record(x, frames)
        failures = check(rec)
        if not failures:
            return
        if probe.xruns == before:
            time.sleep(0.3)       # xrun notices come through JACK's notification thread
        assert probe.xruns > before, "; ".join(failures)
    pytest.fail(f"every one of {ATTEMPTS} takes had JACK xruns (machine overloaded) and "
                f"missed: {'; '.join(failures)}")


def send_until_landed(probe: PlayRecordClient, gear: VirtualGear, messages, expected,
                      tol: float = 1e-9) -> dict[str, float]:
    """Send CCs and wait for the gear's report; resend (up to 5 times) if they did not
    land, since a late client can lose a cycle's MIDI events under load."""
    for _ in range(4):
        probe.send_midi(messages)
        probe.wait_midi_sent()
        try:
            return gear.wait_for_knobs(expected, timeout_s=1.0, tol=tol)
        except OutboardError:
            continue
    probe.send_midi(messages)
    probe.wait_midi_sent()
    return gear.wait_for_knobs(expected, timeout_s=3.0, tol=tol)


@pytest.fixture
def probe(jack_server):
    with PlayRecordClient(f"tvg-probe-{PID}", outputs=4, inputs=4, midi_out=True) as p:
        yield p


def amplitude_db(y: np.ndarray, freq_hz: float, fs: float) -> float:
    """Peak amplitude of the ``freq_hz`` component by least squares (sin, cos, DC)."""
    t = np.arange(len(y)) / fs
    a = np.stack([np.sin(2 * np.pi * freq_hz * t), np.cos(2 * np.pi * freq_hz * t),
                  np.ones_like(t)], axis=1)
    c = np.linalg.lstsq(a, y.astype(np.float64), rcond=None)[0]
    return 20 * np.log10(np.hypot(c[0], c[1]))


# ---- the fractional delay, offline ----------------------------------------------------


@pytest.mark.parametrize("delay", [31.01, 31.25, 31.5, 37.25, 63.77, 100.5, 1000.99])
def test_fractional_delay_total_group_delay_is_exact_over_the_ping_band(delay):
    # The FIR's own centre is part of the delay: line + group delay of the taps = delay,
    # within the stated bound (< 0.001 samples) over 0..0.4 fs, the ping's band; by scipy.
    plan = delay_plan(delay)
    w = np.linspace(0.0005, 0.4, 800) * 2 * np.pi
    _, gd = scipy.signal.group_delay((plan.taps, [1.0]), w=w)
    assert FIR_GROUP_DELAY_ERROR_SAMPLES < 1e-3
    assert np.max(np.abs(plan.line + gd - delay)) <= FIR_GROUP_DELAY_ERROR_SAMPLES


@pytest.mark.parametrize("delay", [31.01, 37.25, 50.5, 100.5, 255.99])
def test_fractional_delay_matches_fft_phase_shift_within_stated_accuracy(rng, delay):
    fs, period = 48000.0, 4096
    x = band_limited_period(rng, period, fs, 0.5)
    plan = delay_plan(delay)
    tiled = np.tile(x, 4)
    y = np.convolve(tiled, plan.taps)[:len(tiled)]
    y = np.concatenate((np.zeros(plan.line), y))[:len(tiled)]
    ref = np.tile(periodic_delay(x, delay), 4)
    res = y[2 * period:] - ref[2 * period:]
    assert 20 * np.log10(np.max(np.abs(res)) / 0.5) < FIR_RESIDUAL_DB


# ---- through JACK -------------------------------------------------------------------------


def test_wire_gear_delays_scales_and_inverts(probe, rng):
    delays = [0.0, 10.0, 37.25, 100.5]
    spec = GearSpec(f"tvg-wire-{PID}", channels=4, delay_samples=delays, gain_db=-6.0,
                    polarity=-1)
    fs, n = probe.fs, probe.blocksize
    period = 2048
    x = band_limited_period(rng, period, fs, 10 ** (-6 / 20))
    play = np.tile(x, 3)          # 0.13 s: short takes meet fewer JACK xruns
    g = -(10 ** (-6 / 20))
    with VirtualGear(spec) as gear:
        for order in ("sends first", "returns first"):
            if order == "sends first":
                gear.wire(probe.client, probe.outputs, probe.inputs)
            else:
                gear.unwire(probe.client, probe.outputs, probe.inputs)
                for src, dst in zip(gear.outputs, probe.inputs, strict=True):
                    probe.client.connect(src, dst)
                for src, dst in zip(probe.outputs, gear.inputs, strict=True):
                    probe.client.connect(src, dst)

            def check(rec: np.ndarray, order: str = order) -> list[str]:
                failures = []
                for ch, d in enumerate(delays):
                    ref = g * np.tile(periodic_delay(x, d + LOOP_PERIODS * n), 3)
                    # steady state: from the second period on (delay + period + FIR < 2048)
                    res = rec[ch, period:] - ref[period:]
                    res_db = 20 * np.log10(max(np.max(np.abs(res)), 1e-20))
                    limit = -90.0 if d == int(d) else \
                        20 * np.log10(abs(g) * 10 ** (-6 / 20)) + FIR_RESIDUAL_DB
                    if not res_db < limit:
                        failures.append(f"{order}, channel {ch + 1}, delay {d}: residual "
                                        f"{res_db:.1f} dBFS (limit {limit:.1f}) against "
                                        f"delay + {LOOP_PERIODS} x {n}")
                return failures

            exact_take(probe, play, len(play), check)


def test_compressor_gear_follows_its_static_curve(probe):
    t_db, ratio, makeup = -24.0, 4.0, 2.0
    spec = GearSpec(f"tvg-comp-{PID}", channels=1, processing="compressor",
                    compressor={"threshold_db": t_db, "ratio": ratio, "knee_db": 0.0,
                                "attack_ms": 0.05, "release_ms": 300.0, "makeup_db": makeup})
    fs, n = probe.fs, probe.blocksize
    f0, seg = 997.0, int(0.1 * fs)
    # Ascending, so each step settles within the (fast) attack.  The peak detector with a
    # short attack and a long release holds a steady sine's peak level (kernel header).
    levels = [-40.0, -30.0, -24.0, -18.0, -12.0, -6.0, -3.0]
    t = np.arange(seg * len(levels)) / fs
    amp = np.repeat([10 ** (lv / 20) for lv in levels], seg)
    x = amp * np.sin(2 * np.pi * f0 * t)
    with VirtualGear(spec) as gear:
        gear.wire(probe.client, probe.outputs[:1], probe.inputs[:1])
        # One take, xruns or not: see the per-block median below.
        rec = probe.play_record(np.tile(x, (4, 1)), len(x) + 1024)[0]
    lag = LOOP_PERIODS * n
    for i, lv in enumerate(levels):
        # Amplitude of each whole JACK block in the last 50 ms of the step, then the
        # median: a block a late client handed over stale (xrun) is the same steady sine
        # one block earlier, so it has the same amplitude and cannot bias the result.
        first = -(-(lag + (i + 1) * seg - int(0.05 * fs)) // n)
        last = (lag + (i + 1) * seg) // n
        got = np.median([amplitude_db(rec[b * n:(b + 1) * n], f0, fs)
                         for b in range(first, last)])
        # Giannoulis eq. 4, hard knee, on the peak level of the sine
        y_g = lv if lv <= t_db else t_db + (lv - t_db) / ratio
        want = y_g + makeup
        assert abs(got - want) <= 0.2, f"input {lv} dBFS: out {got:.3f}, static curve {want:.3f}"


def test_midi_cc_moves_the_compressor_knobs_as_documented(probe):
    spec = GearSpec(f"tvg-midi-{PID}", channels=1, processing="compressor", midi=True)
    with VirtualGear(spec) as gear:
        start = gear.knobs()
        assert start["threshold_db"] == -18.0 and start["ratio"] == 2.0  # kernel defaults
        probe.client.connect(probe.midi_output, gear.midi_input)
        ratios = (1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 10.0, 20.0)
        send_until_landed(probe, gear, [
            (0xB0, 20, 64), (0xB0, 21, 100), (0xB0, 22, 0), (0xB0, 23, 127),
            (0xB3, 24, 32),     # channel 4: the gear listens on all
        ], {
            "threshold_db": -40.0 + 40.0 * 64 / 127,
            "ratio": ratios[100 * 8 // 128],
            "attack_ms": 0.1,
            "release_ms": 2000.0,
            "makeup_db": 24.0 * 32 / 127,
        })
        # 14-bit: MSB on CC 20, then LSB on CC 52
        knobs = send_until_landed(probe, gear, [(0xB0, 20, 100), (0xB0, 52, 5)],
                                  {"threshold_db": -40.0 + 40.0 * (100 * 128 + 5) / 16383})
        assert knobs["ratio"] == 10.0  # untouched
        last = [r for r in gear.reports() if r.get("event") == "knobs"][-1]
        assert (last["cc"], last["raw"], last["bits"]) == (20, 100 * 128 + 5, 14)


def test_midi_cc_moves_eq_band_gains_and_skips_bands_without_gain(probe):
    bands = [{"type": "peak", "freq_hz": 1000.0, "gain_db": 0.0, "q": 1.0},
             {"type": "highpass", "freq_hz": 30.0},
             {"type": "highshelf", "freq_hz": 8000.0, "gain_db": 3.0}]
    spec = GearSpec(f"tvg-eq-{PID}", channels=2, processing="eq", bands=bands, midi=True,
                    midi_channel=2)
    with VirtualGear(spec) as gear:
        assert gear.knobs() == {"bands[0].gain_db": 0.0, "bands[2].gain_db": 3.0}
        probe.client.connect(probe.midi_output, gear.midi_input)
        knobs = send_until_landed(probe, gear, [
            (0xB0, 20, 0),        # channel 1: ignored (gear on channel 2)
            (0xB1, 20, 96),       # band 0: 12 * (96 - 64) / 64 = +6 dB
            (0xB1, 21, 127),      # band 1 (high pass) has no gain CC
            (0xB1, 22, 0),        # band 2: -12 dB
        ], {"bands[0].gain_db": 6.0, "bands[2].gain_db": -12.0})
        assert set(knobs) == {"bands[0].gain_db", "bands[2].gain_db"}
        changed = {k for r in gear.reports() if r.get("event") == "knobs" for k in r["changed"]}
        assert changed == {"bands[0].gain_db", "bands[2].gain_db"}   # nothing else moved


def test_gear_noise_has_its_stated_rms_level(probe):
    spec = GearSpec(f"tvg-noise-{PID}", channels=2, noise_dbfs=-60.0, noise_seed=7)
    with VirtualGear(spec) as gear:
        gear.wire(probe.client, probe.outputs[:2], probe.inputs[:2])
        # the noise's statistics do not care about a stale block: any attempt will do
        rec = probe.play_record(np.zeros((4, 1)), 24000, attempts=ATTEMPTS)
    for ch in range(2):
        rms_db = 10 * np.log10(np.mean(rec[ch, 1024:].astype(np.float64) ** 2))
        assert abs(rms_db - -60.0) < 0.2
    assert abs(np.corrcoef(rec[0, 1024:], rec[1, 1024:])[0, 1]) < 0.05  # independent


def test_second_gear_with_a_taken_name_fails_clearly(jack_server):
    spec = GearSpec(f"tvg-dup-{PID}", channels=1)
    with VirtualGear(spec):
        t0 = time.monotonic()
        with pytest.raises(OutboardError, match=r"tvg-dup-\d+: exited at start.*name"):
            VirtualGear(spec).start(timeout_s=10.0)
        assert time.monotonic() - t0 < 10.0  # reported, not timed out


@pytest.mark.parametrize("kwargs, match", [
    ({"channels": 9}, r"channels: expected an integer 1\.\.8"),
    ({"delay_samples": -1.0}, r"delay_samples: expected 0\.\.262144 samples"),
    ({"channels": 2, "delay_samples": [1.0, 2.0, 3.0]}, r"delay_samples: expected one value "
                                                         r"or 2 \(one per channel\)"),
    ({"polarity": 0}, r"polarity\[0\]: expected \+1 or -1"),
    ({"gain_db": 30.0}, r"gain_db: expected -60\.\.\+24 dB"),
    ({"noise_dbfs": 3.0}, r"noise_dbfs: expected None or -160\.\.0 dB"),
    ({"processing": "tape"}, r"processing: expected one of wire, compressor, eq"),
    ({"processing": "compressor", "compressor": {"ratio": 0.5}},
     r"compressor\.ratio: x:1, expected 1\.\.100"),
    ({"processing": "eq"}, r"bands: processing='eq' needs a non-empty list"),
    ({"midi_channel": 17}, r"midi_channel: expected None \(all\) or 1\.\.16"),
    ({"name": "a:b"}, r"name: expected 1\.\.48 characters"),
    ({"engine": "rust"}, r"engine: expected one of python, c"),
    ({"engine": "c", "noise_dbfs": -100.0}, r"engine: 'c' runs a plain wire unit"),
    ({"engine": "c", "midi": True}, r"engine: 'c' runs a plain wire unit"),
    ({"engine": "c", "delay_samples": 12.5}, r"engine: 'c' delays a fractional 12\.5 samples"),
])
def test_gear_spec_rejects_bad_values_naming_the_key(kwargs, match):
    args = {"name": "g", **kwargs}
    with pytest.raises(ValueError, match=match):
        GearSpec(**args)
