"""Recall sheets (host.gear.recall_sheet): every parameter with its value and unit,
pointers where the parameter's law puts them, a self-contained HTML, a PNG,
and one-line errors for a bad session or profile."""

from __future__ import annotations

import argparse
import math
import re
import warnings
from pathlib import Path

import pytest
from conftest import session_toml

from host.errors import OutboardError
from host.midi.profiles import load_profile
from host.cli.recall_sheet import add_parser
from host.gear.recall_sheet import angle_deg, control, log_marks, position

HEAD = session_toml(interface={"embedded_jack": None}) + "\n"
VARIMU = """
[[chain]]
kind = "hardware"
name = "varimu"
sends = [3, 4]
returns = [3, 4]
midi = { profile = "outboard_virtual_compressor", port = "gear-varimu", channel = 1 }
snapshots = { A = { ratio = 4.0, mix_percent = 75.0 } }

[chain.settings]
threshold_db = -20.0
ratio = 2.0
attack_ms = 20.0
release_ms = 200.0
mode = "modern"
mix_percent = 50.0
"""
EQ = """
[[chain]]
kind = "hardware"
name = "pultec"
sends = [5, 6]
returns = [5, 6]
midi = { profile = "outboard_virtual_eq" }
settings = { "bands[0].gain_db" = 6.0, "bands[1].gain_db" = -3.0 }
"""
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def write(tmp_path: Path, text: str, name: str = "s.toml") -> Path:
    p = tmp_path / name
    p.write_text(HEAD + text)
    return p


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    """The CLI's contract (host.cli.main): an OutboardError is one line, exit 2."""
    ap = argparse.ArgumentParser(prog="outboard")
    add_parser(ap.add_subparsers())
    args = ap.parse_args(["recall-sheet", *argv])
    try:
        code = args.func(args)
    except OutboardError as exc:
        print(f"outboard: error: {exc}", file=__import__("sys").stderr)
        code = 2
    out, err = capsys.readouterr()
    return code, out, err


def rows(html: str) -> dict[str, str]:
    """{parameter: value cell text} from the sheet's table."""
    return {m.group(1): m.group(2) for m in re.finditer(
        r'<tr[^>]*data-param="([^"]+)"><td>.*?</td><td><b>(.*?)</b>', html)}


def svg_angle(html: str, param: str) -> float:
    m = re.search(r'<svg[^>]*data-param="' + re.escape(param) + r'"[^>]*>(.*?)</svg>', html)
    assert m, param
    rot = re.search(r'rotate\(([-0-9.]+) ', m.group(1))
    assert rot, param
    return float(rot.group(1))


def test_the_html_holds_every_parameter_with_its_value_and_unit(tmp_path, capsys):
    s = write(tmp_path, VARIMU + EQ)
    code, out, err = run([str(s), "--out", str(tmp_path / "sheet.html")], capsys)
    assert code == 0, err
    html = (tmp_path / "sheet.html").read_text()
    got = rows(html)
    # every parameter of both profiles is on the sheet
    for prof in ("outboard_virtual_compressor", "outboard_virtual_eq"):
        for name in load_profile(prof).parameters:
            assert name in got, name
    assert got["threshold_db"] == "-20 dBFS"
    assert got["ratio"] == "2:1"
    assert got["attack_ms"] == "20 ms" and got["release_ms"] == "200 ms"
    assert got["makeup_db"] == "0 dB"            # not in settings: the profile's default
    assert got["mode"] == "modern" and got["input_transformer"] == "in"
    assert got["mix_percent"] == "50 %"
    assert got["bands[0].gain_db"] == "6 dB" and got["bands[1].gain_db"] == "-3 dB"
    assert "Insert varimu: outboard virtual compressor" in html
    # manual parameters come first, framed as set by hand
    first = re.findall(r'<div class="(cell[^"]*)"><svg[^>]*data-param="([^"]+)"', html)[:3]
    assert [(c, p) for c, p in first] == [("cell manual", "mode"),
                                         ("cell manual", "input_transformer"),
                                         ("cell manual", "mix_percent")]


def test_the_html_is_self_contained(tmp_path, capsys):
    s = write(tmp_path, VARIMU)
    run([str(s), "--out", str(tmp_path / "sheet.html"), "--no-png"], capsys)
    html = (tmp_path / "sheet.html").read_text()
    assert not (tmp_path / "sheet.png").exists()
    for bad in ("<script", "<link", "<img", "src=", "href=", "url(", "@import"):
        assert bad not in html, bad
    # the only URL is the SVG namespace name, which is never fetched
    assert set(re.findall(r'https?://[^"\s]+', html)) == {"http://www.w3.org/2000/svg"}


