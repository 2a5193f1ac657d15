"""A recording's length is not known in advance, and a 32-bit float stereo print
passes 4 GiB after about 3.1 h at 48 kHz: host.live.recorder writes WAV as RF64
(downgraded by libsndfile to a plain WAV when it ends under 4 GiB), so the file
stays whole and readable past 4 GiB.  Proven with a real stream of more than
4 GiB through the Recorder (zeros, and a ramp in the last block to find again
beyond 4 GiB); an AIFF recording, which cannot pass 4 GiB, stops there whole."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import host.live.recorder as recorder_mod
from host.errors import AudioFileError
from host.live.recorder import Recorder

#: mono float32 frames: 4.4e9 bytes, past 4 GiB (4.29e9), as in the issue
FRAMES = 1_100_000_000
BYTES = FRAMES * 4
#: frames per pull: the stream's own blocks are 8192; larger ones only make the
#: test fast (the format and the writer are the same)
BLOCK = 1 << 20


def _mem_available() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def roomy_folder(tmp_path: Path) -> Path:
    """A folder with room for the file: RAM-backed /dev/shm first (fast, and its
    sync is free), if the machine has the memory to spare; else the test's
    folder on disk.  Skips, saying why, when neither has room."""
    need = BYTES + (1 << 30)
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK) and shutil.disk_usage(shm).free > need \
            and _mem_available() > need + (2 << 30):
        d = shm / f"outboard-test-{os.getpid()}"
        d.mkdir(exist_ok=True)
        return d
    if shutil.disk_usage(tmp_path).free > need:
        return tmp_path
    pytest.skip(f"needs {need / 2**30:.1f} GiB free (in /dev/shm with the RAM to spare, or "
                f"in {tmp_path}) to stream a recording past 4 GiB")


def test_a_recording_streamed_past_4_gib_is_rf64_whole_and_readable(tmp_path, monkeypatch):
    folder = roomy_folder(tmp_path)
    out = folder / "long.wav"
    zeros = np.zeros((BLOCK, 1), np.float32)
    ramp = (np.arange(BLOCK, dtype=np.float32) / BLOCK)[:, None]
    left = [FRAMES]

    def pull(n: int) -> np.ndarray:
        k = min(n, left[0])
        left[0] -= k
        return ramp[BLOCK - k:] if left[0] == 0 and k else zeros[:k]

    monkeypatch.setattr(Recorder, "PULL_FRAMES", BLOCK)
    try:
        rec = Recorder(out, 48000, 1, pull).start()
        deadline = time.monotonic() + 120
        while left[0] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert left[0] == 0, "the recorder did not take the stream within 120 s"
        assert rec.close() == out and rec.frames_written == FRAMES
        with open(out, "rb") as f:
            assert f.read(4) == b"RF64"
        info = sf.info(str(out))
        assert (info.format, info.frames) == ("RF64", FRAMES)   # not 1,073,741,823
        assert out.stat().st_size > 4 * 2**30
        last = FRAMES % BLOCK or BLOCK   # the last pull: the end of the ramp
        with sf.SoundFile(str(out)) as f:   # found again 4.4 GB in
            f.seek(FRAMES - last)
            tail = f.read(BLOCK, dtype="float32")
        np.testing.assert_array_equal(tail, ramp[BLOCK - last:, 0])
    finally:
        out.unlink(missing_ok=True)
        if folder != tmp_path:
            shutil.rmtree(folder, ignore_errors=True)


def test_a_short_recording_is_a_plain_wav(tmp_path):
    blocks = [np.full((4800, 2), 0.25, np.float32)]

    def pull(n):
        return blocks.pop() if blocks else np.zeros((0, 2), np.float32)

    rec = Recorder(tmp_path / "short.wav", 48000, 2, pull).start()
    time.sleep(0.1)
    rec.close()
    assert (tmp_path / "short.wav").read_bytes()[:4] == b"RIFF"
    data, _ = sf.read(tmp_path / "short.wav", dtype="float32")
    assert data.shape == (4800, 2) and np.all(data == 0.25)


def test_an_aiff_recording_stops_whole_at_its_4_gib_limit(tmp_path, monkeypatch):
    """AIFF has 32-bit sizes and no 64-bit form: the recording stops at the limit
    (lowered here to 10000 bytes), keeps what fits as a valid file and says why."""
    monkeypatch.setattr(recorder_mod, "AIFF_MAX_DATA_BYTES", 10000)
    blocks = [np.full((2000, 2), 0.5, np.float32) for _ in range(3)]

    def pull(n):
        return blocks.pop() if blocks else np.zeros((0, 2), np.float32)

    out = tmp_path / "take.aif"
    rec = Recorder(out, 48000, 2, pull).start()
    time.sleep(0.2)
    with pytest.raises(AudioFileError, match=r"take.aif: recording stopped at 4 GiB, the most "
                                             r"an AIFF file holds; record to .wav"):
        rec.close()
    assert rec.kept == out and sf.info(str(out)).frames == 10000 // 8
