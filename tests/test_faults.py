"""Fault injection: damaged index files, kill -9 at every stage of `livedj index` (a worker too),
a corrupt store, hostile config values. Run alone with ``pytest -m faults``.

Every case asserts the promise of the developers' guide: no traceback, a one-line message naming
the file or key, a non-zero exit where it failed -- and, the point, that the next `livedj index`
leaves a complete, loadable index with every good track in it. Each case is counted per area
(tests/fault_counts.py); the table prints at the end of the run.

Everything is real: generated audio files, the `features` encoder (the fast real one: these
faults concern files and processes, not the embedding), Annoy files on disk, subprocesses killed
with SIGKILL. The kill points inside `livedj index` are reached deterministically by a child
process that wraps a function on the way (os.replace, Store.put) to SIGKILL itself right there.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import fault_counts
from livedj.library import index as annoy_index
from livedj.library.store import Store

pytestmark = pytest.mark.faults

N_A, N_B = 5, 2  #: tracks in lib/a (the base index) and lib/b (added by the runs that get killed)
TIMEOUT = 180


def livedj(*args, env=None, timeout=TIMEOUT):
    return subprocess.run([sys.executable, "-m", "livedj", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env)


def has_traceback(text: str) -> bool:
    return "Traceback (most recent call last)" in text


def one_line(stderr: str) -> list[str]:
    """The lines a command printed on stderr, progress bars left out."""
    return [ln for ln in stderr.splitlines() if ln.strip() and not any(c in ln for c in "━╸")]


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A generated library (lib/a: 5 tracks, lib/b: 2 more) and an index of lib/a, built once."""
    from livedj.synth import DEMO_TRACKS, build_demo_library

    root = tmp_path_factory.mktemp("faults")
    build_demo_library(root / "lib" / "a", DEMO_TRACKS[:N_A], duration=10.0, formats=("wav", "flac", "mp3"))
    build_demo_library(root / "lib" / "b", DEMO_TRACKS[N_A:N_A + N_B], duration=10.0, formats=("ogg", "wav"))
    config = root / "config.toml"
    config.write_text('[analysis]\nencoder = "features"\n[osc]\ntargets = []\n')
    result = livedj("index", root / "lib" / "a", "--config", config, "--index", root / "index", "--jobs", 1)
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(root / "index" / "library.sqlite") as db:  # no -wal beside the copies
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return root, config


def copy_index(base, tmp_path) -> Path:
    root, _ = base
    target = tmp_path / "index"
    shutil.copytree(root / "index", target)
    return target


def complete(index_dir: Path, n: int) -> bool:
    """The index loads, holds ``n`` tracks (beginnings, fingerprints), and nothing is left over."""
    try:
        loaded = annoy_index.load(index_dir)
    except annoy_index.IndexUnusable:
        return False
    store = Store(index_dir, readonly=True)
    try:
        good = len(store.tracks())
    finally:
        store.close()
    leftovers = [p.name for p in index_dir.iterdir() if p.name.endswith(".tmp") or p.name.startswith(".live-")]
    fp_tracks = loaded.manifest.get("fingerprints", {}).get("tracks")
    return loaded.size == n == good and fp_tracks == n and not leftovers


def repair_here(base, index_dir: Path):
    """`livedj index lib/a` in this process (what the command runs, without 3 s of start-up each time)."""
    from livedj.commands.index import settings_from
    from livedj.config import load
    from livedj.library.indexer import index_library

    root, config = base
    return index_library([str(root / "lib" / "a")], str(index_dir), settings_from(load(config)), jobs=1)


def repair(base, index_dir: Path, *roots: str, jobs: int = 1) -> subprocess.CompletedProcess:
    root, config = base
    return livedj("index", *(roots or [root / "lib" / "a"]), "--config", config, "--index", index_dir,
                  "--jobs", jobs)


# -- damaged index files ----------------------------------------------------------------------------
def _zeroed(path: Path) -> None:
    path.write_bytes(bytes(path.stat().st_size))


