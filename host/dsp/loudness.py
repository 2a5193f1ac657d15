"""ITU-R BS.1770-4 / EBU R 128 loudness meter (C kernel ``native/loudness.c``).

Momentary (400 ms), short-term (3 s), integrated (gated, -70 LUFS absolute and
-10 LU relative), loudness range (EBU Tech 3342) and sample peak, measured in
one streaming pass with bounded memory.  True peak is measured elsewhere
(``native/truepeak.c``).

Channel weights (BS.1770-4 Table 3) follow the speaker layout: a WAV's
WAVE_FORMAT_EXTENSIBLE channel mask when it has one (:func:`channel_weights`),
else the standard layout of the channel count (5: L R C Ls Rs; 6: L R C LFE
Ls Rs; 8: L R C LFE Ls Rs Lrs Rrs).  L, R, C and the other front channels
weigh 1.0, surrounds (side and back) 1.41, the LFE 0 (it is not measured).
"""

from __future__ import annotations

import weakref

import numpy as np

from host._ffi import ChannelPointers, check, ffi, lib, planar
from host.audiofile import SPEAKERS, STANDARD_MASKS

FS_MIN_HZ = 8000.0
FS_MAX_HZ = 768000.0
WEIGHT_MAX = 16.0
HOP_S = 0.1
TICK_S = 0.01
#: BS.1770 weight of each speaker position of a channel mask: the LFE is left out,
#: surrounds (side and back, at ear height) weigh +1.5 dB; everything else 1.0
SURROUND_WEIGHT = 1.41
POSITION_WEIGHTS = {"LFE": 0.0, "BL": SURROUND_WEIGHT, "BR": SURROUND_WEIGHT,
                    "BC": SURROUND_WEIGHT, "SL": SURROUND_WEIGHT, "SR": SURROUND_WEIGHT}


def channel_weights(channels: int, channel_mask: int | None = None) -> list[float]:
    """BS.1770 weights G_i of ``channels`` channels laid out as ``channel_mask``.

    Parameters
    ----------
    channels : int
        Channel count, 1..64.
    channel_mask : int, optional
        WAVE_FORMAT_EXTENSIBLE dwChannelMask (host.audiofile.SPEAKERS: bit k is
        speaker k; the channels are the set bits in order).  None or 0: the
        standard layout of the count (host.audiofile.STANDARD_MASKS), or every
        channel 1.0 for a count without one.  Channels beyond the mask's bits
        have no position and weigh 1.0.

    Returns
    -------
    list of float
        One linear power weight per channel: 1.0 (front), 1.41 (side and back
        surrounds), 0.0 (LFE).
    """
    mask = channel_mask or STANDARD_MASKS.get(channels, 0)
    positions = [name for k, name in enumerate(SPEAKERS) if mask >> k & 1][:channels]
    return [POSITION_WEIGHTS.get(name, 1.0) for name in positions] + \
        [1.0] * (channels - len(positions))


def _channels_arg(channels: int) -> int:
    if isinstance(channels, bool) or not isinstance(channels, (int, np.integer)):
        raise ValueError(f"channels: expected an integer 1..{lib.OB_MAX_CHANNELS}, "
                         f"got {channels!r}")
    if not 1 <= channels <= lib.OB_MAX_CHANNELS:
        raise ValueError(f"channels: expected 1..{lib.OB_MAX_CHANNELS}, got {channels}")
    return int(channels)


def _fs_arg(fs: float) -> float:
    try:
        f = float(fs)
    except (TypeError, ValueError):
        raise ValueError(f"fs: expected a sample rate in Hz, got {fs!r}") from None
    if not FS_MIN_HZ <= f <= FS_MAX_HZ:
        raise ValueError(f"fs: sample rate in Hz, expected {FS_MIN_HZ:g}..{FS_MAX_HZ:g}, got {fs}")
    return f


