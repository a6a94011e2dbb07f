"""``python -m benchmarks [all|live|indexing|query|startup|encoders|identify] [--quick] [--json FILE]``.

Runs the chosen benchmark modules (each ``run(quick) -> list[dict]``), prints one table of figures,
in-process baselines, ratios and targets, and optionally writes the rows as JSON.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
import traceback
from importlib import import_module

#: in the order ``all`` runs them (cheap first, so a failure shows early); other modules of the package
#: with a ``run`` function (e.g. ``identify_fp``) are found by :func:`suites` and run after these; a
#: module that sets ``IN_ALL = False`` (a long soak) runs only when named
SUITES = ("query", "live", "encoders", "indexing", "startup", "identify")
_NOT_SUITES = {"common", "__main__"}


def suites() -> tuple[str, ...]:
    """Every benchmark module: :data:`SUITES` first, then any other module of this package, by name."""
    import pkgutil
    from pathlib import Path

    found = sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)])
                   if m.name not in _NOT_SUITES and not m.name.startswith("_"))
    return (*[s for s in SUITES if s in found], *[m for m in found if m not in SUITES])


def normalise(rows: list[dict], suite: str) -> list[dict]:
    """Rows in the common shape (benchmarks.encoders names its key ``name`` and sets no target)."""
    out = []
    for r in rows:
        r = dict(r)
        r.setdefault("benchmark", r.pop("name", suite))
        for key in ("baseline", "ratio", "target", "ok"):
            r.setdefault(key, None)
        out.append(r)
    return out


def _fmt(x) -> str:
    if x is None:
        return ""
    if isinstance(x, float):
        return f"{x:,.4g}" if abs(x) < 1e5 else f"{x:,.0f}"
    return str(x)


def print_rows(rows: list[dict], title: str = "livedj benchmarks", file=None) -> None:
    """One rich table: benchmark, value, baseline, ratio, target, ok, figure."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_lines=False)
    for name, justify in (("benchmark", "left"), ("value", "right"), ("unit", "left"), ("baseline", "right"),
                          ("ratio", "right"), ("target", "right"), ("ok", "center"), ("figure", "left")):
        table.add_column(name, justify=justify, overflow="fold")
    for r in rows:
        ok = {True: "[green]yes[/]", False: "[red]NO[/]", None: ""}[r.get("ok")]
        table.add_row(r["benchmark"], _fmt(r.get("value")), r.get("unit", ""), _fmt(r.get("baseline")),
                      _fmt(r.get("ratio")), _fmt(r.get("target")), ok,
                      r.get("figure", "") + (f" ({r['note']})" if r.get("note") else ""))
    Console(file=file or sys.stdout, width=200).print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    known = suites()
    parser.add_argument("suite", nargs="?", default="all", choices=("all", *known))
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the benchmarks run (CI)")
    parser.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    args = parser.parse_args(argv)
    chosen = known if args.suite == "all" else (args.suite,)
    rows: list[dict] = []
    failed = []
    began = time.perf_counter()
    for suite in chosen:
        t0 = time.perf_counter()
        try:
            module = import_module(f"benchmarks.{suite}")
            if args.suite == "all" and not getattr(module, "IN_ALL", True):
                print(f"benchmarks: {suite} skipped by `all` (IN_ALL = False); run it by name", file=sys.stderr)
                continue
            suite_rows = normalise(module.run(quick=args.quick), suite)
        except Exception:  # one broken benchmark must not hide the others' figures
            traceback.print_exc()
            failed.append(suite)
            continue
        rows += suite_rows
        print(f"benchmarks: {suite} done in {time.perf_counter() - t0:.1f} s ({len(suite_rows)} rows)",
              file=sys.stderr, flush=True)
    print_rows(rows, title=f"livedj benchmarks{' (quick)' if args.quick else ''}")
    if args.json:
        meta = {"quick": args.quick, "suites": list(chosen), "failed": failed, "python": platform.python_version(),
                "machine": platform.machine(), "seconds": round(time.perf_counter() - began, 1),
                "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"meta": meta, "rows": rows}, f, indent=1)
    if failed:
        print(f"benchmarks: FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
