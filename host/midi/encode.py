"""MIDI messages that set a parameter of a device profile, and SysEx dumps.

How each ``send`` kind is encoded (status bytes on ``channel`` 1..16):

``cc``       one control change: ``Bn number raw`` (7-bit, raw 0..127).
``cc14``     MSB then LSB: ``Bn number raw>>7``, ``Bn number+32 raw&127``
             (number 0..31; a receiver zeroes its LSB when an MSB arrives, so
             the MSB must come first).
``nrpn``     ``Bn 63 num>>7``, ``Bn 62 num&127``, ``Bn 06 raw>>7``,
             ``Bn 26 raw&127`` (CC 99, 98, 6, 38), both number bytes every time.
``program``  bank select then program change, back to back: ``Bn 00 bank>>7``,
             ``Bn 20 bank&127``, ``Cn raw&127`` with ``bank = number + raw //
             128`` (profile ``bank_select``: "cc0_cc32" as shown, "cc0": ``Bn 00
             bank`` alone, "none": the program change alone).
``sysex``    the parameter's template (below), ``F0 .. F7``.
``manual``   nothing: set by hand, listed on the recall sheet.

SysEx templates
---------------
A template is whitespace-separated tokens; the message is their bytes in order:

``F0``, ``41`` ...     a literal byte, two hex digits (data bytes < 80).
``{ch}``               the channel as a 0..15 byte (channel - 1).
``{ch+HH}``            channel - 1 + 0xHH (Roland device ID: ``{ch+10}`` = 10H..1FH).
``{address}``          the parameter's ``address`` (hex bytes, e.g. ``"00 00 10"``).
``{value}``            the raw value, one 7-bit byte.
``{value:N}``          the raw value in N 7-bit bytes, most significant first.
``{value:Nl}``         ... least significant first.
``{value:Nn}``         the raw value in N 4-bit nibbles (``0000 aaaa``), most
                       significant first (Roland's nibbled parameters).
``[`` ... ``]``        the bytes the checksum covers (address and data).
``{checksum}``         Roland checksum of the bracketed bytes: ``(128 - sum % 128)
                       % 128``.

A profile may give one ``sysex_template`` for all its SysEx parameters (each then
gives its ``address``) and a ``dump_request`` template (no ``{value}``).  A
template must start with F0 and end with F7.  :func:`parse_dump` reads a reply
made of messages of the parameters' own templates (a Roland DT1 per parameter):
every message that matches a parameter's template (checksum verified) gives its
value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from host.midi import laws

if TYPE_CHECKING:
    from host.midi.profiles import DeviceProfile, Parameter

_TOKEN_RE = re.compile(
    r"^(?:(?P<byte>[0-9A-Fa-f]{2})|(?P<open>\[)|(?P<close>\])|(?P<ch>\{ch(?:\+(?P<off>[0-9A-Fa-f]{1,2}))?\})"
    r"|(?P<addr>\{address\})|(?P<value>\{value(?::(?P<n>[1-4])(?P<kind>[ln]?))?\})"
    r"|(?P<sum>\{checksum\}))$")


@dataclass(frozen=True)
class Token:
    """One template token: kind in byte, open, close, ch, address, value, checksum."""

    kind: str
    arg: int = 0          # byte value; channel offset; value width
    form: str = ""        # value: "" (7-bit, MSB first), "l" (LSB first), "n" (nibbles)


def parse_template(text: str, *, address: bytes | None = None,
                   want_value: bool = True) -> list[Token]:
    """Parse and check a SysEx template; ValueError says what is wrong.

    ``{address}`` is expanded with ``address`` (an error when None).  With
    ``want_value`` the template must hold exactly one ``{value...}``, else none.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError("expected a template string such as \"F0 41 {ch+10} ... F7\"")
    out: list[Token] = []
    opened = closed = False
    for tok in text.split():
        m = _TOKEN_RE.match(tok)
        width = re.match(r"^\{value:(\d+)[ln]?\}$", tok)
        if m is None and width is not None:
            raise ValueError(f"{tok}: expected a width N of 1..4 ({{value:N}}: N 7-bit bytes, "
                             f"{{value:Nl}} least significant first, {{value:Nn}} N nibbles), "
                             f"got {width[1]}")
        if m is None:
            raise ValueError(f"unknown token {tok!r} (hex byte, [, ], {{ch}}, {{ch+HH}}, "
                             f"{{address}}, {{value}}, {{value:N}}, {{value:Nl}}, "
                             f"{{value:Nn}} or {{checksum}})")
        if m["byte"]:
            out.append(Token("byte", int(m["byte"], 16)))
        elif m["open"]:
            if opened:
                raise ValueError("more than one [ (checksum range)")
            opened = True
            out.append(Token("open"))
        elif m["close"]:
            if not opened or closed:
                raise ValueError("] without [")
            closed = True
            out.append(Token("close"))
        elif m["ch"]:
            off = int(m["off"], 16) if m["off"] else 0
            if off + 15 > 0x7F:
                raise ValueError(f"{tok}: channel byte would exceed 7F")
            out.append(Token("ch", off))
        elif m["addr"]:
            if address is None:
                raise ValueError("{address} but the parameter has no address")
            out.extend(Token("byte", b) for b in address)
        elif m["value"]:
            out.append(Token("value", int(m["n"] or 1), m["kind"] or ""))
        else:
            out.append(Token("checksum"))
    if not out or out[0] != Token("byte", 0xF0) or out[-1] != Token("byte", 0xF7):
        raise ValueError("a SysEx template must start with F0 and end with F7")
    inner = [t for t in out[1:-1] if t.kind == "byte"]
    bad = [f"{t.arg:02X}" for t in inner if t.arg > 0x7F]
    if bad:
        raise ValueError(f"data bytes must be < 80 (7-bit), got {', '.join(bad)}")
    n_sum = sum(t.kind == "checksum" for t in out)
    if opened != closed:
        raise ValueError("[ without ]")
    if n_sum > 1 or (n_sum == 1) != opened:
        raise ValueError("{checksum} needs exactly one [ ... ] range before it, and a range "
                         "needs {checksum}")
    if n_sum:
        kinds = [t.kind for t in out]
        if kinds.index("checksum") < kinds.index("close"):
            raise ValueError("{checksum} must come after ]")
    n_val = sum(t.kind == "value" for t in out)
    if want_value and n_val != 1:
        raise ValueError(f"expected exactly one {{value}}, got {n_val}")
    if not want_value and n_val:
        raise ValueError("a dump request has no {value}")
    return out


