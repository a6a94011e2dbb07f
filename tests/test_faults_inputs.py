"""Fault injection: hostile config values (a generated set, then Hypothesis), OSC in fuzzed
over real UDP, hostile command-line values. Run every fault test alone with ``pytest -m faults``.

Every case asserts the promise of the developers' guide: no traceback, a one-line message naming
the file or key, a non-zero exit where it failed -- and, where files are involved, that the next
`livedj index` leaves a complete, loadable index with every good track in it. Each case is
counted per area (tests/fault_counts.py); the table prints at the end of the run.
"""
from __future__ import annotations

import time
from pathlib import Path

import pytest

import fault_counts
from faults_common import _main_here, _sane, base_fixture, has_traceback, livedj, one_line  # noqa: F401 (base_fixture: the fixture `base`)

pytestmark = pytest.mark.faults


# -- hostile config values ---------------------------------------------------------------------------
HOSTILE = ["nan", "inf", "-inf", "1e400", "-1", "0", "1" + "0" * 30, "-" + "9" * 25, '""', '"\\u0000x"',
           '"\\u001b[31m"', "[]", "{}", "true", '"' + "x" * 20_000 + '"', "[" * 400 + "]" * 400,
           '"/nonexistent/dir/file"', "1" + "0" * 5000, "[1, 2, 3]", "{a = 1}"]


def test_hostile_config_values_name_their_key(tmp_path):
    from livedj.config import SCHEMA, ConfigError, load

    path = tmp_path / "config.toml"
    failures = []
    for section, fields in SCHEMA.items():
        for key in fields:
            for value in HOSTILE:
                path.write_text(f"[{section}]\n{key} = {value}\n")
                traceback = handled = False
                try:
                    config = load(path)
                    handled = _sane(config)  # accepted: then it must be a usable value
                except ConfigError as exc:
                    handled = all(p.startswith(f"{path}: ") for p in exc.problems) and (
                        any(f"{section}.{key}" in p for p in exc.problems) or "not valid TOML" in str(exc))
                except Exception as exc:
                    traceback = True
                    failures.append(f"{section}.{key} = {value[:30]}: {type(exc).__name__}: {str(exc)[:200]}")
                if not handled and not traceback:
                    failures.append(f"{section}.{key} = {value[:30]}: not handled")
                fault_counts.record("config values", handled=handled, traceback=traceback)
    assert not failures, "\n".join(failures[:20])


def test_hostile_config_through_the_command_line_is_one_line(tmp_path):
    cases = {"hop_s nan": "[audio]\nhop_s = nan\n", "deep": "[osc]\ntargets = " + "[" * 3000 + "\n",
             "huge int": "[ranking]\ntop = 1" + "0" * 5000 + "\n", "index at a file": '[index]\npath = "{f}"\n',
             "head missing": '[analysis]\nhead = "/nonexistent/head.safetensors"\n',
             "history at a folder": '[history]\npath = "{d}"\n', "not utf-8": b"\xff\xfe[audio]\n"}
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    for name, text in cases.items():
        path = tmp_path / "c.toml"
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text.format(f=a_file, d=tmp_path))
        result = _main_here(["history", "--config", str(path)])  # the command line's code, in this process
        lines = one_line(result.stderr)
        ok = result.returncode == 2 and len(lines) == 1 and str(path) in lines[0]
        fault_counts.record("config values", handled=ok, traceback=has_traceback(result.stderr),
                            crash=result.returncode < 0)
        assert ok, f"{name}: rc {result.returncode}: {result.stderr[-500:]}"


# -- property-based fuzz (Hypothesis, bounded) --------------------------------------------------------
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                         HealthCheck.too_slow])
_scalars = (st.none() | st.booleans() | st.integers() | st.integers(min_value=-2**70, max_value=2**70)
            | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=40) | st.binary(max_size=16))
_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
    st.text(max_size=8), inner, max_size=4), max_leaves=12)


