"""`outboard master` and `outboard analyze` end to end, checked with
independent meters (pyloudnorm for loudness, scipy 16x oversampling for true
peak), and their refusals of bad input: one line, exit 2, nothing written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf
from scipy import signal

from host.cli import main


def program(fs: int = 48000, seconds: float = 8.0, level_db: float = -24.0,
            seed: int = 5) -> np.ndarray:
    """A music-like stereo program, (frames, 2): chords, a bass line, and
    noise-burst drums with fast decays; roughly ``level_db`` RMS."""
    rng = np.random.default_rng(seed)
    n = int(fs * seconds)
    t = np.arange(n) / fs
    x = np.zeros((n, 2))
    for f, a, pan in ((110, 0.5, 0.5), (220, 0.3, 0.3), (277, 0.25, 0.7), (330, 0.25, 0.4),
                      (1760, 0.05, 0.6)):
        env = 0.6 + 0.4 * np.sin(2 * np.pi * 0.25 * t + f)
        s = a * env * np.sin(2 * np.pi * f * t)
        x[:, 0] += s * (1 - pan)
        x[:, 1] += s * pan
    beat = int(fs * 0.5)
    for start in range(0, n - beat, beat):
        hit = rng.standard_normal(beat) * np.exp(-np.arange(beat) / (0.03 * fs))
        x[start:start + beat] += (hit * 0.8)[:, None]
    x *= 10 ** (level_db / 20) / np.sqrt(np.mean(x**2))
    return x.astype(np.float32)


def true_peak_dbtp(x: np.ndarray) -> float:
    """Independent true peak: 16x polyphase oversampling (scipy)."""
    up = signal.resample_poly(x.astype(np.float64), 16, 1, axis=0)
    return 20 * np.log10(np.max(np.abs(up)))


@pytest.fixture
def mix(tmp_path) -> Path:
    p = tmp_path / "mix.wav"
    sf.write(p, program(), 48000, subtype="FLOAT")
    return p


def run(args: list[str], capsys) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(("target", "ceiling"), [(-14.0, -1.0), (-9.0, -0.3), (-20.0, -2.0)])
def test_master_reaches_target_loudness_under_the_true_peak_ceiling(
        mix, tmp_path, capsys, target, ceiling):
    out = tmp_path / "master.wav"
    report = tmp_path / "report.json"
    code, _, err = run(["master", mix, out, "--target-lufs", target, "--ceiling-dbtp",
                        ceiling, "--report", report, "-q"], capsys)
    assert code == 0, err
    y, fs = sf.read(out)
    assert sf.info(out).subtype == "PCM_24"
    lufs = pyloudnorm.Meter(fs).integrated_loudness(y)
    assert lufs == pytest.approx(target, abs=0.5)
    assert true_peak_dbtp(y) <= ceiling + 0.1
    rep = json.loads(report.read_text())
    assert rep["target_reached"] is True
    assert rep["output_analysis"]["integrated_lufs"] == pytest.approx(lufs, abs=0.1)
    assert [s["kind"] for s in rep["chain"]] == ["eq", "limiter"]
    assert report.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_master_converts_rate_and_bit_depth_and_format_by_extension(mix, tmp_path, capsys):
    out = tmp_path / "cd.flac"
    code, _, err = run(["master", mix, out, "--target-lufs", "-14", "--sample-rate", "44100",
                        "--bit-depth", "16", "-q"], capsys)
    assert code == 0, err
    info = sf.info(out)
    assert (info.format, info.subtype, info.samplerate) == ("FLAC", "PCM_16", 44100)
    assert info.frames == pytest.approx(8.0 * 44100, abs=2)
    y, fs = sf.read(out, dtype="int16")
    # 16-bit words, dithered (not truncated): low bits are used
    assert len(np.unique(y[:, 0] & 0xF)) == 16
    # the 1760 Hz partial stays at 1760 Hz after 48k -> 44.1k
    f, p = signal.welch(y[:, 0].astype(float), fs, nperseg=1 << 14)
    band = (f > 1500) & (f < 2000)
    assert f[band][np.argmax(p[band])] == pytest.approx(1760, abs=3)


def test_master_with_a_chain_file_uses_its_master_defaults(mix, tmp_path, capsys):
    chain = Path(__file__).parents[2] / "configs" / "stereo_master.toml"
    out = tmp_path / "m.aiff"
    code, _, err = run(["master", mix, out, "--chain", chain, "-q"], capsys)
    assert code == 0, err
    info = sf.info(out)
    assert (info.format, info.subtype, info.samplerate) == ("AIFF", "PCM_16", 44100)
    y, fs = sf.read(out)
    assert pyloudnorm.Meter(fs).integrated_loudness(y) == pytest.approx(-12.0, abs=0.5)
    assert true_peak_dbtp(y) <= -1.0 + 0.1


def test_analyze_json_agrees_with_pyloudnorm(mix, capsys):
    code, out, err = run(["analyze", mix, "--json"], capsys)
    assert code == 0, err
    r = json.loads(out)
    x, fs = sf.read(mix)
    assert r["integrated_lufs"] == pytest.approx(pyloudnorm.Meter(fs).integrated_loudness(x),
                                                 abs=0.1)
    assert r["sample_peak_dbfs"] == pytest.approx(20 * np.log10(np.abs(x).max()), abs=0.01)
    assert r["true_peak_dbtp"] == pytest.approx(true_peak_dbtp(x), abs=0.3)
    assert r["true_peak_dbtp"] >= r["sample_peak_dbfs"] - 0.01
    for key in ("loudness_range_lu", "momentary_max_lufs", "short_term_max_lufs"):
        assert isinstance(r[key], float)
    assert r["momentary_max_lufs"] >= r["short_term_max_lufs"] >= r["integrated_lufs"] - 3
    assert (r["duration_s"], r["sample_rate"], r["channels"]) == (8.0, 48000, 2)


def test_analyze_table_is_readable(mix, capsys):
    code, out, _ = run(["analyze", mix], capsys)
    assert code == 0
    assert "Integrated loudness" in out and "LUFS" in out and "True peak" in out


def test_console_script_runs(mix):
    exe = Path(sys.executable).parent / "outboard"
    r = subprocess.run([str(exe), "analyze", str(mix), "--json"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "integrated_lufs" in json.loads(r.stdout)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".part" in p.name or ".probe" in p.name)


def bad_inputs(tmp_path: Path) -> dict[str, tuple[list, str]]:
    good = tmp_path / "good.wav"
    sf.write(good, program(seconds=2.0), 48000, subtype="PCM_24")
    text = tmp_path / "notes.wav"
    text.write_text("these are not samples\n" * 20)
    trunc = tmp_path / "trunc.wav"
    trunc.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    goodflac = tmp_path / "good.flac"
    sf.write(goodflac, program(seconds=2.0), 48000, subtype="PCM_16")
    truncflac = tmp_path / "trunc.flac"
    truncflac.write_bytes(goodflac.read_bytes()[: goodflac.stat().st_size // 2])
    goodflac.unlink()
    nan = tmp_path / "nan.wav"
    x = program(seconds=1.0)
    x[1000, 1] = np.nan
    sf.write(nan, x, 48000, subtype="FLOAT")
    low = tmp_path / "4k.wav"
    sf.write(low, program(fs=4000, seconds=1.0), 4000, subtype="FLOAT")
    badchain = tmp_path / "bad.toml"
    badchain.write_text('[[chain]]\nkind = "compressor"\nratio = 200\n')
    many = tmp_path / "many.toml"
    many.write_text('[[chain]]\nkind = "gain"\ngain_db = 0.0\n' * 1000)
    out = tmp_path / "out.wav"
    return {
        "unreadable": (["master", text, out], f"{text}: not a readable audio file"),
        "truncated": (["master", trunc, out], f"{trunc}: truncated"),
        "truncated flac": (["master", truncflac, out], "truncated"),
        "missing": (["master", tmp_path / "nope.wav", out], "nope.wav: no such file"),
        "nan": (["master", nan, out], f"{nan}: 1 NaN/Inf samples (first at channel 2"),
        "same": (["master", good, good], f"{good}: is the input file"),
        "unknown format": (["master", good, tmp_path / "out.mp3"],
                           "unknown output format '.mp3'"),
        "flac float": (["master", good, tmp_path / "o.flac", "--bit-depth", "32f"],
                       "FLAC cannot store 32f-bit audio"),
        "no folder": (["master", good, tmp_path / "no" / "such" / "out.wav"],
                      "folder " + str(tmp_path / "no" / "such") + " does not exist"),
        "unwritable": (["master", good, "/proc/outboard-test.wav"], "/proc/outboard-test.wav"),
        "chain range": (["master", good, out, "--chain", badchain],
                        f"{badchain}: chain[0].ratio: expected a number 1..100"),
        "target range": (["master", good, out, "--target-lufs", "3"],
                         "--target-lufs: expected -40..-5 LUFS"),
        "analyze truncated": (["analyze", trunc], f"{trunc}: truncated"),
        "analyze 4 kHz": (["analyze", low], f"{low}: sample rate 4000 Hz; expected "
                          "8000..768000 Hz"),
        "master 4 kHz": (["master", low, out, "--sample-rate", "48000"],
                         f"{low}: sample rate 4000 Hz"),
        "1000 inserts": (["master", good, out, "--chain", many],
                         f"{many}: chain: expected at most 32 inserts, got 1000"),
    }


CASES = ["unreadable", "truncated", "truncated flac", "missing", "nan", "same", "unknown format",
         "flac float",
         "no folder", "unwritable", "chain range", "target range", "analyze truncated",
         "analyze 4 kHz", "master 4 kHz", "1000 inserts"]


@pytest.mark.parametrize("case", CASES)
def test_bad_input_gets_one_line_error_and_nothing_is_written(tmp_path, capsys, case):
    args, needle = bad_inputs(tmp_path)[case]
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    code, out, err = run(args, capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("outboard: error: "), err
    assert needle in lines[0]
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    assert after == before  # inputs untouched, no output, no temporary left behind
    assert leftovers(tmp_path) == []


def test_failed_write_keeps_the_previous_output_intact(mix, tmp_path, capsys, monkeypatch):
    out = tmp_path / "master.wav"
    out.write_bytes(b"previous master")

    def boom(self, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(sf.SoundFile, "write", boom)
    code, _, err = run(["master", mix, out, "-q"], capsys)
    assert code == 2 and f"{out}: cannot write: no space left on device" in err
    assert out.read_bytes() == b"previous master"
    assert leftovers(tmp_path) == []


def test_a_one_sample_file_masters_with_its_report(tmp_path, capsys):
    """Its spectrum divided by a window of zeros (ZeroDivisionError)."""
    src = tmp_path / "one.wav"
    sf.write(src, np.array([[0.1, -0.1]], dtype=np.float32), 48000, subtype="FLOAT")
    out, rep = tmp_path / "one.master.wav", tmp_path / "one.json"
    code, _, err = run(["master", src, out, "--report", rep, "-q"], capsys)
    assert code == 0, err
    assert sf.info(out).frames == 1
    r = json.loads(rep.read_text())
    assert r["output_analysis"]["integrated_lufs"] is None
    assert rep.with_suffix(".png").stat().st_size > 0


def test_a_folder_without_room_is_refused_with_the_figures_before_the_work(
        mix, small_disk, capsys, monkeypatch):
    """8 s of 24-bit stereo (2.3 MB) on a 256 KiB disk: refused from its length
    (frames x channels x bytes per sample) before any processing."""
    from host.offline import render

    def no_work(*a, **k):
        raise AssertionError("the chain ran")

    monkeypatch.setattr(render.Chain, "process", no_work)
    out = small_disk / "m.wav"
    code, _, err = run(["master", mix, out, "-q"], capsys)
    assert code == 2 and err.strip() == (f"outboard: error: {out}: not enough space in "
                                         f"{small_disk}: about 2.3 MB to write, 262.1 kB free")
    assert list(small_disk.iterdir()) == []


def test_a_disk_that_fills_while_writing_says_no_space_left_on_device(mix, small_disk, capsys,
                                                                     monkeypatch):
    """libsndfile says only "System error"; the line says what it was, and
    nothing is left on the disk."""
    from host.offline import render

    monkeypatch.setattr(render, "check_space", lambda files: None)  # as if another writer
    out = small_disk / "m.wav"                                       # filled it meanwhile
    code, _, err = run(["master", mix, out, "-q"], capsys)
    assert code == 2 and err.strip() == f"outboard: error: {out}: cannot write: no space " \
        "left on device"
    assert list(small_disk.iterdir()) == []


def test_a_disk_that_fills_before_the_report_says_no_space_left_on_device(mix, tmp_path, capsys,
                                                                         monkeypatch):
    from pathlib import Path as P

    real = P.write_text

    def full(self, *a, **k):
        if self.name.endswith(".json"):
            raise OSError(28, "No space left on device")
        return real(self, *a, **k)

    monkeypatch.setattr(P, "write_text", full)
    rep = tmp_path / "r.json"
    code, _, err = run(["master", mix, tmp_path / "m.wav", "--report", rep, "-q"], capsys)
    assert code == 2 and err.strip() == f"outboard: error: {rep}: cannot write: no space left " \
        "on device"
