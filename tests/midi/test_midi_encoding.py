"""MIDI message encoding (host.midi.encode) against the MIDI 1.0 specification,
written out here byte by byte, and against mido's parser.

MIDI 1.0 facts used (MIDI 1.0 Detailed Specification, Channel Voice messages and
the Control Change table and its notes on 14-bit controllers, NRPN and Bank Select):
  * Control Change: status 0xB0 | (channel - 1), controller 0..127, value 0..127.
  * 14-bit controllers: MSB on CC 0..31, LSB on CC 32..63 (= MSB number + 32);
    the MSB is sent first (a receiver resets the LSB when an MSB arrives).
  * NRPN: CC 99 = parameter number MSB, CC 98 = LSB, then Data Entry CC 6 = MSB,
    CC 38 = LSB.
  * Bank Select: CC 0 = MSB, CC 32 = LSB, then Program Change 0xC0 | (channel - 1).
  * System Exclusive: 0xF0, manufacturer ID (0x41 = Roland), data bytes < 0x80, 0xF7.
  * Roland checksum: (128 - (sum of address and data bytes) mod 128) mod 128.
"""

from __future__ import annotations

import textwrap

import mido
import pytest

from host.midi import encode, laws
from host.midi.profiles import load_profile

HEADER = """\
# Source: test
maker = "Test"
model = "T-1"
source = "written in the test"
"""


def _profile(tmp_path, body: str, header: str = HEADER):
    path = tmp_path / "unit.toml"
    path.write_text(header + textwrap.dedent(body), encoding="utf-8")
    return load_profile(path)


def _parse(msgs: list[bytes]) -> list[mido.Message]:
    """Each message through mido.Message.from_bytes and, joined, through mido.Parser."""
    one = [mido.Message.from_bytes(list(m)) for m in msgs]
    parser = mido.Parser()
    parser.feed(b"".join(msgs))
    stream = list(parser)
    assert [m.bytes() for m in stream] == [list(m) for m in msgs]
    return one


def _all_7bit(msgs: list[bytes]) -> None:
    for m in msgs:
        assert m[0] & 0x80
        if m[0] == 0xF0:
            assert m[-1] == 0xF7
            assert all(b < 0x80 for b in m[1:-1])
        else:
            assert all(b < 0x80 for b in m[1:])


# ---- CC and 14-bit CC ----------------------------------------------------------------------


@pytest.mark.parametrize("channel", [1, 10, 16])
def test_7bit_cc_is_one_control_change(channel):
    prof = load_profile("outboard_virtual_compressor")
    msgs = encode.messages(prof, "ratio", 4.0, channel)
    p = prof.parameters["ratio"]
    assert msgs == [bytes([0xB0 + channel - 1, 21, laws.to_raw(p, 4.0)])]
    (m,) = _parse(msgs)
    assert (m.type, m.channel, m.control, m.value) == ("control_change", channel - 1, 21,
                                                       laws.to_raw(p, 4.0))


@pytest.mark.parametrize("value", [-40.0, -23.456, -20.0, -0.0012, 0.0])
def test_14bit_cc_sends_msb_on_n_then_lsb_on_n_plus_32(value):
    prof = load_profile("outboard_virtual_compressor")
    p = prof.parameters["threshold_db"]
    raw = laws.to_raw(p, value)
    msgs = encode.messages(prof, "threshold_db", value, 3)
    assert msgs == [bytes([0xB2, 20, raw >> 7]), bytes([0xB2, 52, raw & 0x7F])]
    m1, m2 = _parse(msgs)
    assert (m1.control, m2.control) == (20, 52)
    assert m1.value * 128 + m2.value == raw
    _all_7bit(msgs)


def test_14bit_value_recovered_within_resolution():
    prof = load_profile("outboard_virtual_compressor")
    p = prof.parameters["makeup_db"]
    for v in (0.0, 0.7, 12.3456, 24.0):
        m1, m2 = _parse(encode.messages(prof, "makeup_db", v, 1))
        back = laws.from_raw(p, m1.value * 128 + m2.value)
        assert abs(back - v) <= laws.resolution(p, v) / 2 + 1e-12
        assert laws.resolution(p, v) == pytest.approx(24 / 16383)


