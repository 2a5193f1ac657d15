"""Hardware inserts: the delay kernel, the engine's send/return path and its
latency compensation, ping mode, the config schema and the offline refusal.

The gear loop is simulated exactly, without JACK: the C callback is driven
directly with interleaved buffers, and the return inputs carry the send
outputs of earlier callbacks delayed by a known number of samples (integer:
a plain shift; fractional: an FFT phase shift of a periodic band-limited
signal, an independent reference).  One test runs the real JACK loop.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from conftest import patch_gear_into_stream

from host._ffi import ffi, lib, planar, process_blocks
from host.model.config import parse_chain
from host.live.engine import Engine
from host.errors import ConfigError

FS = 48000.0
C = int(lib.OB_DELAY_FIR_CENTER)


def cfg(chain: list[dict]) -> object:
    return parse_chain({"chain": chain})


def hw(**kw) -> dict:
    return {"kind": "hardware", "name": "unit", "sends": [3, 4], "returns": [3, 4], **kw}


def bandlimited_periodic(rng: np.random.Generator, nch: int, n: int,
                         top: float = 0.4) -> np.ndarray:
    """(nch, n) noise with no energy above top * fs, periodic in n, peak 0.5."""
    k = np.arange(n // 2 + 1)
    spec = rng.normal(size=(nch, k.size)) + 1j * rng.normal(size=(nch, k.size))
    spec[:, (k == 0) | (k >= top * n)] = 0.0
    x = np.fft.irfft(spec, n)
    return 0.5 * x / np.abs(x).max()


def fft_delay(x: np.ndarray, d: float) -> np.ndarray:
    """Periodic x (1-D, band-limited) delayed by d samples: phase shift."""
    n = x.size
    f = np.fft.rfftfreq(n)
    return np.fft.irfft(np.fft.rfft(x) * np.exp(-2j * np.pi * f * d), n)


def db(x: float) -> float:
    return 20 * math.log10(max(x, 1e-300))


# ---- the delay kernel ---------------------------------------------------------------------


def make_delay(nch: int, max_delay: int, delays: list[float]):
    d = ffi.gc(lib.ob_delay_new(FS, nch, max_delay), lib.ob_delay_free)
    assert d != ffi.NULL
    for c, v in enumerate(delays):
        assert lib.ob_delay_set_delay(d, c, v) == lib.OB_OK
    return d


def run_delay(delays: list[float], x: np.ndarray, block: int = 65536) -> np.ndarray:
    d = make_delay(x.shape[0], 4096, delays)
    y = planar(x.copy())
    process_blocks(lambda p, nch, n: lib.ob_delay_process(d, p, nch, n), y, block)
    return y


def test_integer_delays_are_bit_exact_shifts(rng):
    x = rng.uniform(-1, 1, (3, 5000)).astype(np.float32)
    delays = [0, 5, 1000]
    y = run_delay(delays, x)
    for c, dl in enumerate(delays):
        ref = np.concatenate([np.zeros(dl, np.float32), x[c, :x.shape[1] - dl]])
        assert np.array_equal(y[c], ref)


@pytest.mark.parametrize("delays", [[23.25, 37.6, 100.5], [23.999, 24.001, 61.75]])
def test_fractional_delays_match_an_fft_phase_shift_within_minus_90_db(rng, delays):
    """Band-limited (0..0.4 fs) periodic noise: once the FIR sees only real
    samples, the output is the FFT-shifted signal within -90 dB (residual
    power over signal power, and peak error in dBFS)."""
    n = 8192
    x = bandlimited_periodic(rng, 3, n)
    xx = np.tile(x, 2).astype(np.float32)
    y = run_delay(delays, xx)
    for c, dl in enumerate(delays):
        ref = np.tile(fft_delay(x[c].astype(np.float32).astype(np.float64), dl), 2)
        seg = slice(n, 2 * n)
        err = y[c, seg] - ref[seg]
        resid = 10 * math.log10(np.sum(err ** 2) / np.sum(ref[seg] ** 2))
        assert resid <= -90.0, (dl, resid)
        assert db(np.abs(err).max()) <= -90.0
    assert lib.ob_delay_latency(make_delay(3, 4096, delays)) == math.ceil(max(delays))


def test_delay_output_does_not_depend_on_block_size(rng):
    x = rng.uniform(-1, 1, (3, 20000)).astype(np.float32)
    delays = [0, 37.25, 1234.5]
    whole = run_delay(delays, x)
    for block in (1, 64, 65, 8193):
        assert np.array_equal(run_delay(delays, x, block), whole), block


def test_delay_refuses_short_fractional_and_too_long_delays():
    d = make_delay(1, 100, [])
    assert lib.ob_delay_set_delay(d, 0, C - 0.5) == lib.OB_ERR_ARG   # below the FIR's centre
    assert lib.ob_delay_set_delay(d, 0, C + 0.5) == lib.OB_OK
    assert lib.ob_delay_set_delay(d, 0, 3.0) == lib.OB_OK            # integers: any
    assert lib.ob_delay_set_delay(d, 0, 100.5) == lib.OB_ERR_ARG
    assert lib.ob_delay_set_delay(d, 1, 1.0) == lib.OB_ERR_ARG
    assert lib.ob_delay_new(FS, 1, 0) == ffi.NULL


# ---- the engine: a simulated loop through the callback ---------------------------------------

DIN = DOUT = 4
SENDS, RETS = (2, 3), (2, 3)   # 0-based device channels (config: 3, 4)


def set_io(eng: Engine, out_map=(0, 1), mon=()) -> int:
    return lib.ob_engine_set_io(eng._e, DIN, DOUT, ffi.new("int[]", [0, 1]),
                                ffi.new("int[]", list(out_map)), len(mon),
                                ffi.new("int[]", list(mon) or [0]))


def drive(eng: Engine, x: np.ndarray, ret, block: int) -> np.ndarray:
    """Run the callback over program input x (nch, n) in blocks; the return
    inputs carry ret[:, start:start+b] (array) or ret(outs, start, b)
    (computed from the device outputs of earlier callbacks).  Returns the
    device outputs (DOUT, n)."""
    nch, n = x.shape
    outs = np.zeros((DOUT, n), np.float32)
    for start in range(0, n, block):
        b = min(block, n - start)
        inp = np.zeros((b, DIN), np.float32)
        inp[:, :nch] = x[:, start:start + b].T
        r = ret(outs, start, b) if callable(ret) else ret[:, start:start + b]
        for c in range(nch):
            inp[:, RETS[c]] = r[c]
        o = np.full((b, DOUT), 9.0, np.float32)
        rc = lib.ob_engine_pa_callback(ffi.from_buffer(inp), ffi.from_buffer(o), b, ffi.NULL, 0,
                                       eng._e)
        assert rc == lib.OB_PA_CONTINUE
        outs[:, start:start + b] = o.T
    return outs


def integer_loop(delays: list[int], gain: float, polarity: int):
    """Return = gain * polarity * send, delayed by delays[c] (>= the block)."""
    g = np.float32(gain * polarity)

    def ret(outs: np.ndarray, start: int, b: int) -> np.ndarray:
        r = np.zeros((len(delays), b), np.float32)
        for c, d in enumerate(delays):
            assert d >= b, "the simulated loop must be causal"
            idx = np.arange(start, start + b) - d
            ok = idx >= 0
            r[c, ok] = outs[SENDS[c], idx[ok]] * g
        return r
    return ret


def delayed(x: np.ndarray, L: int) -> np.ndarray:
    return np.concatenate([np.zeros((x.shape[0], L), x.dtype), x[:, :x.shape[1] - L]], axis=1)


def test_integer_round_trips_with_gain_and_inverted_polarity_are_compensated(rng):
    """gain -> hardware (gear: -6 dB, polarity -1, 40 / 57 samples) -> gain:
    with the measured values set, the program output is the chain without
    the insert delayed by L = 57, within -120 dBFS."""
    D = [40, 57]
    g_db = -6.0
    chain = [{"kind": "gain", "gain_db": -3.0},
             hw(return_trim_db=-g_db, polarity=-1, latency_samples=D),
             {"kind": "gain", "gain_db": 2.0}]
    eng = Engine(FS, 2, cfg(chain), max_block=64)
    assert set_io(eng) == lib.OB_OK
    assert eng.latency_samples == 57 and eng.insert_latency("unit") == 57
    x = rng.uniform(-0.5, 0.5, (2, 6000)).astype(np.float32)
    outs = drive(eng, x, integer_loop(D, 10 ** (g_db / 20), -1), block=32)
    ref = Engine(FS, 2, cfg([chain[0], chain[2]])).process(x)
    want = delayed(ref, 57)
    assert db(np.abs(outs[:2] - want).max()) <= -120.0
    # the sends carried the chain signal at the insert (after the first gain)
    assert np.array_equal(outs[2:], x * np.float32(10 ** (-3 / 20)))


@pytest.mark.parametrize("D", [[37.25, 38.6], [200.5, 37.0]])
def test_fractional_round_trips_and_skew_are_compensated_within_minus_90_dbfs(rng, D):
    """Returns delayed by the FFT reference by D_c (L and R differ): L =
    ceil(max D) + the FIR centre (a fractional part needs it), and the
    output is the chain without the insert delayed by L within -90 dBFS."""
    n = 4096
    x = bandlimited_periodic(rng, 2, n).astype(np.float32)
    xx = np.tile(x, 3)
    ret = np.stack([np.tile(fft_delay(x[c].astype(np.float64), D[c]), 3) * 0.5
                    for c in range(2)]).astype(np.float32)
    chain = [hw(return_trim_db=20 * math.log10(2.0), latency_samples=D),
             {"kind": "gain", "gain_db": 2.0}]
    eng = Engine(FS, 2, cfg(chain), max_block=256)
    L = math.ceil(max(D)) + C
    assert eng.latency_samples == L
    assert set_io(eng) == lib.OB_OK
    outs = drive(eng, xx, ret, block=32)
    assert np.array_equal(outs[2:], xx)  # sends: the program at the insert, trim 0 dB
    ref = Engine(FS, 2, cfg([chain[1]])).process(np.tile(x, 3))
    want = delayed(ref, L)
    seg = slice(n, 3 * n)   # the periodic reference holds once the FIR saw real samples
    assert db(np.abs(outs[:2, seg] - want[:, seg]).max()) <= -90.0


def magnitude_db(eng: Engine, D_true: list[float], rng, n: int = 4096) -> np.ndarray:
    x = bandlimited_periodic(rng, 2, n, top=0.45).astype(np.float32)
    reps = 3
    ret = np.stack([np.tile(fft_delay(x[c].astype(np.float64), D_true[c]), reps)
                    for c in range(2)]).astype(np.float32)
    assert set_io(eng) == lib.OB_OK
    outs = drive(eng, np.tile(x, reps), ret, block=64)
    y = outs[:2, (reps - 1) * n:]   # one period in steady state
    L = eng.latency_samples
    f = np.fft.rfftfreq(n, 1 / FS)
    band = (f >= 20.0) & (f <= 0.4 * FS)
    H = np.fft.rfft(y, axis=1) / (np.fft.rfft(x, axis=1) * np.exp(-2j * np.pi * f / FS * L))
    return 20 * np.log10(np.abs(H[:, band]))


def test_mix_half_with_the_right_latencies_is_flat_and_with_a_wrong_one_combs(rng):
    D = [37.25, 38.6]
    right = Engine(FS, 2, cfg([hw(mix=0.5, latency_samples=D)]), max_block=128)
    mag = magnitude_db(right, D, rng)
    assert np.abs(mag).max() <= 0.1, np.abs(mag).max()
    wrong = Engine(FS, 2, cfg([hw(mix=0.5, latency_samples=[30.0, 38.6])]), max_block=128)
    mag = magnitude_db(wrong, D, rng)
    assert mag[0].min() < -10.0 and np.abs(mag[1]).max() <= 0.1


def test_offline_the_unit_is_a_wire_and_the_latency_follows_the_measurement(rng):
    """ob_engine_process: return = send of the same sample; each return is
    delayed by L - R_c.  Latency = sum of the inserts' latencies."""
    chain = [{"kind": "limiter", "name": "lim", "ceiling_dbtp": 0.0},
             hw(send_trim_db=-6.0, return_trim_db=6.0)]
    eng = Engine(FS, 2, cfg(chain), max_block=64)
    lim = eng.insert_latency("lim")
    assert eng.latency_samples == lim and eng.insert_latency("unit") == 0
    eng.set_param("unit", latency_samples=[10.0, 20.0])
    x = rng.uniform(-0.1, 0.1, (2, 3000)).astype(np.float32)
    eng.process(np.zeros((2, 1), np.float32))   # applies the queued message
    assert eng.latency_samples == lim + 20
    h0 = eng.meters()["hardware"]["unit"]
    assert (h0["latency_samples"], h0["round_trip_samples"]) == (20, [10.0, 20.0])
    eng.process(x)
    h1 = eng.meters()["hardware"]["unit"]
    # the unit's level meter: its dry path is its input (the limiter passes -20 dBFS
    # unchanged, after its lookahead) delayed by L = 20; numpy sums the same samples
    seen = x[:, :3000 - 20 - lim].astype(np.float64)
    assert h1["energy_dry"] - h0["energy_dry"] == pytest.approx(np.sum(seen ** 2), rel=1e-6)
    # offline the unit is a wire (send trim -6 dB, return trim +6 dB): the same
    # energy comes back, a level change of 0 dB
    ratio = (h1["energy_return"] - h0["energy_return"]) / (h1["energy_dry"] - h0["energy_dry"])
    assert 10 * np.log10(ratio) == pytest.approx(0.0, abs=0.1)
    eng.set_param("unit", latency_samples=[10.0, 20.5])
    eng.process(np.zeros((2, 1), np.float32))
    assert eng.latency_samples == lim + 21 + C
    # a clean offline check of the alignment math without the limiter
    e2 = Engine(FS, 2, cfg([hw(latency_samples=[10.0, 20.0])]), max_block=64)
    y = e2.process(x)
    assert np.array_equal(y[0], delayed(x, 10)[0]) and np.array_equal(y[1], x[1])


