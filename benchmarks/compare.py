"""`make bench-compare`: the latest `make bench` run against the one before it (var/bench/latest.json and
previous.json, or two files given), row by row: the figure's change, the ratio's and the goal's.
Run as `python -m benchmarks.compare [PREVIOUS LATEST]`; `--markdown [RUN]` prints a run's table for the docs."""

from __future__ import annotations

import sys
from pathlib import Path

from benchmarks.table import Row, bench_dir, load, markdown, number, ratio_text


def change(before: Row | None, after: Row | None) -> list[str]:
    if after is None:
        return [before.name, number(before.figure, before.unit), "(not run)", "", "", ""]
    if before is None:
        return [after.name, "(not run)", number(after.figure, after.unit), "", "", goal(after)]
    delta = f"{(after.figure - before.figure) / before.figure:+.1%}" if before.figure else "-"
    both = before.ratio is not None and after.ratio is not None
    ratio = f"{ratio_text(before)} -> {ratio_text(after)}" if both else ""
    status = goal(after) + (f" (was {goal(before)})" if goal(before) != goal(after) else "")
    return [after.name, number(before.figure, before.unit), number(after.figure, after.unit), delta, ratio, status]


def goal(row: Row) -> str:
    return "" if row.met is None else "met" if row.met else "MISSED"


def compare(previous: Path, latest: Path) -> str:
    (old_report, old_rows), (new_report, new_rows) = load(previous), load(latest)
    before = {(r.section, r.name): r for r in old_rows}
    after = {(r.section, r.name): r for r in new_rows}
    keys = list(after) + [k for k in before if k not in after]
    lines = [["row", f"previous ({old_report['started']})", f"latest ({new_report['started']})", "change",
              "ratio", "goal"]]
    lines += [change(before.get(k), after.get(k)) for k in keys]
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    out = ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines]
    out.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(out)


def main(args: list[str]) -> int:
    if args[:1] == ["--markdown"]:  # the latest run as docs/benchmarks.md's table
        print(markdown(load(Path(args[1]) if len(args) > 1 else bench_dir() / "latest.json")[1]))
        return 0
    previous, latest = (Path(a) for a in args) if len(args) == 2 else (bench_dir() / "previous.json",
                                                                         bench_dir() / "latest.json")
    for path in (previous, latest):
        if not path.is_file():
            print(f"no {path}: run `make bench` twice (or give two files)", file=sys.stderr)
            return 2
    print(compare(previous, latest))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
