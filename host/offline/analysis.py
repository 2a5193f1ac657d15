"""Loudness and peak analysis of a whole program (``outboard analyze``)."""

from __future__ import annotations

import math

import numpy as np

from host._ffi import lib
from host.audiofile import Audio
from host.dsp.limiter import TruePeakMeter
from host.dsp.loudness import FS_MAX_HZ, FS_MIN_HZ, LoudnessMeter
from host.errors import AudioFileError


def _finite(v: float) -> float | None:
    """JSON has no -inf: silence reads as None."""
    return None if not math.isfinite(v) else round(float(v), 2)


def check_measurable(audio: Audio) -> None:
    """AudioFileError (one line naming the file) unless the meters and kernels
    take ``audio``: a rate of 8000..768000 Hz and 1..64 channels."""
    where = audio.path if audio.path is not None else "audio"
    if not FS_MIN_HZ <= audio.sample_rate <= FS_MAX_HZ:
        raise AudioFileError(f"{where}: sample rate {audio.sample_rate} Hz; expected "
                             f"{FS_MIN_HZ:g}..{FS_MAX_HZ:g} Hz (the meters' range; resample it "
                             "first)")
    if not 1 <= audio.channels <= lib.OB_MAX_CHANNELS:
        raise AudioFileError(f"{where}: {audio.channels} channels; expected "
                             f"1..{lib.OB_MAX_CHANNELS}")


def analyze_audio(audio: Audio) -> dict:
    """BS.1770-4 / EBU R128 figures of ``audio`` (channels weighted by its layout,
    ``audio.channel_mask``).

    Returns a dict with integrated_lufs, loudness_range_lu, momentary_max_lufs,
    short_term_max_lufs (LUFS / LU), true_peak_dbtp (4x oversampled, BS.1770
    Annex 2), sample_peak_dbfs, duration_s, sample_rate (Hz), channels.
    Values that are undefined (silence, or a program shorter than a gating
    block) are None.

    Raises
    ------
    AudioFileError
        A rate or channel count the meters do not take (see check_measurable).
    """

    check_measurable(audio)
    fs, data = audio.sample_rate, audio.data
    meter = LoudnessMeter(fs, audio.channels, channel_mask=audio.channel_mask)
    meter.process(data)
    tp = TruePeakMeter(fs, audio.channels)
    tp.process(data)
    tp.flush()  # the last samples still sit in the interpolator
    peak = float(np.max(np.abs(data))) if data.size else 0.0
    return {
        "integrated_lufs": _finite(meter.integrated_lufs),
        "loudness_range_lu": _finite(meter.loudness_range_lu),
        "momentary_max_lufs": _finite(meter.momentary_max_lufs),
        "short_term_max_lufs": _finite(meter.short_term_max_lufs),
        "true_peak_dbtp": _finite(tp.max_dbtp),
        "sample_peak_dbfs": _finite(20 * math.log10(peak) if peak > 0 else -math.inf),
        "duration_s": round(audio.duration_s, 3),
        "sample_rate": fs,
        "channels": audio.channels,
    }