class LoudnessMeter:
    """Streaming BS.1770-4 / EBU R 128 loudness meter.

    Parameters
    ----------
    fs : float
        Sample rate in Hz, 8000..768000.  M, S and their maxima are updated
        every 10 ms (``round(fs / 100)`` samples); the gating blocks of the
        integrated loudness and the S values of LRA step by 100 ms.
    channels : int
        1..64.  Weights default to 1.0, except 5 channels (L R C Ls Rs):
        Ls, Rs = 1.41, 6 channels (L R C LFE Ls Rs): LFE = 0, Ls, Rs = 1.41,
        and 8 channels (L R C LFE Ls Rs Lrs Rrs): LFE = 0, surrounds 1.41.
    channel_mask : int, optional
        The layout of a file's channels (its WAVE_FORMAT_EXTENSIBLE mask): the
        weights are then :func:`channel_weights` of it.

    Notes
    -----
    Feed audio with :meth:`process` in blocks of any size: the figures do not
    depend on how the signal is cut.  ``process`` only reads the audio.  The C
    kernel's process is real-time safe (no allocation, locks or system calls)
    and so are its getters; this Python wrapper is not meant for an audio
    callback.  Every level reads ``-inf`` while nothing has been measured (or
    everything is gated).  Integrated loudness and LRA come from 0.01 dB
    histograms of block energies (within 0.05 LU of exact gating, see
    ``native/loudness.h``).
    """

    def __init__(self, fs: float, channels: int, channel_mask: int | None = None):
        self.fs = _fs_arg(fs)
        self.channels = _channels_arg(channels)
        st = lib.ob_loudness_new(self.fs, self.channels)
        if st == ffi.NULL:
            raise MemoryError("ob_loudness_new failed")
        self._st = st
        self._fin = weakref.finalize(self, lib.ob_loudness_free, st)
        self._reading = ffi.new("ob_loudness_reading *")
        if channel_mask:
            for c, w in enumerate(channel_weights(self.channels, channel_mask)):
                self.set_channel_weight(c, w)

    # -- feeding -----------------------------------------------------------------
    def process(self, audio: np.ndarray) -> None:
        """Measure a block of audio.

        Parameters
        ----------
        audio : np.ndarray
            Planar (channels, frames) samples, full scale 1.0, or 1-D for a
            one-channel meter.  Converted to float32; never modified.
        """
        a = np.asarray(audio)
        if a.ndim == 1:
            a = a[np.newaxis, :]
        if a.ndim != 2 or a.shape[0] != self.channels:
            raise ValueError(f"audio: expected shape ({self.channels}, frames)"
                             f"{' or (frames,)' if self.channels == 1 else ''}, "
                             f"got {np.shape(audio)}")
        a = planar(a)
        n = a.shape[1]
        if n == 0:
            return
        cp = ChannelPointers(a)
        ptr = ffi.new("float *[]", self.channels)
        step = 1 << 24
        for start in range(0, n, step):
            for c in range(self.channels):
                ptr[c] = cp.ptr[c] + start
            check(lib.ob_loudness_process(self._st, ptr, self.channels, min(step, n - start)),
                  "ob_loudness_process")

    def reset(self) -> None:
        """Forget every measurement and the filter history (weights are kept)."""
        lib.ob_loudness_reset(self._st)

    def set_channel_weight(self, ch: int, weight: float) -> None:
        """Set the BS.1770 weight G of one channel.

        Parameters
        ----------
        ch : int
            Channel index, 0..channels-1.
        weight : float
            Linear power weight, 0.0..16.0 (1.41 is +1.5 dB, for surrounds).
            Applies from the 10 ms tick in progress on.
        """
        if not 0 <= ch < self.channels:
            raise ValueError(f"ch: channel index, expected 0..{self.channels - 1}, got {ch}")
        if not 0.0 <= weight <= WEIGHT_MAX:
            raise ValueError(f"weight: linear power factor, expected 0.0..{WEIGHT_MAX:g}, "
                             f"got {weight}")
        check(lib.ob_loudness_set_channel_weight(self._st, ch, float(weight)),
              "ob_loudness_set_channel_weight")

    def channel_weight(self, ch: int) -> float:
        """The weight G of channel ``ch`` (linear power factor)."""
        if not 0 <= ch < self.channels:
            raise ValueError(f"ch: channel index, expected 0..{self.channels - 1}, got {ch}")
        return float(lib.ob_loudness_channel_weight(self._st, ch))

    def k_weighting(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """The K-weighting filter at this meter's rate, as [(b, a), (b, a)].

        Stage 1 is the high shelf, stage 2 the RLB high pass; ``a[0] == 1``.
        At 48 kHz these are the BS.1770 table's coefficients.
        """
        b = ffi.new("double[3]")
        a = ffi.new("double[3]")
        out = []
        for stage in (1, 2):
            check(lib.ob_loudness_kweighting(self._st, stage, b, a), "ob_loudness_kweighting")
            out.append((np.array(list(b)), np.array(list(a))))
        return out

    # -- readings ----------------------------------------------------------------
    @property
    def latency_samples(self) -> int:
        """Always 0: the meter does not delay audio."""
        return int(lib.ob_loudness_latency(self._st))

    @property
    def blocks(self) -> int:
        """Number of 100 ms hops completed since reset."""
        return int(lib.ob_loudness_blocks(self._st))

    @property
    def momentary_lufs(self) -> float:
        """Loudness of the last 400 ms, LUFS (updated every 10 ms)."""
        return float(lib.ob_loudness_momentary(self._st))

    @property
    def short_term_lufs(self) -> float:
        """Loudness of the last 3 s, LUFS (updated every 10 ms)."""
        return float(lib.ob_loudness_short_term(self._st))

    @property
    def momentary_max_lufs(self) -> float:
        """Highest momentary loudness since reset, LUFS."""
        return float(lib.ob_loudness_momentary_max(self._st))

    @property
    def short_term_max_lufs(self) -> float:
        """Highest short-term loudness since reset, LUFS."""
        return float(lib.ob_loudness_short_term_max(self._st))

    @property
    def integrated_lufs(self) -> float:
        """Gated integrated loudness since reset (BS.1770-4), LUFS."""
        return float(lib.ob_loudness_integrated(self._st))

    @property
    def loudness_range_lu(self) -> float:
        """Loudness range since reset (EBU Tech 3342), LU."""
        return float(lib.ob_loudness_range(self._st))

    @property
    def sample_peak_dbfs(self) -> float:
        """Highest |sample| of any channel since reset, dBFS."""
        return float(lib.ob_loudness_sample_peak(self._st, -1))

    @property
    def sample_peak_per_channel_dbfs(self) -> list[float]:
        """Highest |sample| of each channel since reset, dBFS."""
        return [float(lib.ob_loudness_sample_peak(self._st, c)) for c in range(self.channels)]

    @property
    def nonfinite_samples(self) -> int:
        """Number of NaN/Inf input samples seen since reset (measured as 0)."""
        lib.ob_loudness_read(self._st, self._reading)
        return int(self._reading.nonfinite)

    def read(self) -> dict[str, float | int]:
        """All live values in one call (what a meter display polls).

        Returns
        -------
        dict
            ``momentary_lufs``, ``short_term_lufs``, ``momentary_max_lufs``,
            ``short_term_max_lufs``, ``sample_peak_dbfs``, ``blocks`` (100 ms
            hops since reset), ``ticks`` (10 ms updates of M and S since reset)
            and ``nonfinite`` (NaN/Inf samples seen).
        """
        r = self._reading
        lib.ob_loudness_read(self._st, r)
        return {
            "momentary_lufs": float(r.momentary_lufs),
            "short_term_lufs": float(r.short_term_lufs),
            "momentary_max_lufs": float(r.momentary_max_lufs),
            "short_term_max_lufs": float(r.short_term_max_lufs),
            "sample_peak_dbfs": float(r.sample_peak_dbfs),
            "blocks": int(r.blocks),
            "ticks": int(r.ticks),
            "nonfinite": int(r.nonfinite),
        }


def _as_planar(audio: np.ndarray) -> np.ndarray:
    a = np.asarray(audio)
    if a.ndim not in (1, 2):
        raise ValueError(f"audio: expected (channels, frames) or (frames,), got shape {a.shape}")
    if a.ndim == 2 and a.shape[0] > lib.OB_MAX_CHANNELS:
        hint = " (it looks like (frames, channels): pass audio.T)" if (
            a.shape[1] <= lib.OB_MAX_CHANNELS) else ""
        raise ValueError(f"audio: expected (channels, frames) with 1..{lib.OB_MAX_CHANNELS} "
                         f"channels, got shape {a.shape}{hint}")
    return planar(a)


def loudness_history(audio: np.ndarray, fs: float, hop_s: float = HOP_S,
                     meter: LoudnessMeter | None = None) -> dict[str, np.ndarray]:
    """Momentary and short-term loudness over time, for plots and reports.

    Parameters
    ----------
    audio : np.ndarray
        Planar (channels, frames), or 1-D for mono; full scale 1.0.
    fs : float
        Sample rate in Hz, 8000..768000.
    hop_s : float
        Polling interval in seconds, 0.01..60.  The meter updates M and S
        every 10 ms, so a multiple of 0.01 s gives one fresh value per row.
    meter : LoudnessMeter, optional
        The meter to feed (fresh, at ``fs``, with the audio's channels); the
        caller can go on with it (the trailing part, whole-program figures).

    Returns
    -------
    dict of np.ndarray
        One row per complete ``hop_s`` of audio (a trailing part is measured
        but not polled).  ``time_s``: end of the windows measured, s (the last
        completed 10 ms tick); ``momentary_lufs`` (400 ms window) and
        ``short_term_lufs`` (3 s window), LUFS, ``-inf`` before the window
        has filled; ``integrated_lufs``, gated over the audio so far (LUFS).
    """
    if not TICK_S - 1e-9 <= hop_s <= 60.0:
        raise ValueError(f"hop_s: polling interval in s, expected {TICK_S:g}..60, got {hop_s}")
    a = _as_planar(audio)
    meter = meter if meter is not None else LoudnessMeter(fs, a.shape[0])
    step = int(round(hop_s * meter.fs))
    tick = int(round(meter.fs / 100.0))
    rows = a.shape[1] // step
    t = np.empty(rows)
    m = np.empty(rows)
    s = np.empty(rows)
    i_run = np.empty(rows)
    for i in range(rows):
        meter.process(a[:, i * step:(i + 1) * step])
        r = meter.read()
        t[i] = r["ticks"] * tick / meter.fs
        m[i] = r["momentary_lufs"]
        s[i] = r["short_term_lufs"]
        i_run[i] = meter.integrated_lufs
    return {"time_s": t, "momentary_lufs": m, "short_term_lufs": s, "integrated_lufs": i_run}


def integrated_loudness(audio: np.ndarray, fs: float, channel_mask: int | None = None) -> float:
    """Gated integrated loudness (BS.1770-4) of a whole signal, LUFS.

    Parameters
    ----------
    audio : np.ndarray
        Planar (channels, frames), or 1-D for mono; full scale 1.0.  Channel
        weights follow :class:`LoudnessMeter` (5, 6 and 8 channel layouts).
    fs : float
        Sample rate in Hz, 8000..768000.
    channel_mask : int, optional
        The channels' layout (a WAV's channel mask, :func:`channel_weights`).

    Returns
    -------
    float
        LUFS; ``-inf`` for a signal shorter than 400 ms or entirely below
        the -70 LUFS gate.
    """
    a = _as_planar(audio)
    meter = LoudnessMeter(fs, a.shape[0], channel_mask)
    meter.process(a)
    return meter.integrated_lufs