def _raw_config():
    from livedj.config import SCHEMA

    sections = st.sampled_from(sorted(SCHEMA)) | st.text(max_size=10)

    def keys(section):
        known = sorted(SCHEMA.get(section, {})) or ["x"]
        return st.dictionaries(st.sampled_from(known) | st.text(max_size=10), _values, max_size=5)

    return st.dictionaries(sections, _values, max_size=3).flatmap(
        lambda d: st.fixed_dictionaries({s: (keys(s) if isinstance(v, dict) else st.just(v)) for s, v in d.items()}))


@settings(FUZZ, max_examples=200)
@given(raw=_raw_config())
def test_fuzz_config_schema_accepts_only_sane_values_or_names_the_key(raw):
    from livedj.config import SCHEMA, ConfigError, validate

    traceback = False
    try:
        config = validate(raw, "fuzz.toml")
        handled = _sane(config) and all(
            isinstance(config[s][k], f.kind if isinstance(f.kind, tuple) else (f.kind,)) or config[s][k] is None
            for s, fields in SCHEMA.items() for k, f in fields.items())
    except ConfigError as exc:
        handled = bool(exc.problems) and all(p.startswith("fuzz.toml: ") and "\n" not in p for p in exc.problems)
    except Exception:
        handled, traceback = False, True
    fault_counts.record("config schema fuzz (Hypothesis)", handled=handled, traceback=traceback)
    assert handled and not traceback


@pytest.fixture(scope="module")
def osc_server():
    import logging

    from livedj.control.osc_in import OscControlServer
    from livedj.engine.session import Session

    session = Session()
    server = OscControlServer(session, {42: 42, "/music/a.flac": 7}.get, port=0,
                              log=logging.getLogger("test.faults.osc")).start()
    yield server, session
    server.stop()


def _osc_string(text: str) -> bytes:
    data = text.encode("utf-8", "surrogatepass") + b"\x00"
    return data + bytes(-len(data) % 4)


def _osc_message(address: str, values: list) -> bytes:
    """OSC 1.0 encoding written here: python-osc's builder refuses the odd inputs a fuzzer wants to send."""
    import struct

    tags, body = ",", b""
    for v in values:
        if isinstance(v, bool):
            tags += "T" if v else "F"
        elif isinstance(v, int):
            tags, body = tags + "i", body + struct.pack(">i", v)
        elif isinstance(v, float):
            tags, body = tags + "f", body + struct.pack(">f", v)
        elif isinstance(v, bytes):
            tags, body = tags + "b", body + struct.pack(">i", len(v)) + v + bytes(-len(v) % 4)
        else:
            tags, body = tags + "s", body + _osc_string(v)
    return _osc_string(address) + _osc_string(tags) + body


def _osc_datagrams():
    addresses = st.sampled_from(["/livedj/played", "/livedj/skip", "/livedj/ban", "/livedj/pin", "/livedj/unpin",
                                 "/livedj/lookback", "/livedj/drunk", "/livedj/pause", "/livedj/resume",
                                 "/livedj/refresh"]) | st.text(max_size=30).map(lambda t: "/" + t)
    args = st.lists(st.integers(-2**31, 2**31 - 1) | st.floats(width=32) | st.text(max_size=300)
                    | st.binary(max_size=64) | st.booleans(), max_size=4)

    def build(address, values):
        return _osc_message(address, values)

    messages = st.builds(build, addresses, args)

    def bundle(parts):
        body = b"".join(len(p).to_bytes(4, "big") + p for p in parts)
        return b"#bundle\x00" + bytes(8) + body

    well_formed = messages | st.lists(messages, min_size=1, max_size=3).map(bundle)
    damaged = st.tuples(well_formed, st.integers(0, 400), st.binary(max_size=8)).map(
        lambda t: t[0][:t[1]] + t[2])  # cut anywhere, junk appended
    return well_formed | damaged | st.binary(max_size=200)


