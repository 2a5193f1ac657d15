"""``outboard ping SESSION --insert NAME``: measure a hardware insert's round trip.

A quiet test signal (never louder than the insert's ``ping_level_dbfs``,
default -20 dBFS) goes out of the insert's sends only; the returns are
cross-correlated with it (:mod:`host.gear.latency`): latency per return channel
with sub-sample precision, polarity, gain through the unit, SNR.  ``--save``
stores the result beside the session (``<session>.measured.json``), where
`outboard run` finds it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from host.errors import OutboardError


def cmd_ping(args) -> int:
    from host.audiofile import check_writable
    from host.gear.inserts import save_measurement, store_path
    from host.live.stream import SessionStream
    from host.model.session import files_read, load_session

    session = load_session(args.session)
    hw = [i.name for i in session.chain.inserts if i.kind == "hardware"]
    if not hw:
        raise OutboardError(f"{args.session}: has no hardware insert (kind = \"hardware\") "
                            "to ping")
    if args.save:  # the store may be no file the session reads, checked before measuring
        store = store_path(session.path)
        files_read(session).claim(store, "measurement store")
        check_writable(store)
    names = hw if args.insert is None else [args.insert]
    results = []
    with SessionStream(session, "playback", False) as ss:
        for name in names:
            results.append(ss.measure(name))
    out = []
    for m in results:
        s = m.summary()
        if args.save:
            s["saved_to"] = str(save_measurement(session.path, m))
        out.append(s)
    if args.json:
        print(json.dumps(out[0] if len(out) == 1 else out))
        return 0
    for s in out:
        chans = ", ".join(f"return {c['return']}: {c['latency_samples']:.3f}"
                          for c in s["channels"])
        print(f"{s['insert']}: {s['latency_samples']:.3f} samples ({s['latency_ms']:.3f} ms) "
              f"round trip, polarity {'+' if s['polarity'] > 0 else '-'}, gain "
              f"{s['gain_db']:+.2f} dB, SNR {s['snr_db']:.0f} dB; {chans}; skew "
              f"{s['skew_samples']:.3f} samples")
        if "saved_to" in s:
            print(f"saved to {s['saved_to']}")
    sys.stdout.flush()
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("ping", help="measure a hardware insert's round trip (latency, "
                       "polarity, gain, SNR)")
    p.add_argument("session", type=Path, metavar="SESSION", help="session file (TOML)")
    p.add_argument("--insert", metavar="NAME", help="the hardware insert (default: all)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--save", action="store_true", help="store the result beside the session")
    p.set_defaults(func=cmd_ping)