def _truncated(path: Path) -> None:
    with open(path, "r+b") as f:
        f.truncate(path.stat().st_size // 2)


def _garbled(path: Path) -> None:
    data = bytearray(path.read_bytes())
    rng = np.random.default_rng(len(data))
    middle = len(data) // 2
    data[middle:middle + 64] = rng.integers(0, 256, min(64, len(data) - middle), dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))


def _deleted(path: Path) -> None:
    path.unlink()


DAMAGE = {"zeroed": _zeroed, "truncated": _truncated, "garbled": _garbled, "deleted": _deleted}
KINDS = {  # how to find the file of each kind from the manifest
    "beginnings": lambda m: m["beginnings"]["file"],
    "segments": lambda m: m["segments"]["file"],
    "segment map": lambda m: m["segments"]["map"]["file"],
    "fingerprint hashes": lambda m: next(e["file"] for e in m["fingerprints"]["files"] if "hashes" in e["file"]),
    "fingerprint entries": lambda m: next(e["file"] for e in m["fingerprints"]["files"] if "entries" in e["file"]),
    "fingerprint meta": lambda m: next(e["file"] for e in m["fingerprints"]["files"] if "meta" in e["file"]),
    "manifest": lambda m: "manifest.json",
}


@pytest.mark.parametrize("damage", list(DAMAGE))
@pytest.mark.parametrize("kind", list(KINDS))
def test_damaged_index_file_is_refused_by_name_and_rebuilt(base, tmp_path, kind, damage):
    index_dir = copy_index(base, tmp_path)
    manifest = json.loads((index_dir / "manifest.json").read_text())
    name = KINDS[kind](manifest)
    DAMAGE[damage](index_dir / name)
    traceback = handled = False
    try:
        annoy_index.load(index_dir)
    except annoy_index.IndexUnusable as exc:
        named = name if (kind, damage) != ("manifest", "deleted") else str(index_dir)  # "no index here"
        handled = named in str(exc) and "\n" not in str(exc)
    except Exception:  # anything else would reach the user as a traceback
        traceback = True
    try:
        report = repair_here(base, index_dir)
    except Exception:
        report, traceback = None, True
    ok = report is not None and complete(index_dir, N_A)
    fault_counts.record("index files (damage x kind)", handled=handled and ok, traceback=traceback, lost=not ok)
    assert handled and not traceback, f"{kind} {damage}: not refused by name"
    assert ok, f"{kind} {damage}: `livedj index` left no complete index"
    assert report.repaired and report.indexed == 0, "repaired from the store, nothing analysed again"


def test_suggest_names_the_damaged_file_in_one_line(base, tmp_path):
    root, config = base
    index_dir = copy_index(base, tmp_path)
    manifest = json.loads((index_dir / "manifest.json").read_text())
    _truncated(index_dir / manifest["beginnings"]["file"])
    track = next((root / "lib" / "a").rglob("*.wav"))
    result = livedj("suggest", track, "--at", 1, "--config", config, "--index", index_dir)
    lines = one_line(result.stderr)
    ok = result.returncode == 1 and len(lines) == 1 and manifest["beginnings"]["file"] in lines[0]
    again = repair(base, index_dir)  # and the command line's `livedj index` repairs it
    repaired = again.returncode == 0 and "repaired" in again.stdout and complete(index_dir, N_A)
    fault_counts.record("index files (damage x kind)", handled=ok and repaired,
                        traceback=has_traceback(result.stderr + again.stderr),
                        crash=min(result.returncode, again.returncode) < 0, lost=not repaired)
    assert ok, result.stderr
    assert repaired, again.stdout + again.stderr


