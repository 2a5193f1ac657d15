"""``outboard deliver SOURCE...``: every deliverable of many prints, over every core.

A SOURCE is a print (an audio file: the deliverables are ``--preset`` ones) or
a session file (its ``[release]``: the print it names and its deliverables).
Every (source, deliverable) pair is one job; jobs run in worker processes, as
many as the machine has cores (``--jobs``), under one overall progress bar.
One job failing does not stop the others: each failure is one line at the end
and the exit code is 1.  Every file is written under a temporary name and
renamed when complete (host.audiofile), so a stopped batch leaves no
half-written file.

Each worker is a process of ours (not a pool's): the parent knows which job
each one holds.  A worker killed (SIGKILL, the out-of-memory killer) costs only
the job it held ("worker killed by signal 9"): a new worker takes the rest of
the queue, and the dead one's part files are removed.  Ctrl-C or SIGTERM to the
batch cancels the queue and stops the workers (SIGTERM: each removes its part
files on the way out; SIGKILL after ``CANCEL_WAIT_S``), and
:class:`BatchInterrupted` says exactly which deliverables were written.
Workers run in process groups of their own (the terminal's Ctrl-C reaches the
parent only, which decides) and die with the parent however it dies (Linux:
``PR_SET_PDEATHSIG``; elsewhere they watch it).
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path

from dataclasses import replace

import soundfile as sf

from host.audiofile import (
    FilesRead,
    check_space,
    check_writable,
    expected_bytes,
    make_folder,
    remove_stale_parts,
)
from host.errors import Interrupted, OutboardError, interruption
from host.model.config import MASTER, did_you_mean
from host.model.release import PRESETS, Deliverable
from host.model.session import files_read, load_session
from host.offline.deliverables import output_path, render_deliverable
from host.offline.render import overall_fraction
from host.offline.report import report_paths

#: master()'s stages for a deliverable: no chain of its own, the loudness search is the work
DELIVER_WEIGHTS = {"read": 0.05, "resample": 0.05, "chain": 0.05, "loudness": 0.75,
                   "write": 0.1}
#: presets delivered from a bare audio file when --preset is not given
DEFAULT_PRESETS = ("streaming", "club", "cd", "vinyl")
SESSION_SUFFIXES = (".toml",)
#: s a cancelled worker gets to remove its part files and leave before SIGKILL
CANCEL_WAIT_S = 10.0
#: a worker reports its job's progress in steps of at least this (0..1)
PROGRESS_STEP = 0.01


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
         out_dir: Path | None = None, report: bool = True,
         max_limiting_db: float | None = None) -> list[Job]:
    """The jobs for ``sources``; checks everything that can be checked before
    any work: sources exist, sessions validate and name their print, no two
    jobs write the same file, no output (deliverable or report) is any file
    read (a print, a session: host.audiofile.FilesRead).  ``max_limiting_db``
    replaces every deliverable's limiting warning threshold (dB)."""

    chosen = _presets(presets)
    lim = MASTER["max_limiting_db"]
    if max_limiting_db is not None and not lim.lo <= max_limiting_db <= lim.hi:
        raise OutboardError(f"--max-limiting-db: expected {lim.lo:g}..{lim.hi:g} {lim.unit}, "
                            f"got {max_limiting_db:g}")
    jobs: list[Job] = []
    files = FilesRead()
    folders: dict[Path, str | None] = {}  # where deliverables go -> the key naming it
    for src in sources:
        src = Path(src)
        if src.suffix.lower() in SESSION_SUFFIXES:
            session = load_session(src)
            files_read(session, files)  # the session, its stems and device profiles
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
            files.read(print_path, f"the print of {src}")
        else:
            if not src.exists():
                raise OutboardError(f"{src}: no such file")
            files.read(src, "a source print")
            items = chosen or [PRESETS[n] for n in DEFAULT_PRESETS]
            folder = out_dir or src.parent / "deliverables"
            whose = "--out" if out_dir else None
            title = src.stem
            print_path = src
        folders.setdefault(Path(folder), whose)
        for d in items:
            if max_limiting_db is not None:
                d = replace(d, max_limiting_db=max_limiting_db)
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
    for j in jobs:  # every source is in by now: no deliverable lands on a later one
        files.claim(j.output, "deliverable")
        if report:
            for r, what in zip(report_paths(j.output), ("report", "report's plot"),
                               strict=True):
                files.claim(r, what)
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
    """One job (in a worker process, or in this one for ``--jobs 1``):
    (index, summary or None, error line or None).  ``progress_q.put((index,
    fraction))`` follows it.  A stop signal (Interrupted) is not caught: the
    job's part files are removed on its way out."""

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


