"""Words for counts in what livedj prints: "1 track", "2 tracks" (a summary once said "1 tracks")."""
from __future__ import annotations


def plural(n: int, noun: str, nouns: str | None = None) -> str:
    """``n`` and ``noun``, in the plural unless ``n`` is 1: ``plural(1, "track")`` is "1 track",
    ``plural(3, "entry", "entries")`` "3 entries". Thousands are not grouped (as elsewhere in the output)."""
    return f"{n} {noun if n == 1 else (nouns or noun + 's')}"
