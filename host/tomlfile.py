"""Reading the TOML files a user writes (chains, sessions, device profiles).

Every failure is one line naming the file (:class:`host.errors.ConfigError`):
missing or unreadable, not UTF-8, a syntax error, or tables and arrays nested
deeper than any outboard file needs (``MAX_DEPTH``; tomllib itself would end
in a RecursionError a few thousand lines long).  A UTF-8 byte-order mark, as
some Windows editors write, is accepted.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from host.errors import ConfigError

#: deepest nesting of tables and arrays accepted (the deepest outboard key, a
#: hardware insert's ``virtual_gear.compressor`` or ``snapshots.A``, is 4 down)
MAX_DEPTH = 32


def _too_deep(value: Any, path: str, depth: int) -> str | None:
    """The key path where ``value`` nests deeper than MAX_DEPTH, or None."""
    if depth > MAX_DEPTH:
        return path or "(top)"
    if isinstance(value, dict):
        items = ((f"{path}.{k}" if path else str(k), v) for k, v in value.items())
    elif isinstance(value, list):
        items = ((f"{path}[{i}]", v) for i, v in enumerate(value))
    else:
        return None
    for key, v in items:
        if isinstance(v, dict | list):
            where = _too_deep(v, key, depth + 1)
            if where is not None:
                return where
    return None


def load_toml(path: str | os.PathLike) -> dict[str, Any]:
    """Parse a TOML file; ConfigError (one line, naming the file) if it cannot be."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"{p}: is a folder, expected a TOML file") from None
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read ({exc.strerror})") from None
    try:
        text = raw.decode("utf-8-sig")  # (a byte-order mark is not part of the text)
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: not UTF-8 text; expected a TOML file") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: TOML syntax error: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{p}: tables or arrays nested too deep; expected at most "
                          f"{MAX_DEPTH} levels") from None
    where = _too_deep(data, "", 0)
    if where is not None:
        raise ConfigError(f"{p}: {where}: tables or arrays nested too deep; expected at most "
                          f"{MAX_DEPTH} levels")
    return data
