"""`outboard deliver`'s table in an 80-column terminal: every line fits, and
the deliverables of one print are told apart (their names in a column of
their own; the file names whole, folded onto a second line when long, never
cut with an ellipsis)."""

from __future__ import annotations

import re

import numpy as np
import soundfile as sf

from host.cli import main

PRESETS = ("streaming", "cd", "vinyl", "broadcast")


def test_the_deliverables_of_a_long_named_print_are_told_apart(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    rng = np.random.default_rng(4)
    src = tmp_path / "my_album_track_01_final_print_v3.wav"
    sf.write(src, (0.1 * rng.standard_normal((48000, 2))).astype(np.float32), 48000)
    code = main(["deliver", str(src), "--preset", ",".join(PRESETS), "--out",
                 str(tmp_path / "out"), "--no-report", "--jobs", "1"])
    assert code == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert max(len(ln) for ln in lines) <= 80
    assert "…" not in out
    rows = [ln for ln in lines if ln.startswith("│")]
    cells = [[c.strip() for c in ln.strip("│").split("│")] for ln in rows]
    # rows: a deliverable's first line names it; its file name continues below it
    names, files = [], []
    for c in cells:
        if c[0]:
            names.append(c[0])
            files.append(c[1])
        else:
            files[-1] += c[1]
    assert names == list(PRESETS)
    assert files == [f"{src.stem}.{p}.wav" for p in PRESETS]
    assert re.search(r"LUFS: integrated loudness, dBTP: true peak", " ".join(out.split()))
