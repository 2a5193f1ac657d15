"""Reading and writing audio files safely.

Reading refuses what would silently give wrong audio: unknown formats,
truncated files, plain WAVs whose 32-bit sizes overflowed past 4 GiB, NaN/Inf
samples and absurd ones (beyond +60 dBFS: a float file holding garbage).
Writing goes to a temporary name in the destination folder, synced to disk and
renamed over the target only when complete (:func:`publish`), so a failed run
never leaves a half-written file; :class:`FilesRead` keeps every output off
every file the command reads.  WAV data that may pass 4 GiB is written as RF64
(EBU Tech 3306), which libsndfile reads back whole.

Multichannel WAVs carry their speaker layout in the WAVE_FORMAT_EXTENSIBLE
channel mask (``Audio.channel_mask``, read from the fmt chunk: libsndfile does
not expose it); loudness weights the channels by it (host.dsp.loudness).  A
file without one has the standard layout of its channel count
(:data:`STANDARD_MASKS`).
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import struct
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from host.errors import AudioFileError, deferred

#: extension -> (libsndfile format, subtypes by bit depth)
FORMATS: dict[str, tuple[str, dict[str, str]]] = {
    ".wav": ("WAV", {"16": "PCM_16", "24": "PCM_24", "32f": "FLOAT"}),
    ".flac": ("FLAC", {"16": "PCM_16", "24": "PCM_24"}),
    ".aif": ("AIFF", {"16": "PCM_16", "24": "PCM_24", "32f": "FLOAT"}),
    ".aiff": ("AIFF", {"16": "PCM_16", "24": "PCM_24", "32f": "FLOAT"}),
}
BIT_DEPTHS = ("16", "24", "32f")
#: bytes per sample of each subtype written
SAMPLE_BYTES = {"PCM_16": 2, "PCM_24": 3, "FLOAT": 4}
#: most audio data (bytes) written as a plain RIFF WAV: its sizes are 32-bit (4 GiB
#: less one byte, header chunks included); more goes into an RF64 file
WAV_MAX_DATA_BYTES = 0xFFFFFFFF - (1 << 20)
#: AIFF's sizes are 32-bit too and it has no 64-bit form: more is refused
AIFF_MAX_DATA_BYTES = WAV_MAX_DATA_BYTES
#: samples beyond this (linear, +60 dBFS) are not audio: refused like NaN/Inf
ABSURD_LEVEL = 1000.0

#: WAVE_FORMAT_EXTENSIBLE speaker positions, bit k of dwChannelMask = SPEAKERS[k];
#: a file's channels are the set bits in this order
SPEAKERS = ("FL", "FR", "FC", "LFE", "BL", "BR", "FLC", "FRC", "BC", "SL", "SR", "TC",
            "TFL", "TFC", "TFR", "TBL", "TBC", "TBR")
#: the layout of a file without a channel mask, by channel count (also written as
#: the mask of an extensible file whose layout is not known): mono C; stereo L R;
#: 5.0 L R C Ls Rs; 5.1 L R C LFE Ls Rs; 7.1 L R C LFE Ls Rs Lrs Rrs.  Other
#: counts: no layout (mask 0), every channel a front one.
STANDARD_MASKS = {1: 0x4, 2: 0x3, 5: 0x607, 6: 0x60F, 8: 0x63F}


@dataclass
class Audio:
    """Planar float32 audio, shape (channels, frames), at ``sample_rate`` Hz."""

    data: np.ndarray
    sample_rate: int
    path: Path | None = None
    subtype: str | None = None
    #: WAVE_FORMAT_EXTENSIBLE speaker mask (bits of :data:`SPEAKERS`); None when
    #: the file has none (the standard layout of its channel count applies)
    channel_mask: int | None = None

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
                    if pos + 8 + clen < size:
                        return (f"a plain WAV of {size / 2**30:.2f} GiB: its 32-bit data size "
                                "overflowed at 4 GiB, so only the first 4 GiB would be read; "
                                "expected RF64 for more (rewrite it as RF64, e.g. `sox IN -t "
                                "rf64 OUT`, or print it again)")
                    return None  # streamed from a pipe: the size was never known, read to the end
                if pos + 8 + clen > size:
                    missing = pos + 8 + clen - size
                    return f"truncated: its data chunk is {missing} bytes short"
                return None
            pos += 8 + clen + (clen & 1)
        return "truncated: no complete data chunk"


def _fmt_chunk(f, size: int) -> tuple[int, bytes] | None:
    """(offset of the body, first 40 bytes of the body) of a RIFF/RF64 WAVE's fmt
    chunk, or None (not a WAVE, or no fmt chunk before the data)."""
    f.seek(0)
    head = f.read(12)
    if len(head) < 12 or head[:4] not in (b"RIFF", b"RF64", b"BW64") or head[8:12] != b"WAVE":
        return None
    pos = 12
    while pos + 8 <= size:
        f.seek(pos)
        cid, clen = struct.unpack("<4sI", f.read(8))
        if cid == b"fmt ":
            return pos + 8, f.read(min(clen, 40))
        if cid == b"data":
            return None
        pos += 8 + clen + (clen & 1)
    return None


def wav_channel_mask(path: str | os.PathLike) -> int | None:
    """The dwChannelMask of a WAVE_FORMAT_EXTENSIBLE WAV (RIFF or RF64) file: bit k
    set for speaker ``SPEAKERS[k]``, the channels in bit order.  None for
    any other file (a plain WAV, FLAC, AIFF: no layout stated)."""
    try:
        with open(path, "rb") as f:
            chunk = _fmt_chunk(f, os.fstat(f.fileno()).st_size)
    except OSError:
        return None
    if chunk is None:
        return None
    body = chunk[1]
    if len(body) < 24 or struct.unpack("<H", body[:2])[0] != 0xFFFE \
            or struct.unpack("<H", body[16:18])[0] < 22:
        return None
    return struct.unpack("<I", body[20:24])[0]


def set_wav_channel_mask(path: str | os.PathLike, mask: int) -> bool:
    """Write ``mask`` into the fmt chunk of a WAVE_FORMAT_EXTENSIBLE file (as
    libsndfile writes for WAVEX and RF64, with a default mask of its own, which
    this replaces).  False, and nothing changed, for any other file."""
    with open(path, "r+b") as f:
        chunk = _fmt_chunk(f, os.fstat(f.fileno()).st_size)
        if chunk is None:
            return False
        at, body = chunk
        if len(body) < 24 or struct.unpack("<H", body[:2])[0] != 0xFFFE:
            return False
        f.seek(at + 20)
        f.write(struct.pack("<I", mask & 0xFFFFFFFF))
    return True


def _absurd(p: Path, planar: np.ndarray, rate: int) -> str | None:
    """A message for samples beyond :data:`ABSURD_LEVEL` (a float file holding
    garbage), naming the first one; None if there are none."""
    if planar.max() <= ABSURD_LEVEL and planar.min() >= -ABSURD_LEVEL:  # no copy
        return None
    bad = np.abs(planar) > ABSURD_LEVEL
    idx, ch = np.argwhere(bad.T)[0]  # the earliest, then the lowest channel
    v = float(planar[ch, idx])
    return (f"{p}: {int(bad.sum())} sample{'s' if bad.sum() > 1 else ''} beyond "
            f"+{20 * np.log10(ABSURD_LEVEL):.0f} dBFS (first at channel {ch + 1}, "
            f"{idx / rate:.3f} s: {v:.6g}, {20 * np.log10(abs(v)):+.1f} dBFS); expected "
            "audio: full scale is 1.0, this is not a level any signal reaches")


def read_audio(path: str | os.PathLike, *, allow_nonfinite: bool = False) -> Audio:
    """Read an audio file as planar float32.

    Raises
    ------
    AudioFileError
        Missing, unreadable, truncated or unknown-format file, or one holding
        NaN/Inf samples or samples beyond +60 dBFS (unless ``allow_nonfinite``).
        The message names the file, and the first bad sample's channel and time.
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
        absurd = _absurd(p, planar, int(rate))
        if absurd:
            raise AudioFileError(absurd)
    return Audio(planar, int(rate), p, info.subtype, wav_channel_mask(p))


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


