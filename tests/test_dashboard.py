"""Dashboard: rendered to a recording console and read back as text."""
from __future__ import annotations

import os
import threading

import pytest
from rich.console import Console

from livedj.engine.update import Suggestion, Update
from livedj.outputs.cells import bar, describe_why
from livedj.outputs.dashboard import Dashboard

INFO = {"input": "Booth Mic", "device": "pulse", "encoder": "musicnn", "index_size": 1234, "hop": 1.0}


def make_update(titles=("Alpha", "Bravo", "Charlie"), **kw) -> Update:
    sugg = tuple(
        Suggestion(rank=i + 1, track_id=i, path=f"/m/{t}.flac", title=t, artist=f"Artist{i + 1}",
                   score=0.9 - 0.2 * i, similarity=0.8 - 0.1 * i, bpm=None if i == 2 else 124.0 + i,
                   key=None if i == 2 else "8A", why={"bpm_delta_pct": 1.25 * i})
        for i, t in enumerate(titles)
    )
    base = dict(seq=41, t=95.5, suggestions=sugg, tags=(("techno", 0.81), ("minimal", 0.33)),
                level_db=-17.5, peak_db=-3.5, stage_ms={"mel": 3.25, "embed": 41.5, "query": 0.75},
                latency_ms=46.0, overflows=3)
    base.update(kw)
    return Update(**base)


def text_of(renderable, width: int = 100) -> str:
    console = Console(record=True, width=width, color_system=None)
    console.print(renderable)
    return console.export_text()


@pytest.mark.parametrize("width", [80, 100, 120])
def test_suggestions_tags_latency_and_counters_appear(width):
    text = text_of(Dashboard().render(make_update(), INFO), width)
    assert max(len(line) for line in text.splitlines()) <= width
    positions = [text.index(f"Artist{i} – {t}") for i, t in ((1, "Alpha"), (2, "Bravo"), (3, "Charlie"))]
    assert positions == sorted(positions)
    assert "techno" in text and "0.81" in text and "minimal" in text
    assert "46 ms" in text and "embed 41.5" in text and "mel 3.2" in text
    assert "overflows 3" in text and "updates 42" in text
    assert "Booth Mic (pulse)" in text and "musicnn" in text and "1,234 tracks" in text
    assert "-17.5" in text and "-3.5" in text
    assert "listening" in text


def test_rows_show_scores_bpm_and_key():
    lines = text_of(Dashboard().render(make_update(), INFO), 100).splitlines()
    row = {t: next(line for line in lines if f"– {t}" in line) for t in ("Alpha", "Bravo", "Charlie")}
    assert "0.90" in row["Alpha"] and "124.0" in row["Alpha"] and "8A" in row["Alpha"]
    assert "0.70" in row["Bravo"] and "125.0" in row["Bravo"]
    assert "–" in row["Charlie"].split("Charlie")[1] and "8A" not in row["Charlie"]  # None bpm/key


def test_why_column_only_when_wide():
    update = make_update()
    assert "pitch +2.5 %" in text_of(Dashboard().render(update, INFO), 120)
    assert "pitch +2.5" not in text_of(Dashboard().render(update, INFO), 80)


def test_why_reads_as_a_dj_says_it():
    """The why column showed the ranking's terms raw ("similarity=0.0754 tempo=0.…"), the similarity twice
    and, at 110 columns, nothing past it: the fader move, the key relation and the DJ's own lists now."""
    assert describe_why({"similarity": 0.31, "tempo": 0.9, "key_relation": "adjacent", "key": 0.8,
                         "bpm_delta_pct": -3.14}) == "pitch -3.1 % · adjacent key"
    assert describe_why({"tempo": 0.8, "key_relation": "relative", "bpm_delta_pct": 2.0, "bpm_ratio": 2.0,
                         "context_why": "you played it after Intro 3 times"}) == (
        "pitch +2.0 % at double time · relative key · you played it after Intro 3 times")
    assert describe_why({"tempo": 0.3, "key_relation": "clash", "bpm_delta_pct": 14.0, "reachable": False}) == (
        "pitch +14.0 % (too far) · key clash")
    assert describe_why({"pinned": True, "key_relation": "unknown", "tempo": 0.5}) == "pinned"
    assert describe_why({"bpm_delta_pct": float("nan"), "key_relation": "boost", "bpm_ratio": 0.5}) == (
        "key +2 (energy boost)")


