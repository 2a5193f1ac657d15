"""`outboard master` stopped for real.  Ctrl-C or SIGTERM: the file being
written is removed, and the one line names exactly the files already
written.  SIGKILL (nothing can be cleaned): the part file left holds the dead
process's id, and the next run removes it, says so, and leaves alone a part
file of a process that still runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf

from conftest import sine_and_noise, wait_for_file

from host.audiofile import part_owner
from host.cli import main

EXE = Path(sys.executable).parent / "outboard"


def start_master(tmp_path: Path) -> tuple[subprocess.Popen, Path, Path, Path]:
    """`outboard master` with a report, in a child; (process, input, output, report)."""
    src = tmp_path / "mix.wav"
    sf.write(src, sine_and_noise(3.0), 48000, subtype="FLOAT")
    out, rep = tmp_path / "m.wav", tmp_path / "m.json"
    proc = subprocess.Popen([str(EXE), "master", str(src), str(out), "--target-lufs", "-14",
                             "--report", str(rep), "-q"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    return proc, src, out, rep


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_stop_signal_removes_the_file_being_written_and_names_those_written(tmp_path, sig):
    proc, _, out, rep = start_master(tmp_path)
    wait_for_file(tmp_path, ".m.png.*.part.png", proc)  # the audio and the JSON are written
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, err
    what = "Ctrl-C" if sig == signal.SIGINT else "SIGTERM"
    assert err == (f"outboard: interrupted by {what} after writing {out}, {rep}; "
                   "nothing else was written\n")
    assert sf.info(out).frames == 3 * 48000
    assert not out.with_suffix(".png").exists()
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_a_killed_run_leaves_a_part_file_the_next_run_removes_and_names(tmp_path, capsys):
    proc, src, out, _ = start_master(tmp_path)
    part = wait_for_file(tmp_path, ".m.png.*.part.png", proc)
    proc.kill()
    proc.communicate()
    assert part.exists() and part_owner(part) == proc.pid  # SIGKILL: nothing could clean
    live = tmp_path / f".m.wav.{os.getpid()}.abcd1234.part.wav"  # a run writing right now
    live.write_bytes(b"")
    assert main(["master", str(src), str(out), "-q"]) == 0
    err = capsys.readouterr().err
    assert err == ("outboard: removed 1 stale part file left by a stopped run (its process "
                   f"is gone): {part}\n")
    assert not part.exists() and live.exists()
