"""``outboard deliver SOURCE...``: every deliverable of many prints, over every core.

A SOURCE is a print (an audio file: the deliverables are ``--preset`` ones) or
a session file (its ``[release]``: the print it names and its deliverables).
Every (source, deliverable) pair is one job; jobs run in worker processes, as
many as the machine has cores (``--jobs``), under one overall progress bar.
One job failing does not stop the others: each failure is one line at the end
and the exit code is 1.  Every file is written under a temporary name and
renamed when complete (host.audiofile), so a stopped batch leaves no
half-written file.
"""

from __future__ import annotations

import os
import queue
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from host.deliverables import PRESETS, Deliverable, output_path, preset_table
from host.errors import OutboardError

#: master()'s stages for a deliverable: no chain of its own, the loudness search is the work
DELIVER_WEIGHTS = {"read": 0.05, "resample": 0.05, "chain": 0.05, "loudness": 0.75,
                   "write": 0.1}
#: presets delivered from a bare audio file when --preset is not given
DEFAULT_PRESETS = ("streaming", "club", "cd", "vinyl")
SESSION_SUFFIXES = (".toml",)


@dataclass
class Job:
    source: Path           # the print
    deliverable: Deliverable
    output: Path
    label: str             # what the progress bar and the summary call it


def _presets(names: str | None) -> list[Deliverable] | None:
    if names is None:
        return None
    out = []
    for n in [x.strip() for x in names.split(",") if x.strip()]:
        if n not in PRESETS:
            from host.config import did_you_mean

            raise OutboardError(f"--preset: unknown preset {n!r} (expected one of "
                                f"{', '.join(PRESETS)}){did_you_mean(n, PRESETS)}")
        out.append(PRESETS[n])
    if not out:
        raise OutboardError("--preset: expected preset names separated by commas")
    return out


def plan(sources: list[Path], presets: str | None = None,
         out_dir: Path | None = None) -> list[Job]:
    """The jobs for ``sources``; checks everything that can be checked before
    any work: sources exist, sessions validate and name their print, no two
    jobs write the same file, no output overwrites a source."""
    from host.audiofile import check_distinct, check_writable

    chosen = _presets(presets)
    jobs: list[Job] = []
    for src in sources:
        src = Path(src)
        if src.suffix.lower() in SESSION_SUFFIXES:
            from host.session import load_session

            session = load_session(src)
            rel = session.release
            if rel is None or rel.print_path is None:
                raise OutboardError(f"{src}: [release] print: missing; expected the print "
                                    "file the deliverables are made from (see `outboard "
                                    "print`)")
            if not rel.print_path.exists():
                raise OutboardError(f"{rel.print_path}: no such print (the session's "
                                    f"[release] print); run `outboard print {src}` first")
            items = rel.deliverables
            if chosen is not None:
                names = {d.name for d in chosen}
                items = [d for d in items if d.name in names] + \
                    [d for d in chosen if d.name not in {x.name for x in items}]
            if not items:
                raise OutboardError(f"{src}: [release] lists no deliverables (presets or "
                                    "[[release.deliverables]]), and no --preset was given")
            folder = out_dir or rel.folder or src.parent / "deliverables"
            title = rel.title or rel.print_path.stem
            print_path = rel.print_path
        else:
            if not src.exists():
                raise OutboardError(f"{src}: no such file")
            items = chosen or [PRESETS[n] for n in DEFAULT_PRESETS]
            folder = out_dir or src.parent / "deliverables"
            title = src.stem
            print_path = src
        for d in items:
            dst = output_path(folder, title, d)
            jobs.append(Job(print_path, d, dst, f"{title} {d.name}"))
    seen: dict[Path, Job] = {}
    for j in jobs:
        key = j.output.resolve()
        if key in seen:
            raise OutboardError(f"{j.output}: two jobs would write this file ({seen[key].source} "
                                f"and {j.source}); give the sources different names or "
                                "--out folders")
        seen[key] = j
        check_distinct(j.source, j.output)
    for folder in {j.output.parent for j in jobs}:
        folder.mkdir(parents=True, exist_ok=True)
    for j in jobs:
        check_writable(j.output)
    return jobs


def _work(job: Job, index: int, progress_q, report: bool) -> tuple[int, dict | None, str | None]:
    """One job in a worker process: (index, summary or None, error line or None)."""
    from host.render import overall_fraction

    def progress(stage: str, frac: float) -> None:
        if progress_q is not None:  # (a deliverable's chain is empty: its limiter is the work)
            done = overall_fraction(stage, frac, DELIVER_WEIGHTS)
            progress_q.put((index, min(0.95, done)))

    from host.deliverables import render_deliverable

    try:
        summary = render_deliverable(job.source, job.deliverable, job.output, report=report,
                                     progress=progress)
        return index, summary, None
    except OutboardError as exc:
        return index, None, str(exc)
    except Exception as exc:  # noqa: BLE001 - one job's bug must not cost the batch
        return index, None, f"{job.output}: {type(exc).__name__}: {exc}"


