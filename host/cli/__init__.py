"""Command line: ``outboard analyze | master | run | print | deliver | ping | recall |
recall-sheet | devices | demo``, one module per command (``add_parser`` and
``cmd_*``); this module only assembles them and turns errors into one line.

Every user error ends in one line on stderr naming the file, key or setting
and what was expected, and a non-zero exit (2); nothing is half-written.
The command modules import their work (numpy, the engine, matplotlib) inside
``cmd_*`` where that keeps ``outboard --help`` fast: lazy for start-up time,
not to dodge an import cycle.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import sys
import warnings
from typing import NoReturn

from host import __version__
from host.cli import (
    analyze,
    deliver,
    demo,
    devices,
    master,
    ping,
    print_,
    recall,
    recall_sheet,
    run,
)
from host.audiofile import WRITTEN
from host.errors import Interrupted, OutboardError, OutboardWarning, interruption, stop_signals

EXIT_USER_ERROR = 2
#: the commands in the order ``outboard --help`` lists them
COMMANDS = (analyze, master, run, ping, print_, deliver, recall, recall_sheet, devices, demo)


class Parser(argparse.ArgumentParser):
    """argparse with its usage errors as one line, like every other error:
    ``outboard: error: COMMAND: what argparse says (see `outboard COMMAND --help`)``,
    exit 2 (no usage block: ``--help`` has it); the subcommands' parsers are of
    this class too (``add_subparsers`` makes its parsers with its parent's class)."""

    #: command name -> its parser (set on the top parser by build_parser)
    commands: dict[str, argparse.ArgumentParser] | None = None

    def parse_args(self, args=None, namespace=None):  # type: ignore[override]
        """As argparse, but an unknown option is blamed on the command it was
        given to, with the closest option of that command."""
        ns, extras = self.parse_known_args(args, namespace)
        if extras:
            target = (self.commands or {}).get(getattr(ns, "command", None) or "", self)
            near = [difflib.get_close_matches(x, list(target._option_string_actions), n=1)
                    for x in extras if x.startswith("-")]
            hint = "".join(f"; did you mean {m[0]!r}?" for m in near[:1] if m)
            target.error(f"unrecognized arguments: {' '.join(extras)}{hint}")
        return ns

    def error(self, message: str) -> NoReturn:
        command = self.prog.removeprefix("outboard").strip()
        names = ", ".join(self.commands or ())
        if not command and message.startswith("argument COMMAND: invalid choice:"):
            word = message.split("invalid choice: ", 1)[1].split(" (choose", 1)[0]
            self.exit(EXIT_USER_ERROR, f"outboard: error: unknown command {word} "
                      f"(expected one of {names})\n")
        if not command and "required: COMMAND" in message:
            self.exit(EXIT_USER_ERROR, f"outboard: error: expected a command: {names} "
                      "(outboard --help says what each does)\n")
        where = f"{command}: " if command else ""
        self.exit(EXIT_USER_ERROR, f"outboard: error: {where}{message} (see `{self.prog} "
                  "--help`)\n")


def build_parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="outboard",
        description="Real-time host for hybrid analog/digital mastering.")
    p.add_argument("--version", action="version", version=f"outboard {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(sub)
    p.commands = dict(sub.choices)
    return p


_show_warning = warnings.showwarning


def _warning_line(message, category, filename, lineno, file=None, line=None) -> None:
    """Our warnings as one line, ``outboard: warning: ...`` (no source line); others
    as Python shows them."""
    if issubclass(category, OutboardWarning):
        print(f"outboard: warning: {message}", file=sys.stderr if file is None else file)
    else:
        _show_warning(message, category, filename, lineno, file, line)


def main(argv: list[str] | None = None) -> int:
    warnings.showwarning = _warning_line
    parser = build_parser()
    args = parser.parse_args(argv)
    mark = len(WRITTEN)
    try:
        with stop_signals():  # SIGTERM and SIGHUP take Ctrl-C's clean path
            return args.func(args)
    except OutboardError as exc:
        print(f"outboard: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt as exc:
        stop = interruption(exc)
        say(interrupted_line(stop, WRITTEN[mark:] + stop.written))
        return stop.exit_code


def interrupted_line(stop: Interrupted, written: list) -> str:
    """What an interrupted command had written: the files renamed into place
    before the signal (every other file was still under its temporary name,
    and is removed)."""
    if not written:
        return f"outboard: interrupted by {stop.what}; nothing was written"
    return (f"outboard: interrupted by {stop.what} after writing "
            f"{', '.join(str(p) for p in dict.fromkeys(written))}; nothing else was written")


def say(line: str) -> None:
    """A line on stderr, if there still is one (SIGHUP: the terminal is gone)."""
    with contextlib.suppress(OSError):
        print(line, file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
