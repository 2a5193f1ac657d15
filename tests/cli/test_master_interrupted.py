"""Ctrl-C during `outboard master` says exactly what was written: nothing, when it
came before the master was in place; the master (and the report, if that far)
when it came after.  The issue: Ctrl-C while the report was drawn said "nothing
was written" while the master existed.

Real child processes, real SIGINT: the child sends it to itself at the chosen
moment (a stage of the work wrapped to do so), so the moment is exact."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import soundfile as sf

FS = 48000

#: the child: wrap ``module.name`` to raise SIGINT in this process, then run
#: `outboard master`
CHILD = textwrap.dedent("""
    import importlib, os, signal, sys, time
    module, name = sys.argv[1].rsplit(".", 1)
    mod = importlib.import_module(module)
    real = getattr(mod, name)
    def interrupted(*a, **k):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(5)   # the signal lands here
        return real(*a, **k)
    setattr(mod, name, interrupted)
    from host.cli import main
    sys.exit(main(sys.argv[2:]))
""")


@pytest.mark.parametrize("at,wrote,missing", [
    # while the report's plot is drawn: the master and the JSON are in place
    ("host.offline.report.plot_report", ["out.wav", "out.json"], ["out.png"]),
    # after the master is written, while it is measured: only the master
    ("host.offline.render.analyze_audio", ["out.wav"], ["out.json", "out.png"]),
    # before the master is written: nothing
    ("host.offline.render.write_audio", [], ["out.wav", "out.json", "out.png"]),
])
def test_ctrl_c_says_exactly_what_was_written(tmp_path, at, wrote, missing):
    x = np.random.default_rng(2).standard_normal((2 * FS, 2)) * 0.1
    src = tmp_path / "in.wav"
    sf.write(src, x.astype(np.float32), FS, subtype="FLOAT")
    out, rep = tmp_path / "out.wav", tmp_path / "out.json"
    proc = subprocess.run([sys.executable, "-c", CHILD, at, "master", str(src), str(out),
                           "--report", str(rep), "-q"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 128 + signal.SIGINT, proc.stderr
    err = proc.stderr.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    if wrote:
        names = ", ".join(str(tmp_path / w) for w in wrote)
        assert err == (f"outboard: interrupted by Ctrl-C after writing {names}; "
                       "nothing else was written")
        assert not any((tmp_path / m).exists() for m in missing)
        assert sf.info(str(out)).frames == 2 * FS
    else:
        assert err == "outboard: interrupted by Ctrl-C; nothing was written"
    present = sorted(p.name for p in tmp_path.iterdir())
    assert present == sorted(["in.wav", *wrote]), present
