"""Stem mastering (host.offline.stems): session syntax, mixing to the master bus, and
alignment, checked against numpy closed forms, scipy.signal and soxr."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from conftest import Toml, session_toml, sine
import soundfile as sf
import soxr
from scipy.signal import butter, sosfilt

from host.errors import AudioFileError, ConfigError, OutboardError
from host.model.session import load_session
from host.offline.stems import StemMix, balance_gains, mix_stems, resampled_frames


FS = 48000
CONFIGS = Path(__file__).resolve().parents[2] / "configs"

def stem_toml(name: str, file: str, extra: str = "") -> str:
    return f'[[stems]]\nname = "{name}"\nfile = "{file}"\n{extra}\n'


def session_file(tmp_path: Path, stems: list[str], program: str = "", fs: int = FS,
                 inputs: str = "[1, 2]", tail: str = "") -> Path:
    p = tmp_path / "session.toml"
    head = session_toml(interface={"hostapi": None, "embedded_jack": None, "sample_rate": fs},
                        program={"inputs": Toml(inputs), "outputs": Toml(inputs)})
    p.write_text(head + program + "\n\n" + "\n".join(stems) + tail)
    return p


def write_stem(tmp_path: Path, name: str, planar: np.ndarray, fs: int = FS,
               ext: str = "wav") -> str:
    """Write planar float32 audio exactly (32-bit float WAV, or 24-bit FLAC);
    return the path relative to the session folder."""
    folder = tmp_path / "stems"
    folder.mkdir(exist_ok=True)
    subtype = "FLOAT" if ext == "wav" else "PCM_24"
    sf.write(str(folder / f"{name}.{ext}"), np.asarray(planar, dtype=np.float32).T, fs,
             subtype=subtype)
    return f"stems/{name}.{ext}"


def noise(rng: np.random.Generator, seconds: float, channels: int = 2, fs: int = FS,
          peak: float = 0.25) -> np.ndarray:
    x = rng.uniform(-peak, peak, size=(channels, int(round(seconds * fs))))
    return x.astype(np.float32)


def mix(path: Path) -> StemMix:
    return mix_stems(load_session(path))


def rel_error_db(y: np.ndarray, ref: np.ndarray) -> float:
    err = np.sqrt(np.mean((np.asarray(y, np.float64) - ref) ** 2))
    return 20 * math.log10(max(err, 1e-300) / np.sqrt(np.mean(ref ** 2)))


# ------------------------------------------------------------------------- mixing


def test_gain_only_stems_sum_to_their_levels_times_linear_gain(tmp_path, rng):
    a, b, c = noise(rng, 0.5), noise(rng, 0.5), noise(rng, 0.5)
    stems = [stem_toml("drums", write_stem(tmp_path, "drums", a), "gain_db = -6.0"),
             stem_toml("bass", write_stem(tmp_path, "bass", b), "gain_db = 3.5"),
             stem_toml("music", write_stem(tmp_path, "music", c))]
    m = mix(session_file(tmp_path, stems))
    ref = (a.astype(np.float64) * 10 ** (-6 / 20) + b * 10 ** (3.5 / 20) + c).T
    assert m.data.dtype == np.float32 and m.data.shape == (a.shape[1], 2)
    assert m.sample_rate == FS
    np.testing.assert_allclose(m.data, ref, rtol=0, atol=1e-6)
    assert [s["name"] for s in m.stems] == ["drums", "bass", "music"]
    assert not any(s["resampled"] or s["padded_frames"] for s in m.stems)
    assert m.notes == []
    peak_ref = 20 * np.log10(np.max(np.abs(a.astype(np.float64) * 10 ** (-6 / 20))))
    assert m.stems[0]["peak_dbfs"] == pytest.approx(peak_ref, abs=1e-6)


@pytest.mark.parametrize("pan", [-1.0, -0.5, 0.0, 0.3, 1.0])
def test_balance_follows_the_constant_power_law(tmp_path, rng, pan):
    x = noise(rng, 0.25)
    m = mix(session_file(tmp_path, [stem_toml("music", write_stem(tmp_path, "music", x),
                                              f"pan = {pan}\ngain_db = -2.0")]))
    theta = (pan + 1) * np.pi / 4                      # closed form, stated in host.offline.stems
    gl, gr = np.sqrt(2) * np.cos(theta), np.sqrt(2) * np.sin(theta)
    g = 10 ** (-2 / 20)
    np.testing.assert_allclose(m.data[:, 0], x[0] * g * gl, rtol=0, atol=1e-6)
    np.testing.assert_allclose(m.data[:, 1], x[1] * g * gr, rtol=0, atol=1e-6)
    assert gl ** 2 + gr ** 2 == pytest.approx(2.0)     # constant power
    assert balance_gains(pan) == pytest.approx((gl, gr), abs=1e-15)


def test_balance_is_unity_at_centre_and_plus_3_db_hard_left():
    assert balance_gains(0.0) == pytest.approx((1.0, 1.0), abs=1e-15)
    left, right = balance_gains(-1.0)
    assert 20 * math.log10(left) == pytest.approx(10 * math.log10(2), abs=1e-9)  # +3.01 dB
    assert right == pytest.approx(0.0, abs=1e-15)


@pytest.mark.parametrize("with_limiter", [False, True], ids=["eq", "eq+limiter-lookahead"])
def test_highpass_stem_equals_scipy_butterworth_and_stays_aligned(tmp_path, rng,
                                                                   with_limiter):
    # the limiter (5 ms lookahead = 240 samples) never reaches its 0 dBTP ceiling at
    # this level: it only delays, and the delay must be removed to the sample
    a, b = noise(rng, 1.0, peak=0.1), noise(rng, 1.0, peak=0.1)
    chain = ('chain = [{ kind = "eq", bands = [{ type = "highpass", freq_hz = 100.0, '
             'order = 4, family = "butterworth" }] }'
             + (', { kind = "limiter", ceiling_dbtp = 0.0, lookahead_ms = 5.0 }'
                if with_limiter else "") + "]")
    stems = [stem_toml("drums", write_stem(tmp_path, "drums", a), chain),
             stem_toml("music", write_stem(tmp_path, "music", b))]
    m = mix(session_file(tmp_path, stems))
    sos = butter(4, 100, "hp", fs=FS, output="sos")
    ref_a = sosfilt(sos, a.astype(np.float64), axis=1)
    other = b.astype(np.float64)
    assert rel_error_db(m.data.T - other, ref_a) <= -90.0
    assert m.stems[0]["chain_latency_samples"] == (240 if with_limiter else 0)
    assert m.stems[1]["chain_latency_samples"] == 0


def test_limiter_stem_keeps_an_impulse_at_its_sample_index(tmp_path):
    n, k_a, k_b = FS // 2, 12_345, 20_000
    a = np.zeros((2, n), np.float32)
    a[:, k_a] = 0.25                                   # -12 dBFS, under the -1 dBTP ceiling
    b = np.zeros((2, n), np.float32)
    b[:, k_b] = 0.125
    stems = [stem_toml("drums", write_stem(tmp_path, "drums", a),
                       'chain = [{ kind = "limiter", ceiling_dbtp = -1.0, lookahead_ms = 3.0 }]'),
             stem_toml("vocals", write_stem(tmp_path, "vocals", b))]
    m = mix(session_file(tmp_path, stems))
    assert m.stems[0]["chain_latency_samples"] == round(3.0e-3 * FS) == 144
    for ch in range(2):
        env = np.abs(m.data[:, ch])
        assert int(np.argmax(np.where(np.arange(n) < (k_a + k_b) // 2, env, 0))) == k_a
        assert int(np.argmax(np.where(np.arange(n) >= (k_a + k_b) // 2, env, 0))) == k_b
        assert m.data[k_b, ch] == pytest.approx(0.125, abs=1e-7)


def test_stem_at_44k1_is_resampled_keeps_its_frequency_and_length(tmp_path):
    n_in = 44100
    x = sine(1000.0, 44100, n_in / 44100, peak_dbfs=-6.0, channels=2)
    m = mix(session_file(tmp_path, [stem_toml("music", write_stem(tmp_path, "music", x,
                                                                  fs=44100))]))
    assert abs(m.frames - n_in * 48000 / 44100) <= 1
    assert m.stems[0]["resampled"] is True and m.stems[0]["sample_rate"] == 44100
    assert any("resampled from 44100 Hz to 48000 Hz" in note for note in m.notes)
    # FFT of 1 s at 48 kHz: 1 Hz bins, Hann window
    seg = m.data[:48000, 0].astype(np.float64) * np.hanning(48000)
    spec = np.abs(np.fft.rfft(seg))
    assert int(np.argmax(spec)) == 1000
    # level kept: the sine's peak in the steady middle within 0.05 dB
    mid = m.data[4800:-4800, 0]
    assert 20 * np.log10(np.max(np.abs(mid))) == pytest.approx(-6.0, abs=0.05)


@pytest.mark.parametrize("fs_in,fs_out", [(44100, 48000), (96000, 48000), (22050, 44100),
                                          (48000, 44100)])
def test_resampled_length_prediction_matches_soxr(fs_in, fs_out):
    for n in (1, 7, 441, 1000, 44101, 123457):
        y = soxr.resample(np.zeros((n, 2), np.float32), fs_in, fs_out, quality="VHQ")
        assert resampled_frames(n, fs_in, fs_out) == y.shape[0]


def test_different_lengths_are_an_error_naming_both_stems_and_the_fix(tmp_path, rng):
    stems = [stem_toml("drums", write_stem(tmp_path, "drums", noise(rng, 1.0))),
             stem_toml("bass", write_stem(tmp_path, "bass", noise(rng, 0.5))),
             stem_toml("music", write_stem(tmp_path, "music", noise(rng, 0.75)))]
    path = session_file(tmp_path, stems)
    with pytest.raises(OutboardError) as exc:
        mix(path)
    msg = str(exc.value)
    assert "\n" not in msg and msg.startswith(f"{path}: stems:")
    assert "'bass' 0.500 s" in msg and "'drums' 1.000 s" in msg
    assert 'stem_lengths = "pad"' in msg


def test_pad_puts_silence_at_the_end_of_shorter_stems(tmp_path, rng):
    a, b = noise(rng, 1.0), noise(rng, 0.5)
    stems = [stem_toml("drums", write_stem(tmp_path, "drums", a), "mute = true"),
             stem_toml("bass", write_stem(tmp_path, "bass", b))]
    m = mix(session_file(tmp_path, stems, program='stem_lengths = "pad"'))
    assert m.frames == FS                                  # the longest, muted or not
    np.testing.assert_array_equal(m.data[:FS // 2], b.T)   # unchanged from time 0
    assert not m.data[FS // 2:].any()                      # silence after it
    assert m.stems[1]["padded_frames"] == FS // 2 and m.stems[1]["frames"] == FS // 2
    assert m.stems[0]["muted"] is True and m.stems[0]["peak_dbfs"] is None
    assert any("'bass': padded by 0.50 s" in note for note in m.notes)


def test_mono_stem_is_fed_to_both_channels(tmp_path, rng):
    x = noise(rng, 0.25, channels=1)
    m = mix(session_file(tmp_path, [stem_toml("vocals", write_stem(tmp_path, "vocals", x),
                                              "gain_db = -3.0")]))
    ref = x[0].astype(np.float64) * 10 ** (-3 / 20)
    np.testing.assert_allclose(m.data[:, 0], ref, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(m.data[:, 0], m.data[:, 1])
    assert any("mono" in note for note in m.notes)


def test_three_channel_stem_is_a_one_line_error_naming_the_file(tmp_path, rng):
    f = write_stem(tmp_path, "music", noise(rng, 0.1, channels=3))
    path = session_file(tmp_path, [stem_toml("music", f)])
    with pytest.raises(AudioFileError) as exc:
        mix(path)
    msg = str(exc.value)
    assert "\n" not in msg and "stems[0].file" in msg and f in msg
    assert "3 channels" in msg and "expected 2" in msg


def test_flac_stem_and_relative_paths_resolve_against_the_session_folder(tmp_path, rng,
                                                                        monkeypatch):
    x = np.round(noise(rng, 0.2) * 2 ** 23) / 2 ** 23     # exact in 24-bit FLAC
    f = write_stem(tmp_path, "bass", x, ext="flac")
    path = session_file(tmp_path, [stem_toml("bass", f)])
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    m = mix(path)
    np.testing.assert_array_equal(m.data, x.T)
    assert m.stems[0]["file"] == str(tmp_path / f)


def test_absolute_stem_path_is_used_as_is(tmp_path, rng):
    x = noise(rng, 0.1)
    f = tmp_path / write_stem(tmp_path, "music", x)
    sub = tmp_path / "sessions"
    sub.mkdir()
    m = mix(session_file(sub, [stem_toml("music", str(f))]))
    np.testing.assert_array_equal(m.data, x.T)


def test_bus_above_full_scale_is_noted_not_scaled(tmp_path):
    x = sine(100.0, FS, 0.2, peak_dbfs=-1.0, channels=2)
    stems = [stem_toml(n, write_stem(tmp_path, n, x)) for n in ("drums", "bass")]
    m = mix(session_file(tmp_path, stems))
    peak_db = 20 * np.log10(np.max(np.abs(m.data)))
    assert peak_db == pytest.approx(-1.0 + 20 * np.log10(2), abs=0.01)   # +5.02 dBFS
    assert any(f"{peak_db:+.2f} dBFS" in note and "clip" in note for note in m.notes)


def test_muted_stem_is_left_out_but_still_checked(tmp_path, rng):
    a, b = noise(rng, 0.2), noise(rng, 0.2)
    stems = [stem_toml("drums", write_stem(tmp_path, "drums", a), "mute = true"),
             stem_toml("bass", write_stem(tmp_path, "bass", b))]
    m = mix(session_file(tmp_path, stems))
    np.testing.assert_array_equal(m.data, b.T)
    (tmp_path / "stems" / "drums.wav").unlink()
    with pytest.raises(AudioFileError, match=r"stems\[0\]\.file"):
        mix(session_file(tmp_path, stems))


def test_all_stems_muted_is_an_error(tmp_path, rng):
    stems = [stem_toml("drums", write_stem(tmp_path, "drums", noise(rng, 0.1)), "mute = true")]
    path = session_file(tmp_path, stems)
    with pytest.raises(OutboardError, match=r"stems: all 1 stems are muted"):
        mix(path)


def test_session_without_stems_asks_for_an_input_mix(tmp_path):
    path = session_file(tmp_path, [])
    with pytest.raises(OutboardError) as exc:
        mix(path)
    assert str(exc.value) == f"{path}: the session has no [[stems]]; give --input MIX"


def test_missing_stem_file_names_the_path_and_key(tmp_path, rng):
    stems = [stem_toml("drums", write_stem(tmp_path, "drums", noise(rng, 0.1))),
             stem_toml("vocals", "stems/vox.wav")]
    path = session_file(tmp_path, stems)
    load_session(path)                       # loads without its audio
    with pytest.raises(AudioFileError) as exc:
        mix(path)
    msg = str(exc.value)
    assert "\n" not in msg and msg.startswith(f"{path}: stems[1].file: ")
    assert str(tmp_path / "stems" / "vox.wav") in msg and "no such file" in msg


# ------------------------------------------------------------------------ parsing


@pytest.mark.parametrize("extra,key,words", [
    ("gain = -3.0", "stems[0].gain", "did you mean 'gain_db'?"),
    ("gain_db = 30.0", "stems[0].gain_db", "-60..24 dB"),
    ("pan = 1.5", "stems[0].pan", "-1..1"),
    ("mute = 1", "stems[0].mute", "true or false"),
    ('chain = [{ kind = "compressor", ratio = 0.5 }]', "stems[0].chain[0].ratio", "1..100"),
    ('chain = [{ kind = "eq", bands = [{ type = "highpass", freq_hz = 5.0 }] }]',
     "stems[0].chain[0].bands[0].freq_hz", "10..40000 Hz"),
    ('chain = [{ kind = "gain", gain_db = 0.0 }, { kind = "hardware", sends = [3, 4], '
     'returns = [3, 4] }]', "stems[0].chain[1].kind", "belong in the master [[chain]]"),
    ('chain = { kind = "eq" }', "stems[0].chain", "expected an array"),
])
def test_stem_key_errors_name_the_key_path(tmp_path, extra, key, words):
    path = session_file(tmp_path, [stem_toml("drums", "stems/drums.wav", extra)])
    with pytest.raises(ConfigError) as exc:
        load_session(path)
    msg = str(exc.value)
    assert "\n" not in msg
    assert msg.startswith(f"{path}: {key}: "), msg
    assert words in msg, msg


def test_duplicate_stem_name_is_an_error(tmp_path):
    path = session_file(tmp_path, [stem_toml("drums", "a.wav"), stem_toml("bass", "b.wav"),
                                   stem_toml("drums", "c.wav")])
    with pytest.raises(ConfigError, match=r"stems\[2\]\.name: 'drums' is also the name of "
                                          r"stems\[0\]"):
        load_session(path)


@pytest.mark.parametrize("table,key", [
    ('[[stems]]\nname = ""\nfile = "a.wav"\n', "stems[0].name"),
    ('[[stems]]\nname = "a"\nfile = " "\n', "stems[0].file"),
    ('[[stems]]\nfile = "a.wav"\n', "stems[0].name"),
    ('[[stems]]\nname = "a"\n', "stems[0].file"),
    ('[stems]\nname = "a"\n', "stems"),
])
def test_stem_name_and_file_are_required_non_empty(tmp_path, table, key):
    path = session_file(tmp_path, [table])
    with pytest.raises(ConfigError) as exc:
        load_session(path)
    assert str(exc.value).startswith(f"{path}: {key}: ")


def test_bad_stem_lengths_value_is_an_error(tmp_path):
    path = session_file(tmp_path, [stem_toml("a", "a.wav")], program='stem_lengths = "trim"')
    with pytest.raises(ConfigError) as exc:
        load_session(path)
    assert str(exc.value) == (f"{path}: program.stem_lengths: expected one of 'error', 'pad', "
                              "got 'trim'")


def test_balance_on_a_mono_program_is_an_error(tmp_path):
    path = session_file(tmp_path, [stem_toml("a", "a.wav", "pan = 0.5")], inputs="[1]")
    with pytest.raises(ConfigError, match=r"stems\[0\]\.pan: balance needs a stereo program"):
        load_session(path)


def test_session_with_stems_loads_without_its_audio(tmp_path):
    stems = [stem_toml("drums", "stems/drums.wav",
                       'gain_db = -1.5\npan = -0.25\nchain = [{ kind = "eq", bands = '
                       '[{ type = "highpass", freq_hz = 30.0 }] }, { kind = "compressor", '
                       "threshold_db = -20.0, ratio = 2.0 }]"),
             stem_toml("vocals", "/abs/vocals.wav", "mute = true")]
    tail = '\n[[chain]]\nkind = "limiter"\nceiling_dbtp = -1.0\n'
    s = load_session(session_file(tmp_path, stems, program='stem_lengths = "pad"', tail=tail))
    assert s.program.stem_lengths == "pad"
    assert [(x.name, x.file, x.gain_db, x.pan, x.mute) for x in s.stems] == [
        ("drums", "stems/drums.wav", -1.5, -0.25, False),
        ("vocals", "/abs/vocals.wav", 0.0, 0.0, True)]
    assert [i.kind for i in s.stems[0].chain.inserts] == ["eq", "compressor"]
    assert s.stems[1].chain.inserts == []
    assert [i.kind for i in s.chain.inserts] == ["limiter"]


def test_session_without_stems_defaults(tmp_path):
    s = load_session(session_file(tmp_path, []))
    assert s.stems == [] and s.program.stem_lengths == "error"


def test_stems_example_session_loads():
    s = load_session(CONFIGS / "session_stems.toml")
    assert [x.name for x in s.stems] == ["drums", "bass", "music", "vocals"]
    assert all(x.file.startswith("stems/") and x.chain.inserts for x in s.stems)
    assert [i.kind for i in s.chain.inserts] == ["eq", "compressor", "limiter"]
    assert s.interface.embedded_jack and s.interface.sample_rate == 48000


def test_a_stem_compressors_gain_reduction_is_traced_for_the_report(tmp_path):
    """A stem compressor (RMS, hard knee, -30 dBFS, 3:1) on a steady 1 kHz sine at
    -10 dBFS peak (-13.01 dBFS RMS): the static curve says (30 - 13.01) * (1 - 1/3)
    = 11.33 dB of gain reduction; the mix's trace for "vocals: level" reads it,
    and the stem without dynamics has no trace."""
    t = np.arange(3 * FS) / FS
    a = np.tile(10 ** (-10 / 20) * np.sin(2 * np.pi * 1000 * t), (2, 1))
    comp = ('chain = [{ kind = "compressor", name = "level", threshold_db = -30.0, '
            'ratio = 3.0, knee_db = 0.0, detector = "rms", rms_window_ms = 50.0, '
            'attack_ms = 5.0, release_ms = 100.0 }]')
    stems = [stem_toml("vocals", write_stem(tmp_path, "vocals", a), comp),
             stem_toml("music", write_stem(tmp_path, "music", 0.5 * a))]
    m = mix(session_file(tmp_path, stems))
    assert list(m.gr_traces) == ["vocals: level"]
    tt, gr = m.gr_traces["vocals: level"]
    steady = gr[(tt > 0.5) & (tt < 2.8)]
    assert len(steady) >= 20
    assert np.median(steady) == pytest.approx((30.0 - 13.0103) * (1 - 1 / 3), abs=0.3)