def test_polarity_and_trims_ramp_without_a_click():
    """A polarity flip is a gain ramp from +1 to -1 over 20 ms: no sample
    step larger than the ramp's slope allows on a DC input."""
    eng = Engine(FS, 1, cfg([{**hw(), "sends": [3], "returns": [3]}]), max_block=64)
    x = np.full((1, 4800), 0.5, np.float32)
    eng.process(x)
    eng.set_param("unit", polarity=-1)
    y = eng.process(x)[0]
    ramp = int(round(0.02 * FS))
    assert y[0] < 0.5 and abs(y[ramp] + 0.5) < 1e-7 and abs(y[-1] + 0.5) < 1e-7
    assert np.abs(np.diff(y)).max() <= 2.0 / ramp * 0.5 * 1.001   # +1 -> -1 over 20 ms


def test_nonfinite_returns_are_muted_and_name_the_hardware_insert(rng):
    eng = Engine(FS, 2, cfg([{"kind": "gain", "gain_db": 0.0}, hw()]), max_block=64)
    assert set_io(eng) == lib.OB_OK
    x = rng.uniform(-0.5, 0.5, (2, 256)).astype(np.float32)
    ret = x.copy()
    ret[1, 100] = np.nan
    outs = drive(eng, x, ret, block=64)
    ev = [e for e in eng.events() if e["type"] == "nonfinite"]
    assert [(e["insert"], e["frame"]) for e in ev] == [("unit", 64)]
    assert not outs[:2, 64:128].any() and np.isfinite(outs).all()


