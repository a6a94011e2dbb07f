"""config.toml: the schema, its defaults, validation and where the file is found.

Every key is checked on load and *all* problems of a file are reported at once, one line each,
naming the file and the key (an unknown key gets a "did you mean ...?"), in the spirit of
Mopidy's config schemas. The documented defaults live in the repository's ``config.toml``;
this module holds the same values so that livedj runs with no file at all. The checks of single
values (ranges, choices, paths, hosts, ports) are in :mod:`livedj.config_checks`.
"""
from __future__ import annotations

import copy
import difflib
import os
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterable

from livedj.config_checks import (READ_ONLY_CHECKS, any_path, directory_or_absent, existing_file, expand_path,
                                  generic_check, history_span, host_or_ip, in_range, input_device, one_of, osc_prefix,
                                  sample_rate, shown, toml_key, udp_port, writable_file)
from livedj.dsp import WINDOW_S

#: .webm/.mka: Opus or Vorbis in Matroska (what downloads save); .m4p: iTunes-protected, listed so that a
#: library's DRM files are reported as skipped ("protected (DRM)") rather than missing without a word
AUDIO_EXTENSIONS = (".mp3", ".m4a", ".aac", ".mp4", ".flac", ".ogg", ".oga", ".opus", ".wav", ".aif", ".aiff",
                    ".webm", ".mka", ".m4p")