def _identity(path: str | os.PathLike) -> tuple[Path, tuple[int, int] | None]:
    """A file's resolved path (symlinks and ``..`` followed) and, if it exists,
    its (st_dev, st_ino): two names of one file (a hard link) share the latter."""
    real = Path(os.path.realpath(path))
    try:
        st = os.stat(real)
    except OSError:
        return real, None
    return real, (st.st_dev, st.st_ino)


class FilesRead:
    """The files one command reads, and the outputs it has claimed, so that no
    output is ever written over any of them.

    Every command that writes builds one before it writes anything: each file it
    reads (input, stems, session, chain, device profiles, stores) goes in with
    :meth:`read`, then each file it will write (audio, reports, plots, stores,
    sheets) with :meth:`claim`, which refuses a file that is one of those already
    in.  Files compare by resolved path (symlinks, ``..``) and by (st_dev,
    st_ino), so a hard link or a second name of a file counts as that file::

        files = FilesRead()
        files.read("mix.wav", "the input file")
        files.claim("master.wav")                 # AudioFileError if it is mix.wav
        files.claim("master.json", "report")      # ... or mix.wav, or master.wav
    """

    def __init__(self) -> None:
        #: (name as given, resolved path, (dev, ino) or None, role, output kind or None)
        self._files: list[tuple[Path, Path, tuple[int, int] | None, str, str | None]] = []

    def read(self, path: str | os.PathLike, role: str) -> None:
        """Add a file the command reads; ``role`` names it in messages
        ("the input file", "the stem file of 'drums'")."""
        real, ino = _identity(path)
        self._files.append((Path(path), real, ino, role, None))

    def _find(self, path: str | os.PathLike):
        real, ino = _identity(path)
        for entry in self._files:
            if entry[1] == real or (ino is not None and entry[2] == ino):
                return entry
        return None

    def claim(self, dst: str | os.PathLike, what: str = "output") -> None:
        """Add ``dst`` as a file the command writes (``what``: "output",
        "report", "plot"...), after checking it is none of the files read or
        claimed before (claiming the same file again as the same ``what`` is
        allowed).

        Raises
        ------
        AudioFileError
            ``dst`` is a file read or another output: the message names both.
        """
        d = Path(dst)
        hit = self._find(d)
        if hit is not None:
            given, _real, _ino, role, kind = hit
            if kind == what:
                return
            alias = "" if os.path.normpath(given) == os.path.normpath(d) else f"{given}, "
            raise AudioFileError(f"{d}: is {alias}{role}; choose another {what} name")
        real, ino = _identity(d)
        self._files.append((d, real, ino, f"the {what} file", what))