# ---- ping mode ------------------------------------------------------------------------------


def test_ping_mode_sends_the_playback_ring_and_records_raw_returns_aligned(rng):
    """While pinging: the sends carry the playback ring untouched by trims or
    the chain, program outputs and monitors are silent, the record ring gets
    the raw returns sample-aligned with what was sent; afterwards the program
    runs again."""
    D = [50, 77]
    chain = [{"kind": "gain", "gain_db": 6.0}, hw(send_trim_db=-12.0, return_trim_db=12.0)]
    eng = Engine(FS, 2, cfg(chain), max_block=64)
    assert lib.ob_engine_set_io(eng._e, 4, 6, ffi.new("int[]", [0, 1]), ffi.new("int[]", [0, 1]),
                                2, ffi.new("int[]", [4, 5])) == lib.OB_OK
    global DOUT
    DOUT, old = 6, DOUT
    try:
        idx = eng.hardware_inserts["unit"]["index"]
        assert lib.ob_engine_set_ping(eng._e, 0) == lib.OB_ERR_ARG   # a gain insert
        assert lib.ob_engine_set_ping(eng._e, idx) == lib.OB_OK
        prog = rng.uniform(-0.5, 0.5, (2, 64)).astype(np.float32)
        drive(eng, prog, np.zeros((2, 64), np.float32), block=64)   # the callback takes it up
        assert lib.ob_engine_ping_active(eng._e) == idx
        ping = rng.uniform(-0.1, 0.1, (500, 2)).astype(np.float32)
        sig = np.concatenate([ping, np.zeros((200, 2), np.float32)])
        assert eng.playback_write(sig) == 700
        program = rng.uniform(-0.5, 0.5, (2, 1024)).astype(np.float32)
        outs = drive(eng, program, integer_loop(D, 0.5, -1), block=32)
        assert np.array_equal(outs[2:4, :700], sig.T) and not outs[2:4, 700:].any()
        assert not outs[[0, 1, 4, 5]].any()
        rec = eng.record_read(10000)
        assert rec.shape == (700, 2)
        for c, d in enumerate(D):
            want = np.concatenate([np.zeros(d, np.float32), sig[:700 - d, c]]) * np.float32(-0.5)
            assert np.array_equal(rec[:, c], want)
        assert eng.meters()["playback_underruns"] == 0
        lib.ob_engine_set_ping(eng._e, -1)
        outs = drive(eng, program, integer_loop(D, 1.0, 1), block=32)
        assert lib.ob_engine_ping_active(eng._e) == -1
        assert outs[[0, 1, 4, 5]].any() and outs[2:4].any()
    finally:
        DOUT = old


