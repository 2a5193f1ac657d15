"""Reading and writing audio files safely.

Reading refuses what would silently give wrong audio: unknown formats,
truncated files, NaN/Inf samples.  Writing goes to a temporary name in the
destination folder and is renamed over the target only when complete, so a
failed run never leaves a half-written file, and the input is never the output.
"""

from __future__ import annotations

import errno
import os
import shutil
import struct
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from host.errors import AudioFileError

#: extension -> (libsndfile format, subtypes by bit depth)
FORMATS: dict[str, tuple[str, dict[str, str]]] = {
    ".wav": ("WAV", {"16": "PCM_16", "24": "PCM_24", "32f": "FLOAT"}),
    ".flac": ("FLAC", {"16": "PCM_16", "24": "PCM_24"}),
    ".aif": ("AIFF", {"16": "PCM_16", "24": "PCM_24", "32f": "FLOAT"}),
    ".aiff": ("AIFF", {"16": "PCM_16", "24": "PCM_24", "32f": "FLOAT"}),
}
BIT_DEPTHS = ("16", "24", "32f")


@dataclass
class Audio:
    """Planar float32 audio, shape (channels, frames), at ``sample_rate`` Hz."""

    data: np.ndarray
    sample_rate: int
    path: Path | None = None
    subtype: str | None = None

    @property
    def channels(self) -> int:
        return int(self.data.shape[0])

    @property
    def frames(self) -> int:
        return int(self.data.shape[1])

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate


#: a WAV size field of a stream written to a pipe, where the writer could not go
#: back to fill in the length: "unknown, read to the end of the file"
WAV_SIZE_UNKNOWN = 0xFFFFFFFF


def _wav_truncation(path: Path) -> str | None:
    """For RIFF/WAVE files: a message if the data chunk claims more bytes than
    the file holds (libsndfile would quietly read the shorter file).  A data
    chunk of unknown size (``WAV_SIZE_UNKNOWN``, a WAV streamed from a pipe) is
    read to the end of the file, as libsndfile does."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] not in (b"RIFF", b"RF64") or head[8:12] != b"WAVE":
            return None
        if head[:4] == b"RF64":
            return None  # 64-bit sizes live in the ds64 chunk; libsndfile checks them
        pos = 12
        while pos + 8 <= size:
            f.seek(pos)
            cid, clen = struct.unpack("<4sI", f.read(8))
            if cid == b"data":
                if clen == WAV_SIZE_UNKNOWN:
                    return None
                if pos + 8 + clen > size:
                    missing = pos + 8 + clen - size
                    return f"truncated: its data chunk is {missing} bytes short"
                return None
            pos += 8 + clen + (clen & 1)
        return "truncated: no complete data chunk"


def read_audio(path: str | os.PathLike, *, allow_nonfinite: bool = False) -> Audio:
    """Read an audio file as planar float32.

    Raises
    ------
    AudioFileError
        Missing, unreadable, truncated or unknown-format file, or one holding
        NaN/Inf samples (unless ``allow_nonfinite``).  The message names the file.
    """
    p = Path(path)
    if not p.exists():
        raise AudioFileError(f"{p}: no such file")
    if p.is_dir():
        raise AudioFileError(f"{p}: is a folder, expected an audio file")
    try:
        info = sf.info(str(p))
    except Exception as exc:  # libsndfile says why in its own words
        raise AudioFileError(f"{p}: not a readable audio file ({_reason(exc)})") from None
    trunc = _wav_truncation(p)
    if trunc:
        raise AudioFileError(f"{p}: {trunc}")
    try:
        data, rate = sf.read(str(p), dtype="float32", always_2d=True)
    except Exception as exc:
        raise AudioFileError(f"{p}: cannot decode audio ({_reason(exc)}); the file is "
                             "truncated or corrupted") from None
    if info.frames > 0 and data.shape[0] < info.frames:
        raise AudioFileError(
            f"{p}: truncated: header says {info.frames} frames, only {data.shape[0]} decode"
        )
    if data.shape[0] == 0:
        raise AudioFileError(f"{p}: holds no audio frames")
    planar = np.ascontiguousarray(data.T)
    if not allow_nonfinite:
        bad = ~np.isfinite(planar)
        if bad.any():
            ch, idx = np.argwhere(bad)[0]
            raise AudioFileError(
                f"{p}: {int(bad.sum())} NaN/Inf samples (first at channel {ch + 1}, "
                f"{idx / rate:.3f} s); expected finite audio"
            )
    return Audio(planar, int(rate), p, info.subtype)


def _reason(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    msg = text[-1] if text else exc.__class__.__name__
    if msg.startswith("Error opening"):
        msg = msg.split(": ", 1)[-1]
    return msg.removeprefix("Error : ").rstrip(".")


def output_format(path: str | os.PathLike, bit_depth: str) -> tuple[str, str]:
    """(format, subtype) for ``path``'s extension and ``bit_depth`` ("16", "24", "32f")."""
    p = Path(path)
    ext = p.suffix.lower()
    if ext not in FORMATS:
        known = ", ".join(sorted(FORMATS))
        raise AudioFileError(f"{p}: unknown output format {ext or '(no extension)'!r}; "
                             f"expected one of {known}")
    fmt, subtypes = FORMATS[ext]
    if bit_depth not in BIT_DEPTHS:
        raise AudioFileError(f"--bit-depth: expected one of 16, 24, 32f, got {bit_depth!r}")
    if bit_depth not in subtypes:
        raise AudioFileError(f"{p}: {fmt} cannot store {bit_depth}-bit audio; "
                             f"expected one of {', '.join(subtypes)}")
    return fmt, subtypes[bit_depth]


