"""Hardware inserts: measuring their round trip, storing it, applying it.

A hardware insert's round trip (converter latency plus the unit's own, per
return channel, fractional) is measured by playing a quiet ping out of its
sends and cross-correlating what comes back (:mod:`host.gear.latency`), in the
stream that will use it.  A measurement is stored beside the session in
``<session>.measured.json`` with the sample rate, block size and device it
was taken with; a stored figure taken under other conditions is *stale*.

Gain staging: the measured gain through the unit gives the return trim that
makes a unit set flat null against the dry path at unity
(``return_trim_db = "auto"``); ``polarity = "auto"`` takes the measured
polarity.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from host.audiofile import atomic_path
from host.errors import OutboardError
from host.gear.latency import (
    NoSignalError,
    SilentReturnError,
    measure_channels,
    ping_signal,
    true_peak,
)

PING_SECONDS = 0.5
#: silence after the ping so the longest expected round trip (0.5 s) comes back
TAIL_SECONDS = 0.5


@dataclass
class InsertMeasurement:
    """One hardware insert's measured round trip, per return channel."""

    insert: str
    latency_samples: list[float]
    polarity: list[int]
    gain_db: list[float]
    snr_db: list[float]
    sample_rate: int
    block_size: int
    device: str
    measured_at: str

    @property
    def skew_samples(self) -> float:
        return max(self.latency_samples) - min(self.latency_samples)

    def summary(self) -> dict[str, Any]:
        """The figures `outboard ping --json` prints."""
        worst = int(np.argmax(self.latency_samples))
        lat = self.latency_samples[worst]
        return {
            "insert": self.insert,
            "latency_samples": round(lat, 4),
            "latency_ms": round(lat / self.sample_rate * 1000.0, 4),
            "polarity": self.polarity[worst],
            "gain_db": round(self.gain_db[worst], 3),
            "snr_db": round(min(self.snr_db), 1),
            "skew_samples": round(self.skew_samples, 4),
            "channels": [
                {"return": i + 1, "latency_samples": round(la, 6), "polarity": p,
                 "gain_db": round(g, 3), "snr_db": round(s, 1)}
                for i, (la, p, g, s) in enumerate(zip(self.latency_samples, self.polarity,
                                                      self.gain_db, self.snr_db, strict=True))],
            "sample_rate": self.sample_rate,
            "block_size": self.block_size,
            "device": self.device,
        }


def store_path(session_path: Path) -> Path:
    p = Path(session_path)
    return p.with_name(p.stem + ".measured.json")


def load_store(session_path: Path) -> dict[str, InsertMeasurement]:
    """Stored measurements of a session (empty when none); a corrupt store is
    an error naming the file."""
    p = store_path(session_path)
    if not p.exists():
        return {}
    try:
        data = json.loads(p.read_text())
        return {k: InsertMeasurement(**v) for k, v in data["inserts"].items()}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise OutboardError(f"{p}: not a valid measurement store ({exc}); delete it and "
                            "measure again with `outboard ping --save`") from None


def save_measurement(session_path: Path, m: InsertMeasurement) -> Path:
    """Add or replace one insert's measurement in the store (atomically)."""

    store = load_store(session_path)
    store[m.insert] = m
    p = store_path(session_path)
    with atomic_path(p) as tmp:
        tmp.write_text(json.dumps({"inserts": {k: asdict(v) for k, v in store.items()}},
                                  indent=2) + "\n")
    return p


def stale_reason(m: InsertMeasurement, sample_rate: int, block_size: int,
                 device: str) -> str | None:
    """Why a stored measurement does not apply to this stream (None if it does)."""
    if m.sample_rate != sample_rate:
        return f"measured at {m.sample_rate} Hz, the stream runs at {sample_rate} Hz"
    if m.block_size != block_size:
        return f"measured with {m.block_size}-frame blocks, the stream uses {block_size}"
    if m.device != device:
        return f"measured on {m.device!r}, the stream uses {device!r}"
    return None


#: how many times a ping torn by xruns is taken again before the measurement is refused
PING_ATTEMPTS = 3
#: two pings torn by xruns that agree this closely (every return, samples; and in
#: polarity) were not torn where it counts: their measurement stands
TORN_AGREE_SAMPLES = 0.05


