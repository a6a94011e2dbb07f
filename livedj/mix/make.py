"""Whole jobs: a mix file from a list of records, a preview of one transition; with a progress
bar, the output checked before any work, and the cue sheet and tracklist beside the file."""
from __future__ import annotations

import os
from pathlib import Path

from livedj.mix.cue import write_sidecars
from livedj.mix.io import MixWriter, check_output
from livedj.mix.render import MixOptions, crossfade_plan, exit_bar, prepare, render
from livedj.words import plural

__all__ = ["OutputError", "make_mix", "make_preview"]


class OutputError(Exception):
    """The mix cannot be written there; ``str(e)`` is one line naming the file."""


def _duration(path) -> float:
    import av

    try:
        with av.open(os.fsdecode(path), metadata_errors="ignore") as c:
            return float(c.duration or 0) / 1e6
    except Exception:  # noqa: BLE001 - unreadable: render() skips it and says why
        return 0.0


def _progress_bar(total: float, description: str, enabled: bool):
    from rich.console import Console
    from rich.progress import BarColumn, TextColumn, TimeRemainingColumn

    from livedj.progress import Progress

    # on stderr, as every command's: stdout is the tracklist (`livedj mix ... > set.txt`)
    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                        TextColumn("{task.completed:.0f}/{task.total:.0f} s of audio"), TimeRemainingColumn(),
                        console=Console(stderr=True), disable=not enabled, transient=False)
    task = progress.add_task(description, total=max(total, 1.0))

    def finished() -> None:  # the total was the records' lengths: blends overlap them, so the mix is shorter
        done = next(t.completed for t in progress.tasks if t.id == task)
        progress.update(task, total=max(done, 1.0), completed=max(done, 1.0))

    return progress, lambda seconds: progress.advance(task, seconds), finished


def _check(out_path, records) -> None:
    """Raise OutputError when ``out_path`` cannot be written or is one of ``records`` (the rename at
    the end would replace that record with the mix)."""
    problem = check_output(out_path)
    if problem:
        raise OutputError(problem)
    for record in records:
        try:
            same = os.path.samefile(record, out_path)
        except (OSError, ValueError):  # either missing: nothing to replace
            same = False
        if same:
            raise OutputError(f"{out_path}: is one of the records to mix ({os.fsdecode(record)}); give another file name")


def make_mix(paths, out_path, options: MixOptions = MixOptions(), *, show_progress: bool = True,
             on_record=None):
    """Render ``paths`` into ``out_path`` (format by extension) with ``.cue`` and ``.txt`` beside.

    Raises
    ------
    OutputError
        Before any work, when the file cannot be written (folder missing or read-only, format, a
        folder) or is one of ``paths``.

    Returns
    -------
    entries, stats
        As :func:`livedj.mix.render.render`.
    """
    paths = [os.fspath(p) for p in paths]
    _check(out_path, paths)
    total = sum(_duration(p) for p in paths)
    progress, advance, finished = _progress_bar(total, f"mixing {plural(len(paths), 'record')}", show_progress)
    with progress, MixWriter(out_path, options.sample_rate, title=Path(out_path).stem) as writer:
        entries, stats = render(paths, writer, options, progress=advance, on_record=on_record)
        finished()
        if not any(e.start is not None for e in entries):  # nothing to write: a file already there stays
            raise OutputError(f"{out_path}: not written: " + ("the record could not be read" if len(paths) == 1
                                                               else f"none of the {len(paths)} records could be read"))
    write_sidecars(entries, stats, out_path)
    return entries, stats


def make_preview(now, next_, out_path, options: MixOptions = MixOptions(blend_bars=8), *,
                 context_s: float = 8.0, prepared: dict | None = None):
    """Write the one transition ``now`` -> ``next_`` with ``context_s`` seconds either side.

    With 8-bar blends at 120-130 BPM that is about 30 s: enough to judge on headphones. The
    blend is the one a full mix would make at the end of ``now``. ``prepared`` (path -> Deck)
    skips decoding and analysis of records already at hand.

    Returns
    -------
    entries, stats
        As :func:`livedj.mix.render.render`; ``stats["duration"]`` is the preview's length.
    """
    now, next_ = os.fspath(now), os.fspath(next_)
    _check(out_path, (now, next_))
    prepared = dict(prepared or {})
    for p in (now, next_):
        if p not in prepared:
            prepared[p] = prepare(p, options)
    a, b = prepared[now], prepared[next_]
    if a.grid.has_beat and b.grid.has_beat:
        exit_s, blend_s = exit_bar(a.grid, a.music_end, 0.0, options.blend_bars, options.phrase_bars), \
            options.blend_bars * a.grid.bar
    else:  # no beat in one of them: the crossfade render() makes
        exit_s, blend_s = crossfade_plan(a, b, 0.0, options)
    if exit_s is None:
        exit_s = max(0.0, a.music_end - context_s)
    window = (max(0.0, exit_s - context_s), exit_s + blend_s + context_s)
    with MixWriter(out_path, options.sample_rate, title=Path(out_path).stem) as writer:
        entries, stats = render([now, next_], writer, options, window=window, prepared=prepared)
    for e in entries:
        if e.start is not None:
            e.start = max(0.0, e.start - window[0])
    return entries, stats
