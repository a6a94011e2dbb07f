"""Counts of the fault-injection suite (tests/test_faults.py), per area, for its closing table.

Each injected fault is recorded once: whether it was handled (a one-line message naming the
file/key, the exit status promised, the next `livedj index` complete), whether a traceback
showed, whether a process crashed (died of a signal it did not expect), and whether data was
lost (a good track missing from the index after the repair run). The table is printed at the end
of the run and written as JSON to ``$LIVEDJ_FAULTS_JSON`` when that is set.
"""
from __future__ import annotations

import json
import os
from collections import defaultdict

COLUMNS = ("tried", "handled", "tracebacks", "crashes", "data lost")
COUNTS: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(COLUMNS, 0))


def record(area: str, *, handled: bool, traceback: bool = False, crash: bool = False, lost: bool = False) -> None:
    row = COUNTS[area]
    row["tried"] += 1
    row["handled"] += bool(handled)
    row["tracebacks"] += bool(traceback)
    row["crashes"] += bool(crash)
    row["data lost"] += bool(lost)


def table() -> str:
    if not COUNTS:
        return ""
    width = max(len(a) for a in [*COUNTS, "area", "all"])
    rows = [*COUNTS.items(), ("all", {c: sum(r[c] for r in COUNTS.values()) for c in COLUMNS})]
    lines = [f"| {'area'.ljust(width)} | " + " | ".join(COLUMNS) + " |",
             f"|{'-' * (width + 2)}|" + "|".join("-" * (len(c) + 2) for c in COLUMNS) + "|"]
    for area, row in rows:
        lines.append(f"| {area.ljust(width)} | " + " | ".join(str(row[c]).rjust(len(c)) for c in COLUMNS) + " |")
    return "\n".join(lines)


def dump() -> None:
    target = os.environ.get("LIVEDJ_FAULTS_JSON")
    if target and COUNTS:
        with open(target, "w", encoding="utf-8") as f:
            json.dump(COUNTS, f, indent=2)