def test_profile_channel_is_the_default(tmp_path):
    prof = _profile(tmp_path, '[parameters.x]\nmin = 0.0\nmax = 1.0\nsend = "cc"\nnumber = 7\n',
                    HEADER + "midi_channel = 5\n")
    assert encode.messages(prof, "x", 1.0)[0][0] == 0xB4


@pytest.mark.parametrize("channel", [0, 17, 1.0, True])
def test_bad_channel_is_an_error(channel):
    prof = load_profile("outboard_virtual_compressor")
    with pytest.raises(ValueError, match="channel"):
        encode.messages(prof, "ratio", 2.0, channel)


def test_out_of_range_value_is_an_error_not_a_clamped_message():
    prof = load_profile("outboard_virtual_compressor")
    with pytest.raises(ValueError, match=r"threshold_db: .*-40\.\.0 dBFS"):
        encode.messages(prof, "threshold_db", -41.0, 1)
    with pytest.raises(ValueError, match="no parameter"):
        encode.messages(prof, "thresh", -10.0, 1)
    with pytest.raises(ValueError, match="manual"):
        encode.messages(prof, "mode", "vintage", 1)


# ---- NRPN -----------------------------------------------------------------------------------


@pytest.mark.parametrize("number,value", [(0, 0.0), (300, 0.5), (16383, 1.0), (129, 0.25)])
def test_nrpn_sends_99_98_6_38_every_time(tmp_path, number, value):
    prof = _profile(tmp_path, f'[parameters.x]\nmin = 0.0\nmax = 1.0\nsend = "nrpn"\n'
                              f'number = {number}\n')
    raw = laws.to_raw(prof.parameters["x"], value)
    for _ in range(2):  # the number is sent again every time
        msgs = encode.messages(prof, "x", value, 2)
        assert msgs == [bytes([0xB1, 99, number >> 7]), bytes([0xB1, 98, number & 127]),
                        bytes([0xB1, 6, raw >> 7]), bytes([0xB1, 38, raw & 127])]
    parsed = _parse(msgs)
    assert [m.control for m in parsed] == [99, 98, 6, 38]
    assert parsed[0].value * 128 + parsed[1].value == number
    assert parsed[2].value * 128 + parsed[3].value == raw


# ---- program change with bank select --------------------------------------------------------


def test_program_change_follows_bank_select_msb_lsb(tmp_path):
    prof = _profile(tmp_path, '[parameters.preset]\nmin = 0.0\nmax = 999.0\nsend = "program"\n'
                              'number = 130\nraw_max = 999\n')
    msgs = encode.messages(prof, "preset", 300.0, 1)
    bank = 130 + 300 // 128
    assert msgs == [bytes([0xB0, 0, bank >> 7]), bytes([0xB0, 32, bank & 127]),
                    bytes([0xC0, 300 % 128])]
    m0, m32, pc = _parse(msgs)
    assert (m0.control, m32.control, pc.type, pc.program) == (0, 32, "program_change", 44)
    assert m0.value * 128 + m32.value == 132


def test_program_change_bank_on_cc0_alone(tmp_path):
    prof = _profile(tmp_path, '[parameters.preset]\nmin = 0.0\nmax = 299.0\nsend = "program"\n'
                              'raw_max = 299\n', HEADER + 'bank_select = "cc0"\n')
    assert encode.messages(prof, "preset", 200.0, 4) == [bytes([0xB3, 0, 1]), bytes([0xC3, 72])]


# ---- SysEx ----------------------------------------------------------------------------------


def test_roland_checksum_on_the_published_gs_reset():
    # Roland SK-50 Owner's Manual, MIDI Implementation, "GS reset": F0 41 dev 42 12
    # 40 00 7F 00 sum F7, "The checksum when dev. = 10H(17) is 41H" (also the F-120R
    # manual's MIDI Implementation p. 6: F0 41 10 42 12 40 00 7F 00 41 F7).
    assert encode.roland_checksum([0x40, 0x00, 0x7F, 0x00]) == 0x41
    tokens = encode.parse_template("F0 41 {ch+10} 42 12 [ 40 00 7F {value} ] {checksum} F7")
    assert encode.render(tokens, 1, 0) == bytes.fromhex("F0 41 10 42 12 40 00 7F 00 41 F7")


@pytest.mark.parametrize("data", [[0x00], [0x7F, 0x7F, 0x7F], [0x40, 0x02, 0x01, 0x47],
                                  list(range(0, 128, 3))])
