"""Chain files: every error names the file, the key path and what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from host.model.session import load_chain
from host.model.config import parse_chain
from host.errors import ConfigError

CONFIGS = sorted((Path(__file__).parents[2] / "configs").glob("*.toml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_chain_files_validate(path):
    cfg = load_chain(path)
    assert cfg.inserts, path


def write(tmp_path, text: str) -> Path:
    p = tmp_path / "chain.toml"
    p.write_text(text)
    return p


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('[[chain]]\nkind = "compressor"\ntreshold_db = -20\n',
         "chain[0].treshold_db: unknown key"),
        ('[[chain]]\nkind = "compressor"\nratio = 0.5\n',
         "chain[0].ratio: expected a number 1..100"),
        ('[[chain]]\nkind = "compressor"\nthreshold_db = "loud"\n',
         "chain[0].threshold_db: expected a number -60..0 dBFS"),
        ('[[chain]]\nkind = "reverb"\n', "chain[0].kind: expected one of 'eq'"),
        ('[[chain]]\nratio = 2\n', "chain[0].kind: missing"),
        ('[[chain]]\nkind = "limiter"\nceiling_dbtp = 1.5\n',
         "chain[0].ceiling_dbtp: expected a number -20..0 dBTP, got 1.5"),
        ('[[chain]]\nkind = "eq"\nbands = [{ type = "peak", freq_hz = 5 }]\n',
         "chain[0].bands[0].freq_hz: expected a number 10..40000 Hz, got 5"),
        ('[[chain]]\nkind = "eq"\nbands = [{ type = "highpass", freq_hz = 30, order = 5,'
         ' family = "linkwitz-riley" }]\n', "chain[0].bands[0].order: expected 2, 4, 6 or 8"),
        ('[[chain]]\nkind = "eq"\nbands = []\n', "chain[0].bands: expected a non-empty array"),
        ('[[chain]]\nkind = "eq"\nbands = [{ type = "peak", freq_hz = 100, order = 4 }]\n',
         "chain[0].bands[0].order: only for lowpass/highpass"),
        ('[[chain]]\nkind = "eq"\nbands = [{ type = "highpass", freq_hz = 30, gain_db = 3 }]\n',
         "chain[0].bands[0].gain_db: only for peak, lowshelf, highshelf bands; 'highpass' "
         "takes no gain: expected 0 or no gain_db, got 3"),
        ('[master]\ntarget_lufs = 3\n', "master.target_lufs: expected a number -40..-5 LUFS"),
        ('[mastr]\ntarget_lufs = -14\n', "mastr: unknown key (expected master, chain); "
         "did you mean 'master'?"),
        ("[[chain]\nkind = 'eq'\n", "TOML syntax error"),
    ],
)
def test_bad_chain_file_error_names_file_and_key(tmp_path, text, needle):
    p = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_chain(p)
    msg = str(err.value)
    assert msg.startswith(f"{p}: ")
    assert needle in msg
    assert "\n" not in msg


def test_misspelt_key_gets_a_suggestion(tmp_path):
    p = write(tmp_path, '[[chain]]\nkind = "compressor"\nattack = 5\n')
    with pytest.raises(ConfigError, match="did you mean 'attack_ms'"):
        load_chain(p)


def test_missing_chain_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="nope.toml: no such file"):
        load_chain(tmp_path / "nope.toml")


def test_defaults_fill_unset_parameters():
    cfg = parse_chain({"chain": [{"kind": "compressor", "ratio": 4}]})
    p = cfg.inserts[0].params
    assert p["ratio"] == 4.0 and p["threshold_db"] == -18.0 and p["detector"] == "peak"
    assert cfg.inserts[0].name == "compressor1"


def test_values_are_not_clamped_silently():
    with pytest.raises(ConfigError, match="knee_db: expected a number 0..24 dB, got 30"):
        parse_chain({"chain": [{"kind": "compressor", "knee_db": 30}]}, "x.toml")


# ---- the TOML file itself ---------------------------------------------------------------


def test_a_utf8_byte_order_mark_is_accepted(tmp_path):
    """Some Windows editors start UTF-8 files with a BOM; tomllib alone calls it
    an invalid statement at line 1."""
    p = tmp_path / "bom.toml"
    p.write_bytes(b"\xef\xbb\xbf" + b'[[chain]]\nkind = "gain"\ngain_db = 1.5\n')
    assert load_chain(p).inserts[0].params["gain_db"] == 1.5


@pytest.mark.parametrize("depth", [40, 100_000])
@pytest.mark.parametrize("open_, close", [("[", "]"), ("{ b = ", "}")])
def test_tables_or_arrays_nested_absurdly_deep_are_one_line(tmp_path, depth, open_, close):
    """100,000 levels made tomllib end in a RecursionError thousands of lines
    long; 40 parse, and are refused by the depth limit naming the key."""
    from host.tomlfile import MAX_DEPTH

    p = tmp_path / "deep.toml"
    p.write_text("a = " + open_ * depth + ("1" if "=" in open_ else "") + close * depth + "\n")
    with pytest.raises(ConfigError) as err:
        load_chain(p)
    msg = str(err.value)
    assert msg.startswith(f"{p}: ") and "\n" not in msg
    assert f"nested too deep; expected at most {MAX_DEPTH} levels" in msg


def test_more_inserts_than_the_engine_holds_is_refused_for_every_command():
    """`run` stopped at 32 inserts with a traceback after JACK opened while
    `master --chain` took 1000: one limit, the C engine's, stated in the model."""
    from host._ffi import lib
    from host.live.engine import MAX_INSERTS as ENGINE_MAX
    from host.model.config import MAX_INSERTS

    assert MAX_INSERTS == ENGINE_MAX == lib.OB_ENGINE_MAX_INSERTS == 32
    gain = {"kind": "gain", "gain_db": 0.0}
    assert len(parse_chain({"chain": [gain] * MAX_INSERTS}).inserts) == MAX_INSERTS
    with pytest.raises(ConfigError) as err:
        parse_chain({"chain": [gain] * 1000}, "x.toml")
    assert str(err.value) == "x.toml: chain: expected at most 32 inserts, got 1000"
