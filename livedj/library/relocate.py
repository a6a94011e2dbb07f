"""The DJ's tracks whose files moved: found again by their names, or through an explicit path map.

Why
---
A DJ prepares on a Mac or a Windows laptop and plays from a small Linux box, with the music copied
to ``~/Music`` or a USB stick. The collection still names ``/Users/dj/Music/A/B/x.mp3`` or
``C:/Music/A/B/x.mp3``: every track was "missing", and the DJ's BPM/key and every playlist entry of
it were lost, though the very file was scanned under another folder. rekordbox and Traktor both
"relocate missing files"; this module does it for ``livedj index``.

How
---
* **By name** (:func:`match_by_name`): a listed file not found here is matched to a *scanned* file
  whose trailing path components agree: the file name first, then as many parent folders as needed
  to make it unique (the longest common suffix wins). Names are compared after Unicode NFC
  normalisation (macOS writes NFD, Linux files are usually NFC) and, for Windows paths only,
  case-insensitively. Only a unique best match is taken: two scanned files that share the longest
  suffix equally ("01 Intro.mp3" of two albums) leave the track missing, with the reason; so does a
  file whose name alone agrees (its folder not) unless the collection's size confirms it. A scanned
  file claimed by two listed files of one collection goes to the one whose folders agree further;
  equally, to neither. Where the collection gives the file's size in bytes (rekordbox's ``Size``),
  a scanned file of another size is not that file: a copy keeps its bytes. (Traktor's ``FILESIZE``
  is in kilobytes, its rounding unknown; durations need decoding: neither is used.)
* **By an explicit map** (:func:`mapped`): ``OLD=NEW`` replaces the leading folders ``OLD`` of a
  listed path by ``NEW`` (``/Users/dj/Music=/home/dj/Music``); the result is looked for as a file
  directly, under the scanned folders or not, with no size check (the DJ said so).

The match costs a few dictionary look-ups per listed file (`_Trie`: the scanned files by their last
components, split a level deeper only where a look-up goes): 20,000 listed against 20,000 scanned
files in 0.2-0.5 s on a loaded 2-core machine (``python -m benchmarks relocate``), about what the
scan of those files costs, against hours of audio analysis for an index run of them.
"""
from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass
from typing import Iterable

from livedj.pathmap import PathMap, is_windows, parts

#: components that must agree (the file name and its folder) where no size tells a copy: a name alone
#: ("01 Track 1.mp3", "Intro.mp3") would give another record the DJ's BPM and key
MIN_AGREEING = 2

def mapped(path: str, maps: Iterable[PathMap]) -> tuple[PathMap, list[str]] | None:
    """Where ``path`` is by the map whose OLD is its longest leading part: (that map, the paths to look
    for: the rest as written, then in NFC), or None when no OLD leads ``path``."""
    if not maps:
        return None
    windows = is_windows(path)
    have = parts(path, windows)
    best = None
    for m in maps:
        old = parts(m.old, windows or is_windows(m.old))
        if len(old) <= len(have) and have[:len(old)] == old and (best is None or len(old) > len(best[1])):
            best = (m, old)
    if best is None:
        return None
    m, old = best
    rest = [p for p in (re.split(r"[/\\]", path) if windows else path.split("/")) if p][len(old):]
    tried = [os.path.join(m.new, *rest)]
    if (nfc := unicodedata.normalize("NFC", tried[0])) != tried[0]:
        tried.append(nfc)
    return m, tried


@dataclass(frozen=True)
class Listed:
    """A file the DJ's software lists that is not here: its path as written, its source, its size (bytes)."""

    path: str
    source: str
    size: int | None = None


@dataclass(frozen=True)
class Moved:
    """A listed file found here under another name: how (``"name"``, or the :class:`PathMap` used)."""

    listed: str
    path: str
    source: str
    how: object = "name"


def _shown(paths: list[str], n: int = 2) -> str:
    return ", ".join(paths[:n]) + (f" and {len(paths) - n} more" if len(paths) > n else "")