def test_pointer_angles_follow_each_law(tmp_path, capsys):
    s = write(tmp_path, VARIMU + EQ)
    run([str(s), "--out", str(tmp_path / "sheet.html"), "--no-png"], capsys)
    html = (tmp_path / "sheet.html").read_text()
    # linear -40..0 dBFS at its midpoint -20: straight up
    assert svg_angle(html, "threshold_db") == pytest.approx(0.0, abs=0.01)
    # linear 0..24 dB at 0: fully counter-clockwise (7:30)
    assert svg_angle(html, "makeup_db") == pytest.approx(-135.0, abs=0.01)
    # log 0.1..100 ms at 20 ms: ln(200)/ln(1000) of the 270 degree travel
    assert svg_angle(html, "attack_ms") == pytest.approx(
        -135 + 270 * math.log(200) / math.log(1000), abs=0.01)
    # table of 8 ratios, 2:1 is the third position
    assert svg_angle(html, "ratio") == pytest.approx(-135 + 270 * 2 / 7, abs=0.01)
    # centred -12..+12 dB around 0: 0 dB straight up, +6 dB a quarter of the travel right
    assert svg_angle(html, "bands[2].gain_db") == pytest.approx(0.0, abs=0.01)
    assert svg_angle(html, "bands[0].gain_db") == pytest.approx(67.5, abs=0.01)
    assert svg_angle(html, "bands[1].gain_db") == pytest.approx(-33.75, abs=0.01)
    # the manual knob, linear 0..100 %, at 50 %
    assert svg_angle(html, "mix_percent") == pytest.approx(0.0, abs=0.01)


def test_knob_ticks_are_the_detents_or_round_values():
    prof = load_profile("outboard_virtual_compressor")
    mix = control(prof.parameters["mix_percent"], 50.0)
    assert [t for _, t in mix.ticks] == ["0", "25", "50", "75", "100"]  # its detents
    assert [u for u, _ in mix.ticks] == [0.0, 0.25, 0.5, 0.75, 1.0]
    attack = control(prof.parameters["attack_ms"], 20.0)
    assert [t for _, t in attack.ticks] == ["0.1", "0.3", "1", "3", "10", "30", "100"]
    for u, t in attack.ticks:  # each tick sits where the log law puts its value
        assert u == pytest.approx(math.log(float(t) / 0.1) / math.log(1000), abs=1e-9)
    assert log_marks(10.0, 2000.0) == pytest.approx([10, 30, 100, 300, 1000, 2000])
    assert angle_deg(position(prof.parameters["threshold_db"], 0.0)) == 135.0


def test_a_snapshot_shows_its_values_and_an_unknown_one_is_refused(tmp_path, capsys):
    s = write(tmp_path, VARIMU)
    code, _, err = run([str(s), "--out", str(tmp_path / "a.html"), "--no-png",
                        "--snapshot", "A"], capsys)
    assert code == 0, err
    html = (tmp_path / "a.html").read_text()
    got = rows(html)
    assert got["ratio"] == "4:1" and got["mix_percent"] == "75 %"
    assert got["threshold_db"] == "-20 dBFS"    # not in the snapshot: the settings
    assert "snapshot A" in html
    code, _, err = run([str(s), "--out", str(tmp_path / "b.html"), "--snapshot", "Z"], capsys)
    assert code == 2 and err.count("\n") == 1
    assert "no hardware insert has a snapshot 'Z' (snapshots: A)" in err


def test_the_png_is_written_beside_the_html_or_where_asked(tmp_path, capsys):
    s = write(tmp_path, VARIMU + EQ)
    code, out, err = run([str(s), "--out", str(tmp_path / "sheet.html")], capsys)
    assert code == 0, err
    png = tmp_path / "sheet.png"
    data = png.read_bytes()
    assert len(data) > 10000 and data[:8] == PNG_MAGIC
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width >= 1000 and height >= 1000     # 120 dpi, 5 knobs a row: readable
    assert f"wrote {png}" in out
    other = tmp_path / "x" / "rack.png"
    other.parent.mkdir()
    code, _, err = run([str(s), "--out", str(tmp_path / "s2.html"), "--png", str(other)], capsys)
    assert code == 0, err and other.read_bytes()[:8] == PNG_MAGIC


