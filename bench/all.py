"""`make bench`: run every benchmark script, then write docs/benchmarks.md from their figures.

    python bench/all.py                 # everything (35-50 minutes on 2 cores)
    python bench/all.py --only validate,compile
    python bench/all.py --report-only   # re-render the report from bench/.work/*.json
    python bench/all.py --report-only --only spark   # re-render that section alone

Each script runs in its own process, measures Osiris beside the reference tool
(`osiris-pipeline` 0.5.7, installed into bench/.work/refenv on first use) and saves its
figures; this script only orchestrates and renders. A figure that misses its target is
shown as a miss. bench/compat.py also writes docs/compatibility.md, the differential
report on the 0.5.7 compatibility corpus.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / ".work"
REPORT = ROOT / "docs" / "benchmarks.md"

#: (saved name, section title, script and arguments)
SUITES: list[tuple[str, str, list[str]]] = [
    ("validate", "Validate", ["bench/validate.py"]),
    ("compile", "Compile", ["bench/compile.py"]),
    ("run_1000000", "Data movement, 1M rows", ["bench/run.py", "--rows", "1000000", "--runs", "5"]),
    (
        "floors",
        "Data movement against the physical floor, 5M rows (upsert 2M)",
        ["bench/floors.py", "--rows", "5000000", "--upsert-rows", "2000000", "--runs", "5"],
    ),
    ("discover", "Discovery", ["bench/discover.py"]),
    ("mcp", "MCP server (real stdio client)", ["bench/mcp.py"]),
    ("e2b", "E2B adapter (local process sandbox)", ["bench/e2b.py"]),
    # also writes docs/compatibility.md and the reference's stored verdicts
    ("compat", "Compatibility corpus (differential, 0.5.7)", ["bench/compat.py"]),
    (
        "spark",
        "Scale-out: the DuckDB and Spark engines, MariaDB → aggregate → PostgreSQL",
        ["bench/spark.py", "--rows", "1000000,3000000,10000000", "--runs", "3"],
    ),
]


def run_suites(only: set[str] | None) -> None:
    for name, title, argv in SUITES:
        if only and name not in only and name.split("_")[0] not in only:
            continue
        print(f"\n### {title}: {' '.join(argv)}", flush=True)
        done = subprocess.run([sys.executable, *argv], cwd=ROOT)
        if done.returncode != 0:
            print(f"!! {argv[0]} failed (exit {done.returncode}); its figures are missing")
            (WORK / f"{name}.json").unlink(missing_ok=True)


def machine() -> list[str]:
    memory_kb = 0
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_kb = int(line.split()[1])
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    servers = []
    for argv in (["mysql", "-h127.0.0.1", "-uroot", "-Nse", "SELECT VERSION()"],
                 ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "test", "-Atc",
                  "SHOW server_version"]):  # fmt: skip
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            out = ""
        servers.append(out or "n/a")
    versions = ", ".join(
        f"{pkg} {version(pkg)}" for pkg in ("duckdb", "sqlglot", "connectorx", "pyarrow", "mcp")
    )
    return [
        f"- Machine: {os.cpu_count()} cores ({cpu}), {memory_kb / 1024 / 1024:.0f} GiB memory, "
        f"{platform.system()} {platform.release()}",
        f"- Python {platform.python_version()}; Osiris {version('osiris-oml')}; {versions}",
        f"- MariaDB {servers[0]}, PostgreSQL {servers[1]} on 127.0.0.1",
        "- Reference: osiris-pipeline 0.5.7 in its own virtual environment, same data, "
        "runs interleaved with ours",
    ]


def cell(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "ms":
        return f"{value:,.1f} ms"
    if unit == "s":
        return f"{value:,.2f} s"
    if unit == "rows/s":
        return f"{value:,.0f} rows/s"
    return f"{value:g} {unit}"


def ratio(figure: dict[str, Any]) -> str:
    ours, theirs = figure.get("osiris"), figure.get("reference")
    if not ours or not theirs:
        return "—"
    value = ours / theirs if figure["unit"] == "rows/s" else theirs / ours
    return f"{value:.1f}× faster" if value >= 1 else f"{1 / value:.1f}× slower"


def floor_ratio(figure: dict[str, Any]) -> str:
    """Osiris's time over the floor's: 1.00× would be the database client itself."""
    ours, floor = figure.get("osiris"), figure.get("floor")
    if not ours or not floor:
        return "—"
    value = floor / ours if figure["unit"] == "rows/s" else ours / floor
    return f"{value:.2f}×"


def verdict(figure: dict[str, Any]) -> str:
    if not figure.get("target"):
        return ""
    return (
        f"{figure['target']}: **met**" if figure.get("met") else f"{figure['target']}: **MISSED**"
    )


def render() -> str:
    lines = [
        "# Benchmarks",
        "",
        "Generated by `make bench` (bench/all.py) on "
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d}. Each Osiris figure is the median of at least "
        "5 runs (whole process unless marked in-process); the reference tool ran the same "
        "work in the same script, interleaved. The floor is what the database's own client "
        "or DuckDB's COPY takes for the same data. Timings on a shared 2-core machine are "
        "noisy: read ratios, not milliseconds.",
        "",
        *machine(),
        "",
    ]
    for name, title, _ in SUITES:
        lines += render_suite(name, title)
    return "\n".join(lines).rstrip() + "\n"


def render_suite(name: str, title: str) -> list[str]:
    """One suite's section: its heading, its table, the lines under it."""
    path = WORK / f"{name}.json"
    lines = [f"## {title}", ""]
    if not path.exists():
        return [
            *lines,
            "**Missing**: this suite did not run or failed (see `make bench` output).",
            "",
        ]
    saved = json.loads(path.read_text())
    # a suite saves its figures alone, or with lines of its own (bench/common.py save)
    figures = saved["figures"] if isinstance(saved, dict) else saved
    more = saved.get("notes", []) if isinstance(saved, dict) else []
    # only suites that measured a floor get the column of Osiris against it, and only those
    # that ran the reference tool its columns
    with_floor = any(f.get("floor") for f in figures)
    with_reference = any(f.get("reference") for f in figures)
    head = ["figure", "Osiris", "peak RSS"]
    head += ["reference", "reference peak", "ratio"] if with_reference else []
    head += ["floor", "Osiris ÷ floor", "target"] if with_floor else ["floor", "target"]
    lines += [f"| {' | '.join(head)} |", f"|{'---|' * len(head)}"]
    for f in figures:
        unit = f["unit"]
        floor = f"{cell(f.get('floor'), unit)} ({f.get('floor_label')})" if f.get("floor") else "—"
        peak = f"{f['peak_mb']:.0f} MB" if f.get("peak_mb") else "—"
        ref_peak = f"{f['reference_peak_mb']:.0f} MB" if f.get("reference_peak_mb") else "—"
        row = [f["name"], cell(f.get("osiris"), unit), peak]
        row += [cell(f.get("reference"), unit), ref_peak, ratio(f)] if with_reference else []
        row += [floor, floor_ratio(f), verdict(f)] if with_floor else [floor, verdict(f)]
        lines.append(f"| {' | '.join(row)} |")
    notes = [f"- {f['name']}: {f['note']}" for f in figures if f.get("note")]
    rates = [
        f"- {f['name']}: {f['extra']['rows_per_s']:,} rows/s"
        for f in figures
        if f.get("extra", {}).get("rows_per_s")
    ]
    if rates or notes or more:
        lines += ["", *rates, *notes, *(f"- {line}" for line in more)]
    lines.append("")
    return lines


def splice(report: str, names: set[str]) -> str:
    """`report` with the sections of `names` rendered anew, the others kept as they are
    (a suite's section goes where SUITES puts it when the report lacks it)."""
    sections: dict[str, str] = {}
    order = [title for _, title, _ in SUITES]
    head, *parts = report.split("\n## ")
    for part in parts:
        sections[part.split("\n", 1)[0]] = "## " + part.rstrip() + "\n"
    for name, title, _ in SUITES:
        if name in names or name.split("_")[0] in names:
            sections[title] = "\n".join(render_suite(name, title)).rstrip() + "\n"
    known = [t for t in order if t in sections] + [t for t in sections if t not in order]
    return "\n".join([head.rstrip() + "\n", *(sections[t] for t in known)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", help="comma-separated suite names (validate, run, mcp, ...)")
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args()
    only = set(args.only.split(",")) if args.only else None
    if not args.report_only:
        run_suites(only)
    # --only renders only those suites' sections into the report the others already have
    text = splice(REPORT.read_text("utf-8"), only) if only and REPORT.exists() else render()
    REPORT.write_text(text, encoding="utf-8")
    print(f"\nwrote {REPORT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
