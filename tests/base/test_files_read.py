"""host.audiofile.FilesRead: an output is refused when it resolves to a file the
command reads (or to another of its outputs), whatever name it is given: the
same path, a symlink, a hard link, a path through ``..``.  And publish():
the data is synced to disk before the rename that puts it in place."""

from __future__ import annotations

import os

import numpy as np
import pytest

import host.audiofile as af
from host.audiofile import FilesRead, atomic_path, write_audio
from host.errors import AudioFileError


@pytest.fixture
def mix(tmp_path):
    p = tmp_path / "mix.wav"
    write_audio(p, np.zeros((2, 480), np.float32), 48000, "32f")
    return p


def files_with(mix) -> FilesRead:
    files = FilesRead()
    files.read(mix, "the input file")
    return files


def test_the_input_under_its_own_name_is_refused(mix):
    with pytest.raises(AudioFileError, match=r"mix.wav: is the input file; choose another "
                                             r"output name"):
        files_with(mix).claim(mix)


def test_a_symlink_to_the_input_is_refused_naming_the_input(mix, tmp_path):
    link = tmp_path / "link.wav"
    link.symlink_to(mix)
    with pytest.raises(AudioFileError) as e:
        files_with(mix).claim(link)
    assert str(e.value) == f"{link}: is {mix}, the input file; choose another output name"


def test_a_hard_link_to_the_input_is_refused(mix, tmp_path):
    other = tmp_path / "sub"
    other.mkdir()
    hard = other / "same-inode.wav"
    os.link(mix, hard)
    with pytest.raises(AudioFileError, match=f"{hard}: is {mix}, the input file"):
        files_with(mix).claim(hard)


def test_a_path_through_dotdot_is_refused(mix, tmp_path):
    (tmp_path / "a").mkdir()
    with pytest.raises(AudioFileError, match="is the input file"):
        files_with(mix).claim(tmp_path / "a" / ".." / "mix.wav")


def test_a_symlinked_folder_leading_to_the_input_is_refused(mix, tmp_path):
    (tmp_path / "alias").symlink_to(tmp_path, target_is_directory=True)
    with pytest.raises(AudioFileError, match=f"is {mix}, the input file"):
        files_with(mix).claim(tmp_path / "alias" / "mix.wav")


def test_outputs_are_refused_over_each_other_but_a_new_name_is_fine(mix, tmp_path):
    files = files_with(mix)
    files.claim(tmp_path / "out.wav")
    files.claim(tmp_path / "out.wav")          # the same output claimed again: fine
    files.claim(tmp_path / "out.json", "report")
    with pytest.raises(AudioFileError, match=r"out.wav: is the output file; choose another "
                                             r"report name"):
        files.claim(tmp_path / "out.wav", "report")
    with pytest.raises(AudioFileError, match="is the report file"):
        files.claim(tmp_path / "out.json", "plot")


def test_a_file_that_does_not_exist_yet_is_compared_by_its_path(tmp_path):
    files = FilesRead()
    files.read(tmp_path / "later.wav", "the stem file")  # read later, e.g. a missing stem
    with pytest.raises(AudioFileError, match="is the stem file"):
        files.claim(tmp_path / "x" / ".." / "later.wav")


def test_publish_syncs_the_file_before_the_rename_and_the_folder_after(tmp_path, monkeypatch):
    """The order that makes a published file survive a crash whole: fsync of the
    data, rename, fsync of the folder; and the process remembers what it published."""
    calls: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        target = os.readlink(f"/proc/self/fd/{fd}")
        calls.append(("fsync", os.path.basename(target)))
        return real_fsync(fd)

    def replace(a, b):
        calls.append(("rename", os.path.basename(b)))
        return real_replace(a, b)

    monkeypatch.setattr(af.os, "fsync", fsync)
    monkeypatch.setattr(af.os, "replace", replace)
    dst = tmp_path / "report.json"
    before = len(af.published())
    with atomic_path(dst) as tmp:
        tmp.write_text("{}\n")
    assert dst.read_text() == "{}\n"
    assert [c[0] for c in calls] == ["fsync", "rename", "fsync"]
    assert calls[0][1].startswith(".report.json.") and calls[0][1].endswith(".part.json")
    assert calls[1][1] == "report.json" and calls[2][1] == tmp_path.name
    assert af.published()[before:] == [dst]


def test_a_failed_write_publishes_nothing_and_leaves_no_temporary_file(tmp_path):
    before = len(af.published())
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "x.json") as tmp:
        tmp.write_text("half")
        raise RuntimeError("stopped")
    assert list(tmp_path.iterdir()) == [] and af.published()[before:] == []
