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
        ('[[chain]]\nkind = "eq"\nbands = [{ type = "highpass", freq_hz = 30, gain_db = 3 }]\n',
         "chain[0].bands[0].gain_db: only for peak, lowshelf, highshelf bands; 'highpass' "
         "takes no gain: expected 0 or no gain_db, got 3"),
        ('[master]\ntarget_lufs = 3\n', "master.target_lufs: expected a number -40..-5 LUFS"),
        ('[mastr]\ntarget_lufs = -14\n', "mastr: unknown key (expected master, chain); "
         "did you mean 'master'?"),
        ("[[chain]\nkind = 'eq'\n", "TOML syntax error"),
        ('[[chain]]\nkind = "saturation"\ndrive_db = 48\n',
         "chain[0].drive_db: expected a number -12..36 dB, got 48"),
        ('[[chain]]\nkind = "saturation"\ncurve = "fuzz"\n',
         "chain[0].curve: expected one of 'tape', 'tube', 'soft_clip', 'hard_clip', got 'fuzz'"),
        ('[[chain]]\nkind = "saturation"\noversample = 16\n',
         "chain[0].oversample: expected one of 2, 4, 8, got 16"),
        ('[[chain]]\nkind = "saturation"\nmix_pct = 150\n',
         "chain[0].mix_pct: expected a number 0..100 %, got 150"),
        ('[[chain]]\nkind = "dynamic_eq"\n',
         "chain[0].bands: expected 1..4 band tables (or preset = 'deess'), got none"),
        ('[[chain]]\nkind = "dynamic_eq"\nbands = [{ freq_hz = 5 }]\n',
         "chain[0].bands[0].freq_hz: expected a number 20..20000 Hz, got 5"),
        ('[[chain]]\nkind = "dynamic_eq"\nbands = [{ range_db = -3 }]\n',
         "chain[0].bands[0].range_db: expected a number 0..24 dB (most gain change), got -3"),
        ('[[chain]]\nkind = "dynamic_eq"\nbands = [{ mode = "over" }]\n',
         "chain[0].bands[0].mode: expected one of 'above', 'below', got 'over'"),
        ('[[chain]]\nkind = "dynamic_eq"\npreset = "deess"\nbands = [{}, {}]\n',
         "chain[0].bands: expected one band table with preset = 'deess'"),
        ('[[chain]]\nkind = "dynamic_eq"\nbands = [{ thresold_db = -20 }]\n',
         "did you mean 'threshold_db'?"),
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


MB = '[[chain]]\nkind = "multiband"\n'
IM = '[[chain]]\nkind = "imager"\n'


@pytest.mark.parametrize(("text", "needle"), [
    (MB, "chain[0].crossovers_hz: missing; expected an array of strictly increasing "
         "frequencies in Hz"),
    (MB + "crossovers_hz = [1000, 500]\n",
     "chain[0].crossovers_hz[1]: expected strictly increasing frequencies, got 500 Hz after "
     "1000 Hz"),
    (MB + "crossovers_hz = [100, 200, 300, 400, 500]\n",
     "chain[0].crossovers_hz: expected an array of 1..4 frequencies in Hz (2..5 bands), "
     "got 5 (6 bands)"),
    (MB + "crossovers_hz = [5]\n",
     "chain[0].crossovers_hz[0]: expected a number 10..20000 Hz, got 5"),
    (MB + 'crossovers_hz = [200]\nslope = "lr6"\n',
     "chain[0].slope: expected one of 'lr2', 'lr4', 'lr8', got 'lr6'"),
    (MB + "crossovers_hz = [200]\nbands = [{ ratio = 2 }]\n",
     "chain[0].bands: expected 2 band tables for 1 crossover, got 1"),
    (MB + "crossovers_hz = [200]\nbands = [{ ratio = 0.5 }, {}]\n",
     "chain[0].bands[0].ratio: expected a number 1..100 (ratio), got 0.5"),
    (MB + "crossovers_hz = [200]\nbands = [{}, { sollo = true }]\n",
     "chain[0].bands[1].sollo: unknown key (expected one of threshold_db"),
    (MB + "crossovers_hz = [200]\nmakeup_db = 30\n",
     "chain[0].makeup_db: expected a number -24..24 dB, got 30"),
    (IM + "width = 2.5\n", "chain[0].width: expected a number 0..2 (0 = mono, 1 = unchanged, "
                           "2 = side doubled), got 2.5"),
    (IM + "crossovers_hz = [100, 200, 300, 400]\n",
     "chain[0].crossovers_hz: expected an array of 0..3 frequencies in Hz (1..4 bands), got 4"),
    (IM + "mono_below_hz = 5\n",
     "chain[0].mono_below_hz: expected a number 20..1000 Hz (or 0 for off), got 5"),
    (IM + "crossovers_hz = [300]\nbands = [{ width = 1 }, { width = -0.5 }]\n",
     "chain[0].bands[1].width: expected a number 0..2"),
])
def test_bad_multiband_or_imager_names_the_key_and_range(tmp_path, text, needle):
    p = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_chain(p)
    msg = str(err.value)
    assert msg.startswith(f"{p}: ") and "\n" not in msg
    assert needle in msg


def test_multiband_and_imager_take_defaults_for_every_band_and_band_tables_override():
    cfg = parse_chain({"chain": [
        {"kind": "multiband", "crossovers_hz": [150, 2500], "threshold_db": -24,
         "bands": [{"ratio": 3.0}, {}, {"mute": True}]},
        {"kind": "imager", "width": 1.2, "mono_below_hz": 100}]})
    mb, im = cfg.inserts
    assert mb.params["crossovers_hz"] == [150.0, 2500.0] and mb.params["slope"] == "lr4"
    assert mb.params["threshold_db"] == -24.0 and mb.params["ratio"] == 2.0
    assert mb.bands == [{"ratio": 3.0}, {}, {"mute": True}]
    assert im.params == {"slope": "lr4", "width": 1.2, "mono_below_hz": 100.0,
                         "crossovers_hz": []}


def test_dynamic_eq_bands_are_completed_from_the_defaults_or_the_preset():
    cfg = parse_chain({"chain": [
        {"kind": "dynamic_eq", "bands": [{"type": "highshelf", "freq_hz": 6000}]},
        {"kind": "dynamic_eq", "preset": "deess", "bands": [{"threshold_db": -24}]},
        {"kind": "saturation", "curve": "tube"}]})
    a, b, s = cfg.inserts
    assert a.bands == [{"type": "highshelf", "freq_hz": 6000.0, "q": 0.7071, "gain_db": 0.0,
                        "threshold_db": -20.0, "ratio": 2.0, "attack_ms": 5.0,
                        "release_ms": 100.0, "range_db": 12.0, "mode": "above"}]
    assert b.bands[0]["threshold_db"] == -24.0 and b.bands[0]["freq_hz"] == 7000.0
    assert b.params == {"preset": "deess"}
    assert s.params == {"drive_db": 0.0, "curve": "tube", "mix_pct": 100.0, "output_db": 0.0,
                        "oversample": 4}
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
