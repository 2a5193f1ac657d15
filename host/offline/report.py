"""Per-deliverable reports: the figures of a written file (JSON) and a picture of them (PNG).

After each deliverable is written, :func:`measure_program` measures it in one
pass and returns a JSON-ready dict; :func:`write_report` stores that dict as
JSON and draws it with :func:`plot_report`::

    report = measure_program(audio.data, audio.sample_rate, ceiling_dbtp=-1.0,
                             gain_reduction=result.gr_traces)
    report["target_lufs"] = -14.0                       # optional: drawn as a line
    write_report("song.json", "song.png", report, "song - streaming")

What is measured
----------------
- loudness (BS.1770-4 / EBU R 128, :class:`host.dsp.loudness.LoudnessMeter`):
  momentary, short-term and the running integrated loudness every ``hop_s``;
- true peak (BS.1770-4 Annex 2, :class:`host.dsp.limiter.TruePeakMeter`, the
  BS.1770 oversampling factor for the rate: 4x below 96 kHz): the whole
  program, an envelope per ``hop_s`` and every *over* of the ceiling;
- stereo: Pearson correlation of L and R, whole program and per 400 ms window,
  and the loudness lost in a mono fold-down;
- long-term average spectrum of mid and side in 1/6-octave bands.

Nothing here is real-time safe: these are offline measurements of whole files.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from host.audiofile import atomic_path
from host.dsp.limiter import TruePeakMeter
from host.dsp.loudness import LoudnessMeter, integrated_loudness, loudness_history

__all__ = ["measure_loudness", "measure_program", "plot_report", "write_report"]

#: true-peak blocks of the envelope and of the over search, s
TP_BLOCK_S = 0.01
#: resolution of an over's start and peak time, s
OVER_RESOLUTION_S = 0.001
#: true-peak readings above the ceiling closer than this are one over, s
OVER_MERGE_S = 0.01
#: stereo correlation window, s (as long as the momentary loudness window)
CORRELATION_WINDOW_S = 0.4
#: a correlation window quieter than this (RMS of L and R, dBFS) is drawn greyed:
#: what the correlation of silence or a noise floor says is no phase fault
CORRELATION_QUIET_DBFS = -50.0
#: at most this many points per gain-reduction trace in the report
GR_MAX_POINTS = 2000
#: spectrum bands per octave, and the span of band centres, Hz
BANDS_PER_OCTAVE = 6
SPECTRUM_RANGE_HZ = (20.0, 20000.0)
#: Welch segment length aims at this frequency resolution, Hz
SPECTRUM_RESOLUTION_HZ = 0.4
#: hop range, s (the loudness meter updates every 10 ms)
HOP_RANGE_S = (0.01, 60.0)
FS_RANGE_HZ = (8000, 768000)
MAX_CHANNELS = 64

# A true-peak block is metered by a freshly reset meter fed the block, the
# ``_PREROLL`` samples before it (of which the first ``_FADE`` fade in, so the
# meter's empty history meets a signal that starts from zero instead of a step)
# and the interpolator's latency after it.  Every value interpolated between
# one sample before the block and its end is then exact; the pre-roll can add
# (faded) readings of the 1 ms before the block, never spurious steps.
_FADE = 32
_PREROLL = _FADE + 12
_METER_ROWS = 64  # segments x channels metered in one call


# -- argument checks -------------------------------------------------------------------

def _check_data(data: np.ndarray) -> np.ndarray:
    a = np.asarray(data)
    if a.ndim == 1:
        a = a[np.newaxis, :]
    if a.ndim != 2:
        raise ValueError(f"data: expected planar audio shaped (channels, frames), "
                         f"got a {a.ndim}-D array of shape {a.shape}")
    if not np.issubdtype(a.dtype, np.number) or np.iscomplexobj(a):
        raise ValueError(f"data: expected real float samples, got dtype {a.dtype}")
    ch, n = a.shape
    if not 1 <= ch <= MAX_CHANNELS:
        hint = " (it looks like (frames, channels): pass data.T)" if n <= MAX_CHANNELS else ""
        raise ValueError(f"data: expected (channels, frames) with 1..{MAX_CHANNELS} channels, "
                         f"got shape {a.shape}{hint}")
    if n == 0:
        raise ValueError("data: expected at least one frame of audio, got 0 frames")
    a = np.ascontiguousarray(a, dtype=np.float32)
    bad = ~np.isfinite(a)
    if bad.any():
        c, i = np.argwhere(bad)[0]
        raise ValueError(f"data: expected finite samples, got {int(bad.sum())} NaN/Inf "
                         f"(first at channel {c + 1}, frame {i})")
    return a


def _check_fs(fs: int) -> int:
    if isinstance(fs, bool) or not isinstance(fs, (int, np.integer, float)) or not (
            math.isfinite(fs) and float(fs) == int(fs)):
        raise ValueError(f"fs: expected a whole sample rate in Hz, got {fs!r}")
    if not FS_RANGE_HZ[0] <= fs <= FS_RANGE_HZ[1]:
        raise ValueError(f"fs: expected {FS_RANGE_HZ[0]}..{FS_RANGE_HZ[1]} Hz, got {fs}")
    return int(fs)


def _check_gr(gain_reduction: dict | None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    if gain_reduction is None:
        return {}
    if not isinstance(gain_reduction, dict):
        raise ValueError("gain_reduction: expected a dict {stage name: (time_s, gr_db)}, "
                         f"got {type(gain_reduction).__name__}")
    out = {}
    for name, trace in gain_reduction.items():
        key = f"gain_reduction[{name!r}]"
        try:
            t, g = trace
            t = np.asarray(t, dtype=float)
            g = np.asarray(g, dtype=float)
        except (TypeError, ValueError):
            raise ValueError(f"{key}: expected a pair (time_s, gr_db) of 1-D arrays") from None
        if t.ndim != 1 or g.ndim != 1 or t.shape != g.shape:
            raise ValueError(f"{key}: expected time_s and gr_db as 1-D arrays of equal length, "
                             f"got shapes {t.shape} and {g.shape}")
        if not (np.isfinite(t).all() and np.isfinite(g).all()):
            raise ValueError(f"{key}: expected finite times (s) and gain reductions (dB)")
        out[str(name)] = (t, g)
    return out


# -- JSON-ready numbers ----------------------------------------------------------------

def _num(v: float | None, nd: int = 2) -> float | None:
    """A plain rounded float, or None for None/NaN/inf (JSON has neither)."""
    if v is None:
        return None
    v = float(v)
    return round(v, nd) if math.isfinite(v) else None


def _nums(a: np.ndarray, nd: int = 2) -> list[float | None]:
    return [_num(v, nd) for v in np.asarray(a, dtype=float)]


# -- loudness ----------------------------------------------------------------------------

def _loudness(data: np.ndarray, fs: int, hop: int,
              channel_mask: int | None = None) -> tuple[dict, dict]:
    """History every ``hop`` samples and the whole-program figures, one pass."""

    meter = LoudnessMeter(fs, data.shape[0], channel_mask=channel_mask)
    h = loudness_history(data, fs, hop / fs, meter=meter)
    meter.process(data[:, len(h["time_s"]) * hop:])   # the trailing part, for the totals
    history = {"time_s": _nums(h["time_s"], 3), "momentary_lufs": _nums(h["momentary_lufs"]),
               "short_term_lufs": _nums(h["short_term_lufs"]),
               "integrated_lufs": _nums(h["integrated_lufs"])}
    whole = {"integrated_lufs": meter.integrated_lufs,
             "loudness_range_lu": meter.loudness_range_lu,
             "momentary_max_lufs": meter.momentary_max_lufs,
             "short_term_max_lufs": meter.short_term_max_lufs}
    return history, whole


# -- true peak ---------------------------------------------------------------------------

def _segment_true_peaks(data: np.ndarray, fs: int, starts: np.ndarray,
                        length: int) -> np.ndarray:
    """True peak of each channel in each segment [start, start + length), linear.

    The BS.1770 meter (:class:`TruePeakMeter`) reads many segments at once: each
    (segment, channel) pair is one channel of a 64-channel meter, reset between
    calls; see ``_PREROLL``.  Beyond the end of ``data`` the signal is silence.

    Returns
    -------
    np.ndarray
        (segments, channels), peak magnitude re full scale 1.0 (0 for silence).
    """

    ch, n = data.shape
    meter = TruePeakMeter(fs, _METER_ROWS)
    lat = meter.latency_samples
    width = _PREROLL + length + lat
    pad = np.zeros((ch, _PREROLL + n + length + lat), dtype=np.float32)
    pad[:, _PREROLL:_PREROLL + n] = data  # segment at start a reads pad[a : a + width]
    ramp = np.arange(_FADE) + 0.5
    fade = (0.5 - 0.5 * np.cos(np.pi * ramp / _FADE)).astype(np.float32)
    offsets = np.arange(width)
    per_call = _METER_ROWS // ch
    out = np.zeros((len(starts), ch))
    rows = np.zeros((_METER_ROWS, width), dtype=np.float32)
    for g in range(0, len(starts), per_call):
        st = np.asarray(starts[g:g + per_call])
        k = len(st)
        seg = pad[:, st[:, None] + offsets]            # (ch, k, width)
        rows[:] = 0.0
        rows[:k * ch] = seg.transpose(1, 0, 2).reshape(k * ch, width)
        rows[:k * ch, :_FADE] *= fade
        meter.reset()
        meter.process(rows)
        dbtp = np.array(meter.max_dbtp_per_channel[:k * ch])
        out[g:g + k] = (10.0 ** (dbtp / 20.0)).reshape(k, ch)  # -inf -> 0
    return out


def _overs(data: np.ndarray, fs: int, block: int, peaks: np.ndarray,
           ceiling_dbtp: float) -> list[dict]:
    """Runs of true peak above the ceiling, located to ``OVER_RESOLUTION_S``."""
    ceiling = 10.0 ** (ceiling_dbtp / 20.0)
    hot = np.flatnonzero(peaks.max(axis=1) > ceiling)
    if hot.size == 0:
        return []
    n = data.shape[1]
    fine = max(1, int(round(OVER_RESOLUTION_S * fs)))
    # fine segments covering every hot block and the 2 ms before it (a block's
    # reading includes the faded pre-roll), on a grid of ``fine`` samples
    first = np.maximum(0, hot * block - 2 * fine) // fine
    last = np.minimum(n, (hot + 1) * block + fine - 1) // fine
    grid = [np.arange(f, e + 1) for f, e in zip(first, last, strict=True)]
    spans = np.unique(np.concatenate(grid)) * fine
    spans = spans[spans < n]
    fpk = _segment_true_peaks(data, fs, spans, fine)
    over_idx = np.flatnonzero(fpk.max(axis=1) > ceiling)
    merge = int(round(OVER_MERGE_S * fs))
    runs: list[list[int]] = []
    for i in over_idx:
        if runs and spans[i] - spans[runs[-1][-1]] - fine < merge:
            runs[-1].append(i)
        else:
            runs.append([i])
    overs = []
    for run in runs:
        r = np.array(run)
        flat = int(np.argmax(fpk[r]))
        j, c = divmod(flat, fpk.shape[1])
        overs.append({
            "time_s": _num(spans[r[0]] / fs, 3),
            "end_s": _num(min(n, spans[r[-1]] + fine) / fs, 3),
            "peak_time_s": _num(spans[r[j]] / fs, 3),
            "dbtp": _num(20.0 * math.log10(fpk[r[j], c])),
            "channel": c + 1,
        })
    return overs


# -- stereo ------------------------------------------------------------------------------

def _pearson(x: np.ndarray, y: np.ndarray) -> float | None:
    """Pearson correlation; None if both are constant, 0.0 if only one is."""
    x = x.astype(np.float64) - x.mean(dtype=np.float64)
    y = y.astype(np.float64) - y.mean(dtype=np.float64)
    sxx = float(np.dot(x, x))
    syy = float(np.dot(y, y))
    if sxx == 0.0 and syy == 0.0:
        return None
    if sxx == 0.0 or syy == 0.0:
        return 0.0
    r = float(np.dot(x, y)) / math.sqrt(sxx * syy)
    return max(-1.0, min(1.0, r))


def _sliding(combine, a: np.ndarray, k: int) -> np.ndarray:
    """``combine`` folded over every ``k`` (>= 1) consecutive columns of ``a``:
    ``out[:, i]`` = the columns ``i .. i + k - 1`` combined, shape (rows, n - k + 1).

    ``combine(left, right)`` is associative (a sum, a maximum, a merge of
    statistics).  By doubling (runs of 1, 2, 4 ... columns, each made of two
    of the size before), then one run per set bit of ``k``: O(n log k), and
    nothing is ever subtracted from a running total, so a quiet window after a
    loud one keeps its precision.
    """
    width = a.shape[1] - k + 1
    out = None
    span, pos, level = 1, 0, a
    while True:
        if k & span:
            piece = level[:, pos:pos + width]
            out = piece if out is None else combine(out, piece)
            pos += span
        if 2 * span > k:
            return out
        level = combine(level[:, :-span], level[:, span:])
        span *= 2


def _block_stats(xy: np.ndarray) -> np.ndarray:
    """Per block of (2, blocks, length) float64 samples x, y: rows 0-5 the
    length, mean x, mean y and the centred sums of x², y², xy; rows 6-9 the
    largest x, y, -x, -y."""
    out = np.empty((10, xy.shape[1]))
    out[0] = xy.shape[2]
    out[1:3] = xy.mean(axis=2)
    c = xy - out[1:3, :, None]
    out[3:5] = np.einsum("cbi,cbi->cb", c, c)     # einsum's own loops: no BLAS
    out[5] = np.einsum("bi,bi->b", c[0], c[1])
    out[6:8] = xy.max(axis=2)
    out[8:10] = -xy.min(axis=2)
    return out


def _merge_stats(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The statistics of two adjacent runs (rows of :func:`_block_stats`) as
    one: the pairwise update of Chan, Golub and LeVeque (1979), stable where a
    window's mean is far larger than its variation."""
    out = np.empty_like(a)
    na, nb = a[0], b[0]
    out[0] = n = na + nb
    d = b[1:3] - a[1:3]
    out[1:3] = a[1:3] + d * (nb / n)
    w = na * nb / n
    out[3:5] = a[3:5] + b[3:5] + d * d * w
    out[5] = a[5] + b[5] + d[0] * d[1] * w
    out[6:10] = np.maximum(a[6:10], b[6:10])
    return out


