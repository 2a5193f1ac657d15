"""cffi build of the outboard C kernels (API mode).

``native/outboard.h`` is the whole C API. It includes one header per kernel;
this script expands those ``#include "x.h"`` lines, drops the preprocessor
lines and hands the result to ``ffibuilder.cdef``, so the Python binding is
always generated from the same declarations the C compiler sees.

Used two ways:
- by setuptools (``pip install -e .``), through ``BuildExt`` named as the
  ``build_ext`` command in pyproject.toml;
- directly, ``python native/build_ffi.py``: compiles ``host/_outboard*.so`` in
  place (``make native``), serialised by a lock file so parallel rebuilds do not
  collide.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

from cffi import FFI

NATIVE = Path(__file__).resolve().parent
ROOT = NATIVE.parent
MODULE = "host._outboard"
CFLAGS = ["-O3", "-std=c11", "-ffp-contract=off", "-fno-math-errno", "-Wall", "-Wextra",
          "-Wno-unused-parameter", "-Wno-missing-field-initializers"]

_INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def expand_header(path: Path, seen: set[Path] | None = None) -> str:
    """Return the declarations of ``path`` with local includes expanded and
    every preprocessor line removed (cffi's cdef takes no preprocessor)."""
    seen = set() if seen is None else seen
    path = path.resolve()
    if path in seen:
        return ""
    seen.add(path)
    out: list[str] = []
    for line in path.read_text().splitlines():
        m = _INCLUDE.match(line)
        if m:
            out.append(expand_header(path.parent / m.group(1), seen))
        elif line.lstrip().startswith("#"):
            continue
        else:
            out.append(line)
    return "\n".join(out)


def kernel_sources() -> list[str]:
    return sorted(str(p) for p in NATIVE.glob("*.c"))


def make_builder() -> FFI:
    ffibuilder = FFI()
    cdef = expand_header(NATIVE / "outboard.h")
    cdef = re.sub(r"/\*.*?\*/", "", cdef, flags=re.S)
    cdef = re.sub(r"extern\s+\"C\"\s*\{|^\}\s*$", "", cdef, flags=re.M)
    ffibuilder.cdef(cdef)
    ffibuilder.set_source(
        MODULE,
        '#include "outboard.h"\n',
        sources=kernel_sources(),
        include_dirs=[str(NATIVE)],
        extra_compile_args=CFLAGS,
        libraries=["m"],
    )
    return ffibuilder


try:  # setuptools hook: replace the placeholder extension with the cffi one
    from setuptools.command.build_ext import build_ext as _build_ext

    class BuildExt(_build_ext):
        """build_ext that fills the placeholder extension from the cffi builder."""

        def finalize_options(self) -> None:
            tmp = Path(self.build_temp or "build/temp").resolve()
            tmp.mkdir(parents=True, exist_ok=True)
            raw = make_builder().distutils_extension(tmpdir=str(tmp))
            for ext in self.distribution.ext_modules or []:
                if ext.name == MODULE:
                    for attr in ("sources", "include_dirs", "define_macros", "undef_macros",
                                 "library_dirs", "libraries", "extra_compile_args",
                                 "extra_link_args"):
                        setattr(ext, attr, list(getattr(raw, attr)))
                    # setuptools refuses absolute source paths in a wheel build
                    ext.sources = [os.path.relpath(src, ROOT) for src in ext.sources]
            super().finalize_options()
except ImportError:  # pragma: no cover - setuptools is always there in a build
    pass


def build_inplace() -> Path:
    """Compile host/_outboard*.so in place; returns its path."""
    lock_path = ROOT / ".native-build.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with tempfile.TemporaryDirectory(prefix="outboard-build-") as tmp:
            so = Path(make_builder().compile(tmpdir=tmp, verbose=False))
            dest = ROOT / "host" / so.name
            staged = dest.with_suffix(".so.new")
            shutil.copy2(so, staged)
            os.replace(staged, dest)
        return dest


if __name__ == "__main__":
    print(build_inplace())
    sys.exit(0)