@FUZZ
@given(data=_osc_datagrams())
def test_fuzz_osc_in_over_udp_never_breaks_the_server(osc_server, data):
    import socket as socket_mod

    from livedj.control.osc_in import MalformedPacket, parse_packet

    server, session = osc_server
    traceback = False
    try:
        parsed = parse_packet(data)
        handled = all(isinstance(a, str) and isinstance(args, tuple) for a, args in parsed)
    except MalformedPacket:
        handled = True
    except Exception:
        handled, traceback = False, True
    before, errors = server.received, server.rejected.get("error", 0)
    with socket_mod.socket(socket_mod.AF_INET, socket_mod.SOCK_DGRAM) as sock:
        sock.sendto(data, ("127.0.0.1", server.port))
    deadline = time.monotonic() + 5
    while server.received == before and time.monotonic() < deadline:
        time.sleep(0.001)
    while not session.commands.empty():
        session.commands.get_nowait()
    alive = server.received == before + 1 and server._thread.is_alive()
    crash = not alive
    traceback |= server.rejected.get("error", 0) > errors  # an unexpected exception inside the handler
    fault_counts.record("OSC in fuzz (Hypothesis, real UDP)", handled=handled and alive and not traceback,
                        traceback=traceback, crash=crash)
    assert handled and alive and not traceback, (data[:80], server.last_rejected)


# -- hostile command-line values ---------------------------------------------------------------------
def _cli_cases(root: Path, tmp: Path) -> list[tuple[list, int, str]]:
    """(arguments, exit status, text the one error line must contain)."""
    track = next((root / "lib" / "a").rglob("*.wav"))
    (tmp / "folder.m3u").mkdir(exist_ok=True)
    cases = [(["suggest", track, "--at", v], 2, "--at") for v in ("-5", "inf", "nan", "-inf", "1e999", "x")]
    cases += [(["analyze", track, "--at", "nan"], 2, "--at")]
    cases += [(["run", "--osc", v], 2, "--osc") for v in ("127.0.0.1", "127.0.0.1:70000", ":0", "host:port", "")]
    cases += [(["run", "--duration", v], 2, "--duration") for v in ("-1", "0", "nan")]
    cases += [(["run", "--record", v], 2, "--record") for v in (tmp / "missing" / "x.wav", tmp / "x.xyz", tmp)]
    cases += [(["journey", "a", "b", "-o", v], 2, "--output") for v in (tmp, tmp / "folder.m3u", tmp / "no" / "x.m3u")]
    cases += [(["history", "--export", v], 2, "--export") for v in (tmp / "no" / "set.m3u", tmp / "set.txt", tmp)]
    cases += [(["index", "--jobs", v], 2, "--jobs") for v in ("0", "-3", "1" + "0" * 50)]
    cases += [(["history", "--session", "0"], 2, "--session"), (["suggest", track, "--top", "0"], 2, "--top")]
    cases += [(["run", "--input", tmp / "missing.mp3", "--fast"], 1, "missing.mp3"),
              (["run", "--input", tmp, "--fast"], 1, str(tmp))]
    return cases


def test_hostile_command_line_values_are_one_line_errors(base, tmp_path):
    root, config = base
    failures = []
    for args, status, needle in _cli_cases(root, tmp_path):
        argv = [*map(str, args), "--config", str(config), *(["--index", str(root / "index")]
                                                            if args[0] != "history" else [])]
        if status == 2:  # refused while parsing: the same code in this process, without 3 s of start-up each
            result = _main_here(argv)
        else:
            result = livedj(*argv)
        lines = [ln for ln in one_line(result.stderr) if not ln.startswith(("usage:", " "))]
        handled = result.returncode == status and len(lines) == 1 and needle in lines[0]
        traceback = has_traceback(result.stderr)
        fault_counts.record("command-line values", handled=handled and not traceback, traceback=traceback,
                            crash=result.returncode < 0)
        if not handled or traceback:
            failures.append(f"{' '.join(map(str, args))}: rc {result.returncode}: {result.stderr[-300:]}")
    assert not failures, "\n".join(failures)


