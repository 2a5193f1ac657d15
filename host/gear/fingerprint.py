"""Sonic fingerprint of hardware inserts: ``outboard recall SESSION --fingerprint / --check``.

MIDI sets the knobs it can reach; a fingerprint catches the rest (a knob
MIDI cannot set, a unit that drifted, a cable in the wrong jack).  For each
hardware insert, in the running stream (:class:`host.live.stream.SessionStream`,
through the engine's ping mode: only the insert's sends play, the program
outputs stay silent, the returns come back raw, before any trim, polarity or
delay compensation), two measurements:

Frequency response
    An exponential sine sweep (:data:`SWEEP_LOW_HZ` .. min(22 kHz, 0.46 fs),
    :data:`SWEEP_SECONDS`) at the insert's ``ping_level_dbfs`` (true peak,
    default -20 dBFS).  The magnitude at each grid frequency (the 1/3-octave
    centres of IEC 61260, 31.5 Hz .. 16 kHz, those below 0.45 fs) is the
    ratio of return to send energy over the FFT bins within +-1/24 octave
    of it.  A magnitude ratio does not depend on the round trip's delay, so
    no latency compensation is needed: the FFT covers the sweep and a tail of
    :data:`TAIL_SECONDS`, so the whole delayed response is inside it.
Level curve
    Steady 1 kHz sines at :data:`LEVELS_DBFS` (peak), ascending, one step of
    :data:`STEP_SECONDS` each, so a compressor's static curve shows.  The
    gain at each level is the ratio of the 1 kHz amplitudes (least-squares
    fit of a sine and cosine) in the last :data:`STEP_WINDOW` of the step,
    shifted by the round trip found from the sweep (cross-correlation peak,
    whole samples).

Each test signal follows :data:`SETTLE_SECONDS` (1 s) of silence, so a
compressor has released what it heard before (a unit with a release longer
than about 0.2 s needs ``settle_seconds`` longer); the measurement is then
repeatable, whatever was played before.

Levels: the response sweep never exceeds the insert's ``ping_level_dbfs``.
The level curve has to go louder to show a compressor's knee, so it has its
own ceiling, ``fingerprint_max_dbfs`` (default **-6 dBFS**; a hardware insert
key, or the ``fingerprint_max_dbfs`` argument): levels above it are left
out.  Nothing reaches the program outputs or monitors during a fingerprint.

Store: ``<session>.fingerprint.json`` beside the session (atomic write), with
the sample rate, block size, device and time.  ``--check`` measures again on
the stored grid and levels, and reports, per insert and return channel, the
frequencies and levels where the unit now differs by more than the tolerance
(:data:`TOLERANCE_DB`, 0.5 dB), and by how much.

Calling from `outboard recall` (engineer B's parser)::

    from host.cli.fingerprint import fingerprint_session, check_session
    path = fingerprint_session(session, say)               # -> Path of the store
    report = check_session(session, say)                   # -> CheckReport
    print("\\n".join(report.lines())); exit 0 if report.clean else EXIT_DIFFERS

Both open their own :class:`SessionStream`; in the embedded studio the
virtual gear lives only while a stream is open, so a recall that must land
before the measurement is passed as ``before=lambda ss: ...`` (called with
the open stream, before any measurement).  :func:`fingerprint_stream` and
:func:`check_stream` work on a stream that is already open.

Nothing here is real-time code: it runs in the main thread, between pings.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from host.audiofile import atomic_path
from host.errors import OutboardError
from host.gear.latency import true_peak

#: 1/3-octave centre frequencies (IEC 61260 nominal), Hz
THIRD_OCTAVE_HZ: tuple[float, ...] = (
    31.5, 40.0, 50.0, 63.0, 80.0, 100.0, 125.0, 160.0, 200.0, 250.0, 315.0, 400.0, 500.0,
    630.0, 800.0, 1000.0, 1250.0, 1600.0, 2000.0, 2500.0, 3150.0, 4000.0, 5000.0, 6300.0,
    8000.0, 10000.0, 12500.0, 16000.0)
#: grid frequencies above this fraction of the sample rate are left out
MAX_FREQ_FRACTION = 0.45
#: sweep start, Hz (below the lowest grid frequency, so its fade-in lies outside the grid)
SWEEP_LOW_HZ = 15.0
#: sweep end, Hz, and as a fraction of the sample rate (the lower of the two)
SWEEP_HIGH_HZ = 22000.0
SWEEP_HIGH_FRACTION = 0.46
SWEEP_SECONDS = 1.5
#: raised-cosine fades of the sweep and of the level steps, s
FADE_SECONDS = 0.02
#: silence after each test signal, so the longest expected round trip comes back, s
TAIL_SECONDS = 0.5
#: silence before each test signal, so a compressor has released what it heard before, s
SETTLE_SECONDS = 1.0
#: half-width of the band averaged around each grid frequency, octaves
BAND_HALF_OCTAVES = 1.0 / 24.0
#: level curve: peak levels of the 1 kHz steps, dBFS (those above the ceiling are left out)
LEVELS_DBFS: tuple[float, ...] = (-40.0, -30.0, -20.0, -10.0)
LEVEL_FREQ_HZ = 1000.0
STEP_SECONDS = 0.5
#: fraction of each step (its end) that the gain is read from
STEP_WINDOW = 0.4
#: default ceiling of the level curve, dBFS peak (see the module docstring)
FINGERPRINT_MAX_DBFS = -6.0
MAX_DBFS_RANGE = (-60.0, 0.0)
#: default tolerance of --check, dB
TOLERANCE_DB = 0.5
FORMAT_VERSION = 1


# ---- data --------------------------------------------------------------------------------


@dataclass
class InsertFingerprint:
    """One hardware insert's fingerprint.

    Attributes
    ----------
    insert : str
        Insert name.
    freqs_hz : list of float
        Grid frequencies, Hz.
    response_db : list of list of float
        ``[return channel][frequency]``: send-to-return magnitude, dB.
    sweep_level_dbfs : float
        True-peak level of the sweep, dBFS.
    level_freq_hz : float
        Frequency of the level steps, Hz.
    levels_dbfs : list of float
        Peak levels of the steps, dBFS.
    level_gain_db : list of list of float
        ``[return channel][level]``: gain at each level, dB (output minus input).
    latency_samples : list of int
        Round trip per return channel, whole samples (from the sweep; informative).
    """

    insert: str
    freqs_hz: list[float]
    response_db: list[list[float]]
    sweep_level_dbfs: float
    level_freq_hz: float
    levels_dbfs: list[float]
    level_gain_db: list[list[float]]
    latency_samples: list[int] = field(default_factory=list)


@dataclass
class Fingerprint:
    """A session's fingerprint: every hardware insert, with the conditions."""

    session: str
    sample_rate: int
    block_size: int
    device: str
    measured_at: str
    inserts: dict[str, InsertFingerprint]
    version: int = FORMAT_VERSION

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "session": self.session,
                "sample_rate": self.sample_rate, "block_size": self.block_size,
                "device": self.device, "measured_at": self.measured_at,
                "inserts": {k: asdict(v) for k, v in self.inserts.items()}}