def measure(engine: Any, insert: str, level_dbfs: float, block_size: int, device: str,
            seconds: float = PING_SECONDS,
            say: Callable[[str], None] | None = None) -> InsertMeasurement:
    """Ping one hardware insert through the running engine stream.

    The ping is never louder than ``level_dbfs`` (sample and true peak); only
    the insert's sends carry it, the program outputs and monitors stay silent.
    Raises OutboardError naming the insert and return channel when a return is
    silent (cable unplugged, unit off).

    A ping during which the audio server reported xruns (the engine's count
    rose) may be torn: a dropped or repeated period moves the return against
    the ping, and its low SNR or wrong lag says nothing about the cables.  It
    is taken again (``say`` is told why), ``PING_ATTEMPTS`` times in all; the
    first ping without xruns is measured.  Two torn pings that measure alike
    (every return within ``TORN_AGREE_SAMPLES``, same polarity) were not torn
    where it counts, and stand.  Otherwise OutboardError names the xruns.
    """

    fs = int(engine.fs)
    sig = ping_signal(fs, seconds, level_dbfs)
    if 20 * math.log10(true_peak(sig)) > level_dbfs + 1e-6:  # never louder than asked
        raise OutboardError(f"insert {insert}: ping would exceed {level_dbfs} dBFS")
    nch = engine.channels
    block = np.ascontiguousarray(np.tile(sig[:, None], (1, nch)), dtype=np.float32)
    torn: list[int] = []
    measured: list = []        # what the torn pings measured, where they did
    for attempt in range(1, PING_ATTEMPTS + 1):
        before = engine.meters()["xruns"]
        ret = np.ascontiguousarray(engine.ping(insert, block, int(TAIL_SECONDS * fs)).T)
        xruns = engine.meters()["xruns"] - before
        if xruns == 0:
            try:
                ms = measure_channels(sig, ret, fs)
            except NoSignalError as exc:
                raise OutboardError(f"insert {insert}: {exc}") from None
            break
        torn.append(xruns)
        try:
            ms = measure_channels(sig, ret, fs)
        except SilentReturnError as exc:
            # an xrun tears a block or two of a ping; it cannot silence a whole
            # return: that is the wiring (or the unit), said as such
            raise OutboardError(f"insert {insert}: {exc}") from None
        except NoSignalError:
            ms = None  # torn beyond measuring: pinged again below
        if ms is not None:
            if any(_alike(ms, other) for other in measured):
                if say is not None:
                    say(f"insert {insert}: the audio server reported xruns during the pings, "
                        f"but two of them measure alike (within {TORN_AGREE_SAMPLES:g} "
                        "samples): taken")
                break
            measured.append(ms)
        if say is not None and attempt < PING_ATTEMPTS:
            say(f"insert {insert}: the audio server reported {_count(xruns)} during the "
                f"ping; pinging again ({attempt + 1} of {PING_ATTEMPTS})")
    else:
        raise OutboardError(
            f"insert {insert}: the audio server reported xruns during every ping "
            f"({', '.join(str(n) for n in torn)} in {PING_ATTEMPTS} pings): a ping torn by an "
            "xrun cannot be measured; free the CPU (other audio programs, a larger block "
            "size) and ping again")
    return InsertMeasurement(
        insert=insert, latency_samples=[m.latency_samples for m in ms],
        polarity=[m.polarity for m in ms], gain_db=[m.gain_db for m in ms],
        snr_db=[m.snr_db for m in ms], sample_rate=fs, block_size=block_size, device=device,
        measured_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"))


def _alike(a: list, b: list) -> bool:
    """Two measurements of the same returns agree (latency and polarity)."""
    return all(abs(x.latency_samples - y.latency_samples) <= TORN_AGREE_SAMPLES
               and x.polarity == y.polarity for x, y in zip(a, b, strict=True))


def _count(xruns: int) -> str:
    return f"{xruns} xrun{'s' if xruns != 1 else ''}"


#: a measured fraction this close to a whole sample is within the estimator's
#: precision (about 0.0015 samples): compensated as the whole number, which
#: the engine delays bit-exactly instead of through its fractional filter
SNAP_SAMPLES = 0.002


def snap_latency(v: float) -> float:
    r = round(v)
    return float(r) if abs(v - r) < SNAP_SAMPLES else float(v)


def apply(engine: Any, m: InsertMeasurement, params: dict[str, Any]) -> dict[str, Any]:
    """Set the engine's compensation for one insert from a measurement and the
    insert's session parameters; returns what was set."""
    setting: dict[str, Any] = {"latency_samples": [snap_latency(v) for v in m.latency_samples]}
    if params.get("polarity") == "auto":
        pol = set(m.polarity)
        if len(pol) > 1:
            raise OutboardError(f"insert {m.insert}: the return channels disagree in polarity "
                                f"({m.polarity}); check the wiring")
        setting["polarity"] = m.polarity[0]
    if params.get("return_trim_db") == "auto":
        g = float(np.mean(m.gain_db))
        if not -24.0 <= -g <= 24.0 or not math.isfinite(g):
            raise OutboardError(f"insert {m.insert}: measured gain {g:.1f} dB is beyond the "
                                "return trim's -24..24 dB")
        setting["return_trim_db"] = -g
    engine.set_param(m.insert, **setting)
    return setting
