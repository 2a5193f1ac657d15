"""Bad input: the session, chain and device-profile parsers and the audio-file
reader end every case in a clear one-line error (host.errors.OutboardError and
its ConfigError / AudioFileError) or a correct result, never another exception
type and never a crash of the process.

The parsers are fuzzed with hypothesis: random TOML text, random byte edits of
the shipped files, and structural edits (a value replaced by an odd one, a key
deleted, an unknown key added) of their parsed tables.  Sessions, chains
and profiles are also generated whole (hardware routing, insert counts, SysEx
templates), and what validates must then be taken by what uses it: the C
engine builds a valid session's chain and routing, the offline chain runs a
valid chain, every parameter of a valid profile encodes.  The audio files are
small valid WAV/FLAC/AIFF files made here, then truncated, bit-flipped or with
their header bytes overwritten, and WAV headers generated field by field; they
are read in a child process, in one batch, so a crash inside libsndfile shows as
a failed test instead of killing pytest.

The suite runs a short share of examples, the same every time; ``make fuzz``
sets ``OUTBOARD_FUZZ_EXAMPLES`` (e.g. 5000) and draws new ones on every run.
"""

from __future__ import annotations

import copy
import json
import math
import os
import struct
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from host.model.session import load_chain
from host.model.config import parse_chain
from host.errors import OutboardError
from host.midi.profiles import load_profile
from host.model.session import load_session, parse_session

ROOT = Path(__file__).resolve().parents[2]
SESSIONS = sorted((ROOT / "configs").glob("session_*.toml"))
CHAINS = [p for p in sorted((ROOT / "configs").glob("*.toml")) if p not in SESSIONS]
PROFILES = sorted((ROOT / "devices").glob("*.toml"))

#: examples per fuzz test: `make fuzz` sets many (and random ones); the suite a few, fixed
FUZZ_EXAMPLES = int(os.environ.get("OUTBOARD_FUZZ_EXAMPLES") or 0)


def fuzz(share: float = 1.0, suite: int = 100) -> settings:
    """Hypothesis settings: ``suite`` examples in the test suite (derandomized),
    ``share`` of OUTBOARD_FUZZ_EXAMPLES under `make fuzz` (random each run)."""
    return settings(max_examples=max(1, int(FUZZ_EXAMPLES * share)) if FUZZ_EXAMPLES else suite,
                    deadline=None, derandomize=not FUZZ_EXAMPLES, print_blob=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow,
                                           HealthCheck.data_too_large])


FUZZ = fuzz(suite=150)


def _one_line_error(exc: BaseException) -> None:
    """The exception is ours and its message is one non-empty line."""
    assert isinstance(exc, OutboardError), f"{type(exc).__name__}: {exc}"
    msg = str(exc)
    assert msg.strip(), "empty error message"
    assert "\n" not in msg.strip(), f"multi-line error message: {msg!r}"


def _outcome(fn, *args) -> Any:
    """Call ``fn``; a result, or the assertion that it failed cleanly."""
    try:
        return fn(*args)
    except OutboardError as exc:
        _one_line_error(exc)
        return None


# ------------------------------------------------------------------ value mutations

#: values a hand-edited or damaged file might hold where another was expected
ODD_VALUES = st.one_of(
    st.sampled_from([0, -1, 1, 2**31, -(2**63), 10**30, 0.0, -0.0, 1e308, -1e308, 5e-324,
                     math.nan, math.inf, -math.inf, True, False, "", " ", "auto", "JACK",
                     "\x00", "é", [], [[]], [1, 1], [0], [1, 2, 3, 4, 5, 6, 7, 8, 9],
                     {}, {"x": 1}, [{}], ["a"], "rbj", "peak", "hardware"]),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.lists(st.integers(min_value=-3, max_value=40), max_size=6),
)