# ---- device channels ---------------------------------------------------------------------------


def test_sends_colliding_with_program_outputs_or_monitors_are_refused():
    eng = Engine(FS, 2, cfg([hw()]))
    assert eng.device_channels_needed([0, 1], [0, 1], [4, 5]) == (4, 6)
    with pytest.raises(ValueError, match="interface output 3 is already used by out_map"):
        eng.device_channels_needed([0, 1], [2, 3])
    with pytest.raises(ValueError, match="interface output 4 is already used by monitor_map"):
        eng.device_channels_needed([0, 1], [0, 1], [3])
    assert set_io(eng, out_map=(2, 3)) == lib.OB_ERR_ARG
    assert set_io(eng, out_map=(0, 1), mon=(3,)) == lib.OB_ERR_ARG
    assert lib.ob_engine_set_io(eng._e, 2, 4, ffi.new("int[]", [0, 1]), ffi.new("int[]", [0, 1]),
                                0, ffi.new("int[]", [0])) == lib.OB_ERR_ARG   # returns 3, 4
    with pytest.raises(ValueError, match="already another hardware insert's send"):
        Engine(FS, 2, cfg([hw(), {**hw(), "name": "b", "sends": [4, 5]}]))
    with pytest.raises(ValueError, match="sends: expected 2 interface channels"):
        Engine(FS, 2, cfg([{**hw(), "sends": [3], "returns": [3]}]))


