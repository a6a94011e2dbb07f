"""The command line: every command's options live in its own module; building the parser stays cheap."""
import subprocess
import sys

import pytest

from livedj.cli import COMMANDS, build_parser


def test_every_command_has_its_parser_and_main_in_its_module():
    from importlib import import_module

    for name in COMMANDS:
        module = import_module(f"livedj.commands.{name}")
        assert module.HELP and module.DESCRIPTION, name
        assert callable(module.add_arguments) and callable(module.main), name


@pytest.mark.parametrize("name", COMMANDS)
def test_each_command_help_exits_cleanly(name, capsys):
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args([name, "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: livedj {name}") and "--config" in out


def test_common_index_option_only_where_the_command_reads_the_index():
    parser = build_parser()
    assert parser.parse_args(["suggest", "x.wav", "--index", "/i"]).index == "/i"
    with pytest.raises(SystemExit):
        parser.parse_args(["demo", "--index", "/i"])  # demo builds its own index


def test_options_and_defaults_reach_the_command():
    args = build_parser().parse_args(["eval", "d", "--room", "--booth", "standard"])
    assert (args.command, args.dir, args.room, args.booth, args.k, args.encoders) == (
        "eval", "d", True, "standard", 10, "musicnn,features")
    args = build_parser().parse_args(["journey", "a", "b", "-o", "set.m3u"])
    assert (args.waypoints, args.steps, args.output) == (["a", "b"], 10, "set.m3u")


def test_building_the_parser_imports_no_heavy_library():
    # a fresh interpreter: this test process has long imported numpy and torch
    code = ("import sys; from livedj.cli import build_parser; build_parser(); "
            "print(sorted(m for m in ('numpy', 'torch', 'librosa', 'scipy', 'rich', 'sounddevice', 'annoy') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
