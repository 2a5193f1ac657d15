"""Offline mastering: chain, loudness target, true-peak ceiling, rate, dither.

The order of work, all at the output sample rate:

1. read and check the input; convert its rate with soxr (VHQ) if asked;
2. run the chain's inserts up to its final limiter (EQ, compression...);
3. find the gain before the limiter that puts the limited program at the
   target integrated loudness (secant iterations on the measured loudness:
   the limiter makes loudness a non-linear function of that gain);
4. limit to the true-peak ceiling (the chain's last limiter, or one added);
   or, with ``limiter=False`` (a vinyl pre-master), gain only: to the target
   loudness or to a true-peak level (``peak_dbtp``, the headroom), nothing limited;
5. dither to 16 or 24 bits (or keep 32-bit float), check the result against
   the ceiling (or the true-peak level) and correct it, then write atomically;
6. read the written file back and measure it for the report.

Loudness weights the channels by the input's layout (a WAV's channel mask, else
the standard layout of its channel count: host.dsp.loudness.channel_weights), and
the layout is written with the master.  Limiting beyond
``MasterSettings.max_limiting_db`` (default 6 dB of gain reduction) is a warning
in the result's ``note``: the target asks more than the material gives.

The ceiling holds by the band-limited (ideal) reconstruction of the file, the
one a good DAC approaches (:mod:`host.dsp.ceiling`), not only by the BS.1770
4x meter the report quotes: the limiter gets that reconstruction of its input
as a sidechain (its own 24-tap detector under-reads wide-band content near
fs/2 by up to several dB), a true-peak level for gain only is set by it, and
the dithered result is measured with it and, where it is over, brought under
by a smooth gain dip of a few ms before it is written.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from host.audiofile import (
    Audio,
    FilesRead,
    check_space,
    check_writable,
    expected_bytes,
    output_format,
    read_audio,
    write_audio,
)
from host.dsp.ceiling import hold_ceiling, ideal_true_peak_dbtp, interval_peaks
from host.dsp.dither import Dither
from host.dsp.loudness import LoudnessMeter
from host.errors import OutboardError
from host.model.config import ChainConfig, Insert, default_chain
from host.model.release import MasterSettings
from host.offline.analysis import analyze_audio, check_measurable
from host.offline.chain import Chain

#: the loudness is reached when within this of the target (LU)
LOUDNESS_TOLERANCE_LU = 0.05
#: more gain than this before the limiter is not mastering any more
MAX_GAIN_DB = 30.0
#: gain only: the band-limited true peak is put this far under ``peak_dbtp``
#: (dB), so that common 16x meters do not read it over either (scipy's
#: resample_poly, whose filter lets images near fs/2 through, reads
#: noise-like hi-hats up to 0.14 dB above the band-limited reconstruction)
PEAK_LEVEL_MARGIN_DB = 0.05
#: the limiter's sidechain reads the band-limited peaks this much high (dB):
#: the gain's own modulation lets wide-band peaks through by a few
#: hundredths of a dB, and limiting that much lower usually spares the final
#: check a corrective pass (each costs a reconstruction of the whole file)
SIDECHAIN_MARGIN_DB = 0.03


#: master()'s stages in order, with the share of the work each takes (for one
#: progress fraction); a chain of its own (not a bare deliverable) weighs more
STAGE_WEIGHTS = {"read": 0.05, "resample": 0.05, "chain": 0.35, "loudness": 0.5, "write": 0.05}


def overall_fraction(stage: str, frac: float, weights: dict[str, float] = STAGE_WEIGHTS) -> float:
    """master()'s ``progress(stage, frac)`` as one fraction of the whole, 0..1."""
    order = list(weights)
    return sum(weights[s] for s in order[:order.index(stage)]) + weights[stage] * frac




@dataclass
class MasterResult:
    output: Path
    gain_db: float
    iterations: int
    target_reached: bool
    note: str
    input_analysis: dict
    output_analysis: dict
    stages: list[dict] = field(default_factory=list)
    settings: dict = field(default_factory=dict)
    #: dynamics stage name -> (time s, max gain reduction dB per trace_s)
    gr_traces: dict = field(default_factory=dict)
    #: the file as written and read back (what output_analysis measured; reports)
    written: Audio | None = None
    #: the most gain reduction any limiter applied, dB (0: no limiter, or none needed)
    max_limiting_db: float = 0.0
    #: the input as read, before any rate conversion (a report's "before")
    source: Audio | None = None
    #: the ceiling (or true-peak level) as checked on the file by the
    #: band-limited reconstruction (host.dsp.ceiling.CeilingCheck.report())
    ceiling_check: dict | None = None

    def report(self) -> dict:
        return {
            "output": str(self.output),
            "settings": self.settings,
            "loudness_gain_db": round(self.gain_db, 2),
            "iterations": self.iterations,
            "target_reached": self.target_reached,
            "note": self.note,
            "max_limiting_db": round(self.max_limiting_db, 2),
            "chain": self.stages,
            "input": self.input_analysis,
            "output_analysis": self.output_analysis,
            "ceiling_check": self.ceiling_check,
        }