def test_a_negative_similarity_and_the_latency_fit_at_110_columns():
    """At 110 columns a negative similarity was cut to "-0.…" and the latency's stages wrapped onto a
    second line (one suggestion row fewer on a short terminal)."""
    sugg = tuple(Suggestion(rank=i + 1, track_id=i, path=f"/m/{i}.flac", title=f"T{i}", artist="A", score=0.2,
                            similarity=-0.434 + 0.1 * i, bpm=120.0, key="8A", why={"bpm_delta_pct": 1.0})
                 for i in range(3))
    stages = {"mel": 0.3, "embed": 56.2, "query": 0.2, "rank": 0.2, "publish": 0.9, "tempo_key": 12.0,
              "identify": 28.9}
    text = text_of(Dashboard().render(make_update(suggestions=sugg, stage_ms=stages, latency_ms=58.0), INFO), 110)
    assert "-0.43" in text and "-0.33" in text and "-0.…" not in text
    latency = [line for line in text.splitlines() if "latency" in line]
    assert len(latency) == 1 and "embed 56.2" in latency[0] and "identify 28.9" in latency[0], latency
    assert "updates 42" in latency[0]  # the counters on the same line
    assert not any(line.strip("│ ").startswith("28.9)") for line in text.splitlines())


def test_waiting_view_before_first_update():
    text = text_of(Dashboard(title="booth").render(None, {**INFO, "status": "starting"}))
    assert "waiting for the first update" in text
    assert "booth" in text and "starting" in text and "Booth Mic" in text
    assert "latency" not in text and "overflows" not in text


def test_long_titles_are_truncated_to_one_line():
    long_title = "An Extremely Long Extended Mix Title " * 6 + "END"
    text = text_of(Dashboard().render(make_update(titles=(long_title, "Bravo")), INFO), 80)
    row = next(line for line in text.splitlines() if "An Extremely" in line)
    assert "…" in row and "END" not in text
    assert "0.90" in row  # the score stays on the same line as its title
    assert len(row) <= 80


def test_odd_values_do_not_break_rendering():
    path = os.fsdecode(b"/m/\xff.mp3")
    s = Suggestion(rank=1, track_id=0, path=path, title="", artist="", score=float("nan"), similarity=0.1)
    update = make_update(level_db=float("-inf"), peak_db=float("nan"), tags=(), stage_ms={})
    update = Update(**{**update.__dict__, "suggestions": (s,), "status": "silence"})
    text = text_of(Dashboard().render(update, {}))
    assert "\ufffd.mp3" in text and "-inf" in text and "silence" in text
    assert "dashboard error" not in text
    empty = text_of(Dashboard().render(make_update(titles=()), INFO))
    assert "no suggestions" in empty


def test_bar_fills_in_eighths():
    assert bar(0.5, 10).plain == "█████     "
    assert bar(0.5, 1).plain == "▌" and bar(0.3, 2).plain == "▋ "
    assert bar(2.0, 4).plain == "████" and bar(-1, 4).plain == "    "


def test_run_draws_until_stopped():
    console = Console(record=True, width=100, color_system=None, force_terminal=False)
    stop = threading.Event()
    calls = []

    def get_update():
        calls.append(1)
        if len(calls) >= 3:
            stop.set()
        return make_update() if len(calls) > 1 else None

    Dashboard(console).run(get_update, lambda: INFO, stop, fps=50)
    assert stop.is_set() and len(calls) >= 3
    assert "Artist1 – Alpha" in console.export_text()


