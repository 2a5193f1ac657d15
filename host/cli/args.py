"""Argument types shared by the commands (argparse ``type=`` converters)."""

from __future__ import annotations

import argparse
import math


def finite_float(name: str):
    """An argparse type: a finite number, ``name`` shown in usage errors."""
    def conv(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not math.isfinite(v):
            raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
        return v
    conv.__name__ = name
    return conv
