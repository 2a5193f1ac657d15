"""Soak: the reference chain plus a hardware insert, 32-frame blocks, under load.

``python bench/bench_soak.py [--seconds S] [--no-realtime] [--gear-engine c|python]``
runs, for 10 minutes by default, the chain of ``configs/session_stereo_master.toml``
(Linkwitz-Riley high-pass, 5-band EQ, mid/side compressor, true-peak limiter)
with a hardware insert added before the limiter, on a virtual wire unit
(:class:`host.sim.gear.VirtualGear`, its own process; its JACK callback in C by
default, ``native/gear_wire.c``, as punctual as a real unit, or in Python) patched between
interface outputs/inputs 3-4, streaming stereo at 48 kHz with a 32-frame JACK
period.  The session goes through ``host.live.stream.SessionStream`` as ``outboard
run`` does: the insert's round trip is pinged in the stream first, then the
program (loud music-like noise, looped) is fed to the engine's playback ring
by a Python thread, as ``run`` feeds a file.  Meanwhile the main Python
thread runs a pure-Python loop (``sum(i * i for i in range(10000))``, holding
the GIL) and another process runs the same loop (CPU contention).  Nothing is
asserted: this is a report; the goal is zero xruns.  The figures go to
``out/bench_soak.json``.

The server is private: ``jackd -n outboard-soak -R -d dummy -r 48000 -p 32
-C 8 -P 8`` (real-time scheduling where the system allows it; if that server
does not start, the same with ``--no-realtime``), started here, stopped by
the process id started here; the stream runs in a child process with
``JACK_DEFAULT_SERVER=outboard-soak``.  A server under another name is never
touched.

Xruns are counted three ways, as in ``bench/bench_realtime.py``: the engine's
PortAudio status flags (``meters()["xruns"]``, and its ``xrun`` events, each
with its time in the program), and ``jackd``'s own log lines (server xruns,
and late clients by name and state: ours is ``PortAudio``, the gear is
``gear-wire``).  DSP load: the engine's ``dsp_load`` sampled every 10 ms (mean)
and ``dsp_load_max`` (the true maximum over all callbacks).  Also reported:
playback underruns (the feeder thread did not keep the ring filled),
non-finite samples caught, and the callbacks against the nominal periods.

``run()`` (for bench/run.py) gives the offline cost of one 32-frame block of
the chain, C engine against the same kernels driven from Python.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from bench_realtime import BUSY_LOOP, _jack_log, offline_load, private_server  # noqa: E402
from common import Row  # noqa: E402

from host.sim.jack_server import JackServer  # noqa: E402

FS = 48000
PERIOD = 32
SERVER_NAME = "outboard-soak"
SESSION = ROOT / "configs" / "session_stereo_master.toml"
DEFAULT_SECONDS = 600.0
WARMUP_S = 1.0
SAMPLE_EVERY_S = 0.01
PROGRAM_S = 20.0  # looped
RESULT_TAG = "RESULT "

#: the hardware insert added before the limiter: a virtual wire unit on 3-4
INSERT = """
[[chain]]
kind = "hardware"
name = "wire"
sends = [3, 4]
returns = [3, 4]
virtual_gear = { processing = "wire", delay_samples = 12.0, engine = "ENGINE" }

"""


def soak_session_text(gear_engine: str = "c") -> str:
    """The reference session at 32 frames with the hardware insert added; its
    virtual unit's JACK callback in C or in Python (host.sim.gear ``engine``)."""
    text = SESSION.read_text()
    marker = '[[chain]]\nkind = "limiter"'
    if marker not in text:
        raise RuntimeError(f"{SESSION}: no limiter insert to put the hardware insert before")
    text = text.replace(marker, INSERT.lstrip().replace("ENGINE", gear_engine) + marker, 1)
    text = text.replace("block_size = 128", f"block_size = {PERIOD}", 1)
    return text.replace('latency = "high"', 'latency = "low"', 1)


def run() -> list[Row]:
    """Rows for bench/run.py: the offline cost of one 32-frame block (the soak
    itself needs JACK and minutes: run this file)."""
    r = offline_load(PERIOD, repeat=3)
    return [Row(f"session_stereo_master chain, one {PERIOD}-frame block "
                f"({r['engine_load']:.1%} DSP load)", 2 * PERIOD, r["engine_s"],
                f"host.offline.chain.Chain per block from Python ({r['chain_load']:.1%})",
                r["chain_s"])]


# ------------------------------------------------------------------ child: the stream