def test_run_survives_failing_getters():
    console = Console(record=True, width=100, color_system=None)
    stop = threading.Event()

    def broken():
        stop.set()
        raise RuntimeError("state gone")

    Dashboard(console).run(broken, lambda: INFO, stop, fps=50)
    assert "state gone" in console.export_text()


def test_a_blend_shows_both_decks_with_bars_relative_to_the_louder():
    decks = ({"track_id": 7, "artist": "Incoming", "title": "Bravo", "confidence": 0.8, "level": 0.2},
             {"track_id": 3, "artist": "Outgoing", "title": "Alpha", "confidence": 0.9, "level": 0.4})
    now = {"track_id": 7, "artist": "Incoming", "title": "Bravo", "confidence": 0.8}
    lines = text_of(Dashboard().render(make_update(now_playing=now, decks=decks), INFO), 100).splitlines()
    incoming = next(line for line in lines if "Incoming – Bravo" in line)
    outgoing = next(line for line in lines if "Outgoing – Alpha" in line)
    assert "now playing" in incoming and "and deck" in outgoing
    assert "0.20" in incoming and "0.40" in outgoing
    # the louder deck fills its bar, the other half of it; the bars do not move when both get quieter
    assert outgoing.count("█") == 2 * incoming.count("█") > 0
    quieter = tuple({**d, "level": d["level"] / 4} for d in decks)
    lines_q = text_of(Dashboard().render(make_update(now_playing=now, decks=quieter), INFO), 100).splitlines()
    assert next(line for line in lines_q if "Outgoing – Alpha" in line).count("█") == outgoing.count("█")
    one = text_of(Dashboard().render(make_update(now_playing=now, decks=decks[:1]), INFO), 100)
    assert "and deck" not in one  # one record: the plain NOW PLAYING line


def test_a_mixxx_follow_problem_is_shown_until_a_poll_reads_the_database_again(tmp_path):
    """mixxx.follow with the dashboard on: the poller's failure was only counted; now it is a line."""
    from livedj.library.mixxx import MixxxHistoryPoller
    from tests.test_mixxx import make_mixxx_db

    db = tmp_path / "mixxxdb.sqlite"
    db.write_bytes(b"not a database, garbage " * 100)
    poller = MixxxHistoryPoller(db, lambda track: None, interval_s=2.0)
    assert poller.status() is None  # nothing known yet: nothing shown
    poller.poll_once()
    info = {**INFO, "mixxx": poller.status()}
    for width, update in ((100, make_update()), (60, None)):  # running, and while waiting for the first update
        text = text_of(Dashboard().render(update, info), width)
        assert "⚠ cannot follow Mixxx: " in text and "dashboard error" not in text
        joined = " ".join(line.strip(" │") for line in text.splitlines())  # the line may fold: read it whole
        assert "file is not a database (retrying every 2 s)" in joined, text  # folded, never cut short
        assert max(len(line) for line in text.splitlines()) <= width
    db.unlink()
    make_mixxx_db(db).close()  # Mixxx's database is back: the next poll reads it
    poller.poll_once()
    assert poller.status() is None
    assert "Mixxx" not in text_of(Dashboard().render(make_update(), {**INFO, "mixxx": poller.status()}), 100)


def _screen(update, width: int, height: int) -> list[str]:
    """What a terminal of ``height`` lines shows: the frame's first lines (the live view crops the rest)."""
    console = Console(width=width, height=height, force_terminal=True, color_system=None)
    lines = console.render_lines(Dashboard(console=console).render(update, {"status": "listening"}), console.options,
                                 pad=False)
    return ["".join(seg.text for seg in line) for line in lines[:height]]