def value_raw_max(tokens: list[Token]) -> int:
    """The largest raw value the template's ``{value}`` can carry."""
    for t in tokens:
        if t.kind == "value":
            return (16 ** t.arg if t.form == "n" else 128 ** t.arg) - 1
    return 0


def roland_checksum(data: bytes | list[int]) -> int:
    """Roland checksum of address and data bytes: ``(128 - sum % 128) % 128``."""
    return (128 - sum(data) % 128) % 128


def _value_bytes(raw: int, t: Token) -> list[int]:
    bits, mask = (4, 0x0F) if t.form == "n" else (7, 0x7F)
    out = [(raw >> (bits * i)) & mask for i in range(t.arg)]
    return out if t.form == "l" else out[::-1]


def render(tokens: list[Token], channel: int, raw: int | None = None) -> bytes:
    """The bytes of a parsed template for ``channel`` (1..16) and ``raw``."""
    out: list[int] = []
    start: int | None = None
    summed: list[int] = []
    for t in tokens:
        if t.kind == "byte":
            out.append(t.arg)
        elif t.kind == "ch":
            out.append(channel - 1 + t.arg)
        elif t.kind == "value":
            assert raw is not None
            out.extend(_value_bytes(raw, t))
        elif t.kind == "open":
            start = len(out)
        elif t.kind == "close":
            assert start is not None
            summed = out[start:]
        elif t.kind == "checksum":
            out.append(roland_checksum(summed))
    return bytes(out)


def _check_channel(channel: int) -> int:
    if isinstance(channel, bool) or not isinstance(channel, int) or not 1 <= channel <= 16:
        raise ValueError(f"channel: expected a MIDI channel 1..16, got {channel!r}")
    return channel


def _cc(channel: int, number: int, value: int) -> bytes:
    return bytes((0xB0 | (channel - 1), number, value))