def match_by_name(listed: Iterable[Listed], scanned: Iterable[tuple[str, int]]
                  ) -> tuple[dict[Listed, str], dict[Listed, str]]:
    """Match files not found here to scanned files by their names (see the module's docstring).

    Parameters
    ----------
    listed : iterable of Listed
        The files the DJ's software lists and this machine lacks.
    scanned : iterable of (path, size)
        The files the scan found that no listed file names as it is.

    Returns
    -------
    found : dict
        ``{Listed: scanned path}`` for every unique best match.
    why : dict
        ``{Listed: reason}`` for a name that matched but was left missing (ambiguous, another size).
    """
    files = list(scanned)
    comps = [parts(p, False) for p, _ in files]
    tries: dict[bool, dict] = {False: _Trie(comps, False)}  # by components as written; case-folded for Windows paths
    found: dict[Listed, str] = {}
    why: dict[Listed, str] = {}
    claims: dict[tuple[int, str], list[tuple[int, Listed]]] = {}  # (scanned file, source) -> (score, listed)
    for item in listed:
        windows = is_windows(item.path)
        if windows not in tries:
            tries[windows] = _Trie(comps, True)
        levels = tries[windows].levels(parts(item.path, windows))
        if not levels:
            continue
        top, best = len(levels), levels[-1]
        if item.size is not None:  # the deepest level that holds a file of the listed size
            top, best = next(((k, sized) for k in range(len(levels), 0, -1)
                              if (sized := [i for i in levels[k - 1] if files[i][1] == item.size])), (0, []))
            if not best:
                why[item] = (f"a file of that name is here ({_shown([files[i][0] for i in levels[0]])}) but of "
                             f"another size ({item.size} bytes in the collection): left missing (--map-path "
                             "OLD=NEW decides)")
                continue
        if len(best) > 1:
            why[item] = (f"its name matches {len(best)} files here equally ({_shown([files[i][0] for i in best])}):"
                         " left missing (--map-path OLD=NEW decides)")
            continue
        if top < MIN_AGREEING and item.size is None:  # "01 Track 1.mp3" of another CD: the DJ's BPM/key would go
            why[item] = (f"a file of that name is here, in another folder ({files[best[0]][0]}): left missing "
                         "(--map-path OLD=NEW decides)")
            continue
        claims.setdefault((best[0], item.source), []).append((top, item))
    for (i, _source), rivals in claims.items():
        top = max(s for s, _ in rivals)
        winners = [item for s, item in rivals if s == top]
        for s, item in rivals:
            if len(winners) == 1 and item is winners[0]:
                found[item] = files[i][0]
            else:
                others = _shown([o.path for o in winners if o is not item])
                agree = f"as is {others} (also listed)" if s == top else f"taken by {others} (its folders agree further)"
                why[item] = f"its name matches {files[i][0]}, {agree}: left missing (--map-path OLD=NEW decides)"
    return found, why


class _Trie:
    """The scanned files by their last components, a level deeper only where a look-up goes: "01 Intro.mp3"
    of 2,000 albums is split by album once, not compared 2,000 times for each listed "01 Intro.mp3"."""

    def __init__(self, comps: list[list[str]], fold: bool):
        self.comps, self.fold = comps, fold
        self.root: dict[str, list] = {}  # component -> node: [files, {next component: node} or None]
        for i, c in enumerate(comps):
            if c:
                self.root.setdefault(c[-1].casefold() if fold else c[-1], [[], None])[0].append(i)

    def levels(self, want: list[str]) -> list[list[int]]:
        """``levels[k]``: the files whose last k + 1 components are ``want``'s, as deep as any agree."""
        out = []
        node = self.root.get(want[-1]) if want else None
        depth = 1
        while node is not None:
            out.append(node[0])
            if depth >= len(want):
                break
            if len(node[0]) == 1:  # one file left: how much further it agrees, without a node per level
                c = self.comps[node[0][0]]
                while depth < min(len(want), len(c)) and want[-depth - 1] == (
                        c[-depth - 1].casefold() if self.fold else c[-depth - 1]):
                    out.append(node[0])
                    depth += 1
                break
            if node[1] is None:
                node[1] = {}
                for i in node[0]:
                    if len(c := self.comps[i]) > depth:
                        name = c[-depth - 1].casefold() if self.fold else c[-depth - 1]
                        node[1].setdefault(name, [[], None])[0].append(i)
            node = node[1].get(want[-depth - 1])
            depth += 1
        return out


def _common(paths: list[str]) -> str:
    """The folder ``paths`` share ("" when none), Windows paths with "/"."""
    split = [re.split(r"[/\\]", p) if is_windows(p) else p.split("/") for p in paths]
    head = []
    for column in zip(*(s[:-1] for s in split)):
        if any(c != column[0] for c in column):
            break
        head.append(column[0])
    return "/".join(head) or ("/" if all(p.startswith("/") for p in paths) else "")


def summary(moved: Iterable[Moved]) -> list[str]:
    """One line per source and way found: how many, under which folder, listed under which."""
    groups: dict[tuple[str, str], list[Moved]] = {}
    for m in moved:
        groups.setdefault((m.source, str(m.how)), []).append(m)
    lines = []
    for (source, how), ms in groups.items():
        by = "by their names" if how == "name" else f"by the path map {how}"
        lines.append(f"{len(ms):,} track{'s' if len(ms) != 1 else ''} of the {source} library found under {_common([m.path for m in ms])} {by} "
                     f"(listed under {_common([m.listed for m in ms])})")
    return lines
