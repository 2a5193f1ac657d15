"""No command writes over a file it reads: every output (masters, reports and
their plots, prints, recordings, deliverables, measurement and fingerprint
stores, recall sheets) is refused, in one line and before any work, when it
resolves to an input, a stem, a session, a chain or a device profile, under any
name (the same path, a symlink, a hard link, a path through ``..``).  Each case
checks that the file read is untouched and that nothing was written.

The issue's cases: ``master v.wav o.wav --report v.wav`` replaced the mix with
JSON, ``--report o.wav`` the master just written; ``print`` with ``-o`` a stem,
or ``[release] print`` a stem, overwrote it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import soundfile as sf

from conftest import write_session

from host.cli import main

FS = 48000
ROOT = Path(__file__).resolve().parents[2]


def wav(path: Path, seconds: float = 0.5) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    x = np.random.default_rng(1).standard_normal((int(seconds * FS), 2)) * 0.05
    sf.write(path, x.astype(np.float32), FS, format="WAV", subtype="FLOAT")
    return path


def refused(args: list, capsys, *, want: str, untouched: list[Path], folder: Path) -> None:
    """Exit 2 with one line containing ``want``; ``untouched`` byte for byte as
    before; no new file in ``folder`` (temporary files included)."""
    before = {p: p.read_bytes() for p in untouched}
    listing = sorted(str(p) for p in folder.rglob("*"))
    code = main([str(a) for a in args])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and want in err, err
    for p, data in before.items():
        assert p.read_bytes() == data, f"{p} was changed"
    assert sorted(str(p) for p in folder.rglob("*")) == listing


# ---- master ------------------------------------------------------------------------------

def test_master_report_must_be_json_never_the_mix_nor_the_master(tmp_path, capsys):
    mix = wav(tmp_path / "v.wav")
    out = tmp_path / "o.wav"
    for report in ("v.wav", "o.wav"):
        refused(["master", mix, out, "--report", tmp_path / report], capsys, untouched=[mix],
                folder=tmp_path, want=f"--report: expected a .json file (its plots go beside "
                f"it as .png), got '{tmp_path / report}'")


def test_master_report_that_is_the_input_under_another_name_is_refused(tmp_path, capsys):
    mix = wav(tmp_path / "mix.json")     # a WAV by its content, whatever its name
    os.link(mix, tmp_path / "r.json")
    refused(["master", mix, tmp_path / "o.wav", "--report", tmp_path / "r.json"], capsys,
            untouched=[mix], folder=tmp_path,
            want=f"{tmp_path / 'r.json'}: is {mix}, the input file; choose another report name")


def test_master_report_plot_over_the_chain_file_is_refused(tmp_path, capsys):
    mix = wav(tmp_path / "mix.wav")
    chain = tmp_path / "chain.png"        # a TOML chain under an odd name
    chain.write_text('[[chain]]\nkind = "gain"\ngain_db = -1.0\n')
    refused(["master", mix, tmp_path / "o.wav", "--chain", chain, "--report",
             tmp_path / "chain.json"], capsys, untouched=[mix, chain], folder=tmp_path,
            want=f"{chain}: is the chain file; choose another report's plot name")


def test_master_output_through_a_symlinked_folder_onto_the_input_is_refused(tmp_path, capsys):
    mix = wav(tmp_path / "mix.wav")
    (tmp_path / "alias").symlink_to(tmp_path, target_is_directory=True)
    refused(["master", mix, tmp_path / "alias" / "x" / ".." / "mix.wav"], capsys,
            untouched=[mix], folder=tmp_path, want=f"is {mix}, the input file; choose another "
            "output name")


# ---- print and run -----------------------------------------------------------------------

STEMS = [{"name": "drums", "file": "stems/drums.wav"}, {"name": "bass", "file": "stems/out.wav"}]


def stems_session(tmp_path: Path, release: dict | None = None) -> Path:
    wav(tmp_path / "stems" / "drums.wav")
    wav(tmp_path / "stems" / "out.wav")
    return write_session(tmp_path / "song.toml", stems=STEMS, release=release)


def test_print_onto_a_stem_is_refused(tmp_path, capsys):
    sess = stems_session(tmp_path)
    stems = [tmp_path / "stems" / "drums.wav", tmp_path / "stems" / "out.wav"]
    refused(["print", sess, "-o", tmp_path / "stems" / "out.wav", "-q"], capsys,
            untouched=stems, folder=tmp_path,
            want="stems/out.wav: is the file of stem 'bass' (stems[1].file); choose another "
                 "print name")


def test_release_print_naming_a_stem_is_refused(tmp_path, capsys):
    sess = stems_session(tmp_path, {"print": "stems/drums.wav"})
    refused(["print", sess, "-q"], capsys, untouched=[tmp_path / "stems" / "drums.wav"],
            folder=tmp_path, want="is the file of stem 'drums' (stems[0].file)")


def test_print_onto_a_hard_link_or_symlink_of_a_stem_is_refused(tmp_path, capsys):
    sess = stems_session(tmp_path)
    drums = tmp_path / "stems" / "drums.wav"
    os.link(drums, tmp_path / "hard.wav")
    (tmp_path / "soft.wav").symlink_to(drums)
    for name in ("hard.wav", "soft.wav"):
        refused(["print", sess, "-o", tmp_path / name, "-q"], capsys, untouched=[drums],
                folder=tmp_path, want=f"{tmp_path / name}: is {drums}, the file of stem 'drums'")


def test_a_prints_report_or_incomplete_file_onto_a_read_file_is_refused(tmp_path, capsys):
    sess = stems_session(tmp_path)
    store = tmp_path / "song.measured.json"
    store.write_text('{"inserts": {}}\n')
    refused(["print", sess, "-o", tmp_path / "song.measured.wav", "-q"], capsys,
            untouched=[store], folder=tmp_path,
            want=f"{store}: is the session's measurement store; choose another report name")
    wav(tmp_path / "take.incomplete.wav")
    write_session(sess, stems=[STEMS[0], {"name": "bass", "file": "take.incomplete.wav"}])
    refused(["print", sess, "-o", tmp_path / "take.wav", "-q"], capsys,
            untouched=[tmp_path / "take.incomplete.wav"], folder=tmp_path,
            want="is the file of stem 'bass' (stems[1].file); choose another incomplete "
                 "print name")


def test_print_onto_the_session_file_or_the_input_is_refused(tmp_path, capsys):
    mix = wav(tmp_path / "mix.wav")
    sess = write_session(tmp_path / "s.toml")
    (tmp_path / "s.wav").symlink_to(sess)
    refused(["print", sess, "--input", mix, "-o", tmp_path / "s.wav", "-q"], capsys,
            untouched=[sess], folder=tmp_path, want=f"is {sess}, the session file")
    refused(["print", sess, "--input", mix, "-o", mix, "-q"], capsys, untouched=[mix],
            folder=tmp_path, want=f"{mix}: is the input file; choose another print name")


def test_run_record_onto_a_stem_is_refused(tmp_path, capsys):
    sess = stems_session(tmp_path)
    drums = tmp_path / "stems" / "drums.wav"
    refused(["run", sess, "--record", tmp_path / "stems" / ".." / "stems" / "drums.wav", "-q"],
            capsys, untouched=[drums], folder=tmp_path,
            want="is the file of stem 'drums' (stems[0].file); choose another recording name")


def test_a_device_profile_is_never_an_output(tmp_path, capsys):
    profile = tmp_path / "unit.toml"
    shutil.copy(ROOT / "devices" / "outboard_virtual_compressor.toml", profile)
    sess = write_session(tmp_path / "s.toml", [
        {"kind": "hardware", "name": "comp", "sends": [3, 4], "returns": [3, 4],
         "midi": {"profile": str(profile), "port": "nowhere"}, "settings": {"ratio": 2.0}}])
    mix = wav(tmp_path / "mix.wav")
    os.link(profile, tmp_path / "p.wav")
    refused(["print", sess, "--input", mix, "-o", tmp_path / "p.wav", "-q"], capsys,
            untouched=[profile], folder=tmp_path,
            want=f"is {profile}, the device profile of insert 'comp'")
    (tmp_path / "sheet.png").symlink_to(profile)
    refused(["recall-sheet", sess, "--out", tmp_path / "sheet.html"], capsys,
            untouched=[profile], folder=tmp_path,
            want=f"is {profile}, the device profile of insert 'comp'; choose another sheet's "
                 "picture name")


# ---- deliver -----------------------------------------------------------------------------

def test_deliver_never_writes_over_a_source_print(tmp_path, capsys):
    """Two prints, the second named (and placed) as the first's streaming
    deliverable would be: refused before any work, both kept."""
    a = wav(tmp_path / "a.wav")
    b = wav(tmp_path / "deliverables" / "a.streaming.wav")
    refused(["deliver", a, b, "--preset", "streaming", "-q", "-j", "1"], capsys,
            untouched=[a, b], folder=tmp_path,
            want=f"{b}: is a source print; choose another deliverable name")


def test_deliver_report_never_lands_on_a_session(tmp_path, capsys):
    """The session's streaming deliverable's report would be
    deliverables/song.streaming.json: a hard link to the session file there."""
    wav(tmp_path / "song.print.wav")
    sess = write_session(tmp_path / "song.toml", release={
        "print": "song.print.wav", "folder": "deliverables", "presets": ["streaming"]})
    (tmp_path / "deliverables").mkdir()
    link = tmp_path / "deliverables" / "song.print.streaming.json"
    os.link(sess, link)
    refused(["deliver", sess, "-q", "-j", "1"], capsys, untouched=[sess], folder=tmp_path,
            want=f"{link}: is {sess}, the session file; choose another report name")


# ---- stores ------------------------------------------------------------------------------

HW = [{"kind": "hardware", "name": "unit", "sends": [3, 4], "returns": [3, 4],
       "virtual_gear": {"delay_samples": 10.0}}]


def test_ping_save_never_writes_the_store_over_the_session(tmp_path, capsys):
    sess = write_session(tmp_path / "s.toml", HW)
    (tmp_path / "s.measured.json").symlink_to(sess)
    refused(["ping", sess, "--save"], capsys, untouched=[sess], folder=tmp_path,
            want=f"{tmp_path / 's.measured.json'}: is {sess}, the session file; choose "
                 "another measurement store name")


def test_recall_fingerprint_never_writes_the_store_over_the_session(tmp_path, capsys):
    sess = write_session(tmp_path / "s.toml", HW)
    os.link(sess, tmp_path / "s.fingerprint.json")
    refused(["recall", sess, "--fingerprint"], capsys, untouched=[sess], folder=tmp_path,
            want=f"is {sess}, the session file; choose another fingerprint store name")


def test_deliver_never_writes_over_a_stem_of_its_session(tmp_path, capsys):
    """A session whose [release] folder is its stems' folder, and a stem named as
    a deliverable would be."""
    wav(tmp_path / "song.print.wav")
    stem = wav(tmp_path / "stems" / "song.streaming.wav")
    sess = write_session(tmp_path / "song.toml",
                         stems=[{"name": "all", "file": "stems/song.streaming.wav"}],
                         release={"print": "song.print.wav", "title": "song", "folder": "stems",
                                  "presets": ["streaming"]})
    refused(["deliver", sess, "-q", "-j", "1"], capsys, untouched=[stem], folder=tmp_path,
            want=f"{stem}: is the file of stem 'all' (stems[0].file); choose another "
                 "deliverable name")
