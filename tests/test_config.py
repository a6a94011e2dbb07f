"""config.toml: defaults, validation of every key, one line per problem naming file and key."""
import subprocess
import sys
from pathlib import Path

import pytest

from livedj import config

REPO = Path(__file__).resolve().parents[1]


def write(tmp_path, text):
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_shipped_config_equals_builtin_defaults():
    loaded = config.load(REPO / "config.toml")
    assert loaded == config._resolve_paths(config.defaults())


def test_override_copies_and_source_path_names_the_file(tmp_path, monkeypatch):
    loaded = config.load(REPO / "config.toml")
    moved = config.override(loaded, {"index": {"path": "/elsewhere"}, "ranking": {"top": 3}})
    assert moved["index"]["path"] == "/elsewhere" and moved["ranking"]["top"] == 3
    assert loaded == config.load(REPO / "config.toml")  # the loaded config is untouched
    assert config.source_path(REPO / "config.toml") == str(REPO / "config.toml")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert config.source_path(None) == "(built-in defaults)"


def test_unknown_key_is_named_with_a_suggestion(tmp_path):
    path = write(tmp_path, "[audio]\nhop_sec = 2\n")
    with pytest.raises(config.ConfigError) as info:
        config.load(path)
    (line,) = info.value.problems
    assert str(path) in line and "audio.hop_sec" in line and "did you mean 'hop_s'" in line


def test_every_problem_is_reported_at_once(tmp_path):
    path = write(tmp_path, """
[audio]
window_s = "five"
hop_s = -1
[analysis]
encoder = "vggish"
[ranking]
top = true
[osc]
targets = [{host = "127.0.0.1", prot = 9000}, {host = "localhost", port = 70000}]
[dashbord]
""")
    with pytest.raises(config.ConfigError) as info:
        config.load(path)
    text = str(info.value)
    for expected in ("audio.window_s: expected float", "audio.hop_s: must be >= 0.1", "analysis.encoder: must be one of",
                     "ranking.top: expected int", "osc.targets[0].prot: unknown key (did you mean 'port'?)",
                     "osc.targets[1].port: must be a UDP port", "dashbord: unknown section (did you mean 'dashboard'?)"):
        assert expected in text, expected
    assert len(info.value.problems) == 7
    assert all(line.startswith(str(path)) for line in info.value.problems)


def test_ints_are_accepted_for_floats_and_paths_expand(tmp_path):
    path = write(tmp_path, '[audio]\nwindow_s = 6\n[index]\npath = "~/x"\n')
    loaded = config.load(path)
    assert loaded["audio"]["window_s"] == 6.0 and isinstance(loaded["audio"]["window_s"], float)
    assert loaded["index"]["path"] == str(Path.home() / "x")


def test_environment_variables_in_paths_expand_and_an_unset_one_is_named(tmp_path, monkeypatch):
    """``$HOME/...`` (as in a systemd unit or a shell) was kept literally: a set log under a folder named "$HOME"."""
    monkeypatch.setenv("LIVEDJ_TEST_MUSIC", str(tmp_path / "music"))
    loaded = config.load(write(tmp_path, '[index]\npath = "${LIVEDJ_TEST_MUSIC}/index"\n'
                                         '[history]\npath = "$LIVEDJ_TEST_MUSIC/h.sqlite"\n'
                                         '[library]\npaths = ["$LIVEDJ_TEST_MUSIC"]\n'))
    assert loaded["index"]["path"] == str(tmp_path / "music" / "index")
    assert loaded["history"]["path"] == str(tmp_path / "music" / "h.sqlite")
    assert loaded["library"]["paths"] == [str(tmp_path / "music")]
    monkeypatch.delenv("LIVEDJ_TEST_UNSET", raising=False)
    with pytest.raises(config.ConfigError) as info:
        config.load(write(tmp_path, '[index]\npath = "$LIVEDJ_TEST_UNSET/index"\n'))
    assert "index.path: '$LIVEDJ_TEST_UNSET/index': $LIVEDJ_TEST_UNSET is not set" in str(info.value)
    literal = tmp_path / "$5 records"  # a folder really named so is not an unset variable
    literal.mkdir()
    assert config.load(write(tmp_path, f'[index]\npath = "{literal}"\n'))["index"]["path"] == str(literal)


def test_window_longer_than_buffer_is_refused(tmp_path):
    path = write(tmp_path, "[audio]\nwindow_s = 10\nbuffer_s = 6\n")
    with pytest.raises(config.ConfigError, match="audio.buffer_s"):
        config.load(path)


def test_identify_window_longer_than_buffer_is_refused(tmp_path):
    path = write(tmp_path, "[audio]\nbuffer_s = 12\n[analysis]\nidentify_s = 20\n")
    with pytest.raises(config.ConfigError, match="analysis.identify_s: must be <= audio.buffer_s"):
        config.load(path)
    # the default window with a shorter buffer is not an error: the match hears the whole buffer
    assert config.load(write(tmp_path, "[audio]\nbuffer_s = 12\n"))["analysis"]["identify_s"] == 15.0


def test_bad_toml_and_missing_file(tmp_path):
    with pytest.raises(config.ConfigError, match="not valid TOML"):
        config.load(write(tmp_path, "[audio\n"))
    with pytest.raises(config.ConfigError, match="no such config file"):
        config.load(tmp_path / "nope.toml")


