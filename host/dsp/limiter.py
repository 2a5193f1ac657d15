"""True-peak meter (ITU-R BS.1770-4 Annex 2) and lookahead true-peak limiter.

C kernels ``native/truepeak.c`` and ``native/limiter.c``; this module owns
their state and checks arguments.  Audio is planar, shape (channels, frames),
float32 (other layouts and dtypes are converted, see :func:`host._ffi.planar`).
"""

from __future__ import annotations

import weakref

import numpy as np

from host._ffi import ffi, lib, planar, process_aligned, process_blocks

__all__ = ["TruePeakMeter", "true_peak_dbtp", "Limiter"]

FS_RANGE_HZ = (8000.0, 768000.0)
METER_FACTORS = (0, 1, 2, 4, 8, 16)
LIMITER_FACTORS = (4, 8, 16)
CEILING_RANGE_DBTP = (-20.0, 0.0)
RELEASE_RANGE_MS = (1.0, 1000.0)
LOOKAHEAD_RANGE_MS = (0.5, 10.0)


def _check_range(name: str, value: float, lo: float, hi: float, unit: str) -> float:
    v = float(value)
    if not lo <= v <= hi:  # also rejects NaN
        raise ValueError(f"{name}: expected {lo:g}..{hi:g} {unit}, got {value!r}")
    return v


def _check_common(fs: float, channels: int) -> tuple[float, int]:
    fs = _check_range("fs", fs, *FS_RANGE_HZ, "Hz")
    if not isinstance(channels, (int, np.integer)) or not 1 <= channels <= lib.OB_MAX_CHANNELS:
        raise ValueError(
            f"channels: expected an integer 1..{lib.OB_MAX_CHANNELS}, got {channels!r}"
        )
    return fs, int(channels)


def _audio(audio: np.ndarray, channels: int) -> np.ndarray:
    a = planar(audio)
    if a.shape[0] != channels:
        raise ValueError(
            f"audio: expected {channels} channel(s) as (channels, frames), got shape {a.shape}"
        )
    return a


class TruePeakMeter:
    """Streaming true-peak meter, ITU-R BS.1770-4 Annex 2.

    Each channel is oversampled by a polyphase FIR interpolator (24 taps per
    phase, Kaiser-windowed sinc cut off at fs/2: the same filter as the
    :class:`Limiter`'s detector), and the largest absolute interpolated value
    is kept.  A 4x meter may under-read a sine near Nyquist by up to 0.69 dB,
    an 8x meter by up to 0.17 dB.

    Parameters
    ----------
    fs : float
        Sample rate, Hz, 8000..768000.
    channels : int
        Number of channels, 1..64.
    oversample : int
        Oversampling factor: 1, 2, 4, 8 or 16, or 0 for the BS.1770 default
        for the rate (4 below 96 kHz, 2 from 96 kHz, 1 from 192 kHz).

    Notes
    -----
    A peak is read ``latency_samples`` samples after it entered (the
    interpolator's group delay); call :meth:`flush` at the end of a signal.
    ``process`` calls a real-time safe C function (no allocation, no locks);
    the Python wrapper itself allocates a small pointer array per call.
    """

    def __init__(self, fs: float, channels: int, oversample: int = 0):
        fs, channels = _check_common(fs, channels)
        if oversample not in METER_FACTORS:
            raise ValueError(
                "oversample: expected 0 (BS.1770 default for the rate), 1, 2, 4, 8 or 16 "
                f"(times), got {oversample!r}"
            )
        st = lib.ob_truepeak_new(fs, channels, int(oversample))
        if st == ffi.NULL:
            raise MemoryError("ob_truepeak_new failed")
        self._st = st
        self._fin = weakref.finalize(self, lib.ob_truepeak_free, st)
        self.fs = fs
        self.channels = channels
        self.oversample = int(lib.ob_truepeak_factor(st))

    def process(self, audio: np.ndarray) -> None:
        """Meter ``audio`` (channels, frames); the audio is not modified."""
        a = _audio(audio, self.channels)
        process_blocks(lambda p, n, f: lib.ob_truepeak_process(self._st, p, n, f), a)

    def flush(self) -> None:
        """Feed ``latency_samples`` of silence so the last samples are read.

        Use at the end of a signal; the silence enters the history as if it
        followed the signal.
        """
        self.process(np.zeros((self.channels, self.latency_samples), dtype=np.float32))

    def reset(self) -> None:
        """Clear the interpolator history and the maxima (real-time safe)."""
        lib.ob_truepeak_reset(self._st)

    @property
    def max_dbtp(self) -> float:
        """Largest true peak over all channels since creation or reset, dBTP
        (``-inf`` for digital silence)."""
        return float(lib.ob_truepeak_max_dbtp(self._st))

    @property
    def max_dbtp_per_channel(self) -> list[float]:
        """Largest true peak of each channel, dBTP (``-inf`` for silence)."""
        return [float(lib.ob_truepeak_channel_dbtp(self._st, c)) for c in range(self.channels)]

    @property
    def latency_samples(self) -> int:
        """Group delay of the interpolator, samples (12)."""
        return int(lib.ob_truepeak_latency(self._st))