def test_set_param_validates_hardware_values_naming_unit_and_range():
    eng = Engine(FS, 2, cfg([hw()]))
    for kw, msg in [({"send_trim_db": 30}, r"send_trim_db: expected a number -24..24 dB"),
                    ({"polarity": [1, 0]}, r"polarity\[1\]: expected 1 or -1"),
                    ({"mix": 1.5}, r"mix: expected a number 0..1"),
                    ({"latency_samples": -1}, r"latency_samples\[0\]: expected a measured"),
                    ({"latency_samples": [1.0]}, "one per return channel"),
                    ({"ratio": 2}, "unknown parameter 'ratio'")]:
        with pytest.raises(ValueError, match=msg):
            eng.set_param("unit", **kw)


# ---- config and the offline chain ------------------------------------------------------------


def test_hardware_config_keys_defaults_and_errors():
    ins = cfg([hw(return_trim_db="auto", polarity="auto",
                  virtual_gear={"delay_samples": [37.25, 37.5]})]).inserts[0]
    assert ins.params == {"sends": [3, 4], "returns": [3, 4], "send_trim_db": 0.0,
                          "return_trim_db": "auto", "polarity": "auto", "mix": 1.0,
                          "ping_level_dbfs": -20.0, "fingerprint_max_dbfs": -6.0,
                          "virtual_gear": {"delay_samples": [37.25, 37.5]}}
    bad = [({"returns": [3]}, r"chain\[0\]\.returns: expected 2 inputs"),
           ({"sends": [0, 1]}, r"chain\[0\]\.sends\[0\]: expected an integer 1..64"),
           ({"sends": [3, 3]}, r"chain\[0\]\.sends: interface channel 3 is listed twice"),
           ({"polarity": 0}, r"chain\[0\]\.polarity: expected 1 or -1 or 'auto'"),
           ({"return_trim_db": "loud"}, r"return_trim_db: expected a number -24..24 dB or 'auto'"),
           ({"mix": 2}, r"chain\[0\]\.mix"),
           ({"ping_level_dbfs": 0}, r"ping_level_dbfs: expected a number -60..-6 dBFS"),
           ({"latency_samples": [1, 2, 3]}, r"latency_samples: expected one number or 2"),
           ({"latency_samples": -2}, r"latency_samples: expected a number >= 0"),
           ({"virtual_gear": 3}, r"virtual_gear: expected a table"),
           ({"virtual_gear": {"gain_db": 99}}, r"chain\[0\]\.virtual_gear\.gain_db: expected"),
           ({"virtual_gear": {"wobble": 1}}, r"chain\[0\]\.virtual_gear\.wobble: unknown")]
    for kw, msg in bad:
        with pytest.raises(ConfigError, match=msg):
            cfg([hw(**kw)])
    with pytest.raises(ConfigError, match=r"chain\[0\]\.sends: missing"):
        cfg([{"kind": "hardware", "returns": [1]}])


