"""``outboard recall SESSION --fingerprint / --check``: measure each hardware
insert's sonic fingerprint in a stream of its own, store it, or check the unit
against the stored one (:mod:`host.gear.fingerprint` does the measuring).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from host.errors import OutboardError
from host.gear.fingerprint import (
    TOLERANCE_DB,
    CheckReport,
    _hardware,
    _hz,
    check_stream,
    fingerprint_stream,
    load,
    save,
    store_path,
)


def _stream(session: Any, say: Callable[[str], None] | None) -> Any:
    from host.live.stream import SessionStream

    return SessionStream(session, "playback", False, say=say)



def fingerprint_session(session: Any, say: Callable[[str], None] | None = None,
                        before: Callable[[Any], None] | None = None,
                        fingerprint_max_dbfs: float | None = None) -> Path:
    """Open the session's stream, fingerprint every hardware insert, store it.

    Parameters
    ----------
    session : host.model.session.Session
    say : callable, optional
        Receives one-line notes.
    before : callable, optional
        Called with the open :class:`SessionStream` before measuring (e.g. a
        MIDI recall onto the virtual gear, which lives only while it is open).
    fingerprint_max_dbfs : float, optional
        Ceiling of the level curve, dBFS peak, -60..0 (default: each insert's
        ``fingerprint_max_dbfs``, else -6).

    Returns
    -------
    Path
        ``<session>.fingerprint.json``.
    """
    _hardware(session)
    with _stream(session, say) as ss:
        if before is not None:
            before(ss)
        fp = fingerprint_stream(ss, say, fingerprint_max_dbfs)
    return save(session.path, fp)



def check_session(session: Any, say: Callable[[str], None] | None = None,
                  before: Callable[[Any], None] | None = None,
                  tolerance_db: float = TOLERANCE_DB) -> CheckReport:
    """Open the session's stream, measure again, compare with the stored
    fingerprint (``before`` as in :func:`fingerprint_session`)."""
    _hardware(session)
    stored = load(session.path)
    if not 0.0 < tolerance_db <= 24.0:
        raise OutboardError(f"tolerance_db: expected 0..24 dB (above 0), got {tolerance_db!r}")
    with _stream(session, say) as ss:
        if before is not None:
            before(ss)
        return check_stream(ss, stored, say, tolerance_db, str(store_path(session.path)))



def cmd_fingerprint(args: argparse.Namespace,
                    before: Callable[[Any], None] | None = None) -> int:
    """``outboard recall SESSION --fingerprint | --check`` (``args.session``,
    ``args.check``; optional ``args.json``, ``args.tolerance_db``,
    ``args.fingerprint_max_dbfs``).  ``before`` as in :func:`fingerprint_session`
    (the recall, sent into the open stream).  Returns 0, or :data:`EXIT_DIFFERS`
    when ``--check`` finds a difference."""
    import sys

    from host.model.session import load_session

    def say(msg: str) -> None:
        print(f"outboard: {msg}", file=sys.stderr)

    session = load_session(args.session)
    as_json = getattr(args, "json", False)
    if not getattr(args, "check", False):  # the store: no file the session reads
        from host.audiofile import check_writable
        from host.model.session import files_read

        files_read(session).claim(store_path(session.path), "fingerprint store")
        check_writable(store_path(session.path))
    if getattr(args, "check", False):
        report = check_session(session, say, before,
                               tolerance_db=getattr(args, "tolerance_db", None) or TOLERANCE_DB)
        if as_json:
            print(json.dumps(report.to_dict()))
        else:
            print("\n".join(report.lines()))
        return 0 if report.clean else EXIT_DIFFERS
    path = fingerprint_session(session, say, before,
                               fingerprint_max_dbfs=getattr(args, "fingerprint_max_dbfs", None))
    fp = load(session.path)
    if as_json:
        print(json.dumps({"saved_to": str(path), **fp.to_dict()}))
        return 0
    for name, f in fp.inserts.items():
        for ch, (r, g) in enumerate(zip(f.response_db, f.level_gain_db, strict=True)):
            print(f"{name} return {ch + 1}: response {min(r):+.2f}..{max(r):+.2f} dB over "
                  f"{_hz(f.freqs_hz[0])}..{_hz(f.freqs_hz[-1])}; gain "
                  + ", ".join(f"{lv:g} dBFS {v:+.2f} dB" for lv, v in zip(f.levels_dbfs, g,
                                                                          strict=True)))
    print(f"saved to {path}")
    return 0


#: `outboard recall --check` exit status when a unit differs
EXIT_DIFFERS = 1
