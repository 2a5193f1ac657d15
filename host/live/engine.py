"""The real-time engine: the whole chain in C, live through an audio interface.

:class:`Engine` builds the C kernels of a :class:`~host.model.config.ChainConfig`
(through :func:`host.offline.chain.build_insert`) and hands them, in order, to one C
``ob_engine`` (``native/engine.h``).  Audio runs either offline
(:meth:`Engine.process`) or in a duplex PortAudio stream opened through
sounddevice whose callback is the C function ``ob_engine_pa_callback``:
no Python and no GIL run in the audio thread.  Both paths run the same C
code, so a software-only chain gives the same bits live and offline.

Python talks to the running engine only through lock-free single-producer,
single-consumer rings and a seqlocked meter snapshot:

- :meth:`Engine.set_param` queues parameter messages; the audio thread
  applies them at the start of its next block, and the kernels ramp (no
  clicks);
- :meth:`Engine.playback_write` feeds the program from a file
  (``source="playback"``); :meth:`Engine.record_read` takes the processed
  program (``record=True``);
- :meth:`Engine.events` drains xruns, muted non-finite blocks, clips,
  playback end and underruns, record overruns and rejected parameters;
- :meth:`Engine.meters` reads levels, loudness, true peak, gain reduction and
  DSP load;
- :meth:`Engine.ping` plays a test signal out of one hardware insert's sends
  and returns what came back on its returns (ping mode: the program stops,
  the speakers stay silent), for :mod:`host.gear.latency`.

Hardware inserts (``kind = "hardware"``) send the chain signal at their place
to device outputs and take it back from device inputs; each return channel is
delayed so that all line up at the insert's latency L (see
``native/engine.h``), and the dry path is delayed by L.  Offline
(:meth:`Engine.process`) the unit is a wire with no round trip.

None of these calls blocks the audio thread, and none of them is itself
real-time code: they are meant for the control thread (GUI, CLI, a file
reader thread).  Each ring has one reader and one writer; the methods take a
lock per ring so several Python threads may call them.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
import weakref
from collections.abc import Sequence
from numbers import Integral, Real
from typing import Any, Literal

import numpy as np

from host._ffi import check, ffi, lib, planar, process_aligned
from host.dsp.biquad import KINDS as BIQUAD_TYPES
from host.dsp.biquad import butterworth_sections, linkwitz_riley_sections
from host.dsp.kernel import KernelInsert
from host.errors import ConfigError
from host.model.config import KINDS, MAX_INSERTS, ChainConfig, Param, parse_chain
from host.offline.chain import build_insert

__all__ = ["Engine", "EVENT_NAMES", "GEAR_FAULTS", "ON_RETURN_LOST", "SOURCES"]

SOURCES = {"input": lib.OB_SOURCE_INPUT, "playback": lib.OB_SOURCE_PLAYBACK}
EVENT_NAMES = {
    lib.OB_EVENT_XRUN: "xrun",
    lib.OB_EVENT_NONFINITE: "nonfinite",
    lib.OB_EVENT_CLIP: "clip",
    lib.OB_EVENT_PLAYBACK_END: "playback_end",
    lib.OB_EVENT_PLAYBACK_UNDERRUN: "playback_underrun",
    lib.OB_EVENT_RECORD_OVERRUN: "record_overrun",
    lib.OB_EVENT_PARAM_REJECTED: "param_rejected",
    lib.OB_EVENT_RETURN_LOST: "return_lost",
    lib.OB_EVENT_RETURN_DC: "return_dc",
    lib.OB_EVENT_RETURN_OSCILLATION: "return_oscillation",
}
#: events that bypass a hardware insert (live); its ``on_return_lost`` says what the host does
GEAR_FAULTS = ("return_lost", "return_dc", "return_oscillation")
#: ``on_return_lost`` choices: keep running with the insert bypassed, or stop the host
ON_RETURN_LOST = ("bypass", "stop")
FS_RANGE_HZ = (8000.0, 768000.0)
MAX_CHANNELS = int(lib.OB_ENGINE_MAX_CHANNELS)
MAX_BLOCK = int(lib.OB_ENGINE_MAX_BLOCK)
#: length of the gain and bypass ramps, ms (linear)
RAMP_MS = float(lib.OB_ENGINE_RAMP_MS)

_COMP_IDS = {
    "threshold_db": lib.OB_PARAM_COMP_THRESHOLD_DB,
    "ratio": lib.OB_PARAM_COMP_RATIO,
    "knee_db": lib.OB_PARAM_COMP_KNEE_DB,
    "attack_ms": lib.OB_PARAM_COMP_ATTACK_MS,
    "release_ms": lib.OB_PARAM_COMP_RELEASE_MS,
    "makeup_db": lib.OB_PARAM_COMP_MAKEUP_DB,
    "detector": lib.OB_PARAM_COMP_DETECTOR,
    "rms_window_ms": lib.OB_PARAM_COMP_RMS_WINDOW_MS,
    "stereo_link": lib.OB_PARAM_COMP_STEREO_LINK,
    "mode": lib.OB_PARAM_COMP_MODE,
    "sidechain_hpf_hz": lib.OB_PARAM_COMP_SIDECHAIN_HPF_HZ,
}
_LIM_IDS = {"ceiling_dbtp": lib.OB_PARAM_LIM_CEILING_DBTP,
            "release_ms": lib.OB_PARAM_LIM_RELEASE_MS}
_CHOICES = {
    "detector": {"peak": lib.OB_COMP_DETECT_PEAK, "rms": lib.OB_COMP_DETECT_RMS},
    "mode": {"stereo": lib.OB_COMP_MODE_STEREO, "mid-side": lib.OB_COMP_MODE_MID_SIDE},
}
_HW_IDS = {
    "send_trim_db": lib.OB_PARAM_HW_SEND_TRIM_DB,
    "return_trim_db": lib.OB_PARAM_HW_RETURN_TRIM_DB,
    "polarity": lib.OB_PARAM_HW_POLARITY,
    "mix": lib.OB_PARAM_HW_MIX,
    "latency_samples": lib.OB_PARAM_HW_LATENCY_SAMPLES,
}
_ADD = {"eq": "ob_engine_add_eq", "compressor": "ob_engine_add_compressor",
        "limiter": "ob_engine_add_limiter"}


def _kernel_pointer(kind: str, proc: Any) -> Any:
    """The C state of a wrapper built by host.offline.chain.build_insert."""
    return proc.cascade._st if kind == "eq" else proc._st


def _release(box: dict, engine: Any, keep: list) -> None:
    """Finalizer: close the stream (the callback uses the engine), then free
    the engine; the kernel wrappers in ``keep`` are released after it."""
    stream = box.pop("stream", None)
    if stream is not None:
        # best effort at interpreter exit (PortAudio may be terminated already,
        # which closes every stream)
        with contextlib.suppress(Exception):
            stream.close(ignore_errors=True)
    lib.ob_engine_free(engine)
    keep.clear()


class _Insert:
    """What the engine knows of one insert."""

    def __init__(self, index: int, name: str, kind: str, proc: Any, params: dict[str, Any],
                 bypass: bool, bands: list[dict[str, Any]]):
        self.index, self.name, self.kind, self.proc = index, name, kind, proc
        self.params = dict(params)
        self.bypass = bypass
        self.bands = [dict(b) for b in bands]
        self.band_bypass = [False] * len(bands)
        self.first: list[int] = []
        self.send_map: list[int] = []     # hardware: device outputs, 0-based
        self.return_map: list[int] = []   # hardware: device inputs, 0-based
        self.max_latency = 0              # hardware: round trips below this, samples
        k = 0
        for b in self.bands:
            self.first.append(k)
            k += _band_sections(b)


def _band_sections(band: dict[str, Any]) -> int:
    fam = band.get("family", "rbj")
    if fam == "butterworth":
        return butterworth_sections(band["order"])
    if fam == "linkwitz-riley":
        return linkwitz_riley_sections(band["order"])
    return 1


class Engine:
    """A mastering chain run by the C engine, offline or in a live stream.

    Parameters
    ----------
    fs : float
        Sample rate, Hz, 8000..768000 (the stream must run at this rate).
    channels : int
        Program channels, 1..8.
    chain : ChainConfig
        The inserts, in signal order.  Bypassed inserts are built and run
        too, with their output crossfaded out, so they can be switched in
        live (``set_param(name, bypass=False)``) without a jump; the latency
        of a bypassed insert is kept.
    max_block : int
        Largest block the C chain runs at once, frames, 1..65536 (longer
        calls are cut into pieces of this size; the output does not depend
        on it).
    ring_seconds : float
        Capacity of the playback and record rings, s, 0.01..600.

    Notes
    -----
    The object owns the C engine, every kernel and every buffer handed to C;
    the stream is closed before the engine is freed.  Only the C callback
    runs in the audio thread; every method here runs in the calling
    (control) thread and never blocks the audio thread.
    """

    def __init__(self, fs: float, channels: int, chain: ChainConfig, max_block: int = 8192,
                 ring_seconds: float = 2.0):
        if isinstance(fs, bool) or not isinstance(fs, Real) or not (
                FS_RANGE_HZ[0] <= fs <= FS_RANGE_HZ[1]):
            raise ValueError(f"fs: sample rate, expected {FS_RANGE_HZ[0]:g}..{FS_RANGE_HZ[1]:g} "
                             f"Hz, got {fs!r}")
        if isinstance(channels, bool) or not isinstance(channels, Integral) or not (
                1 <= channels <= MAX_CHANNELS):
            raise ValueError(f"channels: program channels, expected 1..{MAX_CHANNELS}, "
                             f"got {channels!r}")
        if isinstance(max_block, bool) or not isinstance(max_block, Integral) or not (
                1 <= max_block <= MAX_BLOCK):
            raise ValueError(f"max_block: frames, expected 1..{MAX_BLOCK}, got {max_block!r}")
        if isinstance(ring_seconds, bool) or not isinstance(ring_seconds, Real) or not (
                0.01 <= ring_seconds <= 600.0):
            raise ValueError(f"ring_seconds: s, expected 0.01..600, got {ring_seconds!r}")
        if len(chain.inserts) > MAX_INSERTS:
            raise ValueError(f"chain: at most {MAX_INSERTS} inserts, got {len(chain.inserts)}")
        self.fs = float(fs)
        self.channels = int(channels)
        self.max_block = int(max_block)
        e = lib.ob_engine_new(self.fs, self.channels, self.max_block)
        if e == ffi.NULL:
            raise MemoryError("ob_engine_new failed")
        self._e = e
        self._box: dict[str, Any] = {}
        self._keep: list[Any] = []
        self._inserts: list[_Insert] = []
        try:
            self._build(chain, ring_seconds)
        except BaseException:
            lib.ob_engine_free(e)
            raise
        # made after the kernels' own finalizers, so at interpreter exit it runs
        # before them: stream closed, engine freed, then the kernels
        self._fin = weakref.finalize(self, _release, self._box, e, self._keep)
        self._param_lock = threading.Lock()
        self._pushed = 0  # parameter messages pushed (see wait_params)
        self._event_lock = threading.Lock()
        self._play_lock = threading.Lock()
        self._rec_lock = threading.Lock()
        self._meters = ffi.new("ob_meters *")
        self._event = ffi.new("ob_event *")
        self._msg = ffi.new("ob_param_msg *")
        self._stream: Any = None
        self._stop_requested: dict[str, Any] | None = None

    def _build(self, chain: ChainConfig, ring_seconds: float) -> None:
        e = self._e
        ring = max(1, min(int(round(ring_seconds * self.fs)), 1 << 26))
        check(lib.ob_engine_set_ring_frames(e, ring, ring), "ob_engine_set_ring_frames")
        self.ring_frames = ring
        for ins in chain.inserts:
            if ins.kind == "hardware":
                self._add_hardware(ins)
                continue
            if ins.kind == "gain":
                proc = None
                idx = lib.ob_engine_add_gain(e, float(ins.params["gain_db"]))
            else:
                proc = build_insert(ins, self.fs, self.channels)
                self._keep.append(proc)
                if isinstance(proc, KernelInsert):   # generic: the kernel's own verbs
                    idx = lib.ob_engine_add_kernel(e, proc.engine_kind, proc._st,
                                                   proc.engine_ops)
                else:
                    idx = getattr(lib, _ADD[ins.kind])(e, _kernel_pointer(ins.kind, proc))
            check(min(idx, 0), f"ob_engine_add ({ins.name})")
            if ins.bypass:
                check(lib.ob_engine_set_bypass_now(e, idx, 1), "ob_engine_set_bypass_now")
            self._inserts.append(_Insert(idx, ins.name, ins.kind, proc, ins.params, ins.bypass,
                                         ins.bands))

    def _add_hardware(self, ins: Any) -> None:
        p = ins.params
        where = f"insert {ins.name!r} (hardware)"
        for key in ("sends", "returns"):
            if len(p[key]) != self.channels:
                raise ValueError(f"{where}: {key}: expected {self.channels} interface channels "
                                 f"(one per program channel), got {len(p[key])}")
        smap = [int(c) - 1 for c in p["sends"]]
        rmap = [int(c) - 1 for c in p["returns"]]
        lat = p.get("latency_samples")
        lats = [] if lat is None else (list(lat) if isinstance(lat, list) else [lat])
        max_lat = max([int(round(self.fs))] + [int(math.floor(v)) + 2 for v in lats])
        if max_lat > lib.OB_DELAY_MAX:
            raise ValueError(f"{where}: latency_samples: expected below "
                             f"{lib.OB_DELAY_MAX} samples, got {max(lats):g}")
        idx = lib.ob_engine_add_hardware(self._e, ffi.new("int[]", smap), ffi.new("int[]", rmap),
                                         max_lat)
        if idx == lib.OB_ERR_ARG:
            raise ValueError(f"{where}: sends: an interface output is already another hardware "
                             f"insert's send ({p['sends']})")
        check(min(idx, 0), f"ob_engine_add_hardware ({ins.name})")
        if ins.bypass:
            check(lib.ob_engine_set_bypass_now(self._e, idx, 1), "ob_engine_set_bypass_now")
        rec = _Insert(idx, ins.name, "hardware", None, p, ins.bypass, [])
        rec.send_map, rec.return_map, rec.max_latency = smap, rmap, max_lat
        self._inserts.append(rec)
        init = {k: p[k] for k in ("send_trim_db", "return_trim_db", "polarity", "mix")
                if k in p and p[k] != "auto"}
        if lat is not None:
            init["latency_samples"] = lat
        for key, value in init.items():
            for m in self._hw_messages(rec, where, key, value):
                check(lib.ob_engine_set_hardware_now(self._e, idx, m["param"], m["section"],
                                                     m["value"]),
                      f"ob_engine_set_hardware_now ({ins.name}.{key})")

    def _hw_messages(self, ins: _Insert, where: str, key: str,
                     value: Any) -> list[dict[str, Any]]:
        """Messages for one hardware parameter; a scalar applies to every channel,
        a list gives one value per return channel."""
        nch = self.channels
        base = {"insert": ins.index, "param": _HW_IDS[key]}
        if key == "mix":
            v = self._validate(where, key, Param("number", 0.0, 1.0, "(0 = dry, 1 = wet)"),
                               value)
            return [{**base, "section": -1, "value": v}]
        vals = list(value) if isinstance(value, list | tuple | np.ndarray) else None
        if vals is not None and len(vals) != nch:
            raise ValueError(f"{where}: {key}: expected one value or {nch} (one per return "
                             f"channel), got {len(vals)}")
        items = [(-1, value)] if vals is None else list(enumerate(vals))
        if key == "latency_samples" and vals is None:
            items = [(c, value) for c in range(nch)]
        out = []
        for c, v in items:
            k = key if c < 0 else f"{key}[{c}]"
            if key == "polarity":
                if isinstance(v, bool) or not isinstance(v, Real) or v not in (1, -1):
                    raise ValueError(f"{where}: {k}: expected 1 or -1, got {v!r}")
                v = float(v)
            elif key == "latency_samples":
                if isinstance(v, bool) or not isinstance(v, Real) or not math.isfinite(v) or \
                        not 0 <= v < ins.max_latency:
                    raise ValueError(f"{where}: {k}: expected a measured round trip 0..<"
                                     f"{ins.max_latency} samples (the delay lines' size), "
                                     f"got {v!r}")
                v = float(v)
            else:
                v = self._validate(where, k, Param("number", -24.0, 24.0, "dB"), v)
            out.append({**base, "section": c, "value": v})
        return out

    @property
    def hardware_inserts(self) -> dict[str, dict[str, Any]]:
        """Hardware inserts by name: ``index``, ``sends`` / ``returns`` (1-based
        interface channels), ``send_map`` / ``return_map`` (0-based device
        channels), ``max_latency_samples`` (round trips must stay below it)."""
        return {i.name: {"index": i.index, "sends": [c + 1 for c in i.send_map],
                         "returns": [c + 1 for c in i.return_map], "send_map": list(i.send_map),
                         "return_map": list(i.return_map),
                         "max_latency_samples": i.max_latency}
                for i in self._inserts if i.kind == "hardware"}

    # ---- graph ---------------------------------------------------------------------

    @property
    def latency_samples(self) -> int:
        """Latency of the whole chain, samples (bypassed inserts included)."""
        return int(lib.ob_engine_latency(self._e))

    @property
    def insert_names(self) -> list[str]:
        """Insert names, in signal order."""
        return [i.name for i in self._inserts]

    def insert_latency(self, insert: str | int) -> int:
        """Latency of one insert, samples."""
        return int(lib.ob_engine_insert_latency(self._e, self._insert(insert).index))

    def _insert(self, insert: str | int) -> _Insert:
        if isinstance(insert, str):
            for i in self._inserts:
                if i.name == insert:
                    return i
            raise ValueError(f"insert: no insert named {insert!r} (have "
                             f"{', '.join(map(repr, self.insert_names)) or 'none'})")
        if isinstance(insert, bool) or not isinstance(insert, Integral) or not (
                0 <= insert < len(self._inserts)):
            raise ValueError(f"insert: expected a name or an index 0..{len(self._inserts) - 1}, "
                             f"got {insert!r}")
        return self._inserts[int(insert)]

    # ---- offline -------------------------------------------------------------------

    def _check_idle(self, what: str) -> None:
        if self._stream is not None and self._stream.active:
            raise RuntimeError(f"{what}: not while the stream runs (stop it first)")

    def process(self, audio: np.ndarray) -> np.ndarray:
        """Run planar audio through the engine, as a block of a stream.

        Parameters
        ----------
        audio : np.ndarray
            (channels, frames) samples, full scale 1.0 (1-D for one channel).
            Not modified.

        Returns
        -------
        np.ndarray
            float32 (channels, frames): the output, delayed by
            ``latency_samples``.  The same C path as the stream callback
            (queued parameter messages apply first; meters, events and the
            record ring are updated).  Not while a stream runs.
        """
        self._check_idle("process")
        a = planar(audio)
        if a.shape[0] != self.channels:
            raise ValueError(f"audio: expected {self.channels} channels as (channels, frames), "
                             f"got shape {np.shape(audio)}")
        out = np.empty_like(a)
        n = a.shape[1]
        ip = ffi.new("float *[]", self.channels)
        op = ffi.new("float *[]", self.channels)
        ibase = ffi.cast("float *", ffi.from_buffer(a))
        obase = ffi.cast("float *", ffi.from_buffer(out))
        step = 1 << 24
        for start in range(0, max(n, 1), step):
            frames = min(step, n - start)
            for c in range(self.channels):
                ip[c] = ibase + c * n + start
                op[c] = obase + c * n + start
            check(lib.ob_engine_process(self._e, ip, op, frames), "ob_engine_process")
        return out[0] if np.ndim(audio) == 1 else out

    def process_aligned(self, audio: np.ndarray) -> np.ndarray:
        """Process a whole signal and return output aligned with the input.

        ``latency_samples`` of silence are appended and the first
        ``latency_samples`` output samples dropped; the engine is not reset
        first (call :meth:`reset` for a fresh start).
        """
        out = process_aligned(self.process, planar(audio), self.latency_samples)
        return out[0] if np.ndim(audio) == 1 else out

    def reset(self) -> None:
        """Clear every kernel's history and restart the output meters (not while
        a stream runs)."""
        self._check_idle("reset")
        lib.ob_engine_reset(self._e)

    # ---- parameters ------------------------------------------------------------------

    def _push(self, msgs: list[dict[str, Any]]) -> None:
        with self._param_lock:
            for m in msgs:
                msg = self._msg
                for k in ("insert", "param", "section", "type", "order"):
                    setattr(msg, k, int(m.get(k, 0)))
                for k in ("value", "freq_hz", "q", "gain_db", "slope"):
                    setattr(msg, k, float(m.get(k, 0.0)))
                deadline = time.monotonic() + 0.5
                while True:
                    st = lib.ob_engine_param_push(self._e, msg)
                    if st != lib.OB_ENGINE_ERR_FULL:
                        break
                    if self._stream is None or not self._stream.active or \
                            time.monotonic() > deadline:
                        raise RuntimeError("set_param: the parameter queue is full "
                                           f"({lib.OB_ENGINE_PARAM_SLOTS} messages); queued "
                                           "changes apply when audio is processed")
                    time.sleep(0.001)
                check(st, "ob_engine_param_push")
                self._pushed += 1

    def wait_params(self, timeout_s: float = 2.0) -> None:
        """Block until the audio thread has taken every parameter message
        pushed so far (applied or rejected); needed before reading a latency
        that a message changes.  Only meaningful while streaming."""
        deadline = time.monotonic() + timeout_s
        while True:
            m = self._meters
            lib.ob_engine_read_meters(self._e, m)
            if int(m.params_applied) + int(m.params_rejected) >= self._pushed:
                return
            if self._stream is None or not self._stream.active or time.monotonic() > deadline:
                raise RuntimeError("wait_params: the engine did not take its parameter "
                                   "messages (is the stream running?)")
            time.sleep(0.002)

    @staticmethod
    def _validate(where: str, key: str, p: Param, value: Any) -> Any:
        bad = ValueError(f"{where}: {key}: expected {p.describe()}, got {value!r}")
        if p.kind == "number":
            if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
                raise bad
            if p.zero_ok and value == 0:
                return 0.0
            if not p.lo <= value <= p.hi:
                raise bad
            return float(value)
        if p.kind == "choice":
            if value not in p.choices:
                raise bad
            return value
        raise bad

    def set_param(self, insert: str | int, **params: Any) -> None:
        """Change parameters of one insert while audio runs (or before the next
        :meth:`process`).

        Parameters
        ----------
        insert : str or int
            Insert name (as in the chain) or index.
        **params
            Any insert: ``bypass`` (bool; crossfaded over 20 ms, latency kept).
            gain: ``gain_db`` (dB, -48..48; ramped linearly over 20 ms).
            compressor: ``threshold_db`` (dBFS, -60..0), ``ratio`` (1..100),
            ``knee_db`` (dB, 0..24), ``attack_ms`` (ms, 0.01..500),
            ``release_ms`` (ms, 1..5000), ``makeup_db`` (dB, -24..24),
            ``detector`` ("peak", "rms"), ``rms_window_ms`` (ms, 1..300),
            ``stereo_link`` (0..1), ``mode`` ("stereo", "mid-side"),
            ``sidechain_hpf_hz`` (Hz, 0 = off or 20..500).
            limiter: ``ceiling_dbtp`` (dBTP, -20..0), ``release_ms`` (ms,
            1..1000); the lookahead is fixed.
            hardware: ``send_trim_db``, ``return_trim_db`` (dB, -24..24),
            ``polarity`` (1 or -1), each one value or one per return channel,
            ramped; ``mix`` (0 dry .. 1 wet, ramped); ``latency_samples``
            (measured round trip, samples, >= 0 and below the delay lines'
            size, one value or one per return channel): recomputes the
            insert's latency L and the return delays, applied at once (set it
            before the program starts; it changes :attr:`latency_samples`
            once the audio thread applied it).
            eq: ``band`` (index) with band keys as in a chain file (``type``,
            ``freq_hz``, ``gain_db``, ``q``, ``slope``, ``order``, ``family``),
            merged into the band's current values unless ``type`` is given;
            the band must keep its number of sections.  ``band`` with
            ``bypass`` switches that band alone.

        Every value is checked here against the chain file's ranges (a
        ``ValueError`` names the insert, the parameter, its unit and range)
        before any message is queued.  The audio thread applies the messages
        at the start of its next block; the kernels ramp to the new values,
        so nothing clicks.  Does not block the audio thread.
        """
        ins = self._insert(insert)
        where = f"insert {ins.name!r} ({ins.kind})"
        if not params:
            raise ValueError(f"{where}: no parameter given")
        msgs: list[dict[str, Any]] = []
        updates: dict[str, Any] = {}
        base = {"insert": ins.index}
        if ins.kind == "eq" and "band" in params:
            self._eq_messages(ins, where, dict(params), msgs)
            self._push(msgs)
            return
        if isinstance(ins.proc, KernelInsert):
            self._kernel_set(ins, where, dict(params))
            return
        for key, value in params.items():
            if key == "bypass":
                if not isinstance(value, bool):
                    raise ValueError(f"{where}: bypass: expected true or false, got {value!r}")
                msgs.append({**base, "param": lib.OB_PARAM_BYPASS, "value": float(value)})
                continue
            if ins.kind == "hardware":
                if key not in _HW_IDS:
                    raise ValueError(f"{where}: unknown parameter {key!r} (expected one of "
                                     f"{', '.join([*_HW_IDS, 'bypass'])})")
                msgs.extend(self._hw_messages(ins, where, key, value))
                updates[key] = value
                continue
            schema = KINDS[ins.kind]
            if ins.kind == "limiter" and key == "lookahead_ms":
                raise ValueError(f"{where}: lookahead_ms: fixed when the engine is built "
                                 "(it sizes the delay line); build a new Engine to change it")
            ids = {"gain": {"gain_db": lib.OB_PARAM_GAIN_DB}, "compressor": _COMP_IDS,
                   "limiter": _LIM_IDS, "eq": {}}[ins.kind]
            if key not in ids:
                known = ", ".join([*ids, "bypass"] + (["band"] if ins.kind == "eq" else []))
                raise ValueError(f"{where}: unknown parameter {key!r} (expected one of {known})")
            v = self._validate(where, key, schema[key], value)
            if key == "mode" and v == "mid-side" and self.channels != 2:
                raise ValueError(f"{where}: mode: 'mid-side' needs 2 channels, the engine has "
                                 f"{self.channels}")
            num = _CHOICES[key][v] if key in _CHOICES else v
            msgs.append({**base, "param": ids[key], "value": float(num)})
            updates[key] = v
        self._push(msgs)
        ins.params.update(updates)
        if "bypass" in params:
            ins.bypass = params["bypass"]

    def _kernel_set(self, ins: _Insert, where: str, params: dict[str, Any]) -> None:
        """A kernel insert: ``bypass`` (without ``band``) is the insert's; every
        other key is the kernel's, checked by its wrapper and sent through the
        ring as OB_PARAM_KERNEL + its id."""
        msgs: list[dict[str, Any]] = []
        bypass = params.pop("bypass", None) if "band" not in params else None
        if bypass is not None:
            if not isinstance(bypass, bool):
                raise ValueError(f"{where}: bypass: expected true or false, got {bypass!r}")
            msgs.append({"insert": ins.index, "param": lib.OB_PARAM_BYPASS,
                         "value": float(bypass)})
        if params:
            try:
                triples = ins.proc.messages(**params)
            except ValueError as exc:
                raise ValueError(f"{where}: {exc}") from None
            msgs.extend({"insert": ins.index, "param": lib.OB_PARAM_KERNEL + p, "section": i,
                         "value": v} for p, i, v in triples)
        self._push(msgs)
        if params:
            ins.proc._applied(params)
        if bypass is not None:
            ins.bypass = bypass

    def _eq_messages(self, ins: _Insert, where: str, params: dict[str, Any],
                     msgs: list[dict[str, Any]]) -> None:
        b = params.pop("band")
        if isinstance(b, bool) or not isinstance(b, Integral) or not 0 <= b < len(ins.bands):
            raise ValueError(f"{where}: band: expected a band index 0..{len(ins.bands) - 1}, "
                             f"got {b!r}")
        b = int(b)
        first, nsec = ins.first[b], _band_sections(ins.bands[b])
        if "bypass" in params:
            byp = params.pop("bypass")
            if not isinstance(byp, bool):
                raise ValueError(f"{where}: bands[{b}].bypass: expected true or false, "
                                 f"got {byp!r}")
            if params:
                raise ValueError(f"{where}: bands[{b}]: give bypass alone, or band keys "
                                 "without bypass")
            if byp:
                for s in range(first, first + nsec):
                    msgs.append({"insert": ins.index, "param": lib.OB_PARAM_EQ_IDENTITY,
                                 "section": s})
            else:
                msgs.extend(self._band_messages(ins, b, ins.bands[b]))
            ins.band_bypass[b] = byp
            return
        if not params:
            raise ValueError(f"{where}: bands[{b}]: no band key given")
        raw = params if "type" in params else {**ins.bands[b], **params}
        try:
            cfg = parse_chain({"chain": [{"kind": "eq", "bands": [raw]}]}, where)
        except ConfigError as exc:
            raise ValueError(str(exc).replace("chain[0].bands[0]", f"bands[{b}]")) from None
        band = cfg.inserts[0].bands[0]
        if band["freq_hz"] >= 0.5 * self.fs:
            raise ValueError(f"{where}: bands[{b}].freq_hz: expected below fs/2 = "
                             f"{0.5 * self.fs:g} Hz, got {band['freq_hz']:g}")
        if _band_sections(band) != nsec:
            raise ValueError(f"{where}: bands[{b}]: takes {_band_sections(band)} filter sections, "
                             f"the band it replaces {nsec}; change the chain file instead")
        msgs.extend(self._band_messages(ins, b, band))
        ins.bands[b] = band
        ins.band_bypass[b] = False

    def _band_messages(self, ins: _Insert, b: int, band: dict[str, Any]) -> list[dict]:
        m = {"insert": ins.index, "section": ins.first[b], "type": BIQUAD_TYPES[band["type"]],
             "freq_hz": band["freq_hz"]}
        fam = band.get("family", "rbj")
        if fam == "butterworth":
            return [{**m, "param": lib.OB_PARAM_EQ_BUTTERWORTH, "order": band["order"]}]
        if fam == "linkwitz-riley":
            return [{**m, "param": lib.OB_PARAM_EQ_LINKWITZ_RILEY, "order": band["order"]}]
        slope = band.get("slope")
        return [{**m, "param": lib.OB_PARAM_EQ_RBJ,
                 "q": 0.7071 if slope is not None else band.get("q", 0.7071),
                 "gain_db": band.get("gain_db", 0.0), "slope": slope or 0.0}]

    def reset_meters(self) -> None:
        """Restart loudness, true peak and the clip count at the next block
        (queued like a parameter; safe while streaming)."""
        self._push([{"insert": -1, "param": lib.OB_PARAM_RESET_METERS}])

    # ---- meters and events -------------------------------------------------------------

    def meters(self) -> dict[str, Any]:
        """A consistent snapshot of the engine's meters.

        Returns
        -------
        dict
            ``frames`` (program frames processed), ``callbacks``,
            ``input_peak_dbfs`` / ``output_peak_dbfs`` (per channel, max since
            the previous call, dBFS, -inf for silence), ``momentary_lufs``,
            ``short_term_lufs``, ``integrated_lufs`` (output, LUFS; -inf until
            measured), ``true_peak_dbtp`` (output, max since start or
            :meth:`reset_meters`), ``gain_reduction_db`` (dynamics inserts by
            name: last block, dB), ``gain_reduction_max_db`` (max since the
            previous call, dB), ``gain_reduction_bands_db`` and
            ``gain_reduction_bands_max_db`` (kernel inserts with several
            meters, e.g. multiband: ``{insert: {band label: dB}}``),
            ``dsp_load`` (last callback: time in it / block duration) and
            ``dsp_load_max`` (since the previous call),
            counters ``xruns``, ``nonfinite``, ``clipped_samples``,
            ``playback_frames``, ``playback_first_frame`` (engine frame of the
            first frame taken from the playback ring, -1 before any),
            ``playback_underruns``, ``playback_ended``,
            ``record_frames``, ``record_first_frame``, ``record_dropped``,
            ``params_applied``, ``params_rejected``, ``param_frame`` (engine
            frame where the last parameter message landed, -1 before any),
            ``events_dropped``, ``source``, and ``hardware`` (hardware inserts
            by name: ``latency_samples``, the insert's L, and
            ``round_trip_samples``, the measured round trip per return channel
            as applied), and ``energy_dry`` / ``energy_return``: running sums
            (full scale^2) of the insert's aligned dry path and of its returns,
            whose differences between two reads give the unit's level change.
        """
        m = self._meters
        lib.ob_engine_read_meters(self._e, m)
        nch = self.channels
        dyn = [i for i in self._inserts if i.kind in ("compressor", "limiter")
               or (isinstance(i.proc, KernelInsert) and i.proc.meter_names)]
        banded = [i for i in dyn if isinstance(i.proc, KernelInsert)]
        return {
            "frames": int(m.frames), "callbacks": int(m.callbacks),
            "input_peak_dbfs": [float(m.input_peak_dbfs[c]) for c in range(nch)],
            "output_peak_dbfs": [float(m.output_peak_dbfs[c]) for c in range(nch)],
            "momentary_lufs": float(m.momentary_lufs),
            "short_term_lufs": float(m.short_term_lufs),
            "integrated_lufs": float(m.integrated_lufs),
            "true_peak_dbtp": float(m.true_peak_dbtp),
            "gain_reduction_db": {i.name: float(m.gr_db[i.index]) for i in dyn},
            "gain_reduction_max_db": {i.name: float(m.gr_max_db[i.index]) for i in dyn},
            "gain_reduction_bands_db": {
                i.name: {b: float(m.gr_meter_db[i.index][k])
                         for k, b in enumerate(i.proc.meter_names)} for i in banded},
            "gain_reduction_bands_max_db": {
                i.name: {b: float(m.gr_meter_max_db[i.index][k])
                         for k, b in enumerate(i.proc.meter_names)} for i in banded},
            "dsp_load": float(m.dsp_load), "dsp_load_max": float(m.dsp_load_max),
            "xruns": int(m.xruns), "nonfinite": int(m.nonfinite),
            "clipped_samples": int(m.clipped_samples),
            "playback_frames": int(m.playback_frames),
            "playback_first_frame": int(m.playback_first_frame),
            "playback_underruns": int(m.playback_underruns),
            "playback_ended": bool(m.playback_ended),
            "record_frames": int(m.record_frames),
            "record_first_frame": int(m.record_first_frame),
            "record_dropped": int(m.record_dropped),
            "params_applied": int(m.params_applied), "params_rejected": int(m.params_rejected),
            "param_frame": int(m.param_frame), "events_dropped": int(m.events_dropped),
            "source": "playback" if m.source == lib.OB_SOURCE_PLAYBACK else "input",
            "hardware": {i.name: {
                "latency_samples": int(lib.ob_engine_insert_latency(self._e, i.index)),
                "round_trip_samples": [float(lib.ob_engine_hardware_round_trip(
                    self._e, i.index, c)) for c in range(nch)],
                "energy_dry": float(m.hw_energy_dry[i.index]),
                "energy_return": float(m.hw_energy_return[i.index])}
                for i in self._inserts if i.kind == "hardware"},
        }

    def events(self) -> list[dict[str, Any]]:
        """Drain the events the engine posted, oldest first.

        Each is a dict: ``type`` (``"xrun"``, ``"nonfinite"``, ``"clip"``,
        ``"playback_end"``, ``"playback_underrun"``, ``"record_overrun"``,
        ``"param_rejected"``, and the hardware insert faults ``"return_lost"``,
        ``"return_dc"``, ``"return_oscillation"``), ``insert`` (name, or None
        for the engine / program input), ``insert_index`` (-1 for none),
        ``frame`` (engine frame at the start of the block concerned; for the
        gear faults the sample where the fault was found) and ``value`` (see
        ``native/engine.h``: xrun flags, non-finite count, clip peak, frames
        missing or dropped, rejected param id, seconds of silence, DC mean,
        return envelope).

        A gear fault (and a ``"nonfinite"`` event naming a hardware insert
        while a stream is open) has bypassed that insert in the audio thread;
        its dict also carries ``action``: the insert's ``on_return_lost``
        setting, ``"bypass"`` (the program runs on through the dry path,
        aligned) or ``"stop"`` (the host should stop: see
        :meth:`stop_requested`).
        """
        out = []
        ev = self._event
        with self._event_lock:
            while lib.ob_engine_event_pop(self._e, ev):
                i = int(ev.insert)
                rec = self._inserts[i] if 0 <= i < len(self._inserts) else None
                d: dict[str, Any] = {
                    "type": EVENT_NAMES.get(ev.type, str(ev.type)),
                    "insert": rec.name if rec is not None else None,
                    "insert_index": i, "frame": int(ev.frame), "value": float(ev.value)}
                if rec is not None and rec.kind == "hardware" and (
                        d["type"] in GEAR_FAULTS or
                        (d["type"] == "nonfinite" and self._stream is not None)):
                    rec.bypass = True   # the engine bypassed it
                    d["action"] = rec.params.get("on_return_lost", "bypass")
                    if d["action"] == "stop" and self._stop_requested is None:
                        self._stop_requested = d
                out.append(d)
        return out

    def stop_requested(self) -> dict[str, Any] | None:
        """The first gear-fault event (see :meth:`events`) of a hardware insert
        whose ``on_return_lost = "stop"``, once :meth:`events` has drained
        it; else None.  The host polls it after :meth:`events` and stops."""
        return self._stop_requested

    # ---- streaming ---------------------------------------------------------------------

    def open_stream(self, device: int | str, in_map: Sequence[int], out_map: Sequence[int],
                    monitor_map: Sequence[int] = (), block_size: int = 128,
                    source: Literal["input", "playback"] = "input", record: bool = False,
                    latency: str | float = "low") -> None:
        """Open a duplex float32 stream on ``device`` whose callback is the C engine.

        Parameters
        ----------
        device : int or str
            PortAudio device index or name (an exact name is preferred on the
            JACK host API, e.g. ``"system"``), used for input and output.
        in_map : sequence of int
            Device input (0-based) of each program channel; -1 for silence.
        out_map : sequence of int
            Device output of each program channel; -1 for none.
        monitor_map : sequence of int
            Device outputs that carry a copy of the program (output k gets
            program channel k % channels), e.g. two for stereo monitors.
        block_size : int
            Frames per callback (0: the host's choice; JACK always uses its
            period).
        source : {"input", "playback"}
            Program from the device inputs, or from :meth:`playback_write`.
        record : bool
            Push the processed program to the record ring
            (:meth:`record_read`).
        latency : str or float
            sounddevice's latency request ("low", "high" or seconds).

        The stream is opened with exactly as many device channels as the maps
        reach.  No Python runs in its callback.
        """
        import sounddevice as sd

        if self._stream is not None:
            raise RuntimeError("open_stream: a stream is already open (close() it first)")
        if source not in SOURCES:
            raise ValueError(f"source: expected 'input' or 'playback', got {source!r}")
        maps = {}
        for name, m, n in (("in_map", in_map, self.channels), ("out_map", out_map, self.channels),
                           ("monitor_map", monitor_map, None)):
            m = list(m)
            if n is not None and len(m) != n:
                raise ValueError(f"{name}: expected {n} device channels (one per program "
                                 f"channel, -1 for none), got {len(m)}")
            lo = 0 if name == "monitor_map" else -1
            for v in m:
                if isinstance(v, bool) or not isinstance(v, Integral) or not (
                        lo <= v < lib.OB_ENGINE_MAX_DEVICE_CHANNELS):
                    raise ValueError(f"{name}: device channel indices "
                                     f"{lo}..{lib.OB_ENGINE_MAX_DEVICE_CHANNELS - 1} expected, "
                                     f"got {v!r}")
            maps[name] = [int(v) for v in m]
        outs = [v for v in maps["out_map"] if v >= 0] + maps["monitor_map"]
        if len(set(outs)) != len(outs):
            raise ValueError(f"out_map/monitor_map: a device output is used twice: {outs}")
        dev_in, dev_out = self.device_channels_needed(maps["in_map"], maps["out_map"],
                                                      maps["monitor_map"])
        dev = self._resolve_device(device)
        info = sd.query_devices(dev)
        if dev_in > info["max_input_channels"] or dev_out > info["max_output_channels"]:
            raise ValueError(f"device {info['name']!r} has {info['max_input_channels']} inputs "
                             f"and {info['max_output_channels']} outputs; the maps need "
                             f"{dev_in} and {dev_out}")
        imap = ffi.new("int[]", maps["in_map"])
        omap = ffi.new("int[]", maps["out_map"])
        mmap = ffi.new("int[]", maps["monitor_map"] or [0])
        check(lib.ob_engine_set_io(self._e, dev_in, dev_out, imap, omap,
                                   len(maps["monitor_map"]), mmap), "ob_engine_set_io")
        check(lib.ob_engine_set_source(self._e, SOURCES[source]), "ob_engine_set_source")
        lib.ob_engine_set_record(self._e, 1 if record else 0)
        callback = int(ffi.cast("uintptr_t", ffi.addressof(lib, "ob_engine_pa_callback")))
        userdata = sd._ffi.cast("void *", int(ffi.cast("uintptr_t", self._e)))
        stream = sd._StreamBase(
            kind="duplex", samplerate=self.fs, blocksize=block_size, device=(dev, dev),
            channels=(dev_in, dev_out), dtype="float32", latency=latency, callback=callback,
            userdata=userdata, wrap_callback=None, clip_off=True, dither_off=True)
        self._stream = stream
        self._box["stream"] = stream
        self.device_channels = (dev_in, dev_out)

    def device_channels_needed(self, in_map: Sequence[int], out_map: Sequence[int],
                               monitor_map: Sequence[int] = ()) -> tuple[int, int]:
        """(inputs, outputs) a stream must open for these maps and the hardware
        inserts' sends and returns (0-based maps, -1 for none).

        Raises ValueError when a hardware send is also a program output, a
        monitor or another send (each named, 1-based as in the session).
        """
        owner: dict[int, str] = {}
        for what, m in (("out_map", out_map), ("monitor_map", monitor_map)):
            for v in m:
                if v >= 0:
                    owner.setdefault(int(v), what)
        for i in self._inserts:
            if i.kind != "hardware":
                continue
            for v in i.send_map:
                if v in owner:
                    raise ValueError(f"insert {i.name!r} (hardware): sends: interface output "
                                     f"{v + 1} is already used by {owner[v]}; a send needs an "
                                     "output of its own")
                owner[v] = f"insert {i.name!r}'s sends"
        ins = [v for v in in_map if v >= 0] + [v for i in self._inserts for v in i.return_map]
        return max([v + 1 for v in ins] + [1]), max([v + 1 for v in owner] + [1])

    @staticmethod
    def _resolve_device(device: int | str) -> int:
        import sounddevice as sd

        if isinstance(device, Integral) and not isinstance(device, bool):
            return int(device)
        if not isinstance(device, str):
            raise ValueError(f"device: expected a device index or name, got {device!r}")
        devs = sd.query_devices()
        apis = sd.query_hostapis()
        exact = [i for i, d in enumerate(devs) if d["name"] == device
                 and d["max_input_channels"] > 0 and d["max_output_channels"] > 0]
        jack = [i for i in exact if "JACK" in apis[devs[i]["hostapi"]]["name"]]
        if jack or exact:
            return (jack or exact)[0]
        return int(sd.query_devices(device)["index"])

    def start(self) -> None:
        """Start the stream (the callback begins at the next period)."""
        if self._stream is None:
            raise RuntimeError("start: no stream is open (open_stream first)")
        self._stream.start()

    def stop(self) -> None:
        """Stop the stream; returns once the callback has finished."""
        if self._stream is not None:
            self._stream.stop()

    def close(self) -> None:
        """Stop and close the stream (the engine stays usable offline)."""
        stream = self._box.pop("stream", None)
        self._stream = None
        if stream is not None:
            stream.close()

    @property
    def streaming(self) -> bool:
        """True while the stream is running."""
        return self._stream is not None and bool(self._stream.active)

    @property
    def stream_latency(self) -> tuple[float, float] | None:
        """(input, output) latency that PortAudio reports for the stream, s."""
        if self._stream is None:
            return None
        lat = self._stream.latency
        return float(lat[0]), float(lat[1])

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- playback and record rings ------------------------------------------------------

    def playback_write(self, frames_interleaved: np.ndarray) -> int:
        """Queue program frames for ``source="playback"``; never blocks.

        Parameters
        ----------
        frames_interleaved : np.ndarray
            (frames, channels) samples (1-D for one channel), full scale 1.0.

        Returns
        -------
        int
            Frames accepted (fewer than given when the ring is full: write
            the rest later).
        """
        a = np.ascontiguousarray(frames_interleaved, dtype=np.float32)
        if a.ndim == 1 and self.channels == 1:
            a = a[:, np.newaxis]
        if a.ndim != 2 or a.shape[1] != self.channels:
            raise ValueError(f"frames_interleaved: expected shape (frames, {self.channels}), "
                             f"got {np.shape(frames_interleaved)}")
        if a.shape[0] == 0:
            return 0
        with self._play_lock:
            return int(lib.ob_engine_playback_write(
                self._e, ffi.cast("float *", ffi.from_buffer(a)), a.shape[0]))

    @property
    def playback_space(self) -> int:
        """Free frames in the playback ring."""
        return int(lib.ob_engine_playback_space(self._e))

    @property
    def playback_queued(self) -> int:
        """Frames written and not yet played."""
        return int(lib.ob_engine_playback_queued(self._e))

    def playback_finish(self) -> None:
        """Mark the end of the programme: the engine plays silence once the
        ring drains and posts one ``playback_end`` event."""
        lib.ob_engine_playback_finish(self._e)

    def playback_reset(self) -> None:
        """Empty the playback ring for a new programme (not while streaming)."""
        self._check_idle("playback_reset")
        lib.ob_engine_playback_reset(self._e)

    def record_read(self, max_frames: int) -> np.ndarray:
        """Take up to ``max_frames`` recorded program frames; never blocks.

        Returns
        -------
        np.ndarray
            float32 (frames, channels), possibly empty.
        """
        if isinstance(max_frames, bool) or not isinstance(max_frames, Integral) or max_frames < 0:
            raise ValueError(f"max_frames: expected a frame count >= 0, got {max_frames!r}")
        buf = np.empty((int(max_frames), self.channels), dtype=np.float32)
        if max_frames == 0:
            return buf
        with self._rec_lock:
            n = lib.ob_engine_record_read(self._e, ffi.cast("float *", ffi.from_buffer(buf)),
                                          int(max_frames))
        return buf[:n]

    @property
    def record_available(self) -> int:
        """Recorded frames waiting to be read."""
        return int(lib.ob_engine_record_available(self._e))

    def set_record(self, on: bool) -> None:
        """Start (True) or stop pushing the program output to the record ring,
        from the next block; safe while streaming."""
        lib.ob_engine_set_record(self._e, 1 if on else 0)

    def set_source(self, source: Literal["input", "playback"]) -> None:
        """Switch the program source from the next block (no crossfade); safe
        while streaming."""
        if source not in SOURCES:
            raise ValueError(f"source: expected 'input' or 'playback', got {source!r}")
        check(lib.ob_engine_set_source(self._e, SOURCES[source]), "ob_engine_set_source")

    # ---- ping -----------------------------------------------------------------------

    def _wait_ping(self, want: int, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while lib.ob_engine_ping_active(self._e) != want:
            if time.monotonic() > deadline or not self.streaming:
                raise RuntimeError("ping: the audio callback did not answer (is the stream "
                                   "running?)")
            time.sleep(0.001)

    def ping(self, insert: str | int, signal: np.ndarray, tail_frames: int) -> np.ndarray:
        """Play ``signal`` out of a hardware insert's sends; return its raw returns.

        Parameters
        ----------
        insert : str or int
            A hardware insert.
        signal : np.ndarray
            (frames, channels) float32 test signal, full scale 1.0, one
            column per send.  Played as given: its level is the caller's
            business (nothing is clamped).
        tail_frames : int
            Frames of silence played after it, to catch the round trip (>= 0).

        Returns
        -------
        np.ndarray
            float32 (frames + tail_frames, channels): what the insert's
            return inputs carried, raw (no trim, polarity or delay), row i
            taken in the same callback and position as row i of the signal
            was sent, so a unit with delay D shows up at lag D plus the
            device's own loop latency.

        While the ping runs the program is paused (ping mode, see
        ``ob_engine_set_ping``): every other device output is silent, the
        speakers never hear the ping, and what the playback ring held is
        dropped; the chain restarts from silence afterwards.  Blocks the
        calling thread (not the audio thread) for the ping's duration.
        Raises RuntimeError when the stream is not running or the ping's data
        did not reach the callback in time (a gap breaks the alignment).
        Do not ping while recording the program.
        """
        ins = self._insert(insert)
        if ins.kind != "hardware":
            raise ValueError(f"insert: {ins.name!r} is a {ins.kind} insert, not a hardware one")
        if isinstance(tail_frames, bool) or not isinstance(tail_frames, Integral) or \
                tail_frames < 0:
            raise ValueError(f"tail_frames: expected a frame count >= 0, got {tail_frames!r}")
        a = np.asarray(signal, dtype=np.float32)
        if a.ndim == 1 and self.channels == 1:
            a = a[:, np.newaxis]
        if a.ndim != 2 or a.shape[1] != self.channels or a.shape[0] == 0:
            raise ValueError(f"signal: expected shape (frames, {self.channels}), frames > 0, "
                             f"got {np.shape(signal)}")
        if not np.all(np.isfinite(a)):
            raise ValueError("signal: holds NaN or Inf")
        if not self.streaming:
            raise RuntimeError("ping: the stream is not running (open_stream and start first)")
        total = a.shape[0] + int(tail_frames)
        data = np.zeros((total, self.channels), dtype=np.float32)
        data[:a.shape[0]] = a
        out = np.empty((total, self.channels), dtype=np.float32)
        m = ffi.new("ob_meters *")
        check(lib.ob_engine_set_ping(self._e, ins.index), "ob_engine_set_ping")
        try:
            self._wait_ping(ins.index, 2.0)
            with self._rec_lock:   # the program's frames recorded before the ping
                while lib.ob_engine_record_read(self._e, ffi.cast("float *", ffi.from_buffer(out)),
                                                total) > 0:
                    pass
            lib.ob_engine_read_meters(self._e, m)
            underruns = int(m.playback_underruns)
            sent = got = 0
            deadline = time.monotonic() + total / self.fs + 5.0
            while got < total:
                if sent < total:
                    with self._play_lock:
                        sent += int(lib.ob_engine_playback_write(
                            self._e, ffi.cast("float *", ffi.from_buffer(data[sent:])),
                            total - sent))
                with self._rec_lock:
                    got += int(lib.ob_engine_record_read(
                        self._e, ffi.cast("float *", ffi.from_buffer(out[got:])), total - got))
                if got < total:
                    if time.monotonic() > deadline or not self.streaming:
                        raise RuntimeError(f"ping: only {got} of {total} frames came back "
                                           "(the stream stopped or stalled)")
                    time.sleep(0.002)
            lib.ob_engine_read_meters(self._e, m)
            if int(m.playback_underruns) != underruns:
                raise RuntimeError("ping: the playback ring ran dry during the ping, so the "
                                   "returns are not aligned with it; ping again (a larger "
                                   "ring_seconds helps)")
        finally:
            lib.ob_engine_set_ping(self._e, -1)
            with contextlib.suppress(RuntimeError):
                self._wait_ping(-1, 2.0)
        return out