def container_format(dst: str | os.PathLike, bit_depth: str, frames: int,
                     channels: int) -> tuple[str, str]:
    """(format, subtype) to write ``frames`` x ``channels`` into ``dst``:
    :func:`output_format`'s, except that WAV data beyond
    :data:`WAV_MAX_DATA_BYTES` goes into an RF64 file (a plain WAV's 32-bit sizes
    would overflow, and readers would get the first 4 GiB only).

    Raises
    ------
    AudioFileError
        As :func:`output_format`; or AIFF data beyond 4 GiB (AIFF has no 64-bit form).
    """
    fmt, subtype = output_format(dst, bit_depth)
    size = int(frames) * int(channels) * SAMPLE_BYTES[subtype]
    if fmt == "WAV" and size > WAV_MAX_DATA_BYTES:
        return "RF64", subtype
    if fmt == "AIFF" and size > AIFF_MAX_DATA_BYTES:
        raise AudioFileError(f"{dst}: {size / 2**30:.2f} GiB of audio; AIFF holds at most "
                             "4 GiB: expected a .wav (RF64 beyond 4 GiB) or .flac output")
    return fmt, subtype


#: libsndfile's sf_command for RF64 auto-downgrade (sndfile.h)
_SFC_RF64_AUTO_DOWNGRADE = 0x1210


