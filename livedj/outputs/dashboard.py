"""The terminal dashboard: what livedj hears and what it suggests, redrawn a few times a second.

:meth:`Dashboard.render` is pure (an :class:`Update` plus slowly changing ``info`` in, a rich
renderable out) and adapts to the console width when printed; :meth:`Dashboard.run` drives a
``rich.live.Live`` on the calling thread until a stop event is set.
"""
from __future__ import annotations

import logging
import threading
from typing import Callable

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.live import Live
from rich.panel import Panel
from rich.segment import SegmentLines
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from livedj.engine.rules import tempo_trust
from livedj.engine.update import Suggestion, Update
from livedj.outputs.cells import fmt_time, bar, camelot_style, describe_why
from livedj.outputs.jsonlines import safe_text

log = logging.getLogger(__name__)

_FLOOR_DB = -60.0  # the meters' left end; quieter than this reads as silence in a booth
_STAGES = ("mel", "embed", "query", "rank", "publish")
_STATUS_STYLES = {"listening": "bold green", "silence": "yellow", "paused": "bold yellow", "starting": "cyan",
                  "stopped": "dim"}  # others: cyan
#: ``info`` keys shown in the header, in this order (others follow as "key: value").
_INFO_KEYS = ("input", "encoder", "index_size", "hop", "outputs")
#: ``info`` keys holding a problem the DJ must see: each on its own line under the header, wrapped
#: rather than cut (the reason is at the end), absent while the value is None.
_ALERT_KEYS = ("mixxx",)


def _record(d: dict) -> str:
    """"artist – title" of a record dict, without a dangling dash (or "None") when one of them is empty;
    the file's path when both are."""
    artist, title = safe_text(d.get("artist") or ""), safe_text(d.get("title") or "")
    if artist and title:
        return f"{artist} – {title}"
    return artist or title or safe_text(d.get("path") or "") or "?"


def now_playing_line(now: dict | None) -> str:
    """What plays, as the header says it: "artist – title  (confidence)" (:func:`_record`: no "None" for a
    missing artist), or "not in library" for ``None``."""
    return f"{_record(now)}  ({float(now.get('confidence') or 0):.0%})" if now else "not in library"


def _db_style(db: float) -> str:
    return "red" if db > -3.0 else "yellow" if db > -12.0 else "green"


class _View:
    """A renderable that builds the dashboard for the width it is given."""

    def __init__(self, dashboard: Dashboard, update: Update | None, info: dict) -> None:
        self.dashboard, self.update, self.info = dashboard, update, info

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        try:
            frame = self.dashboard._build(self.update, self.info, options.max_width)
            if not console.is_terminal or self.update is None:
                yield frame
                return
            lines = console.render_lines(frame, options.update(height=None), pad=False)
            if len(lines) <= options.size.height:
                yield SegmentLines(lines, new_lines=True)  # rendered once: measured and drawn from the same lines
                return
            # a short terminal cropped the frame below the meters: the suggestions never showed
            yield self.dashboard._build(self.update, self.info, options.max_width, fit=(console, options))
        except Exception as exc:  # a bad value must not take the live screen down
            log.exception("dashboard render failed")
            yield Text(f"dashboard error: {exc!r}", style="bold red")


def _lines(console: Console, options: ConsoleOptions, renderable: RenderableType, width: int | None = None) -> int:
    """How many lines ``renderable`` takes at ``width`` (the options' own by default), whatever the height."""
    opts = options.update(height=None) if width is None else options.update(width=width, height=None)
    return len(console.render_lines(renderable, opts, pad=False))


