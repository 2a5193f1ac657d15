"""Round-trip latency of an insert (host.gear.latency): offline against known delays made
here by FFT phase shift, through virtual gear on the JACK server, and against
jack_iodelay (Fons Adriaensen's MTDM, jackd2's example client) on the same loop."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
import time

import numpy as np
import pytest
import scipy.signal

from host.errors import OutboardError
from host.gear.latency import NoSignalError, measure_channels, measure_round_trip, ping_signal
from host.model.virtual_gear import GearSpec
from host.sim.jack_server import stop_process
from host.sim.probe import PlayRecordClient
from host.sim.virtual_gear import VirtualGear

PID = os.getpid()
FS = 48000.0
# host -> gear -> host adds one JACK period to the gear's delay: the connection that
# closes the loop between two clients is a feedback connection, read one cycle later
# (see tests/test_virtual_gear.py, which checks it sample for sample).
LOOP_PERIODS = 1
# Under load a late JACK client can hand the next one a stale or torn block (an xrun), which
# costs a take SNR (the latency itself moves < 0.005 samples even with dozens of such
# blocks).  measure_loop redoes takes with xruns and keeps the best.
ATTEMPTS = 12

def fft_delay(x: np.ndarray, delay: float, frames: int) -> np.ndarray:
    """``x`` (faded, band-limited) delayed by ``delay`` samples, fractional allowed, by
    FFT phase shift over a zero-padded block; the first ``frames`` samples."""
    m = 1 << int(np.ceil(np.log2(len(x) + delay + frames + 4096)))
    k = np.arange(m // 2 + 1)
    return np.fft.irfft(np.fft.rfft(x, m) * np.exp(-2j * np.pi * k * delay / m), m)[:frames]


@pytest.fixture(scope="module")
def ping() -> np.ndarray:
    return ping_signal(FS, seconds=0.5)


# ---- the ping -------------------------------------------------------------------------------


@pytest.mark.parametrize("fs", [44100.0, 48000.0, 96000.0])
@pytest.mark.parametrize("level", [-20.0, -6.0])
def test_ping_never_exceeds_its_level_in_sample_or_true_peak(fs, level):
    x = ping_signal(fs, seconds=0.25, level_dbfs=level, seed=3)
    assert len(x) == round(0.25 * fs)
    assert 20 * np.log10(np.max(np.abs(x))) <= level
    # true peak by 16x band-limited interpolation (scipy, FFT: the ping fades to zero
    # at both ends, so its periodic extension is smooth)
    tp = np.max(np.abs(scipy.signal.resample(x, 16 * len(x))))
    assert 20 * np.log10(tp) <= level
    assert 20 * np.log10(tp) > level - 0.1     # and it uses the room it has


@pytest.mark.parametrize("fs", [44100.0, 48000.0])
def test_ping_is_band_limited_to_100_hz_through_0_4_fs_and_faded(fs):
    x = ping_signal(fs, seconds=1.0)
    f, p = scipy.signal.welch(x, fs, nperseg=4096)
    inband = (f >= 200.0) & (f <= 0.39 * fs)
    level = 10 * np.log10(p)
    assert np.max(np.abs(level[inband] - np.median(level[inband]))) < 3.0   # flat, +-3 dB
    # energy outside 50 Hz .. 0.42 fs (the fades' leakage only) < -60 dB of the total
    e = np.abs(np.fft.rfft(x)) ** 2
    fk = np.fft.rfftfreq(len(x), 1 / fs)
    outside = (fk < 50.0) | (fk > 0.42 * fs)
    assert 10 * np.log10(np.sum(e[outside]) / np.sum(e)) < -60.0
    assert abs(x[0]) < 1e-3 * np.max(np.abs(x)) and abs(x[-1]) < 1e-3 * np.max(np.abs(x))
    # crest factor (true peak / RMS) reduced well below a random-phase noise's ~11 dB
    assert 20 * np.log10(np.max(np.abs(x)) / np.sqrt(np.mean(x ** 2))) < 7.0


# ---- offline, against known delays ----------------------------------------------------


@pytest.mark.parametrize("delay", [0.0, 0.5, 1.25, 37.75, 128.3, 1000.1, 2048.0, 4999.9,
                                   5000.0])
@pytest.mark.parametrize("polarity", [1, -1])
@pytest.mark.parametrize("snr_db", [None, 60.0, 30.0, 15.0])
def test_latency_of_a_known_fractional_delay(ping, rng, delay, polarity, snr_db):
    gain_db = -3.7
    frames = len(ping) + 6000
    clean = polarity * 10 ** (gain_db / 20) * fft_delay(ping, delay, frames)
    i0, i1 = int(np.floor(delay)), int(np.ceil(delay)) + len(ping)
    y = clean.copy()
    if snr_db is not None:
        noise = rng.standard_normal(frames)
        noise *= np.sqrt(np.mean(clean[i0:i1] ** 2) / 10 ** (snr_db / 10))
        y += noise
        true_snr = 10 * np.log10(np.sum(clean[i0:i1] ** 2) / np.sum(noise[i0:i1] ** 2))
    m = measure_round_trip(ping, y, FS)
    assert abs(m.latency_samples - delay) <= 0.01
    assert m.latency_ms == pytest.approx(1000 * m.latency_samples / FS)
    assert m.polarity == polarity
    assert abs(m.gain_db - gain_db) <= 0.05
    if snr_db is None:
        assert m.snr_db > 100.0
    else:
        assert abs(m.snr_db - true_snr) <= 3.0
    assert 0.9 < m.confidence <= 1.0


def test_repeated_measurements_with_fresh_noise_agree_within_0_05_samples(ping, rng):
    clean = -0.5 * fft_delay(ping, 731.37, len(ping) + 2000)
    lat = [measure_round_trip(ping, clean + 0.003 * rng.standard_normal(len(clean)),
                              FS).latency_samples for _ in range(5)]
    assert max(lat) - min(lat) <= 0.05
    assert abs(np.mean(lat) - 731.37) <= 0.01


def test_silent_return_raises_no_signal_naming_what_to_check(ping):
    with pytest.raises(NoSignalError, match=r"return is silent.*cable.*power"):
        measure_round_trip(ping, np.zeros(len(ping) + 1000), FS)


def test_uncorrelated_return_raises_no_signal(ping, rng):
    noise = 0.1 * rng.standard_normal(len(ping) + 1000)
    with pytest.raises(NoSignalError, match=r"no correlation.*SNR .* < 10 dB.*patching"):
        measure_round_trip(ping, noise, FS)
    other = ping_signal(FS, seconds=0.5, seed=99)   # the same kind of signal, not the ping
    with pytest.raises(NoSignalError, match="no correlation"):
        measure_round_trip(ping, np.concatenate((np.zeros(300), other)), FS)


def test_no_signal_error_is_an_outboard_error():
    assert issubclass(NoSignalError, OutboardError)


def test_channels_are_measured_each_on_its_own_and_skew_reported(ping):
    frames = len(ping) + 1000
    ret = np.stack([fft_delay(ping, 100.25, frames), -0.5 * fft_delay(ping, 103.75, frames)])
    ms = measure_channels(ping, ret, FS)
    assert [round(m.latency_samples, 2) for m in ms] == [100.25, 103.75]
    assert [m.polarity for m in ms] == [1, -1]
    assert abs(ms.skew_samples - 3.5) <= 0.01
    assert abs(ms.skew_ms - 3.5 / 48.0) <= 1e-3
    assert abs(ms.offsets_samples[1] - 3.5) <= 0.01
    ret[1] = 0.0
    with pytest.raises(NoSignalError, match=r"^return channel 2: the return is silent"):
        measure_channels(ping, ret, FS)


@pytest.mark.parametrize("kwargs, match", [
    ({"fs": 1000.0}, r"fs: expected 8000\.\.768000 Hz"),
    ({"min_snr_db": 99.0}, r"min_snr_db: expected -20\.\.60 dB"),
    ({"returned": np.zeros((2, 10))}, r"returned: expected a 1-D array"),
    ({"sent": np.zeros(100)}, r"sent: the signal is silent"),
    ({"returned": np.full(10, np.nan)}, r"returned: contains NaN"),
])
def test_measure_rejects_bad_arguments_naming_them(ping, kwargs, match):
    args = {"sent": ping, "returned": ping, "fs": FS, **kwargs}
    with pytest.raises(ValueError, match=match):
        measure_round_trip(**args)


@pytest.mark.parametrize("kwargs, match", [
    ({"fs": 100.0}, r"fs: expected 8000\.\.768000 Hz"),
    ({"seconds": 0.0}, r"seconds: expected 0\.05\.\.60 s"),
    ({"level_dbfs": 1.0}, r"level_dbfs: expected -80\.\.0 dBFS"),
])
def test_ping_rejects_bad_arguments_naming_them(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ping_signal(**{"fs": FS, **kwargs})


# ---- through virtual gear on JACK --------------------------------------------------------

DELAYS = [24.0, 57.5, 100.25, 1000.75]
POLARITIES = [1, -1, -1, 1]


@pytest.fixture(scope="module")
def loop(jack_server):
    """A 4-channel wire gear wired to a probe client: send i -> gear -> return i."""
    spec = GearSpec(f"til-gear-{PID}", channels=4, delay_samples=DELAYS, gain_db=-2.5,
                    polarity=POLARITIES)
    with VirtualGear(spec) as gear, \
            PlayRecordClient(f"til-probe-{PID}", outputs=4, inputs=4) as probe:
        gear.wire(probe.client, probe.outputs, probe.inputs)
        yield gear, probe


@pytest.fixture(scope="module")
def short_ping() -> np.ndarray:
    return ping_signal(FS, seconds=0.25)   # short recordings meet fewer JACK xruns


def measure_loop(probe: PlayRecordClient, ping: np.ndarray):
    """Measure the four loops: the first take without a JACK xrun, else the best one
    (``probe.last_xruns`` tells which)."""
    best, why = None, ""
    for _ in range(ATTEMPTS):
        rec = probe.play_record(ping, len(ping) + int(max(DELAYS)) + 1024)
        try:
            ms = measure_channels(ping, rec, probe.fs)
        except NoSignalError as exc:
            assert probe.last_xruns > 0, str(exc)
            why = str(exc)
            continue
        if probe.last_xruns == 0:
            return ms
        if best is None or min(m.snr_db for m in ms) > min(m.snr_db for m in best[0]):
            best = (ms, probe.last_xruns)
    assert best is not None, f"{ATTEMPTS} takes, all with JACK xruns, none usable: {why}"
    probe.last_xruns = best[1]
    return best[0]


def test_latency_through_gear_is_its_delay_plus_one_period(loop, short_ping):
    gear, probe = loop
    ms = measure_loop(probe, short_ping)
    for m, d, pol in zip(ms, DELAYS, POLARITIES, strict=True):
        want = d + LOOP_PERIODS * probe.blocksize
        assert abs(m.latency_samples - want) <= 0.05, (m, want, probe.last_xruns)
        assert m.polarity == pol
        if probe.last_xruns == 0:     # stale blocks from an xrun take level, not latency
            assert abs(m.gain_db - -2.5) <= 0.05
    assert abs(ms.skew_samples - (max(DELAYS) - min(DELAYS))) <= 0.05


def test_five_repeated_measurements_through_gear_agree_within_0_05_samples(loop, short_ping):
    gear, probe = loop
    runs = np.array([[m.latency_samples for m in measure_loop(probe, short_ping)]
                     for _ in range(5)])
    assert np.max(np.ptp(runs, axis=0)) <= 0.05


# ---- against jack_iodelay --------------------------------------------------------------

IODELAY_LINE = re.compile(r"^\s*([0-9.]+) frames\s+([0-9.]+) ms total roundtrip latency")


@pytest.mark.skipif(shutil.which("jack_iodelay") is None,
                    reason="jack_iodelay not installed (Debian package jackd2)")
def test_agrees_with_jack_iodelay_on_the_same_loop(loop, short_ping):
    gear, probe = loop
    ch = 1                          # 57.5 samples, inverted: fractional and polarity
    ours = measure_loop(probe, short_ping)[ch]
    # jack_iodelay's loop, jack_delay:out -> gear in -> gear out -> jack_delay:in, is
    # also one client's output back to its own input through one other client, so it
    # holds the same LOOP_PERIODS; it prints the total, JACK buffer included (its man
    # page), as does ours: both are gear delay + 1 period, and compare directly.
    before = {p.name for p in probe.client.get_ports()}
    cmd = ["jack_iodelay"]
    if shutil.which("stdbuf"):
        cmd = ["stdbuf", "-oL", *cmd]   # its printf output is block-buffered on a pipe
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    readings: list[tuple[float, bool]] = []
    lines: list[str] = []

    def read() -> None:
        for line in proc.stdout:
            lines.append(line)
            m = IODELAY_LINE.match(line)
            if m:
                readings.append((float(m.group(1)), False))
            elif line.rstrip().endswith(" Inv") and readings:
                readings[-1] = (readings[-1][0], True)  # "... -I and -O Inv": inverted

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 5.0
        while True:       # its ports: jack_delay:in/out (renamed by JACK if the name is taken)
            new = {p.name for p in probe.client.get_ports("jack_delay")} - before
            ins = sorted(p for p in new if p.endswith(":in"))
            outs = sorted(p for p in new if p.endswith(":out"))
            if len(ins) == 1 and len(outs) == 1:
                break
            assert time.monotonic() < deadline, f"jack_iodelay ports did not appear: {lines}"
            time.sleep(0.05)
        probe.client.connect(outs[0], gear.inputs[ch])
        probe.client.connect(gear.outputs[ch], ins[0])
        deadline = time.monotonic() + 10.0
        while len(readings) < 5 and time.monotonic() < deadline:   # it prints every 0.5 s
            time.sleep(0.1)
    finally:
        stop_process(proc)
        reader.join(timeout=2)
    assert len(readings) >= 3, f"jack_iodelay printed no round trip: {''.join(lines)[-500:]}"
    # the first reading may be settling; an xrun can upset one, so the median and majority
    frames = float(np.median([r[0] for r in readings[1:]]))
    inverted = 2 * sum(inv for _, inv in readings[1:]) > len(readings) - 1
    assert abs(ours.latency_samples - frames) <= 0.1, (ours, readings)
    assert inverted == (ours.polarity == -1), (ours, readings)


# ---- a ping torn by xruns (host.gear.inserts.measure) ------------------------------------------


class TornEngine:
    """What host.gear.inserts.measure sees of the engine: a ping whose returns
    are the sends delayed by ``delay`` samples through a 2-channel wire, except
    during a ping given xruns (``xruns``, one count per ping): the server then
    dropped a 128-frame period of the returns (the rest comes a period early)
    and the engine's xrun count rises."""

    fs, channels = 48000.0, 2

    def __init__(self, xruns: list[int], delay: int = 300):
        self.xruns, self.delay, self.count, self.pings = list(xruns), delay, 0, 0

    def meters(self) -> dict:
        return {"xruns": self.count}

    def ping(self, insert: str, signal: np.ndarray, tail_frames: int) -> np.ndarray:
        out = np.zeros((len(signal) + tail_frames, self.channels), dtype=np.float32)
        out[self.delay:self.delay + len(signal)] = signal
        torn = self.xruns[self.pings] if self.pings < len(self.xruns) else 0
        self.pings += 1
        if torn:
            self.count += torn
            cut = self.delay + len(signal) // 3
            out[cut:-128] = out[cut + 128:]
        return out