def true_peak_dbtp(audio: np.ndarray, fs: float, oversample: int = 0) -> float:
    """True peak of a whole signal, dBTP (BS.1770-4 Annex 2).

    Parameters
    ----------
    audio : np.ndarray
        Planar (channels, frames) or mono (frames,) audio, full scale 1.0.
    fs : float
        Sample rate, Hz, 8000..768000.
    oversample : int
        As for :class:`TruePeakMeter` (0: BS.1770 default for the rate).

    Returns
    -------
    float
        The largest true peak over all channels, dBTP; ``-inf`` for silence.
    """
    a = planar(audio)
    meter = TruePeakMeter(fs, a.shape[0], oversample)
    meter.process(a)
    meter.flush()
    return meter.max_dbtp


class Limiter:
    """Lookahead brick-wall true-peak limiter; one gain for all channels.

    The true peak of the input is detected per sample (``oversample`` times
    oversampling, refined by a parabola), the gain needed to keep it under
    the ceiling is held around each peak, ramped in linearly over the
    lookahead (so it is reached before the peak leaves the delay line) and
    released exponentially.  The audio is never clipped.

    Parameters
    ----------
    fs : float
        Sample rate, Hz, 8000..768000.
    channels : int
        Number of channels, 1..64 (linked: the stereo image does not move).
    ceiling_dbtp : float
        Output ceiling, dBTP, -20..0.
    release_ms : float
        Release time constant, ms, 1..1000: after a peak the linear gain
        recovers as ``1 - (1 - g0) * exp(-t / release_ms)``.
    lookahead_ms : float
        Lookahead, ms, 0.5..10; fixed at creation (it sizes the buffers).
    oversample : int
        Oversampling of the peak detector: 4, 8 or 16 (times).

    Notes
    -----
    The detector's filter (24 taps per phase, as the meter's) under-reads
    wide-band content near fs/2 against the band-limited (ideal)
    reconstruction a good DAC approaches: by 0.4 to 4 dB on limited noise,
    clipped drums or a square wave near fs/2.  Offline, pass that
    reconstruction's reading as ``peaks`` (:meth:`process`) and the ceiling
    holds by it too.

    Latency (``latency_samples``) is ``round(lookahead_ms * fs / 1000)``
    samples, at least 20.  The C ``process`` is real-time safe (no
    allocation, no locks); the wrapper allocates a small pointer array.
    """

    def __init__(self, fs: float, channels: int, ceiling_dbtp: float = -1.0,
                 release_ms: float = 50.0, lookahead_ms: float = 1.5, oversample: int = 8):
        fs, channels = _check_common(fs, channels)
        ceiling_dbtp = _check_range("ceiling_dbtp", ceiling_dbtp, *CEILING_RANGE_DBTP, "dBTP")
        release_ms = _check_range("release_ms", release_ms, *RELEASE_RANGE_MS, "ms")
        lookahead_ms = _check_range("lookahead_ms", lookahead_ms, *LOOKAHEAD_RANGE_MS, "ms")
        if oversample not in LIMITER_FACTORS:
            raise ValueError(f"oversample: expected 4, 8 or 16 (times), got {oversample!r}")
        st = lib.ob_limiter_new(fs, channels, ceiling_dbtp, release_ms, lookahead_ms,
                                int(oversample))
        if st == ffi.NULL:
            raise MemoryError("ob_limiter_new failed")
        self._st = st
        self._fin = weakref.finalize(self, lib.ob_limiter_free, st)
        self.fs = fs
        self.channels = channels
        self.lookahead_ms = lookahead_ms
        self.oversample = int(oversample)
        self.ceiling_dbtp = ceiling_dbtp
        self.release_ms = release_ms

    def set(self, ceiling_dbtp: float | None = None, release_ms: float | None = None) -> None:
        """Change the ceiling (dBTP, -20..0) and/or the release (ms, 1..1000).

        A new ceiling applies to audio entering after the call and is reached
        smoothly; a new release time applies at once.  Real-time safe.
        """
        if ceiling_dbtp is not None:
            v = _check_range("ceiling_dbtp", ceiling_dbtp, *CEILING_RANGE_DBTP, "dBTP")
            lib.ob_limiter_set_ceiling(self._st, v)
            self.ceiling_dbtp = v
        if release_ms is not None:
            v = _check_range("release_ms", release_ms, *RELEASE_RANGE_MS, "ms")
            lib.ob_limiter_set_release(self._st, v)
            self.release_ms = v

    def process(self, audio: np.ndarray, peaks: np.ndarray | None = None) -> np.ndarray:
        """Limit a block of a stream, in place; the output is delayed by
        ``latency_samples``.

        Parameters
        ----------
        audio : np.ndarray
            (channels, frames) audio, or (frames,) for one channel.
        peaks : np.ndarray, optional
            Sidechain: (frames,) the caller's true peak of the input (linear,
            linked over the channels) over each interval [i, i + 1) samples,
            e.g. the band-limited reconstruction's
            (:func:`host.dsp.ceiling.interval_peaks`, offline).  The gain keeps
            the larger of it and the detector's reading under the ceiling;
            timing and latency are unchanged.

        Returns
        -------
        np.ndarray
            The processed float32 (channels, frames) array: ``audio`` itself
            when it already is C-contiguous float32 (channels, frames).
        """
        a = _audio(audio, self.channels)
        if peaks is None:
            return process_blocks(lambda p, n, f: lib.ob_limiter_process(self._st, p, n, f), a)
        pk = np.ascontiguousarray(peaks, dtype=np.float64)
        if pk.shape != (a.shape[1],):
            raise ValueError(f"peaks: expected shape ({a.shape[1]},) (one per frame), "
                             f"got {pk.shape}")
        base = ffi.cast("double *", ffi.from_buffer(pk))
        done = [0]

        def run(p, n, f):
            lib.ob_limiter_process_sidechain(self._st, p, base + done[0], n, f)
            done[0] += f

        return process_blocks(run, a)

    def process_aligned(self, audio: np.ndarray, peaks: np.ndarray | None = None) -> np.ndarray:
        """Limit a whole signal and return it time-aligned with the input.

        The limiter is reset first (the call is one whole signal, not a block
        of a stream), then ``audio`` followed by ``latency_samples`` of silence
        is processed and the first ``latency_samples`` output samples are
        dropped.  ``audio`` is not modified.  ``peaks``: as for :meth:`process`,
        one per frame of ``audio``.

        Returns
        -------
        np.ndarray
            float32 (channels, frames), the same shape as ``planar(audio)``.
        """
        a = _audio(audio, self.channels)
        n, lat = a.shape[1], self.latency_samples
        if peaks is not None:
            src = np.asarray(peaks, dtype=np.float64).reshape(-1)
            if src.size != n:
                raise ValueError(f"peaks: expected {n} values (one per frame), got {src.size}")
            peaks = np.zeros(n + lat)
            peaks[:n] = src
        self.reset()
        return process_aligned(lambda x: self.process(x, peaks), a, lat)

    def reset(self) -> None:
        """Clear the delay line, the detector and the gain (real-time safe)."""
        lib.ob_limiter_reset(self._st)

    @property
    def latency_samples(self) -> int:
        """Delay of the output, samples: round(lookahead_ms * fs / 1000), >= 20."""
        return int(lib.ob_limiter_latency(self._st))

    @property
    def gain_reduction_db(self) -> float:
        """Gain reduction applied to the last output sample, dB (>= 0)."""
        return float(lib.ob_limiter_gain_reduction_db(self._st))

    def take_max_gain_reduction_db(self) -> float:
        """Largest gain reduction since the previous take (or creation/reset),
        dB (>= 0); restarts the reading."""
        return float(lib.ob_limiter_take_max_gain_reduction_db(self._st))

    def __repr__(self) -> str:
        return (f"Limiter(fs={self.fs:g}, channels={self.channels}, "
                f"ceiling_dbtp={self.ceiling_dbtp:g}, release_ms={self.release_ms:g}, "
                f"lookahead_ms={self.lookahead_ms:g}, oversample={self.oversample})")