@pytest.mark.parametrize("text, expect", [
    (VARIMU.replace("outboard_virtual_compressor", "no_such_unit"),
     r"s\.toml: chain\[0\]\.midi\.profile: .*no_such_unit"),
    (VARIMU.replace("threshold_db = -20.0", "threshold_db = -50.0"),
     r"s\.toml: chain\[0\]\.settings\.threshold_db: .*-40\.\.0 dBFS"),
    ('[[chain]]\nkind = "gain"\ngain_db = 0.0\n',
     r"s\.toml: no hardware insert names a device profile"),
    ("[[chain]\n", r"s\.toml: TOML syntax error"),
])
def test_a_bad_session_or_profile_is_one_line(tmp_path, capsys, text, expect):
    s = write(tmp_path, text)
    code, out, err = run([str(s), "--out", str(tmp_path / "sheet.html")], capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and re.search(expect, err), err
    assert not (tmp_path / "sheet.html").exists() and not (tmp_path / "sheet.png").exists()


def test_a_bad_output_name_is_refused(tmp_path, capsys):
    s = write(tmp_path, VARIMU)
    code, _, err = run([str(s), "--out", str(tmp_path / "sheet.pdf")], capsys)
    assert code == 2 and "--out: expected a .html file" in err


# ---- the sheet tells the truth: names, defaults, steps, nothing cut ---------------------------


def unit_session(tmp_path: Path, profile: str, settings: str = "", name: str = "unit") -> Path:
    return write(tmp_path, f'\n[[chain]]\nkind = "hardware"\nname = "{name}"\nsends = [3, 4]\n'
                           f'returns = [3, 4]\nmidi = {{ profile = "{profile}", port = "p" }}\n'
                           f"settings = {{ {settings} }}\n", f"{profile}.toml")


def sheet_of(tmp_path: Path, profile: str, settings: str = "") -> dict:
    from host.gear.recall_sheet import sheets
    from host.model.session import load_session

    with warnings.catch_warnings():   # a quantised value warns (tests/model)
        warnings.simplefilter("ignore")
        (s,) = sheets(load_session(unit_session(tmp_path, profile, settings)))
    return {c.name: c for c in s.controls}


def test_a_preset_selector_is_a_wheel_showing_the_units_name(tmp_path, capsys):
    c = sheet_of(tmp_path, "strymon_bigsky", 'preset = "01C"')["preset"]
    assert c.kind == "wheel" and c.value_text == "01C"
    assert c.index == 5 and len(c.ticks) == 300
    html_path = tmp_path / "sheet.html"
    code, _, err = run([str(unit_session(tmp_path, "strymon_bigsky", 'preset = "01C"')),
                        "--out", str(html_path), "--no-png"], capsys)
    assert code == 0, err
    html = html_path.read_text()
    assert rows(html)["preset"] == "01C"
    svg = re.search(r'<svg[^>]*data-param="preset"[^>]*>(.*?)</svg>', html).group(1)
    texts = re.findall(r"<text[^>]*>([^<]*)</text>", svg)
    assert texts[:4] == ["01B", "01C", "02A", "position 6 of 300"]
    assert "Preset" in texts and "(0 = 00A" not in html
    # no continuous-knob labels of a program number anywhere
    assert not re.search(r">(74\.75|149\.5|224\.2|16\.75|32\.5|48\.25)<", html)


def test_a_patch_selector_of_the_mmp2_shows_its_user_patch_name(tmp_path):
    c = sheet_of(tmp_path, "roland_mmp2", 'user_patch = "User #12"')["user_patch"]
    assert c.kind == "wheel" and c.value_text == "User #12"
    assert [t for _, t in c.ticks][c.index - 1:c.index + 2] == ["User #11", "User #12",
                                                                "User #13"]
    small = sheet_of(tmp_path, "moog_500_analog_delay", 'lfo_shape = "triangle"')["lfo_shape"]
    assert small.kind == "selector" and len(small.ticks) == 8   # every position named


def test_defaults_the_session_never_set_are_marked(tmp_path, capsys):
    s = write(tmp_path, VARIMU)
    run([str(s), "--out", str(tmp_path / "sheet.html"), "--no-png", "--snapshot", "A"], capsys)
    html = (tmp_path / "sheet.html").read_text()
    source = dict(re.findall(r'<tr[^>]*data-param="([^"]+)">(?:<td>.*?</td>){4}<td>(.*?)</td>',
                             html))
    assert source["makeup_db"] == "profile default"            # not in settings
    assert source["input_transformer"] == "profile default"
    assert source["threshold_db"] == "session" and source["mode"] == "session"
    assert source["ratio"] == "snapshot A" and source["mix_percent"] == "snapshot A"
    assert re.search(r'<tr class="default" data-param="makeup_db">', html)
    makeup = re.search(r'<svg[^>]*data-param="makeup_db"[^>]*>(.*?)</svg>', html).group(0)
    assert 'class="ctl knob default"' in makeup and ">default</text>" in makeup
    ratio = re.search(r'<svg[^>]*data-param="ratio"[^>]*>(.*?)</svg>', html).group(0)
    assert ">default</text>" not in ratio


def test_a_quantised_value_is_shown_as_what_the_unit_gets(tmp_path, capsys):
    c = sheet_of(tmp_path, "roland_mmp2", "comp_level_db = 3.3")["comp_level_db"]
    assert c.value == 3.5 and c.value_text == "3.5 dB"
    assert c.asked == 3.3 and c.note == "asked 3.3 dB" and c.step == 0.5
    # the pointer where 3.5 dB sits on -24..+24 dB
    assert c.angle == pytest.approx(-135 + 270 * (3.5 + 24) / 48, abs=1e-9)
    assert "0.5 dB steps" in c.range_text
    path = unit_session(tmp_path, "roland_mmp2", "comp_level_db = 3.3")
    with pytest.warns(Warning, match=r"comp_level_db: 3\.3 dB asked; the unit gets 3\.5 dB"):
        code, _, err = run([str(path), "--out", str(tmp_path / "q.html"), "--no-png"], capsys)
    assert code == 0, err
    html = (tmp_path / "q.html").read_text()
    assert rows(html)["comp_level_db"] == "3.5 dB"
    assert "<small>(asked 3.3 dB)</small>" in html
    # a value on the unit's steps is shown as written, with no note
    assert sheet_of(tmp_path, "roland_mmp2", "comp_level_db = 3.5")["comp_level_db"].note == ""


def _every_parameter_set(profile: str) -> str:
    """Settings for every parameter of a profile: the longest position of each table (the
    widest label), the top of each range."""
    prof = load_profile(profile)
    out = []
    for name, p in prof.parameters.items():
        v = max(p.table, key=lambda t: len(str(t))) if p.law == "table" else p.max
        key = f'"{name}"' if "[" in name else name
        out.append(f"{key} = {v!r}".replace("'", '"'))
    return ", ".join(out)


@pytest.mark.parametrize("profile", sorted(p.stem for p in (Path(__file__).parents[2]
                                                            / "devices").glob("*.toml")))
@pytest.mark.parametrize("settings", ["defaults", "every parameter"])
def test_no_label_is_cut_on_any_profiles_sheet(tmp_path, profile, settings):
    import matplotlib.pyplot as plt

    from host.gear.recall_sheet import png_figure, sheets, svg_texts, text_box, text_width
    from host.model.session import load_session

    text = "" if settings == "defaults" else _every_parameter_set(profile)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        session = load_session(unit_session(tmp_path, profile, text))
    units = sheets(session)
    for c in units[0].controls:       # the HTML: each SVG is as wide as its texts
        width, height, texts = svg_texts(c)
        for x, y, anchor, t, size, bold, _cls in texts:
            w = text_width(t, size, bold)
            left = {"middle": x - w / 2, "start": x, "end": x - w}[anchor]
            assert -width / 2 <= left and left + w <= width / 2, (c.name, t)
            assert size <= y <= height, (c.name, t)
    fig, cells = png_figure(units, str(session.path))
    try:                               # the PNG: every text inside its cell and the page
        w_in, h_in = fig.get_size_inches()
        ax = fig.axes[0]
        for texts, (x0, x1, y0, y1) in cells:
            for t in texts:
                a, b, c0, c1 = text_box(fig, ax, t)
                assert x0 - 1e-6 <= a and b <= x1 + 1e-6, (t.get_text(), a, b, x0, x1)
                assert a >= 0 and b <= w_in and c0 >= 0 and c1 <= h_in, t.get_text()
                assert y0 <= c0 and c1 <= y1, (t.get_text(), c0, c1, y0, y1)
                assert t.get_fontsize() >= 6, t.get_text()
    finally:
        plt.close(fig)
