"""Recall sheets (host.gear.recall_sheet): every parameter with its value and unit,
pointers where the parameter's law puts them, a self-contained HTML, a PNG,
and one-line errors for a bad session or profile."""

from __future__ import annotations

import argparse
import math
import re
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
        r'<tr[^>]*data-param="([^"]+)"><td>.*?</td><td><b>(.*?)</b></td>', html)}


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
