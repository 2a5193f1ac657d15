"""Usage errors (argparse's) end like every other error: one line on stderr,
``outboard: error: COMMAND: ...`` with where to read the usage, and exit 2."""

from __future__ import annotations

import pytest

from host.cli import main


@pytest.mark.parametrize(("args", "line"), [
    (["master"], "outboard: error: master: the following arguments are required: IN, OUT "
                 "(see `outboard master --help`)"),
    (["master", "a.wav", "b.wav", "--bit-depth", "8"],
     "outboard: error: master: argument --bit-depth: invalid choice: '8'"),
    (["master", "a.wav", "b.wav", "--target-lufs", "loud"],
     "outboard: error: master: argument --target-lufs: expected a number, got 'loud'"),
    (["run", "s.toml", "--durration", "3"],
     "outboard: error: run: unrecognized arguments: --durration 3; did you mean '--duration'? "
     "(see `outboard run --help`)"),
    (["recall", "s.toml", "--fingerprint", "--check"],
     "outboard: error: recall: argument --check: not allowed with argument --fingerprint"),
    (["deliver", "--jobs", "many"], "outboard: error: deliver: argument --jobs/-j: invalid int"),
])
def test_a_usage_error_is_one_line_and_exit_2(capsys, args, line):
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and captured.err.startswith(line), captured.err


def test_help_is_still_the_usage(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["master", "--help"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.startswith("usage: outboard master")
