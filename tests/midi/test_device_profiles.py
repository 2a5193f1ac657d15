"""Device profiles (devices/*.toml) and value laws (host.midi.laws).

The virtual gear's profiles are checked against the gear's own CC map
(host.sim.gear.Knob), the laws against their closed forms.
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import numpy as np
import pytest

from host.errors import ConfigError
from host.midi import laws
from host.midi.profiles import DEVICES_DIR, list_profiles, load_profile
from host.model.virtual_gear import COMPRESSOR_KNOBS, eq_knobs

SHIPPED = list_profiles()
REAL = [n for n in SHIPPED if not n.startswith("outboard_virtual_")]


# ---- every shipped profile -----------------------------------------------------------------


def test_virtual_gear_profiles_are_shipped():
    assert "outboard_virtual_compressor" in SHIPPED
    assert "outboard_virtual_eq" in SHIPPED


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_profile_loads_with_a_source_and_valid_defaults(name):
    prof = load_profile(name)
    assert prof.id == name and prof.path == DEVICES_DIR / f"{name}.toml"
    assert len(prof.source) > 10
    assert 1 <= prof.midi_channel <= 16 and prof.pace_ms >= 0
    text = prof.path.read_text(encoding="utf-8")
    first = [ln for ln in text.splitlines() if ln.strip()][0]
    assert first.startswith("#"), "a profile opens with a comment citing its source"
    for p in prof.parameters.values():
        if p.default is not None:
            assert laws.check(p, p.default) == p.default
        if not p.manual:
            assert p.raw_min < p.raw_max


@pytest.mark.parametrize("name", REAL)
def test_real_unit_profiles_cite_manual_and_section_in_a_comment(name):
    text = (DEVICES_DIR / f"{name}.toml").read_text(encoding="utf-8")
    head = "\n".join(ln for ln in text.splitlines() if ln.startswith("#")).lower()
    assert "source" in head and ("manual" in head or "guide" in head
                                 or "implementation" in head)
    assert any(w in head for w in ("page", "p.", "section", "appendix", "chapter"))


def test_real_unit_profiles_exercise_every_send_kind():
    sends = {p.send for n in SHIPPED for p in load_profile(n).parameters.values()}
    assert {"cc", "cc14", "program", "sysex", "manual"} <= sends


def test_unknown_profile_name_lists_the_shipped_ones():
    with pytest.raises(ConfigError, match="outboard_virtual_compressor"):
        load_profile("no_such_unit")


# ---- the virtual gear: profile == gear -----------------------------------------------------


def _bits(p) -> int:
    return 14 if p.send == "cc14" else 7


def _grid(knob, n=97):
    if knob.curve == "log":
        return np.geomspace(knob.low, knob.high, n)
    if knob.curve == "centred":
        return np.linspace(-knob.high, knob.high, n)
    return np.linspace(knob.low, knob.high, n)


def _check_knob_against_gear(p, knob):
    bits = _bits(p)
    assert p.number == knob.cc and p.unit == knob.unit
    assert p.send in ("cc", "cc14") and p.law == knob.curve
    assert (p.raw_min, p.raw_max) == (0, (1 << bits) - 1)
    # from_raw == the gear's Knob.value, exactly, over the raw range
    step = 1 if bits == 7 else 37
    raws = list(range(0, 1 << bits, step)) + [(1 << bits) - 1]
    for r in raws:
        assert laws.from_raw(p, r) == knob.value(r, bits)
    if knob.curve == "table":
        # the gear's Knob.raw picks an entry's first raw value, the profile its centre:
        # both land on the same entry
        for v in knob.table:
            r = laws.to_raw(p, v)
            assert knob.value(r, bits) == v
            assert knob.value(r - 1, bits) == v and knob.value(r + 1, bits) == v
        return
    for v in _grid(knob):
        assert laws.to_raw(p, float(v)) == knob.raw(float(v), bits), v


@pytest.mark.parametrize("knob", COMPRESSOR_KNOBS, ids=lambda k: k.name)
def test_virtual_compressor_profile_matches_gear_knob(knob):
    prof = load_profile("outboard_virtual_compressor")
    _check_knob_against_gear(prof.parameters[knob.name], knob)


def test_virtual_compressor_profile_has_exactly_the_gears_midi_knobs():
    prof = load_profile("outboard_virtual_compressor")
    assert [p.name for p in prof.midi_parameters()] == [k.name for k in COMPRESSOR_KNOBS]
    assert {prof.parameters[n].send for n in ("threshold_db", "makeup_db")} == {"cc14"}
    assert prof.manual_parameters()


def test_virtual_eq_profile_matches_gear_knobs():
    prof = load_profile("outboard_virtual_eq")
    knobs = eq_knobs([{"type": "peak"}] * 16)
    assert [p.name for p in prof.midi_parameters()] == [k.name for k in knobs]
    for knob in knobs:
        _check_knob_against_gear(prof.parameters[knob.name], knob)


# ---- laws against their closed forms --------------------------------------------------------


def _write(tmp_path: Path, body: str, name: str = "unit") -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


HEADER = """\
    # Source: test
    maker = "Test"
    model = "T-1"
    source = "written in the test"
