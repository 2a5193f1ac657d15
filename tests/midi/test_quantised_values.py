"""What the unit gets (host.midi.laws.sent_value / quantised): the value of the
raw step sent, and whether it is the value as written.  Checked against the
units' charts: the MMP-2's DYN 1 comp level moves in 0.5 dB steps (10H..70H for
-24..+24 dB, manual p. 49), the BigSky's knobs in 1/127 of their travel."""

from __future__ import annotations

import pytest

from host.midi.laws import quantised, resolution, sent_value, to_raw, written_tolerance
from host.midi.profiles import load_profile

MMP2 = load_profile("roland_mmp2").parameters
BIGSKY = load_profile("strymon_bigsky").parameters
COMP = load_profile("outboard_virtual_compressor").parameters


@pytest.mark.parametrize(("value", "tol"), [(3.3, 0.05), (200.0, 0.5), (-24.0, 0.5),
                                            (0.125, 0.0005), (2.5e-05, 5e-07), (33.333, 5e-4)])
def test_written_tolerance_is_half_the_last_written_decimal(value, tol):
    assert written_tolerance(value) == pytest.approx(tol)


def test_a_value_between_the_units_steps_is_sent_as_the_nearest_step():
    p = MMP2["comp_level_db"]
    assert resolution(p, 3.3) == 0.5
    # 3.3 dB: raw 40H + 3.3 / 0.5 = 70.6 -> 71 (47H), which the unit reads as 3.5 dB
    assert to_raw(p, 3.3) == 0x47 and sent_value(p, 3.3) == 3.5
    assert quantised(p, 3.3) == 3.5
    assert quantised(p, 3.5) is None and quantised(p, -24.0) is None
    # a 7-bit knob over 0..100 %: 33.3 % is raw 42, 33.07 %
    assert quantised(BIGSKY["mix_percent"], 33.3) == pytest.approx(100 * 42 / 127)
    # 50 %: raw 63 is 49.6 %, within the written precision of "50"
    assert quantised(BIGSKY["mix_percent"], 50.0) is None


def test_selectors_switches_and_manual_knobs_are_never_quantised():
    assert quantised(BIGSKY["preset"], "01C") is None
    assert sent_value(BIGSKY["preset"], "01C") == "01C"
    assert quantised(MMP2["phantom_power_1"], "on") is None
    assert quantised(COMP["mix_percent"], 33.3) is None     # set by hand, no MIDI steps


def test_the_virtual_compressor_takes_its_log_knobs_in_14_bits():
    # 200 ms release in 7 bits would be 201.6 ms; in 14 bits it is 200 ms as written
    assert quantised(COMP["release_ms"], 200.0) is None
    assert quantised(COMP["attack_ms"], 20.0) is None
    assert resolution(COMP["release_ms"], 200.0) < 0.1