def child(spec: dict[str, Any]) -> dict[str, Any]:
    """Run the soak in this process (JACK_DEFAULT_SERVER names the private server)."""
    from bench_limiter import loud_music_like

    from host.model.session import load_session
    from host.live.stream import SessionStream

    seconds, log = float(spec["seconds"]), spec["log"]
    folder = Path(tempfile.mkdtemp(prefix="outboard-soak-"))
    path = folder / "soak_session.toml"
    path.write_text(soak_session_text(spec.get("gear_engine", "c")))
    session = load_session(path)
    program = np.ascontiguousarray(loud_music_like(FS, PROGRAM_S).T)  # (frames, 2)
    notes: list[str] = []
    res: dict[str, Any] = {"period": PERIOD, "seconds_asked": seconds}
    with SessionStream(session, "playback", say=notes.append) as ss:
        ss.prepare_inserts()
        eng = ss.engine
        res["insert_latency_samples"] = eng.meters()["hardware"]["wire"]["latency_samples"]
        res["chain_latency_samples"] = eng.latency_samples
        res["device"] = ss.device.name
        stop = threading.Event()
        samples: list[float] = []
        peak = [0.0]
        xrun_times: list[float] = []
        other_events: dict[str, int] = {}
        pos = [0]
        start_frame = [0]

        def feed() -> None:
            space = eng.playback_space
            while space > 0:
                n = min(space, len(program) - pos[0])
                w = eng.playback_write(program[pos[0]:pos[0] + n])
                pos[0] = (pos[0] + w) % len(program)
                space -= w
                if w == 0:
                    break

        def drain() -> None:
            for e in eng.events():
                if e["type"] == "xrun":
                    xrun_times.append((e["frame"] - start_frame[0]) / FS)
                else:
                    other_events[e["type"]] = other_events.get(e["type"], 0) + 1

        def monitor() -> None:
            while not stop.is_set():
                feed()
                m = eng.meters()
                samples.append(m["dsp_load"])
                peak[0] = max(peak[0], m["dsp_load_max"])
                drain()
                time.sleep(SAMPLE_EVERY_S)

        feed()
        eng.events()  # what the ping posted
        th = threading.Thread(target=monitor, daemon=True)
        th.start()
        time.sleep(WARMUP_S)
        samples.clear()
        xrun_times.clear()
        other_events.clear()
        m0 = eng.meters()
        start_frame[0] = m0["frames"]
        peak[0] = 0.0
        off0, t0 = os.path.getsize(log), time.perf_counter()
        end = t0 + seconds
        loops = 0
        while time.perf_counter() < end:  # the main thread's pure-Python load
            sum(i * i for i in range(10000))
            loops += 1
        off1, t1 = os.path.getsize(log), time.perf_counter()
        m1 = eng.meters()
        stop.set()
        th.join()
        drain()
        peak[0] = max(peak[0], m1["dsp_load_max"])
    callbacks = m1["callbacks"] - m0["callbacks"]
    res.update(
        seconds=t1 - t0, callbacks=callbacks, expected_periods=(t1 - t0) * FS / PERIOD,
        frames_per_callback=(m1["frames"] - m0["frames"]) / max(callbacks, 1),
        pa_xruns=m1["xruns"] - m0["xruns"], xrun_event_times_s=xrun_times[:200],
        xrun_events=len(xrun_times), other_events=other_events,
        dsp_load_mean=float(np.mean(samples)) if samples else float("nan"),
        dsp_load_max=peak[0], dsp_load_samples=len(samples),
        playback_underruns=m1["playback_underruns"] - m0["playback_underruns"],
        nonfinite=m1["nonfinite"] - m0["nonfinite"], busy_loops=loops, notes=notes)
    res.update(_jack_log(log, off0, off1))
    shutil.rmtree(folder, ignore_errors=True)
    return res


# ------------------------------------------------------------------ parent


def start_server(realtime: bool) -> JackServer:
    """The private server; with ``realtime``, -R first, --no-realtime if that fails."""
    return private_server(PERIOD, None if realtime else False, SERVER_NAME)