"""


def _param(tmp_path, body: str):
    prof = load_profile(_write(tmp_path, HEADER + "[parameters.x]\n" + textwrap.dedent(body)))
    return prof.parameters["x"]


def test_linear_law_closed_form_and_round_trip(tmp_path):
    p = _param(tmp_path, 'unit = "dB"\nmin = -10.0\nmax = 20.0\nsend = "cc"\nnumber = 7\n')
    for r in range(128):
        assert laws.from_raw(p, r) == pytest.approx(-10 + 30 * r / 127, abs=1e-12)
    for v in np.linspace(-10, 20, 1001):
        err = abs(laws.from_raw(p, laws.to_raw(p, v)) - v)
        assert err <= laws.resolution(p, v) / 2 + 1e-12
    assert laws.resolution(p, 0.0) == pytest.approx(30 / 127)


def test_log_law_is_geometric_and_round_trips_within_resolution(tmp_path):
    p = _param(tmp_path, 'unit = "Hz"\nmin = 20.0\nmax = 20000.0\nlaw = "log"\n'
                         'send = "nrpn"\nnumber = 300\n')
    n = 16383
    for r in (0, 1, 5000, 8191, 16383):
        assert laws.from_raw(p, r) == pytest.approx(20 * 1000 ** (r / n), rel=1e-12)
    # equal raw steps are equal ratios
    ratios = [laws.from_raw(p, r + 1) / laws.from_raw(p, r) for r in (0, 7000, 16382)]
    assert np.allclose(ratios, 1000 ** (1 / n), rtol=1e-12)
    for v in np.geomspace(20, 20000, 2001):
        res = laws.resolution(p, v)
        assert res == pytest.approx(v * (1000 ** (1 / n) - 1), rel=2e-3)
        assert abs(laws.from_raw(p, laws.to_raw(p, v)) - v) <= res / 2 * (1 + 1e-9)


def test_centred_law_matches_the_midi_centre_convention(tmp_path):
    p = _param(tmp_path, 'unit = "dB"\nmin = -12.0\nmax = 12.0\nlaw = "centred"\n'
                         'send = "cc"\nnumber = 20\n')
    assert laws.to_raw(p, 0.0) == 64 and laws.from_raw(p, 64) == 0.0
    assert laws.from_raw(p, 0) == -12.0 and laws.from_raw(p, 127) == 12 * 63 / 64
    assert laws.to_raw(p, 12.0) == 127          # top of range, one step above raw 127
    for v in np.linspace(-12, 12, 481):
        err = abs(laws.from_raw(p, laws.to_raw(p, v)) - v)
        assert err <= laws.resolution(p, v) + 1e-12
        if v <= 12 * 63 / 64:
            assert err <= laws.resolution(p, v) / 2 + 1e-12


def test_centred_law_with_an_odd_raw_range_is_symmetric(tmp_path):
    # Roland style: -12..+12 dB as raw 52..76, 64 = 0 dB, 1 dB per step
    p = _param(tmp_path, 'unit = "dB"\nmin = -12.0\nmax = 12.0\nlaw = "centred"\n'
                         'send = "cc"\nnumber = 20\nraw_min = 52\nraw_max = 76\n')
    assert [laws.to_raw(p, v) for v in (-12.0, 0.0, 7.0, 12.0)] == [52, 64, 71, 76]
    assert laws.resolution(p, 3.0) == 1.0


def test_table_law_equal_division_sends_entry_centres(tmp_path):
    p = _param(tmp_path, 'unit = ":1"\ntable = [1.0, 2.0, 4.0, 8.0]\nsend = "cc"\nnumber = 9\n')
    # 4 entries over 0..127: 32 raw values each; centres 15, 47, 79, 111
    assert [laws.to_raw(p, v) for v in (1, 2, 4, 8)] == [15, 47, 79, 111]
    for r in range(128):
        assert laws.from_raw(p, r) == [1.0, 2.0, 4.0, 8.0][r // 32]
    assert laws.resolution(p, 4.0) == 0.0
    with pytest.raises(ValueError, match=r"x: 3.*1, 2, 4, 8"):
        laws.to_raw(p, 3.0)


def test_table_law_with_chart_raw_values(tmp_path):
    p = _param(tmp_path, 'table = ["1x", "2x", "4x", "8x"]\ntable_raw = [0, 32, 64, 96]\n'
                         'send = "cc"\nnumber = 75\n')
    assert [laws.to_raw(p, v) for v in ("1x", "2x", "4x", "8x")] == [0, 32, 64, 96]
    assert laws.from_raw(p, 31) == "1x" and laws.from_raw(p, 127) == "8x"
    with pytest.raises(ValueError, match="16x"):
        laws.to_raw(p, "16x")


@pytest.mark.parametrize("value", [-10.5, 20.01, math.nan, math.inf, "loud", True])
def test_out_of_range_is_an_error_naming_parameter_and_range_never_clamped(tmp_path, value):
    p = _param(tmp_path, 'unit = "dB"\nmin = -10.0\nmax = 20.0\nsend = "cc"\nnumber = 7\n')
    with pytest.raises(ValueError, match=r"x: .*-10\.\.20 dB"):
        laws.to_raw(p, value)


def test_manual_parameter_checks_range_but_has_no_raw_value(tmp_path):
    p = _param(tmp_path, 'unit = "%"\nmin = 0.0\nmax = 100.0\nsend = "manual"\n'
                         'detents = [0.0, 50.0, 100.0]\n')
    assert laws.check(p, 30) == 30.0 and p.detents == (0.0, 50.0, 100.0)
    with pytest.raises(ValueError, match="x: 101"):
        laws.check(p, 101)
    with pytest.raises(ValueError, match="manual"):
        laws.to_raw(p, 30.0)


def test_from_raw_outside_raw_range_is_an_error(tmp_path):
    p = _param(tmp_path, 'min = 0.0\nmax = 1.0\nsend = "cc"\nnumber = 7\n')
    with pytest.raises(ValueError, match="0..127"):
        laws.from_raw(p, 128)


# ---- bad profiles: the error names the file and the key -------------------------------------

GOOD_PARAM = 'unit = "dB"\nmin = 0.0\nmax = 10.0\nsend = "cc"\nnumber = 7\n'

BAD = {
    "unknown_top_key": (HEADER + "colour = 1\n[parameters.x]\n" + GOOD_PARAM, "colour"),
    "unknown_param_key": (HEADER + "[parameters.x]\n" + GOOD_PARAM + "knob = 3\n",
                          "parameters.x.knob"),
    "cc_over_127": (HEADER + "[parameters.x]\n" + GOOD_PARAM.replace("= 7", "= 128"),
                    "parameters.x.number"),
    "cc_negative": (HEADER + "[parameters.x]\n" + GOOD_PARAM.replace("= 7", "= -1"),
                    "parameters.x.number"),
    "cc14_on_32": (HEADER + "[parameters.x]\n"
                   + GOOD_PARAM.replace('"cc"', '"cc14"').replace("= 7", "= 32"),
                   "parameters.x.number"),
    "cc14_on_100": (HEADER + "[parameters.x]\n"
                    + GOOD_PARAM.replace('"cc"', '"cc14"').replace("= 7", "= 100"),
                    "parameters.x.number"),
    "log_min_zero": (HEADER + "[parameters.x]\n" + GOOD_PARAM + 'law = "log"\n',
                     "parameters.x.min"),
    "table_empty": (HEADER + '[parameters.x]\ntable = []\nsend = "cc"\nnumber = 7\n',
                    "parameters.x.table"),
    "no_source": (HEADER.replace('    source = "written in the test"\n', "")
                  + "[parameters.x]\n" + GOOD_PARAM, "source"),
    "min_above_max": (HEADER + "[parameters.x]\n" + GOOD_PARAM.replace("max = 10.0", "max = -1.0"),
                      "parameters.x.max"),
    "default_out_of_range": (HEADER + "[parameters.x]\n" + GOOD_PARAM + "default = 11.0\n",
                             "parameters.x.default"),
    "bad_send": (HEADER + "[parameters.x]\n" + GOOD_PARAM.replace('"cc"', '"osc"'),
                 "parameters.x.send"),
    "channel_17": (HEADER + "midi_channel = 17\n[parameters.x]\n" + GOOD_PARAM, "midi_channel"),
    "sysex_8bit": (HEADER + '[parameters.x]\nmin = 0.0\nmax = 1.0\nsend = "sysex"\n'
                            'sysex = "F0 41 80 {value} F7"\n', "parameters.x.sysex"),
    "sysex_unframed": (HEADER + '[parameters.x]\nmin = 0.0\nmax = 1.0\nsend = "sysex"\n'
                                'sysex = "41 10 {value}"\n', "parameters.x.sysex"),
    "sysex_checksum_no_range": (HEADER + '[parameters.x]\nmin = 0.0\nmax = 1.0\nsend = "sysex"\n'
                                         'sysex = "F0 41 {value} {checksum} F7"\n',
                                "parameters.x.sysex"),
    "no_parameters": (HEADER, "parameters"),
    # the shared template's own fault is the template's key, not the parameter's address
    "template_value_width_5": (HEADER + 'sysex_template = "F0 41 [ {address} {value:5} ] '
                               '{checksum} F7"\n[parameters.x]\nmin = 0.0\nmax = 1.0\n'
                               'send = "sysex"\naddress = "00 01"\n', "sysex_template"),
    "param_value_width_9": (HEADER + '[parameters.x]\nmin = 0.0\nmax = 1.0\nsend = "sysex"\n'
                            'sysex = "F0 41 {value:9l} F7"\n', "parameters.x.sysex"),
    # a program change's bank must fit what the bank select sends (was a 0x80 data byte)
    "program_bank_beyond_cc0_cc32": (HEADER + '[parameters.x]\nmin = 1.0\nmax = 2.0\n'
                                     'send = "program"\nnumber = 16383\nraw_max = 128\n',
                                     "parameters.x.number"),
    "program_bank_beyond_cc0": (HEADER + 'bank_select = "cc0"\n[parameters.x]\nmin = 1.0\n'
                                'max = 2.0\nsend = "program"\nnumber = 127\nraw_max = 200\n',
                                "parameters.x.number"),
    "program_beyond_127_without_bank": (HEADER + 'bank_select = "none"\n[parameters.x]\n'
                                        'min = 1.0\nmax = 2.0\nsend = "program"\n'
                                        'raw_max = 128\n', "parameters.x.raw_max"),
    "template_address_missing": (HEADER + 'sysex_template = "F0 41 [ {address} {value} ] '
                                 '{checksum} F7"\n[parameters.x]\nmin = 0.0\nmax = 1.0\n'
                                 'send = "sysex"\n', "parameters.x.address"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_profile_error_names_file_and_key(tmp_path, case):
    body, key = BAD[case]
    path = _write(tmp_path, body, name=f"bad_{case}")
    with pytest.raises(ConfigError) as ei:
        load_profile(path)
    msg = str(ei.value)
    assert str(path) in msg and f": {key}:" in msg, msg


def test_not_toml_is_a_config_error_naming_the_file(tmp_path):
    path = _write(tmp_path, "maker = \n", name="broken")
    with pytest.raises(ConfigError, match="broken.toml"):
        load_profile(path)


def test_a_profile_with_a_utf8_byte_order_mark_loads(tmp_path):
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + (textwrap.dedent(HEADER) + "[parameters.x]\n"
                                        + GOOD_PARAM).encode())
    assert load_profile(path).model == "T-1"


def test_a_profile_nested_absurdly_deep_is_one_line(tmp_path):
    path = tmp_path / "deep.toml"
    path.write_text(textwrap.dedent(HEADER) + "notes = " + "[" * 100_000 + "]" * 100_000 + "\n")
    with pytest.raises(ConfigError, match="nested too deep") as ei:
        load_profile(path)
    assert "\n" not in str(ei.value)


def test_a_value_width_beyond_4_says_what_value_n_means(tmp_path):
    """{value:N} is the raw value in N 7-bit bytes; N = 5 was an "unknown token"
    blamed on the parameter's address."""
    path = _write(tmp_path, BAD["template_value_width_5"][0], name="wide")
    with pytest.raises(ConfigError) as ei:
        load_profile(path)
    assert str(ei.value) == (
        f"{path}: sysex_template: {{value:5}}: expected a width N of 1..4 ({{value:N}}: N "
        "7-bit bytes, {value:Nl} least significant first, {value:Nn} N nibbles), got 5")