def test_roland_checksum_definition(data):
    c = encode.roland_checksum(data)
    assert 0 <= c < 128
    assert (sum(data) + c) % 128 == 0  # address + data + checksum = 0 mod 128


SYSEX_BODY = """\
[parameters.gain_db]
unit = "dB"
min = -12.0
max = 12.0
law = "centred"
send = "sysex"
raw_min = 52
raw_max = 76
address = "40 02 01"

[parameters.time]
unit = "ms"
min = 0.0
max = 1000.0
send = "sysex"
raw_max = 1000
sysex = "F0 41 {ch+10} 42 12 [ 01 02 03 {value:4n} ] {checksum} F7"

[parameters.level]
min = 0.0
max = 16383.0
send = "sysex"
sysex = "F0 00 20 33 {ch} 10 {value:2l} F7"
"""
SYSEX_HEADER = HEADER + ('sysex_template = "F0 41 {ch+10} 42 12 [ {address} {value} ] '
                         '{checksum} F7"\ndump_request = "F0 41 {ch+10} 42 11 [ 40 02 01 '
                         '00 00 01 ] {checksum} F7"\n')


@pytest.mark.parametrize("channel", [1, 16])
def test_sysex_template_framing_checksum_and_mido(tmp_path, channel):
    prof = _profile(tmp_path, SYSEX_BODY, SYSEX_HEADER)
    (msg,) = encode.messages(prof, "gain_db", 7.0, channel)
    dev = 0x10 + channel - 1
    body = [0x40, 0x02, 0x01, 0x47]
    assert msg == bytes([0xF0, 0x41, dev, 0x42, 0x12, *body, encode.roland_checksum(body), 0xF7])
    if channel == 1:  # shingo45endo sysex-checksum worked example "SC-88 EQ Low Gain +7 dB"
        assert msg.hex(" ").upper() == "F0 41 10 42 12 40 02 01 47 76 F7"
    (m,) = _parse([msg])
    assert m.type == "sysex" and list(m.data) == list(msg[1:-1])
    _all_7bit([msg])


def test_sysex_multibyte_values_nibbles_and_lsb_first(tmp_path):
    prof = _profile(tmp_path, SYSEX_BODY, SYSEX_HEADER)
    (msg,) = encode.messages(prof, "time", 700.0, 1)
    assert list(msg[5:12]) == [0x01, 0x02, 0x03, 0x00, 0x02, 0x0B, 0x0C]  # 700 = 0x2BC
    assert (sum(msg[5:12]) + msg[12]) % 128 == 0
    (msg,) = encode.messages(prof, "level", 300.0, 3)
    assert msg == bytes([0xF0, 0x00, 0x20, 0x33, 0x02, 0x10, 300 & 127, 300 >> 7, 0xF7])
    _parse([msg])


def test_dump_request_and_parse_dump_round_trip(tmp_path):
    prof = _profile(tmp_path, SYSEX_BODY, SYSEX_HEADER)
    req = encode.dump_request(prof, 2)
    assert req[:5] == bytes([0xF0, 0x41, 0x11, 0x42, 0x11]) and req[-1] == 0xF7
    assert (sum(req[5:11]) + req[11]) % 128 == 0
    reply = b"".join(m for n, v in (("gain_db", -3.0), ("time", 250.0), ("level", 9.0))
                     for m in encode.messages(prof, n, v, 2))
    got = encode.parse_dump(prof, b"\xfe" + reply)  # stray active sensing byte skipped
    assert got == {"gain_db": -3.0, "time": 250.0, "level": 9.0}
    # a corrupted checksum is not accepted
    bad = bytearray(encode.messages(prof, "gain_db", -3.0, 2)[0])
    bad[-2] ^= 1
    assert encode.parse_dump(prof, bytes(bad)) == {}
    assert encode.dump_request(load_profile("outboard_virtual_compressor")) is None


@pytest.mark.parametrize("template,err", [
    ("F0 41 {value} F7 F7", None),
    ("F0 41 {valu} F7", "unknown token"),
    ("F0 41 [ 10 {value} {checksum} F7", "without"),
    ("F0 41 [ 10 ] {value} F7", "checksum"),
    ("F0 41 {value} {value} F7", "exactly one"),
    ("F0 41 90 {value} F7", "7-bit"),
])
def test_template_errors(template, err):
    if err is None:
        # an F7 inside the data is a framing error too (data bytes < 80)
        with pytest.raises(ValueError):
            encode.parse_template(template)
        return
    with pytest.raises(ValueError, match=err):
        encode.parse_template(template)