def test_no_file_gives_defaults_under_xdg(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    loaded = config.load(None)
    assert loaded["index"]["path"] == str(tmp_path / "data" / "livedj" / "index")
    (tmp_path / "cfg" / "livedj").mkdir(parents=True)
    (tmp_path / "cfg" / "livedj" / "config.toml").write_text("[ranking]\ntop = 3\n")
    assert config.load(None)["ranking"]["top"] == 3


def test_cli_stops_with_one_line_naming_key_and_file(tmp_path):
    path = write(tmp_path, "[ranking]\ntopp = 3\n")
    result = subprocess.run([sys.executable, "-m", "livedj", "suggest", "x.wav", "--config", str(path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip() == f"livedj: config error: {path}: ranking.topp: unknown key (did you mean 'top'?)"


def test_a_file_saved_with_a_byte_order_mark_is_read(tmp_path):
    """Windows editors (Notepad) start a UTF-8 file with a BOM: it stopped livedj with
    "not valid TOML: Invalid statement (at line 1, column 1)", nothing wrong to see on that line."""
    path = tmp_path / "config.toml"
    path.write_bytes("\ufeff[ranking]\r\ntop = 3\r\n".encode("utf-8"))
    assert config.load(path)["ranking"]["top"] == 3


def test_a_key_in_the_wrong_table_names_its_table(tmp_path):
    """``top`` under [audio], or above every table, said only "unknown key" / "unknown section"."""
    with pytest.raises(config.ConfigError) as info:
        config.load(write(tmp_path, "follow = true\n[audio]\ntop = 3\n[index]\npaths = []\n[ranking]\nhead = ''\n"))
    assert info.value.problems == [
        f"{tmp_path / 'config.toml'}: follow: a key outside any table (it belongs in [mixxx])",
        f"{tmp_path / 'config.toml'}: audio.top: unknown key (it belongs in [ranking])",
        f"{tmp_path / 'config.toml'}: index.paths: unknown key (it belongs in [library])",
        f"{tmp_path / 'config.toml'}: ranking.head: unknown key (it belongs in [analysis])",
    ]
    with pytest.raises(config.ConfigError) as info:  # a key of two tables names both
        config.load(write(tmp_path, "[audio]\npath = ''\n"))
    assert info.value.problems[0].endswith("audio.path: unknown key (it belongs in [index] or [history])")


def test_osc_targets_as_a_single_table_says_two_brackets(tmp_path):
    """``[osc.targets]`` (one pair of brackets) said "expected list, got dict a dict of 2 items"."""
    with pytest.raises(config.ConfigError) as info:
        config.load(write(tmp_path, "[osc.targets]\nhost = '127.0.0.1'\nport = 9000\n"))
    (line,) = info.value.problems
    assert line.endswith("osc.targets: expected [[osc.targets]] tables (two pairs of brackets), got one table")
    with pytest.raises(config.ConfigError) as info:
        config.load(write(tmp_path, "[library]\npaths = {music = '~/Music'}\n"))
    assert info.value.problems[0].endswith("library.paths: expected list, got a dict of 1 items")


def test_an_osc_prefix_the_sender_refuses_is_refused_on_load(tmp_path):
    """``prefix = "livedj"`` (no leading /) passed the check; `livedj run` then dropped the target
    with a line naming neither the file nor the key, and sent it nothing all night."""
    with pytest.raises(config.ConfigError) as info:
        config.load(write(tmp_path, "[[osc.targets]]\nprefix = 'livedj'\n[[osc.targets]]\nprefix = '/a b'\n"))
    assert [p.split(": ", 2)[1] for p in info.value.problems] == ["osc.targets[0].prefix", "osc.targets[1].prefix"]
    assert "must start with '/'" in info.value.problems[0]
    loaded = config.load(write(tmp_path, "[[osc.targets]]\nprefix = '/booth/'\n"))
    assert loaded["osc"]["targets"][0]["prefix"] == "/booth/"


def test_the_mixxx_database_path_expands_like_every_path(tmp_path, monkeypatch):
    """``database = "~/.mixxx/mixxxdb.sqlite"`` was used literally: Mixxx was never followed
    ("no such file"), while every other path in the file expands ~ and $VARIABLES."""
    monkeypatch.setenv("LIVEDJ_TEST_MIXXX", str(tmp_path / "mixxx"))
    loaded = config.load(write(tmp_path, '[mixxx]\ndatabase = "~/.mixxx/mixxxdb.sqlite"\n'))
    assert loaded["mixxx"]["database"] == str(Path.home() / ".mixxx" / "mixxxdb.sqlite")
    loaded = config.load(write(tmp_path, '[mixxx]\ndatabase = "$LIVEDJ_TEST_MIXXX/mixxxdb.sqlite"\n'))
    assert loaded["mixxx"]["database"] == str(tmp_path / "mixxx" / "mixxxdb.sqlite")
    assert config.load(write(tmp_path, "[mixxx]\nfollow = true\n"))["mixxx"]["database"] == ""  # Mixxx's own place


def test_a_capture_rate_or_device_index_no_device_has_is_refused_on_load(tmp_path):
    """``samplerate = 1`` and ``device = -3`` passed the check and failed only when the capture opened."""
    with pytest.raises(config.ConfigError) as info:
        config.load(write(tmp_path, "[audio]\nsamplerate = 1\ndevice = -3\n"))
    assert sorted(p.split(": ", 2)[1] for p in info.value.problems) == ["audio.device", "audio.samplerate"]
    for rate, device in ((0, ""), (8000, 0), (48000, 2), (384000, "pulse")):
        loaded = config.load(write(tmp_path, f"[audio]\nsamplerate = {rate}\ndevice = {device!r}\n"))
        assert loaded["audio"]["samplerate"] == rate and loaded["audio"]["device"] == device