def test_a_ping_torn_by_xruns_is_taken_again_and_says_so():
    """Xruns during the first ping (the returns lose a period: SNR low, the
    'check the cables' case): the ping is taken again, the user told why, and
    the clean retake measures the wire's delay."""
    from host.gear.inserts import measure

    said: list[str] = []
    eng = TornEngine([2, 0])
    m = measure(eng, "unit", -20.0, 128, "system", say=said.append)
    assert eng.pings == 2
    assert m.latency_samples == pytest.approx([300.0, 300.0], abs=0.01)
    assert min(m.snr_db) > 60
    assert said == ["insert unit: the audio server reported 2 xruns during the ping; "
                    "pinging again (2 of 3)"]


def test_a_ping_torn_by_xruns_every_time_is_refused_naming_the_xruns_not_the_cables():
    from host.gear.inserts import measure

    said: list[str] = []
    eng = TornEngine([1, 3, 2])
    with pytest.raises(OutboardError) as exc:
        measure(eng, "unit", -20.0, 128, "system", say=said.append)
    msg = str(exc.value)
    assert eng.pings == 3 and len(said) == 2
    assert msg == ("insert unit: the audio server reported xruns during every ping (1, 3, 2 "
                   "in 3 pings): a ping torn by an xrun cannot be measured; free the CPU (other "
                   "audio programs, a larger block size) and ping again")
    assert "cable" not in msg and "power" not in msg and "\n" not in msg


