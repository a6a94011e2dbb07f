"""argparse ``type=`` checks for command-line values, so a bad value is one usage error, exit 2.

Each returns the parsed value or raises :class:`argparse.ArgumentTypeError` with a message that
names what was wrong; argparse prefixes the option's name. Output files are checked before any
work starts: not a folder, in a folder that exists (never created silently) and is writable,
with an extension the writer understands.
"""
from __future__ import annotations

import argparse
import math
import os
from typing import Callable

__all__ = ["seconds", "positive_seconds", "positive", "number", "count", "osc_target", "output_file", "given_path"]


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def seconds(text: str) -> float:
    """A time offset in seconds: finite and >= 0."""
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0 seconds, got {text!r}")
    return value


def positive_seconds(text: str) -> float:
    """A duration in seconds: finite and > 0."""
    value = _number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0 seconds, got {text!r}")
    return value


def positive(text: str) -> float:
    """A finite number > 0."""
    value = _number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text!r}")
    return value


def number(lo: float, hi: float) -> Callable[[str], float]:
    """A finite number in ``lo..hi``."""
    def parse(text: str) -> float:
        value = _number(text)
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"must be {lo:g}..{hi:g}, got {text[:40]!r}")
        return value

    return parse


def count(lo: int = 1, hi: int = 1_000_000) -> Callable[[str], int]:
    """A whole number in ``lo..hi``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text[:40]!r}") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"must be {lo}..{hi}, got {value}")
        return value

    return parse


def osc_target(text: str) -> str:
    """``HOST:PORT`` with a port in 1..65535 (checked here; the sender parses it again)."""
    from livedj.outputs.osc import parse_target

    try:
        parse_target(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def path_map(text: str):
    """``OLD=NEW`` (a livedj.pathmap.PathMap): the DJ's software's folder OLD is NEW on this machine."""
    from livedj.pathmap import parse_map

    try:
        return parse_map(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def given_path(text: str) -> str:
    """A path the user named (--config, --index): "" (an unset shell variable) is not the default one."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path (an unset shell variable?); leave the option out for "
                                         "the default")
    return text


def output_file(*extensions: str) -> Callable[[str], str]:
    """A file to write: not a folder, its folder exists and is writable, extension in ``extensions``."""
    def check(text: str) -> str:
        path = os.path.abspath(os.path.expanduser(text))
        suffix = os.path.splitext(path)[1].lower()
        try:
            if os.path.isdir(path):
                raise argparse.ArgumentTypeError(f"{text}: is a folder; give a file name")
            if extensions and suffix not in extensions:
                raise argparse.ArgumentTypeError(f"{text}: unknown extension {suffix or '(none)'!r}; "
                                                 f"use one of {', '.join(extensions)}")
            folder = os.path.dirname(path)
            if not os.path.isdir(folder):
                raise argparse.ArgumentTypeError(f"{text}: the folder {folder} does not exist (not created "
                                                 f"silently: make it first)")
            if not os.access(folder, os.W_OK | os.X_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
                raise argparse.ArgumentTypeError(f"{text}: not writable")
        except OSError as exc:
            raise argparse.ArgumentTypeError(f"{text}: unusable path ({exc.strerror})") from None
        return text

    return check
