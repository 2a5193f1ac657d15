"""What read_audio refuses besides NaN/Inf (absurd samples: a float file holding
garbage), and the speaker layout of multichannel WAVs (the WAVE_FORMAT_EXTENSIBLE
channel mask), read from the fmt chunk and kept when writing.  References: the
Microsoft WAVEFORMATEXTENSIBLE layout (fmt body offset 20 holds dwChannelMask),
built here byte by byte."""

from __future__ import annotations

import struct

import numpy as np
import pytest
import soundfile as sf

from host.audiofile import (
    STANDARD_MASKS,
    finish_stream,
    read_audio,
    stream_writer,
    wav_channel_mask,
    write_audio,
)
from host.errors import AudioFileError

FS = 48000


@pytest.mark.parametrize("value", [1e18, -3e38, 1001.0])
def test_a_sample_beyond_plus_60_dbfs_is_refused_naming_channel_and_time(tmp_path, value):
    x = np.zeros((3 * FS, 2), np.float32)
    x[int(1.25 * FS), 1] = value
    x[2 * FS, 0] = value
    p = tmp_path / "garbage.wav"
    sf.write(p, x, FS, subtype="FLOAT")
    with pytest.raises(AudioFileError) as e:
        read_audio(p)
    msg = str(e.value)
    assert msg.startswith(f"{p}: 2 samples beyond +60 dBFS (first at channel 2, 1.250 s: ")
    assert f"{20 * np.log10(abs(value)):+.1f} dBFS" in msg and len(msg.splitlines()) == 1


def test_hot_but_real_float_audio_up_to_plus_60_dbfs_is_read(tmp_path):
    x = np.zeros((FS, 1), np.float32)
    x[100, 0] = 999.0   # +59.99 dBFS: a float mix far over full scale is still audio
    p = tmp_path / "hot.wav"
    sf.write(p, x, FS, subtype="FLOAT")
    assert read_audio(p).data[0, 100] == 999.0


def wavex(path, channels: int, mask: int, frames: int = 4800) -> None:
    """A 16-bit WAVE_FORMAT_EXTENSIBLE file built from the format's definition."""
    block = 2 * channels
    sub = bytes.fromhex("0100000000001000800000aa00389b71")  # KSDATAFORMAT_SUBTYPE_PCM
    fmt = struct.pack("<HHIIHHHHI", 0xFFFE, channels, FS, FS * block, block, 16, 22, 16,
                      mask) + sub
    data = (np.arange(frames * channels) % 100).astype("<i2").tobytes()
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + \
        struct.pack("<I", len(data)) + data
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)


def test_the_channel_mask_is_read_from_the_fmt_chunk(tmp_path):
    wavex(tmp_path / "a.wav", 6, 0x3F)          # 5.1 (back surrounds)
    wavex(tmp_path / "b.wav", 6, 0x707)         # 6.0: L R C BC Ls Rs, no LFE
    assert read_audio(tmp_path / "a.wav").channel_mask == 0x3F
    assert read_audio(tmp_path / "b.wav").channel_mask == 0x707
    sf.write(tmp_path / "plain.wav", np.zeros((10, 6), np.float32), FS, format="WAV")
    assert read_audio(tmp_path / "plain.wav").channel_mask is None
    sf.write(tmp_path / "x.flac", np.zeros((10, 6), np.float32), FS)
    assert wav_channel_mask(tmp_path / "x.flac") is None


def test_a_layout_other_than_the_standard_one_is_written_as_an_extensible_wav(tmp_path):
    x = np.zeros((6, 480), np.float32)
    write_audio(tmp_path / "six.wav", x, FS, "24", channel_mask=0x707)
    assert sf.info(str(tmp_path / "six.wav")).format == "WAVEX"
    assert wav_channel_mask(tmp_path / "six.wav") == 0x707
    # the standard 5.1 layout is what a plain WAV of 6 channels means: kept plain
    write_audio(tmp_path / "std.wav", x, FS, "24", channel_mask=STANDARD_MASKS[6])
    assert sf.info(str(tmp_path / "std.wav")).format == "WAV"


@pytest.mark.parametrize("channels", [2, 4, 6, 8])
def test_a_recording_gets_the_standard_layout_not_libsndfiles_default(tmp_path, channels):
    """libsndfile writes 8 channels of an extensible WAV as FL FR FC LFE BL BR FLC
    FRC and 4 as a quad; a recording of a session has no layout of its own: it
    gets the standard one of its channel count (none for 4), as a plain file would."""
    p = tmp_path / "rec.wav"
    f = stream_writer(p, FS, channels, "WAV", "FLOAT")
    f.write(np.zeros((100, channels), np.float32))
    f.close()
    finish_stream(p, channels)
    assert p.read_bytes()[:4] == b"RIFF"            # under 4 GiB: downgraded from RF64
    assert wav_channel_mask(p) == STANDARD_MASKS.get(channels, 0)
