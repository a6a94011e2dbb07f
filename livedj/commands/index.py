"""`livedj index`: bring the index up to date with the library, with a progress bar and a summary."""
from __future__ import annotations

import sys

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeRemainingColumn
from rich.text import Text

from livedj.library.indexer import Report, Settings, index_library


class FilesPerSecond(ProgressColumn):
    def render(self, task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:.2f} files/s" if speed else "-- files/s", style="progress.data.speed")


def settings_from(config: dict) -> Settings:
    return Settings(encoder=config["analysis"]["encoder"], beginning_s=config["index"]["beginning_s"],
                    threads=config["analysis"]["threads"])


def run_index(paths, config: dict, *, jobs: int | None = None, console: Console | None = None) -> Report:
    """Index ``paths`` into the configured index directory, drawing progress on ``console``."""
    console = console or Console(stderr=True)
    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), FilesPerSecond(),
                        TimeRemainingColumn(), TextColumn("{task.fields[name]}", style="dim"), console=console,
                        transient=False)
    tasks: dict[str, int] = {}

    def on_progress(event: str, done: int, total: int, path: str) -> None:
        if event == "scan":
            tasks["files"] = progress.add_task("analysing", total=total, name="")
        elif event == "file":
            name = path.rsplit("/", 1)[-1].encode("utf-8", "replace").decode("utf-8")
            progress.update(tasks["files"], completed=done, name=name[:40])
        elif event == "build" and done == 0:
            tasks["build"] = progress.add_task("building index", total=1, name="")
        elif event == "build":
            progress.update(tasks["build"], completed=1)

    with progress:
        report = index_library(paths, config["index"]["path"], settings_from(config), jobs=jobs,
                               n_trees=config["index"]["n_trees"], progress=on_progress)
    return report


def print_report(report: Report, console: Console) -> None:
    console.print(f"[bold]indexed {report.indexed}[/] · unchanged {report.unchanged} · "
                  f"skipped {len(report.skipped)} · removed {report.removed} · "
                  f"{report.index_items} tracks in {report.index_dir} "
                  f"({report.seconds:.1f} s, {report.files_per_s:.2f} files/s)", soft_wrap=True)
    for path, reason in report.skipped:
        console.print(Text.assemble(("  skipped ", "yellow"), f"{path}: {reason}"), soft_wrap=True)


def main(args, config) -> int:
    paths = args.paths or config["library"]["paths"]
    if not paths:
        print("livedj index: no folders given and library.paths is empty in the config", file=sys.stderr)
        return 2
    console = Console(stderr=True)
    report = run_index(paths, config, jobs=args.jobs, console=console)
    print_report(report, Console())
    return 0
