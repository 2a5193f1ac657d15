"""`[release] title`: any printable title is accepted, and the file names made
from it are safe on every common file system (host.model.release.file_stem)."""

from __future__ import annotations

import pytest

from host.errors import ConfigError
from host.model.config import _Ctx
from host.model.release import MAX_STEM_BYTES, file_stem, parse_release


def release(title):
    return parse_release(_Ctx("s.toml"), {"title": title, "presets": ["cd"]}, ".")


@pytest.mark.parametrize(("title", "stem"), [
    ("Don't Stop", "Don't_Stop"),
    ("Song (2024 Remaster)", "Song_(2024_Remaster)"),
    ("Björk", "Björk"),
    ("Vol. 2", "Vol._2"),
    ("Sigur Rós — Ágætis byrjun", "Sigur_Rós_—_Ágætis_byrjun"),
    ("東京事変", "東京事変"),
    ("AC/DC: Back in Black?", "ACDC_Back_in_Black"),
    ("..\\..\\boot.ini", "boot.ini"),
])
def test_printable_titles_are_accepted_and_named_safely(title, stem):
    assert release(title).title == title
    assert file_stem(title) == stem


def test_a_file_stem_has_no_separator_control_character_or_leading_dot():
    for title in ("../../etc/passwd", ".hidden", "-rf x", "a/b\\c", "tab\there\x00\x7f",
                  "<con>", "trailing dots...", "  spaced   out  "):
        stem = file_stem(title)
        assert stem and not set(stem) & set('/\\<>:"|?*\t\x00\x7f'), (title, stem)
        assert not stem.startswith((".", "-", "_")) and not stem.endswith((".", "_"))
        assert "__" not in stem


def test_a_file_stem_is_cut_at_a_character_within_its_byte_limit():
    for title in ("x" * 1000, "é" * 1000, "日本" * 400, "🎵" * 300):
        stem = file_stem(title)
        assert 0 < len(stem.encode("utf-8")) <= MAX_STEM_BYTES
        assert title.startswith(stem)


def test_decomposed_and_composed_accents_name_the_same_file():
    assert file_stem("Bjo\u0308rk") == file_stem("Bj\u00f6rk") == "Bj\u00f6rk"


@pytest.mark.parametrize(("title", "words"), [
    ("line\nbreak", "expected printable text"),
    ("tab\there", "expected printable text"),
    ("...", "expected a letter or digit"),
    ("///", "expected a letter or digit"),
    ("", "expected a non-empty string"),
])
def test_titles_that_cannot_name_files_are_one_line_naming_the_key(title, words):
    with pytest.raises(ConfigError) as err:
        release(title)
    msg = str(err.value)
    assert msg.startswith("s.toml: release.title: ") and words in msg and "\n" not in msg