# -- kill -9 inside `livedj index` ------------------------------------------------------------------
CHILD = r"""
import os, signal, sys
from pathlib import Path
stage, config, index_dir, *roots = sys.argv[1:]

def die():
    os.kill(os.getpid(), signal.SIGKILL)

real_replace = os.replace
def replace(src, dst, *a, **k):
    src, dst = os.fspath(src), os.fspath(dst)
    if stage == "annoy .tmp written" and src.endswith(".ann.tmp"):
        die()
    if stage == "fingerprints half written" and "fingerprints-" in dst and dst.endswith(".entries.npy"):
        die()
    if stage == "before manifest swap" and dst.endswith("manifest.json"):
        die()
    return real_replace(src, dst, *a, **k)
os.replace = replace

from livedj.library import store as store_mod, verify
real_put, puts = store_mod.Store.put, [0]
def put(self, *a, **k):
    real_put(self, *a, **k)
    puts[0] += 1
    if stage == "analysing (after 1 file)" and puts[0] == 1:
        die()
store_mod.Store.put = put
real_clean = verify.clean_leftovers
def clean(directory):
    if stage == "after manifest swap":
        die()
    return real_clean(directory)
verify.clean_leftovers = clean

from livedj.commands.index import settings_from
from livedj.config import load
from livedj.library.indexer import index_library
cfg = load(config)
index_library(roots, index_dir, settings_from(cfg), jobs=1)
print("finished without being killed")
"""

STAGES = ["analysing (after 1 file)", "annoy .tmp written", "fingerprints half written", "before manifest swap",
          "after manifest swap"]


@pytest.mark.parametrize("stage", STAGES)
def test_kill_9_at_each_stage_then_index_completes(base, tmp_path, stage):
    root, config = base
    index_dir = copy_index(base, tmp_path)
    roots = [root / "lib" / "a", root / "lib" / "b"]
    child = subprocess.run([sys.executable, "-c", CHILD, stage, config, index_dir, *roots], capture_output=True,
                           text=True, timeout=TIMEOUT)
    assert child.returncode == -signal.SIGKILL, f"{stage}: the kill point was not reached:\n{child.stderr}"
    again = repair(base, index_dir, *roots)
    ok = again.returncode == 0 and complete(index_dir, N_A + N_B)
    fault_counts.record("kill -9 during index", handled=ok, traceback=has_traceback(again.stderr),
                        crash=again.returncode < 0, lost=not ok)
    assert ok, f"{stage}: the next `livedj index` left no complete index:\n{again.stdout}\n{again.stderr}"


def _store_rows(index_dir: Path) -> int:
    try:
        with sqlite3.connect(f"file:{index_dir / 'library.sqlite'}?mode=ro", uri=True, timeout=0.1) as db:
            return db.execute("SELECT COUNT(*) FROM tracks").fetchone()[0]
    except sqlite3.Error:
        return 0


def _children(pid: int) -> list[int]:
    import psutil

    try:
        return [c.pid for c in psutil.Process(pid).children() if "resource_tracker" not in " ".join(c.cmdline())]
    except psutil.Error:
        return []


