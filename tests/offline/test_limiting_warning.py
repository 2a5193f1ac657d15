"""Heavy limiting is reported: `outboard master` and `outboard deliver` warn when
a limiter takes more gain reduction than ``max_limiting_db`` (default 6 dB;
``--max-limiting-db`` on both commands, a ``[master]`` key of a chain file and a
key of each deliverable), in the note, the deliver table, the report and one
warning line on stderr; the exit status stays 0.

The issue: 22 dB of limiting in a deliverable went unreported.  Reference for
the figure: the program's own true peak (scipy, 16x) plus the loudness gain
applied before the limiter, less the ceiling: what the limiter had to take."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
from scipy import signal as ss

from conftest import write_session

from host.cli import main

FS = 48000


def peaky(seconds: float = 6.0) -> np.ndarray:
    """A quiet pad with full-scale clicks twice a second: about -30 LUFS with
    peaks at -0.5 dBFS, so -8 LUFS needs some 22 dB of gain into the limiter.
    (frames, 2) float32."""
    n = int(seconds * FS)
    t = np.arange(n) / FS
    x = 0.02 * np.sin(2 * np.pi * 220 * t)
    for s in np.arange(0.25, seconds, 0.5):
        i = int(s * FS)
        x[i:i + 48] += 0.94 * np.hanning(48) * np.sin(2 * np.pi * 3000 * np.arange(48) / FS)
    return np.stack([x, x], 1).astype(np.float32)


def dbtp(x: np.ndarray) -> float:
    return 20 * np.log10(np.max(np.abs(ss.resample_poly(x.astype(np.float64), 16, 1,
                                                        axis=0))))


@pytest.fixture
def mix(tmp_path):
    p = tmp_path / "mix.wav"
    sf.write(p, peaky(), FS, subtype="FLOAT")
    return p


def test_master_warns_about_heavy_limiting_and_reports_it(mix, tmp_path, capsys):
    out, rep = tmp_path / "out.wav", tmp_path / "out.json"
    code = main(["master", str(mix), str(out), "--target-lufs", "-8", "--report", str(rep)])
    err = capsys.readouterr().err
    assert code == 0
    report = json.loads(rep.read_text())
    gr = report["max_limiting_db"]
    want = dbtp(peaky()) + report["loudness_gain_db"] - (-1.0)
    assert gr == pytest.approx(want, abs=0.5) and gr > 20
    line = next(ln for ln in err.splitlines() if "dB of limiting" in ln)
    assert line.startswith("outboard: warning: ")
    assert f"{gr:.1f} dB of limiting (warning above 6 dB): a lower loudness target" in line
    assert "dB of limiting" in report["note"]


def test_master_threshold_is_settable_on_the_command_line_and_in_the_chain(mix, tmp_path,
                                                                          capsys):
    out = tmp_path / "out.wav"
    assert main(["master", str(mix), str(out), "--target-lufs", "-8", "-q",
                 "--max-limiting-db", "40"]) == 0
    assert "limiting" not in capsys.readouterr().err
    chain = tmp_path / "c.toml"
    chain.write_text('[master]\nmax_limiting_db = 40.0\n\n[[chain]]\nkind = "limiter"\n')
    assert main(["master", str(mix), str(out), "--target-lufs", "-8", "-q", "--chain",
                 str(chain)]) == 0
    assert "limiting" not in capsys.readouterr().err
    # a gentle target stays under the default threshold: no warning
    assert main(["master", str(mix), str(out), "--target-lufs", "-30", "-q"]) == 0
    assert "limiting" not in capsys.readouterr().err
    assert main(["master", str(mix), str(out), "--max-limiting-db", "61", "-q"]) == 2
    assert "--max-limiting-db: expected 0..60 dB" in capsys.readouterr().err


def test_deliver_warns_in_its_table_report_and_stderr(mix, tmp_path, capsys):
    code = main(["deliver", str(mix), "--preset", "club,streaming", "--out",
                 str(tmp_path / "d"), "--jobs", "1"])
    out, err = capsys.readouterr()
    assert code == 0
    club = json.loads((tmp_path / "d" / "mix.club.json").read_text())["deliverable"]
    assert club["limiting_warning"] and club["max_limiting_db"] > 20
    assert club["limiting_warning_db"] == 6.0 and "dB of limiting" in club["note"]
    assert "limiting" in out and "(!)" in out
    warn = [ln for ln in err.splitlines() if "dB of limiting" in ln]
    assert len(warn) == 2 and any("mix.club.wav" in w for w in warn)
    assert all(w.startswith("outboard: warning: ") and "(--max-limiting-db)" in w for w in warn)


def test_deliver_threshold_from_the_command_line_and_the_deliverable(mix, tmp_path, capsys):
    assert main(["deliver", str(mix), "--preset", "club", "--out", str(tmp_path / "d"), "-q",
                 "--jobs", "1", "--max-limiting-db", "40", "--no-report"]) == 0
    assert "limiting" not in capsys.readouterr().err
    sess = write_session(tmp_path / "s.toml", release={
        "print": str(mix), "folder": "out",
        "deliverables": [{"name": "loud", "target_lufs": -8.0, "max_limiting_db": 40.0},
                         {"name": "louder", "target_lufs": -8.0}]})
    assert main(["deliver", str(sess), "-q", "--jobs", "1", "--no-report"]) == 0
    warn = [ln for ln in capsys.readouterr().err.splitlines() if "dB of limiting" in ln]
    assert len(warn) == 1 and "mix.louder.wav" in warn[0]
