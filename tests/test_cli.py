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


def test_every_option_of_every_command_says_what_it_does():
    """`livedj history --help` listed --session N and --export FILE with no word on them (analyze's and eval's
    --json too): a DJ reading the help had to guess."""
    silent = [f"{name} {action.option_strings[-1]}"
              for name, sub in build_parser()._subparsers._group_actions[0].choices.items()
              for action in sub._actions if action.option_strings and not action.help]
    assert not silent, silent


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


def test_eval_reports_precision_and_skips_a_corrupt_file(tmp_path, capsys):
    import json

    from livedj.commands import eval as eval_command
    from livedj.config import load
    from livedj.synth import DEMO_TRACKS, render_track, write_audio

    for i, spec in enumerate(DEMO_TRACKS[:4]):
        (tmp_path / f"label{i % 2}").mkdir(exist_ok=True)
        write_audio(str(tmp_path / f"label{i % 2}" / f"t{i}.wav"), render_track(spec, duration=8.0, sample_rate=16000),
                    16000)
    (tmp_path / "label0" / "broken.wav").write_bytes(b"RIFF not really")
    (tmp_path / "unlabelled.wav").write_bytes((tmp_path / "label0" / "t0.wav").read_bytes())  # no sub-folder
    args = build_parser().parse_args(["eval", str(tmp_path), "--encoders", "features", "--k", "1", "--json"])
    assert eval_command.main(args, load(None)) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    # the file lying in the folder itself has no label: it was left out without a word
    said = [ln for ln in captured.err.splitlines() if "unlabelled" in ln or "directly in" in ln]
    assert said == [f"livedj eval: left out 1 audio file lying directly in {tmp_path}: a file's label is its "
                    "sub-folder, and it is in none (move it into one to count it)"], captured.err
    assert result["tracks"] == 4 and result["labels"] == {"label0": 2, "label1": 2}
    assert [path.rsplit("/", 1)[-1] for path, _ in result["skipped"]] == ["broken.wav"]
    assert 0.0 <= result["precision"]["features"] <= 1.0 and result["precision"]["random"] == 1 / 3