def _start_and_wait_for_first_row(base, index_dir: Path, roots):
    root, config = base
    proc = subprocess.Popen([sys.executable, "-m", "livedj", "index", *map(str, roots), "--config", str(config),
                             "--index", str(index_dir), "--jobs", "2"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + TIMEOUT
    while _store_rows(index_dir) < 1 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    return proc


def test_a_killed_worker_costs_at_most_its_file(base, tmp_path):
    root, _ = base
    index_dir = tmp_path / "index"
    roots = [root / "lib" / "a", root / "lib" / "b"]
    proc = _start_and_wait_for_first_row(base, index_dir, roots)
    workers = _children(proc.pid)
    killed = bool(workers) and proc.poll() is None
    if killed:
        os.kill(workers[0], signal.SIGKILL)  # as the OOM killer would
    out, err = proc.communicate(timeout=TIMEOUT)
    named = [ln for ln in out.splitlines() if "not analysed" in ln]
    handled = proc.returncode == 0 and len(named) <= 1 and not has_traceback(err)
    again = repair(base, index_dir, *roots)
    ok = again.returncode == 0 and complete(index_dir, N_A + N_B)
    fault_counts.record("kill -9 during index", handled=handled and ok, traceback=has_traceback(err + again.stderr),
                        crash=proc.returncode < 0, lost=not ok)
    assert killed, "no worker was running to be killed"
    assert handled, f"rc {proc.returncode}\n{out}\n{err}"
    assert ok, again.stdout + again.stderr


def test_workers_die_with_their_parent(base, tmp_path):
    import psutil

    root, _ = base
    index_dir = tmp_path / "index"
    roots = [root / "lib" / "a", root / "lib" / "b"]
    proc = _start_and_wait_for_first_row(base, index_dir, roots)
    workers = _children(proc.pid)
    proc.kill()
    proc.communicate(timeout=30)
    deadline = time.monotonic() + 10
    while any(psutil.pid_exists(w) and psutil.Process(w).status() != psutil.STATUS_ZOMBIE for w in workers) \
            and time.monotonic() < deadline:
        time.sleep(0.1)
    alive = [w for w in workers if psutil.pid_exists(w) and psutil.Process(w).status() != psutil.STATUS_ZOMBIE]
    again = repair(base, index_dir, *roots)
    ok = again.returncode == 0 and complete(index_dir, N_A + N_B)
    fault_counts.record("kill -9 during index", handled=not alive and ok, traceback=has_traceback(again.stderr),
                        lost=not ok)
    assert workers and not alive, f"workers {alive} outlived their parent"
    assert ok, again.stdout + again.stderr


def test_worker_pool_survives_a_worker_killed_mid_item():
    """The pool itself, deterministically: the worker that takes "die" SIGKILLs itself."""
    from multiprocessing import get_context

    from livedj.library import workers

    items = [f"a{i}" for i in range(6)] + ["die"] + [f"b{i}" for i in range(6)]
    out = list(workers.imap_unordered(_work, items, jobs=2, mp_context=get_context("spawn"),
                                      lost=lambda item, why: ("lost", item, why)))
    lost = [o for o in out if isinstance(o, tuple)]
    done = sorted(o for o in out if isinstance(o, str))
    ok = lost == [("lost", "die", lost[0][2])] and "SIGKILL" in lost[0][2] and done == sorted(set(items) - {"die"})
    fault_counts.record("kill -9 during index", handled=ok, lost=not ok)
    assert ok, out


def _work(item: str) -> str:
    if item == "die":
        os.kill(os.getpid(), signal.SIGKILL)
    return item


# -- the store ---------------------------------------------------------------------------------------
def _garble_pages(path: Path) -> None:
    data = bytearray(path.read_bytes())
    rng = np.random.default_rng(1)
    for page in range(1, len(data) // 4096):
        data[page * 4096 + 8:page * 4096 + 200] = rng.integers(0, 256, 192, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))


STORE_DAMAGE = {"garbled pages": _garble_pages, "truncated": _truncated, "zeroed": _zeroed}


@pytest.mark.parametrize("damage", list(STORE_DAMAGE))
def test_corrupt_store_is_one_line_then_rebuilt_by_index(base, tmp_path, damage):
    root, config = base
    index_dir = copy_index(base, tmp_path)
    STORE_DAMAGE[damage](index_dir / "library.sqlite")
    track = next((root / "lib" / "a").rglob("*.wav"))
    suggest = livedj("suggest", track, "--at", 1, "--config", config, "--index", index_dir)
    lines = one_line(suggest.stderr)
    handled = suggest.returncode == 1 and len(lines) == 1 and "library.sqlite" in lines[0]
    again = repair(base, index_dir)  # every file analysed again, inline (no worker start-up)
    ok = again.returncode == 0 and complete(index_dir, N_A)
    fault_counts.record("store", handled=handled and ok, traceback=has_traceback(suggest.stderr + again.stderr),
                        crash=min(suggest.returncode, again.returncode) < 0, lost=not ok)
    assert handled, suggest.stderr
    assert ok, again.stdout + again.stderr
    assert list(index_dir.glob("library.sqlite.damaged-*")), "the damaged store is kept aside"


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


def _sane(config: dict) -> bool:
    import math

    for section in config.values():
        for value in (section.values() if isinstance(section, dict) else ()):
            if isinstance(value, float) and not math.isfinite(value):
                return False
            if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**63:
                return False
            if isinstance(value, str) and "\x00" in value:
                return False
    return True


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


def _main_here(argv: list[str]) -> subprocess.CompletedProcess:
    """``livedj ARGV`` run by :func:`livedj.cli.main` in this process; an escaping exception is a traceback."""
    import contextlib
    import io
    import traceback as tb

    from livedj.cli import main

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except Exception:
            err.write(tb.format_exc())
            code = 1
    return subprocess.CompletedProcess(argv, code, "", err.getvalue())


# -- the set log and the reload ---------------------------------------------------------------------
def test_set_log_that_fails_later_keeps_plays_and_writes_them_when_it_can(tmp_path):
    """Another process holds the set log locked: plays wait in memory, loudly, and are all written after."""
    from livedj.library.history import History, SetLogWriter

    path = tmp_path / "history.sqlite"
    writer = SetLogWriter(path)
    writer.retry_s = 0.2
    writer.start()
    blocker = sqlite3.connect(path, timeout=0.1)
    blocker.execute("BEGIN EXCLUSIVE")  # as a backup tool or a second program might
    for i in range(3):
        writer.log(f"/music/{i}.mp3", source="osc")
    deadline = time.monotonic() + 30
    while writer.status() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    failing = writer.status()
    blocker.rollback()
    blocker.close()
    deadline = time.monotonic() + 30
    while writer.written < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    writer.stop()
    history = History(path)
    logged = [p.path for s in history.sessions() for p in history.plays(s.id)]
    history.close()
    ok = failing is not None and "kept in memory" in failing and logged == [f"/music/{i}.mp3" for i in range(3)]
    fault_counts.record("set log", handled=ok, lost=len(logged) < 3)
    assert ok, (failing, logged)


def test_unusable_set_log_is_an_error_at_start(tmp_path):
    from livedj.library.history import SetLogUnusable, SetLogWriter

    (tmp_path / "file").write_text("x")
    for path in (tmp_path, tmp_path / "file" / "history.sqlite"):  # a folder; under a file
        writer = SetLogWriter(path)
        try:
            writer.start()
            handled = False
        except SetLogUnusable as exc:
            handled = str(path) in str(exc) and "\n" not in str(exc)
        fault_counts.record("set log", handled=handled)
        assert handled, path


def test_repeated_played_is_one_row(tmp_path):
    from livedj.library.history import History, SetLogWriter

    writer = SetLogWriter(tmp_path / "history.sqlite")
    writer.start()
    logged = [writer.log("/music/a.mp3", source="osc") for _ in range(200)]  # a double-tapping controller
    writer.log("/music/b.mp3", source="osc")
    writer.stop()
    history = History(tmp_path / "history.sqlite")
    rows = [p.path for s in history.sessions() for p in history.plays(s.id)]
    history.close()
    ok = rows == ["/music/a.mp3", "/music/b.mp3"] and logged.count(True) == 1 and writer.repeats == 199
    fault_counts.record("set log", handled=ok)
    assert ok, rows


def test_reload_swaps_every_lookup_with_the_engine():
    """After a reload, a track indexed since start-up resolves (OSC in) and is found by the set log."""
    from types import SimpleNamespace

    from livedj.engine.current import CurrentLibrary

    def engine(*ids):
        return SimpleNamespace(tracks={i: SimpleNamespace(id=i, path=f"/music/{i}.mp3") for i in ids})

    loop = SimpleNamespace(engine=engine(1, 2), pending_engine=None)
    library = CurrentLibrary(loop.engine)
    library.follow(lambda: loop.pending_engine or loop.engine)
    before = (library.resolve(3), library.resolve("/music/3.mp3"), library.track(3))
    loop.pending_engine = engine(1, 2, 3)  # SIGHUP after `livedj index` added track 3
    after_reload = (library.resolve(3), library.resolve("/music/3.mp3"), library.track(3).path)
    loop.engine, loop.pending_engine = loop.pending_engine, None  # the loop swaps it in
    swapped = (library.resolve(3), library.resolve("/music/1.mp3"))
    ok = before == (None, None, None) and after_reload == (3, 3, "/music/3.mp3") and swapped == (3, 1)
    fault_counts.record("reload", handled=ok, lost=not ok)
    assert ok, (before, after_reload, swapped)


def test_sighup_reload_failing_deep_is_one_line_and_ready_again(base, tmp_path):
    """The reload thread's work (run.reload) on an index whose store is garbled: systemd gets READY again."""
    import io
    import socket as socket_mod
    from types import SimpleNamespace

    from livedj.commands.run import reload
    from livedj.service.notify import Notifier

    root, config = base
    index_dir = copy_index(base, tmp_path)
    _garble_pages(index_dir / "library.sqlite")
    address = str(tmp_path / "notify")
    systemd = socket_mod.socket(socket_mod.AF_UNIX, socket_mod.SOCK_DGRAM)  # systemd's end of NOTIFY_SOCKET
    systemd.bind(address)
    systemd.settimeout(5)
    err = io.StringIO()
    loop = SimpleNamespace(engine=None, pending_engine=None)
    traceback = False
    try:
        reload(loop, str(config), str(index_dir), Notifier({"NOTIFY_SOCKET": address}), err)
    except Exception:
        traceback = True
    messages = [systemd.recv(4096).decode() for _ in range(2)]
    systemd.close()
    lines = [ln for ln in err.getvalue().splitlines() if ln.strip()]
    ok = (not traceback and loop.pending_engine is None and len(lines) == 1 and "reload failed" in lines[0]
          and "RELOADING=1" in messages[0] and "READY=1" in messages[1])
    fault_counts.record("reload", handled=ok, traceback=traceback)
    assert ok, (lines, messages)


SIGBUS_CHILD = r"""
import sys, numpy as np
from pathlib import Path
from livedj.library import index
directory = Path(sys.argv[1])
loaded = index.load(directory)
for path in directory.iterdir():  # as `cp other/* index/` would: every file truncated in place
    if path.is_file() and path.name != "library.sqlite":
        with open(path, "r+b") as f:
            f.truncate(0)
ids, _ = loaded.query(np.ones(int(loaded.manifest["dim"]), np.float32), 3)
hashes = np.asarray(loaded.fingerprints.hashes[-100:]).sum()
seg = loaded.query_segments(np.ones(loaded.segment_annoy.f, np.float32), 3)
print("queried", len(ids), len(seg[0]))
"""


def test_index_files_truncated_under_a_loaded_index_do_not_kill_it(base, tmp_path):
    index_dir = copy_index(base, tmp_path)
    child = subprocess.run([sys.executable, "-c", SIGBUS_CHILD, index_dir], capture_output=True, text=True,
                           timeout=TIMEOUT)
    ok = child.returncode == 0 and "queried 3 3" in child.stdout
    fault_counts.record("index files overwritten while loaded", handled=ok, crash=child.returncode < 0,
                        traceback=has_traceback(child.stderr))
    assert ok, (child.returncode, child.stderr[-500:])


MANIFEST_DAMAGE = {
    "items a string": lambda m: m.update(items="many"),
    "dim a list": lambda m: m.update(dim=[200]),
    "beginnings a list": lambda m: m.update(beginnings=[m["beginnings"]]),
    "size a string": lambda m: m["beginnings"].update(size="31668"),
    "file a number": lambda m: m["beginnings"].update(file=7),
    "file escapes the folder": lambda m: m["beginnings"].update(file="../../etc/passwd"),
    "fingerprint files a number": lambda m: m["fingerprints"].update(files=5),
    "segments items a string": lambda m: m["segments"].update(items="x"),
    "format a string": lambda m: m.update(format="1"),
    "not an object": lambda m: (m.clear(), m.update({"__list__": True})),
}


@pytest.mark.parametrize("damage", list(MANIFEST_DAMAGE))
def test_manifest_field_of_the_wrong_type_is_refused_and_rebuilt(base, tmp_path, damage):
    index_dir = copy_index(base, tmp_path)
    path = index_dir / "manifest.json"
    manifest = json.loads(path.read_text())
    MANIFEST_DAMAGE[damage](manifest)
    path.write_text(json.dumps([1, 2]) if "__list__" in manifest else json.dumps(manifest))
    traceback = handled = False
    try:
        annoy_index.load(index_dir)
    except annoy_index.IndexUnusable as exc:
        handled = "\n" not in str(exc) and str(index_dir) in str(exc)
    except Exception:
        traceback = True
    try:
        report = repair_here(base, index_dir)
    except Exception:
        report, traceback = None, True
    ok = report is not None and complete(index_dir, N_A)
    fault_counts.record("manifest fields", handled=handled and ok, traceback=traceback, lost=not ok)
    assert handled and not traceback, damage
    assert ok, damage


def test_odd_library_entries_are_named_and_silence_is_not_music(base, tmp_path):
    """Silence, near-silence, a folder named like a record, a FIFO, a name with a newline and an escape."""
    from livedj.synth import write_audio

    root, config = base
    folder = tmp_path / "music"
    (folder / "Album.mp3").mkdir(parents=True)
    write_audio(folder / "silence.wav", np.zeros(22050 * 70, np.float32), 22050)
    noise = np.random.default_rng(0).normal(size=22050 * 70) * 10 ** (-70 / 20)
    write_audio(folder / "hiss.flac", noise.astype(np.float32), 22050)
    os.mkfifo(folder / "pipe.mp3")  # would block a decoder forever
    shutil.copy(next((root / "lib" / "a").rglob("*.wav")), folder / "bad\nname\x1b[31mred.wav")
    result = livedj("index", folder, "--config", config, "--index", tmp_path / "index", "--jobs", 1)
    out = result.stdout
    checks = {
        "exit 0": result.returncode == 0,
        "good file indexed": "indexed 1 " in out,
        "silence counted": "(2 silent)" in out and out.count("not music") == 2,
        "folder named": "Album.mp3: a folder" in out,
        "FIFO named": "pipe.mp3: not a regular file" in out,
        "no raw escape or newline in names": "\x1b" not in out + result.stderr and "bad\nname" not in out,
    }
    handled = all(checks.values())
    fault_counts.record("odd library entries", handled=handled, traceback=has_traceback(result.stderr),
                        crash=result.returncode < 0)
    assert handled, (checks, out, result.stderr[-500:])


def test_history_lists_nights_with_plays_unless_all(tmp_path):
    from livedj.library.history import History

    path = tmp_path / "history.sqlite"
    history = History(path)
    night = history.start_session("the night")
    history.log_play(night, "/music/a.mp3", title="A", source="osc")
    history.start_session("a short test run")  # no plays
    history.close()
    config = tmp_path / "config.toml"
    config.write_text(f'[history]\npath = "{path}"\n')
    default, every = (_main_here_out(["history", "--config", str(config), *extra]) for extra in ([], ["--all"]))
    ok = "the night" in default and "a short test run" not in default and "--all" in default \
        and "a short test run" in every
    fault_counts.record("set log", handled=ok)
    assert ok, (default, every)


def _main_here_out(argv: list[str]) -> str:
    import contextlib
    import io

    from livedj.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        main(argv)
    return out.getvalue()
