"""Deliverables from a print: each preset's loudness and true peak measured on
the file written by an independent meter (pyloudnorm; a 16x polyphase
oversampler from scipy for the true peak), rates, bit depths, dither, the
vinyl pre-master's unlimited gain, custom deliverables in a session, reports,
and batches over several processes."""

from __future__ import annotations

import json

import numpy as np
import pyloudnorm
import pytest
from conftest import session_toml
import soundfile as sf
from scipy import signal as ss

from host.offline.batch import plan, run_jobs
from host.cli import main
from host.model.release import EXTENSIONS, PRESETS

FS = 48000


def song(seconds: float = 8.0, seed: int = 2, level: float = 0.6) -> np.ndarray:
    """A small mix: kick drum every 0.5 s, gated hats, a two-note pad; stereo,
    (frames, 2) float64, about -20 LUFS."""
    rng = np.random.default_rng(seed)
    n = int(seconds * FS)
    t = np.arange(n) / FS
    kick = np.zeros(n)
    for b in np.arange(0, seconds, 0.5):
        i = int(b * FS)
        m = min(n - i, int(0.25 * FS))
        tt = np.arange(m) / FS
        kick[i:i + m] += np.sin(2 * np.pi * (50 + 100 * np.exp(-tt * 30)) * tt) * np.exp(-tt * 12)
    hat = rng.standard_normal(n) * 0.05 * (np.sin(2 * np.pi * 8 * t) > 0.7)
    pad = 0.15 * np.sin(2 * np.pi * 220 * t) + 0.1 * np.sin(2 * np.pi * 330 * t + 1)
    x = np.stack([0.5 * kick + hat + pad, 0.5 * kick + 0.8 * hat + 0.9 * pad], 1)
    return x * level


def true_peak_16x(x: np.ndarray) -> float:
    """dBTP by 16x polyphase oversampling (scipy), an independent reference for
    the 4x BS.1770 meter the host uses."""
    up = ss.resample_poly(x, 16, 1, axis=0)
    return 20 * np.log10(np.max(np.abs(up)))


@pytest.fixture(scope="module")
def delivered(tmp_path_factory):
    """Every built-in preset rendered from one print, in one batch call."""
    d = tmp_path_factory.mktemp("deliver")
    src = d / "song.wav"
    sf.write(src, song(), FS, subtype="FLOAT")
    out = d / "out"
    code = main(["deliver", str(src), "--preset", ",".join(PRESETS), "--out", str(out),
                 "--jobs", "2", "-q"])
    assert code == 0
    return src, out


