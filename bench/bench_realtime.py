"""Real-time behaviour of the engine: DSP load and xruns, C callback vs Python callback.

``make bench-realtime`` (or ``python bench/bench_realtime.py [--seconds S]``)
measures the reference mastering chain of ``configs/session_stereo_master.toml``
(Linkwitz-Riley high-pass, 5-band EQ, mid/side compressor, true-peak limiter),
stereo, 48 kHz, and prints a table; the figures also go to
``out/bench_realtime.json`` (``out/bench_realtime_rt.json`` with
``--realtime``).  Nothing is asserted: this is a report.

What is measured
----------------
Offline DSP load: the best of N timings of ``Engine.process`` over 10 s of
loud music-like noise with ``max_block`` = the period (the C code path of the
stream callback, without any stream), divided by the number of blocks and by
the block's duration.  Reference, same run: the same chain as
``host.offline.chain.Chain`` driven block by block from Python.

Live conditions, one child process each, 60 s by default, at each JACK period
(128 and 64 frames):

``c``
    ``Engine`` streaming through PortAudio/JACK with its C callback
    (``ob_engine_pa_callback``; no Python in the audio thread), the program
    played from the engine's playback ring (filled before the start).
``py``
    An ordinary ``sounddevice.Stream`` whose Python callback runs the same
    kernels through their Python wrappers (``host.offline.chain.Chain.process`` on a
    copy of the block, copied into ``outdata``): what a sounddevice user would
    write.  Same device channels (2 in, 8 out: program on 1-2, monitors on 7-8).
main thread ``busy`` / ``idle`` / ``busy-proc``
    ``busy``: the main thread of the same process runs a pure-Python loop,
    ``sum(i * i for i in range(10000))``, for the whole window (it holds the
    GIL except at the interpreter's forced switches).  ``idle``: it sleeps;
    this is the baseline of what the server and the machine do by themselves.
    ``busy-proc`` (control): it sleeps while the same loop runs in another
    process: the same CPU contention without a shared GIL.

Default conditions: c-idle, c-busy, py-busy; ``--conditions all`` adds
py-idle and c-busy-proc.

Each period gets a private JACK server, ``jackd -n outboard-bench-<period>
--no-realtime -d dummy -r 48000 -p <period> -C 8 -P 8``, started here and
stopped after (by the process id we started; a server running under another
name is never touched).  ``--realtime`` runs it with ``-R`` instead: the
server and its clients' process threads then get SCHED_FIFO (where the
system allows it), which separates what the OS scheduler does to a normal
thread on a loaded machine from what the callback itself does.  The child
runs with ``JACK_DEFAULT_SERVER`` set to the server's name, so libjack and
PortAudio connect to it.  Each window starts 1 s after the stream starts
(connections settled) and ends before the stream stops.

How xruns are counted
---------------------
- PortAudio xruns: callbacks whose status flags report an under/overflow
  (engine: ``meters()["xruns"]``; Python: ``if status`` in the callback).
  PortAudio's JACK host API raises these flags when libjack's xrun callback
  fired since the previous callback, so several JACK xruns between two
  callbacks count once.
- JACK xruns, from the server's own log: ``jackd`` prints one line per xrun
  on stderr, written here to a file; the child notes the file size at the
  start and at the end of its window and counts the lines in between.  The
  counting is done by ``jackd`` in its own process, so it does not depend on
  the GIL (or the scheduling) of the process under test.  Two kinds:

  * server: ``JackTimedDriver::Process XRun = N usec``: the dummy driver's
    own thread woke late for a period; every client is notified.
  * client late: ``JackEngine::XRun: client = PortAudio was not finished,
    state = S``: at the start of a period our client had not finished the
    previous one: the late callbacks, as JACK defines them.  ``S`` is
    ``Running`` (it had started that cycle and not finished: work, a wait for
    the GIL, or preemption) or ``Triggered`` (it had not even started it: its
    thread was not run in time, or was still inside an earlier cycle).

- The audio thread's run-queue wait (``/proc/self/task/<tid>/schedstat``,
  the time it was runnable but not running) over the window, per wake-up:
  CPU contention, as opposed to waiting for the GIL (a blocked thread is not
  on the run queue).  The audio thread is the one with the most time slices
  in the window.

DSP load live: ``c``: a sampler thread reads the engine meters every 10 ms
(``dsp_load``: the last callback's time / block duration, sampled; its mean
estimates the mean per callback; ``dsp_load_max``: the true maximum over all
callbacks, kept by the engine between reads).  The engine's figure also
covers its output meters (loudness, true peak) that the Python chain does not
run.  ``py``: ``time.perf_counter`` at the first and last line of the callback
body; it misses the wait for the GIL before the body starts and includes the
GIL being taken away inside it.  No sampler thread runs in ``py`` conditions
(it would compete for the GIL against the callback).

Caveat: the machine this was written on is a shared 2-core virtual machine;
other processes load it too, and without ``--realtime`` the audio threads are
ordinary threads.  The load average is recorded before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from common import Row, best_time  # noqa: E402

from host.sim.jack_server import JackServer  # noqa: E402

FS = 48000
SESSION = ROOT / "configs" / "session_stereo_master.toml"
PERIODS = (128, 64)
CONDITIONS = {  # name: (callback kind, load: "idle" | "busy" | "busy-proc")
    "c-idle": ("c", "idle"),
    "c-busy": ("c", "busy"),
    "py-busy": ("py", "busy"),
    "py-idle": ("py", "idle"),
    "c-busy-proc": ("c", "busy-proc"),
}
DEFAULT_CONDITIONS = ("c-idle", "c-busy", "py-busy")
WARMUP_S = 1.0
SAMPLE_EVERY_S = 0.01
OFFLINE_SECONDS = 10.0
SERVER_PREFIX = "outboard-bench-"
RESULT_TAG = "RESULT "


def _session():
    from host.model.session import load_session

    return load_session(SESSION)


def _program(seconds: float) -> np.ndarray:
    """Planar float32 (2, n) loud music-like noise (bench_limiter's)."""
    from bench_limiter import loud_music_like

    return loud_music_like(FS, seconds)


# ------------------------------------------------------------------------ offline


def offline_load(period: int, repeat: int = 5) -> dict[str, float]:
    """DSP load of the chain per ``period``-frame block, offline, best of ``repeat``.

    Returns
    -------
    dict
        ``engine_s`` (s per block, C engine with meters), ``engine_load``
        (share of the block's duration), ``chain_s`` / ``chain_load`` (the
        same kernels driven per block from Python, host.offline.chain.Chain).
    """
    from host.offline.chain import Chain
    from host.live.engine import Engine

    cfg = _session().chain
    x = _program(OFFLINE_SECONDS)
    blocks = x.shape[1] // period
    x = np.ascontiguousarray(x[:, :blocks * period])
    eng = Engine(FS, 2, cfg, max_block=period)
    eng_s = best_time(lambda: eng.process(x), repeat=repeat) / blocks
    chain = Chain(cfg, FS, 2)
    short = np.ascontiguousarray(x[:, :FS // period * period])  # 1 s: the Python loop is slow
    nshort = short.shape[1] // period
    chain_s = best_time(lambda: chain.process(short.copy(), block_frames=period),
                        repeat=repeat, min_time=0.1) / nshort
    block_s = period / FS
    return {"period": period, "engine_s": eng_s, "engine_load": eng_s / block_s,
            "chain_s": chain_s, "chain_load": chain_s / block_s}


def run() -> list[Row]:
    """Rows for bench/run.py: the offline per-block cost at 64 and 128 frames
    (the live measurements need JACK and minutes: run this file instead)."""
    rows = []
    for period in (64, 128):
        r = offline_load(period, repeat=3)
        rows.append(Row(f"session_stereo_master chain, one {period}-frame block "
                        f"({r['engine_load']:.1%} DSP load)", 2 * period, r["engine_s"],
                        f"host.offline.chain.Chain per block from Python ({r['chain_load']:.1%})",
                        r["chain_s"]))
    return rows


# ------------------------------------------------------------- child: one condition


def _threads() -> dict[int, tuple[int, int, int]]:
    """schedstat of every thread of this process: tid -> (run ns, wait ns, slices)."""
    out = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            fields = Path(f"/proc/self/task/{tid}/schedstat").read_text().split()
            out[int(tid)] = (int(fields[0]), int(fields[1]), int(fields[2]))
        except (OSError, ValueError, IndexError):
            pass
    return out


def _audio_thread(before: dict, after: dict, exclude: set[int]) -> dict[str, float]:
    """Run-queue wait of the thread with the most time slices in the window."""
    best = None
    for tid, (run_ns, wait_ns, slices) in after.items():
        if tid in exclude or tid not in before:
            continue
        d = (run_ns - before[tid][0], wait_ns - before[tid][1], slices - before[tid][2])
        if best is None or d[2] > best[1][2]:
            best = (tid, d)
    if best is None:
        return {"audio_tid": -1, "rq_wait_ms": float("nan"), "slices": 0,
                "rq_wait_per_slice_us": float("nan"), "cpu_ms": float("nan")}
    tid, (run_ns, wait_ns, slices) = best
    return {"audio_tid": tid, "cpu_ms": run_ns / 1e6, "rq_wait_ms": wait_ns / 1e6,
            "slices": slices, "rq_wait_per_slice_us": wait_ns / 1e3 / max(slices, 1)}


def _jack_log(path: str, start: int, end: int) -> dict[str, Any]:
    with open(path, "rb") as f:
        f.seek(start)
        text = f.read(max(end - start, 0)).decode(errors="replace")
    late: dict[str, int] = {}
    clients: dict[str, int] = {}
    server = 0
    process_errors = 0
    finished_after = 0
    other = []
    for line in text.splitlines():
        if "JackTimedDriver::Process XRun" in line:
            server += 1
        elif "was not finished" in line:
            state = line.rsplit("state = ", 1)[-1].strip()
            late[state] = late.get(state, 0) + 1
            name = line.split("client = ", 1)[-1].split(" was not finished")[0]
            clients[name] = clients.get(name, 0) + 1
        elif "finished after current callback" in line:
            finished_after += 1
        elif "Process error" in line:
            process_errors += 1
        elif line.strip():
            other.append(line.strip())
    return {"jack_server_xruns": server, "jack_client_late": sum(late.values()),
            "jack_client_late_by_state": late, "jack_late_clients": clients,
            "jack_finished_after_callback": finished_after,
            "jack_process_errors": process_errors, "jack_other_lines": other[:20]}


BUSY_LOOP = """
import time
end = time.perf_counter() + {seconds!r}
loops = 0
while time.perf_counter() < end:
    sum(i * i for i in range(10000))
    loops += 1
print(loops)
"""


def _load(load: str, seconds: float) -> int:
    """The main thread's part for ``seconds``: ``busy``, a pure-Python CPU loop
    holding the GIL; ``idle``, sleep; ``busy-proc``, sleep while the same loop
    runs in another process (CPU contention without a shared GIL).  Returns
    the number of loop passes."""
    end = time.perf_counter() + seconds
    loops = 0
    if load == "busy":
        while time.perf_counter() < end:
            sum(i * i for i in range(10000))
            loops += 1
    elif load == "busy-proc":
        r = subprocess.run([sys.executable, "-c", BUSY_LOOP.format(seconds=seconds)],
                           capture_output=True, text=True, check=True)
        loops = int(r.stdout.strip())
    else:
        time.sleep(seconds)
    return loops


def _find_device(sd) -> int:
    apis = sd.query_hostapis()
    for i, d in enumerate(sd.query_devices()):
        if d["name"] == "system" and "JACK" in apis[d["hostapi"]]["name"]:
            return i
    raise RuntimeError("no JACK device 'system' visible to PortAudio "
                       f"(JACK_DEFAULT_SERVER={os.environ.get('JACK_DEFAULT_SERVER')!r})")


def child(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one condition in this process (a child with JACK_DEFAULT_SERVER set)."""
    import sounddevice as sd

    kind, load = CONDITIONS[spec["condition"]]
    seconds, period, log = float(spec["seconds"]), int(spec["period"]), spec["log"]
    session = _session()
    prog_cfg = session.program
    in_map = [c - 1 for c in prog_cfg.inputs]
    out_map = [c - 1 for c in prog_cfg.outputs]
    mon_map = [c - 1 for c in prog_cfg.monitor]
    dev = _find_device(sd)
    program = _program(seconds + WARMUP_S + 4.0)
    res: dict[str, Any] = {"condition": spec["condition"], "kind": kind,
                           "main": load, "period": period}
    main_tid = threading.get_native_id()
    if kind == "c":
        from host.live.engine import Engine

        eng = Engine(FS, 2, session.chain, max_block=4096,
                     ring_seconds=program.shape[1] / FS + 1.0)
        eng.playback_write(np.ascontiguousarray(program.T))
        eng.open_stream(dev, in_map, out_map, mon_map, block_size=period, source="playback")
        samples: list[float] = []
        peak = [0.0]
        stop = threading.Event()

        def sampler() -> None:
            while not stop.is_set():
                m = eng.meters()
                samples.append(m["dsp_load"])
                peak[0] = max(peak[0], m["dsp_load_max"])
                time.sleep(SAMPLE_EVERY_S)

        eng.start()
        time.sleep(WARMUP_S)
        m0 = eng.meters()  # also restarts dsp_load_max
        th = threading.Thread(target=sampler, daemon=True)
        th.start()
        sampler_tid = th.native_id
        off0, t0, s0 = os.path.getsize(log), time.perf_counter(), _threads()
        loops = _load(load, seconds)
        off1, t1, s1 = os.path.getsize(log), time.perf_counter(), _threads()
        stop.set()
        th.join()
        m1 = eng.meters()
        eng.stop()
        eng.close()
        peak[0] = max(peak[0], m1["dsp_load_max"])
        callbacks = m1["callbacks"] - m0["callbacks"]
        res.update(callbacks=callbacks, pa_xruns=m1["xruns"] - m0["xruns"],
                   frames_per_callback=(m1["frames"] - m0["frames"]) / max(callbacks, 1),
                   dsp_load_mean=float(np.mean(samples)) if samples else float("nan"),
                   dsp_load_max=peak[0], dsp_load_samples=len(samples),
                   nonfinite=m1["nonfinite"], playback_underruns=m1["playback_underruns"])
        exclude = {main_tid, sampler_tid}
    else:
        from host.offline.chain import Chain

        chain = Chain(session.chain, FS, 2)
        nprog = program.shape[1]
        cap = int((seconds + WARMUP_S + 5.0) * FS / period) + 1000
        body_s = np.zeros(cap)
        st = {"k": 0, "pos": 0, "flags": 0, "odd_frames": 0}
        dev_out = max(out_map + mon_map) + 1

        def callback(indata, outdata, frames, time_info, status) -> None:
            t_in = time.perf_counter()
            if status:
                st["flags"] += 1
            if frames != period:
                st["odd_frames"] += 1
            pos = st["pos"]
            if pos + frames > nprog:
                pos = 0
            x = np.ascontiguousarray(program[:, pos:pos + frames])
            st["pos"] = pos + frames
            chain.process(x, block_frames=frames)
            outdata.fill(0)
            for c in range(2):
                outdata[:, out_map[c]] = x[c]
                outdata[:, mon_map[c]] = x[c]
            k = st["k"]
            if k < cap:
                body_s[k] = time.perf_counter() - t_in
            st["k"] = k + 1

        stream = sd.Stream(samplerate=FS, blocksize=period, device=(dev, dev),
                           channels=(max(in_map) + 1, dev_out), dtype="float32",
                           callback=callback)
        stream.start()
        time.sleep(WARMUP_S)
        k0, f0 = st["k"], st["flags"]
        off0, t0, s0 = os.path.getsize(log), time.perf_counter(), _threads()
        loops = _load(load, seconds)
        off1, t1, s1 = os.path.getsize(log), time.perf_counter(), _threads()
        k1, f1 = st["k"], st["flags"]
        stream.stop()
        stream.close()
        body = body_s[k0:min(k1, cap)]
        block_s = period / FS
        res.update(callbacks=k1 - k0, pa_xruns=f1 - f0, frames_per_callback=float(period),
                   odd_frame_callbacks=st["odd_frames"],
                   dsp_load_mean=float(np.mean(body)) / block_s if body.size else float("nan"),
                   dsp_load_max=float(np.max(body)) / block_s if body.size else float("nan"),
                   body_over_period=int(np.count_nonzero(body > block_s)))
        exclude = {main_tid}
    res.update(seconds=t1 - t0, expected_periods=(t1 - t0) * FS / period, busy_loops=loops)
    res.update(_jack_log(log, off0, off1))
    res.update(_audio_thread(s0, s1, exclude))
    return res


# ------------------------------------------------------------ parent: servers, table


def private_server(period: int, realtime: bool | None, name: str | None = None) -> JackServer:
    """A private jackd (dummy backend) named outboard-bench-<period>, its log
    kept for the xrun count (host.sim's JackServer; ``realtime`` None: -R
    first, --no-realtime if refused)."""
    return JackServer(rate=FS, period=period, realtime=realtime,
                      name=name or f"{SERVER_PREFIX}{period}", isolated=True,
                      keep_log=True).start()


def run_condition(server: JackServer, condition: str, seconds: float) -> dict[str, Any]:
    spec = {"condition": condition, "seconds": seconds, "period": server.period,
            "log": str(server.log_path)}
    env = server.env
    r = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child",
                        json.dumps(spec)], env=env, capture_output=True, text=True,
                       timeout=seconds + 120)
    for line in reversed(r.stdout.splitlines()):
        if line.startswith(RESULT_TAG):
            return json.loads(line[len(RESULT_TAG):])
    tail = (r.stderr.strip().splitlines() or ["(no output)"])[-5:]
    raise RuntimeError(f"{condition} at {server.period} frames failed (exit {r.returncode}): "
                       + " | ".join(tail))


def _pct(v: float) -> str:
    return "-" if v != v else f"{v:.1%}"


def print_table(results: list[dict[str, Any]], offline: list[dict[str, float]],
                meta: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    con = Console()
    if con.width < 150:  # piped: keep the table readable
        con = Console(width=150)
    t = Table(title="Offline DSP load, session_stereo_master chain, stereo 48 kHz "
                    "(best of 5, per block)")
    for col in ("period", "C engine us", "C engine load", "Python Chain us",
                "Python Chain load"):
        t.add_column(col, justify="right")
    for o in offline:
        t.add_row(str(o["period"]), f"{o['engine_s'] * 1e6:.1f}", _pct(o["engine_load"]),
                  f"{o['chain_s'] * 1e6:.1f}", _pct(o["chain_load"]))
    con.print(t)
    mode = "real-time (jackd -R)" if meta["realtime"] else "non-real-time"
    t = Table(title=f"Live, JACK dummy backend, {mode}: busy = pure-Python loop in the main "
                    "thread; busy-proc = the same loop in another process")
    for col in ("period", "callback", "main", "s", "callbacks", "missed periods", "PA xruns",
                "JACK server xruns", "JACK client late (Trig/Run)", "rq wait us/wake",
                "load mean", "load max"):
        t.add_column(col, justify="left" if col in ("callback", "main") else "right")
    for r in results:
        by = r["jack_client_late_by_state"]
        t.add_row(str(r["period"]), "C engine" if r["kind"] == "c" else "Python",
                  r["main"], f"{r['seconds']:.1f}",
                  str(r["callbacks"]),
                  f"{max(0.0, 1.0 - r['callbacks'] / r['expected_periods']):.1%}",
                  str(r["pa_xruns"]),
                  str(r["jack_server_xruns"]),
                  f"{r['jack_client_late']} ({by.get('Triggered', 0)}/{by.get('Running', 0)})",
                  f"{r['rq_wait_per_slice_us']:.0f}", _pct(r["dsp_load_mean"]),
                  _pct(r["dsp_load_max"]))
    con.print(t)
    con.print(f"missed periods: 1 - callbacks / nominal periods in the window (s x {FS} / "
              "period).  rq wait: the audio thread's run-queue wait per wake-up.  "
              f"Load average before {meta['loadavg_before']}, after {meta['loadavg_after']}; "
              f"{meta['cpus']} CPUs.")


def main(argv: list[str] | None = None) -> int:
    """Command line: see the module docstring and ``--help``."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=60.0,
                    help="length of each live window, s (default 60)")
    ap.add_argument("--periods", type=int, nargs="+", default=list(PERIODS),
                    help="JACK periods, frames (default 128 64)")
    ap.add_argument("--conditions", nargs="+", default=list(DEFAULT_CONDITIONS),
                    choices=list(CONDITIONS) + ["all"],
                    help="live conditions (default: c-idle c-busy py-busy; 'all' adds "
                         "py-idle and c-busy-proc)")
    ap.add_argument("--realtime", action="store_true",
                    help="run jackd with -R (real-time scheduling) instead of --no-realtime")
    ap.add_argument("--show", metavar="JSON",
                    help="print the tables of a saved out/bench_realtime*.json and exit")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.show:
        saved = json.loads(Path(args.show).read_text())
        print_table(saved["live"], saved["offline"], saved["meta"])
        return 0
    if args.child:
        print(RESULT_TAG + json.dumps(child(json.loads(args.child))), flush=True)
        return 0
    if not args.seconds > 0:
        ap.error("--seconds: expected a positive number of seconds")
    conditions = list(CONDITIONS) if "all" in args.conditions else args.conditions
    if shutil.which("jackd") is None or shutil.which("jack_lsp") is None:
        print("bench_realtime: jackd and jack_lsp are needed (Debian package jackd2)",
              file=sys.stderr)
        return 2
    meta: dict[str, Any] = {
        "session": str(SESSION.relative_to(ROOT)), "fs_hz": FS, "seconds": args.seconds,
        "realtime": args.realtime,
        "cpus": os.cpu_count(), "python": platform.python_version(),
        "loadavg_before": " ".join(f"{v:.2f}" for v in os.getloadavg()),
        "jackd": subprocess.run(["jackd", "--version"], capture_output=True,
                                text=True).stdout.strip().splitlines()[0],
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    print("offline DSP load ...", flush=True)
    offline = [offline_load(p) for p in sorted(set(args.periods) | {64})]
    results: list[dict[str, Any]] = []
    for period in args.periods:
        server = private_server(period, args.realtime)
        try:
            for cond in conditions:
                print(f"period {period}: {cond}, {args.seconds:g} s ...", flush=True)
                results.append(run_condition(server, cond, args.seconds))
        finally:
            server.stop()
            server.cleanup()
    meta["loadavg_after"] = " ".join(f"{v:.2f}" for v in os.getloadavg())
    print_table(results, offline, meta)
    out = ROOT / "out"
    out.mkdir(exist_ok=True)
    name = "bench_realtime_rt.json" if args.realtime else "bench_realtime.json"
    (out / name).write_text(json.dumps(
        {"meta": meta, "offline": offline, "live": results}, indent=2))
    print(f"wrote {out / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