def stream_writer(path: str | os.PathLike, sample_rate: int, channels: int, fmt: str,
                  subtype: str) -> sf.SoundFile:
    """An open libsndfile writer for a stream of unknown length (a recording).

    WAV is opened as RF64 with libsndfile's auto-downgrade
    (``SFC_RF64_AUTO_DOWNGRADE``): a file that ends under 4 GiB is finished as a
    plain RIFF WAV (WAVE_FORMAT_EXTENSIBLE, a JUNK chunk where the ds64 would
    be), a longer one as RF64, whole and readable.  Call
    :func:`finish_stream` on the file after closing it.
    """
    if fmt == "WAV":
        f = sf.SoundFile(str(path), "w", samplerate=int(sample_rate), channels=channels,
                         format="RF64", subtype=subtype)
        # soundfile has no wrapper for this command (its private libsndfile handle
        # is used); without it the file simply stays RF64, readable all the same
        with suppress(AttributeError):
            sf._snd.sf_command(f._file, _SFC_RF64_AUTO_DOWNGRADE, sf._ffi.NULL, 1)
        return f
    return sf.SoundFile(str(path), "w", samplerate=int(sample_rate), channels=channels,
                        format=fmt, subtype=subtype)


def finish_stream(path: str | os.PathLike, channels: int, channel_mask: int | None = None) -> None:
    """After closing a :func:`stream_writer` file: give an extensible WAV the
    layout ``channel_mask`` (default: :data:`STANDARD_MASKS`' for its channel
    count, else none), instead of libsndfile's default (which calls 8 channels
    FL FR FC LFE BL BR FLC FRC, 4 a quad)."""
    mask = channel_mask if channel_mask is not None else STANDARD_MASKS.get(channels, 0)
    set_wav_channel_mask(path, mask)


def check_distinct(src: str | os.PathLike, dst: str | os.PathLike) -> None:
    """Refuse to write over an input (a :class:`FilesRead` of one file)."""
    files = FilesRead()
    files.read(src, "the input file")
    files.claim(dst)


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
        fd, probe = tempfile.mkstemp(prefix=f".{d.name}.{os.getpid()}.", suffix=".probe",
                                     dir=str(folder))
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
    atomic), with the permissions a plain ``open(dst, "w")`` would give.

    Its name, ``.NAME.PID.XXXXXXXX.part.EXT``, holds the writing process's id:
    a later run tells a part file whose owner died (SIGKILL, a power cut) from
    one being written now (:func:`remove_stale_parts`)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{dst.name}.{os.getpid()}.",
                               suffix=".part" + dst.suffix,
                               dir=str(dst.parent if str(dst.parent) else "."))
    os.fchmod(fd, FILE_MODE)
    os.close(fd)
    return Path(tmp)


def published() -> list[Path]:
    """The files this process has put in place so far, in order (:data:`WRITTEN`):
    what a command stopped after writing some of its outputs can name exactly."""
    return list(WRITTEN)


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return  # a folder that cannot be opened for reading cannot be synced either
    try:
        os.fsync(fd)
    except OSError:
        pass  # file systems without folder fsync (EINVAL): the rename is all there is
    finally:
        os.close(fd)


