"""What a newcomer reads: every usage error is one line in our form
(``outboard: error: COMMAND: ...``, exit 2), and --help says what the
arguments are, what the exit codes mean and which names a option takes."""

from __future__ import annotations

import re

import pytest

from host.cli import build_parser, main
from host.model.release import PRESETS


def help_text(command: str, capsys) -> str:
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize(("argv", "want"), [
    ([], r"expected a command: analyze, master, run, .*demo"),
    (["mastr"], r"unknown command 'mastr' \(expected one of analyze, master"),
    (["master"], r"master: the following arguments are required: IN, OUT"),
    (["master", "a.wav", "b.wav", "--bit-depth", "12"],
     r"master: argument --bit-depth: invalid choice: '12'"),
    (["master", "a.wav", "b.wav", "--target-lufs", "loud"],
     r"master: argument --target-lufs: expected a number, got 'loud'"),
    (["recall-sheet", "s.toml"], r"recall-sheet: the following arguments are required: --out"),
    (["deliver", "--jobs", "many"], r"deliver: argument --jobs.*invalid int value: 'many'"),
])
def test_usage_errors_are_one_line_in_our_form_and_exit_2(capsys, argv, want):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("outboard: error: "), err
    assert re.search(want, err), err
    assert "usage:" not in err


def test_analyze_help_says_what_file_is(capsys):
    text = help_text("analyze", capsys)
    assert re.search(r"FILE\s+the audio file to measure", text)
    assert "EBU R128" in text


def test_run_help_lists_its_exit_codes(capsys):
    text = " ".join(help_text("run", capsys).split())
    assert "exit codes:" in text
    for code in ("0 the program ended", "1 stopped by a fault", "2 bad input",
                 "3 the audio server went away"):
        assert code in text, code


def test_deliver_help_names_every_preset(capsys):
    text = " ".join(help_text("deliver", capsys).split())
    assert "presets, of " + ", ".join(PRESETS) in text


def test_every_command_has_help_for_each_argument():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, p in sub.choices.items():
        for action in p._actions:
            assert action.help, f"{name} {action.dest}: no help"


@pytest.mark.parametrize("rate", [12345, 44000, 7999])
def test_master_refuses_an_unusual_sample_rate(tmp_path, capsys, rate):
    code = main(["master", str(tmp_path / "in.wav"), str(tmp_path / "out.wav"),
                 "--sample-rate", str(rate)])
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "--sample-rate: expected a sample rate in Hz, one of 8000, 11025" in err
    assert f"got {rate}" in err and not (tmp_path / "out.wav").exists()


def test_deliver_list_says_the_cd_preset_keeps_the_print_loudness(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")
    assert main(["deliver", "--list"]) == 0
    cd = next(line for line in capsys.readouterr().out.splitlines() if "│ cd " in line)
    assert "the print's loudness, ceiling -0.3 dBTP, 44.1 kHz, 16-bit WAV" in cd
    assert "keeps the print's loudness" in cd
    assert '[[release.deliverables]] with preset = "cd" and target_lufs' in cd
