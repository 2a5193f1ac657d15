"""Every command in the README runs as written after `make demo`.

The README's ``sh`` blocks are read as a newcomer reads them: each command
(continuation lines joined, comments dropped) is run, in order, from the top
of a copy of the repository's working files (``configs/``, ``.venv/bin``) in
which the files `make demo` leaves are stood in for by short synthesized ones
at the same paths (:func:`host.live.demo.write_inputs`: a 2 s mix, 2 s stems
with their session; the prints the demo makes).  Each must exit 0.  The
commands that use JACK run on the shared ``jack_server`` fixture.  `make demo`
and `make test` themselves are not run (the first takes minutes, the second is
this suite).

On a loaded machine a real-time command can be hit by xruns: a print that
caught one is marked not clean and exits 4, and a fingerprint check measured
through one (or after a MIDI message a late JACK client lost) can differ
(exit 1).  Those two are run again, up to :data:`ATTEMPTS` times in all,
before the test fails: the README is right if the command can succeed.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from host.live.demo import write_inputs

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
ATTEMPTS = 3
#: (words that pick the command, the exit code that load can cause)
LOAD_DEPENDENT = ((("print",), 4), (("recall", "--check"), 1))


def sh_lines() -> list[str]:
    """Every command line of the README's ``sh`` blocks, continuations joined."""
    lines: list[str] = []
    for block in re.findall(r"```sh\n(.*?)```", README.read_text(), re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        lines += [ln.strip() for ln in joined.splitlines() if ln.strip()]
    return lines


def readme_commands() -> list[list[str]]:
    """The outboard commands, as argument lists (comments dropped)."""
    return [shlex.split(ln, comments=True) for ln in sh_lines()
            if ln.startswith(".venv/bin/outboard ")]


def test_the_readme_shows_only_commands_this_test_runs():
    for ln in sh_lines():
        assert ln.startswith((".venv/bin/outboard ", "make demo", "make test")), ln
    commands = {argv[1] for argv in readme_commands()}
    assert {"analyze", "master", "run", "ping", "print", "deliver", "recall", "recall-sheet",
            "devices"} <= commands
    recall = [argv for argv in readme_commands() if argv[1] == "recall"]
    assert any("--fingerprint" in a for a in recall) and any("--check" in a for a in recall)


@pytest.fixture
def after_make_demo(tmp_path: Path) -> Path:
    """A folder holding what the README's commands expect after `make demo`."""
    shutil.copytree(ROOT / "configs", tmp_path / "configs")
    (tmp_path / ".venv").mkdir()
    (tmp_path / ".venv" / "bin").symlink_to(Path(sys.executable).parent)
    demo = tmp_path / "out" / "demo"
    mix = write_inputs(demo, seconds=2.0, stem_seconds=2.0)
    shutil.copy(mix, demo / "demo_stems_print.wav")          # the demo prints these
    (tmp_path / "out" / "hybrid").mkdir(parents=True)
    shutil.copy(mix, tmp_path / "out" / "hybrid" / "print.wav")
    return tmp_path


def load_dependent(argv: list[str], code: int) -> bool:
    return any(all(w in argv for w in words) and code == c for words, c in LOAD_DEPENDENT)


def test_every_readme_command_runs_after_make_demo(after_make_demo, jack_server):
    env = dict(os.environ, COLUMNS="80")
    ran = []
    for argv in readme_commands():
        for _attempt in range(ATTEMPTS):
            r = subprocess.run(argv, cwd=after_make_demo, env=env, capture_output=True,
                               text=True, timeout=300)
            if not load_dependent(argv, r.returncode):
                break
        assert r.returncode == 0, (shlex.join(argv), r.stdout[-3000:], r.stderr[-3000:])
        assert "Traceback" not in r.stderr, (shlex.join(argv), r.stderr[-3000:])
        ran.append(argv[1])
    assert len(ran) == len(readme_commands())
    # what the README says the commands write is there
    for path in ("out/demo/master.wav", "out/demo/cd.flac", "out/demo/cd.json",
                 "out/demo/cd.png", "out/demo/run.wav", "out/demo/recall_sheet.html",
                 "out/demo/recall_sheet.png", "configs/session_hybrid_studio.fingerprint.json",
                 "configs/session_hybrid_studio.measured.json", "out/hybrid/print.json",
                 "out/demo/stems_print.wav", "out/hybrid/deliverables/hybrid_demo.cd.wav",
                 "out/delivered/print.vinyl.wav", "out/delivered/demo_stems_print.cd.wav"):
        assert (after_make_demo / path).is_file(), path