def _window_stats(data: np.ndarray, hop: int, win: int) -> tuple[np.ndarray, np.ndarray]:
    """The statistics of :func:`_block_stats` over each window of ``win``
    frames ending at a whole number ``j`` of hops (``j * hop >= win``).

    A window is ``q`` whole hops and the last ``r`` frames of the hop before
    them (``win = q * hop + r``): each hop's statistics are taken once (in
    chunks), and a window's merged from those of its parts (:func:`_sliding`).

    Returns
    -------
    (ends, stats)
        ends: window ends in frames; stats: (10, windows).
    """
    nhop = data.shape[1] // hop
    q, r = divmod(win, hop)
    first = -(-win // hop)
    if nhop < first:
        return np.zeros(0, dtype=int), np.zeros((10, 0))
    whole = np.empty((10, nhop))
    part = np.empty((10, nhop))
    per = max(1, (1 << 18) // hop)               # hops per chunk: 2 MiB of float64 a channel
    for j in range(0, nhop, per):
        k = min(per, nhop - j)
        xy = data[:2, j * hop:(j + k) * hop].astype(np.float64).reshape(2, k, hop)
        whole[:, j:j + k] = _block_stats(xy)
        if r:
            part[:, j:j + k] = _block_stats(xy[:, :, hop - r:])
    ends = np.arange(first, nhop + 1)            # in hops
    if not q:
        return ends * hop, part[:, ends - 1]
    stats = _sliding(_merge_stats, whole, q)[:, ends - q]
    if r:
        stats = _merge_stats(part[:, ends - q - 1], stats)
    return ends * hop, stats


def _stereo(data: np.ndarray, fs: int, hop: int) -> dict:
    """L/R correlation and level over each ``CORRELATION_WINDOW_S`` window
    ending at a multiple of ``hop``: per window the figure of :func:`_pearson`
    (None where both channels are constant, 0.0 where one is), from window
    sums (:func:`_window_stats`) instead of dot products per window, which a
    threaded BLAS makes many times slower on a busy machine (0.58 s against
    0.02 s for 30 s of stereo)."""
    win = int(round(CORRELATION_WINDOW_S * fs))
    ends, s = _window_stats(data, hop, win)
    constant = (s[6:8] + s[8:10]) == 0.0         # max x == min x in the window
    cxx = np.where(constant[0], 0.0, s[3])
    cyy = np.where(constant[1], 0.0, s[4])
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.clip(s[5] / np.sqrt(cxx * cyy), -1.0, 1.0)
        level_db = 10.0 * np.log10((cxx + cyy) / (2 * win))
    r[cxx * cyy == 0.0] = 0.0
    r[constant[0] & constant[1]] = np.nan
    return {"time_s": _nums(ends / fs, 3), "correlation": _nums(r, 4),
            "level_dbfs": _nums(level_db, 1), "window_s": CORRELATION_WINDOW_S,
            "quiet_dbfs": CORRELATION_QUIET_DBFS}


# -- spectrum ----------------------------------------------------------------------------

def _welch_psd(x: np.ndarray, fs: int) -> tuple[np.ndarray, np.ndarray]:
    """One-sided power spectral density, power / Hz (Welch: Hann, 50 % overlap,
    mean removed per segment), the same estimate as ``scipy.signal.welch``."""
    n = x.shape[-1]
    if n < 2:  # one sample, its mean removed: no power at any frequency (and no window)
        return np.zeros(1), np.zeros(1)
    nper = 2 ** int(round(math.log2(fs / SPECTRUM_RESOLUTION_HZ)))
    nper = min(nper, 2 ** int(math.floor(math.log2(n))))
    step = max(1, nper // 2)
    win = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(nper) / nper)  # periodic Hann
    scale = 1.0 / (fs * float(np.sum(win ** 2)))
    segments = np.lib.stride_tricks.sliding_window_view(x, nper)[::step]
    acc = np.zeros(nper // 2 + 1)
    for g in range(0, len(segments), 8):
        seg = segments[g:g + 8] - segments[g:g + 8].mean(axis=1, keepdims=True)
        seg *= win
        spec = np.fft.rfft(seg, axis=1)
        # |X|^2 as re^2 + im^2 summed over the segments (np.abs would take a root first)
        acc += np.einsum("ij,ij->j", spec.real, spec.real)
        acc += np.einsum("ij,ij->j", spec.imag, spec.imag)
    psd = acc * scale / len(segments)
    if nper % 2 == 0:
        psd[1:-1] *= 2.0
    else:
        psd[1:] *= 2.0
    return np.fft.rfftfreq(nper, 1.0 / fs), psd


def _band_levels(freqs: np.ndarray, psd: np.ndarray, lo: np.ndarray,
                 hi: np.ndarray) -> np.ndarray:
    """Power in each band [lo, hi) Hz, dB re 0.5 (the power of a full-scale sine).

    Bin k holds the power ``psd[k] * df`` spread evenly over [(k - 1/2) df,
    (k + 1/2) df); a band takes the share of each bin it overlaps, so the bands
    narrower than a bin still read the power density there.
    """
    df = freqs[1] - freqs[0] if len(freqs) > 1 else 1.0
    out = np.empty(len(lo))
    for i, (a, b) in enumerate(zip(lo, hi, strict=True)):
        k0 = max(0, int(math.floor(a / df + 0.5)))
        k1 = min(len(psd) - 1, int(math.floor(b / df + 0.5)))
        k = np.arange(k0, k1 + 1)
        share = np.clip(np.minimum(b, (k + 0.5) * df) - np.maximum(a, (k - 0.5) * df), 0.0, None)
        p = float(np.dot(psd[k0:k1 + 1], share))
        out[i] = 10.0 * math.log10(p / 0.5) if p > 0 else -math.inf
    return out


def _spectrum(data: np.ndarray, fs: int) -> dict:
    ch = data.shape[0]
    top = min(SPECTRUM_RANGE_HZ[1], fs / 2)
    k0 = math.ceil(BANDS_PER_OCTAVE * math.log2(SPECTRUM_RANGE_HZ[0] / 1000.0) - 0.5)
    k1 = math.floor(BANDS_PER_OCTAVE * math.log2(top / 1000.0) + 0.5)
    centres = 1000.0 * 2.0 ** (np.arange(k0, k1 + 1) / BANDS_PER_OCTAVE)
    half = 2.0 ** (1.0 / (2 * BANDS_PER_OCTAVE))
    lo, hi = centres / half, np.minimum(centres * half, fs / 2)
    keep = lo < hi
    centres, lo, hi = centres[keep], lo[keep], hi[keep]
    x = data.astype(np.float64)
    parts = {"mid": x.mean(axis=0)}
    if ch == 2:
        parts["side"] = (x[0] - x[1]) / 2.0
    levels = {}
    for name, sig in parts.items():
        f, p = _welch_psd(sig, fs)
        levels[name] = _nums(_band_levels(f, p, lo, hi))
    return {"freq_hz": _nums(centres), "band_lo_hz": _nums(lo), "band_hi_hz": _nums(hi),
            "level_db": levels,
            "bands_per_octave": BANDS_PER_OCTAVE,
            "reference": "band power re the power of a full-scale sine (0 dB)"}


# -- gain reduction ----------------------------------------------------------------------

def _gr_entry(t: np.ndarray, g: np.ndarray) -> dict:
    max_db = float(g.max()) if g.size else 0.0
    if g.size > GR_MAX_POINTS:  # keep each bucket's largest reduction, at its time
        buckets = np.array_split(np.arange(g.size), GR_MAX_POINTS)
        pick = np.array([b[np.argmax(g[b])] for b in buckets])
        t, g = t[pick], g[pick]
    return {"time_s": _nums(t, 3), "gr_db": _nums(g), "max_db": _num(max_db)}


# -- the report --------------------------------------------------------------------------

def measure_program(data: np.ndarray, fs: int, *, ceiling_dbtp: float | None = None,
                    gain_reduction: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
                    hop_s: float = 0.1, channel_mask: int | None = None) -> dict:
    """Measure a whole program for its deliverable report.

    Parameters
    ----------
    data : np.ndarray
        Planar (channels, frames) audio, full scale 1.0, 1..64 channels (1-D is
        mono).  The stereo figures need exactly 2 channels (L, R); with any
        other count they are None.
    fs : int
        Sample rate, Hz, 8000..768000.
    ceiling_dbtp : float or None
        True-peak ceiling of the deliverable, dBTP; None: 0.0 dBTP.  Every
        true peak above it is listed as an over.
    gain_reduction : dict or None
        {stage name: (time_s, gr_db)}: gain reduction of each dynamics stage
        over time (s; dB >= 0, as ``MasterResult.gr_traces``), copied into the
        report, at most ``GR_MAX_POINTS`` points each (the largest reduction of
        each bucket kept).
    hop_s : float
        Interval of the time series, s, 0.01..60 (a multiple of 0.01 s gives
        fresh loudness readings every row).
    channel_mask : int or None
        The channels' speaker layout (a WAV's WAVE_FORMAT_EXTENSIBLE mask,
        ``Audio.channel_mask``): loudness weights them by it
        (host.dsp.loudness.channel_weights; None: the standard layout of the
        channel count).

    Returns
    -------
    dict
        JSON-ready (plain floats, lists, None where a value is undefined):

        ``summary``
            integrated_lufs, loudness_range_lu, momentary_max_lufs,
            short_term_max_lufs (BS.1770-4 / EBU R 128, LUFS / LU);
            true_peak_dbtp (whole program, flushed meter); sample_peak_dbfs;
            plr_db (peak-to-loudness ratio: true peak - integrated, dB);
            duration_s; sample_rate (Hz); channels; correlation (Pearson L/R
            over the whole program, -1..1); mono_loss_lu and mono_cancels
            (below); overs_count; overs_ceiling_dbtp (the ceiling used).
            ``mono_loss_lu`` = integrated loudness of the stereo program minus
            that of its mono fold-down M = (L + R) / 2 played on both channels,
            LU: 0.0 for L = R, 3.01 for uncorrelated L and R of equal level,
            larger as L and R cancel; None with ``mono_cancels`` True when the
            fold-down is silent (below the -70 LUFS gate, e.g. L = -R).
        ``loudness``
            time_s (end of the last 10 ms meter tick, s), momentary_lufs,
            short_term_lufs and integrated_lufs (the gated integrated loudness
            of everything up to that time), one row per complete ``hop_s``;
            None before a window has filled.
        ``true_peak``
            time_s (end of each hop, s) and dbtp: the largest true peak of any
            channel in each ``hop_s`` (the last hop may be partial), dBTP.
        ``overs``
            One dict per over, in time order: time_s and end_s (first and last
            1 ms slot above the ceiling, s), peak_time_s, dbtp (its largest true
            peak) and channel (1-based: 1 = L) holding it.  True-peak readings
            above the ceiling closer than ``OVER_MERGE_S`` (10 ms) are one over.
        ``spectrum``
            Long-term average spectrum in 1/6-octave bands centred on
            1000 * 2**(k/6) Hz, from 20 Hz to min(20 kHz, fs/2): freq_hz (band
            centres), band_lo_hz, band_hi_hz, level_db {"mid": [...],
            "side": [...]} (side only for stereo; mid = mean of the channels).
            Each level is the power in the band of a Welch estimate (Hann,
            50 % overlap, segments of 2**round(log2(fs / 0.4 Hz)) samples,
            fewer for short programs) in dB relative to the power of a
            full-scale sine, so a full-scale sine reads 0 dB in its band and a
            -12 dBFS sine -12 dB.
        ``stereo``
            time_s (window end, s) and correlation (Pearson L/R over the 400 ms
            window ending there, every ``hop_s``; None where both channels are
            silent, 0.0 where only one is); None unless stereo.
        ``gain_reduction``
            {stage: {"time_s", "gr_db", "max_db"}} (dB >= 0).

    Raises
    ------
    ValueError
        ``data`` not (channels, frames), empty or not finite; ``fs``,
        ``ceiling_dbtp``, ``hop_s`` or ``gain_reduction`` out of range.
    """

    a = _check_data(data)
    fs = _check_fs(fs)
    if ceiling_dbtp is None:
        ceiling_dbtp = 0.0
    try:
        ceiling_dbtp = float(ceiling_dbtp)
    except (TypeError, ValueError):
        raise ValueError(f"ceiling_dbtp: expected a level in dBTP, got {ceiling_dbtp!r}") from None
    if not -60.0 <= ceiling_dbtp <= 20.0:
        raise ValueError(f"ceiling_dbtp: expected -60..20 dBTP, got {ceiling_dbtp}")
    try:
        hop_s = float(hop_s)
    except (TypeError, ValueError):
        raise ValueError(f"hop_s: expected an interval in s, got {hop_s!r}") from None
    if not HOP_RANGE_S[0] - 1e-9 <= hop_s <= HOP_RANGE_S[1]:
        raise ValueError(f"hop_s: expected {HOP_RANGE_S[0]:g}..{HOP_RANGE_S[1]:g} s, got {hop_s}")
    gr = _check_gr(gain_reduction)
    ch, n = a.shape
    hop = int(round(hop_s * fs))

    history, whole = _loudness(a, fs, hop, channel_mask)

    tpm = TruePeakMeter(fs, ch)
    tpm.process(a)
    tpm.flush()
    tp = tpm.max_dbtp

    block = int(round(TP_BLOCK_S * fs))
    starts = np.arange(0, n, block)
    peaks = _segment_true_peaks(a, fs, starts, block)
    hop_of = starts // hop
    nhops = int(hop_of[-1]) + 1
    env = np.zeros(nhops)
    np.maximum.at(env, hop_of, peaks.max(axis=1))
    with np.errstate(divide="ignore"):
        env_db = 20.0 * np.log10(env)
    env_t = np.minimum((np.arange(nhops) + 1) * hop, n) / fs
    overs = _overs(a, fs, block, peaks, ceiling_dbtp)

    peak = float(np.max(np.abs(a)))
    integrated = whole["integrated_lufs"]
    summary = {
        "integrated_lufs": _num(integrated),
        "loudness_range_lu": _num(whole["loudness_range_lu"]),
        "momentary_max_lufs": _num(whole["momentary_max_lufs"]),
        "short_term_max_lufs": _num(whole["short_term_max_lufs"]),
        "true_peak_dbtp": _num(tp),
        "sample_peak_dbfs": _num(20.0 * math.log10(peak) if peak > 0 else -math.inf),
        "plr_db": _num(tp - integrated),
        "duration_s": round(n / fs, 3),
        "sample_rate": fs,
        "channels": ch,
        "correlation": None,
        "mono_loss_lu": None,
        "mono_cancels": None,
        "overs_count": len(overs),
        "overs_ceiling_dbtp": _num(ceiling_dbtp),
    }
    stereo = None
    if ch == 2:
        summary["correlation"] = _num(_pearson(a[0], a[1]), 4)
        fold = ((a[0].astype(np.float64) + a[1]) / 2.0).astype(np.float32)
        mono = integrated_loudness(np.stack([fold, fold]), fs)
        cancels = math.isfinite(integrated) and not math.isfinite(mono)
        summary["mono_loss_lu"] = _num(integrated - mono) if not cancels else None
        summary["mono_cancels"] = cancels
        stereo = _stereo(a, fs, hop)

    return {
        "summary": summary,
        "loudness": dict(history, hop_s=hop_s),
        "true_peak": {"time_s": _nums(env_t, 3), "dbtp": _nums(env_db)},
        "overs": overs,
        "spectrum": _spectrum(a, fs),
        "stereo": stereo,
        "gain_reduction": {name: _gr_entry(t, g) for name, (t, g) in gr.items()},
    }


def measure_loudness(data: np.ndarray, fs: int, hop_s: float = 0.1) -> dict:
    """Loudness over time and the whole program's integrated loudness and LRA
    (the loudness part of :func:`measure_program`, same checks and hop): what
    a master's report draws of its input, "before" beside "after".

    Returns
    -------
    dict
        ``loudness`` (time_s, momentary_lufs, short_term_lufs,
        integrated_lufs, hop_s, as in :func:`measure_program`),
        ``integrated_lufs`` and ``loudness_range_lu`` (None where undefined).
    """
    a = _check_data(data)
    fs = _check_fs(fs)
    history, whole = _loudness(a, fs, int(round(hop_s * fs)))
    return {"loudness": dict(history, hop_s=hop_s),
            "integrated_lufs": _num(whole["integrated_lufs"]),
            "loudness_range_lu": _num(whole["loudness_range_lu"])}


# -- the picture -------------------------------------------------------------------------

def _arr(values: list | None) -> np.ndarray:
    """A report list as floats, None -> NaN (a gap in a line)."""
    if not values:
        return np.array([], dtype=float)
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def _fmt(v: float | None, unit: str, sign: bool = False) -> str:
    if v is None:
        return "n/a"
    return f"{v:+.1f} {unit}" if sign else f"{v:.1f} {unit}"


def _time_formatter(duration_s: float):
    from matplotlib.ticker import FuncFormatter

    if duration_s < 120:
        return None, "time, s"
    return FuncFormatter(lambda x, _: f"{int(x // 60)}:{int(x % 60):02d}"), "time, min:s"


def _empty(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center",
            fontsize=15, color="0.4")
    ax.set_yticks([])


def _plot_loudness(ax, rep: dict, before: dict | None = None) -> None:
    ld = rep.get("loudness") or {}
    s = rep.get("summary", {})
    t = _arr(ld.get("time_s"))
    m, st, ir = (_arr(ld.get(k)) for k in ("momentary_lufs", "short_term_lufs",
                                           "integrated_lufs"))
    title = "Loudness (BS.1770-4 / EBU R 128)"
    if before:
        title += (f": input {_fmt(before.get('integrated_lufs'), 'LUFS')}, LRA "
                  f"{_fmt(before.get('loudness_range_lu'), 'LU')}  \u2192  output "
                  f"{_fmt(s.get('integrated_lufs'), 'LUFS')}, LRA "
                  f"{_fmt(s.get('loudness_range_lu'), 'LU')}")
    ax.set_title(title, loc="left", fontweight="bold")
    ax.set_ylabel("loudness, LUFS")
    if t.size == 0 or np.all(np.isnan(m)):
        _empty(ax, "program too short for a loudness reading (< 400 ms)")
        return
    lra = _fmt(s.get("loudness_range_lu"), "LU")
    shown = [m, st]
    if before:
        bl = before.get("loudness") or {}
        bt, bst = _arr(bl.get("time_s")), _arr(bl.get("short_term_lufs"))
        bi = before.get("integrated_lufs")
        blra = _fmt(before.get("loudness_range_lu"), "LU")
        ax.plot(bt, bst, color="0.55", lw=2.0, label=f"input short-term (LRA {blra})")
        if bi is not None:
            ax.axhline(bi, color="0.55", lw=1.2, ls="-.", label=f"input integrated {bi:.1f} LUFS")
        shown.append(bst)
    ax.plot(t, m, color="tab:blue", lw=0.8, alpha=0.7, label="momentary (400 ms)")
    ax.plot(t, st, color="navy", lw=2.4, label="short-term (3 s)" if not before
            else f"output short-term (LRA {lra})")
    ax.plot(t, ir, color="darkorange", lw=1.8, ls="--", label="integrated so far")
    integ = s.get("integrated_lufs")
    if integ is not None:
        ax.axhline(integ, color="black", lw=1.2,
                   label=f"integrated {integ:.1f} LUFS, LRA {lra}" if not before
                   else f"output integrated {integ:.1f} LUFS")
    target = rep.get("target_lufs")
    if target is not None:
        ax.axhline(target, color="tab:green", lw=1.6, ls=":", label=f"target {target:.1f} LUFS")
    slow = [v for v in shown[1:] if not np.all(np.isnan(v))]
    lo_s = min(np.nanmin(v) for v in slow) if slow else np.nanmin(m)
    lo = max(-60.0, lo_s - 10.0)
    hi = max(np.nanmax(v) for v in shown if not np.all(np.isnan(v))) + 3.0
    if target is not None:
        lo, hi = min(lo, target - 3.0), max(hi, target + 3.0)
    ax.set_ylim(lo, hi)
    ax.legend(loc="lower right", ncol=3, fontsize=11, framealpha=0.9)


def _plot_gr(ax, rep: dict) -> None:
    ax.set_title("Gain reduction of the dynamics stages", loc="left", fontweight="bold")
    ax.set_ylabel("gain reduction, dB")
    gr = rep.get("gain_reduction") or {}
    if not gr:
        _empty(ax, "no dynamics stage")
        return
    deepest = 0.0
    for name, tr in gr.items():
        t, g = _arr(tr.get("time_s")), _arr(tr.get("gr_db"))
        mx = tr.get("max_db") or 0.0
        deepest = max(deepest, mx)
        ax.step(t, -g, where="post", lw=1.5, label=f"{name} (max {mx:.1f} dB)")
    ax.set_ylim(-max(1.0, deepest * 1.45), max(0.2, deepest * 0.05))  # room for the legend
    ax.axhline(0.0, color="0.3", lw=0.8)
    ax.legend(loc="lower right", fontsize=11, framealpha=0.9)


def _plot_stereo(ax, rep: dict) -> None:
    s = rep.get("summary", {})
    st = rep.get("stereo")
    ax.set_ylabel("correlation")
    if not st:
        ax.set_title("Stereo correlation", loc="left", fontweight="bold")
        _empty(ax, f"{s.get('channels', '?')}-channel program: no L/R correlation")
        return
    r = s.get("correlation")
    if s.get("mono_cancels"):
        loss = "mono fold-down cancels"
    else:
        loss = f"mono loss {_fmt(s.get('mono_loss_lu'), 'LU')}"
    ax.set_title(f"Stereo correlation, 400 ms windows (program r = "
                 f"{'n/a' if r is None else f'{r:+.2f}'}, {loss})", loc="left",
                 fontweight="bold")
    t, c = _arr(st.get("time_s")), _arr(st.get("correlation"))
    ax.axhspan(-1.05, 0.0, color="red", alpha=0.06)
    if t.size:
        level = _arr(st.get("level_dbfs"))
        quiet_db = st.get("quiet_dbfs", CORRELATION_QUIET_DBFS)
        if level.size != t.size:  # a report from before the level was measured
            level = np.zeros(t.size)
        quiet = ~(level >= quiet_db)  # NaN (silence) is quiet too
        if quiet.any():
            ax.fill_between(t, -1.05, 1.05, where=quiet, step="pre", color="0.85", lw=0,
                            label=f"window below {quiet_db:g} dBFS RMS: not judged")
            near = quiet | np.r_[quiet[1:], False] | np.r_[False, quiet[:-1]]
            ax.plot(t, np.where(near, c, np.nan), color="0.6", lw=1.0)
        loud = np.where(quiet, np.nan, c)
        ax.plot(t, loud, color="purple", lw=1.3)
        neg = np.nan_to_num(loud, nan=0.0) < 0
        ax.fill_between(t, np.where(neg, loud, 0.0), 0.0, where=neg, color="red", alpha=0.5,
                        lw=0)
        if quiet.any():
            ax.legend(loc="lower left", fontsize=11, framealpha=0.9)
    else:
        _empty(ax, "program shorter than one 400 ms window")
    ax.axhline(0.0, color="0.2", lw=1.0)
    ax.set_ylim(-1.05, 1.05)
    ax.set_yticks([-1, -0.5, 0, 0.5, 1])


def _plot_true_peak(ax, rep: dict) -> None:
    s = rep.get("summary", {})
    tpd = rep.get("true_peak") or {}
    overs = rep.get("overs") or []
    ceiling = s.get("overs_ceiling_dbtp")
    if ceiling is None:
        ceiling = 0.0
    n_over = len(overs)
    ax.set_title(f"True peak per {rep.get('loudness', {}).get('hop_s', 0.1):g} s: max "
                 f"{_fmt(s.get('true_peak_dbtp'), 'dBTP', sign=True)}, {n_over} "
                 f"over{'s' if n_over != 1 else ''} above {ceiling:+.1f} dBTP",
                 loc="left", fontweight="bold", color="darkred" if n_over else "black")
    ax.set_ylabel("true peak, dBTP")
    t, d = _arr(tpd.get("time_s")), _arr(tpd.get("dbtp"))
    if t.size == 0 or np.all(np.isnan(d)):
        _empty(ax, "digital silence")
        return
    # each value holds over the hop ending at its time: draw from the start
    ax.step(np.concatenate([[0.0], t]), np.concatenate([d[:1], d]), where="pre", color="0.25",
            lw=1.2, label="true peak (max per hop)")
    ax.axhline(ceiling, color="red", lw=1.4, ls="--", label=f"ceiling {ceiling:+.1f} dBTP")
    top = max(np.nanmax(d), ceiling)
    if overs:
        ot = [o["peak_time_s"] for o in overs]
        od = [o["dbtp"] for o in overs]
        ax.plot(ot, od, "v", color="red", ms=9, label="over", zorder=5)
        shown = sorted(range(n_over), key=lambda i: -od[i])[:12]
        for i in shown:
            ax.annotate(f"{od[i]:+.2f}", (ot[i], od[i]), textcoords="offset points",
                        xytext=(0, 9), ha="center", fontsize=10, color="red")
        top = max(top, max(od))
    finite = d[np.isfinite(d)]
    lo = max(float(np.percentile(finite, 2)) - 6.0, ceiling - 40.0)
    ax.set_ylim(lo, top + 3.0)
    ax.legend(loc="lower right", ncol=3, fontsize=11, framealpha=0.9)


def _plot_spectrum(ax, rep: dict) -> None:
    from matplotlib.ticker import FixedLocator, NullFormatter

    sp = rep.get("spectrum") or {}
    f = _arr(sp.get("freq_hz"))
    ax.set_title("Long-term average spectrum, 1/6-octave bands (0 dB: full-scale sine)",
                 loc="left", fontweight="bold")
    ax.set_xlabel("frequency, Hz")
    ax.set_ylabel("band level, dB")
    levels = sp.get("level_db") or {}
    if f.size == 0 or not levels:
        _empty(ax, "no spectrum")
        return
    styles = {"mid": dict(color="tab:blue", lw=2.2, label="mid (L+R)/2"),
              "side": dict(color="tab:red", lw=1.6, label="side (L-R)/2")}
    if "side" not in levels:
        styles["mid"]["label"] = "mid (mean of channels)" if rep.get(
            "summary", {}).get("channels", 1) > 1 else "mono"
    allv = []
    for name, vals in levels.items():
        v = _arr(vals)
        allv.append(v[np.isfinite(v)])
        ax.semilogx(f, v, marker="o", ms=3, **styles.get(name, {"label": name}))
    allv = np.concatenate(allv) if allv else np.array([])
    if allv.size:
        hi = float(allv.max())
        ax.set_ylim(max(float(allv.min()) - 3.0, hi - 90.0), hi + 6.0)
    fs = rep.get("summary", {}).get("sample_rate") or 48000
    ax.set_xlim(SPECTRUM_RANGE_HZ[0] / 1.1, min(SPECTRUM_RANGE_HZ[1], fs / 2) * 1.1)
    ticks = [20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.set_xticklabels(["20", "50", "100", "200", "500", "1k", "2k", "5k", "10k", "20k"])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.grid(True, which="both", alpha=0.3)
    if allv.size:
        ax.legend(loc="upper right", fontsize=11, framealpha=0.9)


def _status_rows(status: dict) -> list[tuple[str, str]]:
    return ([(line, "firebrick") for line in status.get("problems", [])]
            + [(line, "black") for line in status.get("lines", [])])


def _plot_status(ax, status: dict, height_in: float) -> None:
    """What happened while the program was rendered: a headline (green when
    ``ok``), the problems (red) and plain lines, ``_STATUS_ROW_IN`` apart."""
    ax.set_axis_off()
    ok = bool(status.get("ok"))
    ax.text(0.0, 1.0, status.get("headline", "OK" if ok else "NOT OK"), transform=ax.transAxes,
            ha="left", va="top", fontsize=20, fontweight="bold", color="white",
            bbox={"boxstyle": "round,pad=0.35", "fc": "darkgreen" if ok else "firebrick",
                  "ec": "none"})
    for i, (line, color) in enumerate(_status_rows(status)):
        y = 1.0 - (_STATUS_HEAD_IN + i * _STATUS_ROW_IN) / height_in
        ax.text(0.0, y, line, transform=ax.transAxes, ha="left", va="top", fontsize=13,
                color=color, fontweight="bold" if color != "black" else "normal")


def _mark(axes: list, marks: list[dict], label_ax, duration_s: float) -> None:
    """A vertical line at each time mark across the time panels; a label at
    the top of ``label_ax`` unless the one before is too close to read."""
    last = -math.inf
    for m in marks[:_MAX_MARKS]:
        color = m.get("color", "red")
        for ax in axes:
            ax.axvline(m["time_s"], color=color, lw=1.1, alpha=0.7, zorder=6)
        if m["time_s"] - last < 0.015 * duration_s:
            continue
        last = m["time_s"]
        label_ax.annotate(m.get("label", ""), (m["time_s"], 1.0),
                          xycoords=("data", "axes fraction"), xytext=(3, -3),
                          textcoords="offset points", ha="left", va="top", fontsize=10,
                          color=color, rotation=90, zorder=7,
                          bbox={"fc": "white", "ec": "none", "alpha": 0.8, "pad": 1.0})


#: the status panel: its headline and each row of text, inches; at most this many
#: time marks drawn
_STATUS_HEAD_IN = 0.7
_STATUS_ROW_IN = 0.3
_MAX_MARKS = 40
#: the layout, inches at 100 dpi: figure width; the header (title and figures);
#: each panel; the room above a panel for its title, below the time panels for
#: their axis label, and below the spectrum (1600 x 1800 px without a status panel)
_FIG_W_IN = 16.0
_HEAD_IN = 1.1
_PANEL_IN = {"loudness": 3.38, "gr": 2.25, "stereo": 2.0, "true_peak": 2.5,
             "spectrum": 3.02}
_TITLE_IN = 0.55
_XLABEL_IN = 0.45
_BOTTOM_IN = 0.55
_LEFT, _WIDTH = 0.06, 0.925


def plot_report(report: dict, png_path: str | Path, title: str, *,
                status: dict | None = None, before: dict | None = None) -> None:
    """Draw a report of :func:`measure_program` as a PNG, 1600 px wide (1800
    px high; a status panel adds 125 px and 30 px a line of it).

    Panels: loudness over time (M, S, running integrated, the final integrated
    and ``report["target_lufs"]`` if set, LUFS); gain reduction of each dynamics
    stage (dB, drawn downward from 0); stereo correlation (-1..1, negative
    shaded red, windows quieter than ``CORRELATION_QUIET_DBFS`` greyed: they
    judge nothing); true-peak envelope with the ceiling and each over (dBTP) --
    these share the time axis (s) -- and the mid/side long-term spectrum (dB vs
    Hz).  A header gives the title and the main figures.

    ``status`` (a print: what happened while it was rendered) adds a panel on
    top: ``headline``, ``ok`` (green, else red), ``problems`` (lines in red),
    ``lines`` (plain), and ``marks``: [{"time_s", "label", "color"}] drawn as
    vertical lines across the time panels (xruns, gear faults).  ``before``
    (:func:`measure_loudness` of the input of a master) draws the input's
    short-term loudness and its integrated level beside the output's, with the
    LRA of each.

    The file is written atomically (a temporary name in the same folder, then
    renamed onto ``png_path``).  Uses matplotlib's Agg canvas directly, so the
    global backend is not touched; the layout is fixed in inches (no
    constrained layout: that measured every tick label twice and took half the
    drawing time).

    Raises
    ------
    host.errors.AudioFileError
        ``png_path`` cannot be written (the message names it).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    s = report.get("summary", {})
    rc = {"font.size": 13, "axes.titlesize": 14, "axes.labelsize": 13,
          "xtick.labelsize": 12, "ytick.labelsize": 12, "legend.fontsize": 11}
    import matplotlib as mpl

    names = (["status"] if status else []) + ["loudness", "gr", "stereo", "true_peak",
                                               "spectrum"]
    panel_in = dict(_PANEL_IN)
    if status:
        panel_in["status"] = _STATUS_HEAD_IN + _STATUS_ROW_IN * len(_status_rows(status))
    height_in = (_HEAD_IN + sum(panel_in[k] + _TITLE_IN for k in names) + _XLABEL_IN
                 + _BOTTOM_IN)
    with mpl.rc_context(rc):
        fig = Figure(figsize=(_FIG_W_IN, height_in), dpi=100)
        FigureCanvasAgg(fig)
        axes: dict = {}
        y = height_in - _HEAD_IN                 # inches from the bottom
        for k in names:
            y -= _TITLE_IN + (_XLABEL_IN if k == "spectrum" else 0.0) + panel_in[k]
            share = axes.get("loudness") if k in ("gr", "stereo", "true_peak") else None
            axes[k] = fig.add_axes((_LEFT, y / height_in, _WIDTH, panel_in[k] / height_in),
                                   sharex=share)
        ax_l, ax_g, ax_c, ax_t, ax_f = (axes[k] for k in ("loudness", "gr", "stereo",
                                                           "true_peak", "spectrum"))
        _plot_loudness(ax_l, report, before)
        _plot_gr(ax_g, report)
        _plot_stereo(ax_c, report)
        _plot_true_peak(ax_t, report)
        _plot_spectrum(ax_f, report)
        if status:
            _plot_status(axes["status"], status, panel_in["status"])
        dur = float(s.get("duration_s") or 0.0)
        if status:
            _mark([ax_l, ax_g, ax_c, ax_t], status.get("marks") or [], ax_l, dur)
        ax_l.set_xlim(0.0, dur if dur > 0 else 1.0)
        fmt, xlabel = _time_formatter(dur)
        for ax in (ax_l, ax_g, ax_c, ax_t):
            ax.grid(True, alpha=0.3)
            if ax is not ax_t:
                ax.tick_params(labelbottom=False)
        ax_t.set_xlabel(xlabel)
        if fmt is not None:
            ax_t.xaxis.set_major_formatter(fmt)
        fsr = s.get("sample_rate")
        rate = f"{fsr / 1000:g} kHz" if fsr else "? kHz"
        head = (f"Integrated {_fmt(s.get('integrated_lufs'), 'LUFS')}   ·   "
                f"LRA {_fmt(s.get('loudness_range_lu'), 'LU')}   ·   "
                f"true peak {_fmt(s.get('true_peak_dbtp'), 'dBTP', sign=True)}   ·   "
                f"PLR {_fmt(s.get('plr_db'), 'dB')}   ·   {rate}, "
                f"{s.get('channels', '?')} ch   ·   {dur:.1f} s")
        fig.text(0.5, 1.0 - 0.15 / height_in, f"{title}\n{head}", ha="center", va="top",
                 fontsize=17, fontweight="bold", linespacing=1.5)
        with atomic_path(png_path) as tmp:
            # zlib level 1: a third of the time of the default 6 for 15 % more bytes
            fig.savefig(tmp, format="png", dpi=100, pil_kwargs={"compress_level": 1})


def write_report(json_path: str | Path, png_path: str | Path, report: dict, title: str, *,
                 status: dict | None = None) -> None:
    """Write ``report`` as JSON (indent 1, atomically) and draw it as a PNG
    (:func:`plot_report`, with ``status`` if given).

    Raises
    ------
    ValueError
        ``report`` holds NaN or infinity (not JSON; :func:`measure_program`
        never returns them).
    host.errors.AudioFileError
        A path cannot be written (the message names it).
    """
    try:
        text = json.dumps(report, indent=1, allow_nan=False)
    except ValueError:
        raise ValueError("report: expected JSON-ready values, got NaN or infinity "
                         "(use None)") from None
    with atomic_path(json_path) as tmp:
        tmp.write_text(text + "\n")
    plot_report(report, png_path, title, status=status)


def report_paths(output: Path) -> tuple[Path, Path]:
    """NAME.json and NAME.png beside a print or a deliverable."""
    return output.with_suffix(".json"), output.with_suffix(".png")