def _split_limiter(config: ChainConfig, ceiling_dbtp: float) -> tuple[ChainConfig, Insert]:
    """The chain before the final limiter, and the final limiter (added if the
    chain does not end in one) set to the ceiling."""
    inserts = [i for i in config.inserts if not i.bypass]
    if inserts and inserts[-1].kind == "limiter":
        lim = inserts[-1]
        pre = inserts[:-1]
        params = dict(lim.params, ceiling_dbtp=ceiling_dbtp)
        lim = Insert("limiter", lim.name, params)
    else:
        pre = inserts
        lim = Insert("limiter", "final limiter",
                     {"ceiling_dbtp": ceiling_dbtp, "release_ms": 50.0, "lookahead_ms": 1.5})
    return ChainConfig(pre, config.master), lim


def _integrated(data: np.ndarray, fs: int, channel_mask: int | None = None) -> float:
    m = LoudnessMeter(fs, data.shape[0], channel_mask=channel_mask)
    m.process(data)
    return float(m.integrated_lufs)


def master(
    src: str | Path,
    dst: str | Path,
    config: ChainConfig | None = None,
    settings: MasterSettings | None = None,
    progress: Callable[[str, float], None] | None = None,
    files: FilesRead | None = None,
) -> MasterResult:
    """Master ``src`` into ``dst``; see the module docstring for the steps.

    ``progress(stage, fraction)`` is called as work advances (fraction 0..1).
    ``files``: what the command reads and writes besides (host.audiofile.FilesRead);
    ``src`` and the chain file join it, and ``dst`` must be none of them.
    Raises OutboardError (naming the file or setting) on bad input; nothing is
    written unless the whole render succeeded.
    """
    config = config or default_chain()
    st = settings or MasterSettings()
    files = files if files is not None else FilesRead()
    files.read(src, "the input file")
    if config.path is not None:
        files.read(config.path, "the chain file")
    files.claim(dst)
    output_format(dst, st.bit_depth)
    check_writable(dst)
    say = progress or (lambda stage, frac: None)

    audio = read_audio(src)
    check_measurable(audio)  # now, not after the work (the report measures the input)
    say("read", 1.0)
    fs = st.sample_rate or audio.sample_rate
    check_space([(dst, expected_bytes(dst, math.ceil(audio.frames * fs / audio.sample_rate),
                                      audio.channels, st.bit_depth))])
    data = audio.data
    if fs != audio.sample_rate:
        import soxr

        data = np.ascontiguousarray(
            soxr.resample(data.T, audio.sample_rate, fs, quality="VHQ").T, dtype=np.float32
        )
    say("resample", 1.0)

    if st.peak_dbtp is not None and (st.limiter or st.target_lufs is not None):
        raise OutboardError("peak_dbtp: a true-peak level is for a deliverable without a "
                            "limiter and without a loudness target")
    pre_cfg, lim_ins = _split_limiter(config, st.ceiling_dbtp)
    if not st.limiter:
        pre_cfg = ChainConfig([i for i in config.inserts if not i.bypass], config.master)
    block = max(64, int(round(st.trace_s * fs)))
    try:
        pre = Chain(pre_cfg, fs, audio.channels)
        lim_chain = Chain(ChainConfig([lim_ins] if st.limiter else [], {}), fs, audio.channels)
    except ValueError as exc:
        raise OutboardError(f"chain: {exc}") from None
    n = data.shape[1]
    total = max(1, n * max(1, len(pre.stages)))
    done = [0]

    def tick(frames: int) -> None:
        done[0] += frames
        say("chain", min(1.0, done[0] / total))

    y = pre.process_aligned(data, block_frames=block, progress=tick)
    mask = audio.channel_mask
    base = _integrated(y, fs, mask)

    # the limiter's sidechain: the band-limited true peak of its input, which
    # only scales with the gain before it
    peaks = interval_peaks(y) * 10 ** (SIDECHAIN_MARGIN_DB / 20) if st.limiter else None

    def limited(gain_db: float) -> np.ndarray:
        lim_chain.reset()
        k = 10 ** (gain_db / 20)
        z = y * np.float32(k)
        return lim_chain.process_aligned(z, block_frames=block,
                                         peaks=None if peaks is None else peaks * k)

    iterations, note, reached = 0, "", True
    if not st.limiter and st.peak_dbtp is not None:
        tp = ideal_true_peak_dbtp(y)
        if not math.isfinite(tp):
            raise OutboardError(f"{src}: the program is silent; no peak to bring to "
                                f"{st.peak_dbtp:.1f} dBTP")
        gain = min(st.peak_dbtp - PEAK_LEVEL_MARGIN_DB - tp, MAX_GAIN_DB)
        z = limited(gain)
    elif st.target_lufs is None:
        gain = 0.0
        z = limited(gain)
    elif not math.isfinite(base):
        raise OutboardError(f"{src}: the program is silent (or shorter than 400 ms); "
                            "no loudness to bring to the target")
    else:
        gain = st.target_lufs - base
        history: list[tuple[float, float]] = []
        while True:
            gain = min(gain, MAX_GAIN_DB)
            z = limited(gain)
            level = _integrated(z, fs, mask)
            iterations += 1
            history.append((gain, level))
            err = st.target_lufs - level
            say("loudness", min(1.0, iterations / 6))
            if abs(err) <= LOUDNESS_TOLERANCE_LU or not st.limiter:
                break  # (gain alone: loudness is linear in it; one step is exact)
            if iterations >= 12 or (gain >= MAX_GAIN_DB and err > 0):
                break
            if len(history) >= 2 and history[-1][1] != history[-2][1]:
                (g0, l0), (g1, l1) = history[-2], history[-1]
                slope = (l1 - l0) / (g1 - g0) if g1 != g0 else 1.0
                slope = min(max(slope, 0.05), 1.0)
                if slope <= 0.06 and err > 0:
                    break  # more gain only adds limiting, not loudness
                gain = g1 + err / slope
            else:
                gain += err
        reached = abs(err) <= 0.5
        if not reached:
            note = (f"the material does not allow {st.target_lufs:.1f} LUFS under a "
                    f"{st.ceiling_dbtp:.1f} dBTP ceiling: reached {level:.2f} LUFS")
    say("loudness", 1.0)

    finish = None
    if st.bit_depth != "32f":
        shaping = st.dither if st.bit_depth == "16" else "none"

        def finish(a: np.ndarray) -> np.ndarray:
            return Dither(a.shape[0], int(st.bit_depth), shaping).process(a.copy())
    if st.limiter or st.peak_dbtp is not None:
        # the limiter's ceiling, or gain only: the true-peak level (by one gain)
        level = st.ceiling_dbtp if st.limiter else st.peak_dbtp
        z, check = hold_ceiling(z, fs, level, finish, limit=st.limiter)
        ceiling_check = check.report()
    else:
        z = finish(z) if finish else z
        tp = ideal_true_peak_dbtp(z)
        ceiling_check = {"ceiling_dbtp": st.ceiling_dbtp, "enforced": False,
                         "true_peak_dbtp": round(tp, 3) if math.isfinite(tp) else None}
    write_audio(dst, z, fs, st.bit_depth, channel_mask=mask)
    say("write", 1.0)

    out = read_audio(dst)
    if out.channel_mask is None:  # FLAC, AIFF: no mask, the layout is still the input's
        out.channel_mask = mask
    out_analysis = analyze_audio(out)
    if not st.limiter:
        tp = ceiling_check["true_peak_dbtp"]
        if tp is not None and tp > st.ceiling_dbtp + 0.05:
            note = (note + "; " if note else "") + (
                f"true peak {tp:.2f} dBTP is over the {st.ceiling_dbtp:.1f} dBTP ceiling "
                "(this deliverable has no limiter)")
    # dB, to the report's 0.01 dB, so the note and the report say one figure
    limiting = round(max((s.max_gain_reduction_db for s in pre.stages + lim_chain.stages
                          if s.insert.kind == "limiter"), default=0.0), 2)
    if limiting > st.max_limiting_db:
        note = (note + "; " if note else "") + (
            f"{limiting:.1f} dB of limiting (warning above {st.max_limiting_db:g} dB): "
            "a lower loudness target limits less")
    traces = {}
    for s in pre.stages + lim_chain.stages:
        traces.update(s.gr_traces(block / fs))   # a multiband: one trace per band
    stages = [{"name": s.insert.name, "kind": s.insert.kind, "params": s.insert.params,
               "bands": s.insert.bands or None,
               "max_gain_reduction_db": round(s.max_gain_reduction_db, 2)
               if s.is_dynamics else None,
               **({"max_gain_reduction_db_bands": {b: round(max(tr), 2)
                                                   for b, tr in s.band_traces.items() if tr}}
                  if s.band_traces else {})}
              for s in pre.stages + lim_chain.stages]
    return MasterResult(
        output=Path(dst), gain_db=gain, iterations=iterations, target_reached=reached,
        note=note, input_analysis=analyze_audio(audio), output_analysis=out_analysis,
        written=out, max_limiting_db=limiting, source=audio, ceiling_check=ceiling_check,
        stages=stages, gr_traces=traces,
        settings={"target_lufs": st.target_lufs, "ceiling_dbtp": st.ceiling_dbtp,
                  "limiter": st.limiter, "peak_dbtp": st.peak_dbtp,
                  "max_limiting_db": st.max_limiting_db,
                  "bit_depth": st.bit_depth, "sample_rate": fs, "dither": st.dither
                  if st.bit_depth == "16" else ("tpdf" if st.bit_depth == "24" else "none")},
    )


