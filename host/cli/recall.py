"""``outboard recall SESSION``: send a session's gear settings over MIDI.

::

    outboard recall SESSION [--snapshot NAME] [--dry-run] [--json] [--verify] [--pace-ms MS]

* ``--dry-run`` prints the exact bytes per unit (hex) and opens no port.
* ``--json`` prints the plan (dry run) or the report as one JSON object.
* ``--verify`` reads each unit back (where its profile has a dump request)
  and lists every parameter that differs beyond its law's resolution.
* ``--pace-ms`` overrides every profile's gap between messages (0..1000 ms).
* ``--fingerprint`` / ``--check`` recall inside the session's stream, then
  measure each insert (host.gear.fingerprint: store, or compare and report).

A unit whose port is missing (or vanishes) is reported as not recalled and
the others are still recalled; the exit status is then 1.  User errors (a bad
session, an unknown snapshot) exit 2 through host.cli.

Embedded studio (``interface.embedded_jack = true``): the units are virtual
gear that lives only as long as a session stream, so ``recall`` opens the
session's stream (starting the JACK server and the virtual gear when they
are not running), recalls, verifies if asked, and stops everything it
started.  That proves the recall (the gear reports every knob) but leaves
nothing set; ``outboard run`` recalls inside its own stream instead (see
:func:`host.midi.recall.recall_session`).  With real gear the ports are
opened directly and the JACK server must be running.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

EXIT_NOT_RECALLED = 1


def _say_to_stderr(msg: str) -> None:
    print(f"outboard: {msg}", file=sys.stderr)


def _quiet(msg: str) -> None:
    pass


def cmd_recall(args: argparse.Namespace) -> int:
    from host.midi.recall import dry_run_text, plan, send
    from host.model.session import load_session

    session = load_session(args.session)
    plans = plan(session, args.snapshot, args.pace_ms)
    if (args.fingerprint or args.check) and not args.dry_run:
        from host.cli.fingerprint import cmd_fingerprint

        def before(stream: Any) -> None:  # recall into the open stream, then measure
            report = send(plans, say=_say_to_stderr, verify=args.verify,
                          snapshot=args.snapshot)
            for line in report.text().splitlines():
                _say_to_stderr(line)

        return cmd_fingerprint(args, before=before if plans else None)
    if args.dry_run:
        if args.json:
            print(json.dumps({"snapshot": args.snapshot,
                              "units": [p.to_dict() for p in plans]}))
        else:
            print(dry_run_text(plans) or "no MIDI units in this session")
        return 0
    say = _quiet if args.json else _say_to_stderr
    if session.interface.embedded_jack:
        from host.live.stream import SessionStream

        with SessionStream(session, say=say):
            report = send(plans, say=say, verify=args.verify, snapshot=args.snapshot)
    else:  # real gear: no stream, but the units are this recall's alone while it sends
        from host.live.locks import Claims, midi_claims

        with Claims() as claims:
            claims.claim_all(midi_claims(p.port for p in plans if p.port))
            report = send(plans, say=say, verify=args.verify, snapshot=args.snapshot)
    if args.json:
        print(json.dumps(report.to_dict()))
    else:
        print(report.text())
    return 0 if report.ok else EXIT_NOT_RECALLED


def _pace(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected milliseconds 0..1000, got {text!r}") \
            from None
    if not 0.0 <= v <= 1000.0:
        raise argparse.ArgumentTypeError(f"expected milliseconds 0..1000, got {text!r}")
    return v


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``recall`` to host.cli's subparsers (sets ``func=cmd_recall``)."""
    r = subparsers.add_parser("recall", help="send a session's outboard settings over MIDI "
                                             "(paced), or print the bytes (--dry-run)")
    r.add_argument("session", type=Path, help="session file (TOML)")
    r.add_argument("--snapshot", metavar="NAME", help="a named snapshot of the inserts' "
                                                      "settings (A, B, ...)")
    r.add_argument("--dry-run", action="store_true", help="print the exact bytes per unit "
                                                          "(hex); open no port")
    r.add_argument("--json", action="store_true", help="print the plan or report as JSON")
    r.add_argument("--verify", action="store_true", help="read each unit back (SysEx dump) "
                                                         "and report what differs")
    r.add_argument("--pace-ms", type=_pace, metavar="MS",
                   help="gap between messages, ms 0..1000 (default: each profile's)")
    g = r.add_mutually_exclusive_group()
    g.add_argument("--fingerprint", action="store_true",
                   help="after the recall, measure each hardware insert (frequency response, "
                        "level curve) and store it with the session (host.gear.fingerprint)")
    g.add_argument("--check", action="store_true",
                   help="after the recall, measure again and report where and by how many "
                        "dB each unit differs from its stored fingerprint")
    r.add_argument("--tolerance-db", type=float, metavar="DB",
                   help="--check: largest difference not reported, dB (default 0.5)")
    r.set_defaults(func=cmd_recall)
    return r