def test_a_short_terminal_still_shows_the_suggestions():
    """On 12 lines the full frame was cropped after its meters: not one suggestion showed."""
    update = make_update(titles=tuple(f"Track {i}" for i in range(10)), live_bpm=124.0, live_key="8A")
    short = "\n".join(_screen(update, 100, 12))
    assert "Track 0" in short and "Track 1" in short
    assert "tempo 124.0 BPM" in short and "key 8A" in short  # the meters' line keeps what a DJ mixes by
    assert short.splitlines()[-1].startswith("╰")  # the whole frame, not a cropped one
    tall = "\n".join(_screen(update, 100, 40))
    assert "input level" in tall and "Track 9" in tall  # room enough: the full frame, every row


def test_suggestions_held_through_silence_say_so():
    update = make_update(status="silence")
    text = text_of(Dashboard().render(update, INFO), 100)
    assert "silence" in text and "after the last music heard" in text and "Alpha" in text
    assert "after the last music heard" not in text_of(Dashboard().render(make_update(), INFO), 100)


def test_a_doubtful_tempo_says_so():
    """A breakdown's tempo counts less in the ranking (rules.tempo_trust); the dashboard says it is doubtful."""
    doubtful = text_of(Dashboard().render(make_update(live_bpm=117.0, live_bpm_confidence=0.05), INFO), 100)
    sure = text_of(Dashboard().render(make_update(live_bpm=124.0, live_bpm_confidence=0.6), INFO), 100)
    assert "117.0 BPM" in doubtful and "doubtful" in doubtful
    assert "124.0 BPM" in sure and "doubtful" not in sure


def test_paused_says_so_and_still_names_the_record():
    """A paused update (/livedj/pause) has no suggestions: the table said "no suggestions for this window",
    as if the library had nothing for the record, and nothing told the DJ they were paused."""
    now = {"track_id": 1, "path": "/m/x.flac", "title": "Playing Now", "artist": "DJ A", "confidence": 0.9}
    for width in (40, 80, 120):
        text = text_of(Dashboard().render(make_update(titles=(), status="paused", now_playing=now), INFO), width)
        assert "suggestions paused" in text and "no suggestions for this window" not in text, text
        assert "DJ A – Playing Now" in text and "● paused" in text


def test_record_names_without_artist_or_title():
    """An empty or missing artist showed "None – Title" (now playing) or " – Title" (a deck)."""
    now = {"track_id": 1, "path": "/m/x.flac", "title": "Playing Now", "artist": None, "confidence": 0.9}
    text = text_of(Dashboard().render(make_update(now_playing=now), INFO), 100)
    assert "now playing Playing Now  (90%)" in text and "None" not in text
    decks = ({"artist": "DJ A", "title": "", "path": "/m/a.flac", "level": 0.7, "confidence": 0.8},
             {"artist": "", "title": "", "path": "/m/b.flac", "level": 0.3, "confidence": 0.5})
    lines = text_of(Dashboard().render(make_update(decks=decks), INFO), 100).splitlines()
    assert any("now playing DJ A " in line for line in lines)
    assert any("and deck /m/b.flac " in line for line in lines)


@pytest.mark.parametrize("width", [40, 60, 80])
def test_two_decks_with_long_names_keep_their_labels_and_levels(width):
    """At 60 columns a long record name took the deck line: "now playing" read "no…" and the level "0…"."""
    decks = ({"artist": "A very long artist name " * 3, "title": "A long title (Extended Mix) " * 3, "level": 0.7,
              "confidence": 0.8},
             {"artist": "Other", "title": "Record", "level": 0.3, "confidence": 0.5})
    text = text_of(Dashboard().render(make_update(decks=decks), INFO), width)
    assert max(len(line) for line in text.splitlines()) <= width
    assert "now playing A very long" in text and "and deck Other – Rec" in text
    assert "0.70  (80%)" in text and "0.30  (50%)" in text


