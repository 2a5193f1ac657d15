"""A session value its unit can only take rounded to its steps loads, with one
warning line naming the key, the value asked and the value the unit gets
(host.model.config, host.midi.laws.quantised); the CLI prints it once as
``outboard: warning: ...``."""

from __future__ import annotations

import warnings

import pytest

from host.cli import main
from host.errors import OutboardWarning
from host.model.session import load_session

SESSION = """
[interface]
device = "system"
sample_rate = 48000
block_size = 128

[program]
inputs = [1, 2]
outputs = [1, 2]

[[chain]]
kind = "hardware"
name = "preamp"
sends = [3, 4]
returns = [3, 4]
midi = {{ profile = "roland_mmp2", port = "mmp2" }}
settings = {{ comp_level_db = {level}, att_1_db = -6.0, user_patch = "User #12" }}
snapshots = {{ B = {{ comp_level_db = -1.2 }} }}
"""


def test_a_value_between_the_units_steps_warns_naming_key_asked_and_got(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(SESSION.format(level=3.3))
    with pytest.warns(OutboardWarning) as got:
        session = load_session(path)
    lines = [str(w.message) for w in got]
    assert lines == [
        f"{path}: chain[0].settings.comp_level_db: 3.3 dB asked; the unit gets 3.5 dB "
        "(0.5 dB steps)",
        f"{path}: chain[0].snapshots.B.comp_level_db: -1.2 dB asked; the unit gets -1 dB "
        "(0.5 dB steps)"]
    # the session keeps what was written; the sheet and the dry run show what is sent
    assert session.chain.inserts[0].params["settings"]["comp_level_db"] == 3.3


def test_values_on_the_units_steps_load_without_a_word(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(SESSION.format(level=3.5).replace("-1.2", "-1.5"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_session(path)


def test_the_cli_prints_each_warning_once_on_one_line(tmp_path, capsys):
    path = tmp_path / "s.toml"
    path.write_text(SESSION.format(level=3.3))
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        assert main(["recall", str(path), "--dry-run"]) == 0
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert lines == [f"outboard: warning: {path}: chain[0].settings.comp_level_db: 3.3 dB "
                     "asked; the unit gets 3.5 dB (0.5 dB steps)",
                     f"outboard: warning: {path}: chain[0].snapshots.B.comp_level_db: -1.2 dB "
                     "asked; the unit gets -1 dB (0.5 dB steps)"]
    assert "comp_level_db = 3.3 dB (sysex, raw 71, the unit gets 3.5)" in out
