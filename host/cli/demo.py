"""``outboard demo``: the whole host at work on synthesized audio (:mod:`host.live.demo`)."""

from __future__ import annotations

from pathlib import Path


def cmd_demo(args) -> int:
    from host.live.demo import run_demo  # lazy: start-up time (numpy, the engine)

    return run_demo(args.out)


def add_parser(sub) -> None:
    d = sub.add_parser("demo", help="the whole host at work on synthesized audio: stream, print "
                       "through virtual gear, deliver, master")
    d.add_argument("--out", type=Path, default=Path("out/demo"),
                   help="folder for the files (default out/demo: the mix, stems, recall sheet "
                   "the README's commands use); the hybrid session's print and deliverables go "
                   "where its [release] says, out/hybrid/")
    d.set_defaults(func=cmd_demo)
