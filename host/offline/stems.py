"""Stem mastering: several stems, each with its own short chain and level,
summed to the master bus that the session's ``[[chain]]`` then processes.

The ``[[stems]]`` tables and their checks are :mod:`host.model.stems`; this
module mixes them.

Mixing (:func:`mix_stems`), offline, before any stream opens:

1. Every stem file is probed (header only): it must exist and have the
   program's channel count, or one channel (a mono stem is fed, unchanged, to
   every program channel).
2. A stem at another rate than ``[interface] sample_rate`` is resampled with
   soxr (VHQ); its length is then ``floor(n * fs_session / fs_file + 0.5)``.
3. All stems start at time 0 and are never shifted.  Lengths (after
   resampling) that differ are an error, unless ``[program] stem_lengths =
   "pad"``: then shorter stems get silence at their end.  Muted stems are left
   out of the sum but checked all the same (file, channels, length), so muting
   never changes the length of the master.
4. Each stem goes through its chain with the chain's latency removed
   (``Chain.process_aligned``), so every stem stays aligned to the sample,
   then its gain and balance; the stems are summed in float64 and the bus
   returned as float32, not scaled: a bus above 0 dBFS gets a note.

Balance law (constant power, unity at the centre): with ``theta = (pan + 1) *
pi / 4``, the left channel is multiplied by ``sqrt(2) * cos(theta)`` and the
right by ``sqrt(2) * sin(theta)``.  At ``pan = 0`` both gains are 1 (0 dB); at
``pan = -1`` left is +3.01 dB and right silent; ``gL**2 + gR**2 = 2`` for every
pan, so a stem's total power is constant.  Balance needs a stereo program.

None of this is real-time code.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import soundfile as sf

from host.audiofile import _reason, read_audio
from host.errors import AudioFileError, OutboardError
from host.model.stems import StemConfig
from host.offline.chain import Chain

if TYPE_CHECKING:
    from host.model.session import Session

#: soxr quality used for stems at another rate than the session's
RESAMPLE_QUALITY = "VHQ"
#: s; the stems' dynamics inserts report their gain reduction at this resolution
GR_TRACE_S = 0.1




@dataclass
class StemMix:
    """The master bus made from a session's stems.

    Attributes
    ----------
    data : numpy.ndarray
        (frames, channels) interleaved float32 at ``sample_rate``: the master bus
        (not scaled; it may exceed 0 dBFS, see ``notes``).
    sample_rate : int
        Hz, the session's ``[interface] sample_rate``.
    stems : list of dict
        Per stem, in session order: ``name``, ``file`` (resolved path), ``gain_db``,
        ``pan``, ``muted``, ``frames`` and ``seconds`` (its own length at the
        session rate, after any resampling, before padding), ``sample_rate`` (the
        file's, Hz), ``resampled`` (bool), ``padded_frames`` (silence added at its
        end), ``chain_latency_samples`` (removed), ``peak_dbfs``
        (sample peak after its chain, gain and balance, dBFS; None when muted or
        digital silence).
    notes : list of str
        What was handled explicitly (resampled, padded, mono fed to both
        channels, a bus above 0 dBFS); for the caller to print.
    gr_traces : dict
        ``"STEM: INSERT"`` -> (time s, max gain reduction dB per 0.1 s) for every
        dynamics insert of the stems' chains (reports).
    """

    data: np.ndarray
    sample_rate: int
    stems: list[dict[str, Any]]
    notes: list[str]
    gr_traces: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    @property
    def frames(self) -> int:
        return int(self.data.shape[0])

    @property
    def channels(self) -> int:
        return int(self.data.shape[1])

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate


# ---------------------------------------------------------------------------- parse






# ------------------------------------------------------------------------------ mix


def balance_gains(pan: float) -> tuple[float, float]:
    """Constant-power balance: (left, right) linear gains for ``pan`` -1..+1.

    ``theta = (pan + 1) * pi / 4``; left ``sqrt(2) cos(theta)``, right
    ``sqrt(2) sin(theta)``: 1 and 1 (0 dB) at the centre, and ``gL**2 + gR**2 = 2``.
    """
    theta = (float(pan) + 1.0) * math.pi / 4.0
    return math.sqrt(2.0) * math.cos(theta), math.sqrt(2.0) * math.sin(theta)


def resampled_frames(frames: int, fs_in: int, fs_out: int) -> int:
    """Length of ``frames`` after soxr's one-shot resampling: ``floor(n * fs_out /
    fs_in + 0.5)``, in exact integer arithmetic."""
    if fs_in == fs_out:
        return frames
    return (2 * frames * fs_out + fs_in) // (2 * fs_in)


def _dbfs(peak: float) -> float | None:
    return 20.0 * math.log10(peak) if peak > 0.0 else None


@dataclass
class _Probe:
    stem: StemConfig
    path: Path
    channels: int
    sample_rate: int
    frames: int          # at the session rate (after resampling), before padding


def _stem_path(session: Session, stem: StemConfig) -> Path:
    return stem.path(Path(session.path).parent)


def _probe(session: Session, stem: StemConfig, channels: int, fs: int) -> _Probe:
    src = str(session.path)
    path = _stem_path(session, stem)
    where = f"{src}: {stem.key}.file"
    if not path.exists():
        raise AudioFileError(f"{where}: {path}: no such file (relative paths resolve against "
                             f"the session's folder {Path(session.path).parent})")
    if path.is_dir():
        raise AudioFileError(f"{where}: {path}: is a folder, expected an audio file")
    try:
        info = sf.info(str(path))
    except Exception as exc:  # libsndfile says why in its own words
        raise AudioFileError(f"{where}: {path}: not a readable audio file "
                             f"({_reason(exc)})") from None
    if info.channels not in (1, channels):
        raise AudioFileError(f"{where}: {path}: has {info.channels} channels; expected "
                             f"{channels} (the program's) or 1 (mono, fed to every channel)")
    rate = int(info.samplerate)
    return _Probe(stem, path, int(info.channels), rate,
                  resampled_frames(int(info.frames), rate, fs))


def _fmt_s(frames: int, fs: int) -> str:
    return f"{frames / fs:.3f} s ({frames} frames)"


def _load(session: Session, pr: _Probe, channels: int, fs: int) -> np.ndarray:
    """The stem as planar float32 (channels, frames) at ``fs``, before padding."""
    where = f"{session.path}: {pr.stem.key}.file"
    try:
        audio = read_audio(pr.path)
    except AudioFileError as exc:
        raise AudioFileError(f"{where}: {exc}") from None
    x = audio.data
    if audio.sample_rate != fs:
        import soxr

        x = np.ascontiguousarray(
            soxr.resample(x.T, audio.sample_rate, fs, quality=RESAMPLE_QUALITY).T,
            dtype=np.float32)
    if x.shape[1] != pr.frames:  # the file changed since it was probed, or decodes short
        raise AudioFileError(f"{where}: {pr.path}: decoded {x.shape[1]} frames at {fs} Hz, "
                             f"its header announced {pr.frames}; expected an unchanging file")
    if x.shape[0] == 1 and channels != 1:
        x = np.ascontiguousarray(np.repeat(x, channels, axis=0))
    return x


def mix_stems(session: Session, say: Callable[[str], None] | None = None) -> StemMix:
    """Mix a session's ``[[stems]]`` to the master bus (offline).

    Parameters
    ----------
    session : host.model.session.Session
        A loaded session with ``stems``; relative stem files resolve against
        the folder of ``session.path``.
    say : callable, optional
        Receives one progress line per stem (``notes`` are not passed to it).

    Returns
    -------
    StemMix
        The bus at ``[interface] sample_rate`` Hz with the program's channel
        count, per-stem figures, and notes of what was handled explicitly.

    Raises
    ------
    OutboardError
        One line naming the session file and the key: no stems, all muted,
        lengths that differ (with ``[program] stem_lengths = "error"``), a
        stem chain that cannot run at this rate or channel count.
    AudioFileError
        A stem file missing, unreadable, or with a channel count other than the
        program's or 1; the message names ``stems[N].file`` and the path.
    """
    src = str(session.path)
    if not session.stems:
        raise OutboardError(f"{src}: the session has no [[stems]]; give --input MIX")
    fs = int(session.interface.sample_rate)
    channels = len(session.program.inputs)
    mode = session.program.stem_lengths
    notes: list[str] = []
    gr_traces: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    probes = [_probe(session, s, channels, fs) for s in session.stems]
    if all(p.stem.mute for p in probes):
        raise OutboardError(f"{src}: stems: all {len(probes)} stems are muted; expected at "
                            "least one with mute = false")
    short = min(probes, key=lambda p: p.frames)
    long = max(probes, key=lambda p: p.frames)
    n = long.frames
    if short.frames != n and mode != "pad":
        raise OutboardError(
            f"{src}: stems: lengths differ: shortest {short.stem.name!r} "
            f"{_fmt_s(short.frames, fs)}, longest {long.stem.name!r} {_fmt_s(n, fs)} at "
            f"{fs} Hz; trim them to one length, or set [program] stem_lengths = \"pad\" "
            "to pad shorter stems with silence at their end")

    bus = np.zeros((channels, n), dtype=np.float64)
    report: list[dict[str, Any]] = []
    for pr in probes:
        st = pr.stem
        resampled = pr.sample_rate != fs
        pad = n - pr.frames
        if say is not None:
            what = "muted, checked only" if st.mute else (
                f"chain: {', '.join(i.name for i in st.chain.inserts) or 'none'}")
            say(f"stem {st.name}: {pr.path} ({pr.frames / fs:.2f} s; {what})")
        x = _load(session, pr, channels, fs)
        if resampled:
            notes.append(f"stem {st.name!r}: resampled from {pr.sample_rate} Hz to {fs} Hz "
                         f"(soxr {RESAMPLE_QUALITY})")
        if pr.channels == 1 and channels != 1:
            notes.append(f"stem {st.name!r}: mono file fed to all {channels} program channels")
        if pad:
            notes.append(f"stem {st.name!r}: padded by {pad / fs:.2f} s ({pad} frames) of "
                         "silence at its end")
            x = np.concatenate([x, np.zeros((channels, pad), dtype=np.float32)], axis=1)
        latency, peak = 0, None
        if not st.mute:
            try:
                chain = Chain(st.chain, fs, channels)
            except ValueError as exc:
                raise OutboardError(f"{src}: {st.key}.chain: {exc}") from None
            latency = chain.latency_samples
            if chain.stages:
                block = int(round(GR_TRACE_S * fs))
                x = chain.process_aligned(x, block_frames=block)
                for stage in chain.stages:
                    gr_traces.update(stage.gr_traces(block / fs, prefix=f"{st.name}: "))
            gains = np.full(channels, 10.0 ** (st.gain_db / 20.0))
            if channels == 2:
                gains *= np.asarray(balance_gains(st.pan))
            y = x.astype(np.float64) * gains[:, None]
            bus += y
            peak = _dbfs(float(np.max(np.abs(y))))
        report.append({
            "name": st.name, "file": str(pr.path), "gain_db": st.gain_db, "pan": st.pan,
            "muted": st.mute, "frames": pr.frames, "seconds": pr.frames / fs,
            "sample_rate": pr.sample_rate,
            "resampled": resampled, "padded_frames": pad, "chain_latency_samples": latency,
            "peak_dbfs": peak,
        })
    bus_peak = float(np.max(np.abs(bus))) if bus.size else 0.0
    if bus_peak > 1.0:
        notes.append(f"master bus peaks at {20 * math.log10(bus_peak):+.2f} dBFS (above full "
                     "scale; on a real interface the send to analog gear would clip): lower "
                     "the stems' gain_db")
    data = np.ascontiguousarray(bus.T, dtype=np.float32)
    return StemMix(data, fs, report, notes, gr_traces)