def run_jobs(jobs: list[Job], workers: int | None = None, report: bool = True,
             show: bool = True) -> list[tuple[Job, dict | None, str | None]]:
    """Run ``jobs`` over ``workers`` processes (default: every core) with one
    overall progress bar; returns (job, summary, error) in the jobs' order."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    workers = max(1, min(workers or os.cpu_count() or 1, len(jobs)))
    done = [0.0] * len(jobs)
    results: list = [None] * len(jobs)
    bar = task = None
    if show:
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                   TimeElapsedColumn, TimeRemainingColumn)

        bar = Progress(TextColumn("deliver"), BarColumn(),
                       TextColumn("{task.percentage:>3.0f}%"), MofNCompleteColumn(),
                       TextColumn("files"), TimeElapsedColumn(), TimeRemainingColumn(),
                       transient=True)
        task = bar.add_task("deliver", total=len(jobs))
        bar.start()

    def update() -> None:
        if bar is not None:
            bar.update(task, completed=sum(done))

    try:
        if workers == 1:
            class _Q:
                def put(self, item):
                    done[item[0]] = item[1]
                    update()

            for i, j in enumerate(jobs):
                results[i] = _work(j, i, _Q(), report)
                done[i] = 1.0
                update()
        else:
            ctx = mp.get_context("spawn")
            with ctx.Manager() as manager, ProcessPoolExecutor(workers, mp_context=ctx) as pool:
                q = manager.Queue()
                futures = [pool.submit(_work, j, i, q, report) for i, j in enumerate(jobs)]
                pending = set(range(len(jobs)))
                while pending:
                    try:
                        while True:
                            i, frac = q.get(timeout=0.1)
                            if i in pending:
                                done[i] = frac
                    except queue.Empty:
                        pass
                    for i in list(pending):
                        if futures[i].done():
                            results[i] = futures[i].result()
                            done[i] = 1.0
                            pending.discard(i)
                    update()
    finally:
        if bar is not None:
            bar.stop()
    return [(jobs[i], results[i][1], results[i][2]) for i in range(len(jobs))]


def _fmt(v, unit: str) -> str:
    return "-inf" if v is None else f"{v:.2f} {unit}".rstrip()


def cmd_deliver(args) -> int:
    if args.list:
        from rich.console import Console
        from rich.table import Table

        t = Table("preset", "settings", "for", title="deliverable presets")
        for row in preset_table():
            t.add_row(*row)
        Console().print(t)
        return 0
    if not args.sources:
        raise OutboardError("deliver: expected SOURCE files (prints or session files); "
                            "--list shows the presets")
    if args.jobs is not None and args.jobs < 1:
        raise OutboardError(f"--jobs: expected a number of processes >= 1, got {args.jobs}")
    jobs = plan(args.sources, args.preset, args.out)
    t0 = time.monotonic()
    results = run_jobs(jobs, args.jobs, report=not args.no_report, show=not args.quiet)
    failed = [(j, e) for j, s, e in results if e is not None]
    if not args.quiet:
        from rich.console import Console
        from rich.table import Table

        notes = any(s and s["note"] for _, s, _e in results)
        t = Table("file", "integrated LUFS", "true peak dBTP", "format",
                  *(["note"] if notes else []),
                  title=f"{len(results) - len(failed)} of {len(results)} deliverables in "
                  f"{time.monotonic() - t0:.1f} s (measured on the files written)")
        for _j, s, _e in results:
            if s is None:
                continue
            bits = "32-bit float" if s["bit_depth"] == "32f" else f"{s['bit_depth']}-bit"
            t.add_row(Path(s["file"]).name, _fmt(s["integrated_lufs"], ""),
                      _fmt(s["true_peak_dbtp"], ""),
                      f"{s['sample_rate'] / 1000:g} kHz {bits} {s['format'].upper()}",
                      *([s["note"] or ""] if notes else []))
        Console().print(t)
        folders = sorted({str(j.output.parent) for j, s, _e in results if s is not None})
        if folders:
            print(f"in {', '.join(folders)}"
                  + ("" if args.no_report else " (each with its report: .json and .png)"))
    for _, e in failed:
        print(f"outboard: error: {e}", file=sys.stderr)
    return 1 if failed else 0


def add_deliver_parser(sub) -> None:
    p = sub.add_parser("deliver", help="render every deliverable (streaming, CD, vinyl...) "
                       "from prints or sessions, over all cores, with reports")
    p.add_argument("sources", nargs="*", type=Path, metavar="SOURCE",
                   help="prints (audio files) or session files ([release])")
    p.add_argument("--preset", metavar="NAMES",
                   help="comma-separated presets (default for a print: "
                   f"{','.join(DEFAULT_PRESETS)}; for a session: its [release])")
    p.add_argument("--out", type=Path, metavar="DIR",
                   help="folder for the deliverables (default: the session's [release] "
                   "folder, or deliverables/ beside the print)")
    p.add_argument("--jobs", "-j", type=int, metavar="N",
                   help="worker processes (default: one per core)")
    p.add_argument("--no-report", action="store_true", help="no JSON/PNG reports")
    p.add_argument("--list", action="store_true", help="list the presets and exit")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress, no table")
    p.set_defaults(func=cmd_deliver)
