"""Chain files: every error names the file, the key path and what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from host.model.session import load_chain, load_session
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


@pytest.mark.parametrize("chain,key,name", [
    ('[[chain]]\nkind = "hardware"\nname = "unit"\nsends = [3, 4]\nreturns = [3, 4]\n\n'
     '[[chain]]\nkind = "hardware"\nname = "unit"\nsends = [5, 6]\nreturns = [5, 6]\n',
     "chain[1].name", "'unit' is also the name of chain[0]"),
    ('[[chain]]\nkind = "compressor"\nname = "glue"\n\n[[chain]]\nkind = "gain"\n'
     'gain_db = 1.0\n\n[[chain]]\nkind = "compressor"\nname = "glue"\n',
     "chain[2].name", "'glue' is also the name of chain[0]"),
    # a default name (kind and position) taken by an explicit one
    ('[[chain]]\nkind = "gain"\nname = "compressor2"\ngain_db = 1.0\n\n'
     '[[chain]]\nkind = "compressor"\n',
     "chain[1].name", "'compressor2' (its default name) is also the name of chain[0]"),
])
def test_two_inserts_with_one_name_are_refused_naming_the_key(tmp_path, chain, key, name):
    """The measurement store is keyed by insert name (two hardware units would
    share one latency) and so are the reports' gain-reduction traces."""
    p = tmp_path / "c.toml"
    p.write_text(chain)
    with pytest.raises(ConfigError) as e:
        load_chain(p)
    msg = str(e.value)
    assert msg.startswith(f"{p}: {key}: {name}; expected unique insert names")
    assert len(msg.splitlines()) == 1


def test_a_session_with_two_inserts_of_one_name_is_refused(tmp_path):
    p = tmp_path / "s.toml"
    p.write_text('[interface]\ndevice = "x"\nsample_rate = 48000\nblock_size = 128\n\n'
                 '[program]\ninputs = [1, 2]\noutputs = [1, 2]\n\n'
                 '[[chain]]\nkind = "gain"\nname = "trim"\ngain_db = 0.0\n\n'
                 '[[chain]]\nkind = "gain"\nname = "trim"\ngain_db = 1.0\n')
    with pytest.raises(ConfigError, match=r"s.toml: chain\[1\].name: 'trim' is also the name "
                                          r"of chain\[0\]"):
        load_session(p)