def check_distinct(src: str | os.PathLike, dst: str | os.PathLike) -> None:
    """Refuse to write over an input."""
    s, d = Path(src), Path(dst)
    same = s.resolve() == d.resolve()
    if not same and d.exists():
        try:
            same = os.path.samefile(s, d)
        except OSError:
            same = False
    if same:
        raise AudioFileError(f"{d}: is the input file; choose another output name")


def check_writable(dst: str | os.PathLike) -> None:
    """Fail early, before any processing, if ``dst`` cannot be created."""
    d = Path(dst)
    folder = d.parent if str(d.parent) else Path(".")
    if not folder.is_dir():
        raise AudioFileError(f"{d}: folder {folder} does not exist")
    if d.is_dir():
        raise AudioFileError(f"{d}: is a folder, expected a file name")
    if d.exists() and not os.access(d, os.W_OK):
        raise AudioFileError(f"{d}: not writable (permission denied)")
    try:  # the only sure test, whoever we run as: create a file there
        fd, probe = tempfile.mkstemp(prefix=f".{d.name}.", suffix=".probe", dir=str(folder))
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise AudioFileError(f"{d}: cannot write in {folder} ({exc.strerror})") from None


def make_folder(folder: str | os.PathLike, key: str | None = None, hint: str = "") -> Path:
    """Create ``folder`` (and its parents) if missing; AudioFileError, one line,
    if it cannot be (a file in the way, read-only, no permission).  The message
    starts with ``key`` (the option or session key that named the folder, e.g.
    "--out"), else with the folder, and ends with ``hint``."""
    f = Path(folder)
    head = f"{key}: {f}" if key else f"{f}:"
    try:
        f.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise AudioFileError(f"{head} is a file (or inside one); expected a folder"
                             f"{hint}") from None
    except OSError as exc:
        raise AudioFileError(f"{head} cannot be created ({exc.strerror or exc}){hint}") \
            from None
    return f


def _read_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


#: files are created as ``open()`` would (0o666 less the umask), not owner-only as
#: mkstemp makes its temporary files (read once, at import, before any thread)
FILE_MODE = 0o666 & ~_read_umask()


def temp_beside(dst: Path) -> Path:
    """An empty temporary file beside ``dst`` (same folder, so the final rename is
    atomic), with the permissions a plain ``open(dst, "w")`` would give."""
    fd, tmp = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".part" + dst.suffix,
                               dir=str(dst.parent if str(dst.parent) else "."))
    os.fchmod(fd, FILE_MODE)
    os.close(fd)
    return Path(tmp)