def publish(tmp: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Put a finished temporary file in place under ``dst``.

    The file's data goes to disk first (fsync), then the rename over ``dst``
    (atomic: a reader sees the old file or the new one, whole), then the folder
    (fsync), so that after a crash or a power cut ``dst`` is either the old file
    or the complete new one, never an empty or partial file under its name.
    """
    t, d = Path(tmp), Path(dst)
    fd = os.open(t, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    with deferred():  # (a stop signal now would leave WRITTEN untrue)
        os.replace(t, d)
        WRITTEN.append(d)
    _fsync_folder(d.parent if str(d.parent) else Path("."))
    return d
#: a part file (temp_beside) or a writability probe (check_writable): .NAME.PID.XXXXXXXX.part[.EXT]
_PART = re.compile(r"^\..+\.(?P<pid>\d+)\.[A-Za-z0-9_]+\.(?:part(?:\.[^.]+)?|probe)$")


def part_owner(path: str | os.PathLike) -> int | None:
    """The id of the process that writes the part file ``path``; None if the
    name is not one of our part files (or predates ids in their names)."""
    m = _PART.match(Path(path).name)
    return int(m.group("pid")) if m else None


def pid_alive(pid: int) -> bool:
    """True if a process ``pid`` exists (ours or another user's)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's
        return True


def remove_stale_parts(folders) -> list[Path]:
    """Remove the part files in ``folders`` whose writing process is gone (it
    was killed before it could remove them); those of live processes are left
    alone.  Returns the files removed."""
    removed = []
    for folder in dict.fromkeys(Path(f) for f in folders):
        try:
            names = [p for p in folder.iterdir() if p.name.startswith(".")]
        except OSError:
            continue
        for p in names:
            pid = part_owner(p)
            if pid is None or pid == os.getpid() or pid_alive(pid):
                continue
            try:
                p.unlink()
            except FileNotFoundError:
                continue  # another run removed it first
            except OSError:
                continue  # not ours to remove (permissions): left alone
            removed.append(p)
    return removed


def stale_parts_note(removed: list[Path]) -> str:
    """One line saying which stale part files were removed."""
    names = ", ".join(str(p) for p in removed)
    n = len(removed)
    return (f"removed {n} stale part file{'s' if n > 1 else ''} left by a stopped run "
            f"(its process is gone): {names}")


#: every file this process renamed into place (atomic_path, the recorder), in
#: order: what an interrupted command had written before it stopped
WRITTEN: list[Path] = []


@contextmanager
def atomic_path(dst: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``dst``; on success, :func:`publish` it
    as ``dst`` (synced to disk, renamed); delete it on any failure."""
    d = Path(dst)
    check_writable(d)
    tmp_path = temp_beside(d)
    try:
        yield tmp_path
        publish(tmp_path, d)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def write_audio(dst: str | os.PathLike, data: np.ndarray, sample_rate: int,
                bit_depth: str, channel_mask: int | None = None) -> None:
    """Write planar audio atomically.

    For "16" and "24", ``data`` must already be quantised (dithered) to the grid
    ``k / 2**(bits-1)``; it is converted to integers exactly.  "32f" writes
    float32 as is.  WAV data beyond 4 GiB is written as RF64
    (:func:`container_format`).  ``channel_mask`` (the input's layout) is kept
    in a WAV: as a WAVE_FORMAT_EXTENSIBLE mask when it is not the standard
    layout of the channel count, which a plain WAV implies.
    """
    channels = int(data.shape[0])
    fmt, subtype = container_format(dst, bit_depth, data.shape[1], channels)
    standard = STANDARD_MASKS.get(channels, 0)
    if fmt == "WAV" and channel_mask is not None and channel_mask != standard:
        fmt = "WAVEX"
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
                             channels=channels, format=fmt, subtype=subtype)
            try:
                f.write(frames)
            except Exception as exc:
                why = _sndfile_reason(f, exc)
                with suppress(Exception):
                    f.close()
                raise write_error(dst, why) from None
            f.close()  # (a header update that fails: a disk full to the last block)
            if fmt in ("WAVEX", "RF64"):
                set_wav_channel_mask(tmp, standard if channel_mask is None else channel_mask)
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
