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
from host.errors import OutboardError, OutboardWarning

EXIT_USER_ERROR = 2
#: the commands in the order ``outboard --help`` lists them
COMMANDS = (analyze, master, run, ping, print_, deliver, recall, recall_sheet, devices, demo)


class Parser(argparse.ArgumentParser):
    """argparse, with its errors in our form: one line ``outboard: error: ...``
    naming the command, exit 2 (no usage block: ``--help`` has it).  The
    subcommands' parsers are of this class too (``add_subparsers`` makes its
    parsers with the class of its parent)."""

    #: the subcommands, in --help order (set by build_parser on the top parser)
    command_names: tuple[str, ...] = ()

    def error(self, message: str) -> NoReturn:
        command = self.prog.removeprefix("outboard").strip()
        names = ", ".join(self.command_names)
        if not command and message.startswith("argument COMMAND: invalid choice:"):
            word = message.split("invalid choice: ", 1)[1].split(" (choose", 1)[0]
            message = f"unknown command {word} (expected one of {names})"
        elif not command and "required: COMMAND" in message:
            message = f"expected a command: {names} (outboard --help says what each does)"
        where = f"{command}: " if command else ""
        hint = f" (see outboard {command} --help)" if command else ""
        self.exit(EXIT_USER_ERROR, f"outboard: error: {where}{message}{hint}\n")


def build_parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="outboard",
        description="Real-time host for hybrid analog/digital mastering.")
    p.add_argument("--version", action="version", version=f"outboard {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(sub)
    p.command_names = tuple(sub.choices)
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
    try:
        return args.func(args)
    except OutboardError as exc:
        print(f"outboard: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("outboard: interrupted; nothing was written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
