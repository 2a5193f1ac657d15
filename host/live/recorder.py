"""Writing a stream to disk from a Python thread, safely.

``Recorder`` pulls interleaved float32 frames from a source (the engine's
record ring), drops the first ``skip_frames`` (the chain's latency, so the file
lines up with the program), and writes them to a temporary file beside the
target.  ``close()`` finishes the file (a valid WAV/FLAC/AIFF whatever
stopped the stream: end of program, --duration, Ctrl-C), syncs it to disk and
renames it into place; ``abort()`` deletes it.  Not real-time code: it runs
beside the audio thread and never touches it except through the ring.

The length of a recording is not known in advance, and a 32-bit float stereo
stream passes 4 GiB after 3.1 hours at 48 kHz: a WAV is written as RF64, which
libsndfile finishes as a plain WAV when it stays under 4 GiB
(host.audiofile.stream_writer).  AIFF has no 64-bit form: an AIFF recording
stops at 4 GiB, kept whole, with an error that says why.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf

from host.audiofile import (
    AIFF_MAX_DATA_BYTES,
    SAMPLE_BYTES,
    check_writable,
    finish_stream,
    output_format,
    publish,
    stream_writer,
    temp_beside,
)
from host.errors import AudioFileError

#: what a recording is stored as, by extension (the stream is float32)
RECORD_DEPTH = {".wav": "32f", ".aif": "32f", ".aiff": "32f", ".flac": "24"}


def _disk_full(path: Path) -> bool:
    """True if the file system holding ``path`` has no room for another block."""
    try:
        st = os.statvfs(path.parent)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < 65536


class Recorder:
    """Background writer of a stream to ``path``.

    Parameters
    ----------
    path : Path
        Target file (.wav, .flac, .aif, .aiff); written under a temporary name.
    sample_rate : int
        Hz.
    channels : int
        Program channels.
    pull : callable
        ``pull(max_frames) -> np.ndarray (frames, channels)``; returns what is
        available now (possibly 0 frames).  Called from the writer thread only.
    skip_frames : int or callable
        Frames to drop at the start (the chain latency, plus any frames
        recorded before the program began), or a function returning that
        number once it is known (None until then; nothing is pulled before).
    limit_frames : int, optional
        Frames to keep at most (the program's length, so the file ends with it).
    """

    #: frames asked of ``pull`` at a time (at most)
    PULL_FRAMES = 8192

    def __init__(self, path: Path, sample_rate: int, channels: int,
                 pull: Callable[[int], np.ndarray],
                 skip_frames: int | Callable[[], int | None] = 0,
                 limit_frames: int | None = None):
        self.path = Path(path)
        depth = RECORD_DEPTH.get(self.path.suffix.lower())
        fmt, subtype = output_format(self.path, depth or "32f")
        self._format = (fmt, subtype)
        check_writable(self.path)
        self.tmp = temp_beside(self.path)
        self.file = stream_writer(self.tmp, sample_rate, channels, fmt, subtype)
        self.channels = channels
        #: frames an AIFF can hold (32-bit sizes); None: no limit (WAV is RF64 beyond)
        self.max_frames = (AIFF_MAX_DATA_BYTES // (channels * SAMPLE_BYTES[subtype])
                           if fmt == "AIFF" else None)
        self.pull = pull
        self.skip: int | None = skip_frames if isinstance(skip_frames, int) else None
        self._skip_fn = None if isinstance(skip_frames, int) else skip_frames
        self.limit = limit_frames
        self.frames_written = 0
        self.error: str | None = None
        self.kept: Path | None = None   #: the file finished by close(), None before
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="outboard-recorder", daemon=True)

    def start(self) -> Recorder:
        self._thread.start()
        return self

    def _drain_once(self) -> int:
        if self.skip is None:
            self.skip = self._skip_fn()
            if self.skip is None:
                return 0
        block = self.pull(self.PULL_FRAMES)
        n = len(block)
        if n == 0:
            return 0
        if self.skip:
            drop = min(self.skip, n)
            block = block[drop:]
            self.skip -= drop
        if self.limit is not None:
            block = block[:max(0, self.limit - self.frames_written)]
        full = self.max_frames is not None and \
            self.frames_written + len(block) > self.max_frames
        if full:
            block = block[:max(0, self.max_frames - self.frames_written)]
        if len(block) and self.error is None:
            try:
                self.file.write(block)
                self.frames_written += len(block)
            except (OSError, RuntimeError) as exc:  # disk full, I/O error
                why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
                if _disk_full(self.tmp):
                    why = "no space left on device (the disk is full)"
                self.error = f"{self.path}: recording stopped: {why}"
        if full and self.error is None:
            self.error = (f"{self.path}: recording stopped at 4 GiB, the most an AIFF file "
                          "holds; record to .wav (RF64 beyond 4 GiB) or .flac")
        return n

    def _run(self) -> None:
        while not self._stop.is_set():
            if self._drain_once() == 0:
                self._stop.wait(0.02)

    def close(self) -> Path:
        """Stop the thread, write what is left in the ring, finish and rename.

        If writing failed (disk full, I/O error), what was written is still
        finished as a valid file and renamed into place (``kept``), and
        :class:`AudioFileError` says why the recording stopped.
        """
        self._stop.set()
        self._thread.join()
        while self._drain_once():
            pass
        try:
            self.file.close()
        except (OSError, RuntimeError) as exc:  # the header update failed too
            self.error = self.error or f"{self.path}: recording stopped: {exc}"
        if self.error:
            self.kept = self._keep()
            raise AudioFileError(self.error)
        try:
            finish_stream(self.tmp, self.channels)
            publish(self.tmp, self.path)
        except OSError as exc:  # the last writes or the sync failed: disk full, I/O error
            self.error = f"{self.path}: recording could not be finished: " \
                f"{exc.strerror or exc}"
            self.kept = self._keep()
            raise AudioFileError(self.error) from None
        self.kept = self.path
        return self.path

    def _publish(self) -> Path | None:
        """Finish the header, sync and rename into place; None (the temporary
        file removed) if even that fails."""
        try:
            finish_stream(self.tmp, self.channels)
            publish(self.tmp, self.path)
        except OSError:
            self.tmp.unlink(missing_ok=True)
            self.frames_written = 0
            return None
        return self.path

    def _keep(self) -> Path | None:
        """After a write error: keep what made it to disk as a valid file.

        WAV/AIFF: libsndfile finished the header for the frames on disk; the
        file is renamed into place as it is.  FLAC: the encoder could not
        finish its STREAMINFO (frame count unknown), so the frames that decode
        are read back, the broken file removed (which frees its space) and
        they are written again.  Returns the path kept, or None if nothing
        could be.
        """
        try:
            frames = sf.info(str(self.tmp)).frames
        except (OSError, RuntimeError):
            frames = -1
        if 0 <= frames <= self.frames_written + self.PULL_FRAMES:  # a header that tells the truth
            self.frames_written = frames  # what the file really holds
            return self._publish()
        blocks = []
        try:
            with sf.SoundFile(str(self.tmp)) as f:
                while sum(len(b) for b in blocks) < self.frames_written:
                    b = f.read(8192, dtype="float32", always_2d=True)
                    if not len(b):
                        break
                    blocks.append(b)
        except (OSError, RuntimeError):
            pass  # the torn end of the file
        self.tmp.unlink(missing_ok=True)
        data = np.concatenate(blocks)[:self.frames_written] if blocks else None
        self.frames_written = 0
        if data is None or not len(data):
            return None
        try:
            sf.write(str(self.tmp), data, self.file.samplerate, format=self._format[0],
                     subtype=self._format[1])
        except (OSError, RuntimeError):
            self.tmp.unlink(missing_ok=True)
            return None
        self.frames_written = len(data)
        return self._publish()

    def abort(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self.file.close()
        self.tmp.unlink(missing_ok=True)

    @property
    def seconds(self) -> float:
        return self.frames_written / self.file.samplerate
