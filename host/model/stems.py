"""Stem mastering: several stems, each with its own short chain and level,
summed to the master bus that the session's ``[[chain]]`` then processes.

A session may take stems instead of one mix (``--input MIX``)::

    [program]
    inputs = [1, 2]
    outputs = [1, 2]
    stem_lengths = "error"     # "error" (default) | "pad": shorter stems get silence at their end

    [[stems]]
    name = "drums"                     # unique, non-empty
    file = "stems/drums.wav"           # relative to the session file's folder (absolute allowed)
    gain_db = -1.5                     # dB, -60..24 (default 0)
    pan = 0.0                          # balance, -1 (left) .. +1 (right) (default 0)
    mute = false                       # optional (default false)
    chain = [                          # optional: software inserts only (no hardware)
      { kind = "eq", bands = [{ type = "highpass", freq_hz = 30.0 }] },
      { kind = "compressor", threshold_db = -20.0, ratio = 2.0 },
    ]

Loading a session (:func:`parse_stems`, called by ``host.model.session.parse_session``)
checks the stem tables alone; the audio files are not opened, so a session
loads without its audio.  Errors are one line naming the key path
(``stems[1].gain_db``, ``stems[0].chain[1].ratio``).  Hardware inserts belong
in the master ``[[chain]]``: a stem chain runs offline, before the master bus.

Mixing them is :mod:`host.offline.stems`.

None of this is real-time code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from host.errors import ConfigError
from host.model.config import (
    ChainConfig,
    Param,
    _check_table,
    _Ctx,
    check_chain_for_program,
    parse_chain,
    unknown_key,
)


#: ``[program] stem_lengths``: what to do with stems of different lengths
STEM_LENGTHS = ("error", "pad")
#: keys of one ``[[stems]]`` table (``chain`` is checked by host.model.config.parse_chain)
STEM: dict[str, Param] = {
    "name": Param("str", required=True),
    "file": Param("str", required=True),
    "gain_db": Param("number", -60.0, 24.0, "dB", 0.0),
    "pan": Param("number", -1.0, 1.0, "(-1 = left, +1 = right)", 0.0),
    "mute": Param("bool", default=False),
}
STEM_KEYS = (*STEM, "chain")


@dataclass(frozen=True)
class StemConfig:
    """One validated ``[[stems]]`` table.

    Attributes
    ----------
    index : int
        Position in the session's ``stems`` array (0-based, as in key paths).
    name : str
        Unique, non-empty label.
    file : str
        Audio file as written in the session (relative to the session's folder,
        or absolute); not opened at load time.
    gain_db : float
        dB, -60..24.
    pan : float
        Balance, -1 (left) .. +1 (right); constant-power law (module docstring).
    mute : bool
        Left out of the sum (still checked when mixing).
    chain : ChainConfig
        The stem's software inserts (no hardware), run before the master bus.
    """

    index: int
    name: str
    file: str
    gain_db: float = 0.0
    pan: float = 0.0
    mute: bool = False
    chain: ChainConfig = field(default_factory=lambda: ChainConfig([], {}))

    @property
    def key(self) -> str:
        """The key path of this stem in the session (``stems[2]``)."""
        return f"stems[{self.index}]"

    def path(self, session_dir: Path) -> Path:
        """The stem's audio file: ``file`` relative to ``session_dir`` (the
        session file's folder), unless absolute (``~`` expanded)."""
        p = Path(self.file).expanduser()
        return p if p.is_absolute() else Path(session_dir) / p




# ---------------------------------------------------------------------------- parse


def _parse_stem_chain(ctx: _Ctx, key: str, raw: Any) -> ChainConfig:
    """A stem's ``chain`` array through parse_chain, key paths rewritten to
    ``stems[N].chain[M]...``; hardware inserts refused."""
    if not isinstance(raw, list):
        raise ctx.fail(f"{key}.chain", f"expected an array of insert tables like "
                       f"[{{ kind = \"eq\", ... }}], got {raw!r}")
    for j, ins in enumerate(raw):
        if isinstance(ins, dict) and ins.get("kind") == "hardware":
            raise ctx.fail(f"{key}.chain[{j}].kind", "hardware inserts belong in the master "
                           "[[chain]]; a stem chain runs offline before the master bus "
                           "(expected eq, compressor, limiter or gain)")
    try:
        return parse_chain({"chain": raw}, ctx.source)
    except ConfigError as exc:
        msg = str(exc)
        head = f"{ctx.source}: chain"
        if msg.startswith(head):
            raise ConfigError(f"{ctx.source}: {key}.chain{msg[len(head):]}") from None
        raise


def parse_stems(raw: Any, source: str = "<session>", channels: int = 2,
                sample_rate: int | None = None) -> list[StemConfig]:
    """Validate a session's ``stems`` array (the tables alone; no file is opened).

    Parameters
    ----------
    raw : list of dict
        The parsed ``[[stems]]`` array (``[]`` when the session has none).
    source : str
        The session file, for messages.
    channels : int
        Program channel count (``[program] inputs``); a ``pan`` other than 0
        needs 2.
    sample_rate : int, optional
        ``interface.sample_rate``, Hz: the stem chains are checked against it
        and ``channels`` (host.model.config.check_chain_for_program).

    Raises
    ------
    ConfigError
        One line: ``source``, the key path (``stems[1].gain_db``,
        ``stems[0].chain[1].ratio``) and what was expected.
    """
    ctx = _Ctx(source)
    if not isinstance(raw, list):
        raise ctx.fail("stems", f"expected an array of tables ([[stems]]), got {raw!r}")
    stems: list[StemConfig] = []
    seen: dict[str, int] = {}
    for i, table in enumerate(raw):
        key = f"stems[{i}]"
        if not isinstance(table, dict):
            raise ctx.fail(key, f"expected a table with name and file, got {table!r}")
        for k in table:
            if k not in STEM_KEYS:
                raise unknown_key(ctx, key, k, STEM_KEYS)
        vals = _check_table(ctx, key, {k: v for k, v in table.items() if k != "chain"}, STEM)
        name = vals["name"].strip()
        if not name:
            raise ctx.fail(f"{key}.name", "expected a non-empty string")
        if name in seen:
            raise ctx.fail(f"{key}.name", f"{name!r} is also the name of stems[{seen[name]}]; "
                           "expected unique stem names")
        seen[name] = i
        if not vals["file"].strip():
            raise ctx.fail(f"{key}.file", "expected a non-empty string (an audio file, relative "
                           "to the session file's folder)")
        if vals["pan"] != 0.0 and channels != 2:
            raise ctx.fail(f"{key}.pan", f"balance needs a stereo program; [program] has "
                           f"{channels} channel(s): expected 0 or no pan")
        chain = (_parse_stem_chain(ctx, key, table["chain"]) if "chain" in table
                 else ChainConfig([], {}))
        if sample_rate is not None:
            check_chain_for_program(ctx, chain, channels, sample_rate, f"{key}.chain")
        stems.append(StemConfig(i, name, vals["file"], vals["gain_db"], vals["pan"],
                                vals["mute"], chain))
    return stems


# ------------------------------------------------------------------------------ mix



