class BatchInterrupted(Interrupted):
    """The batch was stopped by a signal.

    Attributes
    ----------
    results : list
        (job, summary, error) in the jobs' order, as run_jobs returns them: a
        summary for each job finished, an error line for each other one.
    stopped : dict
        Index of each job the signal stopped (begun or queued) -> the files of
        it renamed into place before it stopped (usually none: a job's files
        are under temporary names until each is complete).
    """

    def __init__(self, signum: int, results: list, stopped: dict[int, list[Path]]):
        super().__init__(signum)
        self.results = results
        self.stopped = stopped
        self.written = [Path(f) for _j, s, _e in results if s is not None
                        for f in [s["file"], *(s["report"] or [])]]
        self.written += [p for new in stopped.values() for p in new]

    def summary(self) -> str:
        """One line: the deliverables written, those not, and any stopped
        between its audio and its report."""
        written = [s["file"] for _j, s, _e in self.results if s is not None]
        line = (f"interrupted by {self.what}: {len(written)} of {len(self.results)} "
                "deliverables written" + (f" ({', '.join(written)})" if written else ""))
        nothing = [str(self.results[i][0].output) for i, new in self.stopped.items() if not new]
        if nothing:
            line += f"; not written: {', '.join(nothing)}"
        for i, new in self.stopped.items():
            if new:
                line += "; " + self.results[i][2]
        return line


# ---- the workers -------------------------------------------------------------------------

def _die_with_parent(parent_pid: int) -> None:
    """SIGTERM this worker when its parent dies, however it dies (SIGKILL
    included): Linux's PR_SET_PDEATHSIG, elsewhere a thread watching the parent."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            pr_set_pdeathsig = 1
            ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGTERM),
                                                    0, 0, 0)
            if os.getppid() != parent_pid:  # it died before we asked
                os.kill(os.getpid(), signal.SIGTERM)
            return

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, daemon=True).start()


def _on_sigterm(signum, frame) -> None:
    signal.signal(signum, signal.SIG_IGN)  # once: the way out is not cut short
    raise Interrupted(signum)


class _Pipe:
    """A job's progress, sent to the parent in steps of PROGRESS_STEP."""

    def __init__(self, conn):
        self.conn, self.last = conn, -1.0

    def put(self, item: tuple[int, float]) -> None:
        if item[1] - self.last >= PROGRESS_STEP:
            self.last = item[1]
            self.conn.send(("progress", *item))


def serve(fd: int, parent_pid: int, report: bool) -> None:
    """A worker (``python -c`` of this, see _Worker): jobs from the socket
    ``fd`` until None (or the parent is gone), each answered with ("done",
    index, summary, error).  SIGTERM ends it: the job in hand removes its part
    files, and the worker dies of the signal."""
    conn = Connection(fd)
    try:
        signal.signal(signal.SIGTERM, _on_sigterm)
        _die_with_parent(parent_pid)
        while True:
            try:
                msg = conn.recv()
            except (EOFError, OSError):
                return
            if msg is None:
                return
            index, job = msg
            conn.send(("done", *_work(job, index, _Pipe(conn), report)))
    except Interrupted:
        pass
    except OSError:  # the parent is gone
        return
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # die of it: the parent reads the signal
    os.kill(os.getpid(), signal.SIGTERM)