def _paths(d: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path into nested dicts and lists."""
    out = [prefix] if prefix else []
    if isinstance(d, dict):
        for k, v in d.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(d, list):
        for i, v in enumerate(d):
            out += _paths(v, prefix + (i,))
    return out


def _mutate(data: dict, draw) -> dict:
    """One structural edit of a parsed TOML table: replace, delete or add."""
    d = copy.deepcopy(data)
    paths = _paths(d)
    path = draw(st.sampled_from(paths))
    parent = d
    for k in path[:-1]:
        parent = parent[k]
    op = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
    last = path[-1]
    if op == "replace":
        parent[last] = draw(ODD_VALUES)
    elif op == "delete":
        del parent[last]
    else:
        target = parent[last] if isinstance(parent[last], dict) else parent
        if isinstance(target, dict):
            target[draw(st.sampled_from(["bogus", "Gain_dB", "latency", "kind", "x y"]))] = \
                draw(ODD_VALUES)
        else:
            target.append(draw(ODD_VALUES))
    return d


def _mutated_bytes(raw: bytes, draw) -> bytes:
    """A few byte-level edits: flips, deletions, insertions, truncation."""
    b = bytearray(raw)
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        if not b:
            break
        op = draw(st.sampled_from(["flip", "delete", "insert", "truncate"]))
        i = draw(st.integers(min_value=0, max_value=len(b) - 1))
        if op == "flip":
            b[i] ^= 1 << draw(st.integers(min_value=0, max_value=7))
        elif op == "delete":
            del b[i:i + draw(st.integers(min_value=1, max_value=16))]
        elif op == "insert":
            b[i:i] = draw(st.sampled_from([b"[", b"]", b"\"", b"=", b"\n", b"{", b"\xff",
                                           b"[[chain]]\n", b"nan", b",", b"#"]))
        else:
            del b[i:]
    return bytes(b)


# ------------------------------------------------------------------ sessions and chains

TOML_TEXT = st.one_of(
    st.text(max_size=200),
    st.lists(st.sampled_from(["[interface]", "[program]", "[[chain]]", "[latency]",
                              "device = \"system\"", "hostapi = \"JACK\"",
                              "sample_rate = 48000", "sample_rate = -1", "block_size = 0",
                              "inputs = [1, 2]", "outputs = [1, 2]", "monitor = [7, 8]",
                              "inputs = [1, 1]", "kind = \"eq\"", "kind = \"limiter\"",
                              "kind = \"hardware\"", "name = \"x\"", "bands = []",
                              "bands = [{ type = \"peak\" }]", "ceiling_dbtp = nan",
                              "sends = [3, 4]", "returns = [3]", "latency = \"low\"",
                              "embedded_jack = 1", "[master]", "target_lufs = inf",
                              "x = {", "= 1", "a.b.c = 2"]),
             max_size=14).map("\n".join),
)


@FUZZ
@given(text=TOML_TEXT)
def test_random_toml_text_gives_a_session_or_a_one_line_config_error(text, tmp_path):
    p = tmp_path / "fuzz_session.toml"
    p.write_text(text, encoding="utf-8")
    _outcome(load_session, p)
    _outcome(load_chain, p)


@FUZZ
@given(data=st.data())
def test_byte_mutated_shipped_sessions_give_a_session_or_a_one_line_error(data, tmp_path):
    src = data.draw(st.sampled_from(SESSIONS + CHAINS), label="file")
    raw = _mutated_bytes(src.read_bytes(), data.draw)
    p = tmp_path / src.name
    p.write_bytes(raw)
    loader = load_session if src in SESSIONS else load_chain
    _outcome(loader, p)


@FUZZ
@given(data=st.data())
def test_structurally_mutated_sessions_validate_or_name_the_key(data):
    src = data.draw(st.sampled_from(SESSIONS), label="session")
    tree = _mutate(tomllib.loads(src.read_text()), data.draw)
    _outcome(parse_session, tree, str(src))


@FUZZ
@given(data=st.data())
def test_structurally_mutated_chains_validate_or_name_the_key(data):
    src = data.draw(st.sampled_from(CHAINS), label="chain")
    tree = _mutate(tomllib.loads(src.read_text()), data.draw)
    _outcome(parse_chain, tree, str(src))


def test_shipped_configs_still_parse():
    """The seeds of the mutations are valid, so the fuzz starts from real files."""
    for p in SESSIONS:
        assert load_session(p).chain.inserts
    for p in CHAINS:
        assert load_chain(p).inserts


# ------------------------------------------------------------------ generated whole

#: interface channels a session names: mostly the first ten (so that lists collide)
CHANNEL = st.integers(min_value=1, max_value=10)
#: and what a slip of the keyboard gives
ANY_CHANNEL = st.one_of(st.integers(min_value=-2, max_value=300), st.sampled_from([64, 65]))


def _channels(n: int, wild: int = 3) -> st.SearchStrategy:
    """``n`` distinct channels (one per program channel), and one time in ``wild + 1``
    any list."""
    fair = st.lists(CHANNEL, min_size=n, max_size=n, unique=True)
    odd = st.lists(st.one_of(CHANNEL, ANY_CHANNEL), max_size=4)
    return st.sampled_from([False] * wild + [True]).flatmap(lambda w: odd if w else fair)


#: a knob's value: mostly in range for some knob, sometimes not for any
NUMBER = st.one_of(st.floats(min_value=-20, max_value=4, allow_nan=False),
                   st.floats(min_value=-20, max_value=4, allow_nan=False),
                   st.floats(min_value=-100, max_value=100, allow_nan=False),
                   st.sampled_from([0, 1, 2, 0.5, -1, -20, 1e9]))


def _insert(n: int) -> st.SearchStrategy:
    """One insert table for a program of ``n`` channels."""
    return st.one_of(
        st.fixed_dictionaries({"kind": st.just("gain"), "gain_db": NUMBER}),
        st.fixed_dictionaries({"kind": st.just("compressor")}, optional={
            "ratio": NUMBER, "threshold_db": NUMBER,
            "mode": st.sampled_from(["stereo", "mid-side", "mono"]),
            "detector": st.sampled_from(["peak", "rms"]), "bypass": st.booleans()}),
        st.fixed_dictionaries({"kind": st.just("limiter")}, optional={
            "ceiling_dbtp": NUMBER, "release_ms": NUMBER, "lookahead_ms": NUMBER}),
        st.fixed_dictionaries({"kind": st.just("eq"), "bands": st.lists(
            st.fixed_dictionaries({"type": st.sampled_from(["peak", "highpass", "lowshelf",
                                                            "notch"]),
                                   "freq_hz": st.sampled_from([5.0, 30.0, 1000.0, 23999.0,
                                                               40000.0])},
                                  optional={"order": st.integers(0, 9), "q": NUMBER,
                                            "gain_db": NUMBER}), max_size=3)}),
        st.fixed_dictionaries({"kind": st.just("hardware"), "sends": _channels(n),
                               "returns": _channels(n)},
                              optional={"latency_samples": st.one_of(
                                  st.floats(0, 1e6), st.lists(st.floats(0, 1e6), max_size=3)),
                                  "polarity": st.sampled_from([1, -1, "auto", 0]),
                                  "return_trim_db": st.sampled_from([0.0, "auto", 30.0]),
                                  "bypass": st.booleans()}),
    )


def _inserts(n: int) -> st.SearchStrategy:
    """Up to six inserts, or a run of 30..40 (the engine holds 32)."""
    return st.one_of(st.lists(_insert(n), max_size=6), st.lists(_insert(n), max_size=6),
                     st.integers(min_value=30, max_value=40).map(
                         lambda k: [{"kind": "gain", "gain_db": 0.0}] * k))


CHAINS_OF_INSERTS = st.integers(min_value=1, max_value=3).flatmap(_inserts)


@st.composite
def session_trees(draw) -> dict:
    """A session table as a user might write one: a program of 1..3 channels, a
    monitor or not, a chain with hardware inserts whose channels may collide."""
    n = draw(st.integers(min_value=1, max_value=3))
    program = {"inputs": draw(_channels(n, 12)), "outputs": draw(_channels(n, 12))}
    if draw(st.booleans()):
        program["monitor"] = draw(_channels(n, 12))
    return {"interface": {"device": "system",
                          "sample_rate": draw(st.sampled_from([44100, 48000, 96000])),
                          "block_size": draw(st.sampled_from([64, 128, 4096]))},
            "program": program, "chain": draw(_inserts(n))}


#: software inserts that validate, among them a mid-side compressor (a stereo-only mode)
VALID_SOFTWARE = [{"kind": "gain", "gain_db": -3.0}, {"kind": "limiter"},
                  {"kind": "compressor", "mode": "mid-side"},
                  {"kind": "eq", "bands": [{"type": "highpass", "freq_hz": 30.0, "order": 4}]}]


@st.composite
def routing_trees(draw) -> dict:
    """A valid program and software, and hardware inserts whose sends and
    returns may land on the program's channels, a monitor or each other."""
    n = draw(st.integers(min_value=1, max_value=3))
    fair = st.lists(CHANNEL, min_size=n, max_size=n, unique=True)
    ins = draw(fair)
    outs = draw(fair)
    program = {"inputs": ins, "outputs": outs}
    if draw(st.booleans()):
        program["monitor"] = draw(st.lists(CHANNEL.filter(lambda c: c not in outs),
                                           min_size=n, max_size=n, unique=True))
    chain = []
    for _ in range(draw(st.integers(min_value=1, max_value=5))):
        if draw(st.booleans()):
            chain.append(dict(draw(st.sampled_from(VALID_SOFTWARE))))
        else:
            chain.append({"kind": "hardware", "name": f"hw{len(chain)}",
                          "sends": draw(_channels(n, 8)), "returns": draw(_channels(n, 8)),
                          "latency_samples": draw(st.floats(0.0, 96000.0))})
    return {"interface": {"device": "system", "sample_rate": 48000, "block_size": 128},
            "program": program, "chain": chain}


SESSION_TREE = st.one_of(session_trees(), routing_trees())


def _engine_takes(session) -> None:
    """What validated is taken by the C engine (host.live.engine), as a stream
    of the session would build it: the chain, then the device routing."""
    from host.live.engine import Engine

    prog = session.program
    eng = Engine(session.interface.sample_rate, len(prog.inputs), session.chain)
    try:
        eng.device_channels_needed([c - 1 for c in prog.inputs], [c - 1 for c in prog.outputs],
                                   [c - 1 for c in prog.monitor])
    finally:
        eng.close()


@fuzz(suite=60)
@given(tree=SESSION_TREE)
def test_generated_sessions_validate_and_run_in_the_engine_or_name_the_key(tree):
    session = _outcome(parse_session, tree, "gen.toml")
    if session is not None:
        _engine_takes(session)


@fuzz(suite=60)
@given(inserts=CHAINS_OF_INSERTS)
def test_generated_chains_validate_and_process_offline_or_name_the_key(inserts):
    from host.offline.chain import Chain

    cfg = _outcome(parse_chain, {"chain": inserts}, "gen.toml")
    if cfg is None:
        return
    from host.model.config import MAX_INSERTS

    assert len(cfg.inserts) <= MAX_INSERTS
    software = type(cfg)([i for i in cfg.inserts if i.kind != "hardware"], cfg.master)
    try:  # as `outboard master` builds it: what only the file's rate refuses is one line
        chain = Chain(software, 48000, 2)
    except ValueError as exc:
        assert "\n" not in str(exc) and "fs/2" in str(exc), exc
        return
    x = np.random.default_rng(3).uniform(-0.5, 0.5, (2, 512)).astype(np.float32)
    y = chain.process_aligned(x)
    assert y.shape == x.shape and np.isfinite(y).all()


# ------------------------------------------------------------------ device profiles


@FUZZ
@given(data=st.data())
def test_byte_mutated_device_profiles_load_or_give_a_one_line_error(data, tmp_path):
    src = data.draw(st.sampled_from(PROFILES), label="profile")
    p = tmp_path / src.name
    p.write_bytes(_mutated_bytes(src.read_bytes(), data.draw))
    _outcome(load_profile, p)


def _toml_value(v: Any) -> str:
    """One TOML value on one line (inline tables and arrays)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "nan" if v != v else ("inf" if v == math.inf else
                                     "-inf" if v == -math.inf else repr(v))
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return "{" + ", ".join(f"{json.dumps(str(k))} = {_toml_value(x)}"
                           for k, x in v.items()) + "}"


def _toml_text(tree: dict) -> str:
    return "".join(f"{json.dumps(str(k))} = {_toml_value(v)}\n" for k, v in tree.items())


@FUZZ
@given(data=st.data())
def test_structurally_mutated_device_profiles_load_or_name_the_key(data, tmp_path):
    src = data.draw(st.sampled_from(PROFILES), label="profile")
    tree = _mutate(tomllib.loads(src.read_text()), data.draw)
    text = _toml_text(tree)
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError:  # e.g. an integer beyond 64 bits: not this test's case
        return
    p = tmp_path / src.name
    p.write_text(text, encoding="utf-8")
    _outcome(load_profile, p)


SYSEX_TOKENS = ["41", "10", "00", "7F", "80", "{ch}", "{ch+10}", "{ch+71}", "[", "]",
                "{address}", "{value}", "{value:2}", "{value:4n}", "{value:3l}", "{value:5}",
                "{value:0}", "{checksum}", "{chk}", "F0", "F7"]


def _mostly(good: st.SearchStrategy, odd: st.SearchStrategy, k: int = 4) -> st.SearchStrategy:
    """``good``, and one time in ``k + 1`` ``odd``."""
    return st.sampled_from([False] * k + [True]).flatmap(lambda w: odd if w else good)


def _template(value: bool = True) -> st.SearchStrategy:
    """SysEx templates: shapes that work, and tokens in any order (framed or not)."""
    inner = st.lists(st.sampled_from(SYSEX_TOKENS), max_size=8).map(" ".join)
    odd = st.one_of(inner.map(lambda t: f"F0 {t} F7"), inner)
    good = st.sampled_from(
        ["F0 41 [ {address} {value} ] {checksum} F7", "F0 41 {ch+10} [ {value:2} ] {checksum} F7",
         "F0 00 {ch} {value:4n} F7", "F0 7D {value:3l} F7"] if value else
        ["F0 41 {ch+10} 11 [ 00 00 ] {checksum} F7", "F0 7E {ch} 06 01 F7"])
    return _mostly(good, odd, 2)


@st.composite
def profile_trees(draw) -> dict:
    """A device profile: a header and one to four parameters of every send
    kind, law and range, some of them at or beyond the MIDI limits."""
    tree: dict = {"maker": "Fuzz", "model": "F-1", "source": "generated"}
    for key, values in (("midi_channel", _mostly(st.sampled_from([1, 16]),
                                                 st.sampled_from([0, 17, "1"]))),
                        ("bank_select", _mostly(st.sampled_from(["cc0_cc32", "cc0", "none"]),
                                                st.just("cc32"))),
                        ("sysex_template", _template()), ("dump_request", _template(False)),
                        ("pace_ms", _mostly(st.sampled_from([0, 5.0, 1000.0]),
                                            st.sampled_from([-1, 1e4, math.nan])))):
        if draw(st.booleans()):
            tree[key] = draw(values)  # (each odd one time in five: the parameters get a chance)
    params = {}
    for i in range(draw(st.integers(min_value=1, max_value=3))):
        send = draw(_mostly(st.sampled_from(["cc", "cc14", "nrpn", "program", "sysex",
                                             "manual"]), st.just("osc"), 8))
        law = draw(st.sampled_from(["linear", "log", "centred", "table", None]))
        p: dict = {"send": send}
        if law is not None:
            p["law"] = law
        if law == "table" or (law is None and draw(st.booleans())):
            p["table"] = draw(st.one_of(
                st.lists(st.sampled_from(["off", "on", "A", "B"]), min_size=1, max_size=4,
                         unique=True),
                st.lists(st.sampled_from([0.5, 1.0, 2.0, 4.0, 8.0]), min_size=0, max_size=5,
                         unique=True)))
        else:
            lo = draw(st.sampled_from([-24.0, 0.0, 0.1, 1.0, 20.0]))
            p["min"], p["max"] = lo, lo + draw(st.sampled_from([1.0, 24.0, 1000.0, 0.0, -1.0]))
        if send in ("cc", "cc14", "nrpn", "program") and draw(_mostly(st.just(True),
                                                                       st.just(False), 8)):
            p["number"] = draw(_mostly(st.sampled_from([0, 7, 31, 119, 127, 16383]),
                                       st.sampled_from([32, 120, 128, 16384, -1])))
        elif draw(_mostly(st.just(False), st.just(True), 8)):
            p["number"] = 7
        if send == "sysex" and draw(st.booleans()):
            p["sysex"] = draw(_template())
        if send == "sysex" or draw(_mostly(st.just(False), st.just(True), 8)):
            p["address"] = draw(_mostly(st.sampled_from(["00 01", "7F 7F 7F"]),
                                        st.sampled_from(["80", "0", "00 1"])))
        for key in ("raw_min", "raw_max"):
            if draw(_mostly(st.just(False), st.just(True), 2)):
                p[key] = draw(st.sampled_from([0, 1, 63, 64, 127, 128, 16383, 16384, 2**28]))
        if draw(_mostly(st.just(False), st.just(True), 2)):
            p["default"] = draw(st.sampled_from([0.0, 1.0, 20.0, "on", 1e9]))
        params[f"p{i}"] = p
    tree["parameters"] = params
    return tree


@fuzz(suite=60)
@given(tree=profile_trees())
def test_generated_profiles_load_and_encode_every_value_or_name_the_key(tree, tmp_path):
    """What loads must encode: every MIDI parameter at its ends, its default
    and each table entry, on channels 1 and 16, as framed messages of 7-bit
    data bytes (what recall sends)."""
    from host.midi import encode

    p = tmp_path / "gen.toml"
    p.write_text(_toml_text(tree), encoding="utf-8")
    prof = _outcome(load_profile, p)
    if prof is None:
        return
    for param in prof.midi_parameters():
        values = list(param.table) if param.law == "table" else [param.min, param.max]
        values += [] if param.default is None else [param.default]
        for v in values:
            for ch in (1, 16):
                for m in encode.messages(prof, param.name, v, ch):
                    status = m[0] & 0xF0
                    assert m[0] >= 0x80 and all(b < 0x80 for b in m[1:-1]), (param, v, m)
                    assert m[-1] == 0xF7 if m[0] == 0xF0 else (m[-1] < 0x80), (param, v, m)
                    assert status in (0xB0, 0xC0, 0xF0), m
    if prof.dump_request is not None:
        assert encode.dump_request(prof, 16)[-1] == 0xF7


def test_non_utf8_device_profile_is_a_config_error(tmp_path):
    p = tmp_path / "latin1.toml"
    p.write_bytes((PROFILES[0].read_text() + "\n# caf\xe9\n").encode("latin-1"))
    with pytest.raises(OutboardError) as e:
        load_profile(p)
    _one_line_error(e.value)


# ------------------------------------------------------------------ audio files

#: the child's side: read each file (and measure it, as `outboard analyze` would), print
#: one JSON line per file
READER = r"""
import json, sys
import numpy as np
from host.audiofile import read_audio
from host.errors import OutboardError
from host.offline.analysis import analyze_audio
for path in sys.argv[1:]:
    try:
        a = read_audio(path)
        d = a.data
        out = {"ok": True, "shape": list(d.shape), "rate": a.sample_rate,
               "dtype": str(d.dtype), "finite": bool(np.isfinite(d).all()),
               "contiguous": bool(d.flags.c_contiguous)}
        try:
            out["analysis"] = analyze_audio(a)["duration_s"] is not None
        except OutboardError as exc:  # a rate or channel count the meters do not take
            out.update(ok=False, type=type(exc).__name__, ours=True, msg=str(exc))
    except OutboardError as exc:
        out = {"ok": False, "type": type(exc).__name__, "ours": True, "msg": str(exc)}
    except BaseException as exc:
        out = {"ok": False, "type": type(exc).__name__, "ours": False, "msg": str(exc)}
    print(json.dumps({"path": path, **out}), flush=True)
print("DONE", flush=True)
"""

AUDIO_KINDS = [(".wav", "WAV", "PCM_16"), (".wav", "WAV", "PCM_24"), (".wav", "WAV", "FLOAT"),
               (".flac", "FLAC", "PCM_16"), (".flac", "FLAC", "PCM_24"),
               (".aiff", "AIFF", "PCM_16"), (".aif", "AIFF", "FLOAT")]


def _valid_files(folder: Path) -> list[Path]:
    t = np.arange(2400) / 48000.0
    x = 0.5 * np.stack([np.sin(2 * np.pi * 997 * t), np.sin(2 * np.pi * 440 * t)], axis=1)
    out = []
    for i, (ext, fmt, sub) in enumerate(AUDIO_KINDS):
        p = folder / f"valid{i}{ext}"
        sf.write(str(p), x.astype(np.float32), 48000, format=fmt, subtype=sub)
        out.append(p)
    return out


def _corruptions(raw: bytes, rng: np.random.Generator) -> list[tuple[str, bytes]]:
    n = len(raw)
    cases = [("empty", b""), ("header only", raw[:12]), ("44 bytes", raw[:44])]
    for cut in (0.1, 0.5, 0.9, 0.999):
        cases.append((f"truncated {cut}", raw[:int(n * cut)]))
    cases.append(("one byte short", raw[:-1]))
    for k in range(12):  # flips in the first 128 bytes: header fields and chunk sizes
        b = bytearray(raw)
        for _ in range(1 + k % 3):
            i = int(rng.integers(0, min(128, n)))
            b[i] ^= 1 << int(rng.integers(0, 8))
        cases.append((f"header flip {k}", bytes(b)))
    for k in range(6):  # flips anywhere
        b = bytearray(raw)
        for _ in range(8):
            b[int(rng.integers(0, n))] ^= 0xFF
        cases.append((f"body flip {k}", bytes(b)))
    for k, fill in enumerate((b"\x00", b"\xff", b"\x7f")):  # a header field overwritten
        b = bytearray(raw)
        start = int(rng.integers(4, min(60, n - 4)))
        b[start:start + 4] = fill * 4
        cases.append((f"header overwrite {k}", bytes(b)))
    cases.append(("random bytes", rng.bytes(n)))
    cases.append(("doubled", raw + raw))
    return cases


def test_corrupted_audio_files_read_correctly_or_give_a_one_line_audio_error(tmp_path):
    rng = np.random.default_rng(7)
    files: list[Path] = []
    originals: dict[str, Path] = {}
    for src in _valid_files(tmp_path):
        raw = src.read_bytes()
        for k, (_what, data) in enumerate(_corruptions(raw, rng)):
            p = tmp_path / f"{src.stem}_bad{k}{src.suffix}"
            p.write_bytes(data)
            files.append(p)
            originals[str(p)] = src
    n_ok = _read_in_a_child(files)
    assert n_ok < len(files)  # the damage was seen: most cases are refused


def _read_in_a_child(files: list[Path]) -> int:
    """Read (and measure) ``files`` in one child process; assert each gave a
    correct result or a one-line AudioFileError.  Returns how many were read."""
    r = subprocess.run([sys.executable, "-c", READER, *map(str, files)], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"reader died (exit {r.returncode}): {r.stderr[-2000:]}"
    lines = [json.loads(s) for s in r.stdout.splitlines() if s.startswith("{")]
    assert r.stdout.rstrip().endswith("DONE") and len(lines) == len(files)
    n_ok = 0
    for res in lines:
        if res["ok"]:
            n_ok += 1
            # a correct result: planar float32, finite, some channels and frames, measured
            assert res["dtype"] == "float32" and res["finite"] and res["contiguous"], res
            assert res["shape"][0] >= 1 and res["shape"][1] >= 1 and res["rate"] > 0, res
            assert res["analysis"], res
        else:
            assert res["ours"], f"{res['path']}: {res['type']}: {res['msg']}"
            assert res["type"] == "AudioFileError", res
            assert res["msg"].strip() and "\n" not in res["msg"].strip(), res
    return n_ok


def _chunk(cid: bytes, body: bytes, size: int | None = None, big: bool = False) -> bytes:
    """A RIFF (little-endian) or IFF (``big``) chunk; ``size`` overrides the true one."""
    n = len(body) if size is None else size
    return cid + struct.pack(">I" if big else "<I", n & 0xFFFFFFFF) + body + \
        (b"\0" if len(body) % 2 else b"")


def _extended(x: float) -> bytes:
    """An 80-bit IEEE 754 extended float (AIFF's sample rate)."""
    if x <= 0 or not math.isfinite(x):
        return bytes(10)
    m, e = math.frexp(x)
    return struct.pack(">HQ", (e - 1 + 16383) & 0x7FFF, int(m * 2**64) & 0xFFFFFFFFFFFFFFFF)


#: header fields as writers (and damage) leave them
SIZE = st.one_of(st.none(), st.sampled_from([0, 1, 16, 0x7FFFF000, 0xFFFFFFFF, 0x80000000]),
                 st.integers(min_value=0, max_value=0xFFFFFFFF))
CHANNEL_COUNT = st.sampled_from([0, 1, 2, 3, 8, 64, 65, 255, 65535])
RATE = st.sampled_from([0, 1, 4000, 7999, 8000, 44100, 48000, 768000, 768001, 2**31 - 1,
                        2**32 - 1])
BITS = st.sampled_from([0, 7, 8, 12, 16, 20, 24, 32, 64, 65535])


#: (format tag, bits) a WAV writer uses: PCM 8..32, float 32 and 64
WAV_KINDS = [(1, 8), (1, 16), (1, 24), (1, 32), (3, 32), (3, 64)]


@st.composite
def wav_files(draw) -> bytes:
    """A WAV file built field by field: a consistent header (a real writer's),
    then none to three of its fields changed: format tag, channels, rate, block
    align, bits, chunk sizes (a stream's unknown 0xFFFFFFFF among them), an
    extra chunk, a payload of any length."""
    tag, bits = draw(st.sampled_from(WAV_KINDS))
    ch = draw(st.sampled_from([1, 2, 8]))
    rate = draw(st.sampled_from([8000, 44100, 48000, 96000]))
    odd = set(draw(st.lists(st.sampled_from(["tag", "ch", "rate", "bits", "align", "fmt size",
                                             "data size", "riff size", "list", "head"]),
                            max_size=3)))
    if "tag" in odd:
        tag = draw(st.sampled_from([0, 2, 6, 0x55, 0xFFFE]))
    if "ch" in odd:
        ch = draw(CHANNEL_COUNT)
    if "rate" in odd:
        rate = draw(RATE)
    align = ch * bits // 8
    if "bits" in odd:
        bits = draw(BITS)
    if "align" in odd:
        align = draw(st.integers(0, 65535))
    fmt = struct.pack("<HHIIHH", tag, ch & 0xFFFF, rate & 0xFFFFFFFF,
                      (rate * align) & 0xFFFFFFFF, align & 0xFFFF, bits & 0xFFFF)
    if tag == 0xFFFE:
        fmt += struct.pack("<HHI", 22, bits & 0xFFFF, 3) + \
            draw(st.sampled_from([b"\x01\0\0\0\0\0\x10\0\x80\0\0\xaa\0\x38\x9b\x71",
                                  bytes(16)]))
    frames = draw(st.integers(0, 3000))
    payload = np.resize(np.frombuffer(np.sin(np.arange(frames * max(ch, 1) // 4 + 1)
                                             .astype("<f4")).tobytes(), np.uint8),
                        frames * max(align, 1) if "data size" not in odd else frames).tobytes()
    body = _chunk(b"fmt ", fmt, draw(SIZE) if "fmt size" in odd else None)
    if "list" in odd:
        body += _chunk(b"LIST", draw(st.binary(max_size=9)), draw(SIZE))
    body += _chunk(b"data", payload, draw(SIZE) if "data size" in odd else None)
    head = draw(st.sampled_from([b"RF64", b"RIFX", b"RIFF"])) if "head" in odd else b"RIFF"
    riff = draw(SIZE.filter(lambda x: x is not None)) if "riff size" in odd else 4 + len(body)
    return head + struct.pack("<I", riff) + b"WAVE" + body


@st.composite
def aiff_files(draw) -> bytes:
    """An AIFF file built the same way (COMM and SSND chunks, big-endian)."""
    ch = draw(st.sampled_from([1, 2]))
    rate = draw(st.sampled_from([8000, 44100, 48000]))
    bits = draw(st.sampled_from([8, 16, 24, 32]))
    frames = draw(st.integers(0, 1000))
    odd = set(draw(st.lists(st.sampled_from(["ch", "rate", "bits", "frames", "comm size",
                                             "ssnd size", "offset"]), max_size=3)))
    payload = np.resize(np.frombuffer((np.sin(np.arange(frames * ch) / 5.0) * 30000)
                                      .astype(">i4").tobytes(), np.uint8),
                        frames * ch * bits // 8).tobytes()
    if "ch" in odd:
        ch = draw(CHANNEL_COUNT)
    if "rate" in odd:
        rate = draw(RATE)
    if "bits" in odd:
        bits = draw(BITS)
    if "frames" in odd:
        frames = draw(st.sampled_from([0, 1, frames + 1, 0xFFFFFFFF, 2**31]))
    comm = struct.pack(">hIh", ch & 0x7FFF, frames & 0xFFFFFFFF, bits & 0x7FFF) + \
        _extended(float(rate))
    offset = draw(st.sampled_from([4, 0xFFFFFFFF])) if "offset" in odd else 0
    body = _chunk(b"COMM", comm, draw(SIZE) if "comm size" in odd else None, big=True) + \
        _chunk(b"SSND", struct.pack(">II", offset, 0) + payload,
               draw(SIZE) if "ssnd size" in odd else None, big=True)
    return b"FORM" + struct.pack(">I", 4 + len(body)) + b"AIFF" + body


#: files per example: one child process reads a batch (a crash kills the child, not pytest)
HEADER_BATCH = 10


@fuzz(share=0.02, suite=4)
@given(files=st.lists(st.one_of(wav_files().map(lambda b: (".wav", b)),
                                aiff_files().map(lambda b: (".aiff", b))),
                      min_size=HEADER_BATCH, max_size=HEADER_BATCH))
def test_generated_audio_headers_read_correctly_or_give_a_one_line_audio_error(files, tmp_path):
    """Whatever the header fields say (channels, rate, bits, chunk sizes, a
    stream's unknown length), the reader and the meters give audio or one line."""
    paths = []
    for i, (ext, data) in enumerate(files):
        p = tmp_path / f"gen{i}{ext}"
        p.write_bytes(data)
        paths.append(p)
    _read_in_a_child(paths)


def test_audio_file_truncated_by_one_byte_is_refused_not_shortened(tmp_path):
    """libsndfile alone would quietly read a WAV one frame short."""
    from host.audiofile import read_audio
    from host.errors import AudioFileError

    src = _valid_files(tmp_path)[0]
    bad = tmp_path / "short.wav"
    bad.write_bytes(src.read_bytes()[:-1])
    with pytest.raises(AudioFileError, match="truncated"):
        read_audio(bad)
    good = read_audio(src)
    ref, _ = sf.read(str(src), dtype="float32", always_2d=True)
    np.testing.assert_array_equal(good.data, ref.T)


def test_a_wav_streamed_from_a_pipe_reads_whole(tmp_path):
    """A writer on a pipe cannot seek back to fill in the sizes and leaves them
    0xFFFFFFFF; libsndfile reads such a file to its end, and so do we (it was
    refused as "truncated ... 4294948095 bytes short")."""
    import struct

    from host.audiofile import read_audio

    x = (np.sin(np.arange(4800) / 10.0) * 0.3 * 32767).astype("<i2")
    frames = np.stack([x, -x], axis=1)
    fmt = struct.pack("<IHHIIHH", 16, 1, 2, 48000, 48000 * 4, 4, 16)
    p = tmp_path / "piped.wav"
    p.write_bytes(b"RIFF" + struct.pack("<I", 0xFFFFFFFF) + b"WAVEfmt " + fmt + b"data"
                  + struct.pack("<I", 0xFFFFFFFF) + frames.tobytes())
    a = read_audio(p)
    assert (a.channels, a.frames, a.sample_rate) == (2, 4800, 48000)
    np.testing.assert_array_equal(a.data, (frames.T / 32768.0).astype(np.float32))
