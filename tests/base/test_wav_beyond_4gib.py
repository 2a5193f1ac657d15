"""WAV data beyond 4 GiB: written as RF64 (EBU Tech 3306, 64-bit sizes), never as
a plain WAV whose 32-bit sizes overflow (readers would get the first 4 GiB and no
error); such a broken file is refused on reading; AIFF, with no 64-bit form, is
refused beyond 4 GiB.  The streamed recording of more than 4 GiB is proven in
tests/live/test_recording_beyond_4gib.py; here the choice of header, with the
limit lowered so that a small file takes the same path."""

from __future__ import annotations

import struct

import numpy as np
import pytest
import soundfile as sf

import host.audiofile as af
from host.audiofile import container_format, read_audio, write_audio
from host.errors import AudioFileError

#: frames of mono float32 that pass 4 GiB (the size the issue reproduced)
FRAMES_OVER_4GIB = 1_100_000_000


def test_wav_data_over_4_gib_is_written_as_rf64_and_under_it_as_plain_wav():
    assert container_format("m.wav", "32f", FRAMES_OVER_4GIB, 1) == ("RF64", "FLOAT")
    # 3.1 h of 32-bit float stereo at 48 kHz passes 4 GiB, 3.0 h does not
    assert container_format("m.wav", "32f", int(3.11 * 3600 * 48000), 2)[0] == "RF64"
    assert container_format("m.wav", "32f", int(3.0 * 3600 * 48000), 2)[0] == "WAV"
    assert container_format("m.wav", "24", FRAMES_OVER_4GIB, 2)[0] == "RF64"
    assert container_format("m.wav", "16", FRAMES_OVER_4GIB, 1)[0] == "WAV"  # 2.2 GB
    assert container_format("m.flac", "24", FRAMES_OVER_4GIB, 8) == ("FLAC", "PCM_24")


def test_aiff_data_over_4_gib_is_refused_in_one_line():
    with pytest.raises(AudioFileError, match=r"m.aif: 4.10 GiB of audio; AIFF holds at most "
                                             r"4 GiB: expected a .wav \(RF64"):
        container_format("m.aif", "32f", FRAMES_OVER_4GIB, 1)
    assert container_format("m.aif", "32f", 1000, 2) == ("AIFF", "FLOAT")


@pytest.mark.parametrize("bit_depth", ["16", "24", "32f"])
def test_write_audio_beyond_the_wav_limit_writes_an_rf64_that_reads_back_exactly(
        tmp_path, monkeypatch, bit_depth):
    x = np.random.default_rng(1).uniform(-0.9, 0.9, (2, 5000)).astype(np.float32)
    if bit_depth != "32f":
        q = 2.0 ** (int(bit_depth) - 1)
        x = (np.round(x * q) / q).astype(np.float32)
    monkeypatch.setattr(af, "WAV_MAX_DATA_BYTES", 1000)
    out = tmp_path / "m.wav"
    write_audio(out, x, 48000, bit_depth)
    assert out.read_bytes()[:4] == b"RF64" and sf.info(str(out)).format == "RF64"
    back = read_audio(out)
    assert back.frames == 5000 and np.array_equal(back.data, x)


def _overflowed_wav(path, gib: float = 4.5) -> None:
    """What a writer without RF64 leaves: a float WAV whose RIFF and data sizes are
    0xFFFFFFFF, holding more than 4 GiB (sparse: the size, not the bytes)."""
    fmt = struct.pack("<HHIIHH", 3, 1, 48000, 48000 * 4, 4, 32)
    head = (b"RIFF" + struct.pack("<I", 0xFFFFFFFF) + b"WAVE" + b"fmt "
            + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", 0xFFFFFFFF))
    with open(path, "wb") as f:
        f.write(head)
        f.truncate(int(gib * 2**30))


def test_a_plain_wav_that_overflowed_past_4_gib_is_refused_not_read_short(tmp_path):
    p = tmp_path / "long.wav"
    _overflowed_wav(p)
    assert sf.info(str(p)).frames == 0xFFFFFFFF // 4  # what libsndfile alone would read
    with pytest.raises(AudioFileError) as e:
        read_audio(p)
    msg = str(e.value)
    assert msg.startswith(f"{p}: a plain WAV of 4.50 GiB: its 32-bit data size overflowed")
    assert "expected RF64" in msg and len(msg.splitlines()) == 1
