"""Round-trip latency of a hardware insert: a ping and its estimator.

The host plays :func:`ping_signal` out of an insert's send, records the
return, and :func:`measure_round_trip` finds how late, how loud and which way
up it came back.  Pure NumPy, no I/O: recording is the caller's business.

Usage::

    ping = ping_signal(48000)                      # 1 s, -20 dBFS true peak
    returned = play_and_record(ping, frames=len(ping) + 8192)   # the caller's I/O
    m = measure_round_trip(ping, returned, 48000)
    m.latency_samples, m.polarity, m.gain_db, m.snr_db

Method
------
1. Coarse lag: the peak of |cross-correlation| (FFT, zero-padded, so linear
   rather than circular) over lags 0..len(returned)-1; its sign is the
   polarity.
2. Sub-sample refinement: the cross-spectrum ``Y conj(S)``, with the coarse
   lag and polarity removed, has phase ``-w d`` for the remaining fraction
   ``d``.  A weighted least-squares line through the origin (weights: the
   cross-spectrum magnitude, i.e. where the signal is; bins within 20 dB of
   the ping's strongest) gives ``d``; three passes, each on the residual
   phase, so no unwrapping is needed (|d| <= 0.5 sample keeps ``w d``
   within +-pi/2 up to fs/2).  For a return through filters the result is
   their weighted group delay.
3. Gain: least squares of the return against the sent signal delayed by the
   estimate (band-limited FFT delay); polarity is the sign of that gain.
4. SNR: the power of the fitted (delayed, scaled) sent signal over the power
   of the residual, over the span where the sent signal lies.  It counts
   anything the model does not explain: noise, distortion, compression.

Errors: a return that is digital silence, or whose SNR is below
``min_snr_db`` (10 dB), raises :class:`NoSignalError`; the caller adds the
insert and channel names to its one-line message.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Real
from typing import Any

import numpy as np

from host.errors import OutboardError

#: Ping band, Hz: low edge (above converter DC blocking and transformer roll-off).
PING_LOW_HZ = 100.0
#: Ping band: high edge as a fraction of fs (below converter anti-alias filters).
PING_HIGH_FRACTION = 0.4
#: Fade in/out of the ping, ms (raised cosine).
PING_FADE_MS = 10.0
#: A return whose peak is below this (dBFS) is digital silence.
SILENCE_DBFS = -140.0
#: Default SNR below which a return does not count as the ping, dB.
MIN_SNR_DB = 10.0
#: SNR reported for a return that matches the model exactly, dB.
SNR_CEILING_DB = 200.0
FS_RANGE = (8000.0, 768000.0)


class NoSignalError(OutboardError):
    """The return carries no usable copy of the ping (silent or uncorrelated)."""


class SilentReturnError(NoSignalError):
    """The whole return is below the silence level: nothing came back at all
    (an xrun tears a block of a ping; it cannot silence a whole return)."""


@dataclass(frozen=True)
class Measurement:
    """One return channel's round trip.

    Attributes
    ----------
    latency_samples : float
        Delay from send to return, samples (fractional).
    latency_ms : float
        The same in ms.
    polarity : int
        +1, or -1 when the return is inverted.
    gain_db : float
        Return level relative to the send, dB (magnitude of the fitted gain).
    snr_db : float
        Fitted signal power over residual power, dB (capped at 200).
    confidence : float
        0..1: 1 - (largest |cross-correlation| more than 2 ms from the chosen
        lag) / (its peak).  Near 1 for one clean path; near 0 when another lag
        fits as well (a periodic send, an echo, two paths).
    """

    latency_samples: float
    latency_ms: float
    polarity: int
    gain_db: float
    snr_db: float
    confidence: float


class ChannelMeasurements(list):
    """A list of :class:`Measurement`, one per return channel, with their skew."""

    @property
    def skew_samples(self) -> float:
        """Latest minus earliest channel latency, samples (0 for one channel)."""
        lat = [m.latency_samples for m in self]
        return max(lat) - min(lat) if lat else 0.0

    @property
    def skew_ms(self) -> float:
        lat = [m.latency_ms for m in self]
        return max(lat) - min(lat) if lat else 0.0

    @property
    def offsets_samples(self) -> list[float]:
        """Each channel's latency minus the first channel's, samples."""
        return [m.latency_samples - self[0].latency_samples for m in self] if self else []


# ---- argument checks -----------------------------------------------------------------------


def _number(name: str, value: Any, unit: str, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise ValueError(f"{name}: expected a finite number, {unit}, got {value!r}")
    v = float(value)
    if not lo <= v <= hi:
        raise ValueError(f"{name}: expected {lo:g}..{hi:g} {unit}, got {v:g}")
    return v


def _signal(name: str, x: Any, ndim: int = 1) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != ndim or a.shape[-1] == 0:
        want = "a 1-D array of samples" if ndim == 1 else "a 2-D (channels, frames) array"
        raise ValueError(f"{name}: expected {want}, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name}: contains NaN or infinite samples")
    return a


def _fast_len(n: int) -> int:
    """Smallest 2^a 3^b 5^c >= n (fast FFT sizes)."""
    best = 1 << max(0, (n - 1).bit_length())
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            p = p35
            while p < n:
                p *= 2
            best = min(best, p)
            p35 *= 3
        p5 *= 5
    return best


# ---- the ping --------------------------------------------------------------------------------


def ping_signal(fs: float, seconds: float = 1.0, level_dbfs: float = -20.0,
                seed: int = 0) -> np.ndarray:
    """The latency ping: band-limited noise with a flat spectrum, faded in and out.

    Parameters
    ----------
    fs : float
        Sample rate, Hz, 8000..768000.
    seconds : float
        Length, s, 0.05..60.
    level_dbfs : float
        Peak level, dBFS, -80..0: neither a sample nor the true (inter-sample)
        peak exceeds it.
    seed : int
        Seed of the random phases.

    Returns
    -------
    np.ndarray
        float64, shape (round(seconds * fs),).

    Notes
    -----
    Why this signal: its flat spectrum over :data:`PING_LOW_HZ` ..
    :data:`PING_HIGH_FRACTION` x fs weights every frequency the estimator
    fits, so the cross-correlation peak is narrow (about 1/bandwidth) and
    unique (noise does not repeat, unlike a multi-sine whose range ends at
    its period); the band leaves out DC (coupling capacitors, DC blockers)
    and the top octave edge where converters' anti-alias filters bend the
    phase, so it measures the same through real converters as through a
    wire.  Its crest factor is reduced (iterative clipping, the spectrum
    restored each pass) so that more energy fits under the peak level; the
    10 ms raised-cosine fades avoid clicks into the gear.  The true peak is
    found by 32x band-limited (FFT) interpolation and the signal is scaled
    to 0.01 dB below ``level_dbfs``.
    """
    fs = _number("fs", fs, "Hz", *FS_RANGE)
    seconds = _number("seconds", seconds, "s", 0.05, 60.0)
    level = _number("level_dbfs", level_dbfs, "dBFS", -80.0, 0.0)
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed: expected an integer >= 0, got {seed!r}")
    n = int(round(seconds * fs))
    rng = np.random.default_rng(int(seed))
    f = np.fft.rfftfreq(n, 1.0 / fs)
    mag = ((f >= PING_LOW_HZ) & (f <= PING_HIGH_FRACTION * fs)).astype(np.float64)
    # Crest-factor reduction on a 4x oversampled copy (so inter-sample peaks are
    # clipped too): clip at 1.6 x RMS, keep the phases, restore the flat band.
    over = 4
    mag_o = np.zeros(over * n // 2 + 1)
    mag_o[:len(mag)] = mag
    xo = np.fft.irfft(mag_o * np.exp(2j * np.pi * rng.random(len(mag_o))), over * n)
    for _ in range(30):
        c = 1.6 * np.sqrt(np.mean(xo * xo))
        xo = np.fft.irfft(mag_o * np.exp(1j * np.angle(np.fft.rfft(np.clip(xo, -c, c)))),
                          over * n)
    x = xo[::over].copy()  # exact: the band lies below fs/2
    k = max(1, min(int(round(PING_FADE_MS * 1e-3 * fs)), n // 4))
    ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(k) + 0.5) / k)
    x[:k] *= ramp
    x[n - k:] *= ramp[::-1]
    x *= 10.0 ** ((level - 0.01) / 20.0) / true_peak(x)
    return x


def true_peak(x: np.ndarray, oversample: int = 32) -> float:
    """Largest |x| between samples too, by band-limited (FFT) interpolation of
    ``x`` followed by silence (linear amplitude; 32x: within 0.01 dB below 0.4 fs)."""
    x = _signal("x", x)
    n = len(x)
    m = _fast_len(n + 64)
    up = np.fft.irfft(np.fft.rfft(x, m), m * oversample) * oversample
    return float(max(np.max(np.abs(up)), np.max(np.abs(x))))


# ---- the estimator ---------------------------------------------------------------------------


def measure_round_trip(sent: np.ndarray, returned: np.ndarray, fs: float,
                       min_snr_db: float = MIN_SNR_DB) -> Measurement:
    """Latency, polarity, gain and SNR of one return of ``sent``.

    Parameters
    ----------
    sent : np.ndarray
        The signal played, 1-D (e.g. :func:`ping_signal`), starting at the
        same instant as ``returned``.
    returned : np.ndarray
        The recording, 1-D, at least as long as the latency plus the sent
        signal for a full measurement (a shorter one is measured over what
        it holds).
    fs : float
        Sample rate, Hz, 8000..768000.
    min_snr_db : float
        Below this SNR (dB, -20..60) the return is not taken as the ping.

    Returns
    -------
    Measurement

    Raises
    ------
    NoSignalError
        The return is digital silence, or its SNR is below ``min_snr_db``.
    """
    s = _signal("sent", sent)
    y = _signal("returned", returned)
    fs = _number("fs", fs, "Hz", *FS_RANGE)
    min_snr_db = _number("min_snr_db", min_snr_db, "dB", -20.0, 60.0)
    if not np.any(s):
        raise ValueError("sent: the signal is silent; nothing to measure with")
    if np.max(np.abs(y)) < 10.0 ** (SILENCE_DBFS / 20.0):
        raise SilentReturnError(f"the return is silent (below {SILENCE_DBFS:g} dBFS): nothing "
                            f"came back; check the return cable and that the gear is powered "
                            f"and its output is up")
    n, m = len(s), len(y)
    nfft = _fast_len(n + m)
    spec_s = np.fft.rfft(s, nfft)
    cross = np.fft.rfft(y, nfft) * np.conj(spec_s)
    r = np.fft.irfft(cross, nfft)[:m]          # r[l] = sum_t y[t] s[t - l], l = 0..m-1
    mag = np.abs(r)
    lag = int(np.argmax(mag))
    sign = 1.0 if r[lag] >= 0 else -1.0
    guard = max(1, int(round(2e-3 * fs)))
    others = np.concatenate((mag[:max(0, lag - guard)], mag[lag + guard + 1:]))
    confidence = 1.0 - (float(np.max(others)) / mag[lag] if len(others) else 0.0)

    # sub-sample refinement: weighted LS phase slope of the cross-spectrum
    power = np.abs(spec_s) ** 2
    band = np.nonzero(power >= 0.01 * np.max(power))[0]
    band = band[band > 0]
    w = 2.0 * np.pi * band / nfft
    cb = cross[band] * np.exp(1j * w * lag) * sign
    weight = np.abs(cb)
    frac = 0.0
    for _ in range(3):
        ph = np.angle(cb * np.exp(1j * w * frac))
        frac -= float(np.sum(weight * w * ph) / np.sum(weight * w * w))
    latency = lag + frac

    # gain and SNR against the sent signal delayed by the estimate
    shift = np.exp(-2j * np.pi * np.arange(len(spec_s)) * latency / nfft)
    u = np.fft.irfft(spec_s * shift, nfft)[:m]
    i0 = max(0, int(math.floor(latency)))
    i1 = min(m, int(math.ceil(latency)) + n)
    uu = float(np.dot(u[i0:i1], u[i0:i1]))
    if i1 <= i0 or uu == 0.0:
        raise NoSignalError("the return ends before the ping came back: no correlation; "
                            "record longer than the latency plus the ping")
    g = float(np.dot(y[i0:i1], u[i0:i1])) / uu
    fit = g * u[i0:i1]
    res = float(np.sum((y[i0:i1] - fit) ** 2))
    sig = g * g * uu
    if res == 0.0:
        snr = SNR_CEILING_DB
    elif sig == 0.0:
        snr = -math.inf
    else:
        snr = min(SNR_CEILING_DB, 10.0 * math.log10(sig / res))
    if not snr >= min_snr_db:
        raise NoSignalError(f"no correlation between the ping and the return (SNR "
                            f"{snr:.1f} dB < {min_snr_db:g} dB): the return carries something "
                            f"else; check the send/return patching, the cables and the gear's "
                            f"power")
    return Measurement(
        latency_samples=latency,
        latency_ms=1000.0 * latency / fs,
        polarity=1 if g > 0 else -1,
        gain_db=20.0 * math.log10(abs(g)),
        snr_db=snr,
        confidence=max(0.0, min(1.0, confidence)),
    )


def measure_channels(sent: np.ndarray, returned_channels: np.ndarray | Sequence[np.ndarray],
                     fs: float, min_snr_db: float = MIN_SNR_DB) -> ChannelMeasurements:
    """Measure each return channel on its own (L and R may differ).

    Parameters
    ----------
    sent : np.ndarray
        1-D (the same ping on every send) or ``(channels, n)``, one per channel.
    returned_channels : np.ndarray
        ``(channels, frames)``, the returns in send order.
    fs : float
        Sample rate, Hz.
    min_snr_db : float
        See :func:`measure_round_trip`.

    Returns
    -------
    ChannelMeasurements
        A list of :class:`Measurement`; ``.skew_samples`` is the latest minus
        the earliest channel's latency, ``.offsets_samples`` each one's
        offset from the first.

    Raises
    ------
    NoSignalError
        For the first channel without the ping; the message starts with
        "return channel N".
    """
    y = _signal("returned_channels", returned_channels, ndim=2)
    s = np.asarray(sent, dtype=np.float64)
    if s.ndim == 1:
        sends = [s] * y.shape[0]
    elif s.ndim == 2 and s.shape[0] == y.shape[0]:
        sends = list(s)
    else:
        raise ValueError(f"sent: expected 1-D or ({y.shape[0]}, n) to match "
                         f"returned_channels, got shape {s.shape}")
    out = ChannelMeasurements()
    for i, (si, yi) in enumerate(zip(sends, y, strict=True)):
        try:
            out.append(measure_round_trip(si, yi, fs, min_snr_db))
        except NoSignalError as exc:
            raise type(exc)(f"return channel {i + 1}: {exc}") from None
    return out