@contextmanager
def atomic_path(dst: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``dst``; rename it to ``dst`` on success,
    delete it on any failure."""
    d = Path(dst)
    check_writable(d)
    tmp_path = temp_beside(d)
    try:
        yield tmp_path
        os.replace(tmp_path, d)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def write_audio(dst: str | os.PathLike, data: np.ndarray, sample_rate: int,
                bit_depth: str) -> None:
    """Write planar audio atomically.

    For "16" and "24", ``data`` must already be quantised (dithered) to the grid
    ``k / 2**(bits-1)``; it is converted to integers exactly.  "32f" writes
    float32 as is.
    """
    fmt, subtype = output_format(dst, bit_depth)
    if bit_depth == "32f":
        frames = np.ascontiguousarray(data.T, dtype=np.float32)
    else:
        bits = int(bit_depth)
        k = np.rint(data.astype(np.float64) * 2.0 ** (bits - 1))
        np.clip(k, -(2 ** (bits - 1)), 2 ** (bits - 1) - 1, out=k)
        if bits == 16:
            frames = np.ascontiguousarray(k.T.astype(np.int16))
        else:  # libsndfile takes the top 24 bits of an int32
            frames = np.ascontiguousarray(k.T.astype(np.int32) << (32 - bits))
    try:
        with atomic_path(dst) as tmp:
            f = sf.SoundFile(str(tmp), "w", samplerate=int(sample_rate),
                             channels=data.shape[0], format=fmt, subtype=subtype)
            try:
                f.write(frames)
            except Exception as exc:
                why = _sndfile_reason(f, exc)
                with suppress(Exception):
                    f.close()
                raise write_error(dst, why) from None
            f.close()  # (a header update that fails: a disk full to the last block)
    except AudioFileError:
        raise
    except OSError as exc:
        raise write_error(dst, exc.strerror or str(exc), exc.errno) from None
    except Exception as exc:
        raise write_error(dst, _reason(exc)) from None


def _sndfile_reason(f: sf.SoundFile, exc: Exception) -> str:
    """Why a libsndfile call on ``f`` failed: the system's words behind its
    generic "System error" (e.g. "No space left on device"), kept by the handle."""
    why = _reason(exc)
    try:
        text = sf._ffi.string(sf._snd.sf_strerror(f._file)).decode("utf-8", "replace")
    except Exception:  # noqa: BLE001 - soundfile's internals changed: the generic words do
        return why
    head, _, detail = text.partition(":")
    return detail.strip().rstrip(".") or why if head.strip() == "System error" else why


def _free_bytes(folder: Path) -> int | None:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def _size(nbytes: float) -> str:
    """Bytes as people read them: "512 kB", "48.3 MB", "1.2 GB" (powers of 1000)."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if nbytes >= scale:
            return f"{nbytes / scale:.1f} {unit}"
    return f"{int(nbytes)} bytes"


def write_error(dst: str | os.PathLike, why: str, errno_: int | None = None) -> AudioFileError:
    """The one line for a failed write of ``dst``: "no space left on device" when
    the disk is full (also when libsndfile says only "System error" and the file
    system has no room left), else ``why``."""
    d = Path(dst)
    free = _free_bytes(d.parent if str(d.parent) else Path("."))
    if errno_ in (errno.ENOSPC, errno.EDQUOT) or "No space left" in why or (
            why == "System error" and free is not None and free < 1 << 20):
        return AudioFileError(f"{d}: cannot write: no space left on device")
    return AudioFileError(f"{d}: cannot write ({why})")


#: bytes per sample as written, by bit depth
BYTES_PER_SAMPLE = {"16": 2, "24": 3, "32f": 4}
#: a FLAC file's size over its PCM size, taken low (music is usually 0.5..0.7): the
#: estimate would rather let a file that may not fit start than refuse one that fits
FLAC_RATIO = 0.5


def expected_bytes(path: str | os.PathLike, frames: int, channels: int, bit_depth: str) -> int:
    """About how many bytes ``path`` will take: frames x channels x bytes per sample
    (FLAC: ``FLAC_RATIO`` of that), plus a header."""
    n = frames * channels * BYTES_PER_SAMPLE[bit_depth]
    if Path(path).suffix.lower() == ".flac":
        n = int(n * FLAC_RATIO)
    return n + 4096


def check_space(files: Iterable[tuple[str | os.PathLike, int]]) -> None:
    """Before long work: AudioFileError (one line, with the figures) if the files
    planned, (path, expected bytes), do not fit in the free space of the file
    systems their folders are on.

    Files on one file system are counted together; a file that replaces
    another needs its whole size (the new one is complete before the rename)."""
    need: dict[int, list] = {}
    for path, nbytes in files:
        p = Path(path)
        folder = p.parent if str(p.parent) else Path(".")
        try:
            dev = os.stat(folder).st_dev
        except OSError:
            continue  # (a folder that is not there is refused elsewhere, naming it)
        entry = need.setdefault(dev, [0, folder, []])
        entry[0] += nbytes
        entry[2].append(p)
    for nbytes, folder, paths in need.values():
        free = _free_bytes(folder)
        if free is not None and free < nbytes:
            what = f"{paths[0]}" if len(paths) == 1 else f"{paths[0]} and {len(paths) - 1} more"
            raise AudioFileError(f"{what}: not enough space in {folder}: about {_size(nbytes)} "
                                 f"to write, {_size(free)} free")
