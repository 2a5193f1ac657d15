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

import math
import os
import queue
from dataclasses import dataclass
from pathlib import Path

import soundfile as sf

from host.audiofile import check_distinct, check_space, check_writable, expected_bytes, make_folder
from host.errors import OutboardError
from host.model.config import did_you_mean
from host.model.release import PRESETS, Deliverable
from host.model.session import load_session
from host.offline.deliverables import output_path, render_deliverable
from host.offline.render import overall_fraction

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

    chosen = _presets(presets)
    jobs: list[Job] = []
    folders: dict[Path, str | None] = {}  # where deliverables go -> the key naming it
    for src in sources:
        src = Path(src)
        if src.suffix.lower() in SESSION_SUFFIXES:
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
            whose = ("--out" if out_dir else f"{src}: release.folder" if rel.folder
                     else None)
            title = rel.title or rel.print_path.stem
            print_path = rel.print_path
        else:
            if not src.exists():
                raise OutboardError(f"{src}: no such file")
            items = chosen or [PRESETS[n] for n in DEFAULT_PRESETS]
            folder = out_dir or src.parent / "deliverables"
            whose = "--out" if out_dir else None
            title = src.stem
            print_path = src
        folders.setdefault(Path(folder), whose)
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
    for folder, whose in folders.items():
        make_folder(folder, whose, "" if whose else "; choose another with --out")
    for j in jobs:
        check_writable(j.output)
    check_space(_planned_bytes(jobs))
    return jobs


def _planned_bytes(jobs: list[Job]) -> list[tuple[Path, int]]:
    """(output, expected bytes) of each job whose print can be read (a broken
    print fails its own jobs, each in one line)."""
    out = []
    for j in jobs:
        try:
            info = sf.info(str(j.source))
        except Exception:  # noqa: BLE001 - read_audio says why, in the job
            continue
        rate = j.deliverable.sample_rate or info.samplerate
        frames = math.ceil(info.frames * rate / info.samplerate)
        out.append((j.output, expected_bytes(j.output, frames, info.channels,
                                             j.deliverable.bit_depth)))
    return out


def _work(job: Job, index: int, progress_q, report: bool) -> tuple[int, dict | None, str | None]:
    """One job in a worker process: (index, summary or None, error line or None)."""

    def progress(stage: str, frac: float) -> None:
        if progress_q is not None:  # (a deliverable's chain is empty: its limiter is the work)
            done = overall_fraction(stage, frac, DELIVER_WEIGHTS)
            progress_q.put((index, min(0.95, done)))

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
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

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






