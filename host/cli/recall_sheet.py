"""``outboard recall-sheet SESSION``: each unit's paper recall (:mod:`host.gear.recall_sheet`)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from host.errors import OutboardError
from host.gear.recall_sheet import write_sheet


def cmd_recall_sheet(args: argparse.Namespace) -> int:
    """``outboard recall-sheet SESSION --out FILE.html [--png FILE.png | --no-png]
    [--snapshot NAME]``: the PNG goes beside the HTML (same stem) unless told."""
    from host.model.session import files_read, load_session

    out = Path(args.out)
    if out.suffix.lower() not in (".html", ".htm"):
        raise OutboardError(f"--out: expected a .html file, got {str(out)!r}")
    png = None if getattr(args, "no_png", False) else \
        (Path(args.png) if getattr(args, "png", None) else out.with_suffix(".png"))
    if png is not None and png.suffix.lower() != ".png":
        raise OutboardError(f"--png: expected a .png file, got {str(png)!r}")
    session = load_session(args.session)
    files = files_read(session)  # the sheet and its picture: no file the session reads
    files.claim(out, "sheet")
    if png is not None:
        files.claim(png, "sheet's picture")
    for p in write_sheet(session, out, png, getattr(args, "snapshot", None)):
        print(f"wrote {p}")
    return 0



def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``recall-sheet`` to the CLI's subparsers."""
    p = subparsers.add_parser("recall-sheet", help="draw every knob of the session's gear "
                              "(HTML and PNG) to set the rack by hand")
    p.add_argument("session", type=Path, metavar="SESSION", help="session file (TOML)")
    p.add_argument("--out", type=Path, required=True, metavar="FILE.html",
                   help="the sheet (self-contained HTML)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--png", type=Path, metavar="FILE.png",
                   help="also draw it here (default: beside --out, same stem)")
    g.add_argument("--no-png", action="store_true", help="HTML only")
    p.add_argument("--snapshot", metavar="NAME", help="show this snapshot's settings")
    p.set_defaults(func=cmd_recall_sheet)
    return p