@dataclass
class Difference:
    """One point where a unit now differs from its fingerprint by more than the tolerance.

    ``what`` is ``"response"`` (``at`` in Hz) or ``"level"`` (``at`` in dBFS
    peak); ``channel`` is the 1-based return; ``delta_db`` = now - stored."""

    insert: str
    channel: int
    what: str
    at: float
    stored_db: float
    now_db: float
    delta_db: float


@dataclass
class CheckReport:
    """What ``--check`` found.

    Attributes
    ----------
    path : str
        The fingerprint store compared against.
    tolerance_db : float
        dB; differences within it are not reported.
    checked : list of str
        Inserts measured and compared.
    differences : list of Difference
    max_abs_db : dict of str to float
        Per insert, the largest |difference| over every point, dB.
    missing : list of str
        Hardware inserts of the session with no stored fingerprint.
    """

    path: str
    tolerance_db: float
    checked: list[str]
    differences: list[Difference]
    max_abs_db: dict[str, float]
    missing: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.differences and not self.missing

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "tolerance_db": self.tolerance_db, "clean": self.clean,
                "checked": self.checked, "missing": self.missing,
                "max_abs_db": {k: round(v, 3) for k, v in self.max_abs_db.items()},
                "differences": [asdict(d) for d in self.differences]}

    def lines(self) -> list[str]:
        """One line per insert, plus one per return channel and kind that differs."""
        out: list[str] = []
        for name in self.checked:
            diffs = [d for d in self.differences if d.insert == name]
            worst = self.max_abs_db.get(name, 0.0)
            if not diffs:
                out.append(f"{name}: matches its fingerprint (largest difference "
                           f"{worst:.2f} dB, tolerance {self.tolerance_db:g} dB)")
                continue
            out.append(f"{name}: DIFFERS from its fingerprint at {len(diffs)} points "
                       f"(largest {worst:.2f} dB, tolerance {self.tolerance_db:g} dB)")
            for ch in sorted({d.channel for d in diffs}):
                resp = [d for d in diffs if d.channel == ch and d.what == "response"]
                for run in _runs(resp):
                    peak = max(run, key=lambda d: abs(d.delta_db))
                    span = (f"{_hz(run[0].at)}" if len(run) == 1
                            else f"{_hz(run[0].at)}..{_hz(run[-1].at)}")
                    out.append(f"  return {ch}: response {span}: {peak.delta_db:+.2f} dB at "
                               f"{_hz(peak.at)} (was {peak.stored_db:+.2f}, now "
                               f"{peak.now_db:+.2f} dB)")
                lev = [d for d in diffs if d.channel == ch and d.what == "level"]
                if lev:
                    parts = ", ".join(f"{d.at:g} dBFS {d.delta_db:+.2f} dB" for d in lev)
                    out.append(f"  return {ch}: gain at level: {parts}")
        for name in self.missing:
            out.append(f"{name}: no stored fingerprint; run `outboard recall SESSION "
                       "--fingerprint` first")
        return out