# ---- every shipped profile encodes its defaults as valid MIDI --------------------------------


def test_every_shipped_parameter_encodes_defaults_as_valid_midi():
    from host.midi.profiles import list_profiles

    for name in list_profiles():
        prof = load_profile(name)
        for p in prof.midi_parameters():
            values = [p.default] if p.default is not None else []
            values += list(p.table) or [p.min, p.max]
            for v in values:
                msgs = encode.messages(prof, p.name, v)
                _all_7bit(msgs)
                _parse(msgs)


# ---- real units: the bytes their manuals describe ---------------------------------------------


def test_roland_mmp2_dt1_bytes_from_the_manual():
    # MMP-2 Owner's Manual p. 47: F0 41 dev 00 4E 12 aa bb cc dd sum F7; ATT 1 at 00 01 01,
    # 0 dB = 40H; DYN 1 COMP Level at 00 02 68, 10H..70H = -24..+24 dB
    prof = load_profile("roland_mmp2")
    (msg,) = encode.messages(prof, "att_1_db", 0.0, 16)
    body = [0x00, 0x01, 0x01, 0x40]
    assert msg == bytes([0xF0, 0x41, 0x1F, 0x00, 0x4E, 0x12, *body,
                         (128 - sum(body) % 128) % 128, 0xF7])
    assert encode.messages(prof, "att_1_db", -42.0, 16)[0][9] == 0x16
    assert encode.messages(prof, "comp_level_db", 24.0, 16)[0][9] == 0x70
    assert encode.messages(prof, "comp_level_db", -24.0, 16)[0][9] == 0x10
    assert encode.messages(prof, "exp_threshold_db", 0.0, 16)[0][9] == 0x60
    # user patch #64: bank select 00H / 40H then program change 3FH, channel 16 (p. 46)
    assert encode.messages(prof, "user_patch", "User #64", 16) == [
        bytes([0xBF, 0x00, 0x00]), bytes([0xBF, 0x20, 0x40]), bytes([0xCF, 0x3F])]
    _parse(encode.messages(prof, "phantom_power_1", "on", 16))
    got = encode.parse_dump(prof, encode.messages(prof, "exp_threshold_db", -40.0, 16)[0])
    assert got == {"exp_threshold_db": -40.0}


def test_strymon_bigsky_bank_on_cc0_then_program():
    # BigSky User Manual p. 23: bank 1 holds presets 128..255 (42C-85A); CC 0 = bank, then
    # PC; presets by name, program number sequential: 00A = 0 ... 66C = 200, 99C = 299
    prof = load_profile("strymon_bigsky")
    assert encode.messages(prof, "preset", "66C", 1) == [bytes([0xB0, 0, 1]),
                                                         bytes([0xC0, 72])]
    assert encode.messages(prof, "preset", "00A", 1) == [bytes([0xB0, 0, 0]),
                                                         bytes([0xC0, 0])]
    assert encode.messages(prof, "preset", "42C", 1) == [bytes([0xB0, 0, 1]),
                                                         bytes([0xC0, 0])]
    assert encode.messages(prof, "preset", "99C", 1) == [bytes([0xB0, 0, 2]),
                                                         bytes([0xC0, 299 - 256])]
    assert encode.messages(prof, "decay_percent", 100.0, 1) == [bytes([0xB0, 17, 127])]
    assert encode.messages(prof, "persist", "on", 1) == [bytes([0xB0, 22, 1])]


def test_moog_500_delay_14bit_and_discrete_values():
    # Moog 500 Series Analog Delay manual p. 17: Time MSB 12 / LSB 44, 0-16383;
    # Time Multiplier CC 75: 0 = 1x, 32 = 2x, 64 = 4x, 96 = 8x
    prof = load_profile("moog_500_analog_delay")
    assert encode.messages(prof, "time_percent", 100.0, 1) == [bytes([0xB0, 12, 127]),
                                                               bytes([0xB0, 44, 127])]
    assert encode.messages(prof, "time_multiplier", "4x", 1) == [bytes([0xB0, 75, 64])]
    assert encode.messages(prof, "lfo_shape", "smooth S&H", 1) == [bytes([0xB0, 17, 112])]
