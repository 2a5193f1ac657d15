"""`outboard deliver` stopped for real: Ctrl-C (to the whole foreground group,
as a terminal sends it) or SIGTERM cancels the queue, ends the workers, leaves
no part file and says exactly which deliverables were written; workers die
with a parent killed outright; a worker killed (SIGKILL, as the out-of-memory
killer does) costs only the job it held.  Each test runs `outboard` in a
child process and sends real signals."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf

from conftest import children_of, sine_and_noise, wait_for_file, wait_gone

from host.audiofile import part_owner

EXE = Path(sys.executable).parent / "outboard"
PRESETS = ["streaming", "club", "cd", "vinyl", "apple", "broadcast"]


def deliver(tmp_path: Path, presets: list[str], seconds: float = 3.0) -> tuple:
    """`outboard deliver` of a print over 2 workers, started in a session of its
    own (the tests signal it as a terminal would); (process, output folder)."""
    src = tmp_path / "song.wav"
    sf.write(src, sine_and_noise(seconds), 48000, subtype="FLOAT")
    out = tmp_path / "out"
    proc = subprocess.Popen([str(EXE), "deliver", str(src), "--preset", ",".join(presets),
                             "--out", str(out), "-j", "2", "-q"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    return proc, out


def hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_stop_signal_cancels_the_queue_ends_the_workers_and_says_what_was_written(
        tmp_path, sig):
    proc, out = deliver(tmp_path, PRESETS)
    wait_for_file(out, ".*.part.*", proc)  # the first jobs are writing; the rest are queued
    workers = children_of(proc.pid)
    assert len(workers) == 2
    if sig == signal.SIGINT:
        os.killpg(proc.pid, sig)  # the terminal's Ctrl-C: every process of its group
    else:
        proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, err
    wait_gone(workers, "deliver workers")
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    what = "Ctrl-C" if sig == signal.SIGINT else "SIGTERM"
    m = re.match(rf"outboard: interrupted by {what}: (\d) of 6 deliverables written"
                 r"(?: \(([^)]*)\))?", lines[0])
    assert m, lines[0]
    written = m.group(2).split(", ") if m.group(2) else []
    assert int(m.group(1)) == len(written)
    not_written = re.search(r"; not written: ([^;]+)", lines[0])
    assert not_written, lines[0]  # the queue was cancelled, not rendered
    assert hidden(out) == []
    for f in written:  # each deliverable said written is there, with its report
        assert all(Path(f).with_suffix(x).is_file() for x in (".wav", ".json", ".png"))
    for f in not_written.group(1).split(", "):
        assert not Path(f).exists()
    for p in out.iterdir():  # and nothing is on disk that the line does not name
        assert str(p) in lines[0] or str(p.with_suffix(".wav")) in written, (p, lines[0])


def test_workers_die_with_a_parent_killed_outright_and_leave_no_part_file(tmp_path):
    proc, out = deliver(tmp_path, PRESETS)
    wait_for_file(out, ".*.part.*", proc)
    workers = children_of(proc.pid)
    assert len(workers) == 2
    proc.kill()
    proc.communicate()
    wait_gone(workers, "the workers of a killed deliver")
    assert hidden(out) == []


def test_a_worker_killed_costs_only_the_job_it_held(tmp_path):
    presets = ["streaming", "club", "cd"]
    proc, out = deliver(tmp_path, presets)
    part = wait_for_file(out, ".*.part.*", proc)
    pid = part_owner(part)
    assert pid in children_of(proc.pid)
    victim = part.name[1:].split(f".{pid}.")[0].split(".")[1]  # .song.NAME.EXT.PID...
    os.kill(pid, signal.SIGKILL)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("outboard: error: ") and f"song.{victim}." in lines[0]
    assert "worker killed by signal 9" in lines[0]
    for name in presets:
        if name != victim:
            assert sf.info(out / f"song.{name}.wav").frames > 0
            assert (out / f"song.{name}.png").is_file()
    assert hidden(out) == []
