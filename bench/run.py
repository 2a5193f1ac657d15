"""`make bench`: outboard's kernels against the libraries a user would pick
instead, measured in the same run, printed as a table of throughput
(channel-samples per second), cycles per channel-sample (where the CPU clock
is known) and the speed ratio.  Nothing here is asserted; it is a report.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from common import Row  # noqa: E402

MODULES = ["bench_biquad", "bench_compressor", "bench_multiband", "bench_saturation",
           "bench_dynamic_eq", "bench_limiter", "bench_loudness", "bench_call", "bench_engine",
           "bench_deliver", "bench_report"]


def cpu_hz() -> float | None:
    """Nominal clock from cpufreq or /proc/cpuinfo (None if unknown)."""
    p = Path("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")
    try:
        if p.exists():
            return float(p.read_text()) * 1e3
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("cpu mhz"):
                return float(line.split(":")[1]) * 1e6
    except (OSError, ValueError):
        pass
    return None


def msps(rate: float | None) -> str:
    return "-" if rate is None else f"{rate / 1e6:,.1f}"


def main() -> int:
    rows: list[Row] = []
    for name in MODULES:
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            print(f"(skipping {name}: {exc})")
            continue
        print(f"running {name} ...", flush=True)
        rows.extend(mod.run())
    hz = cpu_hz()
    from rich.console import Console
    from rich.table import Table

    t = Table(title="outboard vs the alternative (same run; higher ratio = outboard faster)")
    for col in ("benchmark", "outboard Msamples/s", "cycles/sample", "us/call", "reference",
                "ref Msamples/s", "ref us/call", "ratio"):
        t.add_column(col, justify="left" if col in ("benchmark", "reference") else "right")
    for r in rows:
        cyc = "-" if hz is None else f"{hz / r.ours_rate:.1f}"
        ratio = "-" if r.speedup is None else f"{r.speedup:.2f}x"
        ref_us = "-" if r.ref_s is None else f"{r.ref_s * 1e6:,.1f}"
        t.add_row(r.name, msps(r.ours_rate), cyc, f"{r.ours_s * 1e6:,.1f}", r.ref_name,
                  msps(r.ref_rate), ref_us, ratio)
    Console(width=220).print(t)
    if hz:
        print(f"cycles from the nominal clock {hz / 1e9:.2f} GHz (no turbo/frequency data)")
    out = HERE.parent / "out"
    out.mkdir(exist_ok=True)
    (out / "bench.json").write_text(json.dumps(
        [{"name": r.name, "work": r.work, "ours_s": r.ours_s, "ref_name": r.ref_name,
          "ref_s": r.ref_s, "speedup": r.speedup} for r in rows], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