def _hz(f: float) -> str:
    return f"{f / 1000:g} kHz" if f >= 1000 else f"{f:g} Hz"


def _runs(diffs: list[Difference]) -> list[list[Difference]]:
    """Differences at adjacent grid frequencies, grouped (input in grid order)."""
    runs: list[list[Difference]] = []
    for d in diffs:
        if runs and d.at / runs[-1][-1].at < 1.3:  # next 1/3-octave point: ratio ~1.26
            runs[-1].append(d)
        else:
            runs.append([d])
    return runs


# ---- signals and analysis -----------------------------------------------------------------


def _fade(n: int, fs: float) -> np.ndarray:
    k = max(1, min(int(round(FADE_SECONDS * fs)), n // 4))
    return 0.5 - 0.5 * np.cos(np.pi * (np.arange(k) + 0.5) / k)


def sweep_signal(fs: float, seconds: float = SWEEP_SECONDS,
                 level_dbfs: float = -20.0) -> np.ndarray:
    """Exponential sine sweep (Farina), faded in and out, true peak = ``level_dbfs``.

    Parameters
    ----------
    fs : float
        Sample rate, Hz.
    seconds : float
        Length, s.
    level_dbfs : float
        True-peak level, dBFS (32x band-limited interpolation,
        :func:`host.gear.latency.true_peak`); never exceeded.

    Returns
    -------
    np.ndarray
        float64, shape (round(seconds * fs),).
    """

    n = int(round(seconds * fs))
    f1, f2 = SWEEP_LOW_HZ, min(SWEEP_HIGH_HZ, SWEEP_HIGH_FRACTION * fs)
    t = np.arange(n) / fs
    r = math.log(f2 / f1)
    x = np.sin(2 * np.pi * f1 * seconds / r * (np.exp(t * r / seconds) - 1.0))
    ramp = _fade(n, fs)
    x[:ramp.size] *= ramp
    x[n - ramp.size:] *= ramp[::-1]
    return x * (10.0 ** ((level_dbfs - 0.01) / 20.0) / true_peak(x))


def level_signal(fs: float, levels_dbfs: Sequence[float], freq_hz: float = LEVEL_FREQ_HZ,
                 step_seconds: float = STEP_SECONDS) -> np.ndarray:
    """Steady sine steps at ``levels_dbfs`` (peak), one ``step_seconds`` each,
    continuous in phase, the level changing over a raised-cosine crossfade."""
    m = int(round(step_seconds * fs))
    n = m * len(levels_dbfs)
    t = np.arange(n) / fs
    env = np.repeat([10.0 ** (v / 20.0) for v in levels_dbfs], m)
    ramp = _fade(n, fs)
    k = ramp.size
    for i in range(1, len(levels_dbfs)):  # smooth each step's edge
        a, b = env[i * m - 1], env[i * m]
        env[i * m:i * m + k] = a + (b - a) * ramp
    env[:k] *= ramp
    env[n - k:] *= ramp[::-1]
    return env * np.sin(2 * np.pi * freq_hz * t)


def grid(fs: float, freqs_hz: Sequence[float] = THIRD_OCTAVE_HZ) -> list[float]:
    """The grid frequencies measurable at ``fs`` (below 0.45 fs)."""
    return [float(f) for f in freqs_hz if f <= MAX_FREQ_FRACTION * fs]


def response_db(sent: np.ndarray, returned: np.ndarray, fs: float,
                freqs_hz: Sequence[float]) -> list[float]:
    """Magnitude of return / send at each frequency, dB: energy ratio over the
    FFT bins within +-:data:`BAND_HALF_OCTAVES` of it (delay-independent)."""
    n = 1 << int(math.ceil(math.log2(max(len(sent), len(returned)))))
    X = np.fft.rfft(sent, n)
    Y = np.fft.rfft(returned, n)
    f = np.fft.rfftfreq(n, 1.0 / fs)
    out = []
    for fc in freqs_hz:
        lo, hi = fc * 2.0 ** -BAND_HALF_OCTAVES, fc * 2.0 ** BAND_HALF_OCTAVES
        sel = (f >= lo) & (f <= hi)
        ex = float(np.sum(np.abs(X[sel]) ** 2))
        ey = float(np.sum(np.abs(Y[sel]) ** 2))
        out.append(10.0 * math.log10(max(ey, 1e-30) / max(ex, 1e-30)))
    return out


def latency_samples(sent: np.ndarray, returned: np.ndarray) -> int:
    """Round trip, whole samples: the peak of the cross-correlation (by FFT)."""
    n = 1 << int(math.ceil(math.log2(len(sent) + len(returned))))
    c = np.fft.irfft(np.fft.rfft(returned, n) * np.conj(np.fft.rfft(sent, n)), n)
    return int(np.argmax(np.abs(c[:len(returned)])))


def sine_amplitude(x: np.ndarray, freq_hz: float, fs: float) -> float:
    """Amplitude of the ``freq_hz`` component of ``x`` (least squares: sine, cosine, DC)."""
    t = np.arange(len(x)) / fs
    w = 2 * np.pi * freq_hz * t
    A = np.column_stack([np.sin(w), np.cos(w), np.ones_like(w)])
    coef, *_ = np.linalg.lstsq(A, np.asarray(x, np.float64), rcond=None)
    return float(math.hypot(coef[0], coef[1]))


def level_gains_db(sent: np.ndarray, returned: np.ndarray, fs: float, levels: int,
                   lag: int, freq_hz: float = LEVEL_FREQ_HZ,
                   step_seconds: float = STEP_SECONDS) -> list[float]:
    """Gain at each level step, dB, from the last :data:`STEP_WINDOW` of each
    step (the return read ``lag`` samples later)."""
    m = int(round(step_seconds * fs))
    w = int(round(STEP_WINDOW * m))
    edge = int(round(FADE_SECONDS * fs))  # the next step's crossfade starts at its edge
    out = []
    for i in range(levels):
        b = (i + 1) * m - (edge if i == levels - 1 else 0) - 1
        a = b - w
        a_in = sine_amplitude(sent[a:b], freq_hz, fs)
        a_out = sine_amplitude(returned[a + lag:b + lag], freq_hz, fs)
        out.append(20.0 * math.log10(max(a_out, 1e-30) / a_in))
    return out


# ---- measuring ----------------------------------------------------------------------------


def _ping(engine: Any, insert: str, sig: np.ndarray, tail: int, settle: int) -> np.ndarray:
    """``engine.ping`` with ``settle`` frames of silence, then the signal on
    every send; (channels, frames) returns aligned with ``sig`` (the silence
    cut off).  Taken again (up to three times) when the ping's data did not
    reach the callback in time or the stream had an xrun meanwhile (a dropped
    or repeated period would read as a response error)."""
    block = np.zeros((settle + sig.size, engine.channels), np.float32)
    block[settle:] = sig[:, None]
    attempts = 3
    for attempt in range(attempts):
        xruns = engine.meters()["xruns"]
        try:
            ret = engine.ping(insert, block, tail)
        except RuntimeError as exc:
            if attempt == attempts - 1:
                raise OutboardError(f"insert {insert}: fingerprint ping failed ({exc})") \
                    from None
            continue
        if engine.meters()["xruns"] == xruns or attempt == attempts - 1:
            return np.ascontiguousarray(ret[settle:].T, np.float64)
    raise AssertionError("unreachable")


def _levels(max_dbfs: float, levels_dbfs: Sequence[float] | None) -> list[float]:
    lo, hi = MAX_DBFS_RANGE
    if isinstance(max_dbfs, bool) or not isinstance(max_dbfs, int | float) or \
            not lo <= max_dbfs <= hi:
        raise OutboardError(f"fingerprint_max_dbfs: expected {lo:g}..{hi:g} dBFS, "
                            f"got {max_dbfs!r}")
    levels = [float(v) for v in (LEVELS_DBFS if levels_dbfs is None else levels_dbfs)
              if v <= max_dbfs]
    return levels or [float(max_dbfs)]


def measure_insert(engine: Any, insert: Any, *, freqs_hz: Sequence[float] | None = None,
                   levels_dbfs: Sequence[float] | None = None,
                   fingerprint_max_dbfs: float | None = None,
                   sweep_level_dbfs: float | None = None,
                   settle_seconds: float | None = None) -> InsertFingerprint:
    """Measure one hardware insert through a running engine (see the module docstring).

    Parameters
    ----------
    engine : host.live.engine.Engine
        Streaming, with ``insert`` in its chain.
    insert : host.model.config.Insert
        The hardware insert (its ``ping_level_dbfs`` and ``fingerprint_max_dbfs``
        keys are used when present).
    freqs_hz : sequence of float, optional
        Grid, Hz (default the 1/3-octave centres below 0.45 fs).
    levels_dbfs : sequence of float, optional
        Peak levels of the level curve, dBFS (default -40, -30, -20, -10),
        those above ``fingerprint_max_dbfs`` left out.
    fingerprint_max_dbfs : float, optional
        Ceiling of the level curve, dBFS peak, -60..0 (default: the insert's
        key, else -6).
    sweep_level_dbfs : float, optional
        True-peak level of the sweep, dBFS (default: the insert's
        ``ping_level_dbfs``, else -20).
    settle_seconds : float
        Silence before each test signal, s, so a compressor recovers from
        what it heard before (its release); default :data:`SETTLE_SECONDS`.
    """
    p = insert.params
    fs = float(engine.fs)
    freqs = grid(fs) if freqs_hz is None else [float(f) for f in freqs_hz]
    top = p.get("fingerprint_max_dbfs", FINGERPRINT_MAX_DBFS) \
        if fingerprint_max_dbfs is None else fingerprint_max_dbfs
    levels = _levels(top, levels_dbfs)
    sweep_lvl = float(p.get("ping_level_dbfs", -20.0) if sweep_level_dbfs is None
                      else sweep_level_dbfs)
    tail = int(TAIL_SECONDS * fs)
    settle = int(round((SETTLE_SECONDS if settle_seconds is None else settle_seconds) * fs))
    sweep = sweep_signal(fs, SWEEP_SECONDS, sweep_lvl)
    ret = _ping(engine, insert.name, sweep, tail, settle)
    lags = [latency_samples(sweep, r) for r in ret]
    resp = [response_db(sweep, r, fs, freqs) for r in ret]
    steps = level_signal(fs, levels)
    ret = _ping(engine, insert.name, steps, tail, settle)
    gains = [level_gains_db(steps, r, fs, len(levels), lag) for r, lag in zip(ret, lags,
                                                                             strict=True)]
    return InsertFingerprint(
        insert=insert.name, freqs_hz=freqs, response_db=[[round(v, 4) for v in r] for r in resp],
        sweep_level_dbfs=sweep_lvl, level_freq_hz=LEVEL_FREQ_HZ, levels_dbfs=levels,
        level_gain_db=[[round(v, 4) for v in g] for g in gains], latency_samples=lags)


def _hardware(session: Any) -> list[Any]:
    hw = [i for i in session.chain.inserts if i.kind == "hardware"]
    if not hw:
        raise OutboardError(f"{session.path}: has no hardware insert (kind = \"hardware\") "
                            "to fingerprint")
    return hw


def fingerprint_stream(ss: Any, say: Callable[[str], None] | None = None,
                       fingerprint_max_dbfs: float | None = None) -> Fingerprint:
    """Fingerprint every hardware insert of an open :class:`SessionStream`."""
    s = ss.session
    out: dict[str, InsertFingerprint] = {}
    for ins in _hardware(s):
        fp = measure_insert(ss.engine, ins, fingerprint_max_dbfs=fingerprint_max_dbfs)
        out[ins.name] = fp
        if say:
            say(f"insert {ins.name}: fingerprint of {len(fp.freqs_hz)} frequencies at "
                f"{fp.sweep_level_dbfs:g} dBFS and {len(fp.levels_dbfs)} levels "
                f"{fp.levels_dbfs[0]:g}..{fp.levels_dbfs[-1]:g} dBFS at "
                f"{fp.level_freq_hz:g} Hz")
    return Fingerprint(session=str(s.path), sample_rate=int(ss.engine.fs),
                       block_size=int(s.interface.block_size), device=ss.device.name,
                       measured_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"), inserts=out)


# ---- store --------------------------------------------------------------------------------


def store_path(session_path: str | Path) -> Path:
    """``<session>.fingerprint.json`` beside the session file."""
    p = Path(session_path)
    return p.with_name(p.stem + ".fingerprint.json")


def save(session_path: str | Path, fp: Fingerprint) -> Path:
    """Write the fingerprint beside the session, atomically; returns its path."""

    p = store_path(session_path)
    with atomic_path(p) as tmp:
        tmp.write_text(json.dumps(fp.to_dict(), indent=1) + "\n")
    return p


def load(session_path: str | Path) -> Fingerprint:
    """The stored fingerprint; OutboardError naming the file when missing or corrupt."""
    p = store_path(session_path)
    if not p.exists():
        raise OutboardError(f"{p}: no stored fingerprint; run `outboard recall "
                            f"{session_path} --fingerprint` first")
    try:
        d = json.loads(p.read_text())
        if d.get("version") != FORMAT_VERSION:
            raise ValueError(f"format version {d.get('version')!r}, expected {FORMAT_VERSION}")
        inserts = {k: InsertFingerprint(**v) for k, v in d["inserts"].items()}
        return Fingerprint(session=d["session"], sample_rate=int(d["sample_rate"]),
                           block_size=int(d["block_size"]), device=d["device"],
                           measured_at=d["measured_at"], inserts=inserts)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise OutboardError(f"{p}: not a valid fingerprint store ({exc}); delete it and run "
                            "`outboard recall SESSION --fingerprint` again") from None


# ---- compare ------------------------------------------------------------------------------


def compare(stored: Fingerprint, now: Fingerprint, tolerance_db: float = TOLERANCE_DB,
            path: str = "") -> CheckReport:
    """Differences of ``now`` against ``stored`` beyond ``tolerance_db`` (dB)."""
    diffs: list[Difference] = []
    worst: dict[str, float] = {}
    checked = []
    for name, b in now.inserts.items():
        a = stored.inserts.get(name)
        if a is None:
            continue
        checked.append(name)
        w = 0.0
        pairs = (("response", a.freqs_hz, b.freqs_hz, a.response_db, b.response_db),
                 ("level", a.levels_dbfs, b.levels_dbfs, a.level_gain_db, b.level_gain_db))
        for what, xa, xb, ya, yb in pairs:
            if list(xa) != list(xb) or len(ya) != len(yb):
                raise OutboardError(f"insert {name}: the stored fingerprint's {what} grid or "
                                    "channels differ from this measurement's; fingerprint "
                                    "again")
            for ch, (ra, rb) in enumerate(zip(ya, yb, strict=True)):
                for x, va, vb in zip(xa, ra, rb, strict=True):
                    d = vb - va
                    w = max(w, abs(d))
                    if abs(d) > tolerance_db:
                        diffs.append(Difference(name, ch + 1, what, x, va, vb, round(d, 3)))
        worst[name] = w
    return CheckReport(path=path, tolerance_db=tolerance_db, checked=checked,
                       differences=diffs, max_abs_db=worst)


def check_stream(ss: Any, stored: Fingerprint, say: Callable[[str], None] | None = None,
                 tolerance_db: float = TOLERANCE_DB, path: str = "") -> CheckReport:
    """Measure every hardware insert of an open stream on ``stored``'s grid and
    levels, and compare (see :func:`compare`)."""
    s = ss.session
    fs = int(ss.engine.fs)
    if fs != stored.sample_rate:
        raise OutboardError(f"{path or store_path(s.path)}: fingerprinted at "
                            f"{stored.sample_rate} Hz, the stream runs at {fs} Hz; fingerprint "
                            "again at this rate")
    now: dict[str, InsertFingerprint] = {}
    missing = []
    for ins in _hardware(s):
        a = stored.inserts.get(ins.name)
        if a is None:
            missing.append(ins.name)
            continue
        now[ins.name] = measure_insert(ss.engine, ins, freqs_hz=a.freqs_hz,
                                       levels_dbfs=a.levels_dbfs, fingerprint_max_dbfs=0.0,
                                       sweep_level_dbfs=a.sweep_level_dbfs)
        if say:
            say(f"insert {ins.name}: measured again for the check")
    fp = Fingerprint(str(s.path), fs, int(s.interface.block_size), ss.device.name,
                     time.strftime("%Y-%m-%dT%H:%M:%S%z"), now)
    report = compare(stored, fp, tolerance_db, path or str(store_path(s.path)))
    report.missing = missing
    return report