def test_pinned_record_is_marked_on_a_narrow_terminal():
    """The pin showed only in the why column, which a terminal under 100 columns does not have."""
    sugg = (Suggestion(rank=1, track_id=7, path="/m/p.flac", title="Target", artist="Pin", score=0.4,
                       similarity=0.12, bpm=120.0, key="8A", why={"pinned": True}),)
    for width in (50, 80, 120):
        row = next(line for line in text_of(Dashboard().render(make_update(suggestions=sugg, pinned=7), INFO),
                                            width).splitlines() if "Target" in line)
        assert "pinned" in row, (width, row)


def test_narrow_terminal_keeps_titles_and_meter_values():
    """At 40 columns the titles read "Artis…" (the score's column took their room); at 30 the meters' values
    read "-17…" and the tags "minim…" (meters and tags side by side)."""
    text40 = text_of(Dashboard().render(make_update(), INFO), 40)
    assert "Artist1 – Alpha" in text40 and "Artist3 – Charlie" in text40 and "124.0" in text40
    text30 = text_of(Dashboard().render(make_update(), INFO), 30)
    assert "-17.5" in text30 and "-3.5" in text30 and "minimal" in text30 and "0.33" in text30


def test_nan_and_missing_values_in_a_row():
    """A NaN tempo printed "nan" in the bpm column; a why of None failed the whole frame."""
    sugg = (Suggestion(rank=1, track_id=1, path="/m/n.flac", title="", artist="", score=0.3, similarity=float("nan"),
                       bpm=float("nan"), key=None, why=None),)
    text = text_of(Dashboard().render(make_update(suggestions=sugg), INFO), 120)
    row = next(line for line in text.splitlines() if "/m/n.flac" in line)
    assert "nan" not in row and "dashboard error" not in text


def test_a_suggestion_without_artist_is_its_title():
    """A suggestion with no artist tag read "? – PsymongN2" while the decks above it say "PsymongN2"."""
    sugg = (Suggestion(rank=1, track_id=1, path="/m/PsymongN2.ogg", title="PsymongN2", artist="", score=0.6,
                       similarity=0.7, bpm=120.0, key="8A"),
            Suggestion(rank=2, track_id=2, path="/m/b.ogg", title="Bravo", artist="DJ B", score=0.5, similarity=0.6,
                       bpm=121.0, key="8A"))
    text = text_of(Dashboard().render(make_update(suggestions=sugg), INFO), 120)
    row = next(line for line in text.splitlines() if "PsymongN2" in line)
    assert "?" not in row and "–  PsymongN2" not in row and "– PsymongN2" not in row, row
    assert "DJ B – Bravo" in text


def test_the_live_runs_now_playing_line_names_a_record_without_artist_as_the_dashboard_does():
    """While the input is lost the dashboard shows the live run's own now-playing line (``dashboard_info``: the
    status-only update names no record): it said "None - Title (90%)" for a record without an artist, where
    the dashboard says "Title  (90%)" of the same record. Now one line, the dashboard's."""
    from types import SimpleNamespace

    from livedj.commands.run import dashboard_info

    for artist, shown in ((None, "Playing Now  (90%)"), ("", "Playing Now  (90%)"),
                          ("DJ A", "DJ A – Playing Now  (90%)")):
        now = {"track_id": 1, "path": "/m/x.flac", "title": "Playing Now", "artist": artist, "confidence": 0.9}
        loop = SimpleNamespace(latest=make_update(now_playing=now), status="input lost (no audio for 3.0 s); retrying",
                               finished=threading.Event())
        parts = SimpleNamespace(summary=lambda: "osc off", status=lambda: None)
        info = dashboard_info(loop, INFO, parts, None, parts, None)
        assert info["now_playing"] == shown, info
        lost = make_update(seq=-1, titles=(), status=loop.status)
        text = text_of(Dashboard().render(lost, info), 100)
        assert f"now playing {shown}" in text and "None" not in text, text
    loop.latest = None
    assert dashboard_info(loop, INFO, parts, None, parts, None)["now_playing"] == "not in library"
