"""Progress of long work that also reaches a log file.

rich draws its bars only on a terminal: into a log (``livedj index ~/Music 2>&1 | tee index.log``,
a cron job, a service's journal) it prints nothing until the work ends, so an hour of indexing looks
like a hang. :class:`Progress` is rich's, drawn as before on a terminal; anywhere else it prints one
plain line per task when it starts, every ``every_s`` seconds, and when it finishes, and nothing else
(not rich's last frame of the bars).
"""
from __future__ import annotations

import time

from rich import progress as rich_progress

__all__ = ["PREFIX", "Progress", "plain_line"]


#: what every plain line starts with, so that a log can be filtered (``grep -v '^progress: '``)
PREFIX = "progress: "


def plain_line(task: rich_progress.Task) -> str:
    """One line for ``task``: ``progress: what done/total (percent), rate/s, about N min left  name``."""
    if task.total:
        head = f"{PREFIX}{task.description} {task.completed:.0f}/{task.total:.0f} ({100 * task.completed / task.total:.0f} %)"
    else:
        head = f"{PREFIX}{task.description} {task.completed:.0f}"
    parts = [head]
    if task.speed and not task.finished:
        parts.append(f"{task.speed:.2f}/s")
        if task.time_remaining is not None:
            left = task.time_remaining
            parts.append(f"about {left / 60:.0f} min left" if left >= 90 else f"about {left:.0f} s left")
    if task.finished and task.finished_time:
        parts.append(f"done in {task.finished_time:.1f} s")
    named = next((str(v) for k, v in task.fields.items() if k in ("name", "note") and v), "")
    return ", ".join(parts) + (f"  {named}" if named else "")


class Progress(rich_progress.Progress):
    """rich's :class:`~rich.progress.Progress`, which also prints plain lines where it cannot draw.

    Parameters
    ----------
    *columns, **kwargs
        As rich's.
    every_s : float
        Seconds between two lines of one task off a terminal (its start and end are always printed).
    """

    def __init__(self, *columns, every_s: float = 30.0, **kwargs):
        super().__init__(*columns, **kwargs)
        self.every_s = every_s
        if self._plain():  # the plain lines say it all: rich's last frame would draw the bars into the log too
            self.live.transient = True
        self._printed: dict[rich_progress.TaskID, tuple[float, bool]] = {}  # task -> (when, finished)

    def stop(self) -> None:
        if self._plain():  # not rich's: it ends a log with an empty line (the space after a last frame not drawn)
            self.live.stop()
            return
        super().stop()

    def _plain(self) -> bool:
        return not self.disable and not self.console.is_terminal

    def add_task(self, *args, **kwargs) -> rich_progress.TaskID:
        task_id = super().add_task(*args, **kwargs)
        self._maybe_print(task_id)
        return task_id

    def update(self, task_id, **kwargs) -> None:
        super().update(task_id, **kwargs)
        self._maybe_print(task_id)

    def advance(self, task_id, advance: float = 1) -> None:
        super().advance(task_id, advance)
        self._maybe_print(task_id)

    def _maybe_print(self, task_id) -> None:
        if not self._plain():
            return
        task = self._tasks.get(task_id)
        if task is None:
            return
        now = time.monotonic()
        when, was_finished = self._printed.get(task_id, (None, False))
        finished = task.finished
        if was_finished or not (when is None or finished or now - when >= self.every_s):
            return
        self._printed[task_id] = (now, finished)
        self.console.print(plain_line(task), markup=False, highlight=False, soft_wrap=True)