class Dashboard:
    """The rich dashboard.

    Parameters
    ----------
    console : rich.console.Console, optional
        Where :meth:`run` draws; a new stdout console by default.
    title : str
        Shown on the frame.
    """

    def __init__(self, console: Console | None = None, title: str = "livedj") -> None:
        self.console = console if console is not None else Console()
        self.title = title

    # -- pure rendering ---------------------------------------------------------------------

    def render(self, update: Update | None, info: dict) -> RenderableType:
        """The whole screen for ``update`` (None before the first) and ``info``.

        ``info`` holds slowly changing state; known keys: ``input``, ``device``, ``encoder``,
        ``index_size`` (tracks), ``hop`` (seconds), ``outputs``, ``status``, ``now_playing``,
        ``mixxx`` (a problem following Mixxx, one line: shown on a line of its own, in red);
        any other key is shown as "key: value".
        """
        return _View(self, update, dict(info or {}))

    def _build(self, update: Update | None, info: dict, width: int, fit: tuple | None = None) -> RenderableType:
        """The frame; ``fit`` (console, options) when the terminal is too short for it: the meters and tags
        become one line and the suggestions as many rows as the height leaves (at least one)."""
        inner = max(width - 4, 20)  # the panel's border and padding
        status = safe_text(update.status if update is not None else info.get("status", "starting"))
        decks: tuple = ()
        if update is not None and update.seq >= 0:  # what the update itself heard wins over info
            now = update.now_playing
            info["now_playing"] = now_playing_line(now)
            decks = tuple(getattr(update, "decks", ()) or ())
            if len(decks) > 1:  # a blend: both records, each on its own line with its level
                info.pop("now_playing")
        parts: list[RenderableType] = [self._header(info, status, inner)]
        if len(decks) > 1:
            parts.append(self._decks(decks, inner))
        if update is None:
            waiting = Spinner("dots", text=Text(" waiting for the first update…", style="bold"),
                              style="cyan")
            parts += [Text(""), waiting, Text("")]
            subtitle = Text("no update yet", style="dim")
        elif fit is not None:
            console, options = fit
            parts.append(self._live_line(update))
            footer = self._footer(update, inner)
            used = sum(_lines(console, options, part, inner) for part in parts + [footer])
            rows = options.size.height - used - 2 - 2  # the panel's two borders, the table's title and header
            if rows < 1:  # the footer goes before the last suggestion does
                footer, rows = None, rows + _lines(console, options, footer, inner)
            parts.append(self._table(update.suggestions[:max(rows, 1)], width, held=update.status == "silence",
                                     paused=update.status == "paused"))
            if footer is not None:
                parts.append(footer)
            subtitle = Text(f" update #{update.seq + 1} · heard {fmt_time(update.t)} ", style="dim")
        else:
            half = (inner - 3) // 2
            if half >= 15:
                grid = Table.grid(expand=True, padding=(0, 3))
                grid.add_column(ratio=1)
                grid.add_column(ratio=1)
                grid.add_row(self._levels(update, half), self._tags(update, half))
            else:  # side by side the meters' values and the tags' names were cut to "-17…", "minim…"
                grid = Group(self._levels(update, inner), Text(""), self._tags(update, inner))
            parts += [Text(""), grid, Text("")]
            parts.append(self._table(update.suggestions, width, held=update.status == "silence",
                                     paused=update.status == "paused"))
            parts.append(self._footer(update, inner))
            subtitle = Text(f" update #{update.seq + 1} · heard {fmt_time(update.t)} ", style="dim")
        return Panel(Group(*parts), title=Text(f" {self.title} ", style="bold magenta"),
                     subtitle=subtitle, border_style="magenta", padding=(0, 1))

    def _header(self, info: dict, status: str, width: int) -> RenderableType:
        items = [Text.assemble(("● ", _STATUS_STYLES.get(status, "cyan")),
                               (status, _STATUS_STYLES.get(status, "cyan")))]
        fields = [(k, info[k]) for k in _INFO_KEYS if info.get(k) not in (None, "")]
        fields += [(k, v) for k, v in info.items()
                   if k not in _INFO_KEYS + _ALERT_KEYS and k not in ("status", "now_playing", "device")
                   and v not in (None, "")]
        for key, value in fields:
            if key == "input" and info.get("device") not in (None, ""):
                value = f"{safe_text(value)} ({safe_text(info['device'])})"
            elif key == "index_size":
                key, value = "index", f"{int(value):,} track{'' if int(value) == 1 else 's'}"
            elif key == "hop":
                value = f"{float(value):g} s"
            items.append(Text.assemble((f"{key} ", "dim"), (safe_text(value), "bold")))
        # Wrap between items, never inside one, so no line ends on a dangling separator.
        lines, line = [], Text()
        for item in items:
            if line and line.cell_len + 5 + item.cell_len > width:
                lines.append(line)
                line = Text()
            if line:
                line.append("  ·  ", style="dim")
            line.append_text(item)
        lines.append(line)
        if info.get("now_playing"):
            lines.append(Text.assemble(("now playing ", "dim"), (safe_text(info["now_playing"]), "bold cyan")))
        for line in lines:
            line.no_wrap, line.overflow = True, "ellipsis"
        lines += [Text.assemble(("⚠ ", "bold red"), (safe_text(info[k]), "bold red"))
                  for k in _ALERT_KEYS if info.get(k) not in (None, "")]
        return Group(*lines)

    def _decks(self, decks: tuple, width: int) -> RenderableType:
        """During a blend: one line per deck, *now* first (the incoming record once it takes over), with its level."""
        # expand: the record's column takes what the label, bar and level leave, and only it is cut
        table = Table.grid(padding=(0, 1), expand=True)
        table.add_column(style="dim", no_wrap=True, min_width=11)
        table.add_column(no_wrap=True, overflow="ellipsis", ratio=1)
        show_bar = width >= 60  # on a narrow terminal the record's name matters more
        if show_bar:
            table.add_column(no_wrap=True)
        table.add_column(justify="right", no_wrap=True, min_width=11)
        levels = [float(d.get("level") or 0.0) for d in decks[:2]]
        levels = [lv if lv == lv else 0.0 for lv in levels]  # NaN reads as silent
        loudest = max(max(levels), 1e-9)  # the bars are relative to the louder deck
        for i, (d, level) in enumerate(zip(decks[:2], levels)):
            row = ["now playing" if i == 0 else "   and deck", Text(_record(d), style="bold cyan" if i == 0 else "cyan")]
            if show_bar:
                row.append(bar(level / loudest, min(max(width // 6, 4), 12), "cyan"))
            row.append(f"{level:.2f}  ({float(d.get('confidence') or 0):.0%})")
            table.add_row(*row)
        return table

    def _levels(self, update: Update, width: int) -> RenderableType:
        table = Table.grid(padding=(0, 1))
        table.add_column(style="dim", width=4, no_wrap=True)
        table.add_column(no_wrap=True)
        table.add_column(justify="right", no_wrap=True)
        for label, db in (("rms", update.level_db), ("peak", update.peak_db)):
            db = db if db == db else -120.0  # NaN reads as silence
            frac = (db - _FLOOR_DB) / -_FLOOR_DB
            value = f"{db:5.1f}" if db > -120.0 else " -inf"
            table.add_row(label, bar(frac, min(max(width - 12, 4), 40), _db_style(db)),
                          Text(value, style=_db_style(db)))
        live = Table.grid(padding=(0, 1))
        live.add_column(style="dim", width=5, no_wrap=True)
        live.add_column(no_wrap=True, overflow="ellipsis")
        bpm = getattr(update, "live_bpm", None)
        bpm_confidence = getattr(update, "live_bpm_confidence", 0)
        live.add_row("tempo", Text.assemble((f"{bpm:.1f} BPM" if bpm else "?", "bold"),
                                            (f"  confidence {bpm_confidence:.2f}" if bpm else "", "dim"),
                                            # the ranking trusts it less (rules.tempo_trust): say so where it is read
                                            ("  doubtful" if bpm and tempo_trust(bpm_confidence) < 1.0 else "",
                                             "yellow")))
        key = getattr(update, "live_key", None)
        live.add_row("key", Text.assemble((f"{key}  {getattr(update, 'live_key_name', '') or ''}" if key else "?",
                                           f"bold {camelot_style(key)}" if key else "bold"),
                                          (f"  confidence {getattr(update, 'live_key_confidence', 0):.2f}"
                                           if key else "", "dim")))
        return Group(Text.assemble(("input level", "bold"), ("  dBFS", "dim")), table, live)

    def _live_line(self, update: Update) -> Text:
        """The meters, tempo, key and first tag on one line, for a short terminal."""
        db = update.level_db if update.level_db == update.level_db else -120.0
        line = Text.assemble(("level ", "dim"), (f"{db:.1f} dBFS" if db > -120.0 else "silence", _db_style(db)))
        bpm, key = getattr(update, "live_bpm", None), getattr(update, "live_key", None)
        line.append_text(Text.assemble(("  ·  tempo ", "dim"), (f"{bpm:.1f} BPM" if bpm else "?", "bold")))
        line.append_text(Text.assemble(("  ·  key ", "dim"), (f"{key} {getattr(update, 'live_key_name', '') or ''}".strip()
                                                             if key else "?", f"bold {camelot_style(key)}" if key else "bold")))
        if update.tags:
            line.append_text(Text.assemble(("  ·  sounds like ", "dim"), safe_text(update.tags[0][0])))
        line.no_wrap, line.overflow = True, "ellipsis"
        return line

    def _tags(self, update: Update, width: int) -> RenderableType:
        tags = update.tags[:5]
        name_w = min(max((len(safe_text(n)) for n, _ in tags), default=8), 16)
        table = Table.grid(padding=(0, 1))
        table.add_column(no_wrap=True, overflow="ellipsis", width=name_w)
        table.add_column(no_wrap=True)
        table.add_column(justify="right", no_wrap=True)
        for name, p in tags:
            table.add_row(safe_text(name), bar(p, min(max(width - name_w - 7, 4), 30), "cyan"), f"{p:.2f}")
        if not tags:
            return Group(Text("sounds like", style="bold"), Text("(no tags from this encoder)", style="dim"))
        return Group(Text("sounds like", style="bold"), table)

    def _table(self, suggestions: tuple[Suggestion, ...], width: int, held: bool = False,
               paused: bool = False) -> RenderableType:
        show_why = width >= 100
        show_sim = width >= 70  # on a narrow terminal the title matters more
        show_score = width >= 56  # under it the score's column cut the titles to "Artis…"
        bar_w = 8 if show_sim else 4
        table = Table(expand=True, box=None, header_style="bold", padding=(0, 1), show_edge=False,
                      title=Text.assemble(("next up", "bold"), (" (after the last music heard: silence now)" if held
                                                                else " (paused: /livedj/resume lets them go on)"
                                                                if paused else "", "yellow")), title_justify="left")
        table.add_column("#", justify="right", width=2, no_wrap=True)
        table.add_column("artist – title", ratio=3, no_wrap=True, overflow="ellipsis", min_width=16)
        if show_score:
            table.add_column("score", no_wrap=True, width=bar_w + 6)
        if show_sim:
            table.add_column("sim", justify="right", width=5, no_wrap=True)  # "-0.18"
        table.add_column("bpm", justify="right", width=5, no_wrap=True)
        table.add_column("key", justify="center", width=3, no_wrap=True)
        if show_why:
            table.add_column("why", ratio=2, no_wrap=True, overflow="ellipsis", style="dim")
        if not suggestions:
            empty = (Text("suggestions paused", style="bold yellow") if paused
                     else Text("no suggestions for this window", style="dim"))
            table.add_row("", empty,
                          *[""] * (len(table.columns) - 2))
            return table
        # Bars are relative to 1.0, or to the best score when the ranker scores above 1.
        top = max(1.0, max((s.score for s in suggestions if s.score == s.score), default=1.0))
        for s in suggestions:
            track = Text("pinned ", style="bold yellow") if (s.why or {}).get("pinned") and not show_why else Text()
            if safe_text(s.artist):  # an untagged record is its title (or path), as on the decks: no "? – "
                track.append(safe_text(s.artist), style="bold")
                track.append(" – ")
            track.append(safe_text(s.title) or safe_text(s.path))
            row = [Text(str(s.rank), style="bold magenta" if s.rank == 1 else "dim"), track]
            if show_score:
                row.append(bar(s.score / top, bar_w, "magenta") + Text(f" {s.score:5.2f}"))
            if show_sim:
                row.append(f"{s.similarity:.2f}" if s.similarity == s.similarity else "–")
            row += [f"{s.bpm:.1f}" if s.bpm and s.bpm == s.bpm else "–",
                    Text(safe_text(s.key) or "–", style=camelot_style(s.key))]
            if show_why:
                row.append(describe_why(s.why or {}))
            table.add_row(*row, style="on grey11" if s.rank == 1 else None)
        return table

    def _footer(self, update: Update, width: int) -> RenderableType:
        total = update.latency_ms
        style = "green" if total < 100 else "yellow" if total < 500 else "bold red"
        stages = [k for k in _STAGES if k in update.stage_ms]
        stages += [k for k in update.stage_ms if k not in _STAGES]

        def latency_line(shown: list) -> Text:
            line = Text.assemble(("latency ", "dim"), (f"{total:.0f} ms", style))
            if shown:
                line.append("  (", style="dim")
                for i, k in enumerate(shown):
                    line.append((" · " if i else "") + f"{safe_text(k)} ", style="dim")
                    line.append(f"{update.stage_ms[k]:.1f}")
                line.append(")", style="dim")
            return line

        counters = Text.assemble(("overflows ", "dim"),
                                 (str(update.overflows), "bold red" if update.overflows else "green"),
                                 ("   updates ", "dim"), str(update.seq + 1))
        # the stages that fit on one line with the counters, the slowest kept (a wrapped line cost a suggestion row)
        by_cost = sorted(stages, key=lambda k: -float(update.stage_ms[k]) if update.stage_ms[k] == update.stage_ms[k]
                         else 0.0)
        for keep in range(len(stages), -1, -1):
            kept = set(by_cost[:keep])
            latency = latency_line([k for k in stages if k in kept])
            if latency.cell_len + 3 + counters.cell_len <= width:
                grid = Table.grid(expand=True)
                grid.add_column(no_wrap=True)
                grid.add_column(justify="right", no_wrap=True)
                grid.add_row(latency, counters)
                return grid
        return Group(latency_line([]), counters)

    # -- live loop --------------------------------------------------------------------------

    def run(self, get_update: Callable[[], Update | None], get_info: Callable[[], dict],
            stop: threading.Event, fps: float = 8.0, leave: threading.Event | None = None) -> bool:
        """Redraw at ``fps`` on the calling thread until ``stop`` (or ``leave``) is set.

        Ctrl-C sets ``stop`` (so the other threads wind down too) and returns. Returns False when the
        terminal went away (``leave`` set, or a write said EIO/EPIPE: it hung up): the caller goes on without.
        """
        import errno

        period = 1.0 / max(fps, 0.5)

        def frame() -> RenderableType:
            try:
                return self.render(get_update(), get_info())
            except Exception as exc:  # a failing getter must not end the dashboard
                log.exception("dashboard state unavailable")
                return Text(f"dashboard error: {exc!r}", style="bold red")

        try:
            # auto_refresh off: this loop is the only refresher, so no extra thread.
            with Live(frame(), console=self.console, auto_refresh=False, transient=False,
                      vertical_overflow="crop") as live:
                while not stop.wait(period):
                    if leave is not None and leave.is_set():
                        return False
                    live.update(frame(), refresh=True)
                live.update(frame(), refresh=True)  # the screen left behind shows the last update, not one 1/fps older
        except KeyboardInterrupt:
            stop.set()
        except OSError as exc:
            if exc.errno not in (errno.EIO, errno.EPIPE, errno.ENXIO):
                raise
            return False  # the terminal hung up
        return not (leave is not None and leave.is_set())