class ConfigError(Exception):
    """A config file is invalid; ``str()`` has one line per problem."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class Field:
    kind: type | tuple[type, ...]
    default: Any
    check: Callable[[Any], str | None] | None = None  #: returns a message when the value is out of range
    help: str = ""


def span_seconds(value: str) -> float | None:
    """Seconds of a history span ("12h", "7d"); None for "session"."""
    if value == "session":
        return None
    return float(value[:-1]) * (3600.0 if value.endswith("h") else 86400.0)


SCHEMA: dict[str, dict[str, Field]] = {
    "audio": {
        "device": Field((str, int), "", input_device, "input device name (substring) or index; empty: the system default"),
        "samplerate": Field(int, 0, sample_rate, "capture rate in Hz; 0: the device's default"),
        "channels": Field(int, 1, in_range(1, 32), "channels to capture (mixed to mono)"),
        "window_s": Field(float, WINDOW_S, in_range(3.0, 30.0), "seconds of audio per analysis window"),
        "hop_s": Field(float, 1.0, in_range(0.1, 30.0), "seconds between updates"),
        "buffer_s": Field(float, 20.0, in_range(5.0, 600.0), "ring buffer length in seconds"),
    },
    "analysis": {
        "encoder": Field(str, "musicnn", one_of("musicnn", "features", "musicnn-booth"),
                         "which encoder embeds audio"),
        "head": Field(str, "", existing_file, help="booth head for musicnn-booth; empty: <index dir>/head.safetensors if "
                                    "`livedj train --booth-head` wrote one, else models/booth_head.safetensors"),
        "threads": Field(int, 1, in_range(1, 64), "torch threads for the live analysis (1 measured fastest: "
                                                   "the streaming front end is many small ops)"),
        "identify_s": Field(float, 15.0, in_range(3.0, 30.0), "seconds of the newest audio the fingerprint "
                                                              "match (now playing) listens to"),
        "key_lock": Field(bool, True, help="now playing also names records played with key lock (master "
                                            "tempo: tempo moved, pitch not); false: pitch fader only, "
                                            "about 1.5x less identification time"),
        "stream_match": Field(bool, True, help="live, the fingerprint match reads only each update's new audio "
                                                "(~0.7x its time) and knows what the newest 3 s hold, which names "
                                                "the incoming record of a cut or blend sooner (docs/fingerprints-log.md, "
                                                "live matcher); false: the whole window every update"),
    },
    "index": {
        "path": Field(str, "", directory_or_absent, help="index directory; empty: $XDG_DATA_HOME/livedj/index"),
        "beginning_s": Field(float, 30.0, in_range(5.0, 120.0), "seconds of each song's beginning that are embedded"),
        "n_trees": Field(int, 16, in_range(1, 1000), "Annoy trees (more: better recall, bigger file)"),
        "segment_hop_s": Field(float, 5.0, in_range(0.0, 60.0), "seconds between segment vectors over whole tracks "
                                                               "(identifies what plays); 0: none"),
        "fit": Field(str, "lda", one_of("lda", "none"), "projection fitted to the library at index time, "
                                                         "no labels (docs/fit.md); none: the encoder's vectors"),
        "fit_dims": Field(int, 16, in_range(2, 1506), "dimensions of the fitted projection"),
        "fit_room": Field(float, 0.25, in_range(0.0, 10.0), "weight of the booth's effect (shipped room nuisance) "
                                                          "the fit learns to ignore; 0: off (docs/fit.md)"),
    },
    "library": {
        "paths": Field(list, [], help="folders scanned by `livedj index` when no PATH is given"),
        "map_paths": Field(list, [], help='"OLD=NEW": the DJ software\'s folder OLD is NEW here (its tracks are '
                                          'looked for there), e.g. "/Users/dj/Music=~/Music"; --map-path adds more'),
    },
    "history": {
        "path": Field(str, "", writable_file, help="the set log (SQLite); empty: $XDG_DATA_HOME/livedj/history.sqlite"),
        "no_repeat": Field(str, "session", history_span, 'played tracks are not suggested again within this span: '
                                                         '"session", or e.g. "12h", "7d"'),
    },
    "ranking": {
        "top": Field(int, 10, in_range(1, 100), "suggestions per update"),
        "candidates": Field(int, 50, in_range(1, 1000), "nearest neighbours fetched from the index before ranking"),
        "search_k": Field(int, -1, in_range(-1, 10_000_000), "Annoy search_k; -1: n_trees * candidates"),
        "weight_similarity": Field(float, 1.0, in_range(0.0, 100.0), "weight of sounding alike"),
        "weight_tempo": Field(float, 0.25, in_range(0.0, 100.0), "weight of tempo compatibility"),
        "weight_key": Field(float, 0.25, in_range(0.0, 100.0), "weight of harmonic (Camelot) compatibility"),
        "pitch_range": Field(float, 0.08, in_range(0.0, 1.0), "the pitch fader's reach, as a fraction (0.08 = +-8%)"),
        "harmonic_only": Field(bool, False, help="hard filter: only same/adjacent/relative keys"),
        "reachable_only": Field(bool, False, help="hard filter: only tempi the pitch fader reaches"),
        "exclude_now_playing": Field(bool, True, help="never suggest the record identified as playing"),
        "weight_context": Field(float, 1.5, in_range(0.0, 100.0), "weight of the DJ's own playlists, crates and sets "
                                                               "(context); left out while none is imported"),
        "shortlist": Field(int, 20, in_range(0, 1000), "tempo and key choose among this many most similar "
                                                      "candidates (0: among all candidates)"),
    },
    "osc": {
        "targets": Field(list, [{"host": "127.0.0.1", "port": 9000, "profile": "livedj"}],
                         help="[[osc.targets]] tables: host, port, profile and its options"),
    },
    "osc_in": {
        "enabled": Field(bool, True, help="accept commands (played, skip, pin, ...) over OSC"),
        "host": Field(str, "127.0.0.1", host_or_ip, "address to listen on; anything but loopback is an explicit choice"),
        "port": Field(int, 9001, udp_port, "UDP port"),
    },
    "mixxx": {
        "follow": Field(bool, False, help="follow what Mixxx plays (its history, read-only) and log it as played"),
        "database": Field(str, "", any_path, help="mixxxdb.sqlite; empty: Mixxx's usual location"),
        "interval_s": Field(float, 2.0, in_range(0.2, 60.0), "how often Mixxx's history is polled"),
    },
    "dashboard": {
        "enabled": Field(bool, True, help="show the rich dashboard when on a terminal"),
        "fps": Field(float, 8.0, in_range(1.0, 60.0), "dashboard refresh rate"),
    },
}

OSC_TARGET_SCHEMA: dict[str, Field] = {
    "host": Field(str, "127.0.0.1", host_or_ip),
    "port": Field(int, 9000, udp_port),
    "profile": Field(str, "livedj", one_of("livedj", "abletonosc", "touchosc")),
    # profile options (docs/osc.md, docs/ableton.md); None: the profile's own default
    "prefix": Field(str, None, osc_prefix),
    "track": Field(int, None, in_range(0, 9999)),
    "slots": Field(int, None, in_range(0, 64)),
    "first_slot": Field(int, None, in_range(0, 9999)),
    "show_message": Field(bool, None),
    "resync_s": Field(float, None, in_range(0.0, 3600.0)),
}


def defaults() -> dict[str, dict[str, Any]]:
    """The built-in configuration, as nested dicts."""
    return {section: {k: copy.deepcopy(f.default) for k, f in fields.items()} for section, fields in SCHEMA.items()}


def _did_you_mean(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _belongs_in(name: str, besides: str | None = None) -> str:
    """" (it belongs in [table])" when ``name`` is a key of another table than ``besides``."""
    tables = [f"[{section}]" for section, fields in SCHEMA.items() if name in fields and section != besides]
    return f" (it belongs in {' or '.join(tables)})" if tables else ""


def _check_value(where: str, key: str, value: Any, spec: Field, problems: list[str]) -> Any:
    kinds = spec.kind if isinstance(spec.kind, tuple) else (spec.kind,)
    message = generic_check(value)
    if message:
        problems.append(f"{where}: {key}: {message}")
        return spec.default
    if float in kinds and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)  # TOML writes 5 for 5.0
    if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
        names = " or ".join(k.__name__ for k in kinds)
        got = shown(value) if isinstance(value, (list, dict)) else f"{type(value).__name__} {shown(value)}"
        if key == "osc.targets" and isinstance(value, dict):  # [osc.targets] written for [[osc.targets]]
            names, got = "[[osc.targets]] tables (two pairs of brackets)", "one table"
        problems.append(f"{where}: {key}: expected {names}, got {got}")
        return spec.default
    message = spec.check(value) if spec.check else None
    if message:
        problems.append(f"{where}: {key}: {message}")
        return spec.default
    return value


def _check_osc_targets(where: str, targets: list, problems: list[str]) -> list[dict]:
    checked = []
    for i, target in enumerate(targets):
        key = f"osc.targets[{i}]"
        if not isinstance(target, dict):
            problems.append(f"{where}: {key}: expected a table with host and port, got {shown(target)}")
            continue
        entry = {}
        for name, value in target.items():
            if name not in OSC_TARGET_SCHEMA:
                hint = _did_you_mean(name, list(OSC_TARGET_SCHEMA))
                problems.append(f"{where}: {key}.{toml_key(name)}: unknown key{hint}")
                continue
            entry[name] = _check_value(where, f"{key}.{name}", value, OSC_TARGET_SCHEMA[name], problems)
        for name, spec in OSC_TARGET_SCHEMA.items():
            entry.setdefault(name, spec.default)
        checked.append({k: v for k, v in entry.items() if v is not None})
    return checked


def validate(raw: dict[str, Any], where: str = "<config>", reads: Iterable[str] = ()) -> dict[str, dict[str, Any]]:
    """Check ``raw`` (parsed TOML) against the schema and merge it over the defaults. ``reads``: the
    ``section.key`` files the command only reads (``livedj history``: ``history.path``): checked as files,
    not as writable ones (a read-only set log is read).

    Raises
    ------
    ConfigError
        Listing every problem found, one line each: ``FILE: section.key: what is wrong``.
    """
    problems: list[str] = []
    config = defaults()
    for section, values in raw.items():
        if section not in SCHEMA:
            if not isinstance(values, dict) and _belongs_in(section):  # a key above every table
                problems.append(f"{where}: {toml_key(section)}: a key outside any table{_belongs_in(section)}")
            else:
                problems.append(f"{where}: {toml_key(section)}: unknown section{_did_you_mean(section, list(SCHEMA))}")
            continue
        if not isinstance(values, dict):
            problems.append(f"{where}: {section}: expected a [{section}] table, got {shown(values)}")
            continue
        for key, value in values.items():
            if key not in SCHEMA[section]:
                hint = _belongs_in(key, section) or _did_you_mean(key, list(SCHEMA[section]))
                problems.append(f"{where}: {section}.{toml_key(key)}: unknown key{hint}")
                continue
            spec = SCHEMA[section][key]
            if f"{section}.{key}" in reads and spec.check in READ_ONLY_CHECKS:
                spec = replace(spec, check=READ_ONLY_CHECKS[spec.check])
            config[section][key] = _check_value(where, f"{section}.{key}", value, spec, problems)
    if isinstance(config["osc"]["targets"], list):
        config["osc"]["targets"] = _check_osc_targets(where, config["osc"]["targets"], problems)
    for i, path in enumerate(config["library"]["paths"]):
        if not isinstance(path, str) or generic_check(path):
            problems.append(f"{where}: library.paths[{i}]: expected a path, got {shown(path)}")
    for i, text in enumerate(config["library"]["map_paths"]):
        problem = "expected a string" if not isinstance(text, str) else generic_check(text) or _map_problem(text)
        if problem:
            problems.append(f"{where}: library.map_paths[{i}]: {problem}, got {shown(text)}")
    ranking = config["ranking"]
    if ranking["weight_similarity"] + ranking["weight_tempo"] + ranking["weight_key"] <= 0:
        problems.append(f"{where}: ranking.weight_similarity: the three weights must not all be 0")
    audio = config["audio"]
    if audio["window_s"] > audio["buffer_s"]:
        problems.append(f"{where}: audio.buffer_s: must be >= audio.window_s ({audio['window_s']}), got {audio['buffer_s']}")
    # the match hears at most the ring buffer (the default 15 s with a shorter buffer: the whole buffer)
    if isinstance(raw.get("analysis"), dict) and "identify_s" in raw["analysis"] \
            and config["analysis"]["identify_s"] > audio["buffer_s"]:
        problems.append(f"{where}: analysis.identify_s: must be <= audio.buffer_s ({audio['buffer_s']}), "
                        f"got {config['analysis']['identify_s']}")
    if problems:
        raise ConfigError(problems)
    return config


def xdg_dir(kind: str, default: str) -> Path:
    """``$XDG_<KIND>_HOME/livedj`` (e.g. kind="DATA" -> ~/.local/share/livedj).

    Raises :class:`ConfigError` when there is no home to put it in: HOME unset, and a user the password
    database does not know (a container's ``--user 12345``, ``env -i``); every command died with the traceback
    of "RuntimeError: Could not determine home directory"."""
    base = os.environ.get(f"XDG_{kind}_HOME")
    if base:
        return Path(base) / "livedj"
    try:
        home = Path.home()
    except RuntimeError:
        raise ConfigError([f"no home folder: HOME is not set and user {os.getuid()} has none; "
                           f"set HOME (or XDG_{kind}_HOME)"]) from None
    return home / default / "livedj"


def default_config_path() -> Path:
    return xdg_dir("CONFIG", ".config") / "config.toml"


def source_path(path: str | os.PathLike | None = None) -> str:
    """What :func:`load` reads for ``path``: the file's path, or "(built-in defaults)"."""
    if path is not None:
        return str(path)
    try:
        candidate = default_config_path()
    except ConfigError:  # no home
        return "(built-in defaults)"
    return str(candidate) if candidate.exists() else "(built-in defaults)"


def override(config: dict[str, dict[str, Any]], changes: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """A copy of ``config`` with ``changes`` (``{section: {key: value}}``, e.g. a command-line
    ``--index``) applied; ``config`` itself is never changed."""
    out = copy.deepcopy(config)
    for section, values in changes.items():
        out[section].update(values)
    return out


def load(path: str | os.PathLike | None = None, *, reads: Iterable[str] = ()) -> dict[str, dict[str, Any]]:
    """Load and validate the configuration (``reads``: see :func:`validate`).

    ``path`` given: that file must exist. Otherwise ``$XDG_CONFIG_HOME/livedj/config.toml`` is
    used when present, else the built-in defaults (:func:`source_path` says which).
    """
    if path is None:
        try:
            candidate = default_config_path()
        except ConfigError:  # no home: no config file in it either
            candidate = None
        if candidate is None or not candidate.exists():
            return _resolve_paths(defaults())
        path = candidate
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")  # a BOM (Windows editors) is not TOML
    except FileNotFoundError:
        raise ConfigError([f"{path}: no such config file"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path}: cannot read: {exc}"]) from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: not valid TOML: {exc}"]) from None
    except RecursionError:
        raise ConfigError([f"{path}: not valid TOML: nested too deeply"]) from None
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise ConfigError([f"{path}: not valid TOML: {str(exc).splitlines()[0]}"]) from None
    return _resolve_paths(validate(raw, str(path), reads))


def _map_problem(text: str) -> str | None:
    from livedj.pathmap import parse_map

    try:
        parse_map(text)
    except ValueError as exc:
        return str(exc).split(", got ")[0]
    return None


def _resolve_paths(config: dict) -> dict:
    if not config["index"]["path"]:
        config["index"]["path"] = str(xdg_dir("DATA", ".local/share") / "index")
    config["index"]["path"] = expand_path(config["index"]["path"])
    if not config["history"]["path"]:
        config["history"]["path"] = str(xdg_dir("DATA", ".local/share") / "history.sqlite")
    config["history"]["path"] = expand_path(config["history"]["path"])
    config["library"]["paths"] = [expand_path(p) for p in config["library"]["paths"]]
    config["mixxx"]["database"] = expand_path(config["mixxx"]["database"])  # "": Mixxx's usual place
    return config
