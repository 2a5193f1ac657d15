"""An ordered chain of software inserts built from a validated ChainConfig.

Offline use (render, master): each insert owns its C kernel and processes
planar float32 audio in place.  The chain knows its total latency (the sum of
its inserts', e.g. a limiter's lookahead) and can return output aligned with
its input.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from host._ffi import process_aligned

from host.dsp.biquad import Equalizer
from host.dsp.compressor import Compressor
from host.dsp.dynamic_eq import DynamicEQ
from host.dsp.imager import Imager
from host.dsp.kernel import KernelInsert, ParamError
from host.dsp.limiter import Limiter
from host.dsp.multiband import Multiband
from host.dsp.saturation import Saturation
from host.model.config import ChainConfig, Insert


@dataclass
class Stage:
    """One built insert: its config, its processor and what it reported."""

    insert: Insert
    processor: object
    max_gain_reduction_db: float = 0.0
    gr_trace: list[float] = field(default_factory=list)
    #: kernel inserts with several gain-reduction meters (multiband bands): per
    #: meter label, its maximum per block, dB (gr_trace holds their maximum)
    band_traces: dict[str, list[float]] = field(default_factory=dict)

    @property
    def latency_samples(self) -> int:
        return int(getattr(self.processor, "latency_samples", 0))

    @property
    def meter_names(self) -> list[str]:
        """Labels of a kernel insert's gain-reduction meters ([] for none)."""
        p = self.processor
        return list(p.meter_names) if isinstance(p, KernelInsert) else []

    @property
    def is_dynamics(self) -> bool:
        return self.insert.kind in ("compressor", "limiter") or bool(self.meter_names)

    def gr_traces(self, block_s: float, prefix: str = "") -> dict[str, tuple[np.ndarray,
                                                                               np.ndarray]]:
        """Gain reduction over time for a report, ``{name: (time_s, gr_db)}``:
        one trace named after the insert, or for a kernel insert with several
        meters one per meter, ``"<insert>: band 1 (< 120 Hz)"``.  ``block_s``:
        the block length ``process`` ran with, s."""
        traces = {label: tr for label, tr in self.band_traces.items() if tr} or (
            {"": self.gr_trace} if self.is_dynamics and self.gr_trace else {})
        name = prefix + self.insert.name
        return {f"{name}: {label}" if label else name:
                (np.arange(len(tr)) * block_s, np.asarray(tr, dtype=float))
                for label, tr in traces.items()}


class GainStage:
    """A plain gain in dB (offline only)."""

    latency_samples = 0

    def __init__(self, gain_db: float):
        self.gain = np.float32(10 ** (gain_db / 20))

    def process(self, audio: np.ndarray) -> np.ndarray:
        audio *= self.gain
        return audio

    def reset(self) -> None:
        pass


def build_insert(ins: Insert, fs: float, channels: int) -> object:
    """Instantiate the processor for one insert at ``fs`` Hz."""
    if ins.kind == "eq":
        return Equalizer(fs, channels, ins.bands)
    if ins.kind == "compressor":
        if ins.params.get("mode") == "mid-side" and channels != 2:
            raise ValueError(f"{ins.name}: mid-side mode needs 2 channels, got {channels}")
        return Compressor(fs, channels, **ins.params)
    if ins.kind == "limiter":
        return Limiter(fs, channels, **ins.params)
    if ins.kind == "gain":
        return GainStage(ins.params["gain_db"])
    if ins.kind in ("multiband", "imager"):
        cls = Multiband if ins.kind == "multiband" else Imager
        try:
            return cls(fs, channels, bands=ins.bands or None, **ins.params)
        except ParamError as exc:   # what a chain file cannot know: fs, channels
            raise ValueError(f"{ins.name}: {exc}") from None
    try:
        if ins.kind == "saturation":
            return Saturation(fs, channels, **ins.params)
        if ins.kind == "dynamic_eq":
            return DynamicEQ(fs, channels, bands=ins.bands, preset=ins.params.get("preset"))
    except ParamError as exc:   # what a chain file cannot know: fs
        raise ValueError(f"{ins.name}: {exc}") from None
    if ins.kind == "hardware":
        raise ValueError(f"hardware insert {ins.name} needs the real-time engine "
                         "(outboard run / print)")
    raise ValueError(f"unknown insert kind {ins.kind!r}")


class Chain:
    """Ordered software inserts at one sample rate and channel count."""

    def __init__(self, config: ChainConfig, fs: float, channels: int):
        self.fs, self.channels = fs, channels
        self.stages = [Stage(i, build_insert(i, fs, channels))
                       for i in config.inserts if not i.bypass]

    @property
    def latency_samples(self) -> int:
        return sum(s.latency_samples for s in self.stages)

    def reset(self) -> None:
        for s in self.stages:
            s.processor.reset()
            s.max_gain_reduction_db = 0.0
            s.gr_trace.clear()
            s.band_traces.clear()

    def process(self, audio: np.ndarray, block_frames: int = 65536,
                progress: Callable[[int], None] | None = None,
                peaks: np.ndarray | None = None) -> np.ndarray:
        """Process planar float32 audio in place, streaming (delayed by latency).

        Audio goes through the chain ``block_frames`` at a time (the kernels'
        output does not depend on the block size).  Every dynamics stage records
        its maximum gain reduction (dB) per block in ``gr_trace`` (and a kernel
        insert with several meters, each in ``band_traces``); ``progress``
        is called with the number of frames each stage-block completed.
        ``peaks``, for a chain that is one limiter: its sidechain, one true
        peak per frame of ``audio`` (see :meth:`host.dsp.limiter.Limiter.process`).
        """
        n = audio.shape[1]
        if peaks is not None and [s.insert.kind for s in self.stages] != ["limiter"]:
            raise ValueError("peaks: a sidechain is for a chain that is one limiter")
        for s in self.stages:
            proc = s.processor
            names = s.meter_names
            for start in range(0, n, block_frames):
                part = np.ascontiguousarray(audio[:, start:start + block_frames])
                if peaks is None:
                    proc.process(part)
                else:
                    proc.process(part, peaks[start:start + block_frames])
                audio[:, start:start + block_frames] = part
                if names:
                    grs = proc.take_gain_reduction_meters_db()
                    for name, g in zip(names, grs, strict=True):
                        s.band_traces.setdefault(name, []).append(g)
                    gr = max(grs)
                    s.max_gain_reduction_db = max(s.max_gain_reduction_db, gr)
                    s.gr_trace.append(gr)
                elif s.is_dynamics:
                    gr = float(proc.take_max_gain_reduction_db())
                    s.max_gain_reduction_db = max(s.max_gain_reduction_db, gr)
                    s.gr_trace.append(gr)
                if progress is not None:
                    progress(part.shape[1])
        return audio

    def process_aligned(self, audio: np.ndarray, block_frames: int = 65536,
                        progress: Callable[[int], None] | None = None,
                        peaks: np.ndarray | None = None) -> np.ndarray:
        """Process a whole signal; return output aligned with the input (latency
        removed, tail flushed), the same shape; no state is reset first
        (:func:`host._ffi.process_aligned`).  ``peaks``: as for :meth:`process`,
        one per frame of ``audio``."""
        lat = self.latency_samples
        if peaks is not None:
            peaks = np.concatenate([np.asarray(peaks, dtype=np.float64), np.zeros(lat)])
        return process_aligned(lambda x: self.process(x, block_frames, progress, peaks), audio,
                               lat)