@pytest.mark.parametrize("preset", ["streaming", "apple", "broadcast", "club"])
def test_each_loudness_preset_meets_its_target_and_ceiling_on_the_file_written(
        delivered, preset):
    src, out = delivered
    d = PRESETS[preset]
    y, fs = sf.read(out / f"song.{preset}.wav")
    assert fs == (d.sample_rate or FS)
    assert sf.info(out / f"song.{preset}.wav").subtype == "PCM_24"
    assert pyloudnorm.Meter(fs).integrated_loudness(y) == pytest.approx(d.target_lufs, abs=0.1)
    assert true_peak_16x(y) <= d.ceiling_dbtp + 0.1
    rep = json.loads((out / f"song.{preset}.json").read_text())
    assert rep["summary"]["integrated_lufs"] == pytest.approx(d.target_lufs, abs=0.06)
    assert rep["deliverable"]["true_peak_dbtp"] <= d.ceiling_dbtp + 0.02
    png = (out / f"song.{preset}.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_cd_is_44k1_16_bit_dithered_under_its_ceiling_at_the_print_level(delivered):
    """CD: 44.1 kHz, 16-bit; the print's loudness kept (only true peaks over
    -0.3 dBTP limited); dither: the quantisation error is noise at the TPDF
    level, not correlated with the program."""
    src, out = delivered
    f = out / "song.cd.wav"
    info = sf.info(f)
    assert (info.samplerate, info.subtype) == (44100, "PCM_16")
    y, _ = sf.read(f)
    x, _ = sf.read(src)
    assert true_peak_16x(y) <= -0.3 + 0.1
    lx = pyloudnorm.Meter(FS).integrated_loudness(x)
    assert pyloudnorm.Meter(44100).integrated_loudness(y) == pytest.approx(lx, abs=0.2)


def test_cd_dither_keeps_a_signal_below_one_lsb(tmp_path):
    """A 1 kHz sine at -100 dBFS (a third of a 16-bit LSB) survives the CD
    deliverable at its level (dithered), where plain rounding would erase it."""
    n = 4 * 44100
    t = np.arange(n) / 44100
    x = np.zeros((n, 2))
    x[:, :] = (10 ** (-100 / 20) * np.sin(2 * np.pi * 1000 * t))[:, None]
    x[:n // 8] = (0.5 * np.sin(2 * np.pi * 100 * t[:n // 8]))[:, None]  # a louder start
    src = tmp_path / "quiet.wav"
    sf.write(src, x, 44100, subtype="FLOAT")
    assert main(["deliver", str(src), "--preset", "cd", "--out", str(tmp_path), "-q",
                 "--no-report"]) == 0
    y, _ = sf.read(tmp_path / "quiet.cd.wav")
    tail = y[-3 * 44100:, 0]
    ref = np.sin(2 * np.pi * 1000 * t)[-3 * 44100:]
    amp = 2 * np.dot(tail, ref) / len(ref)
    assert 20 * np.log10(abs(amp)) == pytest.approx(-100.0, abs=1.5)
    assert np.abs(np.round(x[-3 * 44100:] * 32768)).max() == 0  # rounding would erase it


def test_vinyl_premaster_is_a_pure_gain_to_its_headroom_without_limiting(delivered):
    """Vinyl: no limiter: the file is the print times one gain (to 24-bit
    precision), with its true peak at -6 dBTP."""
    src, out = delivered
    y, _ = sf.read(out / "song.vinyl.wav")
    x, _ = sf.read(src)
    g = np.dot(y[:, 0], x[:, 0]) / np.dot(x[:, 0], x[:, 0])
    assert 20 * np.log10(np.max(np.abs(y - g * x)) + 1e-30) <= -130.0
    assert true_peak_16x(y) == pytest.approx(-6.0, abs=0.1)
    rep = json.loads((out / "song.vinyl.json").read_text())
    assert rep["deliverable"]["limiter"] is False
    assert rep["gain_reduction"] == {} or all(v["max_db"] == 0 for v in
                                              rep["gain_reduction"].values())


SESSION = session_toml(interface={"hostapi": None, "embedded_jack": None}, release={
    "title": "my song", "print": "song.wav", "folder": "delivered", "presets": ["streaming"],
    "deliverables": [
        {"name": "bandcamp", "preset": "cd", "target_lufs": -12.0, "format": "flac"},
        {"name": "hires", "sample_rate": 96000, "bit_depth": "24", "ceiling_dbtp": -2.0,
         "target_lufs": -16.0}]})


def test_a_session_delivers_its_release_with_custom_deliverables(tmp_path):
    src = tmp_path / "song.wav"
    sf.write(src, song(6.0), FS, subtype="FLOAT")
    sess = tmp_path / "s.toml"
    sess.write_text(SESSION)
    assert main(["deliver", str(sess), "-q", "--jobs", "1"]) == 0
    folder = tmp_path / "delivered"
    names = sorted(p.name for p in folder.iterdir())
    assert names == sorted(f"my_song.{n}.{e}" for n, x in
                           (("streaming", "wav"), ("bandcamp", "flac"), ("hires", "wav"))
                           for e in (x, "json", "png"))
    y, fs = sf.read(folder / "my_song.bandcamp.flac")
    assert fs == 44100 and sf.info(folder / "my_song.bandcamp.flac").subtype == "PCM_16"
    assert pyloudnorm.Meter(fs).integrated_loudness(y) == pytest.approx(-12.0, abs=0.1)
    assert true_peak_16x(y) <= -0.3 + 0.1
    y, fs = sf.read(folder / "my_song.hires.wav")
    assert fs == 96000
    assert pyloudnorm.Meter(fs).integrated_loudness(y) == pytest.approx(-16.0, abs=0.1)
    assert true_peak_16x(y) <= -2.0 + 0.1


def test_a_batch_of_prints_runs_over_processes_and_a_bad_one_costs_only_itself(tmp_path):
    good = []
    for i in range(3):
        p = tmp_path / f"track{i}.wav"
        sf.write(p, song(4.0, seed=i, level=0.3 + 0.2 * i), FS, subtype="FLOAT")
        good.append(p)
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt " + bytes(20))
    jobs = plan(good + [bad], "streaming,vinyl", tmp_path / "out")
    assert len(jobs) == 8
    results = run_jobs(jobs, workers=2, report=False, show=False)
    errors = [e for _, _, e in results if e]
    assert len(errors) == 2 and all("broken.wav" in e for e in errors)
    for p in good:
        y, _ = sf.read(tmp_path / "out" / f"{p.stem}.streaming.wav")
        assert pyloudnorm.Meter(FS).integrated_loudness(y) == pytest.approx(-14.0, abs=0.1)
    assert not [p for p in (tmp_path / "out").iterdir() if "broken" in p.name or
                ".part" in p.name or p.name.startswith(".")]


@pytest.mark.parametrize(("args", "want"), [
    (["--preset", "stremaing"], "--preset: unknown preset 'stremaing'"),
    (["--jobs", "0"], "--jobs: expected"),
])
def test_bad_deliver_requests_are_one_line(tmp_path, capsys, args, want):
    src = tmp_path / "song.wav"
    sf.write(src, song(1.0), FS, subtype="FLOAT")
    assert main(["deliver", str(src), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and want in err, err


def test_a_session_without_its_print_says_to_print_first(tmp_path, capsys):
    sess = tmp_path / "s.toml"
    sess.write_text(SESSION)
    assert main(["deliver", str(sess)]) == 2
    err = capsys.readouterr().err.strip()
    assert "song.wav: no such print" in err and "outboard print" in err


@pytest.mark.parametrize(("table", "key"), [
    ('presets = ["streamin"]', "release.presets[0]"),
    ('[[release.deliverables]]\nname = "x"\ntarget_lufs = -2.0', "release.deliverables[0]."
     "target_lufs"),
    ('[[release.deliverables]]\nname = "x"\nlimiter = true\npeak_dbtp = -6.0',
     "release.deliverables[0].peak_dbtp"),
    ('[[release.deliverables]]\nname = "x y"', "release.deliverables[0].name"),
    ('[[release.deliverables]]\nname = "x"\nformat = "flac"\nbit_depth = "32f"',
     "release.deliverables[0].bit_depth"),
    ('[[release.deliverables]]\nname = "x"\nbitdepth = "16"', "did you mean 'bit_depth'"),
])
def test_release_errors_name_the_key(tmp_path, table, key):
    from host.errors import ConfigError
    from host.model.session import load_session

    head = SESSION.split("[release]")[0]
    body = "[release]\n" + table if not table.startswith("[[") else "[release]\n" + table
    p = tmp_path / "s.toml"
    p.write_text(head + body)
    with pytest.raises(ConfigError) as e:
        load_session(p)
    assert key in str(e.value) and "\n" not in str(e.value)


def test_deliverables_are_reports_a_person_can_read(delivered):
    """The JSON holds the figures and the PNG exists for every deliverable; the
    figures in the JSON are those of the file (not the settings)."""
    src, out = delivered
    for name, d in PRESETS.items():
        f = out / f"song.{name}{EXTENSIONS[d.format]}"
        rep = json.loads(f.with_suffix(".json").read_text())
        y, fs = sf.read(f)
        ref = pyloudnorm.Meter(fs).integrated_loudness(y)
        assert rep["summary"]["integrated_lufs"] == pytest.approx(ref, abs=0.1)
        assert rep["deliverable"]["file"] == str(f)
        assert f.with_suffix(".png").stat().st_size > 20000


def test_files_get_the_permissions_a_plain_write_would_give(delivered):
    """Temporary files are owner-only; what is renamed into place is not: the
    deliverables and reports are 0o666 less the umask, like `open(path, "w")`."""
    import os

    src, out = delivered
    mask = os.umask(0o022)
    os.umask(mask)
    for f in out.iterdir():
        assert f.stat().st_mode & 0o777 == 0o666 & ~mask, f


# ---- refusals before any work, and failed jobs that leave nothing ------------------------


def _one_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("outboard: error: "), err
    return err


def test_out_naming_an_existing_file_is_one_line(tmp_path, capsys):
    src = tmp_path / "song.wav"
    sf.write(src, song(1.0), FS, subtype="FLOAT")
    (tmp_path / "notes.txt").write_text("not a folder")
    for out in (tmp_path / "notes.txt", tmp_path / "notes.txt" / "sub"):
        assert main(["deliver", str(src), "--out", str(out), "-q"]) == 2
        assert f"--out: {out} is a file (or inside one); expected a folder" in _one_line(capsys)


@pytest.fixture
def read_only_folder(tmp_path):
    """A folder nobody may write in: a read-only tmpfs as root (root ignores
    permissions), a 0o555 folder otherwise.  Yields (folder, a print in it)."""
    import os
    import subprocess

    folder = tmp_path / "ro"
    folder.mkdir()
    mounted = os.geteuid() == 0 and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(folder)],
        capture_output=True).returncode == 0
    src = folder / "song.wav"
    sf.write(src, song(1.0), FS, subtype="FLOAT")
    if mounted:
        subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
    else:
        if os.geteuid() == 0:
            pytest.skip("cannot mount a read-only tmpfs, and root ignores permissions")
        folder.chmod(0o555)
    try:
        yield folder, src
    finally:
        if mounted:
            subprocess.run(["umount", str(folder)], check=True)
        else:
            folder.chmod(0o755)


def test_a_read_only_print_folder_without_out_is_one_line(read_only_folder, capsys):
    """The deliverables' folder beside the print cannot be made (was an OSError
    traceback): the message names it and says how to choose another."""
    folder, src = read_only_folder
    assert main(["deliver", str(src), "--preset", "cd", "-q"]) == 2
    err = _one_line(capsys)
    assert f"{folder / 'deliverables'}: cannot be created (" in err
    assert err.endswith("; choose another with --out")


def test_a_failed_job_leaves_nothing_and_the_others_are_kept(tmp_path, monkeypatch):
    """A one-sample print: the loudness presets refuse it before writing; the
    others are written with their reports.  A report that fails takes its
    deliverable with it (the audio stayed on disk)."""
    from host.offline import deliverables

    src = tmp_path / "blip.wav"
    sf.write(src, np.array([[0.1, -0.1]], dtype=np.float32), FS, subtype="FLOAT")
    results = run_jobs(plan([src], "streaming,cd,vinyl", tmp_path / "out"), workers=1,
                       show=False)
    errors = {j.deliverable.name: e for j, _, e in results if e}
    assert list(errors) == ["streaming"] and "shorter than 400 ms" in errors["streaming"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        f"blip.{n}.{e}" for n in ("cd", "vinyl") for e in ("json", "png", "wav")]

    def broken(json_path, png_path, report, title):
        json_path.write_text("{")  # half a report, then the failure
        raise RuntimeError("the plot failed")

    monkeypatch.setattr(deliverables, "write_report", broken)
    results = run_jobs(plan([src], "cd", tmp_path / "again"), workers=1, show=False)
    assert "the plot failed" in results[0][2]
    assert list((tmp_path / "again").iterdir()) == []

    def full(json_path, png_path, report, title):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(deliverables, "write_report", full)
    results = run_jobs(plan([src], "cd", tmp_path / "full"), workers=1, show=False)
    assert results[0][2] == f"{tmp_path / 'full' / 'blip.cd.json'}: cannot write: no space " \
        "left on device"
    assert list((tmp_path / "full").iterdir()) == []


def test_a_title_with_punctuation_and_accents_names_its_files_safely(tmp_path):
    src = tmp_path / "song.wav"
    sf.write(src, song(1.0), FS, subtype="FLOAT")
    sess = tmp_path / "s.toml"
    sess.write_text(session_toml(interface={"hostapi": None, "embedded_jack": None}, release={
        "title": "Björk: Vol. 2 (2024 Remaster)", "print": "song.wav", "folder": "delivered",
        "presets": ["cd"]}))
    assert main(["deliver", str(sess), "-q", "--jobs", "1", "--no-report"]) == 0
    assert [p.name for p in (tmp_path / "delivered").iterdir()] == [
        "Björk_Vol._2_(2024_Remaster).cd.wav"]


def test_a_batch_that_does_not_fit_is_refused_with_the_figures_before_any_job(
        tmp_path, small_disk, capsys):
    src = tmp_path / "song.wav"
    sf.write(src, song(1.0), FS, subtype="FLOAT")
    assert main(["deliver", str(src), "--preset", "streaming,cd", "--out", str(small_disk),
                 "-q"]) == 2
    err = _one_line(capsys)
    # 48000 frames x 2 channels x 3 bytes (+ 4 kB) and 44100 x 2 x 2 (+ 4 kB)
    assert err == (f"outboard: error: {small_disk / 'song.streaming.wav'} and 1 more: not "
                   f"enough space in {small_disk}: about 472.6 kB to write, 262.1 kB free")
    assert list(small_disk.iterdir()) == []