def param_messages(p: Parameter, value: float | str, channel: int,
                   bank_select: str = "cc0_cc32") -> list[bytes]:
    """The messages that set parameter ``p`` to physical ``value`` on ``channel``."""
    _check_channel(channel)
    raw = laws.to_raw(p, value)
    n = p.number if p.number is not None else 0
    if p.send == "cc":
        return [_cc(channel, n, raw)]
    if p.send == "cc14":
        return [_cc(channel, n, raw >> 7), _cc(channel, n + 32, raw & 0x7F)]
    if p.send == "nrpn":
        return [_cc(channel, 99, n >> 7), _cc(channel, 98, n & 0x7F),
                _cc(channel, 6, raw >> 7), _cc(channel, 38, raw & 0x7F)]
    if p.send == "program":
        bank = n + raw // 128
        pc = bytes((0xC0 | (channel - 1), raw & 0x7F))
        if bank_select == "none":
            return [pc]
        if bank_select == "cc0":
            if bank > 127:
                raise ValueError(f"{p.name}: bank {bank} does not fit CC 0 alone (0..127)")
            return [_cc(channel, 0, bank), pc]
        return [_cc(channel, 0, bank >> 7), _cc(channel, 32, bank & 0x7F), pc]
    if p.send == "sysex":
        return [render(p.sysex_tokens, channel, raw)]
    raise ValueError(f"{p.name}: send {p.send!r} has no MIDI message")


def messages(profile: DeviceProfile, param_name: str, value: float | str,
             channel: int | None = None) -> list[bytes]:
    """Complete MIDI messages setting ``param_name`` of ``profile`` to ``value``.

    Parameters
    ----------
    profile : DeviceProfile
    param_name : str
        A key of ``profile.parameters``.
    value : float or str
        Physical value in the parameter's unit (a table entry for a switch).
    channel : int or None
        MIDI channel 1..16; None: the profile's ``midi_channel``.

    Raises
    ------
    ValueError
        Unknown parameter, a value out of range (the message names the
        parameter and its range; nothing is clamped), a manual parameter, or
        a bad channel.
    """
    p = profile.parameters.get(param_name)
    if p is None:
        raise ValueError(f"{profile.id}: no parameter {param_name!r}; expected one of "
                         f"{', '.join(profile.parameters)}")
    ch = profile.midi_channel if channel is None else channel
    return param_messages(p, value, ch, profile.bank_select)


def dump_request(profile: DeviceProfile, channel: int | None = None) -> bytes | None:
    """The SysEx that asks the unit for its state, or None if the profile has none."""
    if profile.dump_request is None:
        return None
    ch = _check_channel(profile.midi_channel if channel is None else channel)
    return render(parse_template(profile.dump_request, want_value=False), ch)


def split_sysex(data: bytes) -> list[bytes]:
    """The complete ``F0 .. F7`` messages in ``data`` (other bytes are skipped)."""
    out: list[bytes] = []
    start: int | None = None
    for i, b in enumerate(data):
        if b == 0xF0:
            start = i
        elif b == 0xF7 and start is not None:
            out.append(bytes(data[start:i + 1]))
            start = None
    return out


def _match(tokens: list[Token], msg: bytes) -> int | None:
    """The raw value if ``msg`` has the template's form (any channel, checksum
    verified), else None."""
    i = 0
    raw: int | None = None
    start: int | None = None
    summed: bytes = b""
    for t in tokens:
        if t.kind == "byte":
            if i >= len(msg) or msg[i] != t.arg:
                return None
            i += 1
        elif t.kind == "ch":
            if i >= len(msg) or not t.arg <= msg[i] <= t.arg + 15:
                return None
            i += 1
        elif t.kind == "value":
            part = msg[i:i + t.arg]
            if len(part) != t.arg:
                return None
            seq = part[::-1] if t.form == "l" else part
            bits = 4 if t.form == "n" else 7
            raw = 0
            for b in seq:
                if b >> bits:
                    return None
                raw = (raw << bits) | b
            i += t.arg
        elif t.kind == "open":
            start = i
        elif t.kind == "close":
            summed = msg[start:i]
        elif t.kind == "checksum":
            if i >= len(msg) or msg[i] != roland_checksum(summed):
                return None
            i += 1
    return raw if i == len(msg) else None


def parse_dump(profile: DeviceProfile, data: bytes) -> dict[str, float | str]:
    """Physical values read from a unit's SysEx reply.

    Each complete SysEx message in ``data`` that has the form of a SysEx
    parameter's template (checksum verified, any channel) gives that
    parameter's value; messages that match nothing are ignored.  A raw value
    outside the parameter's raw range is an error (the unit is not the one
    the profile describes).
    """
    found: dict[str, float | str] = {}
    sysex_params = [p for p in profile.parameters.values() if p.send == "sysex"]
    for msg in split_sysex(bytes(data)):
        for p in sysex_params:
            raw = _match(p.sysex_tokens, msg)
            if raw is not None:
                found[p.name] = laws.from_raw(p, raw)
                break
    return found
