"""Bad input: the session, chain and device-profile parsers and the audio-file
reader end every case in a clear one-line error (host.errors.OutboardError and
its ConfigError / AudioFileError) or a correct result, never another exception
type and never a crash of the process.

The parsers are fuzzed with hypothesis: random TOML text, random byte edits of
the shipped files, and structural edits (a value replaced by an odd one, a key
deleted, an unknown key added) of their parsed tables.  The audio files are
small valid WAV/FLAC/AIFF files made here, then truncated, bit-flipped or with
their header bytes overwritten; they are read in a child process, in one batch,
so a crash inside libsndfile shows as a failed test instead of killing pytest.
"""

from __future__ import annotations

import copy
import json
import math
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

FUZZ = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


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


def test_non_utf8_device_profile_is_a_config_error(tmp_path):
    p = tmp_path / "latin1.toml"
    p.write_bytes((PROFILES[0].read_text() + "\n# caf\xe9\n").encode("latin-1"))
    with pytest.raises(OutboardError) as e:
        load_profile(p)
    _one_line_error(e.value)


# ------------------------------------------------------------------ audio files

#: the child's side: read each file, print one JSON line per file
READER = r"""
import json, sys
import numpy as np
from host.audiofile import read_audio
from host.errors import OutboardError
for path in sys.argv[1:]:
    try:
        a = read_audio(path)
        d = a.data
        out = {"ok": True, "shape": list(d.shape), "rate": a.sample_rate,
               "dtype": str(d.dtype), "finite": bool(np.isfinite(d).all()),
               "contiguous": bool(d.flags.c_contiguous)}
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
    r = subprocess.run([sys.executable, "-c", READER, *map(str, files)], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"reader died (exit {r.returncode}): {r.stderr[-2000:]}"
    lines = [json.loads(s) for s in r.stdout.splitlines() if s.startswith("{")]
    assert r.stdout.rstrip().endswith("DONE") and len(lines) == len(files)
    n_ok = 0
    for res in lines:
        if res["ok"]:
            n_ok += 1
            # a correct result: planar float32, finite, the channels of the original
            assert res["dtype"] == "float32" and res["finite"] and res["contiguous"], res
            assert res["shape"][0] >= 1 and res["shape"][1] >= 1 and res["rate"] > 0, res
        else:
            assert res["ours"], f"{res['path']}: {res['type']}: {res['msg']}"
            assert res["type"] == "AudioFileError", res
            assert res["msg"].strip() and "\n" not in res["msg"].strip(), res
    assert n_ok < len(files)  # the damage was seen: most cases are refused


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