def test_offline_chain_refuses_a_hardware_insert_and_master_reports_it(tmp_path):
    from host.offline.chain import Chain

    with pytest.raises(ValueError, match="hardware insert unit needs the real-time engine"):
        Chain(cfg([hw()]), FS, 2)
    import scipy.io.wavfile

    from host.errors import OutboardError
    from host.offline.render import master

    src, dst = tmp_path / "in.wav", tmp_path / "out.wav"
    scipy.io.wavfile.write(src, 48000, np.zeros((4800, 2), np.float32))
    with pytest.raises(OutboardError, match="hardware insert unit needs the real-time engine"):
        master(src, dst, cfg([hw(), {"kind": "limiter"}]))
    assert not dst.exists()


# ---- JACK: a real loop through virtual gear -------------------------------------------------


def test_engine_ping_measures_a_wire_gear_through_jack(jack_server):
    import jack

    from host.gear.latency import measure_channels, ping_signal
    from host.sim.gear import LOOP_PERIODS
    from host.model.virtual_gear import GearSpec
    from host.sim.virtual_gear import VirtualGear

    period = jack_server.period
    D = [37.25, 40.0]
    eng = Engine(FS, 2, cfg([hw()]))
    spec = GearSpec("hwtest-wire", channels=2, delay_samples=D)
    client = jack.Client("outboard-hw-test", no_start_server=True)
    with client, eng, VirtualGear(spec) as gear:
        before = {p.name for p in client.get_ports()}
        eng.open_stream("system", [0, 1], [0, 1], source="playback")
        assert eng.device_channels == (4, 4)
        patch_gear_into_stream(client, before, gear, SENDS, RETS)
        eng.start()
        time.sleep(0.05)
        sig = ping_signal(FS, 0.5, -20.0)
        ret = eng.ping("unit", np.tile(sig[:, None], (1, 2)).astype(np.float32), 4096)
        eng.stop()
    assert ret.shape == (sig.size + 4096, 2)
    ms = measure_channels(sig, np.ascontiguousarray(ret.T), FS)
    # the loop adds whole periods: JACK's feedback edge (LOOP_PERIODS) and
    # PortAudio's own buffering of its JACK client (one more, seen here)
    periods = [(m.latency_samples - d) / period for m, d in zip(ms, D, strict=True)]
    for c in range(2):
        assert abs(periods[c] - round(periods[c])) * period < 0.01, ms
        assert round(periods[c]) >= LOOP_PERIODS and ms[c].polarity == 1
    assert round(periods[0]) == round(periods[1])
    assert abs(ms.skew_samples - (D[1] - D[0])) < 0.01


@pytest.mark.parametrize("block", [1, 64, 65, 8193])
def test_engine_with_a_hardware_insert_does_not_depend_on_block_size(rng, block):
    chain = [{"kind": "gain", "gain_db": -1.0},
             hw(mix=0.7, polarity=-1, return_trim_db=3.0, latency_samples=[12.0, 30.5])]
    x = rng.uniform(-0.5, 0.5, (2, 9000)).astype(np.float32)
    whole = Engine(FS, 2, cfg(chain), max_block=65536).process(x)
    assert np.array_equal(Engine(FS, 2, cfg(chain), max_block=block).process(x), whole)
