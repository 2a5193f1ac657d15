"""A master's or a deliverable's sample rate is a standard one: 12345 Hz is
refused where it is written (chain [master], [[release.deliverables]]), in one
line naming the key and the rates there are."""

from __future__ import annotations

import pytest

from host.errors import ConfigError
from host.model.config import SAMPLE_RATES
from host.model.session import load_chain, load_session

SESSION = """
[interface]
device = "system"
sample_rate = 48000
block_size = 128

[program]
inputs = [1, 2]
outputs = [1, 2]

[release]
print = "print.wav"

[[release.deliverables]]
name = "odd"
sample_rate = {rate}
"""


@pytest.mark.parametrize("rate", [12345, 44000, 47999])
def test_a_deliverable_at_an_unusual_rate_is_refused(tmp_path, rate):
    path = tmp_path / "s.toml"
    path.write_text(SESSION.format(rate=rate))
    with pytest.raises(ConfigError, match=r"release\.deliverables\[0\]\.sample_rate: expected "
                       rf"a sample rate in Hz, one of 8000, 11025, .*, 384000, got {rate}$"):
        load_session(path)


@pytest.mark.parametrize("rate", [12345, 96001])
def test_a_chain_master_rate_must_be_standard(tmp_path, rate):
    path = tmp_path / "c.toml"
    path.write_text(f"[master]\nsample_rate = {rate}\n")
    with pytest.raises(ConfigError, match=r"c\.toml: master\.sample_rate: expected a sample "
                       rf"rate in Hz, one of .*, got {rate}$"):
        load_chain(path)


@pytest.mark.parametrize("rate", SAMPLE_RATES)
def test_the_standard_rates_are_taken(tmp_path, rate):
    path = tmp_path / "s.toml"
    path.write_text(SESSION.format(rate=rate))
    (d,) = load_session(path).release.deliverables
    assert d.sample_rate == rate
    assert {44100, 48000, 88200, 96000, 192000} <= set(SAMPLE_RATES)