def test_two_pings_with_xruns_that_measure_alike_stand():
    """Xruns reported during every ping, but none touched the returns (they came
    in the tail, say): two torn pings agreeing to 0.05 samples were not torn
    where it counts; the second stands and the user is told why."""
    from host.gear.inserts import measure

    class Untouched(TornEngine):
        def ping(self, insert, signal, tail_frames):
            out = super().ping(insert, signal, tail_frames)   # a clean wire (xruns [])
            self.count += 1                                   # and yet an xrun each time
            return out

    said: list[str] = []
    eng = Untouched([])
    m = measure(eng, "unit", -20.0, 128, "system", say=said.append)
    assert eng.pings == 2
    assert m.latency_samples == pytest.approx([300.0, 300.0], abs=0.01)
    assert said == ["insert unit: the audio server reported 1 xrun during the ping; pinging "
                    "again (2 of 3)",
                    "insert unit: the audio server reported xruns during the pings, but two "
                    "of them measure alike (within 0.05 samples): taken"]


def test_without_xruns_a_return_without_the_ping_still_names_the_patching():
    """No xrun: an uncorrelated return is the patching's or the gear's fault."""
    from host.gear.inserts import measure

    class Noise(TornEngine):
        def ping(self, insert, signal, tail_frames):
            self.pings += 1
            rng = np.random.default_rng(1)
            return (0.1 * rng.standard_normal((len(signal) + tail_frames, 2))).astype(np.float32)

    eng = Noise([])
    with pytest.raises(OutboardError, match="check the send/return patching, the cables"):
        measure(eng, "unit", -20.0, 128, "system")
    assert eng.pings == 1