def main(argv: list[str] | None = None) -> int:
    """Command line: see the module docstring and ``--help``."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=DEFAULT_SECONDS,
                    help=f"length of the soak, s (default {DEFAULT_SECONDS:g})")
    ap.add_argument("--no-realtime", action="store_true",
                    help="run jackd with --no-realtime instead of trying -R first")
    ap.add_argument("--gear-engine", choices=("c", "python"), default="c",
                    help="the virtual unit's JACK callback: in C (default; a unit as "
                    "punctual as real gear) or in Python (host.sim.gear's reference)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(RESULT_TAG + json.dumps(child(json.loads(args.child))), flush=True)
        return 0
    if not args.seconds > 0:
        ap.error("--seconds: expected a positive number of seconds")
    if shutil.which("jackd") is None or shutil.which("jack_lsp") is None:
        print("bench_soak: jackd and jack_lsp are needed (Debian package jackd2)",
              file=sys.stderr)
        return 2
    meta: dict[str, Any] = {
        "session": str(SESSION.relative_to(ROOT)), "fs_hz": FS, "period": PERIOD,
        "cpus": os.cpu_count(), "python": platform.python_version(),
        "loadavg_before": " ".join(f"{v:.2f}" for v in os.getloadavg()),
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    server = start_server(not args.no_realtime)
    meta["jackd_realtime"] = server.realtime
    load = None
    try:
        # the other process's CPU load: the same loop, for longer than the soak
        load = subprocess.Popen([sys.executable, "-c",
                                 BUSY_LOOP.format(seconds=args.seconds + 120.0)],
                                stdout=subprocess.DEVNULL)
        spec = {"seconds": args.seconds, "log": str(server.log_path),
                "gear_engine": args.gear_engine}
        meta["gear_engine"] = args.gear_engine
        env = server.env
        print(f"soak: {args.seconds:g} s at {PERIOD} frames, jackd "
              f"{'-R' if server.realtime else '--no-realtime'} ...", flush=True)
        r = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child",
                            json.dumps(spec)], env=env, capture_output=True, text=True,
                           timeout=args.seconds + 180)
        res = None
        for line in reversed(r.stdout.splitlines()):
            if line.startswith(RESULT_TAG):
                res = json.loads(line[len(RESULT_TAG):])
                break
        if res is None:
            tail = (r.stderr.strip().splitlines() or ["(no output)"])[-5:]
            print(f"bench_soak: the soak failed (exit {r.returncode}): " + " | ".join(tail),
                  file=sys.stderr)
            return 1
        # what jackd said about real-time scheduling (granted or refused)
        meta["jackd_realtime_lines"] = [
            ln.strip() for ln in server.log_path.read_text(errors="replace").splitlines()
            if "real" in ln.lower() or "sched" in ln.lower()][:10]
    finally:
        if load is not None and load.poll() is None:
            load.terminate()
            load.wait()
        server.stop()
        server.cleanup()
    meta["loadavg_after"] = " ".join(f"{v:.2f}" for v in os.getloadavg())
    missed = max(0.0, 1.0 - res["callbacks"] / res["expected_periods"])
    late = res["jack_client_late_by_state"]
    times = ", ".join(f"{t:.2f}" for t in res["xrun_event_times_s"][:20])
    print(f"soak {res['seconds']:.1f} s, {PERIOD}-frame period, jackd "
          f"{'-R' if server.realtime else '--no-realtime'}, hardware insert 'wire' "
          f"(round trip {res['insert_latency_samples']} samples, gear callback in "
          f"{'C' if args.gear_engine == 'c' else 'Python'})")
    print(f"  callbacks {res['callbacks']} ({missed:.2%} of periods missed), "
          f"frames/callback {res['frames_per_callback']:.1f}")
    print(f"  PortAudio xruns (engine) {res['pa_xruns']}, xrun events {res['xrun_events']}"
          + (f" at {times} s" if times else ""))
    print(f"  JACK server xruns {res['jack_server_xruns']}, late clients "
          f"{res['jack_client_late']} (Triggered {late.get('Triggered', 0)} / Running "
          f"{late.get('Running', 0)}) by client {res['jack_late_clients']}")
    print(f"  DSP load mean {res['dsp_load_mean']:.1%}, max {res['dsp_load_max']:.1%} "
          f"({res['dsp_load_samples']} samples); playback underruns "
          f"{res['playback_underruns']}, non-finite {res['nonfinite']}, other events "
          f"{res['other_events']}")
    for ln in meta["jackd_realtime_lines"]:
        print(f"  jackd: {ln}")
    print(f"  load average before {meta['loadavg_before']}, after {meta['loadavg_after']}; "
          f"{meta['cpus']} CPUs; main-thread loop passes {res['busy_loops']}")
    out = ROOT / "out"
    out.mkdir(exist_ok=True)
    (out / "bench_soak.json").write_text(json.dumps({"meta": meta, "soak": res}, indent=2))
    print(f"wrote {out / 'bench_soak.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