class _Worker:
    """A worker process, our end of its socket, and the job it holds.  In a
    process group of its own: the terminal's Ctrl-C goes to the parent only,
    which decides."""

    def __init__(self, report: bool):
        ours, theirs = socket.socketpair()
        code = (f"from host.offline.batch import serve; "
                f"serve({theirs.fileno()}, {os.getpid()}, {report!r})")
        try:
            self.proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.DEVNULL,
                                         pass_fds=[theirs.fileno()], process_group=0)
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self.conn = Connection(ours.detach())
        self.job: int | None = None

    def give(self, index: int, job: Job) -> None:
        self.job = index
        self.conn.send((index, job))

    def messages(self) -> list[tuple]:
        """What the worker sent so far (nothing more once it is gone)."""
        out = []
        with contextlib.suppress(EOFError, OSError):
            while self.conn.poll():
                out.append(self.conn.recv())
        return out

    def alive(self) -> bool:
        return self.proc.poll() is None

    def death(self) -> str:
        code = self.proc.returncode
        if code is not None and code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = "?"
            oom = ": out of memory?" if -code == signal.SIGKILL else ""
            return f"worker killed by signal {-code} ({name}{oom})"
        return f"worker exited with status {code}"

    def end(self) -> None:
        """SIGKILL if still there, and reap."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.conn.close()


def _stamp(path: Path) -> tuple | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


def _files(job: Job, report: bool) -> list[Path]:
    """Every file a job writes: the deliverable and its report."""
    return [job.output, *(report_paths(job.output) if report else ())]


def _partial(job: Job, files: list[Path], new: list[Path], why: str) -> str:
    """One line for a job that did not finish: why, and which of its
    ``files`` are ``new`` (renamed into place since it began) and which not."""
    if not new:
        return f"{job.output}: not written: {why}"
    missing = [str(p) for p in files if p not in new]
    return f"{', '.join(str(p) for p in new)}: written, but not {', '.join(missing)}: {why}"


def run_jobs(jobs: list[Job], workers: int | None = None, report: bool = True,
             show: bool = True) -> list[tuple[Job, dict | None, str | None]]:
    """Run ``jobs`` over ``workers`` processes (default: every core) with one
    overall progress bar; returns (job, summary, error) in the jobs' order.

    Raises
    ------
    BatchInterrupted
        A stop signal (Ctrl-C, SIGTERM) came: the queue was cancelled and the
        workers stopped; its ``results`` say what each job left on disk.
    """

    workers = max(1, min(workers or os.cpu_count() or 1, len(jobs)))
    batch = _Batch(jobs, report)
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
        batch.update = lambda: bar.update(task, completed=sum(batch.done))
    try:
        if workers == 1:
            batch.run_here()
        else:
            batch.run_pool(workers)
    except KeyboardInterrupt as exc:
        stop = interruption(exc)
        with contextlib.suppress(KeyboardInterrupt):  # (ignored from now on: see stop_signals)
            batch.cancel()
        raise batch.interrupted(stop) from None
    finally:
        batch.end()
        if bar is not None:
            bar.stop()
    return [(jobs[i], r[1], r[2]) for i, r in enumerate(batch.results)]


class _Batch:
    """The state of a run: each job's progress, result, and its files as they
    were when it began (to tell what it wrote if it does not finish)."""

    def __init__(self, jobs: list[Job], report: bool):
        self.jobs, self.report = jobs, report
        self.done = [0.0] * len(jobs)
        self.results: list = [None] * len(jobs)
        self.before: dict[int, dict[Path, tuple | None]] = {}
        self.pool: list[_Worker] = []
        self.folders = {j.output.parent for j in jobs}
        self.update = lambda: None

    def begin(self, i: int) -> None:
        self.before[i] = {p: _stamp(p) for p in _files(self.jobs[i], self.report)}

    def changed(self, i: int) -> list[Path]:
        """The files of job ``i`` renamed into place since it began."""
        return [p for p, st in self.before.get(i, {}).items() if _stamp(p) != st]

    def finish(self, i: int, result: tuple) -> None:
        self.results[i] = result
        self.done[i] = 1.0

    def fail(self, i: int, why: str) -> None:
        """Job ``i`` did not finish: one line with why, and what it left."""
        job = self.jobs[i]
        self.finish(i, (i, None, _partial(job, _files(job, self.report), self.changed(i), why)))

    def run_here(self) -> None:
        """Every job in this process, one after the other (``--jobs 1``)."""
        batch = self

        class _Q:
            def put(self, item):
                batch.done[item[0]] = item[1]
                batch.update()

        for i, j in enumerate(self.jobs):
            self.begin(i)
            self.finish(i, _work(j, i, _Q(), self.report))
            self.update()

    def run_pool(self, workers: int) -> None:
        """The jobs over ``workers`` processes: each idle worker gets the next
        job; a worker that dies fails the job it held, and a new one takes
        its place while jobs wait."""
        queue = list(range(len(self.jobs)))[::-1]  # next job last
        pending = set(range(len(self.jobs)))
        spares = len(self.jobs)  # new workers for dead ones, at most (dying idle, at start, too)
        pool = self.pool
        pool.extend(_Worker(self.report) for _ in range(workers))
        while pending:
            for w in pool:
                if w.job is None and queue:
                    i = queue.pop()
                    self.begin(i)
                    with contextlib.suppress(OSError):  # (a dead worker is seen below)
                        w.give(i, self.jobs[i])
            wait([w.conn for w in pool], timeout=0.2)  # (a worker's death: EOF on its socket)
            for w in list(pool):
                for msg in w.messages():
                    if msg[0] == "progress" and msg[1] in pending:
                        self.done[msg[1]] = msg[2]
                    elif msg[0] == "done":
                        self.finish(msg[1], msg[1:])
                        pending.discard(msg[1])
                        w.job = None
                if w.alive():
                    continue
                w.end()
                pool.remove(w)
                if w.job is not None:  # the job it held fails alone
                    self.fail(w.job, w.death())
                    pending.discard(w.job)
                    remove_stale_parts(self.folders)
                if queue and spares > 0:
                    spares -= 1
                    pool.append(_Worker(self.report))
                if not pool:  # workers that cannot even start: the rest cannot run
                    for i in queue:
                        self.fail(i, f"{w.death()} before it took a job")
                        pending.discard(i)
                    queue.clear()
            self.update()
        for w in pool:
            with contextlib.suppress(OSError):
                w.conn.send(None)
        deadline = time.monotonic() + CANCEL_WAIT_S
        for w in pool:
            with contextlib.suppress(subprocess.TimeoutExpired):
                w.proc.wait(timeout=max(0.0, deadline - time.monotonic()))

    def cancel(self) -> None:
        """Stop every worker: SIGTERM (each removes its part files and
        leaves), SIGKILL after CANCEL_WAIT_S; a job finished meanwhile counts."""
        for w in self.pool:
            if w.alive():
                with contextlib.suppress(OSError):
                    w.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + CANCEL_WAIT_S
        for w in self.pool:
            with contextlib.suppress(subprocess.TimeoutExpired):
                w.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            for msg in w.messages():
                if msg[0] == "done":
                    self.finish(msg[1], msg[1:])
            w.end()
        remove_stale_parts(self.folders)  # (of workers that had to be SIGKILLed)

    def interrupted(self, stop: Interrupted) -> BatchInterrupted:
        """What the batch had done when ``stop`` came."""
        stopped = {i: self.changed(i) for i, r in enumerate(self.results) if r is None}
        for i in stopped:
            self.fail(i, f"interrupted by {stop.what}")
        return BatchInterrupted(stop.signum, [(self.jobs[i], r[1], r[2]) for i, r in
                                              enumerate(self.results)], stopped)

    def end(self) -> None:
        """Nothing outlives the batch."""
        for w in self.pool:
            w.end()
        self.pool.clear()
