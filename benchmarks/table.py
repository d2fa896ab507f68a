"""The report of `make bench`: one row per figure (its baseline, the ratio and the goal), printed as one table
and written to var/bench/latest.json, the run before it kept as var/bench/previous.json for
`make bench-compare`. Sections add rows; what else they print is detail, kept in var/bench/latest.txt."""

from __future__ import annotations

import datetime as dt
import json
import os
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path

from genmedia.config import var_dir


@dataclass
class Row:
    section: str  # the GENMEDIA_BENCH_ONLY name that runs it
    name: str
    figure: float
    unit: str
    baseline: float | None = None  # in the same unit, measured in the same run
    ratio: float | None = None  # figure / baseline (the median of the trials' when there are several)
    goal: str = ""
    met: bool | None = None  # None: no goal
    baseline_name: str = ""
    spread: str = ""  # e.g. the range of the ratio over the trials
    command: str = ""
    extra: dict = field(default_factory=dict)


ROWS: list[Row] = []


def add(row: Row) -> Row:
    if not row.command:
        row.command = f"GENMEDIA_BENCH_ONLY={row.section} make bench"
    ROWS.append(row)
    return row


def add_measured(section: str, measured: list[dict], baseline_name: str) -> None:
    """Rows from a section that reports dicts (name, value, unit, baseline, ratio, goal ">= 0.9x" or "<= 1.2x")."""
    for m in measured:
        op, bound = m["goal"].split()
        limit = float(bound.rstrip("x"))
        met = m["ratio"] >= limit if op == ">=" else m["ratio"] <= limit
        add(Row(section, m["name"], m["value"], m["unit"], m["baseline"], m["ratio"], m["goal"], met, baseline_name))


def ratios(figures: list[float], baselines: list[float]) -> tuple[float, str]:
    """The median of the trials' ratios, and their range."""
    each = [f / b for f, b in zip(figures, baselines, strict=True) if b]
    if not each:
        return float("nan"), ""
    return statistics.median(each), f"{min(each):.2f}-{max(each):.2f}x over {len(each)}"


def number(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"
    return f"{text} {unit}".rstrip()


def ratio_text(row: Row) -> str:
    """Two decimals, or three where two would land on the goal's bound: 0.795x missing >= 0.8x, not 0.80x."""
    text = f"{row.ratio:.2f}"
    bound = row.goal.split()[-1] if row.goal else ""
    if bound.endswith("x") and text == f"{float(bound[:-1]):.2f}":
        text = f"{row.ratio:.3f}"
    return f"{text}x"


def cells(row: Row) -> list[str]:
    base = number(row.baseline, row.unit) + (f" ({row.baseline_name})" if row.baseline_name else "")
    ratio = "-" if row.ratio is None else ratio_text(row) + (f" [{row.spread}]" if row.spread else "")
    goal = "" if row.met is None else f"{row.goal}: {'met' if row.met else 'MISSED'}"
    figure = number(row.figure, row.unit) + (f" [{row.spread}]" if row.spread and row.ratio is None else "")
    return [row.name, figure, base, ratio, goal]


HEADER = ["row", "figure", "baseline", "ratio", "goal"]


def text_table(rows: list[Row]) -> str:
    lines = [HEADER] + [cells(r) for r in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(HEADER))]
    out = ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines]
    out.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(out)


def markdown(rows: list[Row]) -> str:
    """The table of docs/benchmarks.md: the same cells and each row's command."""
    out = ["| " + " | ".join([*HEADER, "command"]) + " |", "|" + "---|" * (len(HEADER) + 1)]
    out += ["| " + " | ".join([*cells(r), f"`{r.command}`"]) + " |" for r in rows]
    return "\n".join(out)


def bench_dir() -> Path:
    return var_dir() / "bench"


def save(rows: list[Row], started: dt.datetime, directory: Path) -> Path:
    """Writes latest.json; the one it replaces becomes previous.json."""
    directory.mkdir(parents=True, exist_ok=True)
    latest = directory / "latest.json"
    if latest.exists():
        os.replace(latest, directory / "previous.json")
    report = {"started": started.isoformat(timespec="seconds"), "only": os.environ.get("GENMEDIA_BENCH_ONLY", ""),
              "load": os.getloadavg()[0], "rows": [asdict(r) for r in rows]}
    latest.write_text(json.dumps(report, indent=1) + "\n")
    return latest


def load(path: Path) -> tuple[dict, list[Row]]:
    report = json.loads(path.read_text())
    return report, [Row(**r) for r in report["rows"]]
