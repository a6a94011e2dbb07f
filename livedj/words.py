"""Words for counts in what livedj prints: "1 track", "2 tracks" (a summary once said "1 tracks")."""
from __future__ import annotations


def plural(n: int, noun: str, nouns: str | None = None) -> str:
    """``n`` and ``noun``, in the plural unless ``n`` is 1: ``plural(1, "track")`` is "1 track",
    ``plural(3, "entry", "entries")`` "3 entries". Thousands are not grouped (as elsewhere in the output)."""
    return f"{n} {noun if n == 1 else (nouns or noun + 's')}"


def a_or_an(number: str) -> str:
    """The article before a number written in digits, as it is said: "an 8-bar blend", "an 11-s crossfade",
    "a 16-bar blend" (eight, eleven, eighteen, eighty... start with a vowel sound)."""
    digits = number.lstrip("+-")
    said_with_a_vowel = digits.startswith("8") or (digits[:2] in ("11", "18") and len(digits.split(".")[0]) in (2, 5, 8))
    return f"{'an' if said_with_a_vowel else 'a'} {number}"
